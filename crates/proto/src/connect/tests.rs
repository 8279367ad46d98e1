//! The agent on virtual time: two players behind NATs find a pair (direct when the NATs allow
//! it, through TURN when not), heal a NAT rebinding, and drop forged input.

mod net;

use std::time::Duration;

use stun_rs::attributes::stun::{Fingerprint, MessageIntegrity, UserName, XorMappedAddress};
use stun_rs::attributes::turn::{Data, XorPeerAddress};
use stun_rs::methods::{BINDING, DATA};
use stun_rs::{HMACKey, MessageClass, StunMessageBuilder, TransactionId};

use super::*;
use crate::auth::RoomKey;
use net::{Mapping, TURN, World, addr};

const ALICE: u32 = 1;
const BOB: u32 = 2;

fn config(user_id: u32, host: SocketAddr, turn: bool) -> Config {
    Config {
        user_id,
        key: RoomKey::derive(b"room secret", "jam"),
        host: vec![host],
        stun: Some(net::STUN),
        turn: turn.then(|| TurnServer {
            addr: TURN,
            username: "alice".into(),
            password: "secret".into(),
        }),
        timing: Timing::default(),
        limits: Limits::default(),
        seed: u64::from(user_id),
    }
}

fn ms(ms: u64) -> Instant {
    Instant::from_micros(ms * 1000)
}

/// Two players, each behind its own NAT; every candidate one gathers reaches the other as the
/// room server would pass it on (`CAND:` lines, here at once).
fn world(alice_nat: Mapping, bob_nat: Mapping, turn: bool) -> World {
    let mut world = World::new();
    let a = world.add_nat([198, 18, 1, 1], alice_nat);
    let b = world.add_nat([198, 18, 2, 1], bob_nat);
    let alice_inside = addr([169, 254, 1, 10], 5000);
    let bob_inside = addr([169, 254, 2, 10], 5000);
    world.add_player(
        Agent::new(config(ALICE, alice_inside, turn)),
        alice_inside,
        a,
        BOB,
    );
    world.add_player(
        Agent::new(config(BOB, bob_inside, turn)),
        bob_inside,
        b,
        ALICE,
    );
    world
}

/// Runs `world` to `end` in 10 ms steps, forwarding new local candidates to the other player.
fn run_exchanging(world: &mut World, end: Instant) {
    let mut forwarded = [0, 0];
    while world.now < end {
        let next = world.now + Duration::from_millis(10);
        world.run_until(next);
        for at in 0..2 {
            let candidates: Vec<Candidate> = world.players[at]
                .events
                .iter()
                .filter_map(|(_, e)| match e {
                    Event::Candidate(c) => Some(*c),
                    _ => None,
                })
                .collect();
            let from = world.players[at].agent.config.user_id;
            for candidate in &candidates[forwarded[at]..] {
                let now = world.now;
                world.players[1 - at]
                    .agent
                    .add_remote_candidate(now, from, *candidate);
            }
            forwarded[at] = candidates.len();
        }
    }
}

/// Both players' selected path kinds are `kind`.
fn assert_paths(world: &World, kind: Option<PathKind>) {
    assert_eq!(world.path(0), kind, "Alice's path");
    assert_eq!(world.path(1), kind, "Bob's path");
}

fn selected_at(world: &World, at: usize) -> Option<Instant> {
    world.players[at]
        .events
        .iter()
        .find(|(_, e)| matches!(e, Event::Selected { .. }))
        .map(|(t, _)| *t)
}

