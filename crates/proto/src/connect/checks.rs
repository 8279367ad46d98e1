//! One peer's connectivity checks (RFC 8445 ideas: one component, regular nomination): the
//! pairs of our bases with its candidates ordered by priority, which to check next, which
//! working pair the controlling side nominates, and when the selected pair is considered lost.
//! The agent sends what this decides.

use std::net::SocketAddr;

use super::Timing;
use super::candidate::{self, Candidate, Kind, PathKind};
use crate::time::Instant;

/// Where a check leaves from on our side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Base {
    /// The session's socket (host and server-reflexive candidates share it).
    Socket,
    /// Our TURN allocation.
    Relay,
}

/// The pair a peer's datagrams travel on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selected {
    /// Our side.
    pub base: Base,
    /// The peer's candidate (`PeerReflexive` when it reached us from an unannounced address).
    pub remote: Candidate,
    /// `direct` or `turn`.
    pub kind: PathKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Waiting,
    InProgress,
    Succeeded,
    Failed,
}

#[derive(Clone, Copy, Debug)]
struct Pair {
    base: Base,
    remote: Candidate,
    priority: u64,
    state: State,
}

/// A check the agent is to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Check {
    pub(crate) base: Base,
    pub(crate) remote: SocketAddr,
    /// Carries USE-CANDIDATE (only the controlling side sets it).
    pub(crate) nominate: bool,
    /// Tests the selected pair (keepalive or silence probe): its failure loses the path.
    pub(crate) liveness: bool,
}

/// What the agent reports after feeding this peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Selected(Selected),
    Lost,
}

/// One remote member's checks.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) user_id: u32,
    controlling: bool,
    remotes: Vec<Candidate>,
    pairs: Vec<Pair>,
    pub(crate) selected: Option<Selected>,
    /// Pairs selected for this peer so far: the first one, then one per change (a rebinding,
    /// an upgrade).
    pub(crate) selections: u64,
    /// The selected pair stopped answering; checks restarted.
    lost: bool,
    /// When the selected pair last proved alive (a check answered, or the driver heard it).
    confirmed_at: Option<Instant>,
    /// The driver reports traffic, so silence on the selected pair means trouble.
    heard: bool,
    liveness_pending: bool,
    next_check_at: Option<Instant>,
    nominate_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    retry_at: Option<Instant>,
    max_remotes: usize,
}

impl Peer {
    pub(crate) fn new(user_id: u32, controlling: bool, max_remotes: usize) -> Self {
        Self {
            user_id,
            controlling,
            remotes: Vec::new(),
            pairs: Vec::new(),
            selected: None,
            selections: 0,
            lost: false,
            confirmed_at: None,
            heard: false,
            liveness_pending: false,
            next_check_at: None,
            nominate_at: None,
            keepalive_at: None,
            retry_at: None,
            max_remotes,
        }
    }

    /// Adds a remote candidate (a duplicate address updates nothing); `false` when the peer's
    /// candidate list is full.
    pub(crate) fn add_remote(&mut self, now: Instant, remote: Candidate, bases: &[Base]) -> bool {
        if self.remotes.iter().any(|r| r.addr == remote.addr) {
            return true;
        }
        if self.remotes.len() >= self.max_remotes {
            return false;
        }
        self.remotes.push(remote);
        for &base in bases {
            if relays_to(base, &remote) {
                self.add_pair(base, remote);
            }
        }
        self.next_check_at.get_or_insert(now);
        true
    }

    /// A new local base (our relayed address): pairs it with every remote candidate.
    pub(crate) fn add_base(&mut self, now: Instant, base: Base) {
        for remote in self.remotes.clone() {
            if relays_to(base, &remote) {
                self.add_pair(base, remote);
            }
        }
        if !self.remotes.is_empty() {
            self.next_check_at.get_or_insert(now);
        }
    }

    fn add_pair(&mut self, base: Base, remote: Candidate) -> usize {
        if let Some(at) = self.find(base, remote.addr) {
            return at;
        }
        let local = local_priority(base);
        let priority = if self.controlling {
            candidate::pair_priority(local, remote.priority)
        } else {
            candidate::pair_priority(remote.priority, local)
        };
        self.pairs.push(Pair {
            base,
            remote,
            priority,
            state: State::Waiting,
        });
        self.pairs.len() - 1
    }

    fn find(&self, base: Base, remote: SocketAddr) -> Option<usize> {
        self.pairs
            .iter()
            .position(|p| p.base == base && p.remote.addr == remote)
    }

    /// The remote candidate at `addr`, if announced or learned.
    pub(crate) fn remote(&self, addr: SocketAddr) -> Option<Candidate> {
        self.remotes.iter().find(|r| r.addr == addr).copied()
    }

