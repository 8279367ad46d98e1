//! The rule on exact inputs (one observer fed candidacies) and whole sessions on virtual time
//! (every member's `MasterElection` fed the others' candidacies and RTT samples).

use super::*;

const STEP: Duration = Duration::from_millis(100);

fn at(ms: u64) -> Instant {
    Instant::from_micros(ms * 1_000)
}

fn p_ms(rtt_ms: f64) -> u32 {
    priority_for_rtt(Duration::from_secs_f64(rtt_ms / 1_000.0))
}

/// A full mesh of members on virtual time: every second each live member samples the RTT to
/// every other (`rtt(i, j, t)` in ms), every step each runs its timers and its candidacies reach
/// the others at once. Records every change as (time, member index, event).
struct Session {
    ids: Vec<u32>,
    nodes: Vec<MasterElection>,
    alive: Vec<bool>,
    t: Instant,
    changes: Vec<(Instant, usize, Event)>,
}

impl Session {
    fn new(ids: &[u32]) -> Self {
        Self {
            ids: ids.to_vec(),
            nodes: ids
                .iter()
                .map(|&id| MasterElection::new(id, Config::default()))
                .collect(),
            alive: vec![true; ids.len()],
            t: Instant::ZERO,
            changes: Vec::new(),
        }
    }

    fn run_until(&mut self, end: Instant, rtt: &mut dyn FnMut(usize, usize, Instant) -> f64) {
        let n = self.ids.len();
        while self.t < end {
            let t = self.t;
            if t.as_micros().is_multiple_of(1_000_000) {
                for i in (0..n).filter(|&i| self.alive[i]) {
                    for j in (0..n).filter(|&j| j != i && self.alive[j]) {
                        let ms = rtt(i, j, t);
                        self.nodes[i].record_rtt(t, self.ids[j], Duration::from_secs_f64(ms / 1e3));
                    }
                }
            }
            for i in (0..n).filter(|&i| self.alive[i]) {
                self.nodes[i].handle_timeout(t);
                while let Some(c) = self.nodes[i].poll_candidacy(t) {
                    for j in (0..n).filter(|&j| j != i && self.alive[j]) {
                        self.nodes[j].handle_candidacy(t, c.candidate, c.priority, c.master);
                    }
                }
            }
            for i in 0..n {
                while let Some(ev) = self.nodes[i].poll_event() {
                    self.changes.push((t, i, ev));
                }
            }
            self.t += STEP;
        }
    }

    fn masters(&self) -> Vec<Option<u32>> {
        (0..self.ids.len())
            .filter(|&i| self.alive[i])
            .map(|i| self.nodes[i].master())
            .collect()
    }

    /// Changes after `t` (the initial `from: None` events excluded).
    fn changes_after(&self, t: Instant) -> Vec<(Instant, usize, Event)> {
        self.changes
            .iter()
            .copied()
            .filter(|&(at, _, ev)| at > t && !matches!(ev, Event::MasterChanged { from: None, .. }))
            .collect()
    }
}

/// Symmetric RTT matrix in ms for ids 10, 20, 30, 40. Medians: 10 → 50 ms, 20 → 30, 30 → 25,
/// 40 → 30.
fn four_member_rtt(i: usize, j: usize) -> f64 {
    const M: [[f64; 4]; 4] = [
        [0.0, 40.0, 50.0, 60.0],
        [40.0, 0.0, 20.0, 30.0],
        [50.0, 20.0, 0.0, 25.0],
        [60.0, 30.0, 25.0, 0.0],
    ];
    M[i][j]
}

#[test]
fn candidate_strings_sort_like_ids_and_parse_back() {
    assert_eq!(candidate_string(0x1A), "0000001a");
    assert_eq!(candidate_string(u32::MAX), "ffffffff");
    assert_eq!(parse_candidate("0000001a"), Some(0x1A));
    assert_eq!(parse_candidate("0000001A"), Some(0x1A));
    for bad in ["1a", "+000001a", "0000001g", "00000001a", "", " 000001a"] {
        assert_eq!(parse_candidate(bad), None, "{bad:?}");
    }
    let ids = [0u32, 1, 9, 10, 0xFF, 0x100, 0xABCD_0000, u32::MAX];
    for &a in &ids {
        assert_eq!(parse_candidate(&candidate_string(a)), Some(a));
        for &b in &ids {
            assert_eq!(candidate_string(a).cmp(&candidate_string(b)), a.cmp(&b));
        }
    }
}