#[test]
fn endpoint_independent_nats_connect_directly() {
    let mut world = world(
        Mapping::EndpointIndependent,
        Mapping::EndpointIndependent,
        true,
    );
    run_exchanging(&mut world, ms(3000));
    assert_paths(&world, Some(PathKind::Direct));
    let alice = world.players[0].agent.selected(BOB).unwrap();
    assert_eq!(
        alice.remote.addr.ip(),
        addr([198, 18, 2, 1], 0).ip(),
        "Bob's NAT"
    );
    let connected = selected_at(&world, 0)
        .unwrap()
        .max(selected_at(&world, 1).unwrap());
    println!(
        "direct: both selected after {} ms",
        connected.as_micros() / 1000
    );
    assert!(connected < ms(1000), "{connected:?}");
    // Media flows every 20 ms both ways once selected, and never through the relay.
    let relayed_before = world.relayed;
    run_exchanging(&mut world, ms(5000));
    assert_eq!(world.relayed, relayed_before, "no media through TURN");
    for at in 0..2 {
        assert!(world.longest_gap(at, ms(3000), ms(5000)) <= Duration::from_millis(40));
    }
    let stats = world.players[0].agent.stats();
    assert_eq!(stats.selections, 1);
    assert_eq!(stats.lost, 0);
    assert_eq!(
        stats.bad_integrity + stats.unknown_transaction + stats.wrong_source,
        0
    );
}

#[test]
fn a_port_randomising_nat_falls_back_to_turn() {
    let mut world = world(Mapping::PortRandomising, Mapping::EndpointIndependent, true);
    run_exchanging(&mut world, ms(6000));
    assert_paths(&world, Some(PathKind::Turn));
    let connected = selected_at(&world, 0)
        .unwrap()
        .max(selected_at(&world, 1).unwrap());
    println!(
        "turn: both selected after {} ms",
        connected.as_micros() / 1000
    );
    let relayed_before = world.relayed;
    run_exchanging(&mut world, ms(8000));
    // 2 s of 20 ms packets from at least one side go through the relay.
    assert!(
        world.relayed - relayed_before >= 100,
        "{}",
        world.relayed - relayed_before
    );
    for at in 0..2 {
        assert!(world.longest_gap(at, ms(6000), ms(8000)) <= Duration::from_millis(40));
    }
}

#[test]
fn one_datagram_in_seven_lost_still_connects_both_ways() {
    for (alice_nat, turn, kind) in [
        (Mapping::EndpointIndependent, false, PathKind::Direct),
        (Mapping::PortRandomising, true, PathKind::Turn),
    ] {
        let mut world = world(alice_nat, Mapping::EndpointIndependent, turn);
        world.drop_every = Some(7);
        run_exchanging(&mut world, ms(8000));
        assert_paths(&world, Some(kind));
        let connected = selected_at(&world, 0)
            .unwrap()
            .max(selected_at(&world, 1).unwrap());
        println!(
            "{kind} under 14 % loss: both selected after {} ms",
            connected.as_micros() / 1000
        );
        assert!(connected < ms(3000), "{kind}: {connected:?}");
        for at in 0..2 {
            let heard = world.players[at]
                .heard
                .iter()
                .filter(|t| **t >= ms(6000))
                .count();
            // 100 packets in 2 s; one in seven lost per hop, and a relayed packet makes two.
            assert!(heard >= 60, "{kind}: player {at} heard {heard}");
        }
    }
}

#[test]
fn two_port_randomising_nats_meet_through_turn() {
    let mut world = world(Mapping::PortRandomising, Mapping::PortRandomising, true);
    run_exchanging(&mut world, ms(6000));
    assert_paths(&world, Some(PathKind::Turn));
    for at in 0..2 {
        assert!(world.longest_gap(at, ms(4000), ms(6000)) <= Duration::from_millis(40));
    }
}

#[test]
fn without_turn_a_port_randomising_nat_connects_nothing_and_says_so_by_silence() {
    let mut world = world(
        Mapping::PortRandomising,
        Mapping::EndpointIndependent,
        false,
    );
    run_exchanging(&mut world, ms(6000));
    assert_paths(&world, None);
}

