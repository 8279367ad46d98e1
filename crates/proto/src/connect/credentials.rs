//! Short-term credentials for connectivity checks, derived from the room key: every member can
//! compute every member's check password, a stranger without the room secret can compute none,
//! so a check or a response only passes MESSAGE-INTEGRITY when it comes from the room.

use stun_rs::HMACKey;

use crate::auth::RoomKey;

/// Binds the derived keys to this use (and version), apart from every other use of the room key.
const LABEL: &[u8] = b"osp-jam connect check password v1";

/// The check passwords of the room.
#[derive(Clone)]
pub(crate) struct Credentials {
    root: [u8; 32],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(..)")
    }
}

impl Credentials {
    pub(crate) fn new(key: &RoomKey) -> Self {
        Self {
            root: key.derive_labelled(LABEL),
        }
    }

    /// The key checks sent to `user_id` (and its responses) are signed with: 128 bits of
    /// HMAC-SHA256 over the user id, as 32 hex digits (an opaque string, as STUN wants).
    pub(crate) fn key_of(&self, user_id: u32) -> HMACKey {
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.root)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        hmac::Mac::update(&mut mac, &user_id.to_be_bytes());
        let digest = hmac::Mac::finalize(mac).into_bytes();
        let password: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        HMACKey::new_short_term(password)
            .unwrap_or_else(|_| unreachable!("hex digits are a valid opaque string"))
    }
}

/// The USERNAME of a check from `from` to `to` (RFC 8445 §7.2.2: the recipient's part first).
pub(crate) fn username(to: u32, from: u32) -> String {
    format!("{to:08x}:{from:08x}")
}

/// The (recipient, sender) of a check's USERNAME, if well formed.
pub(crate) fn parse_username(name: &str) -> Option<(u32, u32)> {
    let (to, from) = name.split_once(':')?;
    if to.len() != 8 || from.len() != 8 {
        return None;
    }
    Some((
        u32::from_str_radix(to, 16).ok()?,
        u32::from_str_radix(from, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_share_keys_and_strangers_do_not() {
        let room = Credentials::new(&RoomKey::derive(b"secret", "room"));
        let same = Credentials::new(&RoomKey::derive(b"secret", "room"));
        let stranger = Credentials::new(&RoomKey::derive(b"guess", "room"));
        assert_eq!(room.key_of(7), same.key_of(7));
        assert_ne!(room.key_of(7), room.key_of(8));
        assert_ne!(room.key_of(7), stranger.key_of(7));
        assert_eq!(
            parse_username(&username(0x10, 0xABCDEF01)),
            Some((0x10, 0xABCDEF01))
        );
        assert_eq!(parse_username("10:20"), None);
        assert_eq!(parse_username("0000001g:00000020"), None);
    }
}
