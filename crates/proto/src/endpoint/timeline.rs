//! The room's shared time: clock probes to each peer, the master election, the session timeline
//! (the master's clock as we estimate it) and the tempo and transport placed on it.

use std::time::Duration;

use super::link::PROBES;
use super::peers::PeerId;
use super::{Endpoint, EndpointTimer, Event};
use crate::election;
use crate::osp::Message;
use crate::osp::message::{ClockProbe, ClockReply, MasterElection as Candidacy, TransportSync};
use crate::time::{Instant, MediaTime};

impl Endpoint {
    /// The shared session timeline at local time `now`, in µs: the master's clock as this
    /// endpoint estimates it. Before a master is known, our own clock.
    pub fn session_micros(&self, now: Instant) -> f64 {
        let local = now.as_micros() as f64;
        match self.master {
            Some(master) if master != self.config.user_id => self
                .clock_estimate(master)
                .map_or(local + self.master_offset as f64, |e| {
                    local + e.offset_at(now.as_micros() as i64)
                }),
            _ => local + self.master_offset as f64,
        }
    }

    /// The shared session timeline at local time `now`, in 48 kHz ticks.
    pub fn session_time(&self, now: Instant) -> MediaTime {
        MediaTime::from_micros(self.session_micros(now).max(0.0) as u64)
    }

    /// The current tempo/transport state.
    pub fn transport(&self) -> Option<TransportSync> {
        self.transport
    }

    /// The local instant at which beat `beat` falls, by the current transport state and clock
    /// estimate (evaluated at `now`).
    pub fn beat_instant(&self, now: Instant, beat: f64) -> Option<f64> {
        let transport = self.transport?;
        if !transport.playing {
            return None;
        }
        let session_us = transport.tick_of(beat) * 1000.0 / 48.0;
        let offset = self.session_micros(now) - now.as_micros() as f64;
        Some(session_us - offset)
    }

    /// `Command::SetTransport`: a new tempo/transport state anchored at `now`, broadcast and
    /// then refreshed by the master.
    pub(super) fn set_transport(
        &mut self,
        now: Instant,
        playing: bool,
        bpm: f64,
        beats_per_bar: u8,
        beat_unit: u8,
        beat: f64,
    ) {
        let version = self.transport.map_or(1, |t| t.version.wrapping_add(1));
        let transport = TransportSync {
            version,
            playing,
            bpm: if bpm.is_finite() {
                bpm.clamp(1.0, 999.0)
            } else {
                120.0
            },
            beats_per_bar,
            beat_unit,
            anchor_tick: self.session_time(now).ticks(),
            anchor_beat: if beat.is_finite() { beat } else { 0.0 },
        };
        self.transport = Some(transport);
        self.push_event(Event::Transport(transport));
        self.broadcast_transport(now);
        self.timers.set(
            EndpointTimer::Transport,
            now + self.config.timing.transport_refresh,
        );
    }

    pub(super) fn send_probe(&mut self, now: Instant, id: PeerId) {
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        let probe_id = peer.next_probe;
        peer.next_probe = peer.next_probe.wrapping_add(1);
        let t1 = now.as_micros();
        peer.probes[probe_id as usize % PROBES] = (probe_id, t1);
        let message = Message::ClockProbe(ClockProbe {
            probe_id,
            t1_us: t1,
        });
        self.send_control(now, id, &message);
    }

    pub(super) fn answer_probe(&mut self, now: Instant, id: PeerId, probe: ClockProbe) {
        // Replies carry our session time, so a prober of the master measures the session
        // timeline directly (and of anyone else, the RTT).
        let t = self.session_micros(now).max(0.0) as u64;
        let reply = Message::ClockReply(ClockReply {
            probe_id: probe.probe_id,
            t1_us: probe.t1_us,
            t2_us: t,
            t3_us: t,
        });
        self.send_control(now, id, &reply);
    }

