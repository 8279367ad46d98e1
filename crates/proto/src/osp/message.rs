//! OSP message ids and payloads.
//!
//! Payloads are the bincode 1.x legacy layout (`docs/protocol.md` §6.2: fixed-width little-endian
//! integers, `u64` lengths for strings, vectors and maps, a tag byte for `Option`, `u32` variant
//! indices for enums), so reference peers read ours and we read theirs; field order is
//! declaration order and must never change. AudioFrame is hand-packed and borrows its audio from
//! the datagram. Ids `0x0108+`, `0x020D+` and `0x030B+` are ours (reference receivers drop
//! unknown ids silently).
//!
//! Decoding is bounded by the payload: strings are length-checked before they are allocated,
//! vectors grow as their elements actually decode (never pre-sized from the wire), maps are
//! B-trees (no pre-sizing either).

use bincode::Options;
use serde::{Deserialize, Serialize};

use super::EncodeError;

/// How a message travels. Ours is per message, not per id range (`docs/protocol.md` §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Fire and forget: stale by the time a resend could arrive (audio, levels, clock probes).
    Unreliable,
    /// State-changing: the reliable sequence space, gaps requested with ResendRequest.
    Reliable,
}

/// The frame encoding shared by every bincode payload: legacy fixed-int layout, trailing bytes
/// allowed (a newer sender may append fields), reads capped at the payload length.
fn options(limit: usize) -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .allow_trailing_bytes()
        .with_limit(limit as u64)
}

/// Serde helpers that keep decoding proportional to the bytes actually present.
mod bounded {
    use std::{fmt, marker::PhantomData};

    use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

    /// Vectors: serde's default pre-sizes from the (untrusted) length prefix up to 1 MiB; this
    /// grows only as elements decode, so a 20-byte datagram claiming 2^60 entries costs nothing.
    pub(super) fn vec<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        struct Grow<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Grow<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    out.push(item);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(Grow(PhantomData))
    }
}

mod clock;
mod media;
mod mixer;
mod room;
mod session;
mod streams;
mod transport;

pub use clock::{BeatPosition, ClockProbe, ClockReply, ClockSync, MasterElection, Ping, Pong};
pub use media::{AudioCodec, AudioFrame, AudioLevels, TrackLevel};
pub use mixer::{EffectBypass, EffectChain, EffectParam, MonitoringState, StemMix, TrackState};
pub use room::{
    ChatMessage, LeaveReason, PerformanceInfo, Permission, RoomState, TrackAudioSettings,
    TrackCreate, TrackDelete, UserJoin, UserLeave,
};
pub use session::{
    Disconnect, Handshake, HandshakeAck, Heartbeat, NetworkMode, PeerAuth, PeerHello, PeerLeave,
    QualityPreset, RelaySwitch, ResendRequest,
};
pub use streams::{CrcForm, ParityStream, StreamAnnounce, StreamEncoding, StreamInfo};
pub use transport::{
    LoopAction, LoopState, LyriaConfig, LyriaState, SongAction, SongChange, TempoChange,
    TempoSource, Transport, TransportAction, TransportSync,
};

// ---------------------------------------------------------------------------------------------
// The id table
// ---------------------------------------------------------------------------------------------

