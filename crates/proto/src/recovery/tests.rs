//! The receiver's gap, parity and NACK logic on hand-made packets.

use super::*;
use crate::ostp::packet::{Extension, Ssrc, StreamId};
use crate::ostp::parity::Builder;

const FRAME: u32 = 120;

fn header(seq: u64) -> Header {
    Header {
        marker: false,
        payload_type: 111,
        seq: seq as u16,
        timestamp: (seq * u64::from(FRAME)) as u32,
        ssrc: Ssrc(0xABCD),
        extension: Some(Extension {
            stream_id: StreamId::PRIMARY,
            seq_ext: (seq >> 16) as u16,
            media_timestamp: 0,
        }),
    }
}

fn payload(seq: u64) -> Vec<u8> {
    vec![seq as u8; 40]
}

fn us(micros: u64) -> Instant {
    Instant::from_micros(micros)
}

/// Arrival of packet `seq` with 10 ms transit on a 2.5 ms cadence.
fn arrival(seq: u64) -> Instant {
    us(10_000 + seq * 2_500)
}

fn receiver() -> Receiver {
    let mut rx = Receiver::new(Config {
        frame_ticks: FRAME,
        playout_delay: Duration::from_millis(30),
        nack_repeat: Duration::from_millis(3),
        overdue_after: Duration::ZERO,
        ..Config::default()
    });
    rx.set_rtt(Duration::from_millis(15));
    rx
}

fn deliver(rx: &mut Receiver, seq: u64) -> Received {
    rx.handle_packet(
        arrival(seq),
        SeqNo(seq),
        seq * u64::from(FRAME),
        &header(seq),
        &payload(seq),
        Via::Original,
    )
}

#[test]
fn parity_repairs_a_single_loss_even_when_it_arrives_first() {
    let mut builder = Builder::new(Ssrc(0xABCD));
    for seq in 0..5 {
        builder.add(&header(seq), &payload(seq)).unwrap();
    }
    let mut parity = vec![0; 1200];
    let len = builder.write(&mut parity).unwrap();
    let parity = &parity[..len];

    // The group's last packet is lost: the parity is the first sign of it.
    let mut rx = receiver();
    for seq in 0..4 {
        assert_eq!(deliver(&mut rx, seq), Received::Accepted(Via::Original));
    }
    rx.handle_parity(arrival(4), &Parity::parse(parity).unwrap(), parity);
    let (seq, ts, h, p) = rx.poll_repaired().expect("repaired");
    assert_eq!((seq, ts, h, p), (SeqNo(4), 480, header(4), &payload(4)[..]));
    assert_eq!(rx.stats().repaired_parity, 1);
    assert_eq!(deliver(&mut rx, 4), Received::Duplicate);

    // A middle packet lost, parity before the group's other packets.
    let mut rx = receiver();
    deliver(&mut rx, 0);
    rx.handle_parity(arrival(4), &Parity::parse(parity).unwrap(), parity);
    assert!(rx.poll_repaired().is_none(), "four missing");
    for seq in [1, 3, 4] {
        deliver(&mut rx, seq);
    }
    assert_eq!(rx.poll_repaired().map(|r| r.0), Some(SeqNo(2)));
    // 1..=4 looked lost when the parity came; only 2 was.
    assert_eq!(rx.stats().lost, 1);
}

