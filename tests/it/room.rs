//! A room of engines on virtual time: each member is a whole engine built by
//! `engine::detached` (controller, processor, sans-IO network side), its datagrams carried by
//! seeded `netsim` links (latency, jitter, loss, reordering per direction), its processor fed
//! 64-sample blocks on its own sample clock (which may run off nominal by some ppm). The whole
//! path from packet to mix runs as in a session, but nothing sleeps or reads a clock: time
//! moves from one event (a block, a delivery, a protocol deadline, a status tick) to the next,
//! so the same seed replays the same run sample for sample, as fast as the audio computes.
//!
//! The test drives the blocks: [`Room::step`] moves to the next block start, runs the network
//! up to it, and hands each member whose block is due to the test's closure, which calls its
//! processor (and its controller when it likes); what the processor queued is sent at once.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use engine::{Config, Controller, ManualClock, Processor};
use netsim::{Fate, InFlight, Link, Netem};
use proto::time::Instant;

/// Frames per block.
pub(crate) const BLOCK: usize = 64;
/// Nominal sample rate.
pub(crate) const RATE: f64 = 48_000.0;

/// Largest datagram a member sends.
const MAX_DATAGRAM: usize = 2_048;

/// Events one [`Room::step`] may handle at one instant before it declares a session stuck.
const MAX_EVENTS_AT_ONE_INSTANT: u32 = 100_000;

/// One engine of the room.
pub(crate) struct Member {
    /// Its control-thread half (its clock is the room's).
    pub(crate) controller: Controller,
    /// Its audio-thread half: the test calls `process` once per block handed to it.
    pub(crate) processor: Processor,
    network: net::Detached,
    addr: SocketAddr,
    /// When its sample clock started, on the room's time.
    start: Duration,
    /// Its sample clock's rate relative to nominal (1 + ppm / 10^6).
    rate: f64,
    /// Blocks it has processed.
    blocks: u64,
    next_status: Duration,
    /// Left the room: no more blocks, datagrams to it are dropped.
    gone: bool,
}

impl Member {
    /// When its next block starts.
    fn next_block(&self) -> Duration {
        let seconds = (self.blocks * BLOCK as u64) as f64 / (RATE * self.rate);
        self.start + Duration::from_secs_f64(seconds)
    }
}

/// What one link direction did to the datagrams sent over it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Traffic {
    /// Datagrams sent.
    pub(crate) sent: u64,
    /// Lost by the loss model.
    pub(crate) lost: u64,
    /// RTP media packets seen for the first time (resends repeat an original's SSRC and
    /// sequence number).
    pub(crate) media: u64,
    /// Originals lost: what the receiver must count as lost.
    pub(crate) media_lost: u64,
}

/// The members, the links between them and the datagrams in flight.
pub(crate) struct Room {
    now: Duration,
    clock: ManualClock,
    members: Vec<Member>,
    default: Netem,
    seed: u64,
    links: BTreeMap<(usize, usize), Link>,
    traffic: BTreeMap<(usize, usize), Traffic>,
    /// Media originals seen per direction, by (SSRC, sequence number).
    originals: BTreeMap<(usize, usize), HashSet<(u32, u16)>>,
    in_flight: InFlight,
    buf: Vec<u8>,
}

impl Room {
    /// An empty room whose links start as `default`, drawing randomness from `seed`.
    pub(crate) fn new(default: Netem, seed: u64) -> Self {
        Self {
            now: Duration::ZERO,
            // Only an origin: the controllers' time is this plus the room's.
            clock: ManualClock::new(std::time::Instant::now()),
            members: Vec::new(),
            default,
            seed,
            links: BTreeMap::new(),
            traffic: BTreeMap::new(),
            originals: BTreeMap::new(),
            in_flight: InFlight::new(),
            buf: vec![0; MAX_DATAGRAM],
        }
    }

