//! `CHARGE` through the server: members are credited under their JOIN's device id, every
//! refusal has its reply and its counter, strangers hear only `not_in_group`.

use std::time::Duration;

use proto::rendezvous::Amount;

use super::{Room, at};
use crate::Config;
use crate::charge::ChargeKey;

const TS: u64 = 1_741_996_800;
/// The worked example's MAC (key `example-secret`, device `dev-0001`, 0.01 at `TS`).
const EXAMPLE_MAC: &str = "c0cc0194943781c7a95c6c450be73ac02327cf9ac96c9f36b5815a8cd2fdfce1";
const MEMBER: u16 = 1001;
const STRANGER: u16 = 2002;

fn key() -> ChargeKey {
    ChargeKey::new(b"example-secret").unwrap()
}

/// A room with member 7 at port 1001, the wall clock at `TS` at 0 s, and the example key if
/// `with_key`.
fn room(with_key: bool) -> Room {
    let mut room = Room::new(Config::default());
    if with_key {
        room.server.set_charge_key(key());
    }
    room.server.set_wall_clock(at(0.0), Duration::from_secs(TS));
    room.join(0.0, MEMBER, 7);
    room
}

/// `CHARGE:<amount>:<ts>:<mac>` signed for device `device` with the example key.
fn signed(amount: &str, device: &str, ts: u64) -> String {
    let amount = Amount::parse(amount).unwrap();
    let mac = key().sign(amount, device, ts);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("CHARGE:{amount}:{ts}:{hex}")
}

/// What `from` hears back for `text` sent at `secs`.
fn answer(room: &mut Room, secs: f64, from: u16, text: &str) -> Vec<String> {
    let out = room.send(secs, from, text);
    assert!(out.iter().all(|(port, _)| *port == from), "{out:?}");
    out.into_iter().map(|(_, reply)| reply).collect()
}

#[test]
fn a_member_is_credited_under_its_join_device_id() {
    let mut room = room(true);
    assert_eq!(
        answer(&mut room, 1.0, MEMBER, &signed("0.01", "7", TS)),
        [r#"OK:charged:{"balance":"0.010000","amount":"0.010000"}"#]
    );
    assert_eq!(
        answer(&mut room, 2.0, MEMBER, &signed("1.5", "7", TS + 2)),
        [r#"OK:charged:{"balance":"1.510000","amount":"1.500000"}"#]
    );
    assert_eq!(
        answer(&mut room, 3.0, MEMBER, &signed("0.01", "7", TS)),
        ["ERR:replay_detected"]
    );
    // The worked example is signed for `dev-0001`, not for member 7.
    let example = format!("CHARGE:0.010000:{TS}:{EXAMPLE_MAC}");
    assert_eq!(
        answer(&mut room, 4.0, MEMBER, &example),
        ["ERR:invalid_token"]
    );
    let balance = room.server.cashier().wallet().balance("7");
    assert_eq!(balance, Some(Amount::from_micros(1_510_000)));
    let counters = room.server.counters().charge;
    assert_eq!(
        (counters.charged, counters.replayed, counters.invalid_token),
        (2, 1, 1)
    );
    assert_eq!(counters.credited_micros, 1_510_000);
    let stats = room.server.counters().to_string();
    assert!(
        stats.contains(" charged=2 charge_credited=1.510000 "),
        "{stats}"
    );
}

#[test]
fn every_refusal_has_its_reply_and_counter() {
    let mut room = room(true);
    let mac = "ab".repeat(32);
    let good = signed("0.01", "7", TS);
    let cases = [
        ("CHARGE".to_owned(), "invalid_format"),
        (
            format!("CHARGE:0.01:{TS}:{}", "zz".repeat(32)),
            "invalid_format",
        ),
        (format!("CHARGE:0.01:{TS}:{}", &mac[..62]), "invalid_format"),
        (format!("CHARGE:0.01:{TS}:{mac}:1"), "invalid_format"),
        (format!("CHARGE:0.0000001:{TS}:{mac}"), "invalid_amount"),
        (format!("CHARGE:-1:{TS}:{mac}"), "invalid_amount"),
        (format!("CHARGE:0:{TS}:{mac}"), "invalid_amount"),
        (format!("CHARGE:10000.01:{TS}:{mac}"), "invalid_amount"),
        ("CHARGE:0.01".to_owned(), "payment_failed"),
        (
            good.replace("CHARGE:0.010000", "CHARGE:0.020000"),
            "invalid_token",
        ),
        (signed("0.01", "7", TS - 31), "token_expired"),
        (signed("0.01", "7", TS + 31), "token_expired"),
    ];
    for (text, reason) in &cases {
        assert_eq!(
            answer(&mut room, 0.5, MEMBER, text),
            [format!("ERR:{reason}")],
            "{text}"
        );
    }
    let counters = room.server.counters().charge;
    assert_eq!(counters.invalid_format, 4);
    assert_eq!(counters.invalid_amount, 4);
    assert_eq!(counters.no_token, 1);
    assert_eq!(counters.invalid_token, 1);
    assert_eq!(counters.expired, 2);
    assert_eq!(counters.refused(), cases.len() as u64);
    assert_eq!(counters.charged, 0);
    assert!(room.server.cashier().wallet().is_empty());
    // None of it counted as a malformed or unsupported command.
    assert_eq!(room.server.counters().malformed, 0);
    assert_eq!(room.server.counters().unsupported, 0);
}

#[test]
fn without_a_key_charges_are_disabled() {
    let mut room = room(false);
    assert_eq!(
        answer(&mut room, 1.0, MEMBER, &signed("0.01", "7", TS)),
        ["ERR:charge_disabled"]
    );
    assert_eq!(room.server.counters().charge.disabled, 1);
}

#[test]
fn strangers_hear_only_not_in_group_and_never_more_bytes_than_they_sent() {
    let mut room = room(true);
    let good = signed("0.01", "7", TS);
    let reply = answer(&mut room, 1.0, STRANGER, &good);
    assert_eq!(reply, ["ERR:not_in_group"]);
    assert!(reply[0].len() < good.len());
    // Refusals found while parsing are counted, not answered.
    for text in ["CHARGE", "CHARGE:1e3", "CHARGE:0.01"] {
        assert_eq!(answer(&mut room, 1.0, STRANGER, text), Vec::<String>::new());
    }
    // A member that left is a stranger.
    room.send(2.0, MEMBER, "LEAVE");
    assert_eq!(
        answer(&mut room, 3.0, MEMBER, &signed("0.01", "7", TS + 3)),
        ["ERR:not_in_group"]
    );
    let counters = room.server.counters().charge;
    assert_eq!(counters.not_in_group, 2);
    assert_eq!(
        (
            counters.invalid_format,
            counters.invalid_amount,
            counters.no_token
        ),
        (1, 1, 1)
    );
    assert_eq!(counters.charged, 0);
}

#[test]
fn the_sweep_forgets_charge_macs_after_300_s() {
    let mut room = room(true);
    for i in 0..3u32 {
        let secs = f64::from(i);
        room.send(secs, MEMBER, &signed("0.01", "7", TS + u64::from(i)));
        room.send(secs, MEMBER, "HELLO");
    }
    assert_eq!(room.server.cashier().remembered(), 3);
    for secs in (10..=310).step_by(5) {
        room.send(f64::from(secs), MEMBER, "HELLO");
        room.sweep(f64::from(secs));
    }
    assert_eq!(room.server.cashier().remembered(), 0);
    assert_eq!(
        room.server.cashier().wallet().balance("7"),
        Some(Amount::from_micros(30_000))
    );
}