#[test]
fn nacks_go_out_at_once_repeat_and_stop_when_the_budget_is_gone() {
    let mut rx = receiver();
    let mut list = [0u16; 32];
    deliver(&mut rx, 0);
    deliver(&mut rx, 3);
    assert_eq!(rx.stats().lost, 2);
    let now = arrival(3);
    assert_eq!(rx.poll_nacks(now, &mut list), 2);
    assert_eq!(&list[..2], &[1, 2]);
    assert_eq!(
        rx.poll_nacks(now, &mut list),
        0,
        "not before the repeat interval"
    );
    // Deadline of seq 1 = its arrival (12.5 ms) + 30 ms = 42.5 ms; budget = 15 ms RTT + 2.5 ms.
    let repeat = now + Duration::from_millis(3);
    assert_eq!(rx.poll_nacks(repeat, &mut list), 2);
    // The third would be at 20.5 + 15 ms = 35.5 ms: within 17.5 ms of both deadlines, so none.
    assert_eq!(rx.poll_nacks(us(35_500), &mut list), 0);
    // The resend of 1 arrives in time; 2 never does.
    let at = us(40_000);
    assert_eq!(
        rx.handle_packet(at, SeqNo(1), 120, &header(1), &payload(1), Via::Resend),
        Received::Accepted(Via::Resend)
    );
    rx.handle_timeout(us(45_000));
    assert_eq!(rx.poll_missing(), Some(SeqNo(2)));
    assert_eq!(rx.poll_missing(), None);
    let s = rx.stats();
    assert_eq!((s.repaired_resend, s.missing, s.nacked), (1, 1, 4));
    // 2 arriving now is late and dropped.
    assert_eq!(
        rx.handle_packet(
            us(46_000),
            SeqNo(2),
            240,
            &header(2),
            &payload(2),
            Via::Original
        ),
        Received::Late
    );
}

/// Every counted loss ends repaired, undone or missing, even when a resend lands after its
/// deadline before the timer has run (CI once counted 328 lost, 322 repaired, 2 missing).
#[test]
fn a_resend_after_its_deadline_counts_the_packet_missing() {
    let mut rx = receiver();
    let mut list = [0u16; 32];
    deliver(&mut rx, 0);
    deliver(&mut rx, 2);
    assert_eq!(rx.poll_nacks(arrival(2), &mut list), 1);
    for seq in 3..=13 {
        deliver(&mut rx, seq);
    }
    // Deadline of 1: 12.5 ms + 30 ms. Its resend comes 0.5 ms later; no timer ran in between.
    assert_eq!(
        rx.handle_packet(
            us(43_000),
            SeqNo(1),
            120,
            &header(1),
            &payload(1),
            Via::Resend
        ),
        Received::Late
    );
    // The caller forwards it for the player to judge: no missing verdict besides.
    rx.handle_timeout(us(43_000));
    assert_eq!(rx.poll_missing(), None);
    let s = rx.stats();
    assert_eq!(
        (s.lost, s.repaired_resend, s.missing, s.late_resend),
        (1, 0, 1, 1)
    );

    // A jump drops what was pending: missing, and counted so.
    deliver(&mut rx, 15);
    assert_eq!(deliver(&mut rx, 1_000), Received::Resynced);
    assert_eq!(rx.poll_missing(), Some(SeqNo(14)));
    let s = rx.stats();
    assert_eq!((s.lost, s.missing, s.resyncs), (2, 2, 1));
}

#[test]
fn jumps_resync_and_history_resends_by_16_bit_sequence() {
    let mut rx = receiver();
    deliver(&mut rx, 0);
    assert_eq!(deliver(&mut rx, 1_000), Received::Resynced);
    assert_eq!(rx.stats().lost, 0, "a jump is not loss");
    assert_eq!(deliver(&mut rx, 1_001), Received::Accepted(Via::Original));

    let mut history = History::new(64);
    for seq in 0x1_FFF0..0x2_0010u64 {
        history.record(SeqNo(seq), &[seq as u8; 3]);
    }
    let now = us(0);
    let gap = Duration::from_millis(5);
    assert_eq!(history.resend(now, 0xFFF5, gap), Some(&[0xF5u8; 3][..]));
    assert_eq!(history.resend(now, 0xFFF5, gap), None, "too soon");
    assert_eq!(
        history.resend(us(5_000), 0xFFF5, gap),
        Some(&[0xF5u8; 3][..])
    );
    assert_eq!(history.resend(now, 0x0005, gap), Some(&[0x05u8; 3][..]));
    assert_eq!(history.resend(now, 0x8000, gap), None, "long gone");
    assert_eq!((history.resent, history.refused), (3, 2));
}