/// Flushes Alice's NAT five times, 20 s apart, after the pair is up; asserts both players hear
/// each other again within 2 s each time and without a gap after that. Returns the heal times.
fn rebinding_heals(alice_nat: Mapping, bob_nat: Mapping, turn: bool, kind: PathKind) -> Vec<u128> {
    let mut world = world(alice_nat, bob_nat, turn);
    run_exchanging(&mut world, ms(3000));
    assert_paths(&world, Some(kind));
    let before = world.players[1].agent.selected(ALICE).unwrap().remote.addr;
    let mut heal_times = Vec::new();
    for round in 0..5u64 {
        let flush_at = ms(3000 + round * 20_000);
        run_exchanging(&mut world, flush_at);
        world.nats[0].flush();
        let end = flush_at + Duration::from_secs(20);
        run_exchanging(&mut world, end);
        // Datagrams in flight at the flush still arrive for one hop.
        let settled = flush_at + net::HOP * 3;
        let bob_heard = world
            .first_heard(1, settled)
            .expect("Bob hears Alice again");
        let alice_heard = world
            .first_heard(0, settled)
            .expect("Alice hears Bob again");
        let healed = bob_heard.max(alice_heard).saturating_since(flush_at);
        heal_times.push(healed.as_millis());
        assert!(
            healed <= Duration::from_secs(2),
            "round {round}: {healed:?}"
        );
        for at in 0..2 {
            let gap = world.longest_gap(at, flush_at + Duration::from_secs(2), end);
            assert!(gap <= Duration::from_millis(40), "round {round}: {gap:?}");
        }
        assert_eq!(world.path(0), Some(kind));
    }
    let after = world.players[1].agent.selected(ALICE).unwrap().remote.addr;
    assert_ne!(before, after, "Alice's external port changed");
    let stats = world.players[1].agent.stats();
    assert!(
        stats.selections >= 6,
        "Bob moved once per rebinding: {stats:?}"
    );
    if turn {
        // Alice's own allocation was bound to her old mapping: the next channel refresh (240 s)
        // meets 437 Allocation Mismatch and she allocates again from her new address.
        let relayed = |world: &World| world.players[0].agent.relayed();
        let old = relayed(&world);
        let later = world.now + Duration::from_secs(250);
        run_exchanging(&mut world, later);
        assert!(relayed(&world).is_some() && relayed(&world) != old);
        let announced = world.players[0]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Candidate(c) if c.kind == Kind::Relayed))
            .count();
        assert_eq!(announced, 2, "the new relayed candidate is announced");
        assert_eq!(world.path(0), Some(kind), "and the path held throughout");
    }
    heal_times
}

#[test]
fn a_rebinding_behind_a_port_randomising_nat_heals_on_the_turn_path_within_two_seconds() {
    let heal = rebinding_heals(
        Mapping::PortRandomising,
        Mapping::EndpointIndependent,
        true,
        PathKind::Turn,
    );
    println!("turn path: rebinding healed after {heal:?} ms");
}

#[test]
fn a_rebinding_facing_a_full_cone_heals_the_direct_path_within_two_seconds() {
    let heal = rebinding_heals(
        Mapping::EndpointIndependent,
        Mapping::FullCone,
        false,
        PathKind::Direct,
    );
    println!("direct path: rebinding healed after {heal:?} ms");
}

/// An agent that has sent its STUN Binding; returns it and the request's transaction id.
fn gathering_agent() -> (Agent, [u8; 12]) {
    let mut agent = Agent::new(config(ALICE, addr([169, 254, 1, 10], 5000), false));
    agent.handle_timeout(ms(0));
    let mut buf = [0; 1500];
    let transmit = agent.poll_transmit(&mut buf).unwrap();
    assert_eq!(transmit.dest, net::STUN);
    let id = message::transaction_id(&buf[..transmit.len]).unwrap();
    (agent, id)
}

fn binding_response(id: [u8; 12], mapped: SocketAddr, key: Option<HMACKey>) -> Vec<u8> {
    let mut builder = StunMessageBuilder::new(BINDING, MessageClass::SuccessResponse)
        .with_transaction_id(TransactionId::from(id))
        .with_attribute(XorMappedAddress::from(mapped));
    if let Some(key) = key {
        builder = builder.with_attribute(MessageIntegrity::new(key));
    }
    message::encode(&builder.with_attribute(Fingerprint::default()).build(), 548).unwrap()
}

