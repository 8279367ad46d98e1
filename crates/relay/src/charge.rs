//! `CHARGE`, sans-IO: the [`Cashier`] checks a signed top-up and credits the device's balance.
//!
//! A payment back-end that shares the relay's charge key signs
//! `CHARGE:<amount, 6 decimals>:<device_id>:<unix_ts>` with HMAC-SHA256
//! ([`proto::rendezvous::charge::signed_text`]); the member (UDP, `CHARGE:<amount>:<unix_ts>:<hmac_hex>`,
//! device id from its JOIN) or the back-end (HTTP body, [`http`]) hands it to the relay.
//!
//! Checks, in this order, each with its own refusal:
//! format, amount, token present (all three while parsing,
//! [`proto::rendezvous::ChargeRequest::parse`]) → membership → key (none configured: disabled;
//! there is no default key) → time window (`|now − ts| ≤ 30 s`, in whole seconds of the
//! server's wall clock) → MAC (constant-time) → replay (a MAC accepted in the last 300 s) →
//! credit. A MAC is remembered only when its charge is credited, so a charge the server could
//! not credit (wallet or replay cache full, balance overflow) can be retried with the same
//! token while it is in its window.
//!
//! - [`wallet`]: balances per device id, a bounded number of accounts.
//! - [`replay`]: the MACs accepted in the last 300 s, bounded.
//! - [`http`]: the HTTP body and the response for it.

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac};
use proto::rendezvous::charge::signed_text;
use proto::rendezvous::{Amount, ChargeRefusal, ChargeRequest};
use proto::time::Instant;
use sha2::Sha256;

pub mod http;
pub mod replay;
pub mod wallet;

use replay::ReplayCache;
use wallet::Wallet;

/// A token more than this far from the server's wall clock (either way) is expired.
pub const WINDOW: Duration = Duration::from_secs(30);
/// How long an accepted MAC is remembered. Longer than the 61 s in which a token can be
/// accepted at all, so a wall clock that steps by up to four minutes still cannot reopen one.
pub const REPLAY_TTL: Duration = Duration::from_secs(300);

/// Memory bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChargeLimits {
    /// Devices with a balance. Balances are money and are never evicted: a charge for a new
    /// device beyond this is refused (`payment_failed`, counted as `wallet_full`).
    pub max_accounts: usize,
    /// MACs remembered at once. At most this many charges are accepted per [`REPLAY_TTL`]
    /// (16,384 per 300 s is 54 a second, far beyond any relay's top-ups); beyond it charges
    /// are refused (`payment_failed`, counted as `replay_cache_full`) rather than accepted
    /// unremembered.
    pub max_remembered: usize,
}

impl Default for ChargeLimits {
    fn default() -> Self {
        Self {
            max_accounts: 10_000,
            max_remembered: 16_384,
        }
    }
}

/// The relay's charge secret, shared only with the payment back-end.
#[derive(Clone)]
pub struct ChargeKey(Hmac<Sha256>);

impl ChargeKey {
    /// A key of these bytes; `None` if empty (an empty key would be a default key).
    pub fn new(secret: &[u8]) -> Option<Self> {
        if secret.is_empty() {
            return None;
        }
        // HMAC takes keys of any length: this cannot fail.
        Hmac::new_from_slice(secret).ok().map(Self)
    }

    /// The key from a key file's contents: the bytes without one trailing line ending (`\n`
    /// or `\r\n`, as editors and `echo` leave); `None` if nothing is left.
    pub fn from_file_contents(contents: &[u8]) -> Option<Self> {
        let secret = contents.strip_suffix(b"\n").unwrap_or(contents);
        let secret = secret.strip_suffix(b"\r").unwrap_or(secret);
        Self::new(secret)
    }

    /// The MAC over the signed text of this charge (what the payment back-end computes).
    pub fn sign(&self, amount: Amount, device_id: &str, unix_ts: u64) -> [u8; 32] {
        self.keyed(amount, device_id, unix_ts)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Whether `mac` is the MAC of this charge, compared in constant time.
    pub fn verifies(&self, amount: Amount, device_id: &str, unix_ts: u64, mac: &[u8]) -> bool {
        self.keyed(amount, device_id, unix_ts)
            .verify_slice(mac)
            .is_ok()
    }

    fn keyed(&self, amount: Amount, device_id: &str, unix_ts: u64) -> Hmac<Sha256> {
        /// Feeds formatted text straight into the MAC (no buffer).
        struct Feed(Hmac<Sha256>);
        impl fmt::Write for Feed {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0.update(s.as_bytes());
                Ok(())
            }
        }
        let mut feed = Feed(self.0.clone());
        // Writing into the MAC cannot fail.
        let _ = fmt::write(
            &mut feed,
            format_args!("{}", signed_text(amount, device_id, unix_ts)),
        );
        feed.0
    }
}

