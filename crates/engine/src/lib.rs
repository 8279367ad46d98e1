//! OSP Jam's audio engine, shared by the plugin and the standalone.
//!
//! Everything here that runs per block is real-time safe: no allocation, lock, syscall or log
//! after construction. Host frameworks stay out: the plugin adapter converts the host's view
//! (parameters, transport) into the plain types defined here.
//!
//! - [`strip`]: the track's signal path around the network: input gain, the monitor balance
//!   between the player's own signal and the room, output gain, and a click-free bypass.
//! - [`transport`]: the host transport as a lock-free snapshot for the rest of the engine.

pub mod strip;
pub mod transport;
