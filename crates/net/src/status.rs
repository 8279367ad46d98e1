//! The session as the control thread sees it: peers, counters, the room's transport and the
//! session clock, refreshed by the network side every status interval.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

pub use proto::connect::PathKind;
use proto::osp::message::{StreamEncoding, StreamInfo};
pub use proto::path::Path;

/// One connected peer as the control thread sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeerStatus {
    /// Its id.
    pub user_id: u32,
    /// Smoothed round-trip time.
    pub rtt: Option<Duration>,
    /// RFC 3550 interarrival jitter of its audio.
    pub jitter: Duration,
    /// Fraction of its packets lost since the first (before recovery), 0..=1: `lost / expected`.
    pub loss: f64,
    /// Packets expected from it.
    pub expected: u64,
    /// Packets lost on the way, summed over its streams (the recovery's count: an original
    /// that only came late, after its parity or before any resend could have, is not lost).
    pub lost: u64,
    /// Losses repaired by parity or resend in time.
    pub recovered: u64,
    /// Losses the network side gave up on (concealed by the audio thread).
    pub missing: u64,
    /// Losses still awaited now (NACKed or waiting for parity).
    pub pending: u64,
    /// Originals that arrived after their deadline.
    pub late: u64,
    /// Its clock minus ours, µs (the session master's clock defines the beat grid).
    pub clock_offset_us: Option<f64>,
    /// The path its media takes (and ours to it): direct today, a relay track once relays
    /// exist.
    pub path: Option<Path>,
    /// `direct` or `turn`, when NAT traversal chose the path (`None`: given by address).
    pub path_kind: Option<PathKind>,
    /// Paths NAT traversal selected to it so far: 1 once connected, one more per change (a
    /// rebinding, an upgrade).
    pub path_selections: u64,
    /// The streams it announced, in its order: what we receive from it and how it is encoded.
    pub streams: Vec<RemoteStream>,
}

/// One stream a peer sends us, as it announced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteStream {
    /// Its OSTP stream id.
    pub stream_id: u16,
    /// Its encoding.
    pub encoding: StreamEncoding,
    /// Its RTP payload type.
    pub payload_type: u8,
    /// Samples per channel per packet (48 kHz).
    pub frame_samples: u32,
    /// 1 or 2.
    pub channels: u8,
}

impl From<&StreamInfo> for RemoteStream {
    fn from(info: &StreamInfo) -> Self {
        Self {
            stream_id: info.stream_id,
            encoding: info.encoding,
            payload_type: info.payload_type,
            frame_samples: info.frame_samples,
            channels: info.channels,
        }
    }
}

impl fmt::Display for RemoteStream {
    /// As a player reads it: "Opus 2.5 ms", "L24 1.3 ms", "L16 mono 5 ms".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.encoding {
            StreamEncoding::Opus => "Opus",
            StreamEncoding::L16 => "L16",
            StreamEncoding::L24 => "L24",
        };
        let mono = if self.channels == 1 { " mono" } else { "" };
        let ms = f64::from(self.frame_samples) / 48.0;
        // Whole milliseconds without decimals (5 ms, 20 ms), the others to a tenth.
        if (ms - ms.round()).abs() < 1e-9 {
            write!(f, "{name}{mono} {ms:.0} ms")
        } else {
            write!(f, "{name}{mono} {ms:.1} ms")
        }
    }
}

/// The session as the control thread sees it, refreshed every status interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    /// The bound address.
    pub local: Option<SocketAddr>,
    /// Whether datagrams carry DSCP EF.
    pub dscp: bool,
    /// Our id.
    pub user_id: u32,
    /// The session master, once elected.
    pub master: Option<u32>,
    /// Connected peers.
    pub peers: Vec<PeerStatus>,
    /// Peers currently reconnecting (id, failed attempts).
    pub reconnecting: Vec<(u32, u32)>,
    /// The room's tempo and transport.
    pub transport: Option<proto::osp::message::TransportSync>,
    /// When this status was taken, and the session timeline (µs) at that instant: relates the
    /// room's beat grid to the control thread's clock ([`Status::session_micros_at`]).
    pub session_clock: Option<(std::time::Instant, f64)>,
    /// The endpoint's drop counters.
    pub endpoint: proto::endpoint::Stats,
    /// Datagrams and bytes sent / received.
    pub sent: (u64, u64),
    /// Datagrams and bytes received.
    pub received: (u64, u64),
    /// Sends the socket refused (buffer full or an OS error): the datagram was dropped.
    pub send_errors: u64,
    /// Receive errors (ICMP port unreachable from a peer that is down, mostly).
    pub recv_errors: u64,
    /// Packets the audio thread queued, and those the ring dropped (full / too long).
    pub outbound_ring: rt::packet::Stats,
    /// Packets queued to the audio thread, and those the ring dropped.
    pub inbound_ring: rt::packet::Stats,
    /// Packets the endpoint declared missing (too late for any recovery).
    pub missing: u64,
    /// The driver has stopped (left the room).
    pub stopped: bool,
}

impl Status {
    /// The session timeline (µs) at `at`, extrapolated from when the status was taken (the
    /// timeline runs at the rate of the local clock between refreshes).
    pub fn session_micros_at(&self, at: std::time::Instant) -> Option<f64> {
        let (taken, micros) = self.session_clock?;
        let since = if at >= taken {
            at.duration_since(taken).as_secs_f64()
        } else {
            -taken.duration_since(at).as_secs_f64()
        };
        Some(micros + since * 1e6)
    }

    pub(crate) fn new(local: SocketAddr, dscp: bool, user_id: u32) -> Self {
        Self {
            local: Some(local),
            dscp,
            user_id,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_stream_reads_as_its_codec_and_frame() {
        let stream = |encoding, channels, frame_samples| RemoteStream {
            stream_id: 1,
            encoding,
            payload_type: 96,
            frame_samples,
            channels,
        };
        assert_eq!(
            stream(StreamEncoding::Opus, 2, 120).to_string(),
            "Opus 2.5 ms"
        );
        assert_eq!(
            stream(StreamEncoding::Opus, 2, 240).to_string(),
            "Opus 5 ms"
        );
        assert_eq!(stream(StreamEncoding::L24, 2, 64).to_string(), "L24 1.3 ms");
        assert_eq!(
            stream(StreamEncoding::L16, 1, 960).to_string(),
            "L16 mono 20 ms"
        );
    }
}
