//! Uncompressed PCM payloads: L16 and L24 big-endian (ours, RFC 3551 / RFC 3190), and the relay
//! dialect's little-endian forms (S24 in int32, packed S24, f32) for peers that send them.
//!
//! Integer formats map full scale as `x · 2^(bits−1)`, rounded and clamped, and back as
//! `v / 2^(bits−1)`, so every integer sample survives a decode–encode round trip exactly. The
//! relay dialect's S24-in-int32 scales by 8,388,607 (its senders' rule), which we follow for
//! that format only.

/// A PCM sample format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// 16-bit big-endian (RFC 3551 L16; our PT 97).
    L16,
    /// 24-bit big-endian, 3 bytes (RFC 3190 L24; our PT 96).
    L24,
    /// Relay dialect PT 96: 24-bit value in a little-endian int32, scaled by 8,388,607.
    S24In32Le,
    /// Relay dialect PT 96 (packed variant): 24-bit little-endian, 3 bytes.
    S24PackedLe,
    /// Relay dialect PT 97: 32-bit float little-endian.
    F32Le,
}

impl Format {
    /// Bytes per sample on the wire.
    pub const fn bytes_per_sample(self) -> usize {
        match self {
            Self::L16 => 2,
            Self::L24 | Self::S24PackedLe => 3,
            Self::S24In32Le | Self::F32Le => 4,
        }
    }
}

/// A payload that does not fit. The caller's fault (output too small) or the sender's (odd
/// length); retrying the same bytes never helps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The output cannot hold the converted samples.
    #[error("output holds {got} but {needed} are needed")]
    OutputTooSmall {
        /// Units (bytes or samples) needed.
        needed: usize,
        /// Units available.
        got: usize,
    },
    /// The payload length is not a whole number of samples.
    #[error("payload of {0} bytes is not a whole number of samples")]
    Truncated(usize),
}

const FULL_16: f32 = 32_768.0;
const FULL_24: f32 = 8_388_608.0;
const RELAY_24: f32 = 8_388_607.0;

fn quantise(x: f32, full: f32) -> i32 {
    // NaN maps to 0 (`as` saturates and sends NaN to 0), so hostile floats cannot wrap.
    ((x * full).round() as i32).clamp(-(full as i32), full as i32 - 1)
}

/// Encodes interleaved samples into `out`; returns bytes written.
///
/// Audio thread: must not allocate, lock or block.
///
/// # Errors
///
/// [`Error::OutputTooSmall`] if `out` cannot hold them.
pub fn encode(format: Format, pcm: &[f32], out: &mut [u8]) -> Result<usize, Error> {
    let needed = pcm.len() * format.bytes_per_sample();
    let Some(out) = out.get_mut(..needed) else {
        return Err(Error::OutputTooSmall {
            needed,
            got: out.len(),
        });
    };
    let chunks = out.chunks_exact_mut(format.bytes_per_sample());
    for (&x, dst) in pcm.iter().zip(chunks) {
        match format {
            Format::L16 => dst.copy_from_slice(&(quantise(x, FULL_16) as i16).to_be_bytes()),
            Format::L24 => dst.copy_from_slice(&quantise(x, FULL_24).to_be_bytes()[1..]),
            Format::S24PackedLe => dst.copy_from_slice(&quantise(x, FULL_24).to_le_bytes()[..3]),
            Format::S24In32Le => {
                let v = ((x * RELAY_24).round() as i32).clamp(-(RELAY_24 as i32), RELAY_24 as i32);
                dst.copy_from_slice(&v.to_le_bytes());
            }
            Format::F32Le => dst.copy_from_slice(&x.to_le_bytes()),
        }
    }
    Ok(needed)
}

