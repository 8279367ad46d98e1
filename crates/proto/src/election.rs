//! Which member's clock is the session master (`docs/protocol.md` §10, "Election").
//!
//! This module owns the election state machine: the own priority (from RTT samples to the other
//! members), the priorities the other members announce in their OSP 0x0303 `MasterElection`
//! candidacies, the master each member claims, silence detection, and the hysteresis that stops
//! the master flapping. It never reads a clock or touches the wire: the driver passes `now`, RTT
//! samples, candidacies and "heard a packet from" notices in, and takes candidacies to send,
//! [`Event`]s and the next deadline out.
//!
//! # The rule
//!
//! - **Priority** = `0xFFFF_FFFF − median RTT (µs)` to the other members over the last 10 s,
//!   recomputed every 5 s. The median is taken per peer over its samples in the window, then
//!   across peers (each peer counts once, however often it is probed). A member with no samples
//!   in the window has priority **0** ("unknown"); a measured priority is at least 1, so 0 never
//!   means a measurement.
//! - **Highest priority wins; ties → lowest `user_id`**. On the wire ids are
//!   [`candidate_string`]s (8 lowercase hex digits), whose byte order is the numeric order.
//! - **Re-election without hysteresis** when the master leaves ([`MasterElection::remove`]) or
//!   is silent for 5 s (no candidacy, no RTT sample, no [`MasterElection::handle_heard`]).
//! - **Hysteresis**: a candidate displaces the master only after beating it by more than 20 % for
//!   10 s continuously. Priorities sit just below 2^32, so a 20 % margin on the priority itself
//!   would never trigger; "beats by > 20 %" is defined on the RTT part:
//!   `(0xFFFF_FFFF − p_candidate) < 0.8 × (0xFFFF_FFFF − p_master)`, evaluated in exact integer
//!   arithmetic as `5 × rtt_candidate < 4 × rtt_master`. A master whose own priority is unknown
//!   (0) hands over to a measured candidate at once: there is no measurement to protect.
//!
//! # Who decides
//!
//! Members hear candidacies at different times, so independent hysteresis timers would disagree
//! near the boundary. Instead the **master decides handovers** and the others follow the master's
//! claim (`current_master_id`) in its next candidacy, which goes out at once after a change:
//!
//! - A member that has heard no other member's candidacy is alone: its own master, claiming none
//!   (`claimed_master = None`, "not part of an election yet").
//! - On hearing the first candidacy it **joins**: the best-ranked member claiming itself master,
//!   else a master named by another member's claim, else the bare rule (highest priority, lowest
//!   id). A newcomer so adopts the incumbent instead of re-deciding without its history.
//! - The master applies the hysteresis to the announced priorities and, when a candidate has
//!   won, names it in its candidacy; followers switch on that claim.
//! - Two members claiming themselves (a simultaneous start, a healed partition) are resolved by
//!   the bare rule's order: the better-ranked one is followed, the other yields when it hears it.
//! - When the master leaves or is silent, every member applies the bare rule to the same announced
//!   priorities, so the views agree up to message delay; any split is resolved as above.
//!
//! Claims that differ from our view are counted ([`MasterElection::disagreements`]).
//!
//! # Driver contract
//!
//! Candidacies go out every 5 s, exactly the silence timeout, so candidacies alone cannot keep a
//! master alive under jitter: call [`MasterElection::handle_heard`] for every packet from a
//! member (OSP Ping/Pong arrive every second) or feed RTT samples, which count as hearing from
//! the peer.
//!
//! # Bounds
//!
//! At most `max_members − 1` other members are tracked, each with a fixed ring of
//! `samples_per_peer` RTT samples allocated when the member is first seen; input naming further
//! members is ignored and counted ([`MasterElection::ignored`]). At most one event is pending:
//! successive changes coalesce into one `from → to`.

use std::time::Duration;

use crate::time::Instant;

/// `user_id` as the wire's `candidate_id` string: 8 lowercase hex digits, so that the string's
/// byte order is the numeric order (the rule's tie break works on either form).
pub fn candidate_string(user_id: u32) -> String {
    format!("{user_id:08x}")
}

/// Parses a [`candidate_string`]: exactly 8 hex digits (either case). `None` for anything else.
pub fn parse_candidate(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// The priority of a member whose median RTT to the others is `rtt`: `0xFFFF_FFFF − µs`,
/// clamped to at least 1 (0 is reserved for "unknown").
pub fn priority_for_rtt(rtt: Duration) -> u32 {
    let micros = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX);
    (u32::MAX - micros).max(1)
}