#[test]
fn priority_and_margin_arithmetic() {
    assert_eq!(p_ms(25.0), 0xFFFF_FFFF - 25_000);
    assert_eq!(priority_for_rtt(Duration::ZERO), u32::MAX);
    // 0 means unknown, so an absurd RTT still gives 1.
    assert_eq!(priority_for_rtt(Duration::from_secs(10_000)), 1);
    // Margin on the RTT part: 39.999 ms beats 50 ms, 40 ms (exactly 20 %) does not.
    assert!(beats_by_margin(p_ms(39.999), p_ms(50.0)));
    assert!(!beats_by_margin(p_ms(40.0), p_ms(50.0)));
    assert!(!beats_by_margin(p_ms(45.0), p_ms(50.0)));
    assert!(beats_by_margin(p_ms(50.0), 0));
    assert!(!beats_by_margin(0, p_ms(50.0)));
}

#[test]
fn a_lone_member_is_its_own_master() {
    let mut e = MasterElection::new(7, Config::default());
    assert_eq!(e.master(), Some(7));
    assert_eq!(
        e.poll_event(),
        Some(Event::MasterChanged { from: None, to: 7 })
    );
    assert_eq!(e.poll_timeout(), Some(Instant::ZERO));
    // Alone: no claim ("not part of an election yet").
    let c = e.poll_candidacy(at(1_000)).unwrap();
    assert_eq!(
        c,
        Candidacy {
            candidate: 7,
            priority: 0,
            master: None
        }
    );
    assert_eq!(e.poll_candidacy(at(1_000)), None);
    assert_eq!(e.poll_timeout(), Some(at(6_000)));
    assert_eq!(e.poll_candidacy(at(6_000)).map(|c| c.priority), Some(0));
    assert_eq!(e.poll_event(), None);
}

#[test]
fn own_priority_is_the_median_of_per_peer_medians_over_10_s() {
    let mut e = MasterElection::new(1, Config::default());
    // Peer 2: 10, 20, 30 ms → 20; peer 3: 40, 50 → 45; peer 4: 100 → 100. Median of
    // (20, 45, 100) = 45 ms.
    for (i, ms) in [10, 20, 30].into_iter().enumerate() {
        e.record_rtt(at(1_000 + i as u64), 2, Duration::from_millis(ms));
    }
    e.record_rtt(at(1_000), 3, Duration::from_millis(40));
    e.record_rtt(at(1_001), 3, Duration::from_millis(50));
    e.record_rtt(at(1_000), 4, Duration::from_millis(100));
    for peer in 2..=4 {
        e.handle_heard(at(4_000), peer);
    }
    // First candidacy at the first input (t = 1 s, after one sample: 10 ms).
    assert_eq!(e.priority(), p_ms(10.0));
    e.handle_timeout(at(6_000));
    assert_eq!(e.median_rtt(), Some(Duration::from_millis(45)));
    assert_eq!(e.priority(), p_ms(45.0));
    // Keep the peers alive but stop sampling: at 11 s the samples are 10 s old and drop out.
    let heard = |e: &mut MasterElection, range: std::ops::RangeInclusive<u64>| {
        for t in range.step_by(1_000) {
            for peer in 2..=4 {
                e.handle_heard(at(t), peer);
            }
        }
    };
    // At the 11 s recomputation the 1.000 s sample is exactly 10 s old and out, the others in:
    // peer 2 (20, 30 ms) → 25, peer 3 (50 ms) → 50, median 37.5 ms. At 16 s nothing is left.
    heard(&mut e, 6_000..=11_000);
    assert_eq!(e.median_rtt(), Some(Duration::from_micros(37_500)));
    heard(&mut e, 12_000..=16_000);
    assert_eq!(e.median_rtt(), None);
    assert_eq!(e.priority(), 0);
}

