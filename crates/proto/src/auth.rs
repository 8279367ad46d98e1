//! Room authentication: the per-room key (HKDF-SHA256 from the room secret) and the
//! HMAC-SHA256 proofs of the peer handshake and leave.
//!
//! Both sides of a connection pick a fresh random [`Nonce`]. A peer proves it holds the room
//! key by sending `HMAC(key, transcript)` over a transcript that names both user ids (in
//! direction order, so a proof cannot be reflected back), **both** nonces, and the stream
//! announcement it is making. The verifier checks the proof against its own current nonce, so a
//! proof captured from an earlier connection never verifies again: the verifier's nonce has
//! changed. The room secret itself never travels; the reference's static `room_secret_hash`
//! (blake3 of the secret) is replayable and is not used for admission.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Salt of the room-key derivation (domain separation from any other use of the secret).
const KEY_SALT: &[u8] = b"osp-jam/room-key/v1";
/// Transcript label of a handshake proof.
const PROOF_LABEL: &[u8] = b"osp-jam/peer-auth/v1";
/// Transcript label of a leave tag.
const LEAVE_LABEL: &[u8] = b"osp-jam/peer-leave/v1";

type HmacSha256 = Hmac<Sha256>;

/// The room's authentication key: HKDF-SHA256 (RFC 5869) of the room secret, with the room id
/// as `info` so the same secret used for two rooms gives unrelated keys.
#[derive(Clone)]
pub struct RoomKey([u8; 32]);

impl RoomKey {
    /// Derives the key for `room_id` from the shared room secret.
    pub fn derive(secret: &[u8], room_id: &str) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(KEY_SALT), secret);
        let mut key = [0; 32];
        // 32 bytes is far below HKDF-SHA256's 8,160-byte limit: this cannot fail.
        hkdf.expand(room_id.as_bytes(), &mut key)
            .unwrap_or_else(|_| unreachable!("32-byte HKDF output is always valid"));
        Self(key)
    }

    /// A key for another purpose, bound to `label`: HMAC-SHA256 of the label under the room key,
    /// so knowing one derived key reveals neither the room key nor any other label's key.
    pub fn derive_labelled(&self, label: &[u8]) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(label);
        mac.finalize().into_bytes().into()
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length: this cannot fail.
        <HmacSha256 as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }
}

impl std::fmt::Debug for RoomKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomKey(..)")
    }
}

/// A connection nonce: 32 random bytes, fresh for every connection attempt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nonce(pub [u8; 32]);

impl Nonce {
    /// 32 bytes from `rng` (the endpoint's seeded generator).
    pub fn random(rng: &mut impl RngCore) -> Self {
        let mut bytes = [0; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }
}

/// An HMAC-SHA256 tag.
pub type Tag = [u8; 32];

/// Why a proof or tag was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The tag does not match: the sender lacks the room key, the message was altered, or it was
    /// made for another connection (a replay). Retrying the same bytes never helps.
    #[error("authentication tag does not match")]
    BadTag,
}

/// Who proves to whom, over which nonces.
#[derive(Clone, Copy, Debug)]
pub struct Transcript<'a> {
    /// The prover's user id.
    pub from: u32,
    /// The verifier's user id.
    pub to: u32,
    /// The prover's nonce.
    pub from_nonce: &'a Nonce,
    /// The verifier's nonce.
    pub to_nonce: &'a Nonce,
}

impl Transcript<'_> {
    fn feed(&self, mac: &mut HmacSha256, label: &[u8]) {
        mac.update(label);
        mac.update(&[0]);
        mac.update(&self.from.to_be_bytes());
        mac.update(&self.to.to_be_bytes());
        mac.update(&self.from_nonce.0);
        mac.update(&self.to_nonce.0);
    }
}

/// The handshake proof: binds the transcript and the encoded stream announcement the prover
/// sends with it, so the announcement is authenticated too.
pub fn proof(key: &RoomKey, transcript: Transcript<'_>, announce: &[u8]) -> Tag {
    let mut mac = key.mac();
    transcript.feed(&mut mac, PROOF_LABEL);
    mac.update(&(announce.len() as u64).to_be_bytes());
    mac.update(announce);
    mac.finalize().into_bytes().into()
}

/// Checks a handshake proof in constant time.
///
/// # Errors
/// [`AuthError::BadTag`] if it does not match.
pub fn verify_proof(
    key: &RoomKey,
    transcript: Transcript<'_>,
    announce: &[u8],
    tag: &Tag,
) -> Result<(), AuthError> {
    let mut mac = key.mac();
    transcript.feed(&mut mac, PROOF_LABEL);
    mac.update(&(announce.len() as u64).to_be_bytes());
    mac.update(announce);
    mac.verify_slice(tag).map_err(|_| AuthError::BadTag)
}

/// The tag of a leave notice, so only the connected peer can end its own connection.
pub fn leave_tag(key: &RoomKey, transcript: Transcript<'_>, reason: u8) -> Tag {
    let mut mac = key.mac();
    transcript.feed(&mut mac, LEAVE_LABEL);
    mac.update(&[reason]);
    mac.finalize().into_bytes().into()
}

/// Checks a leave tag in constant time.
///
/// # Errors
/// [`AuthError::BadTag`] if it does not match.
pub fn verify_leave(
    key: &RoomKey,
    transcript: Transcript<'_>,
    reason: u8,
    tag: &Tag,
) -> Result<(), AuthError> {
    let mut mac = key.mac();
    transcript.feed(&mut mac, LEAVE_LABEL);
    mac.update(&[reason]);
    mac.verify_slice(tag).map_err(|_| AuthError::BadTag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_primitives_match_their_rfc_vectors() {
        // RFC 4231 test case 2.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // RFC 5869 test case 1.
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let mut okm = [0; 42];
        Hkdf::<Sha256>::new(Some(&salt), &[0x0b; 22])
            .expand(&info, &mut okm)
            .unwrap();
        assert_eq!(
            hex(&okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn proofs_bind_key_direction_nonces_and_announcement() {
        let key = RoomKey::derive(b"secret", "room-1");
        let a = Nonce([1; 32]);
        let b = Nonce([2; 32]);
        let t = Transcript {
            from: 7,
            to: 9,
            from_nonce: &a,
            to_nonce: &b,
        };
        let tag = proof(&key, t, b"streams");
        assert_eq!(verify_proof(&key, t, b"streams", &tag), Ok(()));

        let other_room = RoomKey::derive(b"secret", "room-2");
        let wrong_secret = RoomKey::derive(b"secreT", "room-1");
        let reflected = Transcript {
            from: 9,
            to: 7,
            from_nonce: &b,
            to_nonce: &a,
        };
        let fresh = Nonce([3; 32]);
        let replayed = Transcript {
            to_nonce: &fresh,
            ..t
        };
        for (key, t, announce) in [
            (&other_room, t, &b"streams"[..]),
            (&wrong_secret, t, b"streams"),
            (&key, reflected, b"streams"),
            (&key, replayed, b"streams"),
            (&key, t, b"streamz"),
        ] {
            assert_eq!(verify_proof(key, t, announce, &tag), Err(AuthError::BadTag));
        }
        // A leave tag is not a proof and the reason is bound.
        let leave = leave_tag(&key, t, 0);
        assert_ne!(leave, tag);
        assert_eq!(verify_leave(&key, t, 0, &leave), Ok(()));
        assert_eq!(verify_leave(&key, t, 1, &leave), Err(AuthError::BadTag));
        assert_eq!(format!("{key:?}"), "RoomKey(..)");
    }
}
