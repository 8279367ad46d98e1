//! The harness: N nodes on virtual time, every directed pair joined by a [`Link`].
//!
//! Time only moves when the mesh moves it, to the next delivery or node deadline, so an hour of
//! session runs in however long its events take to compute, and the same seed gives the same
//! run, datagram for datagram.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::flight::InFlight;
use crate::netem::{Fate, Link, Netem};

/// Something with an address that speaks datagrams on virtual time: a protocol endpoint, a
/// relay, a test probe. The mesh calls `handle_*`, then drains `poll_transmit`, then reads
/// `poll_timeout`, and keeps that deadline until it next calls into the node (or hands it out
/// through [`Mesh::node_mut`]): a node's deadline may change only when something happens to
/// it, which is what lets a step touch only the nodes involved.
pub trait Node {
    /// A datagram from `from` arrived at `now`.
    fn handle_datagram(&mut self, now: Duration, from: SocketAddr, data: &[u8]);
    /// The deadline last returned by [`Node::poll_timeout`] has been reached.
    fn handle_timeout(&mut self, now: Duration);
    /// The next datagram to send, written into `buf`: its destination and length.
    fn poll_transmit(&mut self, now: Duration, buf: &mut [u8]) -> Option<(SocketAddr, usize)>;
    /// When the node next wants [`Node::handle_timeout`].
    fn poll_timeout(&self) -> Option<Duration>;
}

/// Counters over the whole mesh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams nodes sent.
    pub sent: u64,
    /// Datagrams delivered (duplicates included).
    pub delivered: u64,
    /// Lost by a loss model.
    pub lost: u64,
    /// Dropped at a full bottleneck.
    pub queue_drops: u64,
    /// Extra copies created.
    pub duplicated: u64,
    /// Sent to an address no node has.
    pub unroutable: u64,
}

/// Largest datagram a node may send through the mesh.
pub const MAX_DATAGRAM: usize = 65_536;

/// Steps one `run_until` may take without time advancing before it declares a node stuck.
const MAX_STEPS_AT_ONE_INSTANT: u32 = 100_000;

/// N nodes and the links between them.
pub struct Mesh<N> {
    nodes: Vec<(SocketAddr, N)>,
    /// Each node's last `poll_timeout`, or `Err(())` when it may have changed since (read
    /// afresh).
    deadlines: Vec<Result<Option<Duration>, ()>>,
    index: HashMap<SocketAddr, usize>,
    links: HashMap<(usize, usize), Link>,
    default: Netem,
    seed: u64,
    now: Duration,
    in_flight: InFlight,
    stats: Stats,
    buf: Vec<u8>,
}

impl<N: Node> Mesh<N> {
    /// An empty mesh whose links start as `default`, drawing randomness from `seed`.
    pub fn new(default: Netem, seed: u64) -> Self {
        Self {
            nodes: Vec::new(),
            deadlines: Vec::new(),
            index: HashMap::new(),
            links: HashMap::new(),
            default,
            seed,
            now: Duration::ZERO,
            in_flight: InFlight::new(),
            stats: Stats::default(),
            buf: vec![0; MAX_DATAGRAM],
        }
    }

    /// Adds a node reachable at `addr`; returns its index.
    ///
    /// # Panics
    ///
    /// If another node already has `addr` (a test bug).
    pub fn add(&mut self, addr: SocketAddr, node: N) -> usize {
        let i = self.nodes.len();
        assert!(self.index.insert(addr, i).is_none(), "two nodes at {addr}");
        self.nodes.push((addr, node));
        self.deadlines.push(Err(()));
        i
    }

