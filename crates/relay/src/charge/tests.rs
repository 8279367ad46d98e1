//! The cashier on virtual time: the worked example, tampering, the window, replays, the check
//! order, the bounds, exact balances, and the HTTP body.

use proto::rendezvous::{ChargeMac, ChargeToken};

use super::http::{HttpResponse, MAX_BODY, parse_body};
use super::*;

/// The worked example: key, signed text and MAC.
const KEY: &[u8] = b"example-secret";
const DEVICE: &str = "dev-0001";
const TS: u64 = 1_741_996_800;
const MAC: &str = "c0cc0194943781c7a95c6c450be73ac02327cf9ac96c9f36b5815a8cd2fdfce1";

fn at(secs: u64) -> Instant {
    Instant::from_micros(secs * 1_000_000)
}

fn key() -> ChargeKey {
    ChargeKey::new(KEY).unwrap()
}

fn cents(n: u64) -> Amount {
    Amount::from_micros(n * 10_000)
}

/// A cashier with the example key whose wall clock reads `unix` at `at(0)`.
fn cashier(unix: u64) -> Cashier {
    let mut cashier = Cashier::new(ChargeLimits::default());
    cashier.set_key(key());
    cashier.set_wall_clock(at(0), Duration::from_secs(unix));
    cashier
}

fn request(amount: Amount, unix_ts: u64, mac: [u8; 32]) -> ChargeRequest {
    ChargeRequest {
        amount,
        token: ChargeToken {
            unix_ts,
            mac: ChargeMac(mac),
        },
    }
}

/// A charge signed with the example key.
fn signed(amount: Amount, device_id: &str, unix_ts: u64) -> ChargeRequest {
    request(amount, unix_ts, key().sign(amount, device_id, unix_ts))
}

#[test]
fn the_worked_example_verifies() {
    let mac = ChargeMac::parse(MAC).unwrap();
    assert_eq!(key().sign(cents(1), DEVICE, TS), mac.0);
    let wire = format!("0.010000:{TS}:{MAC}");
    let parsed = ChargeRequest::parse(Some(&wire)).unwrap();
    assert_eq!(parsed, request(cents(1), TS, mac.0));
    assert_eq!(
        cashier(TS).charge(at(0), Some(DEVICE), &parsed),
        Ok(Receipt {
            amount: cents(1),
            balance: cents(1),
        })
    );
}

#[test]
fn tampered_amount_device_or_time_is_an_invalid_token() {
    let mac = ChargeMac::parse(MAC).unwrap().0;
    let mut cashier = cashier(TS);
    let cases = [
        ("amount", request(cents(2), TS, mac), DEVICE),
        ("device", request(cents(1), TS, mac), "dev-0002"),
        ("time", request(cents(1), TS + 1, mac), DEVICE),
        (
            "one bit of the MAC",
            request(cents(1), TS, flip(mac)),
            DEVICE,
        ),
    ];
    for (what, request, device) in cases {
        assert_eq!(
            cashier.charge(at(0), Some(device), &request),
            Err(ChargeError::InvalidToken),
            "{what}"
        );
    }
    assert!(cashier.wallet().is_empty());
    assert_eq!(cashier.remembered(), 0, "refused MACs are not remembered");
}

fn flip(mut mac: [u8; 32]) -> [u8; 32] {
    mac[31] ^= 1;
    mac
}

#[test]
fn the_window_is_30_s_either_way() {
    for offset in [-31i64, 31] {
        let mut cashier = cashier(TS.saturating_add_signed(offset));
        let charge = signed(cents(1), DEVICE, TS);
        assert_eq!(
            cashier.charge(at(0), Some(DEVICE), &charge),
            Err(ChargeError::Expired),
            "{offset} s"
        );
    }
    for offset in [-30i64, 30] {
        let mut cashier = cashier(TS.saturating_add_signed(offset));
        let charge = signed(cents(1), DEVICE, TS);
        assert!(
            cashier.charge(at(0), Some(DEVICE), &charge).is_ok(),
            "{offset} s"
        );
    }
    // The window follows the monotonic clock from the anchor: 31 s later the same token is
    // out of it.
    let mut cashier = cashier(TS);
    let late = signed(cents(3), DEVICE, TS);
    assert_eq!(
        cashier.charge(at(31), Some(DEVICE), &late),
        Err(ChargeError::Expired)
    );
}

#[test]
fn a_replay_is_detected_for_300_s() {
    let mut cashier = cashier(TS);
    let charge = signed(cents(1), DEVICE, TS);
    assert!(cashier.charge(at(0), Some(DEVICE), &charge).is_ok());
    assert_eq!(
        cashier.charge(at(0), Some(DEVICE), &charge),
        Err(ChargeError::Replayed)
    );
    // The same charge spelled differently on the wire has the same MAC.
    let respelled = ChargeRequest::parse(Some(&format!("0.01:{TS}:{MAC}"))).unwrap();
    assert_eq!(
        cashier.charge(at(0), Some(DEVICE), &respelled),
        Err(ChargeError::Replayed)
    );
    // A wall clock stepped back keeps the token in its window: the cache still refuses it
    // at 299 s and has forgotten it at 300 s.
    cashier.set_wall_clock(at(299), Duration::from_secs(TS));
    assert_eq!(
        cashier.charge(at(299), Some(DEVICE), &charge),
        Err(ChargeError::Replayed)
    );
    cashier.set_wall_clock(at(300), Duration::from_secs(TS));
    assert!(cashier.charge(at(300), Some(DEVICE), &charge).is_ok());
    assert_eq!(cashier.wallet().balance(DEVICE), Some(cents(2)));
}

