//! SDP descriptions of an OSTP stream, so standard receivers (GStreamer, ffmpeg, Wireshark)
//! can decode it: RFC 4566 session text with one `m=audio` line and its `a=rtpmap`.
//!
//! Our RTP header extension and the CRC in RTP padding need no SDP: standard receivers skip
//! extensions they were not told about and strip padding.

use std::fmt::Write as _;
use std::net::IpAddr;

/// The payload encoding of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Opus; `a=rtpmap:<pt> opus/48000/2` always (RFC 7587), `stereo=` in fmtp.
    Opus {
        /// 1 or 2.
        channels: u8,
    },
    /// L16 big-endian at 48 kHz.
    L16 {
        /// Channel count.
        channels: u8,
    },
    /// L24 big-endian at 48 kHz.
    L24 {
        /// Channel count.
        channels: u8,
    },
}

/// One stream to describe.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stream {
    /// Where the receiver listens.
    pub address: IpAddr,
    /// UDP port of the receiver.
    pub port: u16,
    /// RTP payload type.
    pub payload_type: u8,
    /// Payload encoding.
    pub encoding: Encoding,
    /// Milliseconds of audio per packet (`a=ptime`).
    pub ptime_ms: f32,
}

/// The SDP text for `stream`, lines ending in CRLF as RFC 4566 requires.
pub fn write(stream: &Stream) -> String {
    let ip = match stream.address {
        IpAddr::V4(a) => format!("IP4 {a}"),
        IpAddr::V6(a) => format!("IP6 {a}"),
    };
    let pt = stream.payload_type;
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "v=0\r\no=- 0 0 IN {ip}\r\ns=OSP Jam\r\nc=IN {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {pt}\r\n",
        stream.port
    );
    let _ = match stream.encoding {
        Encoding::Opus { channels } => write!(
            s,
            "a=rtpmap:{pt} opus/48000/2\r\na=fmtp:{pt} stereo={0};sprop-stereo={0}\r\n",
            u8::from(channels == 2)
        ),
        Encoding::L16 { channels } => write!(s, "a=rtpmap:{pt} L16/48000/{channels}\r\n"),
        Encoding::L24 { channels } => write!(s, "a=rtpmap:{pt} L24/48000/{channels}\r\n"),
    };
    let _ = write!(s, "a=ptime:{}\r\na=recvonly\r\n", stream.ptime_ms);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_stereo_description() {
        let sdp = write(&Stream {
            address: "127.0.0.1".parse().unwrap(),
            port: 5020,
            payload_type: 111,
            encoding: Encoding::Opus { channels: 2 },
            ptime_ms: 2.5,
        });
        assert_eq!(
            sdp,
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=OSP Jam\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 5020 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n\
             a=fmtp:111 stereo=1;sprop-stereo=1\r\na=ptime:2.5\r\na=recvonly\r\n"
        );
    }

    #[test]
    fn pcm_descriptions_carry_the_channel_count() {
        let l24 = write(&Stream {
            address: "::1".parse().unwrap(),
            port: 6000,
            payload_type: 96,
            encoding: Encoding::L24 { channels: 2 },
            ptime_ms: 1.0,
        });
        assert!(l24.contains("c=IN IP6 ::1\r\n"));
        assert!(l24.contains("a=rtpmap:96 L24/48000/2\r\n"));
        let l16 = write(&Stream {
            address: "127.0.0.1".parse().unwrap(),
            port: 6002,
            payload_type: 97,
            encoding: Encoding::L16 { channels: 1 },
            ptime_ms: 5.0,
        });
        assert!(l16.contains("m=audio 6002 RTP/AVP 97\r\na=rtpmap:97 L16/48000/1\r\n"));
    }
}
