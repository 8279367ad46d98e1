//! STUN messages on the wire through the `stun-rs` codec: decoding with the checks every
//! inbound message gets (FINGERPRINT, MESSAGE-INTEGRITY), encoding with a transaction id drawn
//! from the session's seeded generator, and TURN ChannelData framing.

use stun_rs::attributes::StunAttributeType;
use stun_rs::attributes::stun::{Fingerprint, MessageIntegrity};
use stun_rs::error::StunErrorLevel;
use stun_rs::{
    DecoderContextBuilder, HMACKey, MessageDecoderBuilder, MessageEncoderBuilder, StunMessage,
    TransactionId,
};

/// STUN's magic cookie (RFC 5389 §6).
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
/// Header bytes of a STUN message.
pub(crate) const HEADER: usize = 20;
/// Header bytes of a TURN ChannelData message (channel number, length).
pub(crate) const CHANNEL_HEADER: usize = 4;
/// The TURN channel numbers a client may bind (RFC 8656 §12).
pub(crate) const CHANNELS: std::ops::RangeInclusive<u16> = 0x4000..=0x4FFF;

/// Why an inbound STUN datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Not a STUN message, or one the codec cannot parse.
    Malformed,
    /// Its FINGERPRINT does not match (corrupt, or not STUN at all).
    Fingerprint,
    /// Its MESSAGE-INTEGRITY does not match the key we expect (a stranger, or tampering).
    Integrity,
    /// It lacks an attribute this exchange requires (FINGERPRINT or MESSAGE-INTEGRITY).
    Missing,
}

/// Whether `data` has a STUN header: the top two bits zero, the magic cookie, a length that is
/// a multiple of 4 and matches the datagram.
pub(crate) fn is_stun(data: &[u8]) -> bool {
    data.len() >= HEADER
        && data[0] & 0xC0 == 0
        && data[4..8] == MAGIC_COOKIE
        && usize::from(u16::from_be_bytes([data[2], data[3]])) == data.len() - HEADER
        && data.len().is_multiple_of(4)
}

/// The 12-byte transaction id of a datagram that [`is_stun`].
pub(crate) fn transaction_id(data: &[u8]) -> Option<[u8; 12]> {
    data.get(8..HEADER)?.try_into().ok()
}

/// Decodes `data` (which must be exactly one message). `key`, when given, is the key its
/// MESSAGE-INTEGRITY must verify with and the attribute is required; FINGERPRINT, when present,
/// must match, and is required when `fingerprint` is set.
pub(crate) fn decode(
    data: &[u8],
    key: Option<&HMACKey>,
    fingerprint: bool,
) -> Result<StunMessage, Reject> {
    if !is_stun(data) {
        return Err(Reject::Malformed);
    }
    let (plain, _) = MessageDecoderBuilder::default()
        .build()
        .decode(data)
        .map_err(|_| Reject::Malformed)?;
    let has_fingerprint = plain.get::<Fingerprint>().is_some();
    let has_integrity = plain.get::<MessageIntegrity>().is_some();
    if (fingerprint && !has_fingerprint) || (key.is_some() && !has_integrity) {
        return Err(Reject::Missing);
    }
    if !has_fingerprint && !has_integrity {
        return Ok(plain);
    }
    let context = match key {
        Some(key) => DecoderContextBuilder::default().with_key(key.clone()),
        None if has_integrity => return Err(Reject::Integrity),
        None => DecoderContextBuilder::default(),
    };
    MessageDecoderBuilder::default()
        .with_context(context.with_validation().build())
        .build()
        .decode(data)
        .map(|(message, _)| message)
        .map_err(|error| match error.0 {
            StunErrorLevel::Attribute(attribute)
                if attribute.attr_type == Some(Fingerprint::get_type()) =>
            {
                Reject::Fingerprint
            }
            StunErrorLevel::Attribute(attribute)
                if attribute.attr_type == Some(MessageIntegrity::get_type()) =>
            {
                Reject::Integrity
            }
            _ => Reject::Malformed,
        })
}

/// Decodes `data` without checking MESSAGE-INTEGRITY or FINGERPRINT: only for error responses
/// to our own outstanding requests, whose sole effect is a retry.
pub(crate) fn decode_ignoring_integrity(data: &[u8]) -> Result<StunMessage, Reject> {
    if !is_stun(data) {
        return Err(Reject::Malformed);
    }
    MessageDecoderBuilder::default()
        .build()
        .decode(data)
        .map(|(message, _)| message)
        .map_err(|_| Reject::Malformed)
}

/// Encodes `message` into a new buffer of at most `limit` bytes (`None` if it does not fit,
/// which for the messages we build is a bug).
pub(crate) fn encode(message: &StunMessage, limit: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0; limit];
    let len = MessageEncoderBuilder::default()
        .build()
        .encode(&mut buf, message)
        .ok()?;
    buf.truncate(len);
    Some(buf)
}

