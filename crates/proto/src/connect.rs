//! Connectivity: candidates and connectivity checks on the session's one UDP socket, sans-IO.
//!
//! The [`Agent`] gathers our candidates (host addresses from the driver, a server-reflexive
//! one by STUN Binding, a relayed one by TURN Allocate), takes the peers' candidates (from the
//! room server's `CAND:` lines), checks pairs ICE-style with short-term credentials derived from
//! the room key, and reports per peer the [`Selected`] pair and its [`PathKind`]. It keeps that
//! pair alive (keepalive checks, silence probes) and finds a new one when a NAT mapping changes.
//!
//! ```text
//! agent.handle_datagram(now, from, data)   // STUN/TURN is consumed; anything else comes back
//! agent.add_remote_candidate(now, user_id, candidate)
//! agent.handle_heard(now, user_id)         // the endpoint heard the peer on its path
//! while let Some(t) = agent.poll_transmit(&mut buf) { /* send buf[..t.len] to t.dest */ }
//! while let Some(ev) = agent.poll_event() { /* Candidate, Selected, Lost, .. */ }
//! agent.poll_timeout()                     // then handle_timeout(deadline)
//! ```
//!
//! Why not str0m's ICE agent (published as the `is` crate, 0.12): it is sans-IO and well kept,
//! but it runs on `std::time::Instant` (this crate's clock is a µs [`Instant`] that tests drive
//! virtually, and reading the OS clock is banned here), it parses STUN with its own codec while
//! TURN needs a second one on the same socket, it has no TURN client (relayed candidates are
//! the caller's problem), and its liveness timing is fixed where a jam needs a mapping change
//! healed within 2 s while keepalives stay at 15 s. What OSP Jam needs is small: one component,
//! regular nomination, a controlling side fixed by user id (no role conflicts), so the agent is
//! written here on top of the `stun-rs` codec.
//!
//! | module | owns |
//! |---|---|
//! | `candidate` | candidate kinds and RFC 8445 priorities, `direct`/`turn` |
//! | `checks` | one peer's pairs, pacing, nomination, liveness |
//! | `credentials` | check passwords derived from the room key |
//! | `message` | STUN decode with integrity/fingerprint checks, ChannelData framing |
//! | `transactions` | retransmission and response matching |
//! | `turn` | the TURN client: allocation, refresh, permissions, channels |
//!
//! Everything from the network is checked: a response must match an outstanding transaction
//! id and come from where its request went, with a valid FINGERPRINT and (for checks and
//! authenticated TURN) MESSAGE-INTEGRITY; a check must carry our user name and the room-derived
//! integrity. Anything else is counted in [`Stats`] and dropped, and never moves a path.

pub mod candidate;
mod checks;
mod credentials;
mod message;
mod transactions;
mod turn;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use stun_rs::attributes::ice::{IceControlled, IceControlling, Priority, UseCandidate};
use stun_rs::attributes::stun::{Fingerprint, MessageIntegrity, UserName, XorMappedAddress};
use stun_rs::methods::BINDING;
use stun_rs::{HMACKey, MessageClass, StunMessageBuilder};

pub use candidate::{Candidate, Kind, PathKind};
pub use checks::{Base, Selected};
pub use transactions::{Retransmit, Route};
pub use turn::Server as TurnServer;

use crate::auth::RoomKey;
use crate::time::Instant;
use checks::{Change, Check};
use message::Reject;
use transactions::{Due, Transactions};

/// Largest STUN message we build or answer.
const MAX_MESSAGE: usize = 548;

/// How the agent paces and times out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Between two ordinary checks to one peer (RFC 8445's Ta).
    pub pace: Duration,
    /// Retransmission of checks (fails after [`Retransmit::lifetime`], just over 1 s).
    pub check: Retransmit,
    /// Retransmission of STUN and TURN server requests.
    pub server: Retransmit,
    /// How long the controlling side waits for better pairs after one works.
    pub nominate_after: Duration,
    /// Check on the selected pair this often (holds NAT bindings, proves consent).
    pub keepalive: Duration,
    /// Nothing heard on the selected pair for this long starts a liveness probe.
    pub silence: Duration,
    /// With every pair failed and none selected, try them all again after this.
    pub retry: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            pace: Duration::from_millis(20),
            check: Retransmit {
                rto: Duration::from_millis(100),
                max_rto: Duration::from_millis(200),
                sends: 6,
            },
            server: Retransmit {
                rto: Duration::from_millis(250),
                max_rto: Duration::from_secs(2),
                sends: 7,
            },
            nominate_after: Duration::from_millis(200),
            keepalive: Duration::from_secs(15),
            silence: Duration::from_millis(300),
            retry: Duration::from_secs(2),
        }
    }
}

