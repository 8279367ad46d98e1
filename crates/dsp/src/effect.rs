//! The contract every effect meets: [`Effect`], the [`ProcessSpec`] it is prepared for, the
//! stereo [`Block`] it processes, and [`process_guarded`], which runs it with denormals flushed.
//!
//! Denormals: a decaying filter or reverb tail that reaches |x| < 1.2e-38 takes a slow microcode
//! path on x86 (docs/effects.md §1 test 26: 1.6–1.7× the CPU of music without FTZ/DAZ). The flush
//! mode is set by `rt::ftz::ScopedFtz`, the one place in the workspace that touches MXCSR/FPCR
//! (with its `// SAFETY:` comments), so this crate stays `#![forbid(unsafe_code)]`.

use crate::context::RoomContext;

/// What an effect is prepared for. Fixed between `prepare` calls.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessSpec {
    /// Sample rate in Hz.
    pub sample_rate: f64,
    /// The most frames a [`Block`] will hold.
    pub max_block: usize,
    /// Channels in a block (effects here are stereo; mono runs as two equal channels).
    pub channels: usize,
}

impl ProcessSpec {
    /// A stereo spec.
    pub const fn stereo(sample_rate: f64, max_block: usize) -> Self {
        Self {
            sample_rate,
            max_block,
            channels: 2,
        }
    }

    /// `milliseconds` in samples at this rate (rounded, at least 1).
    pub fn samples_for_ms(&self, milliseconds: f64) -> usize {
        (milliseconds * 1e-3 * self.sample_rate).round().max(1.0) as usize
    }
}

/// One block of stereo audio, processed in place: two channel slices of equal length.
#[derive(Debug)]
pub struct Block<'a> {
    left: &'a mut [f32],
    right: &'a mut [f32],
}

impl<'a> Block<'a> {
    /// A block over two channel slices.
    ///
    /// # Panics
    /// If the channels differ in length (a caller bug: the host hands equal channels).
    pub fn new(left: &'a mut [f32], right: &'a mut [f32]) -> Self {
        assert_eq!(
            left.len(),
            right.len(),
            "stereo channels must have equal lengths"
        );
        Self { left, right }
    }

    /// Frames in the block.
    pub fn len(&self) -> usize {
        self.left.len()
    }

    /// Whether the block holds no frames.
    pub fn is_empty(&self) -> bool {
        self.left.is_empty()
    }

    /// Both channels, for processing them together.
    pub fn channels_mut(&mut self) -> (&mut [f32], &mut [f32]) {
        (self.left, self.right)
    }

    /// The left channel.
    pub fn left(&self) -> &[f32] {
        self.left
    }

    /// The right channel.
    pub fn right(&self) -> &[f32] {
        self.right
    }
}

/// An audio effect.
///
/// Life cycle: `prepare` (off the audio thread; may allocate everything the effect will ever
/// need), then any number of `process` and `reset` calls on the audio thread, which never
/// allocate, lock or block. `prepare` again whenever the [`ProcessSpec`] changes.
pub trait Effect: Send {
    /// Sizes buffers and computes rate-dependent constants for `spec`, then resets.
    fn prepare(&mut self, spec: &ProcessSpec);

    /// Clears all audio state, as if freshly prepared (parameters are kept).
    ///
    /// Audio thread: must not allocate, lock or block.
    fn reset(&mut self);

    /// Processes `block` in place. `block.len()` never exceeds the prepared `max_block`.
    ///
    /// Audio thread: must not allocate, lock or block.
    fn process(&mut self, block: &mut Block<'_>);

    /// Follows the room's tempo, beat grid position, key and scale. Called before every
    /// block; effects that follow none of it keep the default, which ignores it.
    ///
    /// Audio thread: must not allocate, lock or block (copy the numbers; derive lazily).
    fn set_context(&mut self, context: &RoomContext) {
        let _ = context;
    }

    /// Latency the effect adds, in samples at the prepared rate (reported to the host).
    fn latency(&self) -> usize {
        0
    }
}

/// Runs `effect.process(block)` with flush-to-zero and denormals-are-zero set, restoring the
/// caller's floating-point mode afterwards.
///
/// Audio thread: must not allocate, lock or block.
pub fn process_guarded(effect: &mut (impl Effect + ?Sized), block: &mut Block<'_>) {
    let _ftz = rt::ftz::ScopedFtz::new();
    effect.process(block);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what the floating-point unit does with a denormal while it processes.
    struct DenormalProbe {
        flushed: Option<bool>,
    }

    impl Effect for DenormalProbe {
        fn prepare(&mut self, _: &ProcessSpec) {}

        fn reset(&mut self) {}

        fn process(&mut self, block: &mut Block<'_>) {
            let tiny = std::hint::black_box(f32::MIN_POSITIVE);
            // MIN_POSITIVE / 4 is a denormal under IEEE rules; with FTZ it is exactly zero.
            let quarter = std::hint::black_box(tiny) / std::hint::black_box(4.0f32);
            self.flushed = Some(quarter.to_bits() == 0);
            let (left, _) = block.channels_mut();
            left[0] = quarter;
        }
    }

    #[test]
    #[cfg(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64"))]
    fn process_guarded_flushes_denormals_and_restores_the_mode() {
        let mut probe = DenormalProbe { flushed: None };
        let (mut left, mut right) = ([1.0f32; 4], [1.0f32; 4]);
        let was_flushing = rt::ftz::is_active();

        probe.process(&mut Block::new(&mut left, &mut right));
        assert_eq!(
            probe.flushed,
            Some(was_flushing),
            "unguarded call changed the mode"
        );

        process_guarded(&mut probe, &mut Block::new(&mut left, &mut right));
        assert_eq!(probe.flushed, Some(true), "denormal survived the guard");
        assert_eq!(left[0].to_bits(), 0);
        assert_eq!(
            rt::ftz::is_active(),
            was_flushing,
            "caller's mode not restored"
        );
    }

    #[test]
    #[should_panic(expected = "equal lengths")]
    fn a_block_refuses_unequal_channels() {
        let (mut left, mut right) = ([0.0f32; 4], [0.0f32; 3]);
        let _ = Block::new(&mut left, &mut right);
    }

    #[test]
    fn spec_converts_milliseconds_at_its_rate() {
        let spec = ProcessSpec::stereo(48_000.0, 256);
        assert_eq!(spec.samples_for_ms(10.0), 480);
        assert_eq!(ProcessSpec::stereo(44_100.0, 256).samples_for_ms(10.0), 441);
        assert_eq!(spec.samples_for_ms(0.0), 1);
    }
}
