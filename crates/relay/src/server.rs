//! The room server's state machine, sans-IO: [`Server::handle_datagram`] with the sender's
//! address and `now`, then drain [`Server::poll_transmit`]; call [`Server::handle_timeout`]
//! when [`Server::poll_timeout`] passes (the staleness sweep).
//!
//! JOIN follows the dialect's order of checks: an empty group is refused; the joiner leaves
//! any other group; a new group beyond the limit is refused; the first joiner's password (our
//! verifier) becomes the group's and a mismatch is refused; a full group is refused. A JOIN
//! from a member of the same group refreshes it and sends the whole reply sequence again.
//! A JOIN carrying the device id of a member at another address replaces that member: the
//! same player came back from a new address (restart, NAT rebinding).
//!
//! Liveness is any datagram from a member's address, audio included: a player who plays but
//! whose HELLOs are lost is not dropped.
//!
//! `CHARGE` goes to the [`Cashier`] with the device id of the sender's JOIN (in decimal) and
//! is answered `OK:charged:` or `ERR:<refusal>`, counted by outcome. A stranger hears only
//! `not_in_group`, for a CHARGE whose fields parse: that reply is shorter than any such
//! CHARGE, so a forged source address never gets more bytes than the forger sent. Refusals
//! found while parsing are counted but not answered to strangers.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use proto::rendezvous::{
    Candidate, ChargeRequest, Command, ErrorCode, Join, MAX_CANDIDATES, Mode, ParseError, Reply,
    Role, STALE_AFTER, SWEEP_INTERVAL, SessionToken, is_dialect,
};
use proto::time::Instant;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::charge::http::HttpResponse;
use crate::charge::{Cashier, ChargeError, ChargeKey, ChargeLimits};
use crate::counters::Counters;
use crate::group::{Group, Member};

/// A SESSION token older than this is replaced at the member's next re-JOIN (the dialect's
/// spec asks for rotation every hour; clients re-join every 15 s of server silence).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3_600);

/// Limits and timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Groups the server holds at once (the dialect's `max_groups`).
    pub max_groups: usize,
    /// Members one group holds.
    pub max_members: usize,
    /// Candidates one member may register.
    pub max_candidates: usize,
    /// Silence after which a member is dropped.
    pub stale_after: Duration,
    /// How often stale members are looked for.
    pub sweep_interval: Duration,
    /// Balances and remembered charge MACs.
    pub charge: ChargeLimits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_groups: 100,
            max_members: 16,
            max_candidates: MAX_CANDIDATES,
            stale_after: STALE_AFTER,
            sweep_interval: SWEEP_INTERVAL,
            charge: ChargeLimits::default(),
        }
    }
}

/// A datagram to send: `len` bytes of the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where.
    pub destination: SocketAddr,
    /// Bytes written.
    pub len: usize,
}

/// What anyone may learn about a member: who, not where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberView<'a> {
    /// Its OSP user id.
    pub device_id: u32,
    /// The name its JOIN gave.
    pub device_name: &'a str,
    /// Its role in the group.
    pub role: Role,
}

/// The room server.
pub struct Server {
    config: Config,
    groups: HashMap<Box<str>, Group>,
    /// Which group each member address belongs to.
    members: HashMap<SocketAddr, Box<str>>,
    /// Replies wait here, already typed: every [`Reply`] is `Copy`, so queueing one allocates
    /// nothing beyond the queue's own growth.
    outbox: VecDeque<(SocketAddr, Reply)>,
    /// SESSION tokens: unpredictable to anyone without the seed.
    rng: StdRng,
    next_sweep: Instant,
    counters: Counters,
    cashier: Cashier,
}

impl Server {
    /// A server started at `now`. `seed` feeds the SESSION token generator: the binary takes it
    /// from the OS; tests pass a constant.
    pub fn new(config: Config, seed: [u8; 32], now: Instant) -> Self {
        Self {
            config,
            groups: HashMap::new(),
            members: HashMap::new(),
            outbox: VecDeque::new(),
            rng: StdRng::from_seed(seed),
            next_sweep: now + config.sweep_interval,
            counters: Counters::default(),
            cashier: Cashier::new(config.charge),
        }
    }