#[test]
fn without_a_key_or_a_wall_clock_charges_are_disabled() {
    let charge = signed(cents(1), DEVICE, TS);
    let mut no_key = Cashier::new(ChargeLimits::default());
    no_key.set_wall_clock(at(0), Duration::from_secs(TS));
    assert_eq!(
        no_key.charge(at(0), Some(DEVICE), &charge),
        Err(ChargeError::Disabled)
    );
    let mut no_clock = Cashier::new(ChargeLimits::default());
    no_clock.set_key(key());
    assert_eq!(
        no_clock.charge(at(0), Some(DEVICE), &charge),
        Err(ChargeError::Disabled)
    );
    assert!(
        ChargeKey::new(b"").is_none(),
        "there is no empty (default) key"
    );
}

#[test]
fn checks_run_in_the_documented_order() {
    let good = signed(cents(1), DEVICE, TS);
    let forged_expired = request(cents(1), TS - 31, [0; 32]);
    // Membership before key.
    let mut no_key = Cashier::new(ChargeLimits::default());
    assert_eq!(
        no_key.charge(at(0), None, &good),
        Err(ChargeError::NotInGroup)
    );
    // Key before window.
    assert_eq!(
        no_key.charge(at(0), Some(DEVICE), &forged_expired),
        Err(ChargeError::Disabled)
    );
    // Window before MAC.
    let mut cashier = cashier(TS);
    assert_eq!(
        cashier.charge(at(0), Some(DEVICE), &forged_expired),
        Err(ChargeError::Expired)
    );
    // MAC before replay: a forged MAC equal to nothing accepted is invalid, and an accepted
    // MAC presented for another device is invalid rather than a replay.
    assert!(cashier.charge(at(0), Some(DEVICE), &good).is_ok());
    assert_eq!(
        cashier.charge(at(0), Some("dev-0002"), &good),
        Err(ChargeError::InvalidToken)
    );
}

#[test]
fn the_balance_after_1000_charges_of_a_tenth_is_exact() {
    // 1,000 charges, one a second, each signed at its own second: 0.1 a thousand times is
    // 100.000000 exactly (summed as f64 it is 99.9999999999986).
    let mut cashier = cashier(TS);
    let tenth = Amount::parse("0.1").unwrap();
    let mut last = None;
    for i in 0..1_000 {
        let charge = signed(tenth, DEVICE, TS + i);
        last = Some(cashier.charge(at(i), Some(DEVICE), &charge).unwrap());
    }
    let last = last.unwrap();
    assert_eq!(last.balance.micros(), 100_000_000);
    assert_eq!(last.balance.to_string(), "100.000000");
    // The cache holds only the last 300 s.
    assert_eq!(cashier.remembered(), 300);
}

#[test]
fn a_full_replay_cache_or_wallet_refuses_without_burning_the_token() {
    let limits = ChargeLimits {
        max_accounts: 1,
        max_remembered: 2,
    };
    let mut cashier = Cashier::new(limits);
    cashier.set_key(key());
    cashier.set_wall_clock(at(0), Duration::from_secs(TS));
    for i in 0..2 {
        let charge = signed(cents(1), DEVICE, TS + i);
        assert!(cashier.charge(at(0), Some(DEVICE), &charge).is_ok());
    }
    let third = signed(cents(1), DEVICE, TS + 2);
    assert_eq!(
        cashier.charge(at(0), Some(DEVICE), &third),
        Err(ChargeError::ReplayCacheFull)
    );
    let other = signed(cents(1), "dev-0002", TS);
    cashier.expire(at(300));
    cashier.set_wall_clock(at(300), Duration::from_secs(TS));
    assert_eq!(
        cashier.charge(at(300), Some("dev-0002"), &other),
        Err(ChargeError::WalletFull)
    );
    assert_eq!(cashier.remembered(), 0, "the refused MAC is not remembered");
    // The token refused for a full cache is accepted once there is room.
    assert_eq!(
        cashier
            .charge(at(300), Some(DEVICE), &third)
            .map(|r| r.balance),
        Ok(cents(3))
    );
}

#[test]
fn a_key_file_loses_one_line_ending_and_may_not_be_empty() {
    let mac = |key: ChargeKey| key.sign(cents(1), DEVICE, TS);
    let expected = ChargeMac::parse(MAC).unwrap().0;
    for contents in [
        &b"example-secret"[..],
        b"example-secret\n",
        b"example-secret\r\n",
    ] {
        let key = ChargeKey::from_file_contents(contents).unwrap();
        assert_eq!(mac(key), expected, "{contents:?}");
    }
    let padded = ChargeKey::from_file_contents(b"example-secret \n").unwrap();
    assert_ne!(mac(padded), expected, "other whitespace is part of the key");
    for empty in [&b""[..], b"\n", b"\r\n"] {
        assert!(ChargeKey::from_file_contents(empty).is_none(), "{empty:?}");
    }
    assert_eq!(format!("{:?}", key()), "ChargeKey(..)");
}

