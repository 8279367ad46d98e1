//! Realtime media and meters (0x00xx): AudioFrame, hand-packed with its audio borrowed from the
//! datagram, and AudioLevels.

use serde::{Deserialize, Serialize};

use super::bounded;
use crate::osp::EncodeError;

/// AudioFrame codec byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioCodec {
    /// Interleaved f32 little-endian PCM.
    PcmF32 = 0,
    /// One Opus packet.
    Opus = 1,
}

/// 0x0001: one frame of a track's audio (hand-packed: user_id u32, track_id u8, codec u8,
/// channels u8, sample_count u16, data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioFrame<'a> {
    /// Sender's peer id ([`crate::osp::peer_id`]).
    pub user_id: u32,
    /// Track (255 = room media / backing track).
    pub track_id: u8,
    /// What `data` holds.
    pub codec: AudioCodec,
    /// 1 or 2.
    pub channels: u8,
    /// Samples per channel.
    pub sample_count: u16,
    /// Codec data.
    pub data: &'a [u8],
}

impl<'a> AudioFrame<'a> {
    /// Bytes before the data (the reference checks 7 and reads 9: its bug 1).
    pub const HEADER_LEN: usize = 9;

    pub(super) fn decode(payload: &'a [u8]) -> Option<Self> {
        let head = payload.get(..Self::HEADER_LEN)?;
        let codec = match head[5] {
            0 => AudioCodec::PcmF32,
            1 => AudioCodec::Opus,
            _ => return None,
        };
        let channels = head[6];
        if !(1..=2).contains(&channels) {
            return None;
        }
        Some(Self {
            user_id: u32::from_le_bytes([head[0], head[1], head[2], head[3]]),
            track_id: head[4],
            codec,
            channels,
            sample_count: u16::from_le_bytes([head[7], head[8]]),
            data: &payload[Self::HEADER_LEN..],
        })
    }

    pub(super) fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let len = Self::HEADER_LEN + self.data.len();
        let out = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
        out[..4].copy_from_slice(&self.user_id.to_le_bytes());
        out[4] = self.track_id;
        out[5] = self.codec as u8;
        out[6] = self.channels;
        out[7..9].copy_from_slice(&self.sample_count.to_le_bytes());
        out[9..].copy_from_slice(self.data);
        Ok(len)
    }
}

/// One track's meter reading in AudioLevels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackLevel {
    /// Track id.
    pub track_id: u8,
    /// RMS level, dBFS.
    pub level_db: f32,
    /// Peak level, dBFS.
    pub peak_db: f32,
}

/// 0x0002: meters of a user's tracks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudioLevels {
    /// Peer id.
    pub user_id: u32,
    /// Per-track levels.
    #[serde(deserialize_with = "bounded::vec")]
    pub track_levels: Vec<TrackLevel>,
}