/// Decodes a payload into interleaved samples in `out`; returns samples written.
///
/// Audio thread: must not allocate, lock or block.
///
/// # Errors
///
/// [`Error::Truncated`] if the payload is not whole samples, [`Error::OutputTooSmall`] if `out`
/// cannot hold them.
pub fn decode(format: Format, data: &[u8], out: &mut [f32]) -> Result<usize, Error> {
    let width = format.bytes_per_sample();
    if !data.len().is_multiple_of(width) {
        return Err(Error::Truncated(data.len()));
    }
    let samples = data.len() / width;
    let Some(out) = out.get_mut(..samples) else {
        return Err(Error::OutputTooSmall {
            needed: samples,
            got: out.len(),
        });
    };
    for (src, y) in data.chunks_exact(width).zip(out) {
        *y = match format {
            Format::L16 => f32::from(i16::from_be_bytes([src[0], src[1]])) / FULL_16,
            // Sign-extend by placing the 24 bits high in an i32 and shifting back.
            Format::L24 => (i32::from_be_bytes([src[0], src[1], src[2], 0]) >> 8) as f32 / FULL_24,
            Format::S24PackedLe => {
                (i32::from_le_bytes([0, src[0], src[1], src[2]]) >> 8) as f32 / FULL_24
            }
            // The relay dialect's int32 carries ±2^23; a hostile sender's full-range int32
            // would be a 48 dB over, so clamp.
            Format::S24In32Le => (i32::from_le_bytes([src[0], src[1], src[2], src[3]]) as f32
                / RELAY_24)
                .clamp(-1.0, 1.0),
            Format::F32Le => {
                let v = f32::from_le_bytes([src[0], src[1], src[2], src[3]]);
                // A hostile sender must not inject NaN or infinities into the mix.
                if v.is_finite() {
                    v.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            }
        };
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l24_is_big_endian_three_bytes_and_exact() {
        let mut out = [0u8; 12];
        let pcm = [0.5f32, -0.5, 1.0, -1.0];
        assert_eq!(encode(Format::L24, &pcm, &mut out), Ok(12));
        assert_eq!(out, [0x40, 0, 0, 0xC0, 0, 0, 0x7F, 0xFF, 0xFF, 0x80, 0, 0]);
        let mut back = [0f32; 4];
        assert_eq!(decode(Format::L24, &out, &mut back), Ok(4));
        assert_eq!(back, [0.5, -0.5, 8_388_607.0 / 8_388_608.0, -1.0]);
    }

    #[test]
    fn l16_is_big_endian_and_every_integer_round_trips() {
        let mut bytes = [0u8; 2];
        let mut x = [0f32; 1];
        for v in i16::MIN..=i16::MAX {
            decode(Format::L16, &v.to_be_bytes(), &mut x).unwrap();
            encode(Format::L16, &x, &mut bytes).unwrap();
            assert_eq!(i16::from_be_bytes(bytes), v);
        }
        encode(Format::L16, &[0.25], &mut bytes).unwrap();
        assert_eq!(bytes, [0x20, 0x00]);
    }

    #[test]
    fn every_l24_step_round_trips() {
        let mut bytes = [0u8; 3];
        let mut x = [0f32; 1];
        for v in (-8_388_608i32..8_388_608).step_by(997) {
            let be = v.to_be_bytes();
            decode(Format::L24, &be[1..], &mut x).unwrap();
            encode(Format::L24, &x, &mut bytes).unwrap();
            assert_eq!(bytes, be[1..], "{v}");
        }
    }

    #[test]
    fn relay_dialect_forms_decode() {
        let mut x = [0f32; 2];
        let int32: Vec<u8> = [4_194_304i32, -8_388_607]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        decode(Format::S24In32Le, &int32, &mut x).unwrap();
        assert!((x[0] - 4_194_304.0 / 8_388_607.0).abs() < 1e-9 && x[1] == -1.0);
        decode(
            Format::S24PackedLe,
            &[0x00, 0x00, 0x40, 0x00, 0x00, 0xC0],
            &mut x,
        )
        .unwrap();
        assert_eq!(x, [0.5, -0.5]);
        let floats: Vec<u8> = [0.25f32, f32::NAN]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        decode(Format::F32Le, &floats, &mut x).unwrap();
        assert_eq!(x, [0.25, 0.0]);
    }

    #[test]
    fn clipping_and_hostile_values_saturate() {
        let mut out = [0u8; 8];
        encode(Format::L16, &[2.0, -2.0, f32::NAN, f32::INFINITY], &mut out).unwrap();
        assert_eq!(out, [0x7F, 0xFF, 0x80, 0x00, 0, 0, 0x7F, 0xFF]);
    }

    #[test]
    fn sizes_are_checked() {
        let mut small = [0u8; 5];
        assert_eq!(
            encode(Format::L24, &[0.0, 0.0], &mut small),
            Err(Error::OutputTooSmall { needed: 6, got: 5 })
        );
        assert_eq!(
            decode(Format::L24, &[0; 5], &mut [0.0; 4]),
            Err(Error::Truncated(5))
        );
        assert_eq!(
            decode(Format::L16, &[0; 8], &mut [0.0; 3]),
            Err(Error::OutputTooSmall { needed: 4, got: 3 })
        );
    }
}
