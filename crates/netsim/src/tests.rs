//! The emulator's statistics against their formulas, and the harness's determinism.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;

const MS: Duration = Duration::from_millis(1);

/// Sends `count` datagrams of `size` bytes to `to`, one every `period`, each carrying its
/// sequence number and send time; records what it receives.
struct Probe {
    to: SocketAddr,
    period: Duration,
    size: usize,
    count: u32,
    sent: u32,
    next: Duration,
    echo: bool,
    pending_echo: Vec<Vec<u8>>,
    /// (sequence, sent at, arrived at)
    arrivals: Vec<(u32, Duration, Duration)>,
}

impl Probe {
    fn sender(to: SocketAddr, period: Duration, size: usize, count: u32) -> Self {
        Self {
            to,
            period,
            size,
            count,
            sent: 0,
            next: Duration::ZERO,
            echo: false,
            pending_echo: Vec::new(),
            arrivals: Vec::new(),
        }
    }

    fn sink(echo_to: SocketAddr, echo: bool) -> Self {
        Self {
            echo,
            ..Self::sender(echo_to, MS, 0, 0)
        }
    }
}

impl Node for Probe {
    fn handle_datagram(&mut self, now: Duration, _from: SocketAddr, data: &[u8]) {
        let seq = u32::from_le_bytes(data[..4].try_into().unwrap());
        let sent = Duration::from_nanos(u64::from_le_bytes(data[4..12].try_into().unwrap()));
        self.arrivals.push((seq, sent, now));
        if self.echo {
            self.pending_echo.push(data.to_vec());
        }
    }

    fn handle_timeout(&mut self, _now: Duration) {}

    fn poll_transmit(&mut self, now: Duration, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        if let Some(echo) = self.pending_echo.pop() {
            buf[..echo.len()].copy_from_slice(&echo);
            return Some((self.to, echo.len()));
        }
        if self.sent >= self.count || now < self.next {
            return None;
        }
        let len = self.size.max(12);
        buf[..len].fill(0);
        buf[..4].copy_from_slice(&self.sent.to_le_bytes());
        buf[4..12].copy_from_slice(&(now.as_nanos() as u64).to_le_bytes());
        self.sent += 1;
        self.next = now + self.period;
        Some((self.to, len))
    }

    fn poll_timeout(&self) -> Option<Duration> {
        (self.sent < self.count).then_some(self.next)
    }
}

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 5000))
}

/// Runs `count` datagrams from node 0 to node 1 over `netem`; returns the receiver's log.
fn one_way(
    netem: Netem,
    count: u32,
    period: Duration,
    size: usize,
    seed: u64,
) -> (Vec<(u32, Duration, Duration)>, Stats) {
    let mut mesh = Mesh::new(netem, seed);
    mesh.add(addr(1), Probe::sender(addr(2), period, size, count));
    mesh.add(addr(2), Probe::sink(addr(1), false));
    mesh.run_until(period * count + Duration::from_secs(2));
    (std::mem::take(&mut mesh.node_mut(1).arrivals), mesh.stats())
}

#[test]
fn fixed_latency_is_exact_and_keeps_order() {
    let (log, stats) = one_way(Netem::latency(10 * MS), 100, MS, 100, 1);
    assert_eq!(log.len(), 100);
    for (i, (seq, sent, arrived)) in log.iter().enumerate() {
        assert_eq!(*seq, i as u32);
        assert_eq!(*arrived - *sent, 10 * MS);
    }
    assert_eq!((stats.sent, stats.delivered, stats.lost), (100, 100, 0));
}

#[test]
fn jitter_is_half_normal_on_top_of_latency() {
    let sigma = 5.0e-3;
    let (log, _) = one_way(
        Netem::latency(10 * MS).with_jitter(5 * MS),
        20_000,
        MS,
        100,
        2,
    );
    let extra: Vec<f64> = log
        .iter()
        .map(|(_, s, a)| (*a - *s).as_secs_f64() - 0.010)
        .collect();
    assert!(extra.iter().all(|e| *e >= -1e-9));
    let n = extra.len() as f64;
    let mean = extra.iter().sum::<f64>() / n;
    let var = extra.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n;
    // |N(0, σ)|: mean σ·√(2/π) = 3.989 ms, std σ·√(1 − 2/π) = 3.014 ms.
    let expected_mean = sigma * (2.0 / std::f64::consts::PI).sqrt();
    let expected_std = sigma * (1.0 - 2.0 / std::f64::consts::PI).sqrt();
    assert!((mean / expected_mean - 1.0).abs() < 0.03, "mean {mean}");
    assert!(
        (var.sqrt() / expected_std - 1.0).abs() < 0.03,
        "std {}",
        var.sqrt()
    );
    // 5 ms of jitter on 1 ms spacing reorders plenty.
    let reordered = log.windows(2).filter(|w| w[1].0 < w[0].0).count();
    assert!(reordered > 1_000, "{reordered}");
}