#[test]
fn lowest_median_rtt_wins_in_a_four_member_session() {
    let mut s = Session::new(&[10, 20, 30, 40]);
    s.run_until(at(60_000), &mut |i, j, _| four_member_rtt(i, j));
    assert_eq!(s.masters(), vec![Some(30); 4]);
    // Priorities are exact: 30's median is 25 ms.
    for node in &s.nodes {
        assert_eq!(node.priority_of(30), Some(p_ms(25.0)));
        assert_eq!(node.priority_of(10), Some(p_ms(50.0)));
    }
    // Everybody starts on 10 (all priorities equal at the first, one-sample candidacy: ties →
    // lowest id), measured priorities appear at 5 s, and 30 (25 ms vs 50 ms) takes over after
    // the 10 s hold: at exactly 15 s on every member.
    let switches = s.changes_after(Instant::ZERO);
    assert_eq!(switches.len(), 4, "{switches:?}");
    for (t, _, ev) in switches {
        assert_eq!(t, at(15_000));
        assert_eq!(
            ev,
            Event::MasterChanged {
                from: Some(10),
                to: 30
            }
        );
    }
}

#[test]
fn equal_priorities_go_to_the_lowest_id() {
    let mut s = Session::new(&[7, 3, 5]);
    s.run_until(at(60_000), &mut |_, _, _| 30.0);
    assert_eq!(s.masters(), vec![Some(3); 3]);
    // Member 3 was everybody's choice from the first exchange of candidacies on.
    assert!(s.changes_after(at(0)).is_empty(), "{:?}", s.changes);
}

#[test]
fn a_silent_master_is_replaced_within_the_5_s_timeout() {
    let mut s = Session::new(&[10, 20, 30, 40]);
    s.run_until(at(30_000), &mut |i, j, _| four_member_rtt(i, j));
    assert_eq!(s.masters(), vec![Some(30); 4]);
    // 30 goes silent at 30 s; its last RTT sample (its last packet) was at 29 s... and at 30 s
    // nothing more. The others were last sampled by it at 29 s, so they drop it at 34 s.
    s.alive[2] = false;
    s.run_until(at(60_000), &mut |i, j, _| four_member_rtt(i, j));
    // Announced priorities at that moment (from the 30 s candidacies): 10 → 50 ms, 20 → 30 ms,
    // 40 → 30 ms: a tie, lowest id 20.
    assert_eq!(s.masters(), vec![Some(20); 3]);
    let switches = s.changes_after(at(30_000));
    assert_eq!(switches.len(), 3, "{switches:?}");
    for (t, _, ev) in switches {
        assert!(t > at(30_000) && t <= at(35_000), "{t:?}");
        assert_eq!(t, at(34_000));
        assert_eq!(
            ev,
            Event::MasterChanged {
                from: Some(30),
                to: 20
            }
        );
    }
}

#[test]
fn a_master_that_leaves_is_replaced_at_once() {
    let mut s = Session::new(&[10, 20, 30, 40]);
    s.run_until(at(30_000), &mut |i, j, _| four_member_rtt(i, j));
    // Before the 30 s recomputation, so every member sees the same announced priorities:
    // 20 and 40 both at 30 ms, lowest id 20.
    let now = at(29_950);
    for i in [0, 1, 3] {
        s.nodes[i].remove(now, 30);
        assert_eq!(s.nodes[i].master(), Some(20));
        assert_eq!(
            s.nodes[i].poll_event(),
            Some(Event::MasterChanged {
                from: Some(30),
                to: 20
            })
        );
        // The change is announced at once.
        assert_eq!(s.nodes[i].poll_candidacy(now).unwrap().master, Some(20));
    }
}

/// The master's side of the hysteresis: member 1 measures an RTT of `rtt(t).0` ms to two
/// silent-but-alive peers (3, 4: its priority), and hears member 2's candidacy every second with
/// priority from `rtt(t).1` ms, claiming 1. Returns member 1 and its changes.
fn as_master(
    end_ms: u64,
    mut rtt: impl FnMut(u64) -> (f64, f64),
) -> (MasterElection, Vec<(Instant, Event)>) {
    let mut e = MasterElection::new(1, Config::default());
    let mut changes = Vec::new();
    let mut t = Instant::ZERO;
    while t <= at(end_ms) {
        let ms = t.as_micros() / 1_000;
        if ms.is_multiple_of(1_000) {
            let (r1, r2) = rtt(ms);
            let own = Duration::from_secs_f64(r1 / 1e3);
            e.record_rtt(t, 3, own);
            e.record_rtt(t, 4, own);
            // 2 follows 1's view, as a member does.
            let claim = e.master();
            e.handle_candidacy(t, 2, p_ms(r2), claim);
        }
        e.handle_timeout(t);
        while let Some(ev) = e.poll_event() {
            changes.push((t, ev));
        }
        t += STEP;
    }
    changes.retain(|(_, ev)| !matches!(ev, Event::MasterChanged { from: None, .. }));
    (e, changes)
}

