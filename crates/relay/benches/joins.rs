//! `osp-relay` costs: JOINs per second through the sans-IO server (parse, the JOIN rules,
//! fan-out, formatting every reply datagram), and heap bytes per member.
//!
//! 100 groups of 16 members (1,600 JOINs, each drained of its replies); the figure is the
//! median of 7 runs. Memory is the live heap (a counting allocator around the system's) after
//! those joins, minus the empty server's, per member: once with no registered candidates and
//! once with the limit of 8 each. Figures only: nothing here asserts a speed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant as Clock;

use proto::rendezvous::{Candidate, CandidateKind, Command, Credentials, Join, MAX_CANDIDATES};
use proto::time::Instant;
use relay::{Config, Server};

/// Counts live heap bytes; the bench is single-threaded, so the figure is exact.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which `System` has too.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above, i.e. from `System`, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as for `dealloc`; `new_size` is the caller's, valid per `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const GROUPS: u32 = 100;
const MEMBERS: u32 = 16;

struct Joiner {
    creds: Vec<Credentials>,
    datagram: Vec<u8>,
    out: Vec<u8>,
}

fn addr(group: u32, member: u32) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(127, 1, group as u8, member as u8), 40_000))
}

impl Joiner {
    fn new() -> Self {
        Self {
            creds: (0..GROUPS)
                .map(|g| Credentials::derive(b"bench secret", &format!("room {g}")))
                .collect(),
            datagram: Vec::with_capacity(256),
            out: Vec::with_capacity(256),
        }
    }

    /// Joins every member, registering `candidates` each; returns the datagrams sent.
    fn fill(&mut self, server: &mut Server, candidates: usize) -> u64 {
        let mut sent = 0;
        let now = Instant::from_micros(1);
        for member in 0..MEMBERS {
            for group in 0..GROUPS {
                let creds = &self.creds[group as usize];
                let from = addr(group, member);
                self.datagram.clear();
                Command::Join(Join {
                    group: creds.group(),
                    password: creds.verifier(),
                    device_name: "bench player",
                    device_id: Some(group * MEMBERS + member),
                })
                .write(&mut self.datagram);
                server.handle_datagram(now, from, &self.datagram);
                for c in 0..candidates {
                    self.datagram.clear();
                    let at = SocketAddr::from((Ipv4Addr::new(169, 254, c as u8, 1), 5000));
                    Command::Cand(Candidate::new(CandidateKind::Host, at))
                        .write(&mut self.datagram);
                    server.handle_datagram(now, from, &self.datagram);
                }
                while server.poll_transmit(&mut self.out).is_some() {
                    sent += 1;
                }
            }
        }
        sent
    }
}

fn server() -> Server {
    Server::new(
        Config {
            max_groups: GROUPS as usize,
            max_members: MEMBERS as usize,
            ..Config::default()
        },
        [1; 32],
        Instant::ZERO,
    )
}

fn main() {
    let mut joiner = Joiner::new();
    let joins = f64::from(GROUPS * MEMBERS);
    let mut rates = Vec::new();
    let mut sent = 0;
    for _ in 0..7 {
        let mut server = server();
        let start = Clock::now();
        sent = joiner.fill(&mut server, 0);
        rates.push(joins / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "joins: {:.0} JOINs/s (median of 7; {} groups × {} members, {sent} reply datagrams formatted per run)",
        rates[3], GROUPS, MEMBERS
    );

    for candidates in [0, MAX_CANDIDATES] {
        let before = LIVE.load(Ordering::Relaxed);
        let mut server = server();
        joiner.fill(&mut server, candidates);
        let after = LIVE.load(Ordering::Relaxed);
        println!(
            "memory: {:.0} heap bytes per member with {candidates} candidates ({} members, {} groups)",
            (after - before) as f64 / joins,
            server.member_count(),
            server.group_count()
        );
        drop(server);
    }
}