/// Transit jitter of 0 to 3 ms (uniform): with slack for patience the receiver waits out the
/// spread before asking; with none (30 ms buffer, 20 ms round trip) it asks at the floor.
#[test]
fn the_overdue_wait_follows_the_transit_spread_only_where_there_is_slack() {
    let jittered = |playout_ms: u64, rtt_ms: u64| {
        let mut rx = Receiver::new(Config {
            frame_ticks: FRAME,
            playout_delay: Duration::from_millis(playout_ms),
            nack_repeat: Duration::from_millis(4),
            overdue_after: Duration::from_millis(2),
            ..Config::default()
        });
        rx.set_rtt(Duration::from_millis(rtt_ms));
        assert_eq!(
            rx.overdue_wait(),
            Duration::from_millis(2),
            "no spread measured"
        );
        for seq in 0..2_000u64 {
            // A fixed pseudo-random spread: (seq × 7919) mod 3001 µs.
            let jitter = (seq * 7_919) % 3_001;
            let at = arrival(seq) + Duration::from_micros(jitter);
            rx.handle_packet(
                at,
                SeqNo(seq),
                seq * u64::from(FRAME),
                &header(seq),
                &[0; 8],
                Via::Original,
            );
        }
        rx.overdue_wait()
    };
    // Uniform on [0, 3 ms]: mean 1.5 ms, mean deviation 0.75 ms, so 1.5 + 4 × 0.75 = 4.5 ms.
    let patient = jittered(60, 20);
    assert!(
        (4_000..=5_000).contains(&patient.as_micros()),
        "{patient:?}"
    );
    assert_eq!(jittered(30, 20), Duration::from_millis(2));
}

/// Resends are marked, so the receiver knows which copy is the original: an original that
/// comes after its NACK, after its resend or after its deadline was never lost; a resend
/// repairs a loss and its copies change nothing.
#[test]
fn only_packets_whose_original_never_came_stay_lost() {
    let mut rx = receiver();
    rx.set_rtt(Duration::from_micros(200));
    let mut list = [0u16; 32];
    deliver(&mut rx, 0);
    deliver(&mut rx, 2);
    assert_eq!(rx.poll_nacks(arrival(2), &mut list), 1);
    // 1's original, 1 ms after the NACK (five round trips): still the original.
    let late = arrival(2) + Duration::from_millis(1);
    assert_eq!(
        rx.handle_packet(late, SeqNo(1), 120, &header(1), &payload(1), Via::Original),
        Received::Accepted(Via::Original)
    );
    let s = rx.stats();
    assert_eq!((s.lost, s.repaired_resend, s.spurious_nacks), (0, 0, 1));
    // The resend the NACK brought, and its second copy: duplicates that change nothing.
    assert!(!rx.handle_duplicate(SeqNo(1), Via::Resend));
    assert!(!rx.handle_duplicate(SeqNo(1), Via::Resend));
    assert_eq!(rx.stats().lost, 0);

    // 3 is lost: its resend repairs it; the resend's second copy changes nothing.
    deliver(&mut rx, 4);
    assert_eq!(rx.poll_nacks(arrival(4), &mut list), 1);
    let resend = arrival(4) + Duration::from_millis(1);
    assert_eq!(
        rx.handle_packet(resend, SeqNo(3), 360, &header(3), &payload(3), Via::Resend),
        Received::Accepted(Via::Resend)
    );
    assert!(!rx.handle_duplicate(SeqNo(3), Via::Resend));
    assert_eq!((rx.stats().lost, rx.stats().repaired_resend), (1, 1));
    // Its original after all, behind the resend: never lost.
    assert!(rx.handle_duplicate(SeqNo(3), Via::Original));
    let s = rx.stats();
    assert_eq!((s.lost, s.repaired_resend, s.spurious_nacks), (0, 0, 2));
    assert!(!rx.handle_duplicate(SeqNo(3), Via::Original), "undone once");

    // 6 is never asked for and arrives after its deadline: late, not lost.
    deliver(&mut rx, 5);
    deliver(&mut rx, 7);
    assert_eq!(
        rx.handle_packet(
            us(60_000),
            SeqNo(6),
            720,
            &header(6),
            &payload(6),
            Via::Original
        ),
        Received::Late
    );
    let s = rx.stats();
    assert_eq!((s.lost, s.late, s.missing), (0, 1, 0));

    // 8 is given up at its deadline (concealed); its original turning up later undoes the
    // loss, a late resend would not.
    deliver(&mut rx, 9);
    rx.handle_timeout(arrival(9) + Duration::from_millis(40));
    let missing: Vec<SeqNo> = std::iter::from_fn(|| rx.poll_missing()).collect();
    assert!(missing.contains(&SeqNo(8)), "{missing:?}");
    // (The sender's silence after 9 made 10.. overdue and missing too.)
    let given_up = rx.stats();
    let after = arrival(9) + Duration::from_millis(41);
    assert_eq!(
        rx.handle_packet(
            after,
            SeqNo(10),
            1_200,
            &header(10),
            &payload(10),
            Via::Resend
        ),
        Received::Late
    );
    assert_eq!(
        rx.stats().lost,
        given_up.lost,
        "a late resend repairs nothing"
    );
    assert_eq!(
        rx.handle_packet(after, SeqNo(8), 960, &header(8), &payload(8), Via::Original),
        Received::Late
    );
    let s = rx.stats();
    assert_eq!(
        (s.lost, s.missing),
        (given_up.lost - 1, given_up.missing - 1)
    );
    // Every counted loss is accounted for.
    assert_eq!(
        s.lost,
        s.repaired_parity + s.repaired_resend + s.missing + s.pending
    );
}