#[test]
fn wire_refusals_and_http_statuses() {
    use ChargeError::*;
    let cases = [
        (InvalidFormat, "invalid_format", 400),
        (InvalidAmount, "invalid_amount", 400),
        (NoToken, "payment_failed", 400),
        (NotInGroup, "not_in_group", 400),
        (Disabled, "charge_disabled", 503),
        (InvalidToken, "invalid_token", 401),
        (Expired, "token_expired", 401),
        (Replayed, "replay_detected", 409),
        (WalletFull, "payment_failed", 503),
        (BalanceLimit, "payment_failed", 503),
        (ReplayCacheFull, "payment_failed", 503),
    ];
    let mut counters = ChargeCounters::default();
    for (error, wire, status) in cases {
        assert_eq!(error.refusal().as_str(), wire, "{error:?}");
        assert_eq!(error.http_status(), status, "{error:?}");
        counters.record(&Err(error));
    }
    assert_eq!(counters.refused(), cases.len() as u64);
    assert_eq!(counters.charged, 0);
}

fn body(device_id: &str, amount: &str, token: &str) -> String {
    format!(r#"{{"device_id":"{device_id}","amount":{amount},"token":"{token}"}}"#)
}

#[test]
fn the_http_body_is_parsed_without_floats() {
    let token = format!("{TS}:{MAC}");
    let expected = request(cents(1), TS, ChargeMac::parse(MAC).unwrap().0);
    for amount in ["0.01", "\"0.01\"", "0.010000", "\"0.010000\""] {
        let charge = parse_body(body(DEVICE, amount, &token).as_bytes()).unwrap();
        assert_eq!(charge.device_id, DEVICE);
        assert_eq!(charge.request, expected, "{amount}");
    }
    let escaped = br#"{"token":"1741996800:c0cc0194943781c7a95c6c450be73ac02327cf9ac96c9f36b5815a8cd2fdfce1","amount":"0.01","device_id":"dev\u002d0001","extra":[1]}"#;
    assert_eq!(parse_body(escaped).unwrap().device_id, DEVICE);
    use ChargeError::*;
    let long_id = "d".repeat(65);
    let cases = [
        ("not json".to_owned(), InvalidFormat),
        (r#"{"device_id":"d","amount":1}"#.to_owned(), InvalidFormat),
        (r#"["d",1,"t"]"#.to_owned(), InvalidFormat),
        (body(DEVICE, "0.01", &token) + "x", InvalidFormat),
        (
            format!(r#"{{"device_id":"a","device_id":"b","amount":1,"token":"{token}"}}"#),
            InvalidFormat,
        ),
        (body("dev:1", "0.01", &token), InvalidFormat),
        (body("", "0.01", &token), InvalidFormat),
        (body(&long_id, "0.01", &token), InvalidFormat),
        (body(DEVICE, "0.01", "nonsense"), InvalidFormat),
        (
            body(DEVICE, "0.01", &format!("{TS}:{}", &MAC[..63])),
            InvalidFormat,
        ),
        (body(DEVICE, "true", &token), InvalidAmount),
        (body(DEVICE, "1e-2", &token), InvalidAmount),
        (body(DEVICE, "0.0000001", &token), InvalidAmount),
        (body(DEVICE, "-1", &token), InvalidAmount),
        (body(DEVICE, "0", &token), InvalidAmount),
        (body(DEVICE, "10000.000001", &token), InvalidAmount),
        (body(DEVICE, "0.01", ""), NoToken),
    ];
    for (text, error) in cases {
        assert_eq!(parse_body(text.as_bytes()), Err(error), "{text}");
    }
    let huge = format!("{}{}", body(DEVICE, "0.01", &token), " ".repeat(MAX_BODY));
    assert_eq!(parse_body(huge.as_bytes()), Err(InvalidFormat));
}

#[test]
fn an_http_charge_answers_with_status_and_json() {
    let mut cashier = cashier(TS);
    let token = format!("{TS}:{MAC}");
    let text = body(DEVICE, "0.01", &token);
    let stranger = cashier.charge_http(at(0), text.as_bytes(), |_| false);
    assert_eq!(
        HttpResponse::new(&stranger),
        HttpResponse {
            status: 400,
            body: r#"{"ok":false,"error":"not_in_group"}"#.to_owned(),
        }
    );
    let member = |id: &str| id == DEVICE;
    let ok = cashier.charge_http(at(0), text.as_bytes(), member);
    assert_eq!(
        HttpResponse::new(&ok),
        HttpResponse {
            status: 200,
            body: r#"{"ok":true,"balance":"0.010000","charged":"0.010000"}"#.to_owned(),
        }
    );
    let again = cashier.charge_http(at(0), text.as_bytes(), member);
    assert_eq!(HttpResponse::new(&again).status, 409);
}
