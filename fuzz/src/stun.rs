//! STUN and TURN input of the connectivity agent (`proto::connect`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use proto::connect;

use super::assert_inside;

/// Where a [`stun`] input's datagram comes from (its first byte, low two bits).
const STUN_SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), 3478);
const TURN_SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)), 3478);
const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 2, 1)), 40000);
const STRANGER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 9, 9)), 1234);

/// A connectivity agent (user 1) mid-gathering: STUN Binding and TURN Allocate outstanding,
/// user 2's candidate added and its first check sent. Returns it and the transaction ids of
/// what it sent, in order.
fn stun_agent(user_id: u32, peer: u32) -> (connect::Agent, Vec<[u8; 12]>, Vec<Vec<u8>>) {
    let mut agent = connect::Agent::new(connect::Config {
        user_id,
        key: proto::auth::RoomKey::derive(b"room secret", "jam"),
        host: vec![SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(169, 254, 1, 10)),
            5000,
        )],
        stun: Some(STUN_SERVER),
        turn: Some(connect::TurnServer {
            addr: TURN_SERVER,
            username: "alice".into(),
            password: "secret".into(),
        }),
        timing: connect::Timing::default(),
        limits: connect::Limits::default(),
        seed: u64::from(user_id),
    });
    let start = proto::time::Instant::from_micros(0);
    agent.handle_timeout(start);
    let candidate = connect::Candidate::new(connect::Kind::ServerReflexive, PEER, 65535);
    agent.add_remote_candidate(start, peer, candidate);
    let mut ids = Vec::new();
    let mut sent = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(t) = agent.poll_transmit(&mut buf) {
        let datagram = &buf[..t.len];
        if datagram.len() >= 20 {
            ids.push(datagram[8..20].try_into().expect("12 bytes"));
        }
        sent.push(datagram.to_vec());
    }
    (agent, ids, sent)
}

/// STUN and TURN input of the connectivity agent (responses, checks, ChannelData, Data
/// indications). The first byte picks the source (STUN server, TURN server, the known peer, a
/// stranger) in its low two bits and, in bits 2-4, an outstanding transaction id to splice into
/// the message (so responses reach the integrity and attribute checks); the rest is the
/// datagram. Whatever it is, nothing panics, a payload handed back is a view of the datagram,
/// and a stranger's datagram changes no address and selects no path.
pub fn stun(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let (mut agent, ids, _) = stun_agent(1, 2);
    let from = [STUN_SERVER, TURN_SERVER, PEER, STRANGER][usize::from(control & 3)];
    let mut datagram = rest.to_vec();
    let splice = usize::from((control >> 2) & 7);
    if splice > 0
        && datagram.len() >= 20
        && let Some(id) = ids.get(splice - 1)
    {
        datagram[8..20].copy_from_slice(id);
    }
    let now = proto::time::Instant::from_micros(5_000);
    let relayed = match agent.handle_datagram(now, from, &datagram) {
        connect::Received::Payload { route, data } => {
            assert_inside(&datagram, data);
            matches!(route, connect::Route::Relayed(_))
        }
        connect::Received::Handled => false,
    };
    if from == STRANGER {
        assert!(!relayed, "only the TURN server relays");
        assert_eq!(agent.server_reflexive(), None);
        assert_eq!(agent.relayed(), None);
        assert_eq!(agent.selected(2), None);
    }
    let mut buf = [0u8; 1500];
    let mut transmits = 0;
    while agent.poll_transmit(&mut buf).is_some() {
        transmits += 1;
        assert!(transmits < 1000, "bounded output");
    }
    while agent.poll_event().is_some() {}
    agent.handle_timeout(now + std::time::Duration::from_secs(1));
}

/// What the agents send each other and the servers: requests, a check and its answer, and a
/// ChannelData frame; each behind a control byte that gives it a plausible source.
pub(crate) fn seeds() -> Vec<Vec<u8>> {
    let (_, _, alice_sent) = stun_agent(1, 2);
    let (mut bob, _, _) = stun_agent(2, 1);
    let check = alice_sent.last().cloned().unwrap_or_default();
    let now = proto::time::Instant::from_micros(1_000);
    let _ = bob.handle_datagram(now, PEER, &check);
    let mut buf = [0u8; 1500];
    let mut answer = Vec::new();
    while let Some(t) = bob.poll_transmit(&mut buf) {
        if t.dest == PEER && buf[0] == 0x01 {
            answer = buf[..t.len].to_vec();
        }
    }
    let with = |control: u8, bytes: &[u8]| {
        let mut seed = vec![control];
        seed.extend_from_slice(bytes);
        seed
    };
    let mut seeds: Vec<Vec<u8>> = alice_sent.iter().map(|m| with(0, m)).collect();
    seeds.push(with(2, &check));
    seeds.push(with(2 | (3 << 2), &answer));
    seeds.push(with(1, &[0x40, 0x00, 0x00, 0x04, 0x80, 0x60, 0x00, 0x01]));
    seeds
}
