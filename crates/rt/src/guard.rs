//! Allocation guard: proves that a closure runs without touching the heap.
//!
//! The guard only works in a binary whose global allocator is [`AllocDisabler`]; tests that check
//! real-time code declare it:
//!
//! ```ignore
//! #[cfg(all(test, debug_assertions))]
//! #[global_allocator]
//! static ALLOC: rt::guard::AllocDisabler = rt::guard::AllocDisabler;
//! ```
//!
//! With that allocator, an allocation or deallocation inside [`no_alloc`] aborts the process in
//! debug builds (the test then fails loudly); release builds check nothing and cost nothing.

/// The checking global allocator. Only in debug builds: nice-assert-no-alloc compiles it out of
/// release builds (its default `disable_release`), where the guard checks nothing.
#[cfg(debug_assertions)]
pub use nice_assert_no_alloc::AllocDisabler;
pub use nice_assert_no_alloc::permit_alloc;

/// Runs `f`, aborting the process if it allocates or frees memory (debug builds with the
/// [`AllocDisabler`] global allocator only).
#[inline]
pub fn no_alloc<T>(f: impl FnOnce() -> T) -> T {
    nice_assert_no_alloc::assert_no_alloc(f)
}