    pub(super) fn handle_clock_reply(&mut self, now: Instant, id: PeerId, reply: ClockReply) {
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        let slot = reply.probe_id as usize % PROBES;
        if peer.probes[slot] != (reply.probe_id, reply.t1_us) {
            self.stats.unmatched_reply += 1;
            return;
        }
        // Each probe is answered once.
        peer.probes[slot] = (u32::MAX, u64::MAX);
        let (Ok(t1), Ok(t2), Ok(t3)) = (
            i64::try_from(reply.t1_us),
            i64::try_from(reply.t2_us),
            i64::try_from(reply.t3_us),
        ) else {
            self.stats.rejected_clock += 1;
            return;
        };
        let t4 = now.as_micros() as i64;
        let rtt = (t4 - t1) - (t3 - t2);
        if peer.clock.add(t1, t2, t3, t4).is_err() {
            self.stats.rejected_clock += 1;
            return;
        }
        let rtt = Duration::from_micros(rtt.max(0) as u64);
        peer.rtt = Some(rtt);
        peer.health.record_rtt(now, rtt);
        // The NACK budget uses the path's floor round trip (the window minimum), not the latest
        // noisy sample: asking too late wastes a resend, not asking loses the packet.
        if let Some(estimate) = peer.clock.estimate() {
            let floor = Duration::from_micros(estimate.min_rtt.max(0) as u64);
            for stream in &mut peer.streams {
                stream.recovery.set_rtt(floor);
            }
        }
        if let Some(user_id) = peer.user_id {
            self.election.record_rtt(now, user_id, rtt);
        }
    }

    pub(super) fn handle_candidacy(&mut self, now: Instant, id: PeerId, candidacy: &Candidacy) {
        let Some(user_id) = self.peers.get(id).and_then(|p| p.user_id) else {
            return;
        };
        if election::parse_candidate(&candidacy.candidate_id) != Some(user_id) {
            self.stats.bad_tag += 1;
            return;
        }
        let claimed = candidacy
            .current_master_id
            .as_deref()
            .and_then(election::parse_candidate);
        self.election
            .handle_candidacy(now, user_id, candidacy.priority, claimed);
        self.drain_election(now);
    }

    pub(super) fn drain_election(&mut self, now: Instant) {
        while let Some(event) = self.election.poll_event() {
            let election::Event::MasterChanged { to, .. } = event;
            self.set_master(now, to);
        }
        if let Some(candidacy) = self.election.poll_candidacy(now) {
            let message = Message::MasterElection(Candidacy {
                candidate_id: election::candidate_string(candidacy.candidate),
                priority: candidacy.priority,
                current_master_id: candidacy.master.map(election::candidate_string),
            });
            self.broadcast(now, &message);
        }
    }

    fn set_master(&mut self, now: Instant, master: u32) {
        if self.master == Some(master) {
            return;
        }
        if master == self.user_id() {
            // Keep the timeline continuous: from now on it is our clock plus the offset it had.
            let session = self.session_micros(now);
            self.master_offset = (session - now.as_micros() as f64).round() as i64;
        }
        self.master = Some(master);
        self.push_event(Event::MasterChanged { master });
        if self.is_master() && self.transport.is_some() {
            self.broadcast_transport(now);
        }
    }

    pub(super) fn is_master(&self) -> bool {
        self.master.is_none_or(|m| m == self.user_id())
    }

    pub(super) fn handle_transport(&mut self, sync: TransportSync) {
        let newer = self
            .transport
            .is_none_or(|t| sync.version.wrapping_sub(t.version) as i32 > 0);
        if !newer || !sync.bpm.is_finite() || sync.bpm <= 0.0 || !sync.anchor_beat.is_finite() {
            return;
        }
        self.transport = Some(sync);
        self.push_event(Event::Transport(sync));
    }

    pub(super) fn broadcast_transport(&mut self, now: Instant) {
        if let Some(transport) = self.transport {
            self.broadcast(now, &Message::TransportSync(transport));
        }
    }

    /// A peer came or went: re-run the election and make sure the policies run.
    pub(super) fn on_membership_change(&mut self, now: Instant) {
        self.election.handle_timeout(now);
        self.drain_election(now);
        if self.timers.get(EndpointTimer::Policy).is_none() {
            self.timers.set(
                EndpointTimer::Policy,
                now + self.config.timing.report_interval,
            );
        }
    }
}