    /// Enables `CHARGE` with the relay's charge key (without one, every charge is refused
    /// `charge_disabled`).
    pub fn set_charge_key(&mut self, key: ChargeKey) {
        self.cashier.set_key(key);
    }

    /// Ties `now` to the wall clock for the charge time window (see
    /// [`Cashier::set_wall_clock`]): the binary calls it before every datagram.
    pub fn set_wall_clock(&mut self, now: Instant, since_epoch: Duration) {
        self.cashier.set_wall_clock(now, since_epoch);
    }

    /// The balances and the charge checks.
    pub fn cashier(&self) -> &Cashier {
        &self.cashier
    }

    /// Counters since start.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Groups held now.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Members across all groups now.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// A `POST /api/wallet/charge` body, credited to the device id it names when that device
    /// is a current member of any group; counted like a `CHARGE` datagram.
    pub fn charge_http(&mut self, now: Instant, body: &[u8]) -> HttpResponse {
        let groups = &self.groups;
        let outcome = self.cashier.charge_http(now, body, |device_id| {
            // Only the decimal spelling a CHARGE datagram's account has (`7`, never `07`),
            // so one device keeps one balance.
            let Some(id) = device_id
                .parse::<u32>()
                .ok()
                .filter(|id| id.to_string() == device_id)
            else {
                return false;
            };
            groups
                .values()
                .flat_map(|group| &group.members)
                .any(|member| member.device_id == id)
        });
        self.counters.charge.record(&outcome);
        HttpResponse::new(&outcome)
    }