#[test]
fn forged_server_responses_are_dropped_and_counted() {
    let (mut agent, id) = gathering_agent();
    let forged = addr([203, 0, 113, 9], 1234);
    let real = addr([198, 18, 1, 1], 40007);
    let now = ms(5);
    let from_elsewhere = binding_response(id, forged, None);
    assert_eq!(
        agent.handle_datagram(now, forged, &from_elsewhere),
        Received::Handled
    );
    let wrong_id = binding_response([9; 12], forged, None);
    assert_eq!(
        agent.handle_datagram(now, net::STUN, &wrong_id),
        Received::Handled
    );
    let mut bad_crc = binding_response(id, forged, None);
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0x55;
    agent.handle_datagram(now, net::STUN, &bad_crc);
    let signed = binding_response(id, forged, Some(HMACKey::new_short_term("x").unwrap()));
    agent.handle_datagram(now, net::STUN, &signed);
    agent.handle_datagram(now, net::STUN, &[0, 1, 0, 0]);
    let stats = agent.stats();
    assert_eq!(
        (
            stats.wrong_source,
            stats.unknown_transaction,
            stats.bad_fingerprint
        ),
        (1, 1, 1)
    );
    assert_eq!((stats.bad_integrity, stats.malformed), (1, 1));
    assert_eq!(agent.server_reflexive(), None, "nothing forged was taken");
    // The real response still matches: the transaction survived the forgeries.
    agent.handle_datagram(now, net::STUN, &binding_response(id, real, None));
    assert_eq!(agent.server_reflexive(), Some(real));
    assert!(
        agent
            .local_candidates()
            .iter()
            .any(|c| c.kind == Kind::ServerReflexive && c.addr == real)
    );
}

fn check_request(to: u32, from: u32, key: &HMACKey, use_candidate: bool) -> Vec<u8> {
    let mut builder = StunMessageBuilder::new(BINDING, MessageClass::Request)
        .with_transaction_id(TransactionId::from([3; 12]))
        .with_attribute(UserName::try_from(credentials::username(to, from)).unwrap())
        .with_attribute(Priority::new(100));
    if use_candidate {
        builder = builder.with_attribute(UseCandidate::default());
    }
    let message = builder
        .with_attribute(MessageIntegrity::new(key.clone()))
        .with_attribute(Fingerprint::default())
        .build();
    message::encode(&message, 548).unwrap()
}

#[test]
fn strangers_cannot_pass_checks_or_move_a_path() {
    // Bob (controlled) knows Alice; checks signed without the room secret must not select.
    let mut bob = Agent::new(config(BOB, addr([169, 254, 2, 10], 5000), false));
    bob.handle_timeout(ms(0));
    let alice_addr = addr([198, 18, 1, 1], 40007);
    bob.add_remote_candidate(
        ms(0),
        ALICE,
        Candidate::new(Kind::ServerReflexive, alice_addr, 65535),
    );
    let stranger = credentials::Credentials::new(&RoomKey::derive(b"guess", "jam"));
    let attacker = addr([203, 0, 113, 9], 1234);
    let forged = check_request(BOB, ALICE, &stranger.key_of(BOB), true);
    assert_eq!(
        bob.handle_datagram(ms(1), attacker, &forged),
        Received::Handled
    );
    let room = credentials::Credentials::new(&RoomKey::derive(b"room secret", "jam"));
    let not_for_us = check_request(7, ALICE, &room.key_of(7), true);
    bob.handle_datagram(ms(1), attacker, &not_for_us);
    let unknown_sender = check_request(BOB, 9, &room.key_of(BOB), true);
    bob.handle_datagram(ms(1), attacker, &unknown_sender);
    let stats = bob.stats();
    assert_eq!(
        stats.bad_integrity, 2,
        "a stranger's key, and a key not ours"
    );
    assert_eq!(stats.unknown_peer, 1);
    assert_eq!(stats.checks_answered, 0);
    assert_eq!(bob.selected(ALICE), None);
    // The genuine nomination from Alice selects her address.
    let genuine = check_request(BOB, ALICE, &room.key_of(BOB), true);
    bob.handle_datagram(ms(2), alice_addr, &genuine);
    assert_eq!(bob.selected(ALICE).map(|s| s.remote.addr), Some(alice_addr));
    assert_eq!(bob.stats().checks_answered, 1);
}

