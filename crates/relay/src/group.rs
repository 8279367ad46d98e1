//! One group (room) and its members as the server keeps them.

use std::net::SocketAddr;

use proto::rendezvous::{Candidate, CandidateKind, Mode, Role, SessionToken};
use proto::time::Instant;

/// A member of a group.
#[derive(Debug)]
pub(crate) struct Member {
    /// Where the server sees it (its server-reflexive address); replies go here.
    pub(crate) addr: SocketAddr,
    /// Its OSP user id.
    pub(crate) device_id: u32,
    /// A name for people to read (for `MEMBERS` and the stats later).
    pub(crate) device_name: Box<str>,
    /// Bound to `addr` for this membership.
    pub(crate) session: SessionToken,
    /// When `session` was drawn (a re-JOIN after [`crate::server::TOKEN_LIFETIME`] draws a
    /// new one).
    pub(crate) session_since: Instant,
    pub(crate) role: Role,
    /// When the server last heard anything from `addr`.
    pub(crate) last_seen: Instant,
    /// Candidates it registered, at most the configured limit.
    pub(crate) candidates: Vec<Candidate>,
}

impl Member {
    /// The member's address as the server observed it, announced as a `srflx` candidate.
    pub(crate) fn observed(&self) -> Candidate {
        Candidate::new(CandidateKind::Srflx, self.addr)
    }
}

/// A group: the verifier its creator set, its mode and its members in join order.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) verifier: Box<str>,
    pub(crate) mode: Mode,
    pub(crate) members: Vec<Member>,
}

impl Group {
    pub(crate) fn new(verifier: &str) -> Self {
        Self {
            verifier: verifier.into(),
            mode: Mode::Private,
            members: Vec::new(),
        }
    }

    pub(crate) fn member(&self, addr: SocketAddr) -> Option<&Member> {
        self.members.iter().find(|m| m.addr == addr)
    }

    pub(crate) fn member_mut(&mut self, addr: SocketAddr) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.addr == addr)
    }

    /// Removes the member at `addr`, if there is one.
    pub(crate) fn remove(&mut self, addr: SocketAddr) -> Option<Member> {
        let at = self.members.iter().position(|m| m.addr == addr)?;
        Some(self.members.remove(at))
    }

    /// Whether `verifier` is this group's, compared in constant time (the dialect's reference
    /// server compares passwords in plaintext, early-exit).
    pub(crate) fn verifies(&self, verifier: &str) -> bool {
        let (a, b) = (self.verifier.as_bytes(), verifier.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}