/// Whether `candidate` beats `master` by more than 20 % on the RTT part of the priority
/// (`rtt = 0xFFFF_FFFF − priority`): `rtt_candidate < 0.8 × rtt_master`.
pub fn beats_by_margin(candidate: u32, master: u32) -> bool {
    let rtt_candidate = u64::from(u32::MAX - candidate);
    let rtt_master = u64::from(u32::MAX - master);
    5 * rtt_candidate < 4 * rtt_master
}

/// Election parameters; [`Config::default`] is the rule of `docs/protocol.md` §10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Members including this one; input about further members is ignored and counted.
    pub max_members: usize,
    /// RTT samples kept per peer (a ring). At the 1 s Ping rate 16 covers the 10 s window; at
    /// higher probe rates the median is over the newest samples only.
    pub samples_per_peer: usize,
    /// RTT samples older than this do not count (10 s).
    pub rtt_window: Duration,
    /// The own priority is recomputed and a candidacy emitted this often (5 s).
    pub candidacy_interval: Duration,
    /// A member not heard from for this long is dropped; a silent master is replaced (5 s).
    pub silence_timeout: Duration,
    /// A candidate must beat the master by > 20 % for this long to displace it (10 s).
    pub hysteresis_hold: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            // 8 performers per room (docs/protocol.md §10, "Bounds") with room to spare.
            max_members: 16,
            samples_per_peer: 16,
            rtt_window: Duration::from_secs(10),
            candidacy_interval: Duration::from_secs(5),
            silence_timeout: Duration::from_secs(5),
            hysteresis_hold: Duration::from_secs(10),
        }
    }
}

/// What the election reports to the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The master changed (`from` is `None` only for the first event, when this member starts
    /// as its own master).
    MasterChanged {
        /// The previous master.
        from: Option<u32>,
        /// The new master.
        to: u32,
    },
}

/// One candidacy to send as OSP 0x0303 `MasterElection`: `candidate_id` =
/// [`candidate_string`]`(candidate)`, `priority`, `current_master_id` = the master's string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidacy {
    /// This member's id.
    pub candidate: u32,
    /// This member's priority (0 = unknown).
    pub priority: u32,
    /// The master in this member's view.
    pub master: Option<u32>,
}

/// One RTT sample.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    at: Instant,
    micros: u32,
}

/// Another member as this one sees it.
#[derive(Clone, Debug)]
struct Member {
    id: u32,
    /// Announced priority; `None` until its first candidacy (not a candidate until then).
    priority: Option<u32>,
    /// The master it last claimed.
    claimed: Option<u32>,
    /// [`MasterElection::candidacies`] when that claim arrived: claims older than our last
    /// change of master were made without knowing it and are not acted on.
    claimed_seq: u64,
    last_heard: Instant,
    /// Since when it has beaten the master by the margin without interruption.
    beating_since: Option<Instant>,
    /// Ring of RTT samples from this member to us; `len` valid, `head` is the next write.
    samples: Box<[Sample]>,
    head: usize,
    len: usize,
}