impl fmt::Debug for ChargeKey {
    /// Never the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChargeKey(..)")
    }
}

/// Why a charge was not credited: the wire refusals, with `payment_failed` split by cause so
/// the counters tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChargeError {
    /// `invalid_format`.
    InvalidFormat,
    /// `invalid_amount`.
    InvalidAmount,
    /// `payment_failed`: no token.
    NoToken,
    /// `not_in_group`.
    NotInGroup,
    /// `charge_disabled`: no key, or no wall clock to check the window against.
    Disabled,
    /// `invalid_token`: the MAC does not verify.
    InvalidToken,
    /// `token_expired`.
    Expired,
    /// `replay_detected`.
    Replayed,
    /// `payment_failed`: a new device and the wallet holds [`ChargeLimits::max_accounts`].
    WalletFull,
    /// `payment_failed`: the balance would pass `u64::MAX` micro-units.
    BalanceLimit,
    /// `payment_failed`: [`ChargeLimits::max_remembered`] MACs are remembered.
    ReplayCacheFull,
}

impl ChargeError {
    /// The reason on the wire.
    pub const fn refusal(self) -> ChargeRefusal {
        match self {
            Self::InvalidFormat => ChargeRefusal::InvalidFormat,
            Self::InvalidAmount => ChargeRefusal::InvalidAmount,
            Self::NoToken | Self::WalletFull | Self::BalanceLimit | Self::ReplayCacheFull => {
                ChargeRefusal::PaymentFailed
            }
            Self::NotInGroup => ChargeRefusal::NotInGroup,
            Self::Disabled => ChargeRefusal::ChargeDisabled,
            Self::InvalidToken => ChargeRefusal::InvalidToken,
            Self::Expired => ChargeRefusal::TokenExpired,
            Self::Replayed => ChargeRefusal::ReplayDetected,
        }
    }

    /// The HTTP status: 503 when the server cannot take charges (no key) or cannot credit
    /// this one now, 400 for a request that is wrong whatever the key, 401 for a token that
    /// does not authenticate now, 409 for a replay.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::Disabled | Self::WalletFull | Self::BalanceLimit | Self::ReplayCacheFull => 503,
            Self::InvalidFormat | Self::InvalidAmount | Self::NoToken | Self::NotInGroup => 400,
            Self::InvalidToken | Self::Expired => 401,
            Self::Replayed => 409,
        }
    }
}

impl From<ChargeRefusal> for ChargeError {
    /// The refusals [`ChargeRequest::parse`] gives (`payment_failed` there means no token).
    fn from(refusal: ChargeRefusal) -> Self {
        match refusal {
            ChargeRefusal::InvalidFormat => Self::InvalidFormat,
            ChargeRefusal::InvalidAmount => Self::InvalidAmount,
            ChargeRefusal::PaymentFailed => Self::NoToken,
            ChargeRefusal::NotInGroup => Self::NotInGroup,
            ChargeRefusal::ChargeDisabled => Self::Disabled,
            ChargeRefusal::InvalidToken => Self::InvalidToken,
            ChargeRefusal::TokenExpired => Self::Expired,
            ChargeRefusal::ReplayDetected => Self::Replayed,
        }
    }
}

/// A credited charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// What was credited.
    pub amount: Amount,
    /// The device's balance after it.
    pub balance: Amount,
}

/// Charges by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChargeCounters {
    /// Charges credited.
    pub charged: u64,
    /// Micro-units credited in total.
    pub credited_micros: u64,
    /// Refused: `invalid_format`.
    pub invalid_format: u64,
    /// Refused: `invalid_amount`.
    pub invalid_amount: u64,
    /// Refused: `payment_failed`, no token.
    pub no_token: u64,
    /// Refused: `not_in_group`.
    pub not_in_group: u64,
    /// Refused: `charge_disabled`.
    pub disabled: u64,
    /// Refused: `invalid_token`.
    pub invalid_token: u64,
    /// Refused: `token_expired`.
    pub expired: u64,
    /// Refused: `replay_detected`.
    pub replayed: u64,
    /// Refused: `payment_failed`, wallet full.
    pub wallet_full: u64,
    /// Refused: `payment_failed`, balance overflow.
    pub balance_limit: u64,
    /// Refused: `payment_failed`, replay cache full.
    pub replay_cache_full: u64,
}

