//! The jitter buffer's packet store: a ring of fixed slots indexed by sequence number, with
//! the payloads in one preallocated block, and the window rules (what fits, what is dropped
//! from the head to make room, and when a far-away packet means the stream really jumped).

use super::{Buffer, Event, Push};

/// How many sequence numbers apart two out-of-window packets may be and still confirm a jump.
const RESYNC_SPAN: u64 = 16;

/// Longest frame accepted when learning the frame length (Opus' 120 ms).
const MAX_FRAME_TICKS: u64 = 5_760;

/// What a slot holds for its sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum SlotState {
    #[default]
    Empty,
    Stored,
    Played,
    Missed,
}

/// One packet slot; its payload lives in `Buffer::payloads`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Slot {
    pub(super) seq: u64,
    pub(super) media: u64,
    pub(super) len: usize,
    pub(super) state: SlotState,
}

impl Buffer {
    /// Copies the payload into the packet's slot (the caller checked that it fits the window).
    pub(super) fn store(&mut self, seq: u64, media: u64, payload: &[u8]) {
        let index = self.slot_index(seq);
        if self.slots[index].state != SlotState::Stored {
            self.stored += 1;
        }
        self.slots[index] = Slot {
            seq,
            media,
            len: payload.len(),
            state: SlotState::Stored,
        };
        let start = index * self.config.max_payload_bytes;
        self.payloads[start..start + payload.len()].copy_from_slice(payload);
        self.stats.stored += 1;
        self.dry_since = None;
        match self.last_stored {
            Some((last_seq, last_media)) if seq > last_seq => {
                // Learn the frame from consecutive packets only: a gap could hide a change.
                if seq == last_seq + 1 {
                    let frame = media.wrapping_sub(last_media);
                    if (1..=MAX_FRAME_TICKS).contains(&frame) {
                        self.frame = frame;
                    }
                }
                self.last_stored = Some((seq, media));
            }
            Some(_) => {}
            None => self.last_stored = Some((seq, media)),
        }
    }

    /// Drops packets from the head until `seq` fits the window.
    pub(super) fn make_room(&mut self, seq: u64) {
        let capacity = self.config.capacity as u64;
        while seq - self.head_seq >= capacity {
            let index = self.slot_index(self.head_seq);
            let slot = self.slots[index];
            if slot.seq == self.head_seq && slot.state == SlotState::Stored {
                self.stored -= 1;
                self.stats.overruns += 1;
                self.head_media = slot.media;
            }
            self.slots[index].state = SlotState::Empty;
            self.head_seq += 1;
            self.head_media = self.head_media.saturating_add(self.frame);
        }
        self.primed = true;
        self.emit(Event::Overrun);
    }

    /// A packet far from the stream: dropped, unless it confirms an earlier one, in which case
    /// the stream really jumped and the buffer restarts at it.
    pub(super) fn out_of_window(
        &mut self,
        arrival: u64,
        seq: u64,
        media: u64,
        payload: &[u8],
    ) -> Push {
        self.stats.out_of_window += 1;
        if let Some((first_seq, first_media)) = self.candidate {
            let span = seq.wrapping_sub(first_seq);
            let elapsed = media.wrapping_sub(first_media);
            if (1..=RESYNC_SPAN).contains(&span) && (1..=MAX_FRAME_TICKS * span).contains(&elapsed)
            {
                for slot in self.slots.iter_mut() {
                    slot.state = SlotState::Empty;
                }
                self.stored = 0;
                self.stats.resyncs += 1;
                self.emit(Event::Resync);
                self.start(arrival, seq, media);
                self.frame = elapsed / span;
                self.store(seq, media, payload);
                self.observe(arrival, media, false);
                return Push::Resynced;
            }
        }
        self.candidate = Some((seq, media));
        Push::OutOfWindow
    }

    /// Whether `seq` (behind the head) still fits the window if the head moves back to it.
    pub(super) fn fits_ahead(&self, seq: u64) -> bool {
        self.last_stored
            .is_none_or(|(highest, _)| highest.saturating_sub(seq) < self.config.capacity as u64)
    }

    /// Whether `media` is within `max_delay` of what `seq` predicts from the head.
    pub(super) fn media_fits(&self, seq: u64, media: u64) -> bool {
        let packets = seq as i128 - self.head_seq as i128;
        let expected = self.head_media as i128 + packets * self.frame as i128;
        (media as i128 - expected).abs() <= i128::from(self.config.max_delay_ticks)
    }

    pub(super) fn slot_index(&self, seq: u64) -> usize {
        (seq % self.config.capacity as u64) as usize
    }
}
