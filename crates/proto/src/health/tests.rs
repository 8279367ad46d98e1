//! RFC 3550 statistics against hand-computed sequences, and the policies on exact inputs.

use super::*;

fn ms(ms: u64) -> Instant {
    Instant::from_micros(ms * 1_000)
}

/// 20 ms packets (960 ticks), sent at `i × 20 ms` and arriving `delay(i)` µs later.
fn feed(m: &mut Monitor, n: u64, delay: impl Fn(u64) -> u64) {
    for i in 0..n {
        let arrival = Instant::from_micros(i * 20_000 + delay(i));
        m.record_arrival(arrival, MediaTime(i * 960), SeqNo(i));
    }
}

#[test]
fn constant_transit_has_zero_jitter() {
    let mut m = Monitor::new();
    feed(&mut m, 500, |_| 37_000);
    assert_eq!(m.jitter_ticks(), 0.0);
    assert_eq!(m.jitter(), Duration::ZERO);
}

#[test]
fn alternating_one_ms_converges_to_the_rfc_3550_value() {
    // Arrivals alternate 1 ms late and 1 ms early: |D| = 2 ms = 96 ticks every packet, so
    // J_n = 96 × (1 − (15/16)^n) after n differences.
    let mut m = Monitor::new();
    feed(&mut m, 2, |i| if i % 2 == 0 { 11_000 } else { 9_000 });
    assert!(
        (m.jitter_ticks() - 6.0).abs() < 1e-9,
        "{}",
        m.jitter_ticks()
    );
    let mut m = Monitor::new();
    feed(&mut m, 3, |i| if i % 2 == 0 { 11_000 } else { 9_000 });
    // 6 + (96 − 6) / 16 = 11.625
    assert!(
        (m.jitter_ticks() - 11.625).abs() < 1e-9,
        "{}",
        m.jitter_ticks()
    );
    let mut m = Monitor::new();
    feed(&mut m, 200, |i| if i % 2 == 0 { 11_000 } else { 9_000 });
    let exact = 96.0 * (1.0 - (15.0f64 / 16.0).powi(199));
    assert!((m.jitter_ticks() - exact).abs() < 1e-6);
    // Converged to 2 ms within 1 %.
    assert!(
        (m.jitter_ticks() - 96.0).abs() < 0.96,
        "{}",
        m.jitter_ticks()
    );
    let j = m.jitter().as_secs_f64();
    assert!((j - 0.002).abs() < 0.000_02, "{j}");
}

#[test]
fn loss_counts_ignore_duplicates_and_survive_reordering() {
    let mut m = Monitor::new();
    let t = ms(0);
    // 0..=9 with 3 and 4 lost, 7 duplicated, 8 before 6.
    for s in [0, 1, 2, 5, 8, 6, 7, 7, 9] {
        m.record_arrival(t, MediaTime(s * 960), SeqNo(s));
    }
    assert_eq!((m.expected(), m.received(), m.lost()), (10, 8, 2));
    m.end_interval();
    let h = m.snapshot();
    assert_eq!(h.duplicates, 1);
    assert!((h.loss_interval - 0.2).abs() < 1e-12);
    assert!((h.loss_cumulative - 0.2).abs() < 1e-12);
    // Next interval: 10..=19 all, plus 3 arriving very late: more received than expected in
    // the interval, so its fraction is 0 (RFC 3550 A.3 clamps), and the cumulative loss drops.
    for s in (10..20).chain([3]) {
        m.record_arrival(t, MediaTime(s * 960), SeqNo(s));
    }
    m.end_interval();
    let h = m.snapshot();
    assert_eq!((h.expected, h.received, h.lost), (20, 19, 1));
    assert_eq!(h.loss_interval, 0.0);
    assert!((h.loss_cumulative - 0.05).abs() < 1e-12);
    // Seq 0 again: a duplicate.
    m.record_arrival(t, MediaTime(0), SeqNo(0));
    assert_eq!(m.snapshot().duplicates, 2);

    // A packet from before the first one extends the base.
    let mut m = Monitor::new();
    m.record_arrival(t, MediaTime(960 * 5), SeqNo(5));
    m.record_arrival(t, MediaTime(960 * 4), SeqNo(4));
    assert_eq!((m.expected(), m.received(), m.lost()), (2, 2, 0));
    // A jump forward, then a late packet inside the range (counted, RFC style) and one before
    // the base and older than the 1,024-packet window (stale: not counted, base unchanged).
    m.record_arrival(t, MediaTime(0), SeqNo(2_005));
    m.record_arrival(t, MediaTime(0), SeqNo(100));
    m.record_arrival(t, MediaTime(0), SeqNo(0));
    assert_eq!((m.expected(), m.received(), m.lost()), (2_002, 4, 1_998));
}

