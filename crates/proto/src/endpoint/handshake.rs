//! Joining and leaving: Hellos, the room-key proofs that carry stream announcements, verified
//! leave notices, and the peers a Hello creates.

use std::time::Duration;

use super::link::Peer;
use super::peers::PeerId;
use super::receive::RemoteStream;
use super::{Endpoint, Event, GoneReason, HANDSHAKE_VERSION};
use crate::auth::{self, Nonce, Transcript};
use crate::osp::Message;
use crate::osp::message::{LeaveReason, PeerAuth, PeerHello, PeerLeave, StreamAnnounce};
use crate::path::Path;
use crate::peer::{self, CloseReason, State, Timer};
use crate::time::Instant;

/// A proof is sent at most this often per peer unless it completes a handshake, so a flood of
/// Hellos cannot be amplified.
const AUTH_MIN_INTERVAL: Duration = Duration::from_millis(20);

impl Endpoint {
    /// Starts connecting to a peer we were told about (`Command::AddPeer`).
    pub(super) fn add_peer(&mut self, now: Instant, path: Path, user_id: Option<u32>) {
        if self.peers.by_path(path).is_some() || user_id == Some(self.user_id()) {
            return;
        }
        if self.peers.len() >= self.config.limits.max_peers {
            self.stats.refused_hello += 1;
            return;
        }
        let id = self.insert_connecting(now, path, user_id);
        self.send_hello(now, id);
    }

    /// A new peer in its first attempt, both its timers armed.
    fn insert_connecting(&mut self, now: Instant, path: Path, user_id: Option<u32>) -> PeerId {
        let timing = self.config.timing;
        let nonce = Nonce::random(&mut self.rng);
        let mut peer = Peer::connecting(
            path,
            user_id,
            now,
            nonce,
            now + timing.hello_interval,
            self.config.playout_delay,
        );
        peer.timers
            .set(Timer::Attempt, now + timing.connect_timeout);
        self.peers.insert(peer)
    }

    pub(super) fn handle_hello(
        &mut self,
        now: Instant,
        from: Path,
        id: Option<PeerId>,
        hello: PeerHello,
    ) {
        if hello.version != HANDSHAKE_VERSION || hello.user_id == self.user_id() || self.left {
            self.stats.refused_hello += 1;
            return;
        }
        let Some(id) = id else {
            self.handle_stranger_hello(now, from, hello);
            return;
        };
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        if peer.user_id.is_some_and(|known| known != hello.user_id) {
            self.stats.refused_hello += 1;
            return;
        }
        // A peer in backoff or closed is back: start a fresh attempt at once.
        let failures = match &peer.state {
            State::Backoff(backoff) => Some(backoff.failures),
            State::Closed(_) => Some(0),
            State::Connecting(_) | State::Connected(_) => None,
        };
        if let Some(failures) = failures {
            let attempt = peer::Connecting {
                nonce: Nonce::random(&mut self.rng),
                since: now,
                failures,
            };
            let forget = peer.timers.get(Timer::Forget);
            peer.state = peer.start_attempt(now, &self.config.timing, attempt);
            if let Some(at) = forget {
                peer.timers.set(Timer::Forget, at);
            }
        }
        self.peers.set_user(id, hello.user_id);
        self.send_auth(now, id, Nonce(hello.nonce), false);
    }

    /// A Hello from an address nobody named: a new peer in a LAN room (`accept_unknown`).
    fn handle_stranger_hello(&mut self, now: Instant, from: Path, hello: PeerHello) {
        if !self.config.accept_unknown || self.peers.by_user(hello.user_id).is_some() {
            self.stats.refused_hello += 1;
            return;
        }
        if self.peers.len() >= self.config.limits.max_peers {
            // Full: make room only by replacing the oldest stranger that never proved the room
            // key, so a Hello flood cannot lock members out or grow memory.
            let oldest = self
                .peers
                .iter()
                .filter(|(_, p)| p.stranger && matches!(p.state, State::Connecting(_)))
                .min_by_key(|(_, p)| p.created)
                .map(|(id, _)| id);
            self.stats.refused_hello += 1;
            let Some(oldest) = oldest else {
                return;
            };
            self.peers.remove(oldest);
        }
        let id = self.insert_connecting(now, from, Some(hello.user_id));
        if let Some(peer) = self.peers.get_mut(id) {
            peer.stranger = true;
        }
        // Answer a stranger with a Hello of the same size (no amplification towards a spoofed
        // source); our proof follows once it has proved itself.
        self.send_hello(now, id);
    }