    /// The next ordinary check, paced: the best waiting pair whose base `usable` allows.
    pub(crate) fn next_check(
        &mut self,
        now: Instant,
        timing: &Timing,
        usable: impl Fn(Base, SocketAddr) -> bool,
    ) -> Option<Check> {
        if self.next_check_at.is_none_or(|at| at > now) {
            return None;
        }
        let best = self
            .pairs
            .iter_mut()
            .filter(|p| p.state == State::Waiting && usable(p.base, p.remote.addr))
            .max_by_key(|p| p.priority);
        let Some(pair) = best else {
            self.next_check_at = None;
            return None;
        };
        pair.state = State::InProgress;
        self.next_check_at = Some(now + timing.pace);
        Some(Check {
            base: pair.base,
            remote: pair.remote.addr,
            nominate: false,
            liveness: false,
        })
    }

    /// An authenticated check from the peer arrived on `base` from `from`; returns the
    /// triggered check to send back, and the selection a nomination makes.
    pub(crate) fn handle_request(
        &mut self,
        now: Instant,
        timing: &Timing,
        base: Base,
        from: SocketAddr,
        priority: u32,
        use_candidate: bool,
    ) -> (Option<Check>, Option<Change>) {
        let remote = match self.remote(from) {
            Some(remote) => remote,
            None if self.remotes.len() < self.max_remotes => {
                let learned = Candidate {
                    kind: Kind::PeerReflexive,
                    priority,
                    addr: from,
                };
                self.remotes.push(learned);
                learned
            }
            None => return (None, None),
        };
        let at = self.add_pair(base, remote);
        let selected_here = self
            .selected
            .is_some_and(|s| s.base == base && s.remote.addr == from);
        // The peer reached us from somewhere new while the selected pair has gone quiet: its
        // mapping changed (or ours did), so check (and, controlling, nominate) the new pair.
        let moved = !selected_here && self.selected.is_some() && self.stale(now, timing);
        let pair = &mut self.pairs[at];
        let mut triggered = None;
        if matches!(pair.state, State::Waiting | State::Failed) || (moved && self.controlling) {
            pair.state = State::InProgress;
            triggered = Some(Check {
                base,
                remote: from,
                nominate: self.controlling && (moved || self.lost),
                liveness: false,
            });
        }
        let mut change = None;
        if use_candidate && !self.controlling && !selected_here {
            change = Some(self.select(now, timing, at));
        } else if use_candidate && selected_here {
            self.confirmed_at = Some(now);
        }
        (triggered, change)
    }

    /// Our check on (`base`, `remote`) was answered.
    pub(crate) fn handle_success(
        &mut self,
        now: Instant,
        timing: &Timing,
        check: Check,
    ) -> Option<Change> {
        let at = self.find(check.base, check.remote)?;
        self.pairs[at].state = State::Succeeded;
        let is_selected = self
            .selected
            .is_some_and(|s| s.base == check.base && s.remote.addr == check.remote);
        if is_selected {
            self.confirmed_at = Some(now);
            self.liveness_pending = false;
            self.lost = false;
            return None;
        }
        if check.nominate {
            return Some(self.select(now, timing, at));
        }
        if !self.controlling {
            return None;
        }
        let better = self
            .selected
            .is_none_or(|s| self.lost || self.pairs[at].priority > self.priority_of(s));
        if better {
            let settled = self.pairs.iter().all(|p| {
                p.priority <= self.pairs[at].priority
                    || matches!(p.state, State::Failed | State::Succeeded)
            });
            let deadline = if settled || self.lost {
                now
            } else {
                now + timing.nominate_after
            };
            self.nominate_at = Some(self.nominate_at.map_or(deadline, |at| at.min(deadline)));
        }
        None
    }