    /// The members of `group` in join order, `None` if there is no such group. Addresses and
    /// session tokens are not part of the view.
    pub fn members(&self, group: &str) -> Option<impl Iterator<Item = MemberView<'_>>> {
        let group = self.groups.get(group)?;
        Some(group.members.iter().map(|member| MemberView {
            device_id: member.device_id,
            device_name: &member.device_name,
            role: member.role,
        }))
    }

    /// Handles one datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.counters.datagrams_in += 1;
        let member = self.touch(now, from);
        if !is_dialect(data) {
            // Audio, clock sync, RTCP, STUN: the OSTP relay will forward members' datagrams
            // from here; until then they only count (and keep their sender alive).
            if member {
                self.counters.binary_from_members += 1;
            } else {
                self.counters.binary_from_strangers += 1;
            }
            return;
        }
        let command = match Command::parse(data) {
            Ok(command) => command,
            Err(ParseError::Unknown) => {
                self.counters.unsupported += 1;
                return;
            }
            Err(ParseError::Charge(refusal)) => {
                let error = ChargeError::from(refusal);
                self.counters.charge.record(&Err(error));
                if member {
                    self.outbox
                        .push_back((from, Reply::Err(ErrorCode::Charge(error.refusal()))));
                }
                return;
            }
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        };
        match command {
            Command::Join(join) => self.join(now, from, join),
            Command::Charge(request) => self.charge(now, from, &request),
            _ if !member => self.counters.not_member += 1,
            Command::Hello => self.counters.hellos += 1,
            Command::Punch => self.counters.punches += 1,
            Command::Leave => {
                self.remove(from);
                self.counters.leaves += 1;
            }
            Command::Mode(mode) => self.set_mode(from, mode),
            Command::Cand(candidate) => self.add_candidate(from, candidate),
        }
    }

    /// The next datagram, written into `buf` (cleared first).
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (destination, reply) = self.outbox.pop_front()?;
        buf.clear();
        reply.write(buf);
        self.counters.datagrams_out += 1;
        Some(Transmit {
            destination,
            len: buf.len(),
        })
    }

    /// When [`Server::handle_timeout`] next has work (the sweep).
    pub fn poll_timeout(&self) -> Instant {
        self.next_sweep
    }

    /// Drops members silent for longer than the staleness timeout and forgets expired charge
    /// MACs, if the sweep is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + self.config.sweep_interval;
        self.cashier.expire(now);
        let stale_after = self.config.stale_after;
        let mut stale = 0;
        for group in self.groups.values_mut() {
            group.members.retain(|m| {
                let alive = now.saturating_since(m.last_seen) < stale_after;
                if !alive {
                    self.members.remove(&m.addr);
                    stale += 1;
                }
                alive
            });
        }
        self.groups.retain(|_, g| !g.members.is_empty());
        self.counters.stale += stale;
    }

    /// Refreshes the sender's liveness; whether it is a member.
    fn touch(&mut self, now: Instant, from: SocketAddr) -> bool {
        let Some(name) = self.members.get(&from) else {
            return false;
        };
        if let Some(member) = self.groups.get_mut(name).and_then(|g| g.member_mut(from)) {
            member.last_seen = now;
        }
        true
    }

    fn refuse(&mut self, to: SocketAddr, code: ErrorCode) {
        let counter = match code {
            ErrorCode::EmptyGroup => &mut self.counters.empty_group,
            ErrorCode::MissingDeviceId => &mut self.counters.missing_device_id,
            ErrorCode::MaxGroups => &mut self.counters.max_groups,
            ErrorCode::WrongPassword => &mut self.counters.wrong_password,
            ErrorCode::GroupFull => &mut self.counters.group_full,
            // Not JOIN refusals: charges are counted by `charge`, the rest never sent.
            ErrorCode::ChannelReserved | ErrorCode::Charge(_) | ErrorCode::Other => {
                &mut self.counters.malformed
            }
        };
        *counter += 1;
        self.outbox.push_back((to, Reply::Err(code)));
    }

    fn join(&mut self, now: Instant, from: SocketAddr, join: Join<'_>) {
        if join.group.is_empty() {
            return self.refuse(from, ErrorCode::EmptyGroup);
        }
        let Some(device_id) = join.device_id else {
            return self.refuse(from, ErrorCode::MissingDeviceId);
        };
        let current = self.members.get(&from).map(|name| &**name == join.group);
        match current {
            Some(true) => return self.rejoin(now, from, join),
            Some(false) => {
                self.remove(from);
                self.counters.leaves += 1;
            }
            None => {}
        }
        if !self.groups.contains_key(join.group) && self.groups.len() >= self.config.max_groups {
            return self.refuse(from, ErrorCode::MaxGroups);
        }
        let max_members = self.config.max_members;
        let group = self
            .groups
            .entry(join.group.into())
            .or_insert_with(|| Group::new(join.password));
        if !group.verifies(join.password) {
            return self.refuse(from, ErrorCode::WrongPassword);
        }
        let previous = group
            .members
            .iter()
            .find(|m| m.device_id == device_id)
            .map(|m| m.addr);
        if previous.is_none() && group.members.len() >= max_members {
            if group.members.is_empty() {
                // Only with `max_members == 0`: do not keep the group just created.
                self.groups.remove(join.group);
            }
            return self.refuse(from, ErrorCode::GroupFull);
        }
        if let Some(previous) = previous {
            self.remove(previous);
            self.counters.replaced += 1;
        }
        let member = Member {
            addr: from,
            device_id,
            device_name: join.device_name.into(),
            session: new_token(&mut self.rng),
            session_since: now,
            // Everyone in a jam plays: roles matter once the server forwards audio.
            role: Role::Dj,
            last_seen: now,
            candidates: Vec::new(),
        };
        let observed = member.observed();
        // Replacing the group's only member removed the group: it comes back with the same
        // (verified) verifier.
        let group = self
            .groups
            .entry(join.group.into())
            .or_insert_with(|| Group::new(join.password));
        for other in &group.members {
            self.outbox.push_back((other.addr, Reply::Peer(from)));
            self.outbox.push_back((
                other.addr,
                Reply::Cand {
                    device_id,
                    candidate: observed,
                },
            ));
        }
        group.members.push(member);
        self.members.insert(from, join.group.into());
        self.counters.joins += 1;
        self.send_sequence(from);
    }

    fn rejoin(&mut self, now: Instant, from: SocketAddr, join: Join<'_>) {
        let Some(group) = self.groups.get_mut(join.group) else {
            return;
        };
        if !group.verifies(join.password) {
            return self.refuse(from, ErrorCode::WrongPassword);
        }
        if let Some(member) = group.member_mut(from) {
            member.last_seen = now;
            if now.saturating_since(member.session_since) >= TOKEN_LIFETIME {
                member.session = new_token(&mut self.rng);
                member.session_since = now;
            }
            if *member.device_name != *join.device_name {
                member.device_name = join.device_name.into();
            }
        }
        self.counters.rejoins += 1;
        self.send_sequence(from);
    }

    /// The JOIN reply sequence to the member at `to`: who it is, then everyone else's
    /// addresses and candidates.
    fn send_sequence(&mut self, to: SocketAddr) {
        let Some(group) = self.members.get(&to).and_then(|name| self.groups.get(name)) else {
            return;
        };
        let Some(member) = group.member(to) else {
            return;
        };
        self.outbox.extend([
            (to, Reply::Joined),
            (to, Reply::Role(member.role)),
            (to, Reply::YourAddr(to)),
            (to, Reply::Session(member.session)),
            (to, Reply::Mode(group.mode)),
        ]);
        for other in group.members.iter().filter(|m| m.addr != to) {
            let device_id = other.device_id;
            self.outbox.push_back((to, Reply::Peer(other.addr)));
            let candidates =
                std::iter::once(other.observed()).chain(other.candidates.iter().copied());
            self.outbox.extend(candidates.map(|candidate| {
                (
                    to,
                    Reply::Cand {
                        device_id,
                        candidate,
                    },
                )
            }));
        }
    }

    fn add_candidate(&mut self, from: SocketAddr, candidate: Candidate) {
        let Some(group) = group_of(&self.members, &mut self.groups, from) else {
            return;
        };
        let Some(member) = group.member_mut(from) else {
            return;
        };
        if member.candidates.contains(&candidate) {
            self.counters.candidates_repeated += 1;
            return;
        }
        if member.candidates.len() >= self.config.max_candidates {
            self.counters.candidates_over_limit += 1;
            return;
        }
        member.candidates.push(candidate);
        let device_id = member.device_id;
        self.counters.candidates += 1;
        let reply = Reply::Cand {
            device_id,
            candidate,
        };
        let others = group.members.iter().filter(|m| m.addr != from);
        self.outbox.extend(others.map(|other| (other.addr, reply)));
    }

    /// A parsed `CHARGE` from `from`, credited to the device id of its JOIN.
    fn charge(&mut self, now: Instant, from: SocketAddr, request: &ChargeRequest) {
        let device_id = group_of(&self.members, &mut self.groups, from)
            .and_then(|group| group.member(from))
            .map(|member| member.device_id.to_string());
        let outcome = self.cashier.charge(now, device_id.as_deref(), request);
        self.counters.charge.record(&outcome);
        let reply = match outcome {
            Ok(receipt) => Reply::Charged {
                balance: receipt.balance,
                amount: receipt.amount,
            },
            Err(error) => Reply::Err(ErrorCode::Charge(error.refusal())),
        };
        self.outbox.push_back((from, reply));
    }

    /// `MODE:` is broadcast; `private` also sends every member every other member's address
    /// (the all-pairs hole-punching hint; members answer each other with `PUNCH`).
    fn set_mode(&mut self, from: SocketAddr, mode: Mode) {
        let Some(group) = group_of(&self.members, &mut self.groups, from) else {
            return;
        };
        group.mode = mode;
        self.counters.mode_changes += 1;
        for member in &group.members {
            self.outbox.push_back((member.addr, Reply::Mode(mode)));
        }
        if mode == Mode::Private {
            for member in &group.members {
                for other in group.members.iter().filter(|o| o.addr != member.addr) {
                    self.outbox
                        .push_back((member.addr, Reply::Peer(other.addr)));
                }
            }
        }
    }

    /// Removes the member at `addr` and its group if it empties.
    fn remove(&mut self, addr: SocketAddr) {
        let Some(name) = self.members.remove(&addr) else {
            return;
        };
        if let Some(group) = self.groups.get_mut(&name) {
            group.remove(addr);
            if group.members.is_empty() {
                self.groups.remove(&name);
            }
        }
    }
}

/// 128 bits from the server's CSPRNG.
fn new_token(rng: &mut StdRng) -> SessionToken {
    let mut token = [0; 16];
    rng.fill_bytes(&mut token);
    SessionToken(token)
}

/// The group of the member at `addr` (a function of the two maps, not a method, so the caller
/// keeps the outbox and counters borrowable beside it).
fn group_of<'a>(
    members: &HashMap<SocketAddr, Box<str>>,
    groups: &'a mut HashMap<Box<str>, Group>,
    addr: SocketAddr,
) -> Option<&'a mut Group> {
    groups.get_mut(members.get(&addr)?)
}

#[cfg(test)]
mod tests;
