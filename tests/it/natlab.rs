//! The NAT lab: real Linux NAT between network namespaces the test makes, with real servers
//! (coturn; the room server) on a "wan" and players in homes behind routers that masquerade
//! endpoint-independently or with random ports, so NAT traversal is tested against the NATs
//! it meets, not a model of them.
//!
//! A test builds a [`Lab`] (needs root: network namespaces and nftables), starts servers with
//! [`namespace::Namespace::command`]/[`namespace::Namespace::spawn`] (or [`Coturn::start`]), opens sockets inside a
//! namespace with [`namespace::Namespace::udp_socket`], and forces a rebinding with
//! [`Home::flush_mappings`]. Everything is removed when the lab drops, also when the test
//! panics; namespaces of test processes that were killed are swept by the next lab.
//! `behaviour` proves the lab does what it claims; `lifecycle` that it cleans up.

mod behaviour;
pub(crate) mod coturn;
mod counter;
mod lifecycle;
mod namespace;
mod servers;
mod stun;
mod topology;

pub(crate) use coturn::Coturn;
pub(crate) use servers::Servers;
pub(crate) use topology::{Home, Lab, Nat, WAN_HOSTS};
