//! Players in homes behind real NATs (the natlab) meet through the real `osp-relay` in the
//! wan, with coturn there for STUN and TURN, and play: each player is a whole engine whose
//! driver runs inside its home's namespace, configured with nothing but the three servers (no
//! peer address), and plays a sine of its own pitch. Every case measures what each player hears
//! of each other (level and pitch) and the path kind each reports per peer: `direct` between
//! endpoint-independent NATs (to the other router's public address, so nothing runs through
//! coturn), `turn` to a player behind a port-randomising one.
//!
//! `two_homes`: the direct pair, the TURN fallback, a rebinding healed within 2 s.
//! `three_homes`: three players behind mixed NATs, everyone hearing everyone. `bench`: time to
//! first remote audio per NAT case (ignored; `docs/benchmarks.md` §2.4).

mod bench;
mod harness;
mod three_homes;
mod two_homes;
