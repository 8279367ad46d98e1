//! What each expired timer does: the peers' (Hello, attempt window, retry, forget, probe, idle,
//! recovery, report) and the endpoint's own (transport refresh, policies, held datagrams).

use super::peers::PeerId;
use super::{Endpoint, EndpointTimer, Event, GoneReason};
use crate::auth::Nonce;
use crate::peer::{State, Timer};
use crate::time::Instant;

impl Endpoint {
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        let mut cursor = None;
        while let Some(id) = self.peers.next_id(cursor) {
            cursor = Some(id);
            while let Some(timer) = self
                .peers
                .get_mut(id)
                .and_then(|peer| peer.timers.pop_expired(now))
            {
                self.fire(now, id, timer);
            }
        }
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                EndpointTimer::Transport => {
                    if self.is_master() {
                        self.broadcast_transport(now);
                    }
                    self.timers.set(
                        EndpointTimer::Transport,
                        now + self.config.timing.transport_refresh,
                    );
                }
                EndpointTimer::Policy => self.run_policies(now),
                EndpointTimer::Delayed => self.send_delayed(now),
            }
        }
        self.election.handle_timeout(now);
        self.drain_election(now);
    }

    /// Fires one peer timer (the peer may be gone afterwards).
    fn fire(&mut self, now: Instant, id: PeerId, timer: Timer) {
        let timing = self.config.timing;
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        match timer {
            Timer::Hello => {
                if matches!(peer.state, State::Connecting(_)) {
                    peer.timers.set(Timer::Hello, now + timing.hello_interval);
                    self.send_hello(now, id);
                }
            }
            Timer::Attempt => {
                peer.state = match peer.take_state() {
                    State::Connecting(c) => {
                        let backoff = c.give_up(now, &timing.backoff, &mut self.rng);
                        peer.timers.stop(Timer::Hello);
                        peer.timers.set(Timer::Retry, backoff.retry_at);
                        if peer.timers.get(Timer::Forget).is_none() {
                            peer.timers
                                .set(Timer::Forget, backoff.gone_since + timing.forget_after);
                        }
                        State::Backoff(backoff)
                    }
                    other => other,
                };
            }
            Timer::Retry => match peer.take_state() {
                State::Backoff(backoff) => {
                    let forget = peer.timers.get(Timer::Forget);
                    let failures = backoff.failures;
                    let nonce = Nonce::random(&mut self.rng);
                    peer.state = peer.start_attempt(now, &timing, backoff.retry(nonce, now));
                    if let Some(at) = forget {
                        peer.timers.set(Timer::Forget, at);
                    }
                    if let Some(user_id) = peer.user_id {
                        self.push_event(Event::Reconnecting { user_id, failures });
                    }
                    self.send_hello(now, id);
                }
                other => peer.state = other,
            },
            Timer::Forget => {
                if matches!(peer.state, State::Backoff(_) | State::Closed(_))
                    && let Some(peer) = self.peers.remove(id)
                    && let (Some(user_id), State::Backoff(_)) = (peer.user_id, &peer.state)
                {
                    self.push_event(Event::PeerGone {
                        user_id,
                        reason: GoneReason::Forgotten,
                    });
                }
            }
            Timer::Probe => {
                if peer.is_connected() {
                    peer.timers.set(Timer::Probe, now + timing.probe_interval);
                    let reannounce = peer.announce_repeats > 0;
                    peer.announce_repeats = peer.announce_repeats.saturating_sub(1);
                    self.send_probe(now, id);
                    if reannounce {
                        self.reannounce(now, id);
                    }
                }
            }
            Timer::Idle => {
                let State::Connected(connected) = &peer.state else {
                    return;
                };
                let quiet_until = connected.last_heard + timing.idle_timeout;
                if now < quiet_until {
                    peer.timers.set(Timer::Idle, quiet_until);
                    return;
                }
                let State::Connected(connected) = peer.take_state() else {
                    return;
                };
                let backoff = connected.timed_out(now, &timing.backoff, &mut self.rng);
                peer.timers.stop_all();
                peer.timers.set(Timer::Retry, backoff.retry_at);
                peer.timers
                    .set(Timer::Forget, backoff.gone_since + timing.forget_after);
                peer.state = State::Backoff(backoff);
                if let Some(user_id) = peer.user_id {
                    self.push_event(Event::PeerGone {
                        user_id,
                        reason: GoneReason::Timeout,
                    });
                    self.election.remove(now, user_id);
                }
                self.on_membership_change(now);
            }
            Timer::Recovery => {
                for stream in &mut peer.streams {
                    stream.recovery.handle_timeout(now);
                }
                for s in 0..peer.streams.len() {
                    self.drain_recovery(now, id, s);
                }
            }
            Timer::Report => {
                if peer.is_connected() {
                    peer.timers.set(Timer::Report, now + timing.report_interval);
                    self.send_report(now, id);
                }
            }
        }
    }
}
