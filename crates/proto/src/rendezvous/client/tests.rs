//! The client on virtual time: join retries, HELLO cadence, re-join on silence, candidates,
//! forged replies, refusal and close.

use super::*;
use crate::rendezvous::{CandidateKind, ErrorCode, Mode, Role};

const SERVER: &str = "127.0.0.1:5100";

fn at(secs: f64) -> Instant {
    Instant::from_micros((secs * 1e6) as u64)
}

fn client() -> Client {
    Client::new(
        Config {
            server: SERVER.parse().unwrap(),
            credentials: Credentials::derive(b"secret", "room"),
            device_name: "drums".into(),
            device_id: 7,
        },
        at(0.0),
    )
    .unwrap()
}

/// Runs timers up to `until` in the client's own steps and returns every datagram sent, as
/// (seconds, text).
fn run(client: &mut Client, from: f64, until: f64) -> Vec<(f64, String)> {
    let mut sent = Vec::new();
    let mut buf = Vec::new();
    let mut now = at(from);
    loop {
        client.handle_timeout(now);
        while let Some(t) = client.poll_transmit(&mut buf) {
            assert_eq!(t.destination, SERVER.parse().unwrap());
            assert_eq!(t.len, buf.len());
            let text = String::from_utf8(buf.clone()).unwrap();
            sent.push((now.as_micros() as f64 / 1e6, text));
        }
        match client.poll_timeout() {
            Some(next) if next <= at(until) => now = next.max(now),
            _ => return sent,
        }
    }
}

fn feed(client: &mut Client, secs: f64, lines: &[&str]) {
    for line in lines {
        client.handle_input(at(secs), SERVER.parse().unwrap(), line.as_bytes());
    }
}

fn events(client: &mut Client) -> Vec<Reply> {
    std::iter::from_fn(|| client.poll_event()).collect()
}

fn names(sent: &[(f64, String)]) -> Vec<(f64, &str)> {
    sent.iter()
        .map(|(t, s)| (*t, s.split(':').next().unwrap()))
        .collect()
}

#[test]
fn join_retries_back_off_from_1_to_5_seconds() {
    let mut c = client();
    let sent = run(&mut c, 0.0, 20.0);
    let times: Vec<f64> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [0.0, 1.0, 3.0, 7.0, 12.0, 17.0]);
    let creds = Credentials::derive(b"secret", "room");
    assert_eq!(
        sent[0].1,
        format!("JOIN:{}:{}:drums:7", creds.group(), creds.verifier())
    );
    assert_eq!(c.stats().joins_sent, 6);
    assert!(!c.is_joined());
}

#[test]
fn joined_member_says_hello_every_5_s_and_rejoins_after_15_s_of_silence() {
    let mut c = client();
    run(&mut c, 0.0, 0.0);
    feed(
        &mut c,
        0.1,
        &[
            "OK:joined",
            "ROLE:dj",
            "YOUR_ADDR:198.18.0.9:4000",
            "MODE:private",
        ],
    );
    assert_eq!(
        events(&mut c),
        [
            Reply::Joined,
            Reply::Role(Role::Dj),
            Reply::YourAddr("198.18.0.9:4000".parse().unwrap()),
            Reply::Mode(Mode::Private),
        ]
    );
    let sent = run(&mut c, 0.1, 16.0);
    // HELLO at 5.1, 10.1, 15.1; the server was last heard at 0.1, so JOIN goes at 15.1 too.
    assert_eq!(
        names(&sent),
        [
            (5.1, "HELLO"),
            (10.1, "HELLO"),
            (15.1, "JOIN"),
            (15.1, "HELLO")
        ]
    );
    // The refresh is answered: same address and token, so no repeated events.
    feed(&mut c, 15.2, &["OK:joined", "YOUR_ADDR:198.18.0.9:4000"]);
    assert_eq!(events(&mut c), []);
    // The NAT moved us: the refresh shows it.
    feed(&mut c, 15.3, &["YOUR_ADDR:198.18.0.9:4444"]);
    assert_eq!(
        events(&mut c),
        [Reply::YourAddr("198.18.0.9:4444".parse().unwrap())]
    );
    let sent = run(&mut c, 15.3, 31.0);
    assert_eq!(
        names(&sent),
        [
            (20.1, "HELLO"),
            (25.1, "HELLO"),
            (30.1, "HELLO"),
            (30.3, "JOIN")
        ]
    );
    assert_eq!(c.stats().joins_sent, 3);
}

#[test]
fn silent_server_gets_rejoins_with_backoff_until_it_answers() {
    let mut c = client();
    run(&mut c, 0.0, 0.0);
    feed(&mut c, 0.0, &["OK:joined"]);
    let joins: Vec<f64> = run(&mut c, 0.0, 40.0)
        .into_iter()
        .filter(|(_, s)| s.starts_with("JOIN"))
        .map(|(t, _)| t)
        .collect();
    assert_eq!(joins, [15.0, 16.0, 18.0, 22.0, 27.0, 32.0, 37.0]);
}