    pub(super) fn handle_auth(&mut self, now: Instant, id: PeerId, auth: PeerAuth) {
        let me = self.user_id();
        let Some(peer) = self.peers.get(id) else {
            return;
        };
        let Some(ours) = peer.nonce() else {
            self.stats.out_of_state += 1;
            return;
        };
        if auth.to != me || peer.user_id.is_some_and(|known| known != auth.from) {
            self.stats.bad_tag += 1;
            return;
        }
        if auth.to_nonce != ours.0 {
            self.stats.stale_nonce += 1;
            return;
        }
        let from_nonce = Nonce(auth.from_nonce);
        let transcript = Transcript {
            from: auth.from,
            to: me,
            from_nonce: &from_nonce,
            to_nonce: &ours,
        };
        let announce_bytes = auth.announce.to_bytes();
        if auth::verify_proof(&self.key, transcript, &announce_bytes, &auth.tag).is_err()
            || auth.announce.user_id != auth.from
        {
            self.stats.bad_tag += 1;
            return;
        }
        // Versions order the announcements of one run of the peer (one nonce). A new run (a
        // restarted peer, a new handshake) numbers from 1 again and sends new sequence numbers:
        // its announcement always replaces the old streams, or their receive windows would take
        // the new packets for old ones and drop every one of them.
        let same_run = matches!(&peer.state, State::Connected(c) if c.peer_nonce == from_nonce);
        let fresh = !same_run
            || peer
                .announce_version
                .is_none_or(|v| auth.announce.version > v);
        self.peers.set_user(id, auth.from);
        if fresh {
            self.apply_announce(id, &auth.announce);
        }
        let timing = self.config.timing;
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        match peer.take_state() {
            State::Connecting(connecting) => {
                peer.stranger = false;
                peer.state = State::Connected(connecting.authenticated(from_nonce, now));
                peer.timers.stop_all();
                peer.timers.set(Timer::Probe, now);
                peer.timers.set(Timer::Idle, now + timing.idle_timeout);
                peer.timers.set(Timer::Report, now + timing.report_interval);
                self.push_event(Event::PeerUp {
                    user_id: auth.from,
                    streams: auth.announce.streams.clone(),
                });
                // The peer may not have our proof yet (it may never have seen our Hello).
                self.send_auth(now, id, from_nonce, true);
                // The newcomer hears who the master is at once.
                self.election.announce();
                self.on_membership_change(now);
            }
            State::Connected(mut connected) => {
                // A new nonce from a connected peer: it restarted and reconnected.
                connected.peer_nonce = from_nonce;
                connected.last_heard = now;
                peer.state = State::Connected(connected);
                if fresh {
                    self.push_event(Event::StreamsChanged {
                        user_id: auth.from,
                        streams: auth.announce.streams.clone(),
                    });
                }
            }
            other => peer.state = other,
        }
    }

    pub(super) fn handle_leave(&mut self, now: Instant, id: PeerId, leave: PeerLeave) {
        let me = self.user_id();
        let Some(peer) = self.peers.get(id) else {
            return;
        };
        let State::Connected(connected) = &peer.state else {
            self.stats.out_of_state += 1;
            return;
        };
        if leave.to != me || peer.user_id != Some(leave.from) {
            self.stats.bad_tag += 1;
            return;
        }
        let transcript = Transcript {
            from: leave.from,
            to: me,
            from_nonce: &connected.peer_nonce,
            to_nonce: &connected.nonce,
        };
        if auth::verify_leave(&self.key, transcript, leave.reason, &leave.tag).is_err() {
            self.stats.bad_tag += 1;
            return;
        }
        let forget_at = now + self.config.timing.forget_after;
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        let State::Connected(connected) = peer.take_state() else {
            return;
        };
        peer.state = State::Closed(connected.left());
        peer.timers.stop_all();
        peer.timers.set(Timer::Forget, forget_at);
        self.push_event(Event::PeerGone {
            user_id: leave.from,
            reason: GoneReason::Left,
        });
        self.election.remove(now, leave.from);
        self.on_membership_change(now);
    }