    /// The address the next member to join gets.
    pub(crate) fn next_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 10_000 + self.members.len() as u16))
    }

    /// Builds an engine from `config` at [`Room::next_addr`] (its `listen` is ignored) and
    /// starts its sample clock now; returns its index.
    pub(crate) fn join(&mut self, mut config: Config) -> usize {
        config.listen = self.next_addr();
        let (controller, processor, network) =
            engine::detached(config, self.clock.clone()).expect("engine on virtual time");
        self.members.push(Member {
            controller,
            processor,
            network,
            addr: self.next_addr(),
            start: self.now,
            rate: 1.0,
            blocks: 0,
            next_status: self.now,
            gone: false,
        });
        let index = self.members.len() - 1;
        self.flush(index);
        index
    }

    /// How many members have joined (those who left included).
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    /// Member `index`'s address.
    pub(crate) fn addr(&self, index: usize) -> SocketAddr {
        self.members[index].addr
    }

    /// Member `index`.
    pub(crate) fn member(&mut self, index: usize) -> &mut Member {
        &mut self.members[index]
    }

    /// Virtual time since the room opened.
    pub(crate) fn now(&self) -> Duration {
        self.now
    }

    /// Runs member `index`'s sample clock `ppm` parts per million fast (negative: slow).
    pub(crate) fn set_clock_error(&mut self, index: usize, ppm: f64) {
        let member = &mut self.members[index];
        member.start = member.next_block();
        member.blocks = 0;
        member.rate = 1.0 + ppm * 1e-6;
    }

    /// Sets the impairments from `from` to `to` (one direction).
    pub(crate) fn set_link(&mut self, from: usize, to: usize, netem: Netem) {
        self.link(from, to).set_config(netem);
    }

    /// What the link from `from` to `to` did so far.
    pub(crate) fn traffic(&self, from: usize, to: usize) -> Traffic {
        self.traffic.get(&(from, to)).copied().unwrap_or_default()
    }

    /// Member `index` leaves the room: its session says goodbye, its blocks stop.
    pub(crate) fn leave(&mut self, index: usize) {
        let now = instant(self.now);
        self.members[index].network.session.leave(now);
        self.flush(index);
        self.members[index].gone = true;
    }

    /// Moves to the next block start of any member, runs the network up to it, then hands
    /// every member whose block starts then to `each` (in join order), which must process
    /// one block of it; what the block queued is sent at once.
    pub(crate) fn step(&mut self, mut each: impl FnMut(usize, &mut Member)) {
        let Some(at) = self
            .members
            .iter()
            .filter(|m| !m.gone)
            .map(Member::next_block)
            .min()
        else {
            return;
        };
        self.advance_to(at);
        for index in 0..self.members.len() {
            let member = &mut self.members[index];
            if member.gone || member.next_block() != at {
                continue;
            }
            each(index, member);
            member.blocks += 1;
            let now = instant(self.now);
            member.network.poll_requests(now);
            member.network.session.send_audio(now);
            self.flush(index);
        }
    }

    /// Runs blocks for `duration` of virtual time.
    pub(crate) fn run_for(&mut self, duration: Duration, mut each: impl FnMut(usize, &mut Member)) {
        let until = self.now + duration;
        while self
            .members
            .iter()
            .filter(|m| !m.gone)
            .map(Member::next_block)
            .min()
            .is_some_and(|at| at < until)
        {
            self.step(&mut each);
        }
    }

    /// Handles every delivery, protocol deadline and status tick up to `until`, in time order.
    fn advance_to(&mut self, until: Duration) {
        let mut at_one_instant = 0;
        while let Some(at) = self.next_network_event().filter(|&at| at <= until) {
            at_one_instant = if at == self.now {
                at_one_instant + 1
            } else {
                0
            };
            assert!(
                at_one_instant < MAX_EVENTS_AT_ONE_INSTANT,
                "a session keeps a deadline at {at:?} without progress"
            );
            self.set_now(at);
            let now = instant(at);
            while let Some(datagram) = self.in_flight.pop_arrived(at) {
                let member = &mut self.members[datagram.to];
                if member.gone {
                    continue;
                }
                member
                    .network
                    .session
                    .handle_datagram(now, datagram.from, &datagram.data);
                self.flush(datagram.to);
            }
            for index in 0..self.members.len() {
                let member = &mut self.members[index];
                if member.gone {
                    continue;
                }
                member.network.poll_requests(now);
                if member
                    .network
                    .session
                    .poll_timeout()
                    .is_some_and(|deadline| deadline <= now)
                {
                    member.network.session.handle_timeout(now);
                }
                if member.next_status <= at {
                    member.network.session.tick(now);
                    member.next_status = at + STATUS_INTERVAL;
                }
                self.flush(index);
            }
        }
        self.set_now(until);
    }

    fn set_now(&mut self, at: Duration) {
        self.now = self.now.max(at);
        self.clock.set(self.now);
    }

    /// The next delivery, protocol deadline or status tick.
    fn next_network_event(&self) -> Option<Duration> {
        let delivery = self.in_flight.next_arrival();
        let members = self.members.iter().filter(|m| !m.gone);
        let sessions = members.flat_map(|m| {
            let deadline = m.network.session.poll_timeout().map(Instant::as_duration);
            [deadline, Some(m.next_status)]
        });
        delivery.into_iter().chain(sessions.flatten()).min()
    }

    /// Carries what member `from` has to send into the links.
    fn flush(&mut self, from: usize) {
        let now = self.now;
        loop {
            let member = &mut self.members[from];
            let Some((to_addr, range)) = member.network.session.poll_transmit(&mut self.buf) else {
                break;
            };
            let len = range.len();
            member.network.session.note_sent(len);
            let from_addr = member.addr;
            let to = self
                .members
                .iter()
                .position(|m| m.addr == to_addr && !m.gone);
            let Some(to) = to else {
                continue;
            };
            let data = self.buf[range].to_vec();
            let media = osp_netem::media_id(&data, &[engine::PT_L24, engine::PT_OPUS])
                .is_some_and(|id| self.originals.entry((from, to)).or_default().insert(id));
            let fate = self.link(from, to).transmit(now, len);
            let traffic = self.traffic.entry((from, to)).or_default();
            traffic.sent += 1;
            traffic.media += u64::from(media);
            match fate {
                Fate::Lost | Fate::QueueDrop => {
                    traffic.lost += 1;
                    traffic.media_lost += u64::from(media);
                }
                Fate::Delivered(delay, copy) => {
                    if let Some(copy) = copy {
                        self.in_flight.push(now + copy, to, from_addr, data.clone());
                    }
                    self.in_flight.push(now + delay, to, from_addr, data);
                }
            }
        }
    }

    /// The link from `from` to `to`, created on first use with the default impairments and a
    /// seed of its own (adding a member does not change the others' draws).
    fn link(&mut self, from: usize, to: usize) -> &mut Link {
        let pair = ((from as u64) << 32) | to as u64;
        let seed = self.seed ^ pair.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let default = self.default;
        self.links
            .entry((from, to))
            .or_insert_with(|| Link::new(default, seed))
    }
}

/// How often each session publishes its status and hears the playout delays (the driver's
/// default).
const STATUS_INTERVAL: Duration = Duration::from_millis(100);

/// The room's time as the protocol counts it.
fn instant(at: Duration) -> Instant {
    Instant::from_duration(at)
}
