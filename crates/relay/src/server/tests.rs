//! The server on virtual time: join order and fan-out, limits, staleness, LEAVE, re-JOIN,
//! wrong verifier, forged and malformed commands.

use std::net::SocketAddr;

use proto::rendezvous::{Candidate, CandidateKind, Credentials, ErrorCode, Reply};

use super::*;

mod charge;

fn at(secs: f64) -> Instant {
    Instant::from_micros((secs * 1e6) as u64)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

struct Room {
    server: Server,
    creds: Credentials,
}

impl Room {
    fn new(config: Config) -> Self {
        Self {
            server: Server::new(config, [7; 32], at(0.0)),
            creds: Credentials::derive(b"secret", "room"),
        }
    }

    fn send(&mut self, secs: f64, from: u16, text: &str) -> Vec<(u16, String)> {
        self.server
            .handle_datagram(at(secs), addr(from), text.as_bytes());
        self.drain()
    }

    fn drain(&mut self) -> Vec<(u16, String)> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(t) = self.server.poll_transmit(&mut buf) {
            assert_eq!(t.len, buf.len());
            out.push((
                t.destination.port(),
                String::from_utf8(buf.clone()).unwrap(),
            ));
        }
        out
    }

    fn join(&mut self, secs: f64, from: u16, id: u32) -> Vec<(u16, String)> {
        let text = format!(
            "JOIN:{}:{}:dev{id}:{id}",
            self.creds.group(),
            self.creds.verifier()
        );
        self.send(secs, from, &text)
    }

    fn sweep(&mut self, secs: f64) {
        self.server.handle_timeout(at(secs));
    }
}

fn to(out: &[(u16, String)], port: u16) -> Vec<&str> {
    out.iter()
        .filter(|(p, _)| *p == port)
        .map(|(_, s)| s.as_str())
        .collect()
}

fn srflx(port: u16) -> String {
    Candidate::new(CandidateKind::Srflx, addr(port)).to_string()
}

#[test]
fn joiner_gets_the_sequence_then_every_member_and_members_get_the_joiner() {
    let mut room = Room::new(Config::default());
    let first = room.join(0.0, 1001, 1);
    let replies = to(&first, 1001);
    assert_eq!(replies.len(), 5);
    assert_eq!(replies[0], "OK:joined");
    assert_eq!(replies[1], "ROLE:dj");
    assert_eq!(replies[2], "YOUR_ADDR:127.0.0.1:1001");
    assert!(replies[3].starts_with("SESSION:") && replies[3].len() == 8 + 32);
    assert_eq!(replies[4], "MODE:private");

    room.join(1.0, 1002, 2);
    let third = room.join(2.0, 1003, 3);
    let mine = to(&third, 1003);
    assert_eq!(
        mine.len(),
        5 + 2 * 2,
        "sequence, then PEER + srflx CAND per member"
    );
    assert_eq!(
        &mine[5..],
        [
            "PEER:127.0.0.1:1001".to_string(),
            format!("CAND:1:{}", srflx(1001)),
            "PEER:127.0.0.1:1002".to_string(),
            format!("CAND:2:{}", srflx(1002)),
        ]
    );
    for member in [1001, 1002] {
        assert_eq!(
            to(&third, member),
            [
                "PEER:127.0.0.1:1003".to_string(),
                format!("CAND:3:{}", srflx(1003))
            ]
        );
    }
    assert_eq!(third.len(), 9 + 4);
    // Two SESSION tokens are never equal.
    let token = |out: &[(u16, String)], port| to(out, port)[3].to_string();
    assert_ne!(token(&first, 1001), token(&third, 1003));
    assert_eq!(
        (room.server.group_count(), room.server.member_count()),
        (1, 3)
    );
}

#[test]
fn candidates_fan_out_to_the_others_and_reach_later_joiners() {
    let mut room = Room::new(Config::default());
    room.join(0.0, 1001, 1);
    room.join(0.0, 1002, 2);
    let host = "CAND:host:2130706431:169.254.1.1:4000";
    let out = room.send(0.1, 1001, host);
    assert_eq!(
        out,
        [(1002, "CAND:1:host:2130706431:169.254.1.1:4000".to_string())]
    );
    assert_eq!(room.send(0.2, 1001, host), [], "a repeat is not fanned out");
    let late = room.join(0.3, 1003, 3);
    let mine = to(&late, 1003);
    assert!(mine.contains(&"CAND:1:host:2130706431:169.254.1.1:4000"));
    let c = room.server.counters();
    assert_eq!((c.candidates, c.candidates_repeated), (1, 1));
}

#[test]
fn a_member_registers_at_most_max_candidates() {
    let mut room = Room::new(Config::default());
    room.join(0.0, 1001, 1);
    room.join(0.0, 1002, 2);
    let mut fanned = 0;
    for i in 0..12 {
        fanned += room
            .send(0.1, 1001, &format!("CAND:host:1:169.254.1.{}:4000", i + 1))
            .len();
    }
    assert_eq!(fanned, MAX_CANDIDATES);
    assert_eq!(
        room.server.counters().candidates_over_limit,
        12 - MAX_CANDIDATES as u64
    );
    let late = room.join(0.2, 1003, 3);
    // PEER + observed srflx + 8 registered for member 1, PEER + srflx for member 2.
    assert_eq!(to(&late, 1003).len(), 5 + (2 + MAX_CANDIDATES) + 2);
}