/// Bounds on what remote input can make the agent hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Peers.
    pub peers: usize,
    /// Candidates per peer (announced and learned).
    pub candidates: usize,
    /// Outstanding requests.
    pub transactions: usize,
    /// Queued datagrams and events (beyond: dropped and counted).
    pub queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            peers: 32,
            candidates: 16,
            transactions: 256,
            queue: 512,
        }
    }
}

/// What the agent is told at start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our user id (the lower id of a pair controls nomination).
    pub user_id: u32,
    /// The room key: check credentials derive from it.
    pub key: RoomKey,
    /// The socket's own addresses (best first).
    pub host: Vec<SocketAddr>,
    /// A STUN server for the server-reflexive candidate.
    pub stun: Option<SocketAddr>,
    /// A TURN server for the relayed candidate.
    pub turn: Option<TurnServer>,
    /// Pacing and timeouts.
    pub timing: Timing,
    /// Bounds.
    pub limits: Limits,
    /// Seed of the transaction ids.
    pub seed: u64,
}

/// A datagram to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where.
    pub dest: SocketAddr,
    /// Bytes written to the buffer.
    pub len: usize,
}

/// What the agent reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A local candidate to announce to the room (`CAND:`).
    Candidate(Candidate),
    /// Datagrams to `user_id` go on this pair from now on.
    Selected {
        /// The peer.
        user_id: u32,
        /// The pair.
        selected: Selected,
    },
    /// The selected pair to `user_id` stopped answering; checks run again.
    Lost {
        /// The peer.
        user_id: u32,
    },
    /// The STUN server never answered.
    StunFailed,
    /// The TURN server refused (its error code) or never answered (0).
    TurnFailed {
        /// The STUN error code (401 wrong credentials, 486 quota, ..), 0 for no answer.
        code: u16,
    },
}

/// What [`Agent::handle_datagram`] made of a datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// STUN or TURN: consumed (or dropped and counted).
    Handled,
    /// Someone else's datagram (OSP, OSTP, ..) that came on `route`: for the endpoint.
    Payload {
        /// Direct from an address, or relayed by our TURN server from a peer address.
        route: Route,
        /// Its bytes (the ChannelData header removed).
        data: &'a [u8],
    },
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Checks sent (retransmissions included).
    pub checks_sent: u64,
    /// Authenticated checks answered.
    pub checks_answered: u64,
    /// Responses matching no outstanding transaction id: dropped.
    pub unknown_transaction: u64,
    /// Responses from an address their request did not go to: dropped.
    pub wrong_source: u64,
    /// Bad MESSAGE-INTEGRITY (a stranger, or tampering): dropped.
    pub bad_integrity: u64,
    /// Bad FINGERPRINT: dropped.
    pub bad_fingerprint: u64,
    /// A required attribute missing: dropped.
    pub missing_attribute: u64,
    /// Undecodable STUN or ChannelData: dropped.
    pub malformed: u64,
    /// Checks naming someone else, or a peer we do not know: dropped.
    pub unknown_peer: u64,
    /// Limits reached (peers, candidates, transactions, queue): dropped.
    pub over_limit: u64,
    /// Pairs selected (the first per peer included).
    pub selections: u64,
    /// Selected pairs lost.
    pub lost: u64,
}

impl Stats {
    fn count(&mut self, reject: Reject) {
        match reject {
            Reject::Malformed => self.malformed += 1,
            Reject::Fingerprint => self.bad_fingerprint += 1,
            Reject::Integrity => self.bad_integrity += 1,
            Reject::Missing => self.missing_attribute += 1,
        }
    }
}

/// What an outstanding request was for.
#[derive(Clone, Copy, Debug)]
enum Purpose {
    Binding,
    Turn(turn::Request),
    Check { user_id: u32, check: Check },
}