#[test]
fn a_candidate_30_percent_better_takes_over_after_exactly_10_s() {
    // 2 is at 60 ms, then 35 ms (30 % below the master's 50 ms) from 20 s on.
    let (e, changes) = as_master(60_000, |ms| (50.0, if ms < 20_000 { 60.0 } else { 35.0 }));
    assert_eq!(e.master(), Some(2));
    assert_eq!(
        changes,
        vec![(
            at(30_000),
            Event::MasterChanged {
                from: Some(1),
                to: 2
            }
        )]
    );
    // The handover deadline is a timer, and a follower (100) switches on the master's claim.
    let mut master = MasterElection::new(1, Config::default());
    let mut follower = MasterElection::new(100, Config::default());
    master.record_rtt(at(19_000), 3, Duration::from_millis(50));
    master.handle_candidacy(at(19_000), 2, p_ms(60.0), Some(1));
    for t in (20_000..30_000).step_by(1_000) {
        master.record_rtt(at(t), 3, Duration::from_millis(50));
        master.handle_candidacy(at(t), 2, p_ms(35.0), Some(1));
    }
    let c = master.poll_candidacy(at(29_999)).unwrap();
    assert_eq!(c.master, Some(1));
    follower.handle_candidacy(at(29_999), 1, c.priority, c.master);
    follower.handle_candidacy(at(29_999), 2, p_ms(35.0), Some(1));
    assert_eq!(follower.master(), Some(1));
    master.handle_heard(at(29_999), 2);
    master.record_rtt(at(29_999), 3, Duration::from_millis(50));
    assert_eq!(master.poll_timeout(), Some(at(30_000)));
    master.handle_timeout(at(29_999));
    assert_eq!(master.master(), Some(1));
    master.handle_timeout(at(30_000));
    assert_eq!(master.master(), Some(2));
    let c = master.poll_candidacy(at(30_000)).unwrap();
    assert_eq!(c.master, Some(2));
    follower.handle_candidacy(at(30_000), 1, c.priority, c.master);
    assert_eq!(follower.master(), Some(2));
}

#[test]
fn a_candidate_within_20_percent_never_takes_over() {
    // 10 % better, and exactly 20 % better (not > 20 %), for 2 minutes.
    for r2 in [45.0, 40.0] {
        let (e, changes) = as_master(120_000, |ms| (50.0, if ms < 20_000 { 60.0 } else { r2 }));
        assert_eq!(e.master(), Some(1), "{r2}");
        assert!(changes.is_empty(), "{r2}: {changes:?}");
    }
}

#[test]
fn a_lead_of_9_s_does_not_count_and_the_hold_restarts() {
    // Better from 20 s to 29 s (9 s), worse until 40 s, better again from 40 s.
    let (e, changes) = as_master(60_000, |ms| {
        let better = (20_000..29_000).contains(&ms) || ms >= 40_000;
        (50.0, if better { 35.0 } else { 60.0 })
    });
    assert_eq!(e.master(), Some(2));
    assert_eq!(
        changes,
        vec![(
            at(50_000),
            Event::MasterChanged {
                from: Some(1),
                to: 2
            }
        )]
    );
}

#[test]
fn two_noisy_members_within_20_percent_do_not_flap() {
    // Both members' RTT parts wander in 46..54 ms (worst ratio 0.85) for 10 minutes; the
    // lead alternates but never reaches the margin.
    let mut lcg: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        lcg = lcg
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        46.0 + 8.0 * ((lcg >> 11) as f64 / (1u64 << 53) as f64)
    };
    let (e, changes) = as_master(600_000, |_| (next(), next()));
    assert_eq!(e.master(), Some(1));
    assert!(changes.is_empty(), "{changes:?}");
}

