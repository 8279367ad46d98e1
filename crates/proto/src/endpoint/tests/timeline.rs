//! The shared timeline: beat placement across skewed clocks, a vanished master.

use super::*;

/// Global instant of beat `beat` as node `i` places it.
fn beat_global(mesh: &Mesh<Node>, i: usize, beat: f64) -> f64 {
    let node = mesh.node(i);
    let now = node.clock.local(mesh.now());
    let local = node.ep.beat_instant(now, beat).expect("transport playing");
    (local - node.clock.offset as f64) / (1.0 + node.clock.skew)
}

#[test]
fn every_peer_places_each_beat_within_half_a_millisecond_of_the_master() {
    let link = Netem::latency(Duration::from_millis(10)).with_jitter(Duration::from_millis(5));
    let mut mesh = mesh(4, link, |_| {});
    mesh.run_for(Duration::from_secs(60));
    let master = mesh.node(0).ep.master().expect("a master");
    for i in 0..4 {
        assert_eq!(mesh.node(i).ep.master(), Some(master), "node {i} disagrees");
    }
    let m = (master - 1) as usize;
    let now = mesh.now();
    mesh.node_mut(m).command(
        now,
        Command::SetTransport {
            playing: true,
            bpm: 120.0,
            beats_per_bar: 4,
            beat_unit: 4,
            beat: 0.0,
        },
    );
    mesh.run_for(Duration::from_secs(5));
    // Tempo change on the master, then check the following beats on every peer.
    let now = mesh.now();
    let beat_now = mesh.node(m).ep.transport().unwrap().beat_at(
        mesh.node(m)
            .ep
            .session_time(mesh.node(m).clock.local(now))
            .ticks(),
    );
    mesh.node_mut(m).command(
        now,
        Command::SetTransport {
            playing: true,
            bpm: 137.5,
            beats_per_bar: 4,
            beat_unit: 4,
            beat: beat_now,
        },
    );
    let mut worst = 0.0f64;
    for step in 0..20 {
        mesh.run_for(Duration::from_millis(500));
        if step < 2 {
            continue; // the change is in flight
        }
        let next = beat_now.ceil() + 4.0 + step as f64;
        let reference = beat_global(&mesh, m, next);
        for i in (0..4).filter(|&i| i != m) {
            assert_eq!(mesh.node(i).ep.transport().unwrap().bpm, 137.5);
            let error = (beat_global(&mesh, i, next) - reference).abs();
            worst = worst.max(error);
        }
    }
    eprintln!("beat alignment: worst error {worst:.1} µs over 3 peers × 18 checks");
    assert!(worst <= 500.0, "beat misplaced by {worst:.1} µs");
}

#[test]
fn a_vanished_master_is_declared_gone_replaced_and_retried_with_backoff() {
    let mut mesh = mesh(3, lan(), |c| {
        c.timing.backoff = BackoffPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(8),
            jitter: 0.2,
        };
        c.timing.forget_after = Duration::from_secs(3600);
    });
    mesh.run_for(Duration::from_secs(15));
    let master = mesh.node(0).ep.master().expect("elected");
    let m = (master - 1) as usize;
    let vanished_at = mesh.now();
    mesh.node_mut(m).alive = false;
    mesh.run_for(Duration::from_secs(120));
    let idle = Timing::default().idle_timeout;
    for i in (0..3).filter(|&i| i != m) {
        let node = mesh.node(i);
        let gone = node.gone_events(master);
        assert_eq!(gone.len(), 1, "node {i}: {gone:?}");
        let (at, reason) = gone[0];
        assert_eq!(reason, GoneReason::Timeout);
        let after = at - vanished_at;
        assert!(
            after >= idle && after <= idle + Duration::from_millis(300),
            "{after:?}"
        );
        let new_master = node.ep.master().unwrap();
        assert_ne!(new_master, master);
        let changed = node
            .events
            .iter()
            .find(|(t, e)| *t > vanished_at && matches!(e, Event::MasterChanged { .. }))
            .map(|(t, _)| *t - vanished_at)
            .expect("re-elected");
        assert!(
            changed <= Duration::from_secs(6),
            "re-elected after {changed:?}"
        );
        // Reconnection attempts: Hellos to the dead address, grouped into attempts.
        let hellos: Vec<Duration> = node
            .sent
            .iter()
            .filter(|(t, to, _)| *t > at && *to == addr(m))
            .map(|(t, _, _)| *t)
            .collect();
        let mut starts = vec![hellos[0]];
        for pair in hellos.windows(2) {
            if pair[1] - pair[0] > Duration::from_millis(400) {
                starts.push(pair[1]);
            }
        }
        let window = Timing::default().retry_window;
        let gaps: Vec<f64> = starts
            .windows(2)
            .map(|w| (w[1] - w[0]).saturating_sub(window).as_secs_f64())
            .collect();
        eprintln!(
            "node {i}: gone after {after:?}, re-elected after {changed:?}, backoff {gaps:.2?}"
        );
        // Delay k (k = 2, 3, ..) = min(0.5 × 2^(k−1), 8) s ± 20 %, then it stays at the cap.
        for (k, gap) in gaps.iter().enumerate() {
            let nominal = (0.5 * 2f64.powi(k as i32 + 1)).min(8.0);
            assert!(
                (gap - nominal).abs() <= nominal * 0.2 + 0.26,
                "attempt {k}: waited {gap:.2} s, expected {nominal} ± 20 %"
            );
        }
        assert!(gaps.len() >= 10 && gaps[gaps.len() - 1] > 6.0, "{gaps:?}");
    }
}
