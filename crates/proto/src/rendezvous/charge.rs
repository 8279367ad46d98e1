//! `CHARGE`, the dialect's signed top-up, on the wire: the amount in integer micro-units, the
//! token (`<unix_ts>:<hmac_hex>`), the command's fields, the text the MAC covers, and the
//! refusal codes. Verifying the MAC, the time window, the replay cache and the balances belong
//! to the server (`relay::charge`).
//!
//! Money is never a float: an amount is a whole number of micro-units (10⁻⁶ USD), parsed from
//! a decimal with at most 6 fractional digits and written with exactly 6, so the text a sender
//! signs and the text the server rebuilds agree byte for byte.

use std::fmt;

/// Micro-units per unit (USD).
pub const MICROS_PER_UNIT: u64 = 1_000_000;

/// The largest amount one `CHARGE` may carry: 10,000 USD.
pub const MAX_CHARGE: Amount = Amount(10_000 * MICROS_PER_UNIT);

/// An amount of money in micro-units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u64);

impl Amount {
    /// No money.
    pub const ZERO: Self = Self(0);

    /// `micros` micro-units.
    pub const fn from_micros(micros: u64) -> Self {
        Self(micros)
    }

    /// The amount in micro-units.
    pub const fn micros(self) -> u64 {
        self.0
    }

    /// `self + other`, or `None` past `u64::MAX` micro-units.
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(sum) => Some(Self(sum)),
            None => None,
        }
    }

    /// Parses `<digits>[.<1 to 6 digits>]` (no sign, no exponent, no spaces). Leading zeros
    /// are fine: the amount is written back in its one canonical form.
    pub fn parse(text: &str) -> Option<Self> {
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) {
            return None;
        }
        let mut micros = whole.bytes().try_fold(0u64, |acc, b| {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        })?;
        micros = micros.checked_mul(MICROS_PER_UNIT)?;
        if let Some(fraction) = fraction {
            if !digits(fraction) || fraction.len() > 6 {
                return None;
            }
            let mut scale = MICROS_PER_UNIT;
            for b in fraction.bytes() {
                scale /= 10;
                micros = micros.checked_add(u64::from(b - b'0') * scale)?;
            }
        }
        Some(Self(micros))
    }
}

impl fmt::Display for Amount {
    /// `<whole>.<6 digits>`, e.g. `0.010000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}",
            self.0 / MICROS_PER_UNIT,
            self.0 % MICROS_PER_UNIT
        )
    }
}

/// An HMAC-SHA256 tag, 32 bytes, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChargeMac(pub [u8; 32]);

impl ChargeMac {
    /// Parses exactly 64 lowercase hex digits (the form senders write; accepting other cases
    /// would give one tag several spellings).
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let nibble = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        let mut mac = [0; 32];
        for (out, pair) in mac.iter_mut().zip(bytes.chunks_exact(2)) {
            *out = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(Self(mac))
    }
}

impl fmt::Display for ChargeMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ChargeMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChargeMac({self})")
    }
}

/// A charge token, `<unix_ts>:<hmac_hex>`: when the payment back-end signed, and its MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChargeToken {
    /// Seconds since the Unix epoch, as signed.
    pub unix_ts: u64,
    /// The MAC over [`signed_text`].
    pub mac: ChargeMac,
}

impl ChargeToken {
    /// Parses `<unix_ts>:<hmac_hex>`: the time in canonical decimal (no sign, no leading
    /// zeros: the MAC covers the text, so one time has one spelling), the MAC as
    /// [`ChargeMac::parse`].
    pub fn parse(text: &str) -> Option<Self> {
        let (ts, mac) = text.split_once(':')?;
        let canonical = !ts.is_empty()
            && ts.bytes().all(|b| b.is_ascii_digit())
            && (ts == "0" || !ts.starts_with('0'));
        if !canonical {
            return None;
        }
        Some(Self {
            unix_ts: ts.parse().ok()?,
            mac: ChargeMac::parse(mac)?,
        })
    }
}

impl fmt::Display for ChargeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.unix_ts, self.mac)
    }
}

/// The text the MAC covers: `CHARGE:<amount, 6 decimals>:<device_id>:<unix_ts>`.
pub fn signed_text(amount: Amount, device_id: &str, unix_ts: u64) -> impl fmt::Display + '_ {
    struct Signed<'a>(Amount, &'a str, u64);
    impl fmt::Display for Signed<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "CHARGE:{}:{}:{}", self.0, self.1, self.2)
        }
    }
    Signed(amount, device_id, unix_ts)
}

