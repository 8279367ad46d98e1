//! Balances per device id, in micro-units, for a bounded number of devices.

use std::collections::HashMap;

use proto::rendezvous::Amount;

use super::ChargeError;

/// The balances. An account is opened by its first credit and never evicted: balances are
/// money, so a full wallet refuses new devices instead of forgetting old ones.
#[derive(Debug)]
pub struct Wallet {
    max_accounts: usize,
    balances: HashMap<Box<str>, Amount>,
}

impl Wallet {
    /// A wallet for at most `max_accounts` devices.
    pub fn new(max_accounts: usize) -> Self {
        Self {
            max_accounts,
            balances: HashMap::new(),
        }
    }

    /// The balance of `device_id`, `None` if it was never credited.
    pub fn balance(&self, device_id: &str) -> Option<Amount> {
        self.balances.get(device_id).copied()
    }

    /// Devices with an account.
    pub fn len(&self) -> usize {
        self.balances.len()
    }

    /// Whether no device has an account.
    pub fn is_empty(&self) -> bool {
        self.balances.is_empty()
    }

    /// Adds `amount` to the balance of `device_id`; the new balance.
    ///
    /// # Errors
    /// [`ChargeError::WalletFull`] for a new device when the wallet is full,
    /// [`ChargeError::BalanceLimit`] if the balance would pass `u64::MAX` micro-units; the
    /// wallet is unchanged either way.
    pub fn credit(&mut self, device_id: &str, amount: Amount) -> Result<Amount, ChargeError> {
        if let Some(balance) = self.balances.get_mut(device_id) {
            *balance = balance
                .checked_add(amount)
                .ok_or(ChargeError::BalanceLimit)?;
            return Ok(*balance);
        }
        if self.balances.len() >= self.max_accounts {
            return Err(ChargeError::WalletFull);
        }
        self.balances.insert(device_id.into(), amount);
        Ok(amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_add_exactly_and_a_full_wallet_refuses_new_devices_only() {
        let mut wallet = Wallet::new(2);
        let cent = Amount::from_micros(10_000);
        assert_eq!(wallet.credit("a", cent), Ok(cent));
        assert_eq!(wallet.credit("b", cent), Ok(cent));
        assert_eq!(wallet.credit("c", cent), Err(ChargeError::WalletFull));
        assert_eq!(wallet.balance("c"), None);
        assert_eq!(wallet.credit("a", cent), Ok(Amount::from_micros(20_000)));
        assert_eq!(wallet.len(), 2);
    }

    #[test]
    fn a_balance_never_wraps() {
        let mut wallet = Wallet::new(1);
        let max = Amount::from_micros(u64::MAX);
        wallet.credit("a", max).unwrap();
        assert_eq!(
            wallet.credit("a", Amount::from_micros(1)),
            Err(ChargeError::BalanceLimit)
        );
        assert_eq!(wallet.balance("a"), Some(max));
    }
}