#[test]
fn candidates_go_after_ok_joined_and_at_most_8() {
    let mut c = client();
    let cands: Vec<Candidate> = (0..10)
        .map(|i| {
            Candidate::new(
                CandidateKind::Host,
                format!("169.254.0.{}:4000", i + 1).parse().unwrap(),
            )
        })
        .collect();
    c.set_candidates(&cands);
    assert_eq!(c.stats().candidates_dropped, 2);
    assert_eq!(names(&run(&mut c, 0.0, 0.0)), [(0.0, "JOIN")]);
    feed(&mut c, 0.5, &["OK:joined"]);
    let sent = run(&mut c, 0.5, 0.5);
    assert_eq!(sent.len(), MAX_CANDIDATES);
    assert_eq!(sent[0].1, "CAND:host:2130706431:169.254.0.1:4000");
    // Adding one that is new sends only it.
    let mut more = cands[..7].to_vec();
    more.push(Candidate::new(
        CandidateKind::Relay,
        "198.18.0.1:3478".parse().unwrap(),
    ));
    c.set_candidates(&more);
    let sent = run(&mut c, 0.6, 0.6);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, "CAND:relay:16777215:198.18.0.1:3478");
}

#[test]
fn replies_become_events_and_forged_ones_are_counted() {
    let mut c = client();
    run(&mut c, 0.0, 0.0);
    feed(
        &mut c,
        0.1,
        &[
            "OK:joined",
            "SESSION:000102030405060708090a0b0c0d0e0f",
            "PEER:[::1]:6000",
            "CAND:9:srflx:1694498815:[::1]:6000",
            "CAND:7:host:1:127.0.0.1:9",
            "MAXDELAY:140",
            "PEER:1.2.3.4",
        ],
    );
    let token = SessionToken(std::array::from_fn(|i| i as u8));
    assert_eq!(
        events(&mut c),
        [
            Reply::Joined,
            Reply::Session(token),
            Reply::Peer("[::1]:6000".parse().unwrap()),
            Reply::Cand {
                device_id: 9,
                candidate: Candidate::new(CandidateKind::Srflx, "[::1]:6000".parse().unwrap()),
            },
        ],
        "our own id's candidate is not an event"
    );
    let stranger: SocketAddr = "127.0.0.1:5101".parse().unwrap();
    c.handle_input(at(0.2), stranger, b"PEER:127.0.0.1:6666");
    c.handle_input(at(0.2), stranger, b"CAND:9:host:1:127.0.0.1:6666");
    assert_eq!(events(&mut c), []);
    let stats = c.stats();
    assert_eq!(
        (
            stats.replies,
            stats.ignored,
            stats.malformed,
            stats.not_from_server
        ),
        (5, 1, 1, 2)
    );
}

#[test]
fn refused_join_is_reported_and_retried_after_30_s() {
    let mut c = client();
    run(&mut c, 0.0, 0.0);
    feed(&mut c, 0.2, &["ERR:wrong_password"]);
    assert_eq!(events(&mut c), [Reply::Err(ErrorCode::WrongPassword)]);
    assert_eq!(c.poll_timeout(), Some(at(30.2)));
    assert_eq!(names(&run(&mut c, 0.2, 31.0)), [(30.2, "JOIN")]);
}

#[test]
fn close_sends_leave_once_and_stops() {
    let mut c = client();
    run(&mut c, 0.0, 0.0);
    feed(&mut c, 0.1, &["OK:joined"]);
    assert_eq!(events(&mut c), [Reply::Joined]);
    c.close();
    c.close();
    assert_eq!(names(&run(&mut c, 0.2, 0.2)), [(0.2, "LEAVE")]);
    assert_eq!(c.poll_timeout(), None);
    feed(&mut c, 0.3, &["PEER:127.0.0.1:7"]);
    assert_eq!(events(&mut c), []);
}

#[test]
fn device_names_that_cannot_travel_are_refused() {
    for name in ["a:b", "tab\there", &"x".repeat(65)] {
        let config = Config {
            server: SERVER.parse().unwrap(),
            credentials: Credentials::derive(b"s", "r"),
            device_name: name.into(),
            device_id: 1,
        };
        assert_eq!(Client::new(config, at(0.0)).err(), Some(ConfigError));
    }
}

#[test]
fn a_restarted_server_gets_the_join_and_the_candidates_again() {
    let mut c = client();
    let host = Candidate::new(CandidateKind::Host, "169.254.0.1:4000".parse().unwrap());
    c.set_candidates(&[host]);
    run(&mut c, 0.0, 0.0);
    feed(&mut c, 0.1, &["OK:joined"]);
    assert_eq!(events(&mut c), [Reply::Joined]);
    assert_eq!(names(&run(&mut c, 0.1, 0.1)), [(0.1, "CAND")]);
    // The server restarts at 2 s and forgets us: our HELLOs go unanswered until 15.1 s.
    let sent = run(&mut c, 0.1, 15.1);
    assert_eq!(names(&sent).last(), Some(&(15.1, "HELLO")));
    assert!(
        sent.iter()
            .any(|(t, s)| *t == 15.1 && s.starts_with("JOIN"))
    );
    feed(&mut c, 15.2, &["OK:joined", "ROLE:dj"]);
    assert_eq!(
        events(&mut c),
        [Reply::Role(Role::Dj)],
        "still joined: no second Joined"
    );
    assert_eq!(
        run(&mut c, 15.2, 15.2),
        [(15.2, format!("CAND:{host}"))],
        "candidates re-registered"
    );
}

#[test]
fn a_refused_join_that_later_succeeds_reports_joined() {
    let mut c = client();
    run(&mut c, 0.0, 0.0);
    feed(&mut c, 0.1, &["ERR:group_full"]);
    run(&mut c, 0.1, 30.1);
    feed(&mut c, 30.2, &["OK:joined"]);
    assert_eq!(
        events(&mut c),
        [Reply::Err(ErrorCode::GroupFull), Reply::Joined]
    );
    assert!(c.is_joined());
    assert_eq!(
        c.poll_timeout(),
        Some(at(35.2)),
        "first HELLO 5 s after joining"
    );
}