/// The connectivity agent of one session socket.
#[derive(Debug)]
pub struct Agent {
    config: Config,
    rng: Pcg64Mcg,
    credentials: credentials::Credentials,
    own_key: HMACKey,
    transactions: Transactions<Purpose>,
    turn: Option<turn::Client>,
    peers: Vec<checks::Peer>,
    local: Vec<Candidate>,
    mapped: Option<SocketAddr>,
    out: VecDeque<(Route, Vec<u8>)>,
    events: VecDeque<Event>,
    scratch: Vec<u8>,
    started: bool,
    stats: Stats,
}

impl Agent {
    /// A new agent; it starts gathering at its first [`Agent::handle_timeout`]
    /// ([`Agent::poll_timeout`] asks for it at once).
    pub fn new(config: Config) -> Self {
        let credentials = credentials::Credentials::new(&config.key);
        Self {
            rng: Pcg64Mcg::seed_from_u64(config.seed),
            own_key: credentials.key_of(config.user_id),
            credentials,
            transactions: Transactions::new(config.limits.transactions),
            turn: config.turn.clone().map(|server| {
                turn::Client::new(server, config.limits.candidates * config.limits.peers)
            }),
            peers: Vec::new(),
            local: Vec::new(),
            mapped: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            scratch: Vec::new(),
            started: false,
            stats: Stats::default(),
            config,
        }
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Our candidates gathered so far.
    pub fn local_candidates(&self) -> &[Candidate] {
        &self.local
    }

    /// Our address as the STUN (or TURN) server saw it.
    pub fn server_reflexive(&self) -> Option<SocketAddr> {
        self.mapped
    }

    /// Our relayed address on the TURN server.
    pub fn relayed(&self) -> Option<SocketAddr> {
        self.turn.as_ref()?.relayed()
    }

    /// The TURN server's address (datagrams from it are TURN: RFC 7983 demultiplexing).
    pub fn turn_server(&self) -> Option<SocketAddr> {
        Some(self.turn.as_ref()?.addr())
    }

    /// The pair selected for `user_id`.
    pub fn selected(&self, user_id: u32) -> Option<Selected> {
        self.peer(user_id)?.selected
    }

    /// Where datagrams for `user_id` go: the selected pair's route.
    pub fn route(&self, user_id: u32) -> Option<Route> {
        let selected = self.selected(user_id)?;
        Some(match selected.base {
            Base::Socket => Route::Direct(selected.remote.addr),
            Base::Relay => Route::Relayed(selected.remote.addr),
        })
    }

    /// The peer whose selected pair is `route`.
    pub fn peer_on(&self, route: Route) -> Option<u32> {
        self.peers
            .iter()
            .find(|p| p.selected.is_some() && self.route(p.user_id) == Some(route))
            .map(|p| p.user_id)
    }

    /// Frames `payload` for `route` into `buf`: as is for a direct route, in ChannelData (4
    /// bytes more) or a Send indication for a relayed one. Returns where to send it.
    pub fn wrap(&self, route: Route, payload: &[u8], buf: &mut [u8]) -> Option<Transmit> {
        match route {
            Route::Direct(dest) => {
                buf.get_mut(..payload.len())?.copy_from_slice(payload);
                Some(Transmit {
                    dest,
                    len: payload.len(),
                })
            }
            Route::Relayed(peer) => {
                let turn = self.turn.as_ref()?;
                let len = turn.wrap(peer, payload, buf)?;
                Some(Transmit {
                    dest: turn.addr(),
                    len,
                })
            }
        }
    }

    /// A peer's candidate (from the room's `CAND:` line). The first one for a user starts
    /// checks with it; the lower user id controls.
    pub fn add_remote_candidate(&mut self, now: Instant, user_id: u32, candidate: Candidate) {
        if user_id == self.config.user_id {
            return;
        }
        if self.peer(user_id).is_none() {
            if self.peers.len() >= self.config.limits.peers {
                self.stats.over_limit += 1;
                return;
            }
            let controlling = self.config.user_id < user_id;
            self.peers.push(checks::Peer::new(
                user_id,
                controlling,
                self.config.limits.candidates,
            ));
        }
        let bases = self.bases();
        let Some(peer) = self.peer_mut(user_id) else {
            return;
        };
        if !peer.add_remote(now, candidate, &bases) {
            self.stats.over_limit += 1;
            return;
        }
        if let Some(turn) = &mut self.turn {
            for request in turn.want_peer(candidate.addr) {
                self.send_turn(now, request);
            }
        }
        self.run_checks(now);
    }

    /// Forgets a peer (it left the room).
    pub fn remove_peer(&mut self, user_id: u32) {
        self.peers.retain(|p| p.user_id != user_id);
        self.transactions
            .cancel(|p| matches!(p, Purpose::Check { user_id: u, .. } if *u == user_id));
    }

    /// The endpoint heard `user_id` on its selected route: the pair is alive without a check.
    pub fn handle_heard(&mut self, now: Instant, user_id: u32) {
        if let Some(peer) = self.peer_mut(user_id) {
            peer.handle_heard(now);
        }
    }

    /// A datagram arrived on the socket from `from`.
    pub fn handle_datagram<'a>(
        &'a mut self,
        now: Instant,
        from: SocketAddr,
        data: &'a [u8],
    ) -> Received<'a> {
        let from_turn = self.turn.as_ref().is_some_and(|t| t.addr() == from);
        if !from_turn {
            return self.handle_from(now, Route::Direct(from), data);
        }
        if message::is_stun(data)
            && message::transaction_id(data).is_some_and(|id| {
                self.transactions
                    .get(&id)
                    .is_some_and(|t| matches!(t.purpose, Purpose::Turn(_)))
            })
        {
            self.handle_response(now, Route::Direct(from), data);
            return Received::Handled;
        }
        let Some((peer, relayed)) = self.turn.as_ref().and_then(|t| t.unwrap(data)) else {
            // Unknown channel, or a response to nothing we sent.
            if message::is_stun(data) {
                self.stats.unknown_transaction += 1;
            } else {
                self.stats.malformed += 1;
            }
            return Received::Handled;
        };
        match relayed {
            turn::Relayed::Channel(offset) => {
                self.handle_from(now, Route::Relayed(peer), &data[offset..])
            }
            turn::Relayed::Indication(payload) => {
                self.scratch = payload;
                let scratch = std::mem::take(&mut self.scratch);
                if message::is_stun(&scratch) {
                    self.handle_stun(now, Route::Relayed(peer), &scratch);
                    self.scratch = scratch;
                    return Received::Handled;
                }
                self.scratch = scratch;
                Received::Payload {
                    route: Route::Relayed(peer),
                    data: &self.scratch,
                }
            }
        }
    }

    fn handle_from<'a>(&mut self, now: Instant, route: Route, data: &'a [u8]) -> Received<'a> {
        if data.first().is_some_and(|b| *b < 4) && message::is_stun(data) {
            self.handle_stun(now, route, data);
            return Received::Handled;
        }
        if data.first().is_some_and(|b| *b < 4) {
            self.stats.malformed += 1;
            return Received::Handled;
        }
        Received::Payload { route, data }
    }

    fn handle_stun(&mut self, now: Instant, route: Route, data: &[u8]) {
        // Class bits of the message type (RFC 5389 §6): 00 request, 10/11 responses.
        let class = ((data[0] & 0x01) << 1) | ((data[1] & 0x10) >> 4);
        match class {
            0b00 => self.handle_request(now, route, data),
            0b10 | 0b11 => self.handle_response(now, route, data),
            // Indications from peers (RFC 8445 allows Binding indications as keepalives).
            _ => {}
        }
    }

    /// The next datagram to send, written into `buf`.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some((route, bytes)) = self.out.pop_front() {
            if let Some(transmit) = self.wrap(route, &bytes, buf) {
                return Some(transmit);
            }
            self.stats.over_limit += 1;
        }
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Agent::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.started {
            return Some(Instant::from_micros(0));
        }
        let timing = self.config.timing;
        let peers = self
            .peers
            .iter()
            .filter_map(|p| p.next_deadline(&timing))
            .min();
        let turn = self.turn.as_ref().and_then(turn::Client::next_deadline);
        [peers, turn, self.transactions.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Deadline work: gathering at the first call, retransmissions, timeouts, refreshes,
    /// paced checks, nominations, keepalives.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.started {
            self.start(now);
        }
        while let Some(due) = self.transactions.pop_due(now) {
            match due {
                Due::Resend(route, bytes) => {
                    if self.transactions_purpose_is_check(&bytes) {
                        self.stats.checks_sent += 1;
                    }
                    self.queue(route, bytes);
                }
                Due::TimedOut(transaction) => {
                    self.handle_transaction_timeout(now, transaction.purpose)
                }
            }
        }
        let due = self
            .turn
            .as_mut()
            .map(|t| t.poll_due(now))
            .unwrap_or_default();
        for request in due {
            self.send_turn(now, request);
        }
        let timing = self.config.timing;
        let mut due = Vec::new();
        for peer in &mut self.peers {
            if let Some(check) = peer.poll_due(now, &timing) {
                due.push((peer.user_id, check));
            }
        }
        for (user_id, check) in due {
            self.send_check(now, user_id, check);
        }
        self.run_checks(now);
    }

    /// Whether a retransmitted request is a check (its USERNAME-bearing Binding goes to a
    /// peer, not a server), for the `checks_sent` counter.
    fn transactions_purpose_is_check(&self, bytes: &[u8]) -> bool {
        message::transaction_id(bytes)
            .and_then(|id| self.transactions.get(&id))
            .is_some_and(|t| matches!(t.purpose, Purpose::Check { .. }))
    }

    fn start(&mut self, now: Instant) {
        self.started = true;
        let count = self.config.host.len();
        for (rank, addr) in self.config.host.clone().into_iter().enumerate() {
            let preference = 65535 - u16::try_from(rank.min(count)).unwrap_or(u16::MAX);
            self.add_local(Candidate::new(Kind::Host, addr, preference));
        }
        if let Some(server) = self.config.stun {
            let request = StunMessageBuilder::new(BINDING, MessageClass::Request)
                .with_transaction_id(message::new_transaction_id(&mut self.rng))
                .with_attribute(Fingerprint::default())
                .build();
            if let Some(bytes) = message::encode(&request, MAX_MESSAGE) {
                self.start_transaction(now, Route::Direct(server), Purpose::Binding, bytes);
            }
        }
        if self.turn.is_some() {
            self.send_turn(now, turn::Request::Allocate);
        }
    }

    fn add_local(&mut self, candidate: Candidate) {
        if self
            .local
            .iter()
            .any(|c| c.addr == candidate.addr && c.kind == candidate.kind)
        {
            return;
        }
        self.local.push(candidate);
        self.push_event(Event::Candidate(candidate));
    }

    fn bases(&self) -> Vec<Base> {
        let mut bases = vec![Base::Socket];
        if self.relayed().is_some() {
            bases.push(Base::Relay);
        }
        bases
    }

    fn peer(&self, user_id: u32) -> Option<&checks::Peer> {
        self.peers.iter().find(|p| p.user_id == user_id)
    }

    fn peer_mut(&mut self, user_id: u32) -> Option<&mut checks::Peer> {
        self.peers.iter_mut().find(|p| p.user_id == user_id)
    }

    /// Sends every paced check that is due.
    fn run_checks(&mut self, now: Instant) {
        let timing = self.config.timing;
        let turn = self.turn.as_ref();
        let mut due = Vec::new();
        for peer in &mut self.peers {
            let usable = |base: Base, remote: SocketAddr| match base {
                Base::Socket => true,
                Base::Relay => turn.is_some_and(|t| t.channel(remote).is_some()),
            };
            if let Some(check) = peer.next_check(now, &timing, usable) {
                due.push((peer.user_id, check));
            }
        }
        for (user_id, check) in due {
            self.send_check(now, user_id, check);
        }
    }

    fn send_check(&mut self, now: Instant, user_id: u32, check: Check) {
        if self.peer(user_id).is_none() {
            return;
        }
        let controlling = self.config.user_id < user_id;
        let priority = candidate::priority(Kind::PeerReflexive, 65535);
        let tie_breaker = u64::from(self.config.user_id);
        let mut builder = StunMessageBuilder::new(BINDING, MessageClass::Request)
            .with_transaction_id(message::new_transaction_id(&mut self.rng))
            .with_attribute(
                UserName::try_from(credentials::username(user_id, self.config.user_id))
                    .unwrap_or_else(|_| unreachable!("hex digits and a colon are a valid name")),
            )
            .with_attribute(Priority::new(priority));
        builder = if controlling {
            builder.with_attribute(IceControlling::new(tie_breaker))
        } else {
            builder.with_attribute(IceControlled::new(tie_breaker))
        };
        if check.nominate {
            builder = builder.with_attribute(UseCandidate::default());
        }
        let request = builder
            .with_attribute(MessageIntegrity::new(self.credentials.key_of(user_id)))
            .with_attribute(Fingerprint::default())
            .build();
        let Some(bytes) = message::encode(&request, MAX_MESSAGE) else {
            return;
        };
        let route = match check.base {
            Base::Socket => Route::Direct(check.remote),
            Base::Relay => Route::Relayed(check.remote),
        };
        self.stats.checks_sent += 1;
        self.start_transaction(now, route, Purpose::Check { user_id, check }, bytes);
    }

    fn send_turn(&mut self, now: Instant, request: turn::Request) {
        let Some(turn) = &self.turn else {
            return;
        };
        let Some((_, bytes)) = turn.build(request, &mut self.rng) else {
            return;
        };
        let route = Route::Direct(turn.addr());
        self.start_transaction(now, route, Purpose::Turn(request), bytes);
    }

    fn start_transaction(&mut self, now: Instant, route: Route, purpose: Purpose, bytes: Vec<u8>) {
        let Some(id) = message::transaction_id(&bytes) else {
            return;
        };
        let policy = match purpose {
            Purpose::Check { .. } => self.config.timing.check,
            _ => self.config.timing.server,
        };
        if !self
            .transactions
            .start(now, id, route, purpose, bytes.clone(), policy)
        {
            self.stats.over_limit += 1;
            return;
        }
        self.queue(route, bytes);
    }

    fn queue(&mut self, route: Route, bytes: Vec<u8>) {
        if self.out.len() >= self.config.limits.queue {
            self.stats.over_limit += 1;
            return;
        }
        self.out.push_back((route, bytes));
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() >= self.config.limits.queue {
            self.stats.over_limit += 1;
            return;
        }
        self.events.push_back(event);
    }

    fn apply(&mut self, user_id: u32, change: Change) {
        match change {
            Change::Selected(selected) => {
                self.stats.selections += 1;
                self.push_event(Event::Selected { user_id, selected });
            }
            Change::Lost => {
                self.stats.lost += 1;
                self.push_event(Event::Lost { user_id });
            }
        }
    }

    /// A connectivity check from a peer.
    fn handle_request(&mut self, now: Instant, route: Route, data: &[u8]) {
        let decoded = match message::decode(data, Some(&self.own_key), true) {
            Ok(decoded) if decoded.method() == BINDING => decoded,
            Ok(_) => return self.stats.count(Reject::Malformed),
            Err(reject) => return self.stats.count(reject),
        };
        let names = decoded
            .get::<UserName>()
            .and_then(|a| a.as_user_name().ok())
            .and_then(|n| credentials::parse_username(n.as_str()));
        let Some((to, from_user)) = names else {
            return self.stats.count(Reject::Missing);
        };
        if to != self.config.user_id || self.peer(from_user).is_none() {
            self.stats.unknown_peer += 1;
            return;
        }
        let from = match route {
            Route::Direct(addr) | Route::Relayed(addr) => addr,
        };
        let response = StunMessageBuilder::new(BINDING, MessageClass::SuccessResponse)
            .with_transaction_id(*decoded.transaction_id())
            .with_attribute(XorMappedAddress::from(from))
            .with_attribute(MessageIntegrity::new(self.own_key.clone()))
            .with_attribute(Fingerprint::default())
            .build();
        if let Some(bytes) = message::encode(&response, MAX_MESSAGE) {
            self.queue(route, bytes);
        }
        self.stats.checks_answered += 1;
        let priority = decoded
            .get::<Priority>()
            .and_then(|a| a.as_priority().ok())
            .map_or(0, |p| p.as_u32());
        let use_candidate = decoded.get::<UseCandidate>().is_some();
        let base = match route {
            Route::Direct(_) => Base::Socket,
            Route::Relayed(_) => Base::Relay,
        };
        let timing = self.config.timing;
        let Some(peer) = self.peer_mut(from_user) else {
            return;
        };
        let (triggered, change) =
            peer.handle_request(now, &timing, base, from, priority, use_candidate);
        if let Some(change) = change {
            self.apply(from_user, change);
        }
        if let Some(check) = triggered {
            if base == Base::Relay
                && let Some(turn) = &mut self.turn
            {
                for request in turn.want_peer(from) {
                    self.send_turn(now, request);
                }
            }
            self.send_check(now, from_user, check);
        }
    }

    /// A response: to our STUN Binding, a TURN request, or a check.
    fn handle_response(&mut self, now: Instant, route: Route, data: &[u8]) {
        let Some(id) = message::transaction_id(data) else {
            return self.stats.count(Reject::Malformed);
        };
        let Some(transaction) = self.transactions.get(&id) else {
            self.stats.unknown_transaction += 1;
            return;
        };
        if transaction.route != route {
            self.stats.wrong_source += 1;
            return;
        }
        let purpose = transaction.purpose;
        match purpose {
            Purpose::Binding => {
                let decoded = match message::decode(data, None, false) {
                    Ok(decoded) => decoded,
                    Err(reject) => return self.stats.count(reject),
                };
                let Some(mapped) = decoded
                    .get::<XorMappedAddress>()
                    .and_then(|a| a.as_xor_mapped_address().ok())
                    .map(|a| *a.socket_address())
                else {
                    return self.stats.count(Reject::Missing);
                };
                self.transactions.take(&id);
                self.mapped = Some(mapped);
                self.add_local(Candidate::new(Kind::ServerReflexive, mapped, 65535));
            }
            Purpose::Turn(request) => {
                let Some(turn) = &mut self.turn else {
                    return;
                };
                let outcome = turn.handle_response(now, request, data);
                if let turn::Outcome::Rejected(reject) = outcome {
                    return self.stats.count(reject);
                }
                self.transactions.take(&id);
                self.handle_turn_outcome(now, outcome);
            }
            Purpose::Check { user_id, check } => {
                let key = self.credentials.key_of(user_id);
                match message::decode(data, Some(&key), true) {
                    Ok(decoded) if decoded.class() == MessageClass::SuccessResponse => {}
                    Ok(_) => {
                        // An error response (e.g. 487 role conflict cannot happen with roles
                        // fixed by user id): the pair fails like a timeout.
                        self.transactions.take(&id);
                        return self.handle_transaction_timeout(now, purpose);
                    }
                    Err(reject) => return self.stats.count(reject),
                }
                self.transactions.take(&id);
                let timing = self.config.timing;
                let change = self
                    .peer_mut(user_id)
                    .and_then(|p| p.handle_success(now, &timing, check));
                if let Some(change) = change {
                    self.apply(user_id, change);
                }
            }
        }
    }

    fn handle_turn_outcome(&mut self, now: Instant, outcome: turn::Outcome) {
        match outcome {
            turn::Outcome::Allocated { relayed, mapped } => {
                if let Some(mapped) = mapped
                    && self.mapped.is_none()
                {
                    self.mapped = Some(mapped);
                    self.add_local(Candidate::new(Kind::ServerReflexive, mapped, 65534));
                }
                self.add_local(Candidate::new(Kind::Relayed, relayed, 65535));
                let requests = self
                    .turn
                    .as_ref()
                    .map(turn::Client::bindings)
                    .unwrap_or_default();
                for request in requests {
                    self.send_turn(now, request);
                }
                for peer in &mut self.peers {
                    peer.add_base(now, Base::Relay);
                }
            }
            turn::Outcome::Retry(request) => self.send_turn(now, request),
            turn::Outcome::Bound(_) => self.run_checks(now),
            turn::Outcome::Done | turn::Outcome::Rejected(_) => {}
            turn::Outcome::Failed(code) => self.push_event(Event::TurnFailed { code }),
        }
    }

    fn handle_transaction_timeout(&mut self, now: Instant, purpose: Purpose) {
        match purpose {
            Purpose::Binding => self.push_event(Event::StunFailed),
            Purpose::Turn(turn::Request::Allocate | turn::Request::Refresh) => {
                self.push_event(Event::TurnFailed { code: 0 });
            }
            Purpose::Turn(_) => {}
            Purpose::Check { user_id, check } => {
                let timing = self.config.timing;
                let change = self
                    .peer_mut(user_id)
                    .and_then(|p| p.handle_timeout(now, &timing, check));
                if let Some(change) = change {
                    self.apply(user_id, change);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
