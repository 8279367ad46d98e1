//! Process-wide diagnostics exported from the plugin binary for test hosts and support tools.
//!
//! A CLAP or VST3 host only sees audio and parameters; to check what the plugin understood of the
//! host (the transport, so far), a test host that loaded the bundle looks up the C symbols here
//! in the same shared object. Every plugin instance in the process publishes into the same slots
//! (wait-free; a concurrent update is skipped, never waited for), so they hold what the most
//! recent instance saw.

use engine::transport;
use rt::snapshot::Packed;

/// The transport most recently seen by any instance in this process.
pub(crate) static LAST_TRANSPORT: transport::Shared = transport::Shared::new();

/// Copies the last transport snapshot any instance saw into `out` as the packed words of
/// `engine::transport::Snapshot` ([`transport::WORDS`] of them) and returns how many snapshots
/// were published so far; returns 0 and leaves `out` alone when nothing was published yet, the
/// slot stayed busy, or `len` is too small.
///
/// # Safety
///
/// `out` must be valid for writes of `len` `u64`s.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osp_jam_diag_transport_v1(out: *mut u64, len: usize) -> u64 {
    if out.is_null() || len < transport::WORDS {
        return 0;
    }
    let Some(snapshot) = LAST_TRANSPORT.read::<transport::Snapshot>() else {
        return 0;
    };
    // SAFETY: the caller promises `out` is valid for `len >= WORDS` writes, checked above.
    let out = unsafe { std::slice::from_raw_parts_mut(out, transport::WORDS) };
    out.copy_from_slice(&snapshot.pack());
    LAST_TRANSPORT.updates()
}