impl ChargeCounters {
    /// Counts one outcome.
    pub fn record(&mut self, outcome: &Result<Receipt, ChargeError>) {
        let counter = match outcome {
            Ok(receipt) => {
                self.credited_micros = self.credited_micros.saturating_add(receipt.amount.micros());
                &mut self.charged
            }
            Err(ChargeError::InvalidFormat) => &mut self.invalid_format,
            Err(ChargeError::InvalidAmount) => &mut self.invalid_amount,
            Err(ChargeError::NoToken) => &mut self.no_token,
            Err(ChargeError::NotInGroup) => &mut self.not_in_group,
            Err(ChargeError::Disabled) => &mut self.disabled,
            Err(ChargeError::InvalidToken) => &mut self.invalid_token,
            Err(ChargeError::Expired) => &mut self.expired,
            Err(ChargeError::Replayed) => &mut self.replayed,
            Err(ChargeError::WalletFull) => &mut self.wallet_full,
            Err(ChargeError::BalanceLimit) => &mut self.balance_limit,
            Err(ChargeError::ReplayCacheFull) => &mut self.replay_cache_full,
        };
        *counter += 1;
    }

    /// Refused charges, all reasons.
    pub fn refused(&self) -> u64 {
        self.invalid_format
            + self.invalid_amount
            + self.no_token
            + self.not_in_group
            + self.disabled
            + self.invalid_token
            + self.expired
            + self.replayed
            + self.wallet_full
            + self.balance_limit
            + self.replay_cache_full
    }
}

impl fmt::Display for ChargeCounters {
    /// `name=value` pairs, each name prefixed `charge_`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "charged={} charge_credited={}",
            self.charged,
            Amount::from_micros(self.credited_micros)
        )?;
        let refusals = [
            ("invalid_format", self.invalid_format),
            ("invalid_amount", self.invalid_amount),
            ("no_token", self.no_token),
            ("not_in_group", self.not_in_group),
            ("disabled", self.disabled),
            ("invalid_token", self.invalid_token),
            ("expired", self.expired),
            ("replayed", self.replayed),
            ("wallet_full", self.wallet_full),
            ("balance_limit", self.balance_limit),
            ("replay_cache_full", self.replay_cache_full),
        ];
        for (name, value) in refusals {
            write!(f, " charge_{name}={value}")?;
        }
        Ok(())
    }
}

/// Checks charges and keeps the balances.
#[derive(Debug)]
pub struct Cashier {
    key: Option<ChargeKey>,
    /// A monotonic instant and the wall-clock time (since the Unix epoch) at it.
    wall_clock: Option<(Instant, Duration)>,
    replay: ReplayCache,
    wallet: Wallet,
}

impl Cashier {
    /// A cashier without a key: every charge is refused `charge_disabled` until
    /// [`Cashier::set_key`].
    pub fn new(limits: ChargeLimits) -> Self {
        Self {
            key: None,
            wall_clock: None,
            replay: ReplayCache::new(limits.max_remembered, REPLAY_TTL),
            wallet: Wallet::new(limits.max_accounts),
        }
    }

    /// Enables charges with this key.
    pub fn set_key(&mut self, key: ChargeKey) {
        self.key = Some(key);
    }

    /// Ties the monotonic clock to the wall clock: at `now`, `since_epoch` had passed since
    /// the Unix epoch. Call it again to follow a wall clock that was stepped. Until the first
    /// call, charges are refused `charge_disabled` (the window cannot be checked).
    pub fn set_wall_clock(&mut self, now: Instant, since_epoch: Duration) {
        self.wall_clock = Some((now, since_epoch));
    }

    /// The balances.
    pub fn wallet(&self) -> &Wallet {
        &self.wallet
    }

    /// MACs remembered now.
    pub fn remembered(&self) -> usize {
        self.replay.len()
    }

    /// Forgets MACs older than [`REPLAY_TTL`].
    pub fn expire(&mut self, now: Instant) {
        self.replay.expire(now);
    }

    /// Checks a parsed charge from `device_id` (`None`: the sender is no member) and credits
    /// it, from the membership check on (the module's order).
    ///
    /// # Errors
    /// The first check that fails.
    pub fn charge(
        &mut self,
        now: Instant,
        device_id: Option<&str>,
        request: &ChargeRequest,
    ) -> Result<Receipt, ChargeError> {
        let device_id = device_id.ok_or(ChargeError::NotInGroup)?;
        let key = self.key.as_ref().ok_or(ChargeError::Disabled)?;
        let (anchor, since_epoch) = self.wall_clock.ok_or(ChargeError::Disabled)?;
        let unix_now = (since_epoch + now.saturating_since(anchor)).as_secs();
        let token = request.token;
        if unix_now.abs_diff(token.unix_ts) > WINDOW.as_secs() {
            return Err(ChargeError::Expired);
        }
        if !key.verifies(request.amount, device_id, token.unix_ts, &token.mac.0) {
            return Err(ChargeError::InvalidToken);
        }
        if self.replay.contains(now, &token.mac) {
            return Err(ChargeError::Replayed);
        }
        if self.replay.is_full() {
            return Err(ChargeError::ReplayCacheFull);
        }
        let balance = self.wallet.credit(device_id, request.amount)?;
        self.replay.insert(now, token.mac);
        Ok(Receipt {
            amount: request.amount,
            balance,
        })
    }
}

#[cfg(test)]
mod tests;