#[test]
fn a_sender_whose_clock_runs_slow_is_not_called_lossy() {
    // The sender's device runs 1 % slow: packets of 120 media ticks (2.5 ms) leave every
    // 2.525 ms, so each transit is 25 µs longer than the last, 10 ms more per second. No packet
    // is lost, none is late; a floor that forgot the drift called nearly all of them overdue.
    for slow in [0.01, 0.001, 0.0] {
        // The shipped overdue floor (2 ms), not the zero the hand-made loss tests use.
        let mut rx = Receiver::new(Config {
            frame_ticks: FRAME,
            playout_delay: Duration::from_millis(30),
            ..Config::default()
        });
        rx.set_rtt(Duration::from_millis(15));
        let period = 2_500.0 * (1.0 + slow);
        let mut out = [0u16; MAX_GAP as usize];
        let (mut nacked, mut last_nack) = (0, 0.0);
        for seq in 0..2_000u64 {
            let now = us(10_000 + (seq as f64 * period) as u64);
            rx.handle_timeout(now);
            let n = rx.poll_nacks(now, &mut out);
            if n > 0 {
                nacked += n;
                last_nack = seq as f64 * period / 1e6;
            }
            let received = rx.handle_packet(
                now,
                SeqNo(seq),
                seq * u64::from(FRAME),
                &header(seq),
                &payload(seq),
                Via::Original,
            );
            assert_eq!(
                received,
                Received::Accepted(Via::Original),
                "seq {seq}, {slow}"
            );
        }
        let stats = rx.stats();
        assert_eq!(
            (stats.lost, stats.missing, stats.late),
            (0, 0, 0),
            "{} % slow: {stats:?}",
            slow * 100.0
        );
        // Until two 250 ms buckets have measured the rise, the floor lags: a 1 % slow sender
        // draws spurious NACKs (counted as such) for its first half second, then none.
        assert!(
            last_nack < 0.6,
            "{} % slow: NACKs until {last_nack} s",
            slow * 100.0
        );
        if slow < 0.005 {
            assert_eq!(nacked, 0, "{} % slow", slow * 100.0);
        }
    }
}