#[test]
fn wrong_verifier_and_limits_are_refused_with_the_dialect_errors() {
    let mut room = Room::new(Config {
        max_groups: 2,
        max_members: 2,
        ..Config::default()
    });
    room.join(0.0, 1001, 1);
    let group = room.creds.group().to_string();
    let wrong = room.send(0.1, 1002, &format!("JOIN:{group}:{}:x:2", "0".repeat(64)));
    assert_eq!(wrong, [(1002, "ERR:wrong_password".to_string())]);
    room.join(0.2, 1002, 2);
    assert_eq!(
        room.join(0.3, 1003, 3),
        [(1003, "ERR:group_full".to_string())]
    );
    room.send(0.4, 1004, "JOIN:other:pw:x:4");
    assert_eq!(
        room.send(0.5, 1005, "JOIN:third:pw:x:5"),
        [(1005, "ERR:max_groups".to_string())]
    );
    assert_eq!(
        room.send(0.6, 1006, "JOIN::pw:x:6"),
        [(1006, "ERR:empty_group".to_string())]
    );
    assert_eq!(
        room.send(0.7, 1007, "JOIN:other:pw:x"),
        [(1007, "ERR:missing_device_id".to_string())]
    );
    let c = *room.server.counters();
    assert_eq!(
        (
            c.wrong_password,
            c.group_full,
            c.max_groups,
            c.empty_group,
            c.missing_device_id
        ),
        (1, 1, 1, 1, 1)
    );
    assert_eq!(
        (room.server.group_count(), room.server.member_count()),
        (2, 3)
    );
}

#[test]
fn silent_members_go_stale_after_15_s_and_any_datagram_keeps_them() {
    let mut room = Room::new(Config::default());
    room.join(0.0, 1001, 1);
    room.join(0.0, 1002, 2);
    room.join(0.0, 1003, 3);
    assert_eq!(room.server.poll_timeout(), at(10.0));
    // 1001 says HELLO, 1002 sends audio only, 1003 is silent.
    for t in [4.0, 8.0, 12.0, 16.0] {
        room.send(t, 1001, "HELLO");
        room.server
            .handle_datagram(at(t), addr(1002), &[0x80, 111, 0, 1]);
    }
    room.sweep(10.0);
    assert_eq!(
        room.server.member_count(),
        3,
        "10 s of silence is not stale"
    );
    assert_eq!(room.server.poll_timeout(), at(20.0));
    room.sweep(20.0);
    assert_eq!(room.server.member_count(), 2, "1003 silent for 20 s");
    assert_eq!(room.server.counters().stale, 1);
    assert_eq!(room.server.counters().binary_from_members, 4);
    room.sweep(40.0);
    assert_eq!(
        (room.server.group_count(), room.server.member_count()),
        (0, 0)
    );
    assert_eq!(room.server.counters().stale, 3);
}

#[test]
fn leave_removes_at_once_and_rejoin_only_refreshes() {
    let mut room = Room::new(Config::default());
    room.join(0.0, 1001, 1);
    room.join(0.0, 1002, 2);
    let again = room.join(12.0, 1001, 1);
    assert_eq!(
        to(&again, 1002),
        Vec::<&str>::new(),
        "others hear nothing of a refresh"
    );
    assert_eq!(to(&again, 1001).len(), 5 + 2);
    room.sweep(20.0);
    assert_eq!(
        room.server.member_count(),
        1,
        "the refresh at 12 s kept 1001; 1002 went stale"
    );
    assert_eq!(room.send(21.0, 1001, "LEAVE"), []);
    assert_eq!(
        (room.server.group_count(), room.server.member_count()),
        (0, 0)
    );
    let c = room.server.counters();
    assert_eq!((c.joins, c.rejoins, c.leaves, c.stale), (2, 1, 1, 1));
}

#[test]
fn same_device_from_a_new_address_replaces_the_old_one() {
    let mut room = Room::new(Config::default());
    room.join(0.0, 1001, 1);
    room.join(0.0, 1002, 2);
    let moved = room.join(1.0, 1003, 2);
    assert_eq!(
        to(&moved, 1001),
        [
            "PEER:127.0.0.1:1003".to_string(),
            format!("CAND:2:{}", srflx(1003))
        ]
    );
    assert_eq!(room.server.member_count(), 2);
    assert_eq!(room.send(1.1, 1002, "HELLO"), []);
    assert_eq!(
        room.server.counters().not_member,
        1,
        "the old address is no member"
    );
    assert_eq!(room.server.counters().replaced, 1);
}