/// Whether `inner` is a view into `outer` (the same memory, not a copy of its bytes).
fn points_into(outer: &[u8], inner: &[u8]) -> bool {
    let outer = outer.as_ptr_range();
    let inner = inner.as_ptr_range();
    outer.start <= inner.start && inner.end <= outer.end
}

#[test]
fn relayed_audio_is_framed_in_place_and_received_payloads_are_views_of_the_datagram() {
    let mut world = world(Mapping::PortRandomising, Mapping::EndpointIndependent, true);
    run_exchanging(&mut world, ms(6000));
    let now = world.now;
    // Someone's route runs through its own allocation (the port-randomising side can only be
    // reached through one).
    let (at, peer) = (0..2)
        .find_map(
            |at| match world.players[at].agent.route(world.players[at].peer) {
                Some(Route::Relayed(peer)) => Some((at, peer)),
                _ => None,
            },
        )
        .expect("a relayed route");
    let channel = world.channel_to(peer).expect("the server bound a channel");
    let agent = &mut world.players[at].agent;
    let payload: Vec<u8> = (0..100u8).map(|i| 0x80 ^ i).collect();

    // Outbound: the ChannelData header goes into the headroom, the payload stays where it is.
    let mut buf = [0u8; 1500];
    buf[HEADROOM..HEADROOM + 100].copy_from_slice(&payload);
    let framed = agent.frame(Route::Relayed(peer), &mut buf, 100).unwrap();
    assert_eq!(framed.dest, TURN);
    assert_eq!(framed.range, 0..104);
    let datagram = &buf[framed.range];
    assert_eq!(
        &datagram[..2],
        &channel.to_be_bytes(),
        "the server's channel"
    );
    assert_eq!(&datagram[2..4], &100u16.to_be_bytes(), "the payload length");
    assert_eq!(&datagram[4..], &payload[..]);
    // A direct route frames nothing: the payload is the datagram.
    let direct = addr([198, 18, 2, 1], 40000);
    let framed = agent.frame(Route::Direct(direct), &mut buf, 100).unwrap();
    assert_eq!(
        (framed.dest, framed.range),
        (direct, HEADROOM..HEADROOM + 100)
    );
    assert_eq!(agent.frame(Route::Direct(direct), &mut buf, 1500 - 3), None);

    // Inbound ChannelData on that channel (what the server relays from the peer): the payload
    // handed back is the datagram's own bytes behind the header.
    let inbound = buf[..104].to_vec();
    let Received::Payload { route, data } = agent.handle_datagram(now, TURN, &inbound) else {
        panic!("ChannelData from the peer is the endpoint's");
    };
    assert_eq!(route, Route::Relayed(peer));
    assert_eq!(data, &payload[..]);
    assert!(points_into(&inbound[4..], data), "not copied");

    // Inbound direct: the datagram itself.
    let Received::Payload { route, data } = agent.handle_datagram(now, direct, &payload) else {
        panic!("media from an address is the endpoint's");
    };
    assert_eq!(route, Route::Direct(direct));
    assert_eq!(data.as_ptr_range(), payload.as_ptr_range(), "not copied");

    // A Data indication (before a channel is bound): its DATA attribute's bytes, in place too.
    let indication = StunMessageBuilder::new(DATA, MessageClass::Indication)
        .with_attribute(XorPeerAddress::from(peer))
        .with_attribute(Data::from(payload.as_slice()))
        .build();
    let indication = message::encode(&indication, 1500).unwrap();
    let Received::Payload { route, data } = agent.handle_datagram(now, TURN, &indication) else {
        panic!("a Data indication from the peer is the endpoint's");
    };
    assert_eq!(route, Route::Relayed(peer));
    assert_eq!(data, &payload[..]);
    assert!(points_into(&indication, data), "not copied");
}