/// A transaction id from the session's seeded generator (never the OS's).
pub(crate) fn new_transaction_id(rng: &mut impl rand::RngCore) -> TransactionId {
    let mut id = [0; 12];
    rng.fill_bytes(&mut id);
    TransactionId::from(id)
}

/// Writes a ChannelData message (RFC 8656 §12.4: channel, length, data; no padding over UDP)
/// into `buf`, returning its length (`None` if `buf` is too short).
pub(crate) fn write_channel_data(channel: u16, payload: &[u8], buf: &mut [u8]) -> Option<usize> {
    let len = CHANNEL_HEADER + payload.len();
    let out = buf.get_mut(..len)?;
    out[CHANNEL_HEADER..].copy_from_slice(payload);
    write_channel_header(channel, payload.len(), out)?;
    Some(len)
}

/// Writes the ChannelData header for a payload of `len` bytes into `buf[..CHANNEL_HEADER]`,
/// for a payload that already lies right behind it (`None` if `buf` is too short or `len`
/// does not fit the length field).
pub(crate) fn write_channel_header(channel: u16, len: usize, buf: &mut [u8]) -> Option<()> {
    let length = u16::try_from(len).ok()?;
    let header = buf.get_mut(..CHANNEL_HEADER)?;
    header[..2].copy_from_slice(&channel.to_be_bytes());
    header[2..].copy_from_slice(&length.to_be_bytes());
    Some(())
}

/// Splits a ChannelData message into its channel number and payload; padding after the
/// declared length (which TCP framing would add) is ignored.
pub(crate) fn read_channel_data(data: &[u8]) -> Option<(u16, &[u8])> {
    let channel = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
    if !CHANNELS.contains(&channel) {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([*data.get(2)?, *data.get(3)?]));
    Some((channel, data.get(CHANNEL_HEADER..CHANNEL_HEADER + length)?))
}

/// Where the value of the first attribute of type `kind` lies in the STUN message `data`: the
/// codec decodes attributes into owned values, this finds one in place (attributes are
/// type-length-value, padded to 4 bytes; RFC 8489 §14).
pub(crate) fn attribute_value(data: &[u8], kind: u16) -> Option<std::ops::Range<usize>> {
    let mut at = HEADER;
    while let Some(tlv) = data.get(at..at + 4) {
        let value = at + 4..at + 4 + usize::from(u16::from_be_bytes([tlv[2], tlv[3]]));
        data.get(value.clone())?;
        if u16::from_be_bytes([tlv[0], tlv[1]]) == kind {
            return Some(value);
        }
        at = value.end.next_multiple_of(4);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use stun_rs::attributes::stun::UserName;
    use stun_rs::methods::BINDING;
    use stun_rs::{MessageClass, StunMessageBuilder};

    fn signed(key: &HMACKey) -> Vec<u8> {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
        let message = StunMessageBuilder::new(BINDING, MessageClass::Request)
            .with_transaction_id(new_transaction_id(&mut rng))
            .with_attribute(UserName::try_from("a:b").unwrap())
            .with_attribute(MessageIntegrity::new(key.clone()))
            .with_attribute(Fingerprint::default())
            .build();
        encode(&message, 548).unwrap()
    }

    #[test]
    fn integrity_and_fingerprint_are_checked_and_told_apart() {
        let key = HMACKey::new_short_term("right").unwrap();
        let wrong = HMACKey::new_short_term("wrong").unwrap();
        let data = signed(&key);
        assert!(is_stun(&data));
        assert!(decode(&data, Some(&key), true).is_ok());
        assert_eq!(
            decode(&data, Some(&wrong), true).err(),
            Some(Reject::Integrity)
        );
        assert_eq!(decode(&data, None, true).err(), Some(Reject::Integrity));
        let mut corrupt = data.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert_eq!(
            decode(&corrupt, Some(&key), true).err(),
            Some(Reject::Fingerprint)
        );
        let mut tampered = data.clone();
        tampered[HEADER + 4] ^= 1;
        assert_eq!(
            decode(&tampered, Some(&key), false).err(),
            Some(Reject::Integrity),
            "a changed user name fails the HMAC, which precedes the FINGERPRINT"
        );
        assert_eq!(
            decode(&data[..HEADER], None, false).err(),
            Some(Reject::Malformed)
        );
    }

    #[test]
    fn channel_data_adds_four_bytes() {
        let mut buf = [0; 16];
        let len = write_channel_data(0x4001, b"audio", &mut buf).unwrap();
        assert_eq!(len, 4 + 5);
        assert_eq!(
            read_channel_data(&buf[..len]),
            Some((0x4001, &b"audio"[..]))
        );
        assert_eq!(read_channel_data(&buf[..len - 1]), None, "short");
        assert_eq!(read_channel_data(&[0x80, 0, 0, 0]), None, "not a channel");
        assert_eq!(write_channel_data(0x4001, &[0; 13], &mut buf), None);
    }
}
