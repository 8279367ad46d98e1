//! The API on virtual time: each route's statuses and bodies, the charge through a member's
//! device id, and a verdict from two listeners.

use std::net::SocketAddr;

use proto::rendezvous::Amount;

use super::*;
use crate::Config;
use crate::charge::ChargeKey;

/// 2026-03-15, a wall clock for the charge window and the reports.
const UNIX: u64 = 1_773_532_800;

fn clock(secs: u64) -> Clock {
    Clock {
        now: Instant::from_duration(Duration::from_secs(secs)),
        unix: Duration::from_secs(UNIX + secs),
    }
}

/// A server with the `example-secret` key, one group `room` with members 7 (`payer`) and 8,
/// and an API started at the same time.
fn relay() -> (Server, Api) {
    let mut server = Server::new(Config::default(), [7; 32], Instant::ZERO);
    server.set_charge_key(ChargeKey::new(b"example-secret").unwrap());
    for (port, name, id) in [(4000, "payer", 7), (4001, "other", 8)] {
        let from = SocketAddr::from(([127, 0, 0, 1], port));
        let join = format!("JOIN:room:pw:{name}:{id}");
        server.handle_datagram(Instant::ZERO, from, join.as_bytes());
    }
    (server, Api::new(clock(0).unix))
}

fn charge_body(device_id: &str, amount: &str, unix_ts: u64) -> String {
    let mac = ChargeKey::new(b"example-secret").unwrap().sign(
        Amount::parse(amount).unwrap(),
        device_id,
        unix_ts,
    );
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!(r#"{{"device_id":"{device_id}","amount":"{amount}","token":"{unix_ts}:{hex}"}}"#)
}

fn report(channel: &str, device_id: &str, fingerprint: u64, unix_ts: u64) -> String {
    format!(
        r#"{{"channel":"{channel}","device_id":"{device_id}","fingerprint":"{fingerprint:016x}","timestamp":{unix_ts}}}"#
    )
}

fn answer(status: u16, body: &str) -> Response {
    Response {
        status,
        body: body.to_owned(),
    }
}

#[test]
fn a_member_is_charged_once_and_the_replay_is_409() {
    let (mut server, mut api) = relay();
    let body = charge_body("7", "0.25", UNIX + 5);
    let path = "/api/wallet/charge";
    let first = api.handle(&mut server, clock(5), "POST", path, body.as_bytes());
    assert_eq!(
        first,
        answer(
            200,
            r#"{"ok":true,"balance":"0.250000","charged":"0.250000"}"#
        )
    );
    let again = api.handle(&mut server, clock(6), "POST", path, body.as_bytes());
    assert_eq!(
        again,
        answer(409, r#"{"ok":false,"error":"replay_detected"}"#)
    );
    let counters = server.counters().charge;
    assert_eq!((counters.charged, counters.replayed), (1, 1));
}

#[test]
fn charges_the_api_refuses() {
    let (mut server, mut api) = relay();
    let path = "/api/wallet/charge";
    let cases = [
        (b"{not json".to_vec(), 400, "invalid_format"),
        // Not a member, and `07` is not how member 7's account is spelled.
        (
            charge_body("9", "1", UNIX).into_bytes(),
            400,
            "not_in_group",
        ),
        (
            charge_body("07", "1", UNIX).into_bytes(),
            400,
            "not_in_group",
        ),
        (
            charge_body("7", "1", UNIX - 31).into_bytes(),
            401,
            "token_expired",
        ),
    ];
    for (body, status, error) in cases {
        let response = api.handle(&mut server, clock(0), "POST", path, &body);
        assert_eq!(
            response,
            answer(status, &format!(r#"{{"ok":false,"error":"{error}"}}"#)),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    assert_eq!(server.counters().charge.refused(), 4);
}

#[test]
fn unknown_paths_are_404_and_other_methods_405() {
    let (mut server, mut api) = relay();
    let cases = [
        ("GET", "/", 404),
        ("POST", "/api/wallet", 404),
        ("GET", "/api/groups/room", 404),
        ("GET", "/api/groups/nobody/members", 404),
        ("GET", "/api/wallet/charge", 405),
        ("DELETE", "/api/fingerprint", 405),
        ("POST", "/api/groups/room/members", 405),
    ];
    for (method, path, status) in cases {
        let response = api.handle(&mut server, clock(0), method, path, b"");
        assert_eq!(response.status, status, "{method} {path}: {response:?}");
    }
}

#[test]
fn a_body_over_the_cap_is_413() {
    let (mut server, mut api) = relay();
    let body = vec![b' '; MAX_BODY + 1];
    let response = api.handle(&mut server, clock(0), "POST", "/api/fingerprint", &body);
    assert_eq!(response.status, 413);
    assert_eq!(api.consensus().counters().accepted, 0);
}

#[test]
fn members_show_who_but_not_where() {
    let (mut server, mut api) = relay();
    let response = api.handle(
        &mut server,
        clock(0),
        "GET",
        "/api/groups/room/members",
        b"",
    );
    assert_eq!(
        response,
        answer(
            200,
            r#"{"group":"room","members":[{"device_id":7,"device_name":"payer","role":"dj"},{"device_id":8,"device_name":"other","role":"dj"}]}"#
        )
    );
    assert!(!response.body.contains("127.0.0.1") && !response.body.contains("4000"));
    // An escaped name is decoded: `r%6Fom` is `room`.
    let escaped = api.handle(
        &mut server,
        clock(0),
        "GET",
        "/api/groups/r%6Fom/members?x=1",
        b"",
    );
    assert_eq!(escaped, response);
}

#[test]
fn two_listeners_within_8_bits_give_a_verdict_at_the_next_evaluation() {
    let (mut server, mut api) = relay();
    let heard = 0x0123_4567_89ab_cdef_u64;
    // 8 bits flipped: still the same music.
    let close = heard ^ 0xff;
    for (device, fingerprint) in [("ear-1", heard), ("ear-2", close)] {
        let body = report("live", device, fingerprint, UNIX + 2);
        let response = api.handle(
            &mut server,
            clock(3),
            "POST",
            "/api/fingerprint",
            body.as_bytes(),
        );
        assert_eq!(response, answer(200, r#"{"ok":true}"#));
    }
    let view = "/api/fingerprint/live";
    assert_eq!(
        api.handle(&mut server, clock(5), "GET", view, b"").status,
        404
    );
    assert!(api.handle_timeout(clock(9).unix).is_empty(), "not due yet");
    let verdicts = api.handle_timeout(clock(10).unix);
    assert_eq!(verdicts.len(), 1);
    assert_eq!((verdicts[0].listeners, verdicts[0].reports), (2, 2));
    let response = api.handle(&mut server, clock(11), "GET", view, b"");
    assert_eq!(response.status, 200, "{response:?}");
    let seen: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(seen["listeners"], 2);
    assert_eq!(seen["reports"], 2);
    let centre = seen["fingerprint"].as_str().unwrap();
    assert!([format!("{heard:016x}"), format!("{close:016x}")].contains(&centre.to_owned()));
}

#[test]
fn reports_the_api_refuses() {
    let (mut server, mut api) = relay();
    let path = "/api/fingerprint";
    let bad = api.handle(&mut server, clock(0), "POST", path, b"[1,2]");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("JSON object"), "{bad:?}");
    let old = report("live", "ear", 1, UNIX - 61);
    let expired = api.handle(&mut server, clock(0), "POST", path, old.as_bytes());
    assert_eq!(expired, answer(400, r#"{"ok":false,"error":"expired"}"#));
    // 130 reports a rolling hour per device; the 131st is 429.
    for n in 0..130 {
        let body = report("live", "chatty", n, UNIX);
        let response = api.handle(&mut server, clock(0), "POST", path, body.as_bytes());
        assert_eq!(response.status, 200, "report {n}: {response:?}");
    }
    let body = report("live", "chatty", 130, UNIX);
    let limited = api.handle(&mut server, clock(0), "POST", path, body.as_bytes());
    assert_eq!(
        limited,
        answer(429, r#"{"ok":false,"error":"rate_limited"}"#)
    );
    let counters = api.consensus().counters();
    assert_eq!(
        (counters.accepted, counters.expired, counters.rate_limited),
        (130, 1, 1)
    );
}