macro_rules! messages {
    ($( $raw:literal => $name:ident, $delivery:ident; )*) => {
        /// Every OSP message id we know.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Id {
            /// 0x0001: hand-packed audio.
            AudioFrame,
            $(
                #[doc = concat!("`", stringify!($raw), "`: [`", stringify!($name), "`].")]
                $name,
            )*
        }

        impl Id {
            /// Every id, in table order.
            pub const ALL: &[Self] = &[Self::AudioFrame, $(Self::$name,)*];

            /// The wire value.
            pub const fn raw(self) -> u16 {
                match self {
                    Self::AudioFrame => 0x0001,
                    $(Self::$name => $raw,)*
                }
            }

            /// The id for a wire value, if defined.
            pub const fn from_raw(raw: u16) -> Option<Self> {
                match raw {
                    0x0001 => Some(Self::AudioFrame),
                    $($raw => Some(Self::$name),)*
                    _ => None,
                }
            }

            /// How messages with this id travel.
            pub const fn delivery(self) -> Delivery {
                match self {
                    Self::AudioFrame => Delivery::Unreliable,
                    $(Self::$name => Delivery::$delivery,)*
                }
            }
        }

        /// One OSP message.
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Message<'a> {
            /// 0x0001.
            AudioFrame(AudioFrame<'a>),
            $(
                #[doc = concat!("`", stringify!($raw), "`.")]
                $name($name),
            )*
        }

        impl Message<'_> {
            /// This message's id.
            pub const fn id(&self) -> Id {
                match self {
                    Self::AudioFrame(_) => Id::AudioFrame,
                    $(Self::$name(_) => Id::$name,)*
                }
            }

            /// Writes the payload into `out`, returning its length.
            pub(super) fn encode_payload(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
                match self {
                    Self::AudioFrame(frame) => frame.encode(out),
                    $(Self::$name(body) => encode_bincode(body, out),)*
                }
            }
        }

        impl<'a> Message<'a> {
            /// Decodes the payload of message `id`; `None` if malformed.
            pub(super) fn decode_payload(id: Id, payload: &'a [u8]) -> Option<Self> {
                match id {
                    Id::AudioFrame => AudioFrame::decode(payload).map(Self::AudioFrame),
                    $(Id::$name => decode_bincode(payload).map(Self::$name),)*
                }
            }
        }
    };
}

messages! {
    0x0002 => AudioLevels, Unreliable;
    0x0003 => ClockSync, Unreliable;
    0x0004 => BeatPosition, Unreliable;
    0x0101 => TrackState, Reliable;
    0x0102 => EffectParam, Reliable;
    0x0103 => EffectBypass, Reliable;
    0x0104 => Transport, Reliable;
    0x0105 => TempoChange, Reliable;
    0x0106 => StemMix, Reliable;
    0x0107 => MonitoringState, Reliable;
    0x0201 => UserJoin, Reliable;
    0x0202 => UserLeave, Reliable;
    0x0203 => TrackCreate, Reliable;
    0x0204 => TrackDelete, Reliable;
    0x0205 => EffectChain, Reliable;
    0x0206 => Permission, Reliable;
    0x0207 => ChatMessage, Reliable;
    0x0208 => PerformanceInfo, Reliable;
    0x0209 => SongChange, Reliable;
    0x020A => LoopState, Reliable;
    0x020B => LyriaState, Reliable;
    0x020C => RoomState, Reliable;
    0x020D => StreamAnnounce, Reliable;
    0x020E => TransportSync, Reliable;
    0x0301 => Ping, Unreliable;
    0x0302 => Pong, Unreliable;
    0x0303 => MasterElection, Unreliable;
    0x0304 => RelaySwitch, Reliable;
    0x0305 => QualityPreset, Reliable;
    0x0306 => Handshake, Unreliable;
    0x0307 => HandshakeAck, Unreliable;
    0x0308 => Disconnect, Unreliable;
    0x0309 => Heartbeat, Unreliable;
    0x030A => ResendRequest, Unreliable;
    0x030B => ClockProbe, Unreliable;
    0x030C => ClockReply, Unreliable;
    0x030D => PeerHello, Unreliable;
    0x030E => PeerAuth, Unreliable;
    0x030F => PeerLeave, Unreliable;
}

fn encode_bincode<T: Serialize>(body: &T, out: &mut [u8]) -> Result<usize, EncodeError> {
    let room = out.len();
    let mut writer: &mut [u8] = out;
    // Writing into a slice cannot allocate; the only failure is running out of room.
    options(room)
        .serialize_into(&mut writer, body)
        .map_err(|_| EncodeError::BufferTooSmall)?;
    Ok(room - writer.len())
}

fn decode_bincode<'de, T: Deserialize<'de>>(payload: &'de [u8]) -> Option<T> {
    options(payload.len()).deserialize(payload).ok()
}
