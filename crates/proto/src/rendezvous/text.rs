//! The dialect's text rules shared by both directions: what counts as dialect text, trailing
//! CR/LF, the command name, and field checks.

use super::charge::ChargeRefusal;
use super::{MAX_NAME, MAX_TEXT};

/// Why a datagram is not a command or reply we understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// No bytes (or only CR/LF).
    #[error("empty datagram")]
    Empty,
    /// The first byte is not `A`–`Z`: not dialect text (RTP, STUN and the rest are binary).
    #[error("not dialect text (first byte not A-Z)")]
    NotText,
    /// Longer than [`MAX_TEXT`](super::MAX_TEXT).
    #[error("longer than {MAX_TEXT} bytes")]
    TooLong,
    /// Not UTF-8, or contains control characters.
    #[error("not printable UTF-8 text")]
    NotPrintable,
    /// A well-formed command name we do not handle in this direction.
    #[error("unknown or unsupported command")]
    Unknown,
    /// A field the command needs is absent.
    #[error("missing field: {0}")]
    Missing(&'static str),
    /// A field is present but not valid.
    #[error("bad field: {0}")]
    Bad(&'static str),
    /// A `CHARGE` whose fields do not parse: the server answers it with this refusal (its
    /// reply names what is wrong, unlike other malformed commands, which are dropped).
    #[error("CHARGE refused: {0}")]
    Charge(ChargeRefusal),
}

/// Whether `data` is relay-dialect text by its first byte (`A`–`Z`, the demultiplexing rule
/// that tells it from RTP, STUN, DTLS and the clock-sync packet on the shared port).
pub fn is_dialect(data: &[u8]) -> bool {
    matches!(data.first(), Some(b'A'..=b'Z'))
}

/// A datagram split into its command name and the rest (after the first `:`, if any), with
/// trailing CR/LF stripped and the text checked.
pub(super) fn split(data: &[u8]) -> Result<(&str, Option<&str>), ParseError> {
    if data.len() > MAX_TEXT {
        return Err(ParseError::TooLong);
    }
    let mut end = data.len();
    while end > 0 && matches!(data[end - 1], b'\r' | b'\n') {
        end -= 1;
    }
    let data = &data[..end];
    if data.is_empty() {
        return Err(ParseError::Empty);
    }
    if !is_dialect(data) {
        return Err(ParseError::NotText);
    }
    let text = std::str::from_utf8(data).map_err(|_| ParseError::NotPrintable)?;
    if text.chars().any(char::is_control) {
        return Err(ParseError::NotPrintable);
    }
    Ok(match text.split_once(':') {
        Some((name, rest)) => (name, Some(rest)),
        None => (text, None),
    })
}

/// Whether `field` may stand in a `:`-separated field of at most `max` bytes: no `:`, no
/// control characters.
pub(super) fn valid_field(field: &str, max: usize) -> bool {
    field.len() <= max && !field.contains(':') && !field.chars().any(char::is_control)
}

/// A name field (group, device name): at most [`MAX_NAME`] bytes.
pub(super) fn name(field: &str, what: &'static str) -> Result<(), ParseError> {
    if valid_field(field, MAX_NAME) {
        Ok(())
    } else {
        Err(ParseError::Bad(what))
    }
}

/// A decimal `u32` written the canonical way (no sign, no leading zeros but `0` itself).
pub(super) fn decimal_u32(field: &str, what: &'static str) -> Result<u32, ParseError> {
    let canonical = !field.is_empty()
        && field.bytes().all(|b| b.is_ascii_digit())
        && (field == "0" || !field.starts_with('0'));
    if !canonical {
        return Err(ParseError::Bad(what));
    }
    field.parse().map_err(|_| ParseError::Bad(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_cr_lf_and_splits_at_the_first_colon() {
        assert_eq!(split(b"HELLO\r\n"), Ok(("HELLO", None)));
        assert_eq!(split(b"MODE:private\n"), Ok(("MODE", Some("private"))));
        assert_eq!(split(b"PEER:[::1]:5"), Ok(("PEER", Some("[::1]:5"))));
    }

    #[test]
    fn refuses_what_is_not_dialect_text() {
        assert_eq!(split(b""), Err(ParseError::Empty));
        assert_eq!(split(b"\r\n"), Err(ParseError::Empty));
        assert_eq!(split(b"hello"), Err(ParseError::NotText));
        assert_eq!(split(&[0x80, 0x6F]), Err(ParseError::NotText));
        assert_eq!(split(b"JOIN:a\tb"), Err(ParseError::NotPrintable));
        assert_eq!(split(b"JOIN:\xFF"), Err(ParseError::NotPrintable));
        assert_eq!(split(&[b'A'; MAX_TEXT + 1]), Err(ParseError::TooLong));
        assert!(split(&[b'A'; MAX_TEXT]).is_ok());
    }

    #[test]
    fn decimals_are_canonical() {
        assert_eq!(decimal_u32("0", "x"), Ok(0));
        assert_eq!(decimal_u32("4294967295", "x"), Ok(u32::MAX));
        for bad in ["", "01", "+1", "-1", "4294967296", "1 ", "0x10"] {
            assert_eq!(decimal_u32(bad, "x"), Err(ParseError::Bad("x")), "{bad:?}");
        }
    }
}
