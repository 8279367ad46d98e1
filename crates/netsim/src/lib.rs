//! Seeded network emulator and virtual-time harness for protocol tests.
//!
//! - [`netem`]: one link direction's impairments: fixed latency, jitter (`latency + |N(0, σ)|`
//!   per datagram), random or Gilbert–Elliott burst loss, reordering, duplication, a rate-limited
//!   bottleneck with tail drop.
//! - [`flight`]: datagrams in flight, delivered in arrival order (ties in send order).
//! - [`mesh`]: N [`Node`]s on virtual time, every directed pair joined by its own seeded link;
//!   `step`, `run_until`, `run_for`.
//!
//! Depends on nothing in the workspace, so every crate can test against it. Nothing here reads
//! a clock or the OS entropy source: the same seed replays the same run.

pub mod flight;
pub mod mesh;
pub mod netem;

pub use flight::{Datagram, InFlight};
pub use mesh::{Mesh, Node, Stats};
pub use netem::{Fate, Link, Loss, Netem};

#[cfg(test)]
mod tests;
