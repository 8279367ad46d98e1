//! Inbound media: each datagram validated against the stream its SSRC names, passed through the
//! stream's recovery (parity, NACK, deadline), and handed out as audio or as a missing packet.

use std::time::Duration;

use super::peers::PeerId;
use super::{Audio, Endpoint, Event};
use crate::osp::message::StreamInfo;
use crate::ostp::inbound::{self, Inbound};
use crate::ostp::packet::{self, Accept, Ssrc};
use crate::ostp::parity::{self, Parity};
use crate::peer::Timer;
use crate::recovery::{self, Received, Via};
use crate::rtcp;
use crate::time::{Instant, MediaTime};

/// One of a peer's announced streams.
#[derive(Debug)]
pub(super) struct RemoteStream {
    pub(super) info: StreamInfo,
    pub(super) inbound: Inbound,
    pub(super) recovery: recovery::Receiver,
}

impl RemoteStream {
    pub(super) fn new(info: StreamInfo, playout_delay: Duration, nack_repeat: Duration) -> Self {
        Self {
            info,
            inbound: Inbound::new(inbound::Config {
                payload_type: info.payload_type,
                ssrc: Some(Ssrc(info.ssrc)),
                accept: Accept::default(),
                resends: true,
            }),
            recovery: recovery::Receiver::new(recovery::Config {
                frame_ticks: info.frame_samples.clamp(1, 48_000),
                playout_delay,
                nack_repeat,
                ..recovery::Config::default()
            }),
        }
    }
}

impl Endpoint {
    /// An RTP datagram from a connected peer: media or parity of one of its streams.
    pub(super) fn handle_media(&mut self, now: Instant, id: PeerId, data: &[u8]) {
        let Some(ssrc) = data
            .get(8..12)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            self.stats.invalid_media += 1;
            return;
        };
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        let Some(user_id) = peer.user_id else {
            return;
        };
        let Some(s) = peer
            .streams
            .iter()
            .position(|s| s.info.ssrc == ssrc || s.info.parity.is_some_and(|p| p.ssrc == ssrc))
        else {
            self.stats.invalid_media += 1;
            return;
        };
        let stream = &mut peer.streams[s];
        if stream.info.ssrc != ssrc {
            let parity_pt = stream
                .info
                .parity
                .map_or(parity::PAYLOAD_TYPE, |p| p.payload_type);
            let Ok(packet) = packet::decode(data, Accept::default()) else {
                self.stats.invalid_media += 1;
                return;
            };
            let Ok(parity) = Parity::parse(packet.payload) else {
                self.stats.invalid_media += 1;
                return;
            };
            if packet.header.payload_type != parity_pt || parity.protected != Ssrc(stream.info.ssrc)
            {
                self.stats.invalid_media += 1;
                return;
            }
            stream.recovery.handle_parity(now, &parity, packet.payload);
            self.drain_recovery(now, id, s);
            return;
        }
        let arrival = match stream.inbound.receive(data) {
            Ok(arrival) => arrival,
            Err(inbound::Dropped::Duplicate { seq, resend }) => {
                // An original after its resend or repair undoes the counted loss.
                if stream.recovery.handle_duplicate(seq, sent_as(resend)) {
                    peer.health.record_late_original(seq);
                }
                return;
            }
            Err(_) => {
                self.stats.invalid_media += 1;
                return;
            }
        };
        let outcome = stream.recovery.handle_packet(
            now,
            arrival.seq,
            arrival.timestamp,
            &arrival.header,
            arrival.payload,
            sent_as(arrival.resend),
        );
        // Link health (and so the parity policy) sees the network's loss: a resend repairs a
        // loss, it does not undo it; an original arrived, late or not.
        if !arrival.resend {
            peer.health
                .record_arrival(now, MediaTime(arrival.timestamp), arrival.seq);
        }
        let via = match outcome {
            Received::Accepted(via) => {
                if via != Via::Original {
                    peer.health.record_recovered();
                }
                via
            }
            Received::Resynced => Via::Original,
            Received::Late => {
                // Too late by the network side's estimate of the playout deadline, which it
                // learns from the engine only every few blocks; the jitter buffer on the audio
                // thread knows the real one. Forward it: if the buffer already played the slot
                // it counts the packet late and raises its delay, which is how the delay learns
                // to cover such arrivals.
                peer.health.record_late();
                self.stats.late += 1;
                Via::Original
            }
            Received::Duplicate => return self.drain_recovery(now, id, s),
        };
        let audio = Audio {
            user_id,
            stream_id: stream.info.stream_id,
            seq: arrival.seq,
            timestamp: arrival.timestamp,
            capture: arrival.header.extension.map(|e| e.media_timestamp),
            via,
            payload: self.out.copy_of(arrival.payload),
        };
        self.out.push_event(Event::Audio(audio));
        self.drain_recovery(now, id, s);
    }

    /// Emits what a stream's recovery produced (repairs, missing), sends its NACKs and re-arms
    /// the peer's recovery timer.
    pub(super) fn drain_recovery(&mut self, now: Instant, id: PeerId, s: usize) {
        let our_ssrc = self
            .local
            .iter()
            .flatten()
            .next()
            .map_or(0, |l| l.info.ssrc);
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        let Some(user_id) = peer.user_id else {
            return;
        };
        let Some(stream) = peer.streams.get_mut(s) else {
            return;
        };
        let stream_id = stream.info.stream_id;
        while let Some((seq, timestamp, header, payload)) = stream.recovery.poll_repaired() {
            peer.health.record_recovered();
            let audio = Audio {
                user_id,
                stream_id,
                seq,
                timestamp,
                // Parity rebuilds the extension with the rest of the header.
                capture: header.extension.map(|e| e.media_timestamp),
                via: Via::Parity,
                payload: self.out.copy_of(payload),
            };
            self.out.push_event(Event::Audio(audio));
        }
        while let Some(seq) = stream.recovery.poll_missing() {
            peer.health.record_concealed();
            self.out.push_event(Event::Missing {
                user_id,
                stream_id,
                seq,
            });
        }
        let media = Ssrc(stream.info.ssrc);
        let mut lost = [0u16; recovery::MAX_GAP as usize];
        let n = stream.recovery.poll_nacks(now, &mut lost);
        let next = peer
            .streams
            .iter()
            .filter_map(|s| s.recovery.poll_timeout())
            .min();
        match next {
            Some(at) => peer.timers.set(Timer::Recovery, at),
            None => peer.timers.stop(Timer::Recovery),
        }
        if n > 0 {
            let dest = peer.paths.active();
            let mut buf = self.out.buffer();
            buf.resize(rtcp::nack_len(&lost[..n]), 0);
            if let Ok(len) = rtcp::encode_nack(Ssrc(our_ssrc), media, &lost[..n], &mut buf) {
                buf.truncate(len);
                self.out.send(dest, buf);
            } else {
                self.out.recycle(buf);
            }
        }
    }
}

/// How a copy of a packet was sent: our senders mark resends.
fn sent_as(resend: bool) -> Via {
    if resend { Via::Resend } else { Via::Original }
}
