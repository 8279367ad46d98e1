//! The media streams a peer sends (StreamAnnounce, ours): SSRC, payload type, encoding, integrity
//! form and parity protection of each.

use serde::{Deserialize, Serialize};

use super::{bounded, encode_bincode};

/// Media encodings a stream can announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamEncoding {
    /// Opus (RFC 7587), one frame per packet.
    Opus,
    /// L16 big-endian (RFC 3551).
    L16,
    /// L24 big-endian (RFC 3190).
    L24,
}

/// The integrity form a stream's packets carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CrcForm {
    /// Ours: CRC-32 in RTP padding.
    Padding,
    /// Raw trailer A (relay dialect, spec vectors).
    TrailerA,
    /// Raw trailer B.
    TrailerB,
    /// Raw trailer C.
    TrailerC,
    /// None: plain RTP.
    None,
}

/// The XOR-parity stream protecting a media stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParityStream {
    /// The parity stream's own SSRC.
    pub ssrc: u32,
    /// Its RTP payload type.
    pub payload_type: u8,
    /// Packets per parity group at the start (the sender may adapt; receivers read N from each
    /// parity packet).
    pub group_size: u8,
}

/// One announced OSTP stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// The stream's SSRC (one per stream).
    pub ssrc: u32,
    /// OSTP stream_id (`0x0001` primary, `0x0002..=0x0FFF` extra).
    pub stream_id: u16,
    /// The track it carries.
    pub track_id: u8,
    /// RTP payload type.
    pub payload_type: u8,
    /// Encoding.
    pub encoding: StreamEncoding,
    /// 1 or 2.
    pub channels: u8,
    /// RTP clock rate, Hz (48,000).
    pub clock_rate: u32,
    /// Samples per channel per packet.
    pub frame_samples: u32,
    /// Integrity form.
    pub crc: CrcForm,
    /// Parity protection, if any.
    pub parity: Option<ParityStream>,
}

impl StreamInfo {
    /// A stereo 48 kHz stream of ours: CRC-32 in RTP padding, no parity, track
    /// `stream_id − 1` (stream 1 carries track 0).
    pub fn stereo(
        ssrc: u32,
        stream_id: u16,
        encoding: StreamEncoding,
        payload_type: u8,
        frame_samples: u32,
    ) -> Self {
        Self {
            ssrc,
            stream_id,
            track_id: u8::try_from(stream_id.saturating_sub(1)).unwrap_or(u8::MAX),
            payload_type,
            encoding,
            channels: 2,
            clock_rate: 48_000,
            frame_samples,
            crc: CrcForm::Padding,
            parity: None,
        }
    }

    /// The same stream protected by XOR parity on its own SSRC.
    pub fn with_parity(self, ssrc: u32, payload_type: u8, group_size: u8) -> Self {
        Self {
            parity: Some(ParityStream {
                ssrc,
                payload_type,
                group_size,
            }),
            ..self
        }
    }
}

/// 0x020D (ours): the streams a peer sends, with payload types. Replaces the sender's previous
/// announcement as a whole; receivers decode only announced (SSRC, payload type) pairs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamAnnounce {
    /// Sender's peer id.
    pub user_id: u32,
    /// Bumped on every change, so a reordered older announcement is ignored.
    pub version: u32,
    /// The streams.
    #[serde(deserialize_with = "bounded::vec")]
    pub streams: Vec<StreamInfo>,
}

impl StreamAnnounce {
    /// The announcement's bincode bytes: what a [`PeerAuth`](super::PeerAuth) tag covers.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0; crate::osp::MAX_PAYLOAD];
        // An announcement that does not fit one datagram cannot be sent either; it is
        // authenticated as empty and rejected by the peer's size check on the frame.
        let len = encode_bincode(self, &mut out).unwrap_or(0);
        out.truncate(len);
        out
    }
}
