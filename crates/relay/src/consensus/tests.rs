//! The consensus rules with numbers: distinct devices, the distance threshold, retention,
//! the rate limit, the caps; and the report body's parser.

use super::report::MAX_BODY;
use super::*;

/// 2027-01-15, a realistic Unix time.
const EPOCH_SECS: u64 = 1_800_000_000;
const MUSIC: u64 = 0x87cf_f7ff_2fdc_f9ec;

fn at(secs: f64) -> Duration {
    Duration::from_secs(EPOCH_SECS) + Duration::from_secs_f64(secs)
}

fn report(channel: &str, device: &str, fingerprint: u64, secs: f64) -> Report {
    Report {
        channel: channel.into(),
        device_id: device.into(),
        fingerprint,
        timestamp: at(secs),
        chromaprint: None,
    }
}

/// `MUSIC` with its lowest `bits` bits flipped: exactly `bits` away.
fn flipped(bits: u32) -> u64 {
    MUSIC ^ ((1u64 << bits) - 1)
}

fn evaluate(consensus: &mut Consensus, secs: f64) -> Vec<Verdict> {
    consensus.handle_timeout(at(secs));
    std::iter::from_fn(|| consensus.poll_verdict()).collect()
}

#[test]
fn one_device_reporting_twice_is_no_consensus_two_devices_are() {
    let mut consensus = Consensus::new(Config::default(), at(0.0));
    assert_eq!(consensus.poll_timeout(), at(10.0));
    for secs in [1.0, 2.0] {
        let r = report("room", "phone-a", MUSIC, secs);
        assert_eq!(consensus.handle_report(at(secs), &r), Ok(()));
    }
    // Two reports in the cluster, one listener: the deployed relay would call this consensus.
    assert!(evaluate(&mut consensus, 10.0).is_empty());
    assert_eq!(consensus.poll_timeout(), at(20.0));
    // Evaluation waits for its time.
    let r = report("room", "phone-b", flipped(3), 12.0);
    assert_eq!(consensus.handle_report(at(12.0), &r), Ok(()));
    assert!(evaluate(&mut consensus, 19.9).is_empty());
    assert_eq!(
        evaluate(&mut consensus, 20.0),
        [Verdict {
            channel: "room".into(),
            fingerprint: flipped(3),
            listeners: 2,
            reports: 3,
        }]
    );
    assert_eq!(consensus.counters().evaluations, 2);
    assert_eq!(consensus.counters().verdicts, 1);
}

#[test]
fn distance_8_clusters_and_9_does_not() {
    for (bits, listeners) in [(8, Some(2)), (9, None)] {
        let mut consensus = Consensus::new(Config::default(), at(0.0));
        for (device, fingerprint) in [("a", MUSIC), ("b", flipped(bits))] {
            let r = report("room", device, fingerprint, 1.0);
            assert_eq!(consensus.handle_report(at(1.0), &r), Ok(()));
        }
        let verdicts = evaluate(&mut consensus, 10.0);
        assert_eq!(
            verdicts.first().map(|v| v.listeners),
            listeners,
            "{bits} bits"
        );
    }
}

#[test]
fn the_cluster_with_most_distinct_listeners_wins_not_most_reports() {
    let mut consensus = Consensus::new(Config::default(), at(0.0));
    // One device repeats song X four times; three devices hear song Y once each.
    let song_y = !MUSIC;
    for secs in [1.0, 2.0, 3.0, 4.0] {
        let r = report("room", "chatty", MUSIC, secs);
        assert_eq!(consensus.handle_report(at(secs), &r), Ok(()));
    }
    for (device, bits) in [("a", 0), ("b", 2), ("c", 4)] {
        let r = report("room", device, song_y ^ ((1u64 << bits) - 1), 5.0);
        assert_eq!(consensus.handle_report(at(5.0), &r), Ok(()));
    }
    let verdicts = evaluate(&mut consensus, 10.0);
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0].listeners, 3);
    assert_eq!(verdicts[0].reports, 3);
    assert!((verdicts[0].fingerprint ^ song_y).count_ones() <= 4);
}

#[test]
fn channels_are_judged_apart() {
    let mut consensus = Consensus::new(Config::default(), at(0.0));
    for (channel, device) in [("one", "a"), ("two", "b"), ("two", "c")] {
        let r = report(channel, device, MUSIC, 1.0);
        assert_eq!(consensus.handle_report(at(1.0), &r), Ok(()));
    }
    let verdicts = evaluate(&mut consensus, 10.0);
    assert_eq!(verdicts.len(), 1);
    assert_eq!(&*verdicts[0].channel, "two");
}

