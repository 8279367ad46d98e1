//! The group name and JOIN verifier a member derives from the room secret, so the secret never
//! reaches the room server.
//!
//! Both come from HKDF-SHA256 over the secret with their own salt, the room id as `info` and a
//! label per output, so they are unrelated to the room key that authenticates members to each
//! other ([`crate::auth::RoomKey`]): the server, or anyone reading the JOIN datagram, learns
//! nothing that helps forge an OSP handshake proof.
//!
//! **The verifier is static.** It travels in clear in every JOIN, so anyone who has seen one can
//! replay it. It only gates who receives the group's `PEER:`/`CAND:` lines; members still prove
//! they hold the room secret to each other with the OSP challenge-response, and an address
//! learnt here is worth nothing without that proof.
//!
//! **The group name is a keyed hash, not the room id in clear.** The dialect lets the first
//! joiner's password become the group's, so with clear names anyone who knows (or guesses) a
//! room's name could create its group first with a wrong password and lock the real members
//! out with `ERR:wrong_password`. A group name derived from the secret cannot be claimed without
//! the secret, two rooms that share a name but not a secret never collide, and the server never
//! sees room names. The price is that the server's statistics show opaque group ids.

use hkdf::Hkdf;
use sha2::Sha256;

/// HKDF salt (domain separation from every other use of the room secret).
const SALT: &[u8] = b"osp-jam/rendezvous/v1";
/// Per-output labels, prefixed to the room id in HKDF's `info`.
const GROUP_LABEL: &[u8] = b"group\0";
const VERIFIER_LABEL: &[u8] = b"verifier\0";

/// Bytes of the group name (hex doubles it: 32 characters).
const GROUP_BYTES: usize = 16;
/// Bytes of the verifier (64 hex characters).
const VERIFIER_BYTES: usize = 32;

/// A member's JOIN credentials for one room.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    group: String,
    verifier: String,
}

impl Credentials {
    /// Derives the group name and verifier for `room_id` from the room secret.
    pub fn derive(secret: &[u8], room_id: &str) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), secret);
        let expand = |label: &[u8], out: &mut [u8]| {
            // Both outputs are far below HKDF-SHA256's 8,160-byte limit: this cannot fail.
            hkdf.expand_multi_info(&[label, room_id.as_bytes()], out)
                .unwrap_or_else(|_| unreachable!("short HKDF output is always valid"));
        };
        let mut group = [0; GROUP_BYTES];
        expand(GROUP_LABEL, &mut group);
        let mut verifier = [0; VERIFIER_BYTES];
        expand(VERIFIER_LABEL, &mut verifier);
        Self {
            group: hex(&group),
            verifier: hex(&verifier),
        }
    }

    /// The JOIN group field: 32 lowercase hex digits.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The JOIN password field: 64 lowercase hex digits.
    pub fn verifier(&self) -> &str {
        &self.verifier
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rendezvous::{Command, Join};

    #[test]
    fn outputs_are_hex_of_their_length_and_fit_a_join() {
        let c = Credentials::derive(b"correct horse", "friday-jam");
        assert_eq!(c.group().len(), 32);
        assert_eq!(c.verifier().len(), 64);
        assert!(c.verifier().bytes().all(|b| b.is_ascii_hexdigit()));
        let join = Join {
            group: c.group(),
            password: c.verifier(),
            device_name: "keys",
            device_id: Some(3),
        };
        assert!(join.is_valid());
        let mut out = Vec::new();
        Command::Join(join).write(&mut out);
        assert_eq!(Command::parse(&out), Ok(Command::Join(join)));
    }

    #[test]
    fn secret_and_room_both_change_everything() {
        let a = Credentials::derive(b"s1", "room");
        assert_eq!(a, Credentials::derive(b"s1", "room"), "deterministic");
        for other in [
            Credentials::derive(b"s2", "room"),
            Credentials::derive(b"s1", "room2"),
        ] {
            assert_ne!(a.group(), other.group());
            assert_ne!(a.verifier(), other.verifier());
        }
        assert_ne!(
            &a.verifier()[..32],
            a.group(),
            "labels separate the outputs"
        );
    }

    #[test]
    fn the_verifier_is_not_the_room_key() {
        // The room key authenticates members to each other; the server must not learn it.
        let c = Credentials::derive(b"secret", "room");
        let hkdf = Hkdf::<Sha256>::new(Some(b"osp-jam/room-key/v1"), b"secret");
        let mut room_key = [0; 32];
        hkdf.expand(b"room", &mut room_key).unwrap();
        assert_ne!(hex(&room_key), c.verifier());
    }
}
