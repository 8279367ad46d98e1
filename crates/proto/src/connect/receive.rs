//! Inbound STUN: peers' checks (answered, and fed to their check lists) and responses to our
//! requests (Binding, TURN, checks), each verified before it may change anything.

use stun_rs::MessageClass;
use stun_rs::StunMessageBuilder;
use stun_rs::attributes::ice::{Priority, UseCandidate};
use stun_rs::attributes::stun::{Fingerprint, MessageIntegrity, UserName, XorMappedAddress};
use stun_rs::methods::BINDING;

use super::message::{self, Reject};
use super::{Agent, Base, Candidate, Event, Kind, MAX_MESSAGE, Purpose, Route, credentials, turn};
use crate::time::Instant;

impl Agent {
    /// A connectivity check from a peer.
    pub(super) fn handle_request(&mut self, now: Instant, route: Route, data: &[u8]) {
        let decoded = match message::decode(data, Some(&self.own_key), true) {
            Ok(decoded) if decoded.method() == BINDING => decoded,
            Ok(_) => return self.stats.count(Reject::Malformed),
            Err(reject) => return self.stats.count(reject),
        };
        let names = decoded
            .get::<UserName>()
            .and_then(|a| a.as_user_name().ok())
            .and_then(|n| credentials::parse_username(n.as_str()));
        let Some((to, from_user)) = names else {
            return self.stats.count(Reject::Missing);
        };
        if to != self.config.user_id || self.peer(from_user).is_none() {
            self.stats.unknown_peer += 1;
            return;
        }
        let from = match route {
            Route::Direct(addr) | Route::Relayed(addr) => addr,
        };
        let response = StunMessageBuilder::new(BINDING, MessageClass::SuccessResponse)
            .with_transaction_id(*decoded.transaction_id())
            .with_attribute(XorMappedAddress::from(from))
            .with_attribute(MessageIntegrity::new(self.own_key.clone()))
            .with_attribute(Fingerprint::default())
            .build();
        if let Some(bytes) = message::encode(&response, MAX_MESSAGE) {
            self.queue(route, bytes);
        }
        self.stats.checks_answered += 1;
        let priority = decoded
            .get::<Priority>()
            .and_then(|a| a.as_priority().ok())
            .map_or(0, |p| p.as_u32());
        let use_candidate = decoded.get::<UseCandidate>().is_some();
        let base = match route {
            Route::Direct(_) => Base::Socket,
            Route::Relayed(_) => Base::Relay,
        };
        let timing = self.config.timing;
        let Some(peer) = self.peer_mut(from_user) else {
            return;
        };
        let (triggered, change) =
            peer.handle_request(now, &timing, base, from, priority, use_candidate);
        if let Some(change) = change {
            self.apply(from_user, change);
        }
        if let Some(check) = triggered {
            if base == Base::Relay
                && let Some(turn) = &mut self.turn
            {
                for request in turn.want_peer(from) {
                    self.send_turn(now, request);
                }
            }
            self.send_check(now, from_user, check);
        }
    }

    /// A response: to our STUN Binding, a TURN request, or a check.
    pub(super) fn handle_response(&mut self, now: Instant, route: Route, data: &[u8]) {
        let Some(id) = message::transaction_id(data) else {
            return self.stats.count(Reject::Malformed);
        };
        let Some(transaction) = self.transactions.get(&id) else {
            self.stats.unknown_transaction += 1;
            return;
        };
        if transaction.route != route {
            self.stats.wrong_source += 1;
            return;
        }
        let purpose = transaction.purpose;
        match purpose {
            Purpose::Binding => {
                let decoded = match message::decode(data, None, false) {
                    Ok(decoded) => decoded,
                    Err(reject) => return self.stats.count(reject),
                };
                let Some(mapped) = decoded
                    .get::<XorMappedAddress>()
                    .and_then(|a| a.as_xor_mapped_address().ok())
                    .map(|a| *a.socket_address())
                else {
                    return self.stats.count(Reject::Missing);
                };
                self.transactions.take(&id);
                self.mapped = Some(mapped);
                self.add_local(Candidate::new(Kind::ServerReflexive, mapped, 65535));
            }
            Purpose::Turn(request) => {
                let Some(turn) = &mut self.turn else {
                    return;
                };
                let outcome = turn.handle_response(now, request, data);
                if let turn::Outcome::Rejected(reject) = outcome {
                    return self.stats.count(reject);
                }
                self.transactions.take(&id);
                self.handle_turn_outcome(now, outcome);
            }
            Purpose::Check { user_id, check } => {
                let key = self.credentials.key_of(user_id);
                match message::decode(data, Some(&key), true) {
                    Ok(decoded) if decoded.class() == MessageClass::SuccessResponse => {}
                    Ok(_) => {
                        // An error response (e.g. 487 role conflict cannot happen with roles
                        // fixed by user id): the pair fails like a timeout.
                        self.transactions.take(&id);
                        return self.handle_transaction_timeout(now, purpose);
                    }
                    Err(reject) => return self.stats.count(reject),
                }
                self.transactions.take(&id);
                let timing = self.config.timing;
                let change = self
                    .peer_mut(user_id)
                    .and_then(|p| p.handle_success(now, &timing, check));
                if let Some(change) = change {
                    self.apply(user_id, change);
                }
            }
        }
    }

    fn handle_turn_outcome(&mut self, now: Instant, outcome: turn::Outcome) {
        match outcome {
            turn::Outcome::Allocated { relayed, mapped } => {
                if let Some(mapped) = mapped
                    && self.mapped.is_none()
                {
                    self.mapped = Some(mapped);
                    self.add_local(Candidate::new(Kind::ServerReflexive, mapped, 65534));
                }
                // A new allocation replaces the old one (after a mapping change).
                self.local
                    .retain(|c| c.kind != Kind::Relayed || c.addr == relayed);
                self.add_local(Candidate::new(Kind::Relayed, relayed, 65535));
                let requests = self
                    .turn
                    .as_ref()
                    .map(turn::Client::bindings)
                    .unwrap_or_default();
                for request in requests {
                    self.send_turn(now, request);
                }
                for peer in &mut self.peers {
                    peer.add_base(now, Base::Relay);
                }
            }
            turn::Outcome::Retry(request) => self.send_turn(now, request),
            turn::Outcome::Bound(_) => self.run_checks(now),
            turn::Outcome::Done | turn::Outcome::Rejected(_) => {}
            turn::Outcome::Failed(code) => self.push_event(Event::TurnFailed { code }),
        }
    }

    pub(super) fn handle_transaction_timeout(&mut self, now: Instant, purpose: Purpose) {
        match purpose {
            Purpose::Binding => self.push_event(Event::StunFailed),
            Purpose::Turn(turn::Request::Allocate) => {
                self.push_event(Event::TurnFailed { code: 0 });
            }
            // A refresh, permission or channel the server no longer answers (a changed mapping
            // it cannot tell us about, or a restart): allocate again, once; if that goes
            // unanswered too the allocation is reported failed.
            Purpose::Turn(_) => {
                if let Some(turn) = &mut self.turn
                    && turn.relayed().is_some()
                {
                    turn.reset();
                    self.send_turn(now, turn::Request::Allocate);
                }
            }
            Purpose::Check { user_id, check } => {
                let timing = self.config.timing;
                let change = self
                    .peer_mut(user_id)
                    .and_then(|p| p.handle_timeout(now, &timing, check));
                if let Some(change) = change {
                    self.apply(user_id, change);
                }
            }
        }
    }
}
