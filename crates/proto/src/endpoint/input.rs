//! What the caller hands an endpoint: datagrams, expired deadlines and commands.

use std::time::Duration;

use crate::osp::message::StreamInfo;
use crate::path::Path;
use crate::time::MediaTime;

/// One input to [`Endpoint::handle`](super::Endpoint::handle).
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// A datagram arrived on `from`.
    Datagram {
        /// The path it came on (its source address for UDP).
        from: Path,
        /// Its bytes.
        data: &'a [u8],
    },
    /// The deadline from [`Endpoint::poll_timeout`](super::Endpoint::poll_timeout) passed.
    Timeout,
    /// The application asks for something.
    Command(Command<'a>),
}

/// What the application can ask.
#[derive(Clone, Copy, Debug)]
pub enum Command<'a> {
    /// Connect to a peer reached on `path` (its id, if known, is checked in the handshake).
    AddPeer {
        /// Where it is.
        path: Path,
        /// Its id, if known.
        user_id: Option<u32>,
    },
    /// Send to `user_id` on `path` from now on; its old path stays accepted, so packets still
    /// in flight on it count.
    SetPath {
        /// The peer.
        user_id: u32,
        /// The new path.
        path: Path,
    },
    /// Accept datagrams from `user_id` on `path` too, without sending there: the first half of
    /// a switch without a gap. Both sides accept the new path, then each moves with
    /// [`Command::SetPath`] whenever it is ready; a datagram on a path nobody accepted would be
    /// taken for a stranger's.
    AcceptPath {
        /// The peer.
        user_id: u32,
        /// The extra path.
        path: Path,
    },
    /// Stop accepting `path` from `user_id` (the last half of a switch; the active path stays).
    ForgetPath {
        /// The peer.
        user_id: u32,
        /// The path to drop.
        path: Path,
    },
    /// Leave the session: tell every peer, then stop.
    Leave,
    /// Send one encoded audio packet on local stream `stream` (index into `Config::streams`).
    SendAudio {
        /// Stream index.
        stream: usize,
        /// RTP timestamp of its first sample (the stream's 48 kHz sample clock).
        timestamp: MediaTime,
        /// When its first sample was captured, in 48 kHz ticks of the session timeline (mod
        /// 2^32), if the caller relates its sample clock to that timeline; sent as the
        /// extension's `media_timestamp`. `None` stamps the moment of sending instead.
        capture: Option<u32>,
        /// Codec payload.
        payload: &'a [u8],
    },
    /// Starts (`Some`) or stops (`None`) sending local stream slot `index` (below
    /// [`MAX_LOCAL_STREAMS`](super::MAX_LOCAL_STREAMS); slots of `Config::streams` come first). Connected peers are sent
    /// the new announcement; [`Command::SendAudio`] addresses the slot by `index`.
    SetStream {
        /// Slot.
        index: usize,
        /// What it sends, or `None` to stop it.
        info: Option<StreamInfo>,
    },
    /// Set tempo and transport; beat `beat` falls at `now`.
    SetTransport {
        /// Playing.
        playing: bool,
        /// Tempo.
        bpm: f64,
        /// Beats per bar.
        beats_per_bar: u8,
        /// Beat unit.
        beat_unit: u8,
        /// Beat position at `now`.
        beat: f64,
    },
    /// The engine's jitter target for `user_id`'s streams (NACK budget).
    SetPlayoutDelay {
        /// The peer.
        user_id: u32,
        /// Its current playout delay.
        delay: Duration,
    },
}
