//! Which protocol a UDP datagram belongs to: one socket per session carries everything.
//!
//! First byte per RFC 7983 (0–3 STUN, 20–63 DTLS, 64–79 TURN ChannelData, 128–191 RTP/RTCP),
//! RTCP told from RTP by the second byte (RFC 5761: 192–223), `0x7D` for the OSTP clock-sync
//! packet (checked first, so it can never be mistaken for anything else), and the `OSP1` magic
//! for OSP control. `OSP1` starts with `0x4F`, inside the TURN ChannelData range: a datagram
//! from the TURN server's address is TURN; from anyone else the magic decides (and the OSP
//! decoder's CRC confirms).

use crate::ostp::sync;

/// The `OSP1` magic that starts every OSP control datagram.
pub const OSP_MAGIC: [u8; 4] = *b"OSP1";

/// The protocol a datagram belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// STUN (binding requests and responses, TURN control).
    Stun,
    /// DTLS (DTLS-SRTP key exchange).
    Dtls,
    /// TURN ChannelData relayed by our TURN server.
    TurnChannel,
    /// RTP: OSTP media, parity, or plain RTP from standard senders.
    Rtp,
    /// RTCP (generic NACK and reports).
    Rtcp,
    /// OSP session control.
    Osp,
    /// OSTP clock-sync packet.
    ClockSync,
    /// None of the above: counted and dropped.
    Unknown,
}

/// Classifies a datagram. `from_turn_server` is true when it came from the address of the TURN
/// server this session allocated on.
pub fn classify(data: &[u8], from_turn_server: bool) -> Kind {
    let Some(&first) = data.first() else {
        return Kind::Unknown;
    };
    if first == sync::MAGIC {
        return Kind::ClockSync;
    }
    if from_turn_server && (64..=79).contains(&first) {
        return Kind::TurnChannel;
    }
    if data.starts_with(&OSP_MAGIC) {
        return Kind::Osp;
    }
    match first {
        0..=3 => Kind::Stun,
        20..=63 => Kind::Dtls,
        128..=191 => match data.get(1) {
            Some(192..=223) => Kind::Rtcp,
            Some(_) => Kind::Rtp,
            None => Kind::Unknown,
        },
        _ => Kind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_ranges_follow_rfc_7983() {
        assert_eq!(classify(&[0x00, 0x01], false), Kind::Stun);
        assert_eq!(classify(&[0x01, 0x01], false), Kind::Stun);
        assert_eq!(classify(&[22, 0xFE, 0xFD], false), Kind::Dtls);
        assert_eq!(classify(&[0x40, 0x00, 0x00, 0x04], true), Kind::TurnChannel);
        assert_eq!(classify(&[0xB0, 0x6F], false), Kind::Rtp);
        assert_eq!(
            classify(&[0x80, 111 | 0x80], false),
            Kind::Rtp,
            "marker set, PT 111"
        );
        assert_eq!(classify(&[0x81, 205], false), Kind::Rtcp, "generic NACK");
        assert_eq!(classify(&[0x80, 200], false), Kind::Rtcp, "sender report");
        assert_eq!(classify(&[], false), Kind::Unknown);
        assert_eq!(classify(&[0x90], false), Kind::Unknown);
        assert_eq!(classify(&[0xFF, 0x00], false), Kind::Unknown);
    }

    #[test]
    fn osp_magic_wins_over_turn_range_unless_the_turn_server_sent_it() {
        let osp = b"OSP1\x01\x00";
        assert_eq!(classify(osp, false), Kind::Osp);
        assert_eq!(classify(osp, true), Kind::TurnChannel);
        assert_eq!(classify(&[0x4F, 0x53, 0x50, 0x32], false), Kind::Unknown);
    }

    #[test]
    fn clock_sync_is_recognised_before_anything_else() {
        let ping = sync::Packet {
            t1: 1,
            t2: 0,
            t3: 0,
        }
        .encode();
        assert_eq!(classify(&ping, false), Kind::ClockSync);
        assert_eq!(classify(&ping, true), Kind::ClockSync);
    }
}