    /// Virtual time now.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &N {
        &self.nodes[i].1
    }

    /// Node `i`, mutably (commands go in here; call [`Mesh::run_until`] to let it act).
    pub fn node_mut(&mut self, i: usize) -> &mut N {
        self.deadlines[i] = Err(());
        &mut self.nodes[i].1
    }

    /// Node `i`'s address.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].0
    }

    /// Sets the impairments from node `from` to node `to` (one direction).
    pub fn set_link(&mut self, from: usize, to: usize, netem: Netem) {
        self.link(from, to).set_config(netem);
    }

    /// Sets the impairments in both directions between `a` and `b`.
    pub fn set_link_both(&mut self, a: usize, b: usize, netem: Netem) {
        self.set_link(a, b, netem);
        self.set_link(b, a, netem);
    }

    /// The link from `from` to `to`, created on first use with the default impairments and a
    /// seed derived from the mesh seed and the pair (so adding links never perturbs others).
    fn link(&mut self, from: usize, to: usize) -> &mut Link {
        let seed = split_mix(self.seed ^ split_mix((from as u64) << 32 | to as u64));
        let default = self.default;
        self.links
            .entry((from, to))
            .or_insert_with(|| Link::new(default, seed))
    }

    /// The next instant something happens: a delivery or a node deadline.
    pub fn next_event(&self) -> Option<Duration> {
        let delivery = self.in_flight.next_arrival();
        let timeout = (0..self.nodes.len()).filter_map(|i| self.deadline(i)).min();
        match (delivery, timeout) {
            (Some(d), Some(t)) => Some(d.min(t)),
            (d, t) => d.or(t),
        }
    }

    /// Advances to the next event and processes everything due then. False if nothing is
    /// scheduled at all.
    pub fn step(&mut self) -> bool {
        self.drain_transmits();
        let Some(at) = self.next_event() else {
            return false;
        };
        self.now = self.now.max(at);
        while let Some(f) = self.in_flight.pop_arrived(self.now) {
            self.stats.delivered += 1;
            self.nodes[f.to]
                .1
                .handle_datagram(self.now, f.from, &f.data);
            self.deadlines[f.to] = Err(());
        }
        let now = self.now;
        for i in 0..self.nodes.len() {
            if self.deadline(i).is_some_and(|t| t <= now) {
                self.nodes[i].1.handle_timeout(now);
                self.deadlines[i] = Err(());
            }
        }
        self.drain_transmits();
        true
    }

    /// Node `i`'s deadline: cached, or read afresh when something happened to it since (the
    /// cache is refilled after each round of transmits).
    fn deadline(&self, i: usize) -> Option<Duration> {
        match self.deadlines[i] {
            Ok(deadline) => deadline,
            Err(()) => self.nodes[i].1.poll_timeout(),
        }
    }

    fn cache_deadlines(&mut self) {
        for (cached, (_, node)) in self.deadlines.iter_mut().zip(&self.nodes) {
            if cached.is_err() {
                *cached = Ok(node.poll_timeout());
            }
        }
    }

    /// Runs every event up to and including `until`, then sets the clock to `until`.
    ///
    /// # Panics
    ///
    /// If a node keeps asking for a deadline at the current instant forever.
    pub fn run_until(&mut self, until: Duration) {
        let mut stuck = 0;
        while let Some(at) = self.next_event() {
            if at > until {
                break;
            }
            let before = self.now;
            self.step();
            stuck = if self.now == before { stuck + 1 } else { 0 };
            assert!(
                stuck < MAX_STEPS_AT_ONE_INSTANT,
                "a node keeps a deadline at {:?} without progress",
                self.now
            );
        }
        self.now = self.now.max(until);
        self.drain_transmits();
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        self.run_until(self.now + duration);
    }

    fn drain_transmits(&mut self) {
        for from in 0..self.nodes.len() {
            loop {
                let now = self.now;
                let (from_addr, node) = &mut self.nodes[from];
                let from_addr = *from_addr;
                let Some((to_addr, len)) = node.poll_transmit(now, &mut self.buf) else {
                    break;
                };
                self.deadlines[from] = Err(());
                self.stats.sent += 1;
                let Some(&to) = self.index.get(&to_addr) else {
                    self.stats.unroutable += 1;
                    continue;
                };
                let data = self.buf[..len].to_vec();
                match self.link(from, to).transmit(now, len) {
                    Fate::Lost => self.stats.lost += 1,
                    Fate::QueueDrop => self.stats.queue_drops += 1,
                    Fate::Delivered(delay, copy) => {
                        if let Some(copy_delay) = copy {
                            self.stats.duplicated += 1;
                            let copy = data.clone();
                            self.in_flight.push(now + copy_delay, to, from_addr, copy);
                        }
                        self.in_flight.push(now + delay, to, from_addr, data);
                    }
                }
            }
        }
        self.cache_deadlines();
    }
}

/// SplitMix64: turns related integers into unrelated seeds.
fn split_mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
