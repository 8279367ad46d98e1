//! Hands the audio thread a new session's processor while it runs, and takes the old one back
//! to be freed off it: Join and Leave change the session without the host restarting the
//! plugin.
//!
//! Two wait-free rings (`rtrb`): processors (or `None`, "play no room") towards the audio
//! thread, retired ones back. The audio thread moves values between them and never drops one:
//! it takes a new processor only while the return ring has room for the one it replaces.

use engine::Processor;

/// Processors queued and not yet taken: more means the host is not processing audio.
const QUEUED: usize = 4;
/// Retired processors waiting to be freed by the control side.
const RETIRED: usize = 8;

/// A new pair of ends.
pub(crate) fn channel() -> (Sender, Receiver) {
    let (to_audio, from_control) = rtrb::RingBuffer::new(QUEUED);
    let (retire, retired) = rtrb::RingBuffer::new(RETIRED);
    (
        Sender { to_audio, retired },
        Receiver {
            from_control,
            retire,
        },
    )
}

/// The control side (editor, activation): queues processors, frees retired ones.
pub(crate) struct Sender {
    to_audio: rtrb::Producer<Option<Processor>>,
    retired: rtrb::Consumer<Processor>,
}

impl Sender {
    /// Queues `processor` for the audio thread's next block (`None` stops the room's audio),
    /// after freeing what it gave back. False, and `processor` freed here, when the audio
    /// thread has not taken the ones queued before (the host is not processing).
    pub(crate) fn send(&mut self, processor: Option<Processor>) -> bool {
        self.collect();
        self.to_audio.push(processor).is_ok()
    }

    /// Frees the processors the audio thread gave back.
    pub(crate) fn collect(&mut self) {
        while self.retired.pop().is_ok() {}
    }
}

/// The audio thread's side.
pub(crate) struct Receiver {
    from_control: rtrb::Consumer<Option<Processor>>,
    retire: rtrb::Producer<Processor>,
}

impl Receiver {
    /// Puts the newest queued processor in `current`, handing the replaced ones back.
    ///
    /// Audio thread: wait-free; moves values, never allocates or frees.
    pub(crate) fn swap_into(&mut self, current: &mut Option<Processor>) {
        while !self.retire.is_full() {
            let Ok(next) = self.from_control.pop() else {
                return;
            };
            if let Some(old) = std::mem::replace(current, next) {
                // Room was checked above, and only this thread pushes.
                let _ = self.retire.push(old);
            }
        }
    }

    /// Drops everything queued (activation and deactivation: the audio thread is not running).
    pub(crate) fn clear(&mut self) {
        while self.from_control.pop().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A processor of a session of its own on 127.0.0.1 (its user id tells it apart).
    fn processor(user_id: u32) -> (engine::Controller, Processor) {
        let config =
            engine::Config::new(user_id, "handoff", "secret", "127.0.0.1:0".parse().unwrap());
        engine::new(config).expect("engine")
    }

    #[test]
    fn the_audio_thread_takes_the_newest_processor_and_gives_the_old_ones_back_without_allocating()
    {
        let (mut sender, mut receiver) = channel();
        let (_a, a) = processor(1);
        let (_b, b) = processor(2);
        let (_c, c) = processor(3);
        let mut current = None;
        assert!(sender.send(Some(a)));
        rt::guard::no_alloc(|| receiver.swap_into(&mut current));
        assert!(current.is_some());
        // Two queued before the next block: the newest plays, the other two go back.
        assert!(sender.send(Some(b)));
        assert!(sender.send(Some(c)));
        rt::guard::no_alloc(|| receiver.swap_into(&mut current));
        assert_eq!(receiver.retire.slots(), RETIRED - 2, "a and b retired");
        // Sending frees what came back (a and b) first.
        assert!(sender.send(None));
        assert_eq!(receiver.retire.slots(), RETIRED);
        rt::guard::no_alloc(|| receiver.swap_into(&mut current));
        assert!(current.is_none(), "None stops the room's audio");
        assert_eq!(receiver.retire.slots(), RETIRED - 1, "c retired");
        sender.collect();
        assert_eq!(receiver.retire.slots(), RETIRED);
        // With nobody taking them, the queue refuses the fifth.
        for _ in 0..QUEUED {
            assert!(sender.send(None));
        }
        assert!(!sender.send(None), "the host is not processing");
    }
}