#[test]
fn counters_rtt_and_quality() {
    let mut m = Monitor::new();
    assert_eq!(m.quality(), None);
    m.record_late();
    m.record_recovered();
    m.record_recovered();
    m.record_concealed();
    // EMA: first sample direct, then 0.8·old + 0.2·new: 10 → 0.8·10 + 0.2·60 = 20 ms.
    m.record_rtt(ms(0), Duration::from_millis(10));
    m.record_rtt(ms(1_000), Duration::from_millis(60));
    let h = m.snapshot();
    assert_eq!((h.late, h.recovered, h.concealed), (1, 2, 1));
    assert_eq!(h.rtt, Some(Duration::from_millis(20)));
    assert_eq!(h.rtt_last, Some(Duration::from_millis(60)));
    assert_eq!(h.rtt_min, Some(Duration::from_millis(10)));
    // 20 ms is not < 20: Good. Score 100 − 20 = 80.
    assert_eq!(h.quality(), Some(Quality::Good));
    assert_eq!(h.score(), Some(80));
    let rated = |rtt_ms: u64, loss: f64| {
        Health {
            rtt: Some(Duration::from_millis(rtt_ms)),
            loss_interval: loss,
            ..Health::default()
        }
        .quality()
    };
    assert_eq!(rated(19, 0.0), Some(Quality::Excellent));
    assert_eq!(rated(49, 0.0), Some(Quality::Good));
    assert_eq!(rated(99, 0.0), Some(Quality::Fair));
    assert_eq!(rated(100, 0.0), Some(Quality::Poor));
    assert_eq!(rated(5, 0.10), Some(Quality::Excellent));
    assert_eq!(rated(5, 0.11), Some(Quality::Poor));
    // The minimum forgets samples older than 60 s (two 30 s buckets).
    m.record_rtt(ms(30_000), Duration::from_millis(30));
    assert_eq!(m.snapshot().rtt_min, Some(Duration::from_millis(10)));
    m.record_rtt(ms(60_000), Duration::from_millis(40));
    assert_eq!(m.snapshot().rtt_min, Some(Duration::from_millis(30)));
    m.record_rtt(ms(150_000), Duration::from_millis(50));
    assert_eq!(m.snapshot().rtt_min, Some(Duration::from_millis(50)));
}

fn health(loss: f64, rtt_ms: u64, min_ms: u64) -> Health {
    Health {
        rtt: Some(Duration::from_millis(rtt_ms)),
        rtt_min: Some(Duration::from_millis(min_ms)),
        loss_interval: loss,
        ..Health::default()
    }
}

#[test]
fn bitrate_drops_by_the_factor_on_loss_and_recovers_in_the_documented_time() {
    let mut p = BitratePolicy::new(BitrateConfig::default());
    assert_eq!(p.bitrate(), 128_000);
    // 5 % loss: × 0.75.
    assert_eq!(
        p.update(ms(0), &health(0.05, 30, 30)),
        Some(Decision {
            bitrate: 96_000,
            reason: Reason::Loss
        })
    );
    // Still lossy half a second later: at most one change per second.
    assert_eq!(p.update(ms(500), &health(0.05, 30, 30)), None);
    // Clean from 1 s: first increase at 6 s (5 s hold), then 16 kb/s per second:
    // ⌈(510 − 96) / 16⌉ = 26 steps, the last at 6 + 25 = 31 s.
    let mut reached = None;
    for s in 1..=60 {
        if let Some(d) = p.update(ms(s * 1_000), &health(0.0, 30, 30)) {
            assert_eq!(d.reason, Reason::Clean);
            if s == 6 {
                assert_eq!(d.bitrate, 112_000);
            }
            if d.bitrate == 510_000 {
                reached = Some(s);
            }
        }
        assert!(s >= 6 || p.bitrate() == 96_000);
    }
    assert_eq!(reached, Some(31));
    assert_eq!(p.bitrate(), 510_000);
}