#[test]
fn reports_older_than_60_s_are_pruned_by_their_own_timestamp() {
    let mut consensus = Consensus::new(Config::default(), at(0.0));
    // Timestamped at 0 s, delivered at 5 s; the other at 45 s.
    let early = report("room", "a", MUSIC, 0.0);
    assert_eq!(consensus.handle_report(at(5.0), &early), Ok(()));
    let late = report("room", "b", MUSIC, 45.0);
    assert_eq!(consensus.handle_report(at(45.0), &late), Ok(()));
    // At 60 s the early report is exactly 60 s old: kept, consensus.
    assert_eq!(evaluate(&mut consensus, 60.0).len(), 1);
    // At 70 s it is 70 s old: pruned, one listener left.
    assert!(evaluate(&mut consensus, 70.0).is_empty());
    assert_eq!(consensus.counters().pruned, 1);
    assert_eq!(consensus.report_count(), 1);
    // At 110 s the late one goes too, and the channel with it.
    assert!(evaluate(&mut consensus, 110.0).is_empty());
    assert_eq!(consensus.channel_count(), 0);

    // A report already 61 s old on arrival is refused; one 31 s in the future too.
    let stale = report("room", "c", MUSIC, 49.0);
    assert_eq!(
        consensus.handle_report(at(110.0), &stale),
        Err(Refusal::Expired)
    );
    let ahead = report("room", "c", MUSIC, 141.0);
    assert_eq!(
        consensus.handle_report(at(110.0), &ahead),
        Err(Refusal::FromTheFuture)
    );
    let (expired, ahead) = (
        consensus.counters().expired,
        consensus.counters().from_the_future,
    );
    assert_eq!((expired, ahead), (1, 1));
}

#[test]
fn a_listener_on_the_30_s_period_is_never_refused_and_a_faster_one_is_at_the_131st() {
    let mut consensus = Consensus::new(Config::default(), at(0.0));
    // Two hours of one report every 30 s (120 an hour): every one is taken.
    for n in 0..240 {
        let secs = 30.0 * f64::from(n);
        let r = report("room", "a", MUSIC, secs);
        assert_eq!(consensus.handle_report(at(secs), &r), Ok(()), "report {n}");
        consensus.handle_timeout(at(secs));
    }
    assert_eq!(consensus.counters().rate_limited, 0);
    assert_eq!(consensus.counters().accepted, 240);
    // A device reporting every 10 s: 130 fit in its hour, the 131st (1,300 s in) does not.
    let start = 7_200.0;
    for n in 0..130 {
        let secs = start + 10.0 * f64::from(n);
        let r = report("room", "b", MUSIC, secs);
        assert_eq!(consensus.handle_report(at(secs), &r), Ok(()), "report {n}");
        consensus.handle_timeout(at(secs));
    }
    let r = report("room", "b", MUSIC, start + 1_300.0);
    assert_eq!(
        consensus.handle_report(at(start + 1_300.0), &r),
        Err(Refusal::RateLimited)
    );
    assert_eq!(consensus.counters().rate_limited, 1);
    // Another device is not affected.
    let other = report("room", "c", MUSIC, start + 1_300.0);
    assert_eq!(consensus.handle_report(at(start + 1_300.0), &other), Ok(()));
    // Once b's first report is an hour old, one more fits; the next does not.
    let r = report("room", "b", MUSIC, start + 3_600.0);
    assert_eq!(consensus.handle_report(at(start + 3_600.0), &r), Ok(()));
    assert_eq!(
        consensus.handle_report(at(start + 3_600.0), &r),
        Err(Refusal::RateLimited)
    );
    assert_eq!(consensus.counters().rate_limited, 2);
}

#[test]
fn memory_is_capped_and_every_refusal_counted() {
    let config = Config {
        max_channels: 2,
        max_reports_per_channel: 3,
        max_devices: 5,
        ..Config::default()
    };
    let mut consensus = Consensus::new(config, at(0.0));
    let outcomes: Vec<_> = [
        ("one", "a"),
        ("one", "b"),
        ("one", "c"),
        ("one", "d"), // the channel holds 3
        ("two", "d"),
        ("three", "e"), // 2 channels
        ("two", "e"),
        ("two", "f"), // 5 devices tracked
    ]
    .into_iter()
    .map(|(channel, device)| consensus.handle_report(at(1.0), &report(channel, device, MUSIC, 1.0)))
    .collect();
    assert_eq!(
        outcomes,
        [
            Ok(()),
            Ok(()),
            Ok(()),
            Err(Refusal::ChannelFull),
            Ok(()),
            Err(Refusal::TooManyChannels),
            Ok(()),
            Err(Refusal::TooManyDevices),
        ]
    );
    let counters = *consensus.counters();
    assert_eq!(counters.accepted, 5);
    assert_eq!(
        (
            counters.channel_full,
            counters.too_many_channels,
            counters.too_many_devices
        ),
        (1, 1, 1)
    );
    assert_eq!(consensus.report_count(), 5);
    // After the retention and the rate window, everything is forgotten and room is free.
    consensus.handle_timeout(at(3_601.0));
    assert_eq!(
        (consensus.report_count(), consensus.channel_count()),
        (0, 0)
    );
    assert!(consensus.accepted_at.is_empty());
}

