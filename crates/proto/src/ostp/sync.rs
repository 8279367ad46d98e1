//! The 25-byte OSTP clock-sync packet: `0x7D`, then T1, T2, T3 as u64 little-endian Unix ns.
//!
//! The requester fills T1; the responder (relay or peer) fills T2 on receive and T3 on send and
//! echoes it; the requester notes T4 on arrival. offset = ((T2 − T1) + (T3 − T4)) / 2,
//! RTT = (T4 − T1) − (T3 − T2). The first byte is tested before any RTP check in
//! [`crate::demux`], so these datagrams are always answered (a reference relay never did).

/// First byte of every clock-sync packet.
pub const MAGIC: u8 = 0x7D;
/// Size of the packet on the wire.
pub const LEN: usize = 25;

/// The three timestamps of a clock-sync exchange, in Unix nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Packet {
    /// Requester's send time.
    pub t1: u64,
    /// Responder's receive time (0 in a request).
    pub t2: u64,
    /// Responder's send time (0 in a request).
    pub t3: u64,
}

/// Why a datagram is not a clock-sync packet. The sender's fault; do not retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not exactly 25 bytes.
    #[error("clock-sync packet must be {LEN} bytes, got {0}")]
    Length(usize),
    /// First byte is not `0x7D`.
    #[error("clock-sync packet must start with 0x7D")]
    Magic,
}

impl Packet {
    /// The wire bytes.
    pub fn encode(&self) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        out[0] = MAGIC;
        out[1..9].copy_from_slice(&self.t1.to_le_bytes());
        out[9..17].copy_from_slice(&self.t2.to_le_bytes());
        out[17..25].copy_from_slice(&self.t3.to_le_bytes());
        out
    }

    /// Parses the wire bytes.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Length`] unless exactly 25 bytes; [`DecodeError::Magic`] unless the first
    /// byte is `0x7D`.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let bytes: &[u8; LEN] = data
            .try_into()
            .map_err(|_| DecodeError::Length(data.len()))?;
        if bytes[0] != MAGIC {
            return Err(DecodeError::Magic);
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(w)
        };
        Ok(Self {
            t1: word(1),
            t2: word(9),
            t3: word(17),
        })
    }

    /// Offset of the responder's clock relative to the requester's, and the round-trip time,
    /// in nanoseconds, given the arrival time `t4`.
    pub fn offset_and_rtt(&self, t4: u64) -> (i64, i64) {
        let (t1, t2, t3, t4) = (
            self.t1 as i128,
            self.t2 as i128,
            self.t3 as i128,
            t4 as i128,
        );
        let offset = ((t2 - t1) + (t3 - t4)) / 2;
        let rtt = (t4 - t1) - (t3 - t2);
        (offset as i64, rtt as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_vector_is_byte_exact() {
        let ping = Packet {
            t1: 1_741_996_800_123_456_789,
            t2: 0,
            t3: 0,
        };
        let mut expected = vec![0x7D, 0x15, 0xCD, 0x39, 0x37, 0xDC, 0xD0, 0x2C, 0x18];
        expected.extend_from_slice(&[0u8; 16]);
        assert_eq!(ping.encode().as_slice(), expected.as_slice());
        assert_eq!(Packet::decode(&expected), Ok(ping));
    }

    #[test]
    fn offset_and_rtt_follow_the_ntp_formulas() {
        // Responder clock 5 ms ahead, 2 ms each way, 1 ms turnaround.
        let ms = 1_000_000u64;
        let t1 = 1_000 * ms;
        let reply = Packet {
            t1,
            t2: t1 + 2 * ms + 5 * ms,
            t3: t1 + 3 * ms + 5 * ms,
        };
        assert_eq!(
            reply.offset_and_rtt(t1 + 5 * ms),
            (5 * ms as i64, 4 * ms as i64)
        );
    }

    #[test]
    fn wrong_length_or_magic_is_an_error() {
        assert_eq!(Packet::decode(&[0x7D; 24]), Err(DecodeError::Length(24)));
        assert_eq!(Packet::decode(&[0x7E; 25]), Err(DecodeError::Magic));
    }
}