#[test]
fn mode_private_sends_all_pairs_hints() {
    let mut room = Room::new(Config::default());
    for (port, id) in [(1001, 1), (1002, 2), (1003, 3)] {
        room.join(0.0, port, id);
    }
    let out = room.send(1.0, 1002, "MODE:private");
    assert_eq!(out.len(), 3 + 3 * 2, "MODE to each, then 2 PEER hints each");
    assert_eq!(
        to(&out, 1001),
        ["MODE:private", "PEER:127.0.0.1:1002", "PEER:127.0.0.1:1003"]
    );
    let out = room.send(1.1, 1002, "MODE:public");
    assert_eq!(out.len(), 3);
    let late = room.join(2.0, 1004, 4);
    assert_eq!(to(&late, 1004)[4], "MODE:public");
}

#[test]
fn forged_malformed_and_binary_datagrams_are_counted_never_answered() {
    let mut room = Room::new(Config::default());
    room.join(0.0, 1001, 1);
    let cases: [&[u8]; 9] = [
        b"HELLO",
        b"CAND:host:1:127.0.0.1:9",
        b"MODE:private",
        b"LEAVE",
        b"PUNCH",
        b"CAND:host:1:127.0.0.1:0",
        b"JOIN:g:p:n:99999999999",
        b"MEMBERS",
        &[0x00, 0x01, 0x00, 0x00],
    ];
    for data in cases {
        room.server.handle_datagram(at(1.0), addr(2000), data);
    }
    assert_eq!(room.drain(), []);
    let c = room.server.counters();
    assert_eq!(
        (
            c.not_member,
            c.malformed,
            c.unsupported,
            c.binary_from_strangers
        ),
        (5, 2, 1, 1)
    );
    assert_eq!(room.server.member_count(), 1);
}

#[test]
fn switching_groups_leaves_the_old_one() {
    let mut room = Room::new(Config::default());
    room.join(0.0, 1001, 1);
    let out = room.send(1.0, 1001, "JOIN:elsewhere:pw:x:1");
    assert_eq!(to(&out, 1001)[0], "OK:joined");
    assert_eq!(
        (room.server.group_count(), room.server.member_count()),
        (1, 1)
    );
}

#[test]
fn replies_parse_as_the_client_reads_them() {
    let mut room = Room::new(Config::default());
    room.join(0.0, 1001, 1);
    for (_, text) in room.join(0.0, 1002, 2) {
        assert!(Reply::parse(text.as_bytes()).is_ok(), "{text}");
    }
    let _ = ErrorCode::GroupFull;
}

#[test]
fn a_flood_of_joins_is_bounded_by_the_limits() {
    let mut room = Room::new(Config::default());
    // 10,000 strangers, each naming its own group: 100 groups, the rest refused.
    for i in 0..10_000u32 {
        let from = SocketAddr::from(([127, 2, (i >> 8) as u8, i as u8], 9));
        let join = format!("JOIN:g{i}:pw:x:{i}");
        room.server.handle_datagram(at(0.0), from, join.as_bytes());
    }
    // 16 more members into one group, 4 of them refused.
    for i in 0..20u32 {
        let from = SocketAddr::from(([127, 3, 0, i as u8], 9));
        let join = format!("JOIN:g0:pw:x:{}", 20_000 + i);
        room.server.handle_datagram(at(0.0), from, join.as_bytes());
    }
    room.drain();
    let c = room.server.counters();
    assert_eq!(room.server.group_count(), 100);
    assert_eq!(room.server.member_count(), 100 + 15);
    assert_eq!((c.max_groups, c.group_full), (9_900, 5));
}

#[test]
fn ipv6_members_are_written_in_brackets() {
    let mut room = Room::new(Config::default());
    let v6 = |port| SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    let join = |id: u32| format!("JOIN:g:pw:x:{id}");
    room.server
        .handle_datagram(at(0.0), v6(1001), join(1).as_bytes());
    room.server
        .handle_datagram(at(0.0), v6(1002), join(2).as_bytes());
    let out = room.drain();
    assert!(out.contains(&(1001, "PEER:[::1]:1002".to_string())));
    assert!(out.contains(&(1002, "YOUR_ADDR:[::1]:1002".to_string())));
}

#[test]
fn the_session_token_rotates_at_the_first_rejoin_after_an_hour() {
    let mut room = Room::new(Config::default());
    let token = |out: &[(u16, String)]| to(out, 1001)[3].to_string();
    let first = token(&room.join(0.0, 1001, 1));
    let mut t = 0.0;
    // Re-JOIN every 14 s (HELLOs lost): the token holds for an hour.
    while t + 14.0 < 3_600.0 {
        t += 14.0;
        assert_eq!(token(&room.join(t, 1001, 1)), first, "at {t} s");
        room.sweep(t);
    }
    let rotated = token(&room.join(3_600.0, 1001, 1));
    assert!(rotated.starts_with("SESSION:"));
    assert_ne!(rotated, first);
    assert_eq!(token(&room.join(3_614.0, 1001, 1)), rotated);
}
