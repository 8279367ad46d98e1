//! Two players: behind two endpoint-independent NATs they punch through, behind a
//! port-randomising one they fall back to coturn, and a conntrack flush there is followed
//! within 2 s.

use std::time::Duration;

use proto::connect::PathKind;

use super::harness::{Internet, Jam, Route, play, route, wait_until};
use crate::natlab::Nat;

#[test]
fn two_endpoint_independent_nats_connect_directly() {
    let (internet, [a, b]) = two_players(
        [Nat::EndpointIndependent, Nat::EndpointIndependent],
        "endpoint-independent",
    );
    assert_eq!((a.kind, b.kind), (PathKind::Direct, PathKind::Direct));
    // Each reaches the other at the other router's public address: the audio runs between
    // the two NATs, never through coturn's relay address.
    assert_eq!(a.addr.ip(), internet.lab.home(2).public);
    assert_eq!(b.addr.ip(), internet.lab.home(1).public);
    assert_ne!(a.addr.ip(), internet.servers.coturn.relay_ip);
}

#[test]
fn a_port_randomising_nat_falls_back_to_turn() {
    let (_internet, [a, b]) = two_players(
        [Nat::PortRandomising, Nat::EndpointIndependent],
        "port-randomising",
    );
    assert_eq!((a.kind, b.kind), (PathKind::Turn, PathKind::Turn));
}

#[test]
fn a_rebinding_behind_a_port_randomising_nat_heals_within_two_seconds() {
    let internet = Internet::start(&[Nat::PortRandomising, Nat::EndpointIndependent]);
    let case = "rebinding";
    let mut jam = Jam::start(&internet, case);
    jam.connected();
    jam.everyone_heard();
    let before = jam.path(2, 1).expect("B's path to A");
    let selected_before = jam.path_selections(2, 1);
    internet.lab.home(1).flush_mappings();
    // B's path to A leaves A's old public port: A's datagrams now come from a new one.
    let healed = wait_until("rebinding: B's path to A's new port", || {
        jam.path(2, 1).is_some_and(|r| r.addr != before.addr) && jam.path(1, 2).is_some()
    });
    let after = jam.path(2, 1).expect("B's path to A");
    let selected_after = jam.path_selections(2, 1);
    eprintln!(
        "{case}: A's public port {} -> {}, path back after {:.0} ms, B's selections for A \
         {selected_before:?} -> {selected_after:?}",
        before.addr,
        after.addr,
        healed.as_secs_f64() * 1e3
    );
    // Counted: B selected at least one more pair for A.
    assert!(
        selected_after > selected_before && selected_before >= Some(1),
        "B's selections for A: {selected_before:?} then {selected_after:?}"
    );
    assert_eq!(after.addr.ip(), before.addr.ip(), "A's router, still");
    assert_ne!(
        after.addr.port(),
        before.addr.port(),
        "A's public port changed"
    );
    assert!(
        healed <= Duration::from_secs(2),
        "{case}: the path came back after {healed:?}"
    );
    // Both still hear each other, at level and pitch, on `turn`.
    let routes = jam.measure();
    let [a, b] = both_ways(&routes);
    assert_eq!((a.kind, b.kind), (PathKind::Turn, PathKind::Turn));
}

/// Plays A (home 1) and B (home 2) behind `nats` (see [`play`]): the lab, still up, and A's
/// path to B and B's to A.
fn two_players(nats: [Nat; 2], case: &str) -> (Internet, [Route; 2]) {
    let internet = Internet::start(&nats);
    let routes = play(&internet, case);
    (internet, both_ways(&routes))
}

/// A's path to B and B's to A.
fn both_ways(routes: &[Route]) -> [Route; 2] {
    [route(routes, 1, 2), route(routes, 2, 1)]
}