/// A `CHARGE` whose fields parse: `CHARGE:<amount>:<unix_ts>:<hmac_hex>`. The device id is
/// not on the wire: the server takes the sender's, from its JOIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChargeRequest {
    /// What to credit, `0 < amount <= MAX_CHARGE`.
    pub amount: Amount,
    /// The back-end's signature.
    pub token: ChargeToken,
}

impl ChargeRequest {
    /// Parses the fields after `CHARGE:` (`None`: there was no `:`), refusing in the order
    /// format, amount, empty token: a wrong number of fields or a token that is neither empty
    /// nor `<unix_ts>:<64 hex>` is [`ChargeRefusal::InvalidFormat`]; an amount that is not a
    /// decimal with at most 6 fractional digits in `(0, 10,000]` is
    /// [`ChargeRefusal::InvalidAmount`]; a missing or empty token is
    /// [`ChargeRefusal::PaymentFailed`].
    pub fn parse(rest: Option<&str>) -> Result<Self, ChargeRefusal> {
        let rest = rest.ok_or(ChargeRefusal::InvalidFormat)?;
        let (amount, token) = match rest.split_once(':') {
            Some((amount, token)) => (amount, token),
            None => (rest, ""),
        };
        Self::from_fields(amount, token)
    }

    /// The same checks on the amount text and the token text apart (the HTTP body carries
    /// them in two JSON fields).
    pub fn from_fields(amount: &str, token: &str) -> Result<Self, ChargeRefusal> {
        // `:` alone (UDP `CHARGE:<amount>::`) is an empty token too.
        let empty = token.is_empty() || token == ":";
        let token = if empty {
            None
        } else {
            Some(ChargeToken::parse(token).ok_or(ChargeRefusal::InvalidFormat)?)
        };
        let amount = Amount::parse(amount)
            .filter(|a| *a > Amount::ZERO && *a <= MAX_CHARGE)
            .ok_or(ChargeRefusal::InvalidAmount)?;
        let token = token.ok_or(ChargeRefusal::PaymentFailed)?;
        Ok(Self { amount, token })
    }
}

impl fmt::Display for ChargeRequest {
    /// The wire form, `CHARGE:<amount>:<unix_ts>:<hmac_hex>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CHARGE:{}:{}", self.amount, self.token)
    }
}

/// Why the server refused a `CHARGE` (the reason in its `ERR:` reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ChargeRefusal {
    /// `invalid_format`: the fields are not `<amount>:<unix_ts>:<hmac_hex>`.
    #[error("invalid_format")]
    InvalidFormat,
    /// `invalid_amount`: not a decimal with at most 6 fractional digits in `(0, 10,000]`.
    #[error("invalid_amount")]
    InvalidAmount,
    /// `payment_failed`: no token, or the server could not credit the charge.
    #[error("payment_failed")]
    PaymentFailed,
    /// `not_in_group`: the sender is no member.
    #[error("not_in_group")]
    NotInGroup,
    /// `charge_disabled`: the server has no charge key.
    #[error("charge_disabled")]
    ChargeDisabled,
    /// `invalid_token`: the MAC does not verify.
    #[error("invalid_token")]
    InvalidToken,
    /// `token_expired`: the token's time is more than 30 s from the server's.
    #[error("token_expired")]
    TokenExpired,
    /// `replay_detected`: this MAC was accepted before.
    #[error("replay_detected")]
    ReplayDetected,
}