#[test]
fn a_full_channel_of_distinct_devices_evaluates() {
    let config = Config::default();
    let mut consensus = Consensus::new(config, at(0.0));
    for n in 0..config.max_reports_per_channel {
        let r = report("room", &format!("device-{n}"), MUSIC ^ (n as u64 % 7), 1.0);
        assert_eq!(consensus.handle_report(at(1.0), &r), Ok(()));
    }
    let verdicts = evaluate(&mut consensus, 10.0);
    assert_eq!(verdicts[0].listeners, config.max_reports_per_channel);
}

const GOOD: &str = r#"{"channel": "room", "device_id": "ios-1", "fingerprint": "87cff7ff2fdcf9ec",
    "timestamp": 1800000000.5, "duration": 5, "sample_rate": 48000, "window_sec": 5.0}"#;

#[test]
fn a_report_body_parses_into_its_fields() {
    let parsed = Report::parse(GOOD.as_bytes()).expect("a good body");
    assert_eq!(&*parsed.channel, "room");
    assert_eq!(&*parsed.device_id, "ios-1");
    assert_eq!(parsed.fingerprint, MUSIC);
    assert_eq!(parsed.timestamp, Duration::from_millis(1_800_000_000_500));
    assert_eq!(parsed.chromaprint, None);

    // `hash` instead of `fingerprint`, upper case, integer timestamp, the optional fields
    // left out, an unknown field and a chromaprint.
    let chroma = "A".repeat(510) + "==";
    let body = format!(
        r#"{{"channel":"room","device_id":"d","hash":"87CFF7FF2FDCF9EC","timestamp":7,
        "extra":[1,2],"chromaprint":"{chroma}"}}"#
    );
    let parsed = Report::parse(body.as_bytes()).expect("a good body");
    assert_eq!(parsed.fingerprint, MUSIC);
    assert_eq!(parsed.timestamp, Duration::from_secs(7));
    assert_eq!(parsed.chromaprint.as_deref(), Some(chroma.as_str()));
}

#[test]
fn bad_bodies_are_refused_with_the_reason() {
    let with = |from: &str, to: &str| GOOD.replace(from, to);
    let cases: Vec<(String, &str)> = vec![
        ("{".into(), "not a fingerprint report: EOF"),
        ("[]".into(), "a fingerprint report is a JSON object"),
        (
            r#"["room", "d", "87cff7ff2fdcf9ec", null, 7]"#.into(),
            "a JSON object",
        ),
        (format!("{GOOD} x"), "trailing characters"),
        (
            with(r#""channel": "room", "#, ""),
            "missing field `channel`",
        ),
        (
            with(r#""fingerprint""#, r#""print""#),
            "missing field `fingerprint` (or `hash`)",
        ),
        (with("f9ec", "f9e"), "`fingerprint` must be 16 hex digits"),
        (with("f9ec", "f9eg"), "`fingerprint` must be 16 hex digits"),
        (
            with(r#""87cff7ff2fdcf9ec""#, "1234"),
            "invalid type: integer",
        ),
        (
            with(r#""duration""#, r#""hash": "0000000000000000", "duration""#),
            "`fingerprint` and `hash` differ",
        ),
        (
            with(r#""room""#, r#""""#),
            "`channel` must be 1 to 64 bytes",
        ),
        (
            with(r#""room""#, r#""ro\nom""#),
            "`channel` must be 1 to 64 bytes",
        ),
        (
            with("ios-1", &"d".repeat(129)),
            "`device_id` must be 1 to 128 bytes",
        ),
        (
            with("1800000000.5", "-1"),
            "`timestamp` must be Unix seconds",
        ),
        (
            with("1800000000.5", "1e300"),
            "`timestamp` must be Unix seconds",
        ),
        (
            with(r#""duration": 5"#, r#""duration": 30"#),
            "`duration` differs",
        ),
        (with("48000", "44100"), "`sample_rate` differs"),
        (with("5.0}", "1.0}"), "`window_sec` differs"),
        (
            with("5.0}", r#"5.0, "chromaprint": "AAAA"}"#),
            "`chromaprint` must be 512",
        ),
        (" ".repeat(MAX_BODY + 1), "body of 4097 bytes exceeds 4096"),
    ];
    for (body, reason) in cases {
        let error = Report::parse(body.as_bytes()).expect_err(&body);
        let text = error.to_string();
        assert!(text.contains(reason), "{body}: {text}");
        // The fuzz entry takes the same bytes without panicking.
        assert_eq!(fuzz_report_body(body.as_bytes()), None);
    }
}

#[test]
fn the_fuzz_entry_runs_a_good_body_through_the_consensus() {
    // One device twice: accepted twice, no verdict.
    assert_eq!(fuzz_report_body(GOOD.as_bytes()), None);
    for body in [&b"\xff\xfe"[..], b"", b"null", b"{\"channel\":1e999}"] {
        assert_eq!(fuzz_report_body(body), None);
    }
}
