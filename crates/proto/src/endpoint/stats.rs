//! The endpoint's drop and traffic counters.

/// Drops and counters (each drop is counted once, by the first reason found).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams from paths that are no peer's (other than an accepted Hello).
    pub unknown_source: u64,
    /// Datagrams that are not OSP, RTP or RTCP.
    pub unsupported: u64,
    /// OSP frames that failed magic, CRC or decoding.
    pub invalid_control: u64,
    /// Hellos refused (version, id mismatch, no room for a new peer).
    pub refused_hello: u64,
    /// Proofs or leaves with a wrong tag.
    pub bad_tag: u64,
    /// Proofs or leaves bound to a nonce that is not the current one (replays).
    pub stale_nonce: u64,
    /// Messages a peer may not send in its current state.
    pub out_of_state: u64,
    /// Clock replies to probes never sent (or too old).
    pub unmatched_reply: u64,
    /// Clock exchanges the estimator rejected.
    pub rejected_clock: u64,
    /// Media or parity from unknown SSRCs or failing inbound checks.
    pub invalid_media: u64,
    /// Late media packets.
    pub late: u64,
    /// NACKs received that named unknown streams.
    pub invalid_nack: u64,
    /// Packets resent on NACK.
    pub resent: u64,
    /// Resends refused (no longer held, asked again too soon, or over the limit).
    pub resend_refused: u64,
    /// Transmits dropped: queue full.
    pub transmit_overflow: u64,
    /// Events dropped: queue full.
    pub event_overflow: u64,
    /// Audio or stream changes for local stream slots that do not exist (the caller's bug).
    pub no_such_stream: u64,
}
