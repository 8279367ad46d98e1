//! Link reports both ways and the policies they drive: we report the loss, jitter and delay we
//! see on each peer's streams; each peer's report on ours sets our parity group size, and the
//! worst link sets the Opus bitrate.

use std::time::Duration;

use super::peers::PeerId;
use super::{Endpoint, EndpointTimer, Event};
use crate::election;
use crate::health;
use crate::osp::Message;
use crate::osp::message::PerformanceInfo;
use crate::time::Instant;

impl Endpoint {
    /// Sends a peer our view of its streams (every `report_interval`).
    pub(super) fn send_report(&mut self, now: Instant, id: PeerId) {
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        peer.health.end_interval();
        let health = peer.health.snapshot();
        let ms = |d: Duration| d.as_secs_f32() * 1000.0;
        let message = Message::PerformanceInfo(PerformanceInfo {
            user_id: election::candidate_string(self.config.user_id),
            rtt_ms: health.rtt.map_or(0.0, ms),
            jitter_ms: ms(health.jitter),
            packet_loss: health.loss_interval as f32,
            audio_latency_ms: ms(peer.playout_delay),
            quality_score: health.score().unwrap_or(0),
            quality_tier: health
                .quality()
                .map_or_else(|| "unknown".to_owned(), |q| format!("{q:?}").to_lowercase()),
        });
        self.send_control(now, id, &message);
    }

    /// A peer's report on the streams we send it: its loss drives our parity group size.
    pub(super) fn handle_report(&mut self, id: PeerId, info: &PerformanceInfo) {
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        let loss = f64::from(info.packet_loss);
        let loss = if loss.is_finite() {
            loss.clamp(0.0, 1.0)
        } else {
            0.0
        };
        peer.reported_loss = loss;
        let sent = std::mem::take(&mut peer.sent_since_report);
        peer.remote_counts.0 += sent;
        peer.remote_counts.1 += (loss * sent as f64).round() as u64;
    }

    /// Re-decides the parity group size (the strongest protection any peer needs) and the
    /// bitrate (from the worst link).
    pub(super) fn run_policies(&mut self, now: Instant) {
        self.timers.set(
            EndpointTimer::Policy,
            now + self.config.timing.report_interval,
        );
        let mut worst = health::Health::default();
        let mut group: Option<Option<u8>> = None;
        for peer in self.peers.values_mut() {
            if !peer.is_connected() {
                continue;
            }
            let (expected, lost) = peer.remote_counts;
            let seen = health::Health {
                expected,
                lost,
                ..health::Health::default()
            };
            peer.fec.update(now, &seen);
            // A smaller group is more parity.
            let wanted = peer.fec.group();
            group = Some(match (group.flatten(), wanted) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            });
            let own = peer.health.snapshot();
            if own.rtt > worst.rtt {
                worst.rtt = own.rtt;
                worst.rtt_min = own.rtt_min;
            }
            worst.loss_interval = worst.loss_interval.max(peer.reported_loss);
        }
        if self.config.adaptive_fec
            && let Some(group) = group
        {
            for stream in self.local.iter_mut().flatten() {
                if let Some(parity) = &mut stream.parity {
                    parity.group = group.unwrap_or(0);
                }
            }
        }
        if let Some(decision) = self.bitrate.update(now, &worst) {
            self.push_event(Event::Bitrate {
                bps: decision.bitrate,
            });
        }
    }
}
