//! Flush-to-zero and denormals-are-zero for the span of a process call.
//!
//! Denormal floats (|x| < 1.2e-38) take a slow microcode path on x86: a decaying filter or reverb
//! tail that reaches them can cost tens of times its normal CPU. [`ScopedFtz`] sets the FTZ and
//! DAZ bits of MXCSR (x86/x86_64) or the FZ bit of FPCR (aarch64) and restores the caller's mode
//! when dropped, so a host that relies on IEEE behaviour outside our callback still gets it.

/// Sets flush-to-zero (and denormals-are-zero where the CPU has it) until dropped.
///
/// Audio thread: must not allocate, lock or block (it does not: two register moves).
#[must_use = "the mode is restored as soon as the guard is dropped"]
pub struct ScopedFtz {
    #[cfg_attr(
        not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    saved: usize,
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod imp {
    /// MXCSR bit 15: flush-to-zero (results).
    const FTZ: u32 = 1 << 15;
    /// MXCSR bit 6: denormals-are-zero (inputs).
    const DAZ: u32 = 1 << 6;

    pub(super) fn read() -> usize {
        let mut csr: u32 = 0;
        // SAFETY: `stmxcsr` stores the 32-bit MXCSR into the pointed-to u32, which is valid and
        // writable; SSE is baseline on every x86_64 target and on the i686 targets we build.
        unsafe {
            core::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
        }
        csr as usize
    }

    pub(super) fn write(mode: usize) {
        let csr = mode as u32;
        // SAFETY: `ldmxcsr` loads a value previously read from MXCSR, possibly with FTZ/DAZ set;
        // both bits are defined on every SSE2 CPU, and no reserved bit is touched.
        unsafe {
            core::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly, preserves_flags));
        }
    }

    pub(super) fn with_flush(mode: usize) -> usize {
        mode | (FTZ | DAZ) as usize
    }

    pub(super) fn flushes(mode: usize) -> bool {
        mode as u32 & (FTZ | DAZ) == FTZ | DAZ
    }
}

#[cfg(target_arch = "aarch64")]
mod imp {
    /// FPCR bit 24: flush-to-zero (inputs and results).
    const FZ: usize = 1 << 24;

    pub(super) fn read() -> usize {
        let fpcr: usize;
        // SAFETY: reading FPCR has no side effects and is allowed at EL0.
        unsafe { core::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack)) };
        fpcr
    }

    pub(super) fn write(mode: usize) {
        // SAFETY: writes back a value read from FPCR with at most the FZ bit changed.
        unsafe { core::arch::asm!("msr fpcr, {}", in(reg) mode, options(nomem, nostack)) };
    }

    pub(super) fn with_flush(mode: usize) -> usize {
        mode | FZ
    }

    pub(super) fn flushes(mode: usize) -> bool {
        mode & FZ != 0
    }
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    pub(super) fn read() -> usize {
        0
    }
    pub(super) fn write(_: usize) {}
    pub(super) fn with_flush(mode: usize) -> usize {
        mode
    }
    pub(super) fn flushes(_: usize) -> bool {
        false
    }
}

impl ScopedFtz {
    /// Enables flush-to-zero on this thread until the guard is dropped.
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn new() -> Self {
        let saved = imp::read();
        imp::write(imp::with_flush(saved));
        Self { saved }
    }
}

impl Default for ScopedFtz {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ScopedFtz {
    #[inline]
    fn drop(&mut self) {
        imp::write(self.saved);
    }
}

/// Whether denormals are currently flushed to zero on this thread.
pub fn is_active() -> bool {
    imp::flushes(imp::read())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64"))]
    fn flushes_denormal_results_and_restores_the_mode() {
        let before = is_active();
        let tiny = std::hint::black_box(f32::MIN_POSITIVE);
        {
            let _ftz = ScopedFtz::new();
            assert!(is_active());
            // MIN_POSITIVE / 4 is a denormal under IEEE rules; with FTZ it must be exactly zero.
            let r = std::hint::black_box(tiny) / std::hint::black_box(4.0f32);
            assert_eq!(r.to_bits(), 0, "denormal survived FTZ: {r:e}");
        }
        assert_eq!(is_active(), before);
        let r = std::hint::black_box(tiny) / std::hint::black_box(4.0f32);
        assert!(r > 0.0 && !r.is_normal(), "IEEE mode not restored: {r:e}");
    }
}