impl Member {
    fn new(id: u32, now: Instant, ring: usize) -> Self {
        Self {
            id,
            priority: None,
            claimed: None,
            claimed_seq: 0,
            last_heard: now,
            beating_since: None,
            samples: vec![Sample::default(); ring.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }
}

/// The master election state machine of one member.
///
/// Run loop: after any input, send [`MasterElection::poll_candidacy`]'s candidacy if any, drain
/// [`MasterElection::poll_event`], then wait for [`MasterElection::poll_timeout`] and call
/// [`MasterElection::handle_timeout`]. Every input taking `now` also runs whatever timers are
/// due, so late timer calls only delay, never change, the outcome.
#[derive(Clone, Debug)]
pub struct MasterElection {
    self_id: u32,
    config: Config,
    /// Other members, at most `max_members − 1`.
    members: Vec<Member>,
    priority: u32,
    master: u32,
    /// Heard another member's candidacy and took part in the election (see the module docs).
    joined: bool,
    /// Candidacies received so far (orders claims against changes of master).
    candidacies: u64,
    /// `candidacies` at our last change of master.
    changed_seq: u64,
    /// The master before the last change.
    previous: u32,
    /// Next own-priority recomputation and candidacy; `ZERO` until the first `now`, so the
    /// first call announces us at once.
    next_candidacy: Instant,
    candidacy_pending: bool,
    /// Pending change, coalesced: (first `from`, latest `to`).
    event: Option<(Option<u32>, u32)>,
    /// Scratch for medians: one peer's samples, then the per-peer medians.
    scratch: Vec<u32>,
    medians: Vec<u32>,
    median_rtt: Option<Duration>,
    ignored: u64,
    disagreements: u64,
}

impl MasterElection {
    /// A member alone in its session, hence its own master (an initial
    /// `MasterChanged { from: None, to: self_id }` is pending). `max_members` is taken as at
    /// least 1.
    pub fn new(self_id: u32, config: Config) -> Self {
        let others = config.max_members.max(1) - 1;
        Self {
            self_id,
            config,
            members: Vec::with_capacity(others),
            priority: 0,
            master: self_id,
            joined: false,
            candidacies: 0,
            changed_seq: 0,
            previous: self_id,
            next_candidacy: Instant::ZERO,
            candidacy_pending: true,
            event: Some((None, self_id)),
            scratch: Vec::with_capacity(config.samples_per_peer.max(1)),
            medians: Vec::with_capacity(others),
            median_rtt: None,
            ignored: 0,
            disagreements: 0,
        }
    }

    /// One RTT sample from this member to `peer` (e.g. from an OSP Pong or the clock
    /// estimator). Counts as hearing from `peer`.
    pub fn record_rtt(&mut self, now: Instant, peer: u32, rtt: Duration) {
        if let Some(i) = self.member_index_or_insert(now, peer) {
            let m = &mut self.members[i];
            m.last_heard = m.last_heard.max(now);
            let cap = m.samples.len();
            m.samples[m.head] = Sample {
                at: now,
                micros: u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX),
            };
            m.head = (m.head + 1) % cap;
            m.len = (m.len + 1).min(cap);
        }
        self.advance(now);
    }

    /// Any packet from `user_id` arrived: it is alive.
    pub fn handle_heard(&mut self, now: Instant, user_id: u32) {
        if let Some(i) = self.member_index_or_insert(now, user_id) {
            let m = &mut self.members[i];
            m.last_heard = m.last_heard.max(now);
        }
        self.advance(now);
    }

    /// A received OSP 0x0303 candidacy (ids parsed with [`parse_candidate`]; drop the message
    /// if `candidate_id` does not parse). Candidacies claiming our own id, or from members beyond
    /// `max_members`, are ignored and counted.
    pub fn handle_candidacy(
        &mut self,
        now: Instant,
        candidate: u32,
        priority: u32,
        claimed_master: Option<u32>,
    ) {
        let Some(i) = self.member_index_or_insert(now, candidate) else {
            self.advance(now);
            return;
        };
        self.candidacies += 1;
        let m = &mut self.members[i];
        m.last_heard = m.last_heard.max(now);
        m.priority = Some(priority);
        m.claimed = claimed_master;
        m.claimed_seq = self.candidacies;
        if claimed_master.is_some_and(|c| c != self.master) {
            self.disagreements += 1;
        }
        self.advance(now);
    }

    /// `user_id` left the session (OSP UserLeave, Disconnect, or the link closed). If it was the
    /// master, a new one is elected at once.
    pub fn remove(&mut self, now: Instant, user_id: u32) {
        self.members.retain(|m| m.id != user_id);
        self.advance(now);
    }

    /// Runs the timers due at `now`: silence, own priority and candidacy, hysteresis.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// Asks for a candidacy at the next [`MasterElection::poll_candidacy`]: a member that just
    /// connected learns the election's state now instead of at the next interval (up to 5 s
    /// with two views of the master, hence two beat grids).
    pub fn announce(&mut self) {
        self.candidacy_pending = true;
    }

    /// The candidacy to send now, if one is due: every `candidacy_interval`, and at once after
    /// the master changed in our view. Runs due timers first.
    pub fn poll_candidacy(&mut self, now: Instant) -> Option<Candidacy> {
        self.advance(now);
        if !self.candidacy_pending {
            return None;
        }
        self.candidacy_pending = false;
        Some(Candidacy {
            candidate: self.self_id,
            priority: self.priority,
            master: self.joined.then_some(self.master),
        })
    }

    /// The next change of master in our view (successive changes coalesce).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.event
            .take()
            .map(|(from, to)| Event::MasterChanged { from, to })
    }

