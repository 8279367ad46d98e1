//! Three players behind mixed NATs: A and B behind endpoint-independent ones punch through to
//! each other, C behind a port-randomising one reaches both through coturn, and everyone hears
//! everyone.

use proto::connect::PathKind;

use super::harness::{Internet, play, route};
use crate::natlab::Nat;

#[test]
fn three_players_behind_mixed_nats_all_hear_each_other() {
    let internet = Internet::start(&[
        Nat::EndpointIndependent,
        Nat::EndpointIndependent,
        Nat::PortRandomising,
    ]);
    // Six hearings (each player of each other), each at its speaker's level and pitch.
    let routes = play(&internet, "three mixed");
    let (a_b, b_a) = (route(&routes, 1, 2), route(&routes, 2, 1));
    assert_eq!((a_b.kind, b_a.kind), (PathKind::Direct, PathKind::Direct));
    // A and B reach each other at the other router's public address, not through coturn.
    assert_eq!(a_b.addr.ip(), internet.lab.home(2).public);
    assert_eq!(b_a.addr.ip(), internet.lab.home(1).public);
    for (from, to) in [(1, 3), (3, 1), (2, 3), (3, 2)] {
        let r = route(&routes, from, to);
        assert_eq!(r.kind, PathKind::Turn, "{from}'s path to {to}: {r:?}");
    }
}
