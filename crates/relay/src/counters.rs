//! What the server did and dropped, by reason: every refused or ignored datagram lands in
//! exactly one counter, so `--stats` explains any traffic.

use std::fmt;

use crate::charge::ChargeCounters;

/// Counts since the server started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams fed in.
    pub datagrams_in: u64,
    /// Datagrams handed out.
    pub datagrams_out: u64,
    /// JOINs accepted for a new member.
    pub joins: u64,
    /// JOINs from a member of that group: liveness refreshed, the reply sequence sent again.
    pub rejoins: u64,
    /// Members replaced by a JOIN of the same device id from another address (a restart or a
    /// NAT rebinding).
    pub replaced: u64,
    /// Members that sent `LEAVE`.
    pub leaves: u64,
    /// Members dropped after the staleness timeout.
    pub stale: u64,
    /// `HELLO`s from members.
    pub hellos: u64,
    /// `PUNCH`es that reached the server (members punch each other; harmless).
    pub punches: u64,
    /// `MODE` changes.
    pub mode_changes: u64,
    /// Candidates registered and fanned out.
    pub candidates: u64,
    /// Candidates a member had already registered: not fanned out again.
    pub candidates_repeated: u64,
    /// Candidates beyond the per-member limit: dropped.
    pub candidates_over_limit: u64,
    /// `ERR:empty_group`.
    pub empty_group: u64,
    /// `ERR:missing_device_id`.
    pub missing_device_id: u64,
    /// `ERR:max_groups`.
    pub max_groups: u64,
    /// `ERR:wrong_password`.
    pub wrong_password: u64,
    /// `ERR:group_full`.
    pub group_full: u64,
    /// Member commands (`HELLO`, `LEAVE`, `MODE`, `CAND`, `PUNCH`) from an address that is no
    /// member: dropped without a reply (a reply would make the server a reflector).
    pub not_member: u64,
    /// Dialect text that does not parse: dropped.
    pub malformed: u64,
    /// Well-formed dialect commands the server does not handle (yet): dropped.
    pub unsupported: u64,
    /// Binary datagrams (audio, clock sync, RTCP, STUN) from members: counted as liveness,
    /// not forwarded yet.
    pub binary_from_members: u64,
    /// Binary datagrams from anyone else: dropped.
    pub binary_from_strangers: u64,
    /// `CHARGE`s by outcome.
    pub charge: ChargeCounters,
}

impl fmt::Display for Counters {
    /// One line of `name=value` pairs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = [
            ("in", self.datagrams_in),
            ("out", self.datagrams_out),
            ("joins", self.joins),
            ("rejoins", self.rejoins),
            ("replaced", self.replaced),
            ("leaves", self.leaves),
            ("stale", self.stale),
            ("hellos", self.hellos),
            ("punches", self.punches),
            ("mode_changes", self.mode_changes),
            ("candidates", self.candidates),
            ("candidates_repeated", self.candidates_repeated),
            ("candidates_over_limit", self.candidates_over_limit),
            ("empty_group", self.empty_group),
            ("missing_device_id", self.missing_device_id),
            ("max_groups", self.max_groups),
            ("wrong_password", self.wrong_password),
            ("group_full", self.group_full),
            ("not_member", self.not_member),
            ("malformed", self.malformed),
            ("unsupported", self.unsupported),
            ("binary_from_members", self.binary_from_members),
            ("binary_from_strangers", self.binary_from_strangers),
        ];
        for (i, (name, value)) in fields.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={value}")?;
        }
        write!(f, " {}", self.charge)
    }
}