    /// Replaces a peer's streams with the ones it announced (at most `max_streams`).
    fn apply_announce(&mut self, id: PeerId, announce: &StreamAnnounce) {
        let max = self.config.limits.max_streams;
        let nack_repeat = self.config.timing.nack_repeat;
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        peer.announce_version = Some(announce.version);
        peer.streams.clear();
        for info in announce.streams.iter().take(max) {
            peer.streams
                .push(RemoteStream::new(*info, peer.playout_delay, nack_repeat));
        }
    }

    /// Sends our current announcement to a connected peer, in a `PeerAuth` for the session's
    /// nonces (an announcement is only ever believed under the room key's proof).
    pub(super) fn reannounce(&mut self, now: Instant, id: PeerId) {
        let Some(State::Connected(connected)) = self.peers.get(id).map(|p| &p.state) else {
            return;
        };
        let to_nonce = connected.peer_nonce;
        self.send_auth(now, id, to_nonce, true);
    }

    pub(super) fn send_hello(&mut self, now: Instant, id: PeerId) {
        let Some(nonce) = self.peers.get(id).and_then(Peer::nonce) else {
            return;
        };
        let message = Message::PeerHello(PeerHello {
            version: HANDSHAKE_VERSION,
            user_id: self.user_id(),
            nonce: nonce.0,
        });
        self.send_control(now, id, &message);
    }

    /// Sends our proof for the peer's nonce `to_nonce` (rate-limited by
    /// [`AUTH_MIN_INTERVAL`]; `force` for the answer that completes a handshake).
    fn send_auth(&mut self, now: Instant, id: PeerId, to_nonce: Nonce, force: bool) {
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        let (Some(to), Some(ours)) = (peer.user_id, peer.nonce()) else {
            return;
        };
        let recent = peer
            .last_auth_sent
            .is_some_and(|at| now.saturating_since(at) < AUTH_MIN_INTERVAL);
        if recent && !force {
            return;
        }
        peer.last_auth_sent = Some(now);
        let transcript = Transcript {
            from: self.config.user_id,
            to,
            from_nonce: &ours,
            to_nonce: &to_nonce,
        };
        let tag = auth::proof(&self.key, transcript, &self.announce_bytes);
        let message = Message::PeerAuth(PeerAuth {
            from: self.config.user_id,
            to,
            from_nonce: ours.0,
            to_nonce: to_nonce.0,
            announce: self.announce.clone(),
            tag,
        });
        self.send_control(now, id, &message);
    }

    /// Leaves the session: a verified leave notice to every connected peer, then every peer
    /// closed and every timer stopped.
    pub(super) fn leave(&mut self, now: Instant) {
        if self.left {
            return;
        }
        self.left = true;
        let reason = LeaveReason::Normal as u8;
        let mut cursor = None;
        while let Some(id) = self.peers.next_id(cursor) {
            cursor = Some(id);
            let Some(peer) = self.peers.get(id) else {
                continue;
            };
            let (Some(to), State::Connected(connected)) = (peer.user_id, &peer.state) else {
                continue;
            };
            let transcript = Transcript {
                from: self.config.user_id,
                to,
                from_nonce: &connected.nonce,
                to_nonce: &connected.peer_nonce,
            };
            let tag = auth::leave_tag(&self.key, transcript, reason);
            let message = Message::PeerLeave(PeerLeave {
                from: self.config.user_id,
                to,
                reason,
                tag,
            });
            // Twice: a lost leave costs the peer an idle timeout, a duplicate costs nothing.
            self.send_control(now, id, &message);
            self.send_control(now, id, &message);
        }
        for peer in self.peers.values_mut() {
            peer.state = State::Closed(peer::Closed {
                reason: CloseReason::WeLeft,
            });
            peer.timers.stop_all();
        }
        self.timers.stop_all();
    }
}