#[test]
fn bitrate_backs_off_on_rtt_inflation_and_holds_between_thresholds() {
    let mut p = BitratePolicy::new(BitrateConfig::default());
    // 30 ms above the minimum (threshold 25 ms): a queue.
    let d = p.update(ms(0), &health(0.0, 50, 20)).unwrap();
    assert_eq!(
        d,
        Decision {
            bitrate: 96_000,
            reason: Reason::RttInflation
        }
    );
    // 24 ms above and 1.5 % loss: neither congested nor clean: no change, ever.
    for s in 1..=30 {
        assert_eq!(p.update(ms(s * 1_000), &health(0.015, 44, 20)), None);
    }
    // Repeated loss walks down to the floor and stays there.
    for s in 31..=60 {
        p.update(ms(s * 1_000), &health(0.2, 30, 30));
    }
    assert_eq!(p.bitrate(), OPUS_MIN_BITRATE);
    // Limits are clamped to Opus's range.
    let p = BitratePolicy::new(BitrateConfig {
        min: 1_000,
        max: 1_000_000,
        start: 0,
        ..BitrateConfig::default()
    });
    assert_eq!(
        (p.config().min, p.config().max, p.bitrate()),
        (16_000, 510_000, 16_000)
    );
}

#[test]
fn fec_table_boundaries() {
    assert_eq!(fec_group_for_loss(0.0), None);
    assert_eq!(fec_group_for_loss(-0.1), None);
    assert_eq!(fec_group_for_loss(f64::NAN), None);
    assert_eq!(fec_group_for_loss(1e-9), Some(10));
    assert_eq!(fec_group_for_loss(0.02), Some(10));
    assert_eq!(fec_group_for_loss(0.020_001), Some(5));
    assert_eq!(fec_group_for_loss(0.05), Some(5));
    assert_eq!(fec_group_for_loss(0.050_001), Some(3));
    assert_eq!(fec_group_for_loss(0.10), Some(3));
    assert_eq!(fec_group_for_loss(0.100_001), Some(2));
    assert_eq!(fec_group_for_loss(1.0), Some(2));
}

#[test]
fn fec_changes_at_most_once_per_10_s() {
    let mut fec = FecPolicy::default();
    assert_eq!(fec.group(), Some(5));
    let (mut expected, mut lost) = (0u64, 0u64);
    let mut changes = Vec::new();
    // 50 packets/s; clean for 12 s, then 20 % loss.
    for s in 0..=40u64 {
        let h = Health {
            expected,
            lost,
            ..Health::default()
        };
        if let Some(d) = fec.update(ms(s * 1_000), &h) {
            changes.push((s, d.group, d.loss));
        }
        expected += 50;
        lost += if s >= 12 { 10 } else { 0 };
    }
    // Period [0, 10): clean → off at 10 s. Period [10, 20): 8 lossy seconds of 10 = 16 % → 2 at
    // 20 s, although loss began at 12 s. Period [20, 30): 20 % → still 2: no change.
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!((changes[0].0, changes[0].1), (10, None));
    assert_eq!((changes[1].0, changes[1].1), (20, Some(2)));
    assert!((changes[1].2 - 0.16).abs() < 1e-12);
    assert_eq!(fec.group(), Some(2));
    // No packets in a period: no decision.
    let mut fec = FecPolicy::new(Some(3));
    assert_eq!(fec.update(ms(0), &Health::default()), None);
    assert_eq!(fec.update(ms(10_000), &Health::default()), None);
    assert_eq!(fec.group(), Some(3));
}
