//! Time from start to first remote audio through real NATs, per NAT case: figures, never
//! timed assertions (`docs/benchmarks.md` §2.4). Ignored by default; as root, run it alone:
//! `scripts/test.sh --run-ignored only -E 'test(/bench_time_to_first_audio/)' --no-capture`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proto::connect::PathKind;

use super::harness::{Internet, Jam};
use crate::natlab::Nat;

/// Runs per case.
const RUNS: usize = 20;
/// Bound on the whole bench (about 1 s a run here: lab, servers, engines, teardown).
const BUDGET: Duration = Duration::from_secs(10 * 60);

/// What one run measured, from the engines' start.
struct Run {
    connected: Duration,
    /// The last player heard the last other.
    everyone_heard: Duration,
    direct: usize,
    turn: usize,
}

// Ignored because it is a benchmark, not a check: it prints figures (docs/benchmarks.md §2.4)
// and takes about a minute of real time, which the suite's every run should not pay; the
// same paths are asserted by the two_homes and three_homes cases on every run. Run it as root
// with `scripts/test.sh --run-ignored only -E 'test(/bench_time_to_first_audio/)' --no-capture`.
#[test]
#[ignore = "a benchmark: 60 jams through the NAT lab, about a minute"]
fn bench_time_to_first_audio_per_nat_case() {
    let cases: [(&str, &[Nat]); 3] = [
        (
            "2 endpoint-independent: direct",
            &[Nat::EndpointIndependent, Nat::EndpointIndependent],
        ),
        (
            "port-randomising + EI: turn",
            &[Nat::PortRandomising, Nat::EndpointIndependent],
        ),
        (
            "3 mixed (EI, EI, PR)",
            &[
                Nat::EndpointIndependent,
                Nat::EndpointIndependent,
                Nat::PortRandomising,
            ],
        ),
    ];
    let start = Instant::now();
    let mut rows = Vec::new();
    for (case, nats) in cases {
        let runs: Vec<Run> = (0..RUNS)
            .map(|_| {
                assert!(
                    start.elapsed() < BUDGET,
                    "the bench ran past its {BUDGET:?} bound"
                );
                let internet = Internet::start(nats);
                let mut jam = Jam::start(&internet, case);
                let connected = jam.connected();
                let everyone_heard = jam.everyone_heard();
                let paths = jam.routes();
                Run {
                    connected,
                    everyone_heard,
                    direct: paths.iter().filter(|r| r.kind == PathKind::Direct).count(),
                    turn: paths.iter().filter(|r| r.kind == PathKind::Turn).count(),
                }
            })
            .collect();
        rows.push((case, runs));
    }
    println!(
        "\ntime from start to first remote audio, {RUNS} runs per case, ms \
         (the engines' start to the block in which the last player first heard the last other)"
    );
    println!(
        "{:<32} {:>6} {:>6} {:>6} {:>6} | {:>13} | runs per (direct, turn) paths",
        "case", "p50", "min", "p90", "max", "connected p50"
    );
    for (case, runs) in &rows {
        let heard = Spread::of(runs.iter().map(|r| r.everyone_heard));
        let connected = Spread::of(runs.iter().map(|r| r.connected));
        let mut paths = BTreeMap::<(usize, usize), usize>::new();
        for run in runs {
            *paths.entry((run.direct, run.turn)).or_default() += 1;
        }
        println!(
            "{case:<32} {:>6.0} {:>6.0} {:>6.0} {:>6.0} | {:>13.0} | {paths:?}",
            heard.p50, heard.min, heard.p90, heard.max, connected.p50
        );
    }
    println!("({:.0} s in all)", start.elapsed().as_secs_f64());
}

/// Order statistics of durations, in ms.
struct Spread {
    min: f64,
    p50: f64,
    p90: f64,
    max: f64,
}

impl Spread {
    fn of(durations: impl Iterator<Item = Duration>) -> Self {
        let mut ms: Vec<f64> = durations.map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        // Nearest rank.
        let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
        Self {
            min: ms[0],
            p50: at(0.5),
            p90: at(0.9),
            max: ms[ms.len() - 1],
        }
    }
}