impl ChargeRefusal {
    /// Every refusal.
    pub const ALL: [Self; 8] = [
        Self::InvalidFormat,
        Self::InvalidAmount,
        Self::PaymentFailed,
        Self::NotInGroup,
        Self::ChargeDisabled,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::ReplayDetected,
    ];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFormat => "invalid_format",
            Self::InvalidAmount => "invalid_amount",
            Self::PaymentFailed => "payment_failed",
            Self::NotInGroup => "not_in_group",
            Self::ChargeDisabled => "charge_disabled",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::ReplayDetected => "replay_detected",
        }
    }

    /// The refusal named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_micro_units_written_with_six_decimals() {
        let cases = [
            ("0.01", 10_000, "0.010000"),
            ("0.010000", 10_000, "0.010000"),
            ("1", 1_000_000, "1.000000"),
            ("007.5", 7_500_000, "7.500000"),
            ("0.000001", 1, "0.000001"),
            ("10000", 10_000_000_000, "10000.000000"),
            ("0.1", 100_000, "0.100000"),
            ("0.3", 300_000, "0.300000"),
        ];
        for (text, micros, written) in cases {
            let amount = Amount::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(amount.micros(), micros, "{text}");
            assert_eq!(amount.to_string(), written, "{text}");
        }
        // 0.1 + 0.2 is 0.3 exactly (it is not in binary floating point).
        let sum = Amount::parse("0.1")
            .unwrap()
            .checked_add(Amount::parse("0.2").unwrap());
        assert_eq!(sum, Amount::parse("0.3"));
    }

    #[test]
    fn amount_syntax_is_strict() {
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "-1",
            "+1",
            "1e3",
            "1.0000001",
            "1,5",
            " 1",
            "1 ",
            "0x10",
            "1.2.3",
            "NaN",
            "inf",
            // u64 overflow in micro-units.
            "18446744073709551616",
            "18446744073710",
        ] {
            assert_eq!(Amount::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn mac_is_64_lowercase_hex_digits() {
        let hex = "c0cc0194943781c7a95c6c450be73ac02327cf9ac96c9f36b5815a8cd2fdfce1";
        let mac = ChargeMac::parse(hex).unwrap();
        assert_eq!(mac.0[0], 0xC0);
        assert_eq!(mac.0[31], 0xE1);
        assert_eq!(mac.to_string(), hex);
        assert_eq!(ChargeMac::parse(&hex.to_uppercase()), None);
        assert_eq!(ChargeMac::parse(&hex[..62]), None);
        assert_eq!(ChargeMac::parse(&format!("{hex}00")), None);
        assert_eq!(ChargeMac::parse(&hex.replace('c', "g")), None);
    }

    #[test]
    fn the_signed_text_uses_six_decimals() {
        let amount = Amount::parse("0.01").unwrap();
        assert_eq!(
            signed_text(amount, "dev-0001", 1_741_996_800).to_string(),
            "CHARGE:0.010000:dev-0001:1741996800"
        );
    }

    #[test]
    fn fields_are_refused_in_order_format_amount_token() {
        let mac = "c0cc0194943781c7a95c6c450be73ac02327cf9ac96c9f36b5815a8cd2fdfce1";
        let parse = |rest: &str| ChargeRequest::parse(Some(rest));
        let ok = parse(&format!("0.01:1741996800:{mac}")).unwrap();
        assert_eq!(ok.amount, Amount::from_micros(10_000));
        assert_eq!(ok.token.unix_ts, 1_741_996_800);
        assert_eq!(ok.to_string(), format!("CHARGE:0.010000:1741996800:{mac}"));
        use ChargeRefusal::*;
        let cases = [
            (format!("0.01:1741996800:{mac}:extra"), InvalidFormat),
            (format!("0.01:01741996800:{mac}"), InvalidFormat),
            (format!("0.01:-1:{mac}"), InvalidFormat),
            (format!("0.01:1741996800:{}", &mac[..63]), InvalidFormat),
            (format!("0.01:1741996800:{}z", &mac[..63]), InvalidFormat),
            (format!("abc:1741996800:{}z", &mac[..63]), InvalidFormat),
            ("0.01:1741996800".to_owned(), InvalidFormat),
            (format!("0.0000001:1741996800:{mac}"), InvalidAmount),
            (format!("-1:1741996800:{mac}"), InvalidAmount),
            (format!("0:1741996800:{mac}"), InvalidAmount),
            (format!("0.000000:1741996800:{mac}"), InvalidAmount),
            (format!("10000.000001:1741996800:{mac}"), InvalidAmount),
            ("abc".to_owned(), InvalidAmount),
            ("0.01".to_owned(), PaymentFailed),
            ("0.01:".to_owned(), PaymentFailed),
            ("0.01::".to_owned(), PaymentFailed),
        ];
        for (rest, refusal) in cases {
            assert_eq!(parse(&rest), Err(refusal), "{rest}");
        }
        assert_eq!(ChargeRequest::parse(None), Err(InvalidFormat));
        assert!(parse(&format!("10000:1741996800:{mac}")).is_ok());
    }

    #[test]
    fn refusals_round_trip_by_name() {
        for refusal in ChargeRefusal::ALL {
            assert_eq!(ChargeRefusal::from_name(refusal.as_str()), Some(refusal));
            assert_eq!(refusal.to_string(), refusal.as_str());
        }
        assert_eq!(ChargeRefusal::from_name("other"), None);
    }
}