#[test]
fn random_loss_rate() {
    let (log, stats) = one_way(
        Netem::latency(MS).with_loss(Loss::Random(0.05)),
        40_000,
        MS,
        60,
        3,
    );
    let rate = stats.lost as f64 / stats.sent as f64;
    assert!((rate - 0.05).abs() < 0.005, "{rate}");
    assert_eq!(log.len() as u64 + stats.lost, 40_000);
}

#[test]
fn gilbert_elliott_bursts_have_the_asked_rate_and_length() {
    let (log, stats) = one_way(
        Netem::latency(MS).with_loss(Loss::bursts(0.02, 3.0)),
        200_000,
        MS,
        60,
        4,
    );
    let rate = stats.lost as f64 / stats.sent as f64;
    assert!((rate - 0.02).abs() < 0.003, "loss {rate}");
    // Burst lengths from the gaps in the received sequence.
    let mut bursts = Vec::new();
    let mut prev = None;
    for (seq, _, _) in &log {
        if let Some(p) = prev {
            let gap = seq - p - 1;
            if gap > 0 {
                bursts.push(f64::from(gap));
            }
        }
        prev = Some(*seq);
    }
    let mean = bursts.iter().sum::<f64>() / bursts.len() as f64;
    assert!((mean - 3.0).abs() < 0.3, "mean burst {mean}");
}

#[test]
fn duplication_and_reordering() {
    let netem = Netem {
        duplicate: 0.01,
        reorder: 0.1,
        reorder_delay: 30 * MS,
        ..Netem::latency(5 * MS)
    };
    let (log, stats) = one_way(netem, 50_000, MS, 60, 5);
    let dup = stats.duplicated as f64 / 50_000.0;
    assert!((dup - 0.01).abs() < 0.002, "dup {dup}");
    assert_eq!(log.len() as u64, 50_000 + stats.duplicated);
    let late = log.iter().filter(|(_, s, a)| *a - *s >= 35 * MS).count() as f64 / log.len() as f64;
    assert!((late - 0.1).abs() < 0.01, "reordered {late}");
}

#[test]
fn bottleneck_serialises_and_tail_drops() {
    // 1 Mbit/s, 1000-byte datagrams: 8 ms each; 50 ms of queue holds 7 (queueing 0..48 ms).
    let netem = Netem {
        rate: Some(1_000_000),
        queue_limit: 50 * MS,
        ..Netem::latency(2 * MS)
    };
    let (log, stats) = one_way(netem, 10, Duration::ZERO, 1000, 6);
    assert_eq!(stats.queue_drops, 3);
    let arrivals: Vec<Duration> = log.iter().map(|(_, _, a)| *a).collect();
    let expected: Vec<Duration> = (1..=7).map(|k| 8 * MS * k + 2 * MS).collect();
    assert_eq!(arrivals, expected);
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let netem = Netem::latency(10 * MS)
        .with_jitter(2 * MS)
        .with_loss(Loss::Random(0.1));
    let (a, _) = one_way(netem, 2_000, MS, 60, 7);
    let (b, _) = one_way(netem, 2_000, MS, 60, 7);
    let (c, _) = one_way(netem, 2_000, MS, 60, 8);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn asymmetric_links_add_up_in_the_round_trip() {
    let mut mesh = Mesh::new(Netem::default(), 9);
    let a = mesh.add(addr(1), Probe::sender(addr(2), 20 * MS, 40, 50));
    let b = mesh.add(addr(2), Probe::sink(addr(1), true));
    mesh.set_link(a, b, Netem::latency(10 * MS));
    mesh.set_link(b, a, Netem::latency(12 * MS));
    mesh.run_for(Duration::from_secs(2));
    let echoes = &mesh.node(a).arrivals;
    assert_eq!(echoes.len(), 50);
    assert!(
        echoes
            .iter()
            .all(|(_, sent, back)| *back - *sent == 22 * MS)
    );
    assert_eq!(mesh.stats().unroutable, 0);
    assert_eq!(mesh.now(), Duration::from_secs(2));
}