    /// The next deadline: candidacy, a member's silence timeout, or a hysteresis hold ending.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let hold = self.config.hysteresis_hold;
        let silence = self
            .members
            .iter()
            .map(|m| m.last_heard + self.config.silence_timeout);
        let holds = self
            .members
            .iter()
            .filter_map(|m| m.beating_since)
            .map(|t| t + hold);
        silence.chain(holds).chain(Some(self.next_candidacy)).min()
    }

    /// The master in this member's view. Always `Some`: a lone member is its own master.
    pub fn master(&self) -> Option<u32> {
        Some(self.master)
    }

    /// This member's priority as last computed (0 = no RTT samples in the window).
    pub fn priority(&self) -> u32 {
        self.priority
    }

    /// The median RTT behind [`MasterElection::priority`], if any samples were in the window.
    pub fn median_rtt(&self) -> Option<Duration> {
        self.median_rtt
    }

    /// This member's id.
    pub fn self_id(&self) -> u32 {
        self.self_id
    }

    /// Other members currently tracked (heard within the silence timeout).
    pub fn members(&self) -> impl Iterator<Item = u32> + '_ {
        self.members.iter().map(|m| m.id)
    }

    /// The priority `user_id` last announced (own id: [`MasterElection::priority`]).
    pub fn priority_of(&self, user_id: u32) -> Option<u32> {
        if user_id == self.self_id {
            return Some(self.priority);
        }
        self.members
            .iter()
            .find(|m| m.id == user_id)
            .and_then(|m| m.priority)
    }

    /// Inputs ignored: our own id echoed back, or members beyond `max_members`.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Candidacies whose claimed master differed from ours when they arrived (transient during
    /// a handover; persistent counts mean the members disagree on inputs).
    pub fn disagreements(&self) -> u64 {
        self.disagreements
    }

    fn member_index_or_insert(&mut self, now: Instant, id: u32) -> Option<usize> {
        if id == self.self_id {
            self.ignored += 1;
            return None;
        }
        if let Some(i) = self.members.iter().position(|m| m.id == id) {
            return Some(i);
        }
        if self.members.len() + 1 >= self.config.max_members.max(1) {
            self.ignored += 1;
            return None;
        }
        self.members
            .push(Member::new(id, now, self.config.samples_per_peer));
        Some(self.members.len() - 1)
    }

    /// Whether `id` can be master: ourselves, or a member whose priority we know.
    fn is_candidate(&self, id: u32) -> bool {
        id == self.self_id
            || self
                .members
                .iter()
                .any(|m| m.id == id && m.priority.is_some())
    }

    fn advance(&mut self, now: Instant) {
        let silence = self.config.silence_timeout;
        self.members
            .retain(|m| now.saturating_since(m.last_heard) < silence);
        if now >= self.next_candidacy {
            self.recompute_priority(now);
            self.candidacy_pending = true;
            self.next_candidacy = now + self.config.candidacy_interval;
        }
        self.elect(now);
    }

    fn recompute_priority(&mut self, now: Instant) {
        let window = self.config.rtt_window;
        self.medians.clear();
        for m in &self.members {
            self.scratch.clear();
            self.scratch.extend(
                m.samples[..m.len]
                    .iter()
                    .filter(|s| now.saturating_since(s.at) < window)
                    .map(|s| s.micros),
            );
            if let Some(median) = median(&mut self.scratch) {
                self.medians.push(median);
            }
        }
        self.median_rtt = median(&mut self.medians).map(|us| Duration::from_micros(us.into()));
        self.priority = self.median_rtt.map_or(0, priority_for_rtt);
    }

    /// Applies the rule to the current priorities and claims (see the module docs).
    fn elect(&mut self, now: Instant) {
        if !self.members.iter().any(|m| m.priority.is_some()) {
            self.joined = false;
            self.set_master(self.self_id);
            return;
        }
        if !self.joined {
            // Our lone mastership does not count as a claim: `joined` is still false here.
            let target = self
                .best_self_claimer()
                .or_else(|| self.claimed_candidate())
                .unwrap_or_else(|| self.best());
            self.joined = true;
            // The claim goes from none to `target`: announce it.
            self.candidacy_pending = true;
            self.set_master(target);
        }
        if !self.is_candidate(self.master) {
            // The master left or fell silent: no hysteresis.
            self.set_master(self.best());
        }
        if let Some(rival) = self.best_self_claimer()
            && rival != self.master
            && self.outranks(rival, self.master)
        {
            self.set_master(rival);
        }
        if self.master != self.self_id {
            // Follow the master's own word on who is master, except a claim for the master we
            // just left made before the master heard of the change (a handover in flight).
            let named = self
                .members
                .iter()
                .find(|m| m.id == self.master)
                .filter(|m| m.claimed_seq > self.changed_seq || m.claimed != Some(self.previous))
                .and_then(|m| m.claimed);
            if let Some(next) = named.filter(|&c| self.is_candidate(c)) {
                self.set_master(next);
            }
        }
        if self.master == self.self_id {
            self.hand_over(now);
        } else {
            for m in &mut self.members {
                m.beating_since = None;
            }
        }
    }

    /// As master: hand over to a candidate that has led by the margin for the hold time.
    fn hand_over(&mut self, now: Instant) {
        let own = self.priority;
        let best = self.best();
        if own == 0 && self.priority_of(best).is_some_and(|p| p > 0) {
            self.set_master(best);
            return;
        }
        let hold = self.config.hysteresis_hold;
        let mut due: Option<(u32, u32)> = None;
        for m in &mut self.members {
            let Some(p) = m.priority.filter(|&p| beats_by_margin(p, own)) else {
                m.beating_since = None;
                continue;
            };
            let since = *m.beating_since.get_or_insert(now);
            if now.saturating_since(since) >= hold
                && due.is_none_or(|(id, q)| better(p, m.id, q, id))
            {
                due = Some((m.id, p));
            }
        }
        if let Some((id, _)) = due {
            self.set_master(id);
        }
    }

    /// Whether `a` ranks above `b` by the bare rule.
    fn outranks(&self, a: u32, b: u32) -> bool {
        let pa = self.priority_of(a).unwrap_or(0);
        let pb = self.priority_of(b).unwrap_or(0);
        better(pa, a, pb, b)
    }

    /// The best-ranked member claiming to be master (ourselves included when we are).
    fn best_self_claimer(&self) -> Option<u32> {
        let mut best: Option<(u32, u32)> =
            (self.joined && self.master == self.self_id).then_some((self.self_id, self.priority));
        for m in &self.members {
            if let (Some(p), Some(c)) = (m.priority, m.claimed) {
                let fresh = !self.joined || m.claimed_seq > self.changed_seq;
                if c == m.id && fresh && best.is_none_or(|(id, q)| better(p, m.id, q, id)) {
                    best = Some((m.id, p));
                }
            }
        }
        best.map(|(id, _)| id)
    }

    /// A master named by some member's claim that can be master (a known candidate or us).
    fn claimed_candidate(&self) -> Option<u32> {
        self.members
            .iter()
            .filter_map(|m| m.claimed)
            .find(|&c| self.is_candidate(c))
    }

    /// The best candidate by the rule: highest priority, then lowest id.
    fn best(&self) -> u32 {
        let mut best = (self.self_id, self.priority);
        for m in &self.members {
            if let Some(p) = m.priority
                && better(p, m.id, best.1, best.0)
            {
                best = (m.id, p);
            }
        }
        best.0
    }

    fn set_master(&mut self, to: u32) {
        if to == self.master {
            return;
        }
        let from = self.event.map_or(Some(self.master), |(from, _)| from);
        self.event = (from != Some(to)).then_some((from, to));
        self.previous = self.master;
        self.master = to;
        self.changed_seq = self.candidacies;
        self.candidacy_pending = true;
        // Leads were measured against the old master.
        for m in &mut self.members {
            m.beating_since = None;
        }
    }
}

/// Whether (priority `p`, id `id`) ranks above (`q`, `other`): higher priority, then lower id.
fn better(p: u32, id: u32, q: u32, other: u32) -> bool {
    p > q || (p == q && id < other)
}

/// Median (mean of the two middle values for an even count), reordering `values`.
fn median(values: &mut [u32]) -> Option<u32> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    values.sort_unstable();
    let hi = values[n / 2];
    if n % 2 == 1 {
        return Some(hi);
    }
    let lo = values[n / 2 - 1];
    Some(((u64::from(lo) + u64::from(hi)) / 2) as u32)
}

#[cfg(test)]
mod tests;
