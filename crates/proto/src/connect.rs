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
//!                                          // as a slice of `data`
//! agent.frame(route, &mut buf, len)        // payload at buf[HEADROOM..]: framed in place
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
//! | `config` | servers, timing, bounds |
//! | `credentials` | check passwords derived from the room key |
//! | `event` | events, transmits, received payloads, counters |
//! | `message` | STUN decode with integrity/fingerprint checks, ChannelData framing |
//! | `receive` | peers' checks and responses to our requests |
//! | `transactions` | retransmission and response matching |
//! | `turn` | the TURN client: allocation, refresh, permissions, channels |
//!
//! Everything from the network is checked: a response must match an outstanding transaction
//! id and come from where its request went, with a valid FINGERPRINT and (for checks and
//! authenticated TURN) MESSAGE-INTEGRITY; a check must carry our user name and the room-derived
//! integrity. Anything else is counted in [`Stats`] and dropped, and never moves a path.

pub mod candidate;
mod checks;
mod config;
mod credentials;
mod event;
mod message;
mod receive;
mod transactions;
mod turn;

use std::collections::VecDeque;
use std::net::SocketAddr;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use stun_rs::attributes::ice::{IceControlled, IceControlling, Priority, UseCandidate};
use stun_rs::attributes::stun::{Fingerprint, MessageIntegrity, UserName};
use stun_rs::methods::BINDING;
use stun_rs::{HMACKey, MessageClass, StunMessageBuilder};

pub use candidate::{Candidate, Kind, PathKind};
pub use checks::{Base, Selected};
pub use config::{Config, Limits, Timing};
pub use event::{Event, Framed, Received, Stats, Transmit};
pub use transactions::{Retransmit, Route};
pub use turn::Server as TurnServer;

use crate::time::Instant;
use checks::{Change, Check};
use transactions::{Due, Transactions};

/// Bytes [`Agent::frame`] needs in front of a payload: room for a ChannelData header, so a
/// relayed datagram is framed where it lies.
pub const HEADROOM: usize = message::CHANNEL_HEADER;

/// Largest STUN message we build or answer.
const MAX_MESSAGE: usize = 548;

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
    /// A payload on its way into a Send indication (see [`Agent::frame`]).
    indication: Vec<u8>,
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
            indication: Vec::new(),
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

    /// How many pairs were selected for `user_id`: 1 once connected, one more per path change.
    pub fn selections(&self, user_id: u32) -> u64 {
        self.peer(user_id).map_or(0, |p| p.selections)
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

    /// Frames, where it lies, the payload the caller wrote at `buf[HEADROOM..HEADROOM + len]`
    /// for `route`: a direct route sends it as it is; a relayed one over a bound channel gets
    /// its ChannelData header written into the headroom. Only a relayed route whose channel is
    /// not bound yet (a Send indication, 36 bytes more, in the first round trips of a TURN
    /// path) moves the payload, through a buffer the agent keeps, and writes the indication
    /// over `buf` from its start. `None`: no relay for the route, or `buf` too short.
    pub fn frame(&mut self, route: Route, buf: &mut [u8], len: usize) -> Option<Framed> {
        let end = HEADROOM.checked_add(len)?;
        if buf.len() < end {
            return None;
        }
        let peer = match route {
            Route::Direct(dest) => {
                return Some(Framed {
                    dest,
                    range: HEADROOM..end,
                });
            }
            Route::Relayed(peer) => peer,
        };
        let turn = self.turn.as_ref()?;
        let dest = turn.addr();
        if let Some(number) = turn.channel(peer) {
            message::write_channel_header(number, len, buf)?;
            return Some(Framed {
                dest,
                range: 0..end,
            });
        }
        self.indication.clear();
        self.indication.extend_from_slice(&buf[HEADROOM..end]);
        let len = turn.wrap(peer, &self.indication, buf)?;
        Some(Framed {
            dest,
            range: 0..len,
        })
    }

    /// Writes `payload` for `route` into `buf`: as is for a direct route, in ChannelData or a
    /// Send indication for a relayed one (the agent's own checks, which it keeps queued).
    fn wrap(&self, route: Route, payload: &[u8], buf: &mut [u8]) -> Option<Transmit> {
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
        if let Some(turn) = &mut self.turn
            && checks::relays_to(Base::Relay, &candidate)
        {
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

    /// A datagram arrived on the socket from `from`. A payload for the endpoint comes back as
    /// a slice of `data` (a relayed one without its ChannelData header or Data indication
    /// around it): nothing is copied.
    pub fn handle_datagram<'a>(
        &mut self,
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
        let Some((peer, payload)) = self.turn.as_ref().and_then(|t| t.unwrap(data)) else {
            // Unknown channel, or a response to nothing we sent.
            if message::is_stun(data) {
                self.stats.unknown_transaction += 1;
            } else {
                self.stats.malformed += 1;
            }
            return Received::Handled;
        };
        self.handle_from(now, Route::Relayed(peer), &data[payload])
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
                    if self.is_check(&bytes) {
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
    fn is_check(&self, bytes: &[u8]) -> bool {
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
                if let Some(peer) = self.peer_mut(user_id) {
                    peer.selections += 1;
                }
                self.push_event(Event::Selected { user_id, selected });
            }
            Change::Lost => {
                self.stats.lost += 1;
                self.push_event(Event::Lost { user_id });
            }
        }
    }
}

#[cfg(test)]
mod tests;