#[test]
fn a_noisy_three_member_session_settles_once() {
    // Every sample is 30 ms ± 10 % (deterministic); medians stay well within 20 % of each
    // other, so the first choice stays for 10 minutes.
    let mut lcg: u64 = 42;
    let mut s = Session::new(&[5, 6, 7]);
    s.run_until(at(600_000), &mut |_, _, _| {
        lcg = lcg
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        27.0 + 6.0 * ((lcg >> 11) as f64 / (1u64 << 53) as f64)
    });
    let first = s.masters()[0];
    assert_eq!(s.masters(), vec![first; 3]);
    assert!(s.changes_after(Instant::ZERO).is_empty(), "{:?}", s.changes);
}

#[test]
fn a_newcomer_adopts_the_incumbent_named_by_the_others() {
    // The incumbent 3 is kept by hysteresis although 2 is better by 10 %. A newcomer (9) that
    // hears 2 first (claiming 3) and 3 afterwards follows the group, not the bare rule.
    let mut e = MasterElection::new(9, Config::default());
    assert_eq!(e.poll_candidacy(at(0)).unwrap().master, None);
    e.handle_candidacy(at(100), 2, p_ms(45.0), Some(3));
    e.handle_candidacy(at(200), 3, p_ms(50.0), Some(3));
    assert_eq!(e.master(), Some(3));
    assert_eq!(e.poll_candidacy(at(200)).unwrap().master, Some(3));
    // The master's word moves everybody: 3 hands over to 2.
    e.handle_candidacy(at(4_200), 3, p_ms(50.0), Some(2));
    assert_eq!(e.master(), Some(2));
    // A member claiming a stale master is only counted.
    let before = e.disagreements();
    e.handle_candidacy(at(4_300), 4, p_ms(60.0), Some(3));
    assert_eq!(e.master(), Some(2));
    assert_eq!(e.disagreements(), before + 1);
}

#[test]
fn two_members_claiming_mastership_resolve_by_rank() {
    // A healed split: 5 (40 ms) and 6 (30 ms) both claim themselves; everybody goes to 6,
    // 5 included, without waiting for a hold.
    let mut five = MasterElection::new(5, Config::default());
    five.handle_candidacy(at(0), 7, p_ms(45.0), Some(5));
    five.record_rtt(at(0), 7, Duration::from_millis(40));
    five.handle_timeout(at(5_000));
    assert_eq!(five.master(), Some(5));
    five.handle_candidacy(at(5_000), 6, p_ms(30.0), Some(6));
    assert_eq!(five.master(), Some(6));
}

#[test]
fn unknown_and_excess_members_are_ignored_and_counted() {
    let config = Config {
        max_members: 3,
        ..Config::default()
    };
    let mut e = MasterElection::new(1, config);
    // Our own id echoed back.
    e.handle_candidacy(at(0), 1, u32::MAX, Some(1));
    assert_eq!(e.ignored(), 1);
    e.handle_candidacy(at(0), 2, p_ms(50.0), Some(2));
    e.handle_candidacy(at(0), 3, p_ms(40.0), Some(3));
    // Room for two others only: 4 and 5 (even with a perfect priority) are dropped.
    e.handle_candidacy(at(0), 4, u32::MAX, Some(4));
    e.record_rtt(at(0), 5, Duration::from_millis(1));
    e.handle_heard(at(0), 6);
    assert_eq!(e.ignored(), 4);
    assert_eq!(e.members().collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(e.master(), Some(3));
    // Silent members are forgotten, which frees their slots.
    e.handle_timeout(at(5_000));
    assert_eq!(e.members().count(), 0);
    assert_eq!(e.master(), Some(1));
    e.handle_candidacy(at(5_000), 4, p_ms(30.0), Some(1));
    assert_eq!(e.members().collect::<Vec<_>>(), vec![4]);
}

#[test]
fn the_rtt_ring_is_bounded() {
    let config = Config {
        samples_per_peer: 4,
        ..Config::default()
    };
    let mut e = MasterElection::new(1, config);
    // 1,000 samples at 1 ms apart: only the newest 4 (all 80 ms) count.
    for i in 0..1_000u64 {
        let ms = if i < 996 { 10 } else { 80 };
        e.record_rtt(
            Instant::from_micros(i * 1_000),
            2,
            Duration::from_millis(ms),
        );
    }
    e.handle_timeout(at(5_000));
    assert_eq!(e.median_rtt(), Some(Duration::from_millis(80)));
}
