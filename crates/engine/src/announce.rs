//! What peers are told of our tracks: each track's stream announcement and the RTP payload
//! types on the wire.

use proto::osp::message::{StreamEncoding, StreamInfo};

use crate::config::Codec;

/// RTP payload type of our Opus streams (the conventional dynamic value).
pub const PT_OPUS: u8 = 111;
/// RTP payload type of our L24 streams (codec::pcm).
pub const PT_L24: u8 = 96;
/// RTP payload type of parity packets.
pub const PT_PARITY: u8 = 127;

/// The announcement of one of our tracks: SSRCs derived from our id and the track, so they
/// are stable across restarts and distinct between members.
pub fn track_stream(user_id: u32, stream_id: u16, codec: Codec) -> StreamInfo {
    let ssrc = user_id.rotate_left(8) ^ (u32::from(stream_id) << 1);
    let (encoding, payload_type) = match codec {
        Codec::PcmL24 { .. } => (StreamEncoding::L24, PT_L24),
        Codec::Opus { .. } => (StreamEncoding::Opus, PT_OPUS),
    };
    StreamInfo::stereo(
        ssrc,
        stream_id,
        encoding,
        payload_type,
        codec.frame_samples(),
    )
    .with_parity(ssrc ^ 1, PT_PARITY, 5)
}
