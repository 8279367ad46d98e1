//! Real-time primitives shared by everything that runs on the audio thread.
//!
//! Nothing in this crate allocates, locks or makes a syscall after construction. The pieces:
//! - [`ftz`]: flush-to-zero / denormals-are-zero for the span of a process call;
//! - [`guard`]: the allocation guard that proves a closure does not touch the heap;
//! - [`snapshot`]: a wait-free single-writer, many-reader snapshot of a small `Copy` value
//!   (host transport, meters), built on atomics only;
//! - [`atomic`]: atomic floats for parameters;
//! - [`packet`]: fixed-slot packet rings between the audio and network threads;
//! - [`priority`]: real-time scheduling for the threads that feed the audio thread (once, at
//!   their start: the one syscall here, never on the audio thread).

pub mod atomic;
pub mod ftz;
pub mod guard;
pub mod packet;
pub mod priority;
pub mod snapshot;

// The packet rings' tests prove send and receive allocation-free under the guard.
#[cfg(all(test, debug_assertions))]
#[global_allocator]
static ALLOC: guard::AllocDisabler = guard::AllocDisabler;