    /// Our check on (`base`, `remote`) got no answer.
    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        timing: &Timing,
        check: Check,
    ) -> Option<Change> {
        if let Some(at) = self.find(check.base, check.remote) {
            self.pairs[at].state = State::Failed;
        }
        let was_selected = self
            .selected
            .is_some_and(|s| s.base == check.base && s.remote.addr == check.remote);
        if check.liveness {
            self.liveness_pending = false;
        }
        if was_selected && (check.liveness || check.nominate) && !self.lost {
            self.lost = true;
            for pair in &mut self.pairs {
                pair.state = State::Waiting;
            }
            self.next_check_at = Some(now);
            return Some(Change::Lost);
        }
        if self.selected.is_none() && self.pairs.iter().all(|p| p.state == State::Failed) {
            self.retry_at = Some(now + timing.retry);
        }
        None
    }

    /// The driver heard the peer on the selected pair.
    pub(crate) fn handle_heard(&mut self, now: Instant) {
        self.heard = true;
        if self.selected.is_some() {
            self.confirmed_at = Some(now);
        }
    }

    /// Timer work due at `now`: nomination, keepalive or silence probe, retry of failed pairs.
    pub(crate) fn poll_due(&mut self, now: Instant, timing: &Timing) -> Option<Check> {
        if self.retry_at.is_some_and(|at| at <= now) {
            self.retry_at = None;
            for pair in &mut self.pairs {
                if pair.state == State::Failed {
                    pair.state = State::Waiting;
                }
            }
            self.next_check_at = Some(now);
        }
        if self.nominate_at.is_some_and(|at| at <= now) {
            self.nominate_at = None;
            let best = self
                .pairs
                .iter()
                .filter(|p| p.state == State::Succeeded)
                .max_by_key(|p| p.priority)?;
            return Some(Check {
                base: best.base,
                remote: best.remote.addr,
                nominate: true,
                liveness: false,
            });
        }
        let selected = self.selected?;
        let silent = self.heard && self.stale(now, timing);
        let keepalive = self.keepalive_at.is_some_and(|at| at <= now);
        if keepalive && (self.liveness_pending || self.lost) {
            // A liveness check is out, or checks run again: the next keepalive waits.
            self.keepalive_at = Some(now + timing.keepalive);
        }
        if (silent || keepalive) && !self.liveness_pending && !self.lost {
            self.liveness_pending = true;
            self.keepalive_at = Some(now + timing.keepalive);
            return Some(Check {
                base: selected.base,
                remote: selected.remote.addr,
                nominate: self.controlling,
                liveness: true,
            });
        }
        None
    }

    /// When this peer next needs [`Peer::poll_due`] or [`Peer::next_check`].
    pub(crate) fn next_deadline(&self, timing: &Timing) -> Option<Instant> {
        let silence = match (self.heard, self.liveness_pending, self.lost) {
            (true, false, false) => self.confirmed_at.map(|at| at + timing.silence),
            _ => None,
        };
        [
            self.next_check_at,
            self.nominate_at,
            self.keepalive_at,
            self.retry_at,
            silence,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn stale(&self, now: Instant, timing: &Timing) -> bool {
        self.lost
            || self
                .confirmed_at
                .is_none_or(|at| now.saturating_since(at) >= timing.silence)
    }

    fn priority_of(&self, selected: Selected) -> u64 {
        self.find(selected.base, selected.remote.addr)
            .map_or(0, |at| self.pairs[at].priority)
    }

    fn select(&mut self, now: Instant, timing: &Timing, at: usize) -> Change {
        let pair = self.pairs[at];
        let kind = if pair.base == Base::Relay || pair.remote.kind == Kind::Relayed {
            PathKind::Turn
        } else {
            PathKind::Direct
        };
        let selected = Selected {
            base: pair.base,
            remote: pair.remote,
            kind,
        };
        self.selected = Some(selected);
        self.lost = false;
        self.liveness_pending = false;
        self.confirmed_at = Some(now);
        self.keepalive_at = Some(now + timing.keepalive);
        Change::Selected(selected)
    }
}

/// The priority our side of a pair is given: the best host candidate for the socket, relayed
/// for the allocation.
/// Whether `base` is paired with `remote`: every pair but our relayed address with a peer's
/// host candidate. A host address is private to the peer's network, so the TURN server has no
/// route to it; coturn closes the whole allocation when a relayed send fails that way.
pub(crate) fn relays_to(base: Base, remote: &Candidate) -> bool {
    base != Base::Relay || remote.kind != Kind::Host
}

fn local_priority(base: Base) -> u32 {
    match base {
        Base::Socket => candidate::priority(Kind::Host, 65535),
        Base::Relay => candidate::priority(Kind::Relayed, 65535),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relayed_base_pairs_with_every_candidate_but_a_host_one() {
        let mut peer = Peer::new(2, true, 8);
        let now = Instant::from_micros(0);
        let candidates = [
            Candidate::new(Kind::Host, ([169, 254, 2, 2], 5000).into(), 65535),
            Candidate::new(
                Kind::ServerReflexive,
                ([198, 18, 2, 2], 41000).into(),
                65535,
            ),
            Candidate::new(Kind::Relayed, ([198, 18, 0, 1], 49160).into(), 65535),
        ];
        peer.add_remote(now, candidates[0], &[Base::Socket, Base::Relay]);
        peer.add_remote(now, candidates[1], &[Base::Socket]);
        peer.add_remote(now, candidates[2], &[Base::Socket]);
        // The allocation arrives after the candidates.
        peer.add_base(now, Base::Relay);
        let relayed: Vec<Kind> = peer
            .pairs
            .iter()
            .filter(|p| p.base == Base::Relay)
            .map(|p| p.remote.kind)
            .collect();
        assert_eq!(relayed.len(), 2, "{relayed:?}");
        assert!(!relayed.contains(&Kind::Host));
        let direct = peer.pairs.iter().filter(|p| p.base == Base::Socket).count();
        assert_eq!(direct, 3);
    }
}
