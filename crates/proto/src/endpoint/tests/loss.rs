//! Loss recovery against the datagrams' ground truth: random and bursty loss.

use super::*;

/// Ground truth for the packets node 0 sent node 1, from the datagrams themselves: an original
/// arrives within 10 ms + 8σ of its send; a resend cannot arrive before send + one round trip
/// (20 ms) + the overdue wait, so any later copy is a resend.
#[derive(Debug, Default)]
struct Outcome {
    sent: u64,
    lost: u64,
    recovered: u64,
    parity: u64,
    resend: u64,
    missing: u64,
    /// Recovered after send + 10 ms + the 30 ms buffer.
    late: u64,
    /// What the receiver itself counted as lost.
    counted_lost: u64,
}

fn run_loss(loss: Loss, seconds: u64) -> Outcome {
    let link = Netem::latency(Duration::from_millis(10))
        .with_jitter(Duration::from_millis(1))
        .with_loss(loss);
    let mut mesh = mesh(2, link, |c| {
        c.playout_delay = Duration::from_millis(30);
        // Small enough that a buffer pool growing with every resend would exceed it.
        c.limits.max_transmits = 256;
    });
    mesh.run_for(Duration::from_secs(2));
    start_audio(&mut mesh, 2);
    mesh.run_for(Duration::from_secs(seconds));
    let end = mesh.now() - Duration::from_millis(200);
    let mut first_sent = std::collections::HashMap::new();
    for &(t, ssrc, seq, sent) in &mesh.node(0).media {
        if sent && ssrc == 0x1001 {
            first_sent.entry(seq).or_insert(t);
        }
    }
    let mut original = std::collections::HashSet::new();
    for &(t, ssrc, seq, sent) in &mesh.node(1).media {
        let on_time = first_sent
            .get(&seq)
            .is_some_and(|s| t < *s + Duration::from_millis(18));
        if !sent && ssrc == 0x1001 && on_time {
            original.insert(seq);
        }
    }
    let mut delivered = std::collections::HashMap::new();
    for (t, event) in &mesh.node(1).events {
        if let Event::Audio(audio) = event
            && audio.user_id == 1
        {
            // Whether original, resent or rebuilt from parity: the sender's capture stamp.
            assert_eq!(
                audio.capture,
                Some(capture_of(audio.timestamp)),
                "{:?}",
                audio.via
            );
            delivered
                .entry(audio.seq.0 as u32)
                .or_insert((*t, audio.via));
        }
    }
    let mut outcome = Outcome::default();
    for (&seq, &sent_at) in &first_sent {
        if sent_at > end {
            continue;
        }
        outcome.sent += 1;
        if original.contains(&seq) {
            continue;
        }
        outcome.lost += 1;
        match delivered.get(&seq) {
            Some(&(t, via)) => {
                outcome.recovered += 1;
                match via {
                    Via::Parity => outcome.parity += 1,
                    _ => outcome.resend += 1,
                }
                if t > sent_at + Duration::from_millis(40) {
                    outcome.late += 1;
                }
            }
            None => outcome.missing += 1,
        }
    }
    let rx = &mesh.node(1).ep;
    eprintln!("receiver counters {:?}", rx.recovery_stats(1, 1));
    outcome.counted_lost = rx.recovery_stats(1, 1).expect("stream").lost;
    // Resends and their delayed copies bring buffers into the pool too: it stays bounded.
    for i in 0..2 {
        let ep = &mesh.node(i).ep;
        assert!(
            ep.out.pooled() <= ep.config.limits.max_transmits,
            "{}",
            ep.out.pooled()
        );
    }
    eprintln!("sender {:?}", mesh.node(0).ep.stats());
    outcome
}

fn assert_recovered(name: &str, outcome: &Outcome, rate: f64) {
    let share = outcome.recovered as f64 / outcome.lost as f64;
    eprintln!(
        "{name}: {} sent, {} lost ({:.2} %), recovered {:.2} % (parity {}, resend {}), \
         missing {}, late {}",
        outcome.sent,
        outcome.lost,
        outcome.lost as f64 * 100.0 / outcome.sent as f64,
        share * 100.0,
        outcome.parity,
        outcome.resend,
        outcome.missing,
        outcome.late
    );
    let loss = outcome.lost as f64 / outcome.sent as f64;
    assert!(
        (loss - rate).abs() < rate * 0.3,
        "{name}: the link lost {loss}, not {rate}"
    );
    assert!(share >= 0.99, "{name}: {:.2} % recovered", share * 100.0);
    // The receiver's own loss count (which cannot see the datagrams) matches the truth within
    // 0.1 percentage points of the packets sent: a packet only slow (reordered behind its
    // parity, or NACKed too soon) is not counted, since resends are marked. Measured: 617
    // counted for 614 lost (5 % random), 463 for 463 (Gilbert-Elliott).
    let error = outcome.counted_lost.abs_diff(outcome.lost);
    assert!(
        error * 1_000 <= outcome.sent,
        "{name}: counted {} lost, {} were, of {} sent",
        outcome.counted_lost,
        outcome.lost,
        outcome.sent
    );
    // A loss whose NACK or resend is lost too needs a second round trip (20 ms) inside the
    // 30 ms buffer: most make it, a few (5 % of 5 % of packets) cannot. At most 0.5 % of the
    // losses may be recovered only after their deadline; which ones depends on the random
    // sequence (an extra control message at connect moved one over the line).
    assert!(
        outcome.late * 200 <= outcome.lost,
        "{name}: {} of {} recovered after the deadline",
        outcome.late,
        outcome.lost
    );
}

#[test]
fn five_percent_random_loss_is_recovered_before_the_deadline() {
    let outcome = run_loss(Loss::Random(0.05), 30);
    assert_recovered("5 % random", &outcome, 0.05);
}

#[test]
fn gilbert_elliott_bursts_are_recovered_before_the_deadline() {
    let outcome = run_loss(Loss::bursts(0.02, 3.0), 60);
    assert_recovered("GE 2 %, bursts of 3", &outcome, 0.02);
}
