//! Outstanding STUN requests: retransmission (RFC 5389 §7.2.1 style: the interval doubles up
//! to a cap, a bounded number of sends, then a timeout) and matching responses by transaction
//! id, so a response to nothing we sent is told apart from one we wait for.

use std::time::Duration;

use crate::time::Instant;

/// How a request is retransmitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retransmit {
    /// Wait before the first retransmission.
    pub rto: Duration,
    /// The longest wait between two sends.
    pub max_rto: Duration,
    /// Sends in all (the first included); after the last one and one more wait, it times out.
    pub sends: u32,
}

impl Retransmit {
    /// How long a transaction lives before it times out.
    pub fn lifetime(self) -> Duration {
        let mut wait = self.rto;
        let mut total = Duration::ZERO;
        for _ in 0..self.sends {
            total += wait;
            wait = (wait * 2).min(self.max_rto);
        }
        total
    }
}

/// Where a request goes: straight from the socket, or through our TURN allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// From the socket to this address.
    Direct(std::net::SocketAddr),
    /// Through the TURN server to this peer address.
    Relayed(std::net::SocketAddr),
}

/// One request waiting for its response.
#[derive(Debug)]
pub(crate) struct Transaction<P> {
    pub(crate) id: [u8; 12],
    pub(crate) route: Route,
    pub(crate) purpose: P,
    pub(crate) bytes: Vec<u8>,
    sends: u32,
    wait: Duration,
    next_at: Instant,
    policy: Retransmit,
}

/// What a due transaction needs.
pub(crate) enum Due<P> {
    /// Send these bytes again.
    Resend(Route, Vec<u8>),
    /// No response came: the transaction is over.
    TimedOut(Transaction<P>),
}

/// The outstanding requests, bounded.
#[derive(Debug)]
pub(crate) struct Transactions<P> {
    list: Vec<Transaction<P>>,
    limit: usize,
}

impl<P> Transactions<P> {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            list: Vec::new(),
            limit,
        }
    }

    /// Records a request just sent at `now`; `false` (and nothing recorded) when the table is
    /// full, so a flood of remote candidates cannot grow it.
    pub(crate) fn start(
        &mut self,
        now: Instant,
        id: [u8; 12],
        route: Route,
        purpose: P,
        bytes: Vec<u8>,
        policy: Retransmit,
    ) -> bool {
        if self.list.len() >= self.limit {
            return false;
        }
        self.list.push(Transaction {
            id,
            route,
            purpose,
            bytes,
            sends: 1,
            wait: policy.rto,
            next_at: now + policy.rto,
            policy,
        });
        true
    }

    /// Whether a request with this id is outstanding.
    pub(crate) fn get(&self, id: &[u8; 12]) -> Option<&Transaction<P>> {
        self.list.iter().find(|t| t.id == *id)
    }

    /// Removes and returns the request with this id (its response arrived).
    pub(crate) fn take(&mut self, id: &[u8; 12]) -> Option<Transaction<P>> {
        let at = self.list.iter().position(|t| t.id == *id)?;
        Some(self.list.swap_remove(at))
    }

    /// Drops every request `matches` selects (e.g. a peer's checks when it leaves).
    pub(crate) fn cancel(&mut self, mut matches: impl FnMut(&P) -> bool) {
        self.list.retain(|t| !matches(&t.purpose));
    }

    /// The next request due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Due<P>> {
        let at = self.list.iter().position(|t| t.next_at <= now)?;
        let transaction = &mut self.list[at];
        if transaction.sends >= transaction.policy.sends {
            return Some(Due::TimedOut(self.list.swap_remove(at)));
        }
        transaction.sends += 1;
        transaction.wait = (transaction.wait * 2).min(transaction.policy.max_rto);
        transaction.next_at = now + transaction.wait;
        Some(Due::Resend(transaction.route, transaction.bytes.clone()))
    }

    /// The earliest retransmission or timeout.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.list.iter().map(|t| t.next_at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmits_double_up_to_the_cap_then_time_out() {
        let policy = Retransmit {
            rto: Duration::from_millis(100),
            max_rto: Duration::from_millis(200),
            sends: 4,
        };
        assert_eq!(
            policy.lifetime(),
            Duration::from_millis(100 + 200 + 200 + 200)
        );
        let mut table = Transactions::new(1);
        let route = Route::Direct(([127, 0, 0, 1], 1).into());
        let t0 = Instant::from_micros(0);
        assert!(table.start(t0, [1; 12], route, (), vec![7], policy));
        assert!(
            !table.start(t0, [2; 12], route, (), vec![8], policy),
            "full"
        );
        let mut sends = vec![0];
        let mut now;
        loop {
            now = table.next_deadline().unwrap();
            match table.pop_due(now) {
                Some(Due::Resend(_, bytes)) => {
                    assert_eq!(bytes, [7]);
                    sends.push(now.as_micros() / 1000);
                }
                Some(Due::TimedOut(t)) => {
                    assert_eq!(t.id, [1; 12]);
                    break;
                }
                None => unreachable!(),
            }
        }
        assert_eq!(sends, [0, 100, 300, 500]);
        assert_eq!(now.as_micros() / 1000, 700);
        assert!(table.get(&[1; 12]).is_none());
    }
}
