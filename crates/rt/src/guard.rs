//! Allocation guard: proves that a closure runs without touching the heap.
//!
//! The guard only works in a binary whose global allocator is [`AllocDisabler`]; tests that check
//! real-time code declare it:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: rt::guard::AllocDisabler = rt::guard::AllocDisabler;
//! ```
//!
//! With that allocator, an allocation or deallocation inside [`no_alloc`] aborts the process in
//! debug builds (the test then fails loudly); release builds check nothing and cost nothing.

pub use nice_assert_no_alloc::{AllocDisabler, permit_alloc};

/// Runs `f`, aborting the process if it allocates or frees memory (debug builds with the
/// [`AllocDisabler`] global allocator only).
#[inline]
pub fn no_alloc<T>(f: impl FnOnce() -> T) -> T {
    nice_assert_no_alloc::assert_no_alloc(f)
}
