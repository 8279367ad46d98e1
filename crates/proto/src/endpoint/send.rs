//! Local streams: numbering and stamping each packet, keeping its history for resends, building
//! parity, fanning each datagram out to the connected peers, and answering their NACKs.

use std::time::Duration;

use rand_pcg::Pcg64Mcg;

use super::peers::PeerId;
use super::{Endpoint, EndpointTimer};
use crate::osp::message::{StreamAnnounce, StreamInfo};
use crate::ostp::MAX_DATAGRAM;
use crate::ostp::packet::{self, Extension, Header, SendForm, Ssrc, StreamId};
use crate::ostp::parity;
use crate::recovery::{self, History};
use crate::rtcp;
use crate::seq::SeqNo;
use crate::time::{Instant, MediaTime};

/// Local stream slots `Command::SetStream` may fill (a DAW's instances each sending a track).
pub const MAX_LOCAL_STREAMS: usize = 8;

/// How many times a changed announcement is sent to each connected peer (at once, then with
/// each clock probe): the peer does not acknowledge it, so a lost copy is covered by the next.
const ANNOUNCE_REPEATS: u8 = 4;

/// A local stream's send state.
#[derive(Debug)]
pub(super) struct LocalStream {
    pub(super) info: StreamInfo,
    seq: u64,
    history: History,
    pub(super) parity: Option<LocalParity>,
    sent_any: bool,
}

impl LocalStream {
    pub(super) fn new(info: &StreamInfo, history: Duration, rng: &mut Pcg64Mcg) -> Self {
        let per_second = 48_000 / info.frame_samples.max(1) as u128;
        let packets = (per_second * history.as_millis() / 1000) as usize;
        Self {
            info: *info,
            seq: u64::from(rand::Rng::random::<u16>(rng)),
            history: History::new(packets),
            parity: info.parity.map(|p| LocalParity {
                ssrc: Ssrc(p.ssrc),
                payload_type: p.payload_type,
                group: p.group_size.clamp(0, parity::MAX_GROUP),
                builder: parity::Builder::new(Ssrc(info.ssrc)),
                seq: u64::from(rand::Rng::random::<u16>(rng)),
            }),
            sent_any: false,
        }
    }
}

/// A local stream's parity stream.
#[derive(Debug)]
pub(super) struct LocalParity {
    ssrc: Ssrc,
    payload_type: u8,
    /// Media packets per parity packet (0 or 1: off); the policy sets it.
    pub(super) group: u8,
    builder: parity::Builder,
    seq: u64,
}

impl Endpoint {
    /// Starts, changes or stops local stream slot `index`, and announces the new set.
    pub(super) fn set_stream(&mut self, now: Instant, index: usize, info: Option<StreamInfo>) {
        if index >= MAX_LOCAL_STREAMS {
            self.stats.no_such_stream += 1;
            return;
        }
        if self.local.len() <= index {
            self.local.resize_with(index + 1, || None);
        }
        let same = match (&self.local[index], &info) {
            (Some(stream), Some(info)) => stream.info == *info,
            (None, None) => true,
            _ => false,
        };
        if same {
            return;
        }
        self.local[index] =
            info.map(|info| LocalStream::new(&info, self.config.history, &mut self.rng));
        self.announce = StreamAnnounce {
            user_id: self.config.user_id,
            version: self.announce.version.wrapping_add(1),
            streams: self.local.iter().flatten().map(|l| l.info).collect(),
        };
        self.announce_bytes = self.announce.to_bytes();
        let mut cursor = None;
        while let Some(id) = self.peers.next_id(cursor) {
            cursor = Some(id);
            if let Some(peer) = self.peers.get_mut(id)
                && peer.is_connected()
            {
                peer.announce_repeats = ANNOUNCE_REPEATS - 1;
                self.reannounce(now, id);
            }
        }
    }

    /// Sends one packet of local stream `index` (and its parity, when a group completes).
    pub(super) fn send_audio(
        &mut self,
        now: Instant,
        index: usize,
        timestamp: MediaTime,
        capture: Option<u32>,
        payload: &[u8],
    ) {
        let session = capture.unwrap_or_else(|| self.session_time(now).ticks() as u32);
        let Some(Some(stream)) = self.local.get_mut(index) else {
            self.stats.no_such_stream += 1;
            return;
        };
        let seq = stream.seq;
        stream.seq += 1;
        let header = Header {
            marker: !stream.sent_any,
            payload_type: stream.info.payload_type,
            seq: seq as u16,
            timestamp: timestamp.ticks() as u32,
            ssrc: Ssrc(stream.info.ssrc),
            extension: Some(Extension {
                stream_id: StreamId(stream.info.stream_id),
                seq_ext: (seq >> 16) as u16,
                media_timestamp: session,
            }),
        };
        stream.sent_any = true;
        let mut buf = self.out.buffer();
        buf.resize(MAX_DATAGRAM, 0);
        let Ok(len) = packet::encode(&header, payload, SendForm::Padding, &mut buf) else {
            self.out.recycle(buf);
            return;
        };
        buf.truncate(len);
        stream.history.record(SeqNo(seq), &buf);
        let mut parity_packet = None;
        if let Some(parity) = &mut stream.parity {
            if parity.group >= 2 && parity.builder.add(&header, payload).is_ok() {
                if parity.builder.len() >= parity.group {
                    let parity_header = Header {
                        marker: false,
                        payload_type: parity.payload_type,
                        seq: parity.seq as u16,
                        timestamp: header.timestamp,
                        ssrc: parity.ssrc,
                        extension: Some(Extension {
                            stream_id: StreamId(stream.info.stream_id),
                            seq_ext: (parity.seq >> 16) as u16,
                            media_timestamp: session,
                        }),
                    };
                    parity.seq += 1;
                    let mut out = self.out.buffer();
                    out.resize(MAX_DATAGRAM, 0);
                    // A group of packets that each fit always does; if not, no parity.
                    if let Ok(n) = parity.builder.encode_packet(&parity_header, &mut out) {
                        out.truncate(n);
                        parity_packet = Some(out);
                    } else {
                        self.out.recycle(out);
                    }
                    parity.builder.clear();
                }
            } else {
                parity.builder.clear();
            }
        }
        for peer in self.peers.values_mut() {
            if peer.is_connected() {
                peer.sent_since_report += 1;
            }
        }
        self.fan_out(&buf);
        self.out.recycle(buf);
        if let Some(parity) = parity_packet {
            self.fan_out(&parity);
            self.out.recycle(parity);
        }
    }

    /// Queues a copy of `datagram` once per distinct active path of the connected peers (peers
    /// sharing a multicast group or relay track get one copy).
    fn fan_out(&mut self, datagram: &[u8]) {
        let mut cursor = None;
        while let Some(id) = self.peers.next_id(cursor) {
            cursor = Some(id);
            let Some(peer) = self.peers.get(id).filter(|p| p.is_connected()) else {
                continue;
            };
            let dest = peer.paths.active();
            let shared = self
                .peers
                .iter()
                .take_while(|(other, _)| *other < id)
                .any(|(_, p)| p.is_connected() && p.paths.active() == dest);
            if !shared {
                let copy = self.out.copy_of(datagram);
                self.out.send(dest, copy);
            }
        }
    }

    /// An RTCP datagram from a connected peer: resend what its generic NACKs name, while the
    /// history holds it, at most once per half round trip (and a second copy later).
    pub(super) fn handle_rtcp(&mut self, now: Instant, id: PeerId, data: &[u8]) {
        let Some(peer) = self.peers.get(id) else {
            return;
        };
        let dest = peer.paths.active();
        let user_id = peer.user_id;
        let min_interval = peer.rtt.map_or(Duration::from_millis(5), |rtt| {
            (rtt / 2).max(Duration::from_millis(2))
        });
        let copy_at = self
            .config
            .timing
            .resend_copy_after
            .map(|after| now + after);
        for packet in rtcp::packets(data) {
            let Ok(packet) = packet else {
                self.stats.invalid_nack += 1;
                return;
            };
            let Ok(nack) = rtcp::GenericNack::parse(&packet) else {
                continue;
            };
            let Some(stream) = self
                .local
                .iter_mut()
                .flatten()
                .find(|l| Ssrc(l.info.ssrc) == nack.media)
            else {
                self.stats.invalid_nack += 1;
                continue;
            };
            for seq16 in nack.lost().take(recovery::MAX_GAP as usize) {
                let Some(original) = stream.history.resend(now, seq16, min_interval) else {
                    self.stats.resend_refused += 1;
                    continue;
                };
                let mut resend = self.out.buffer();
                resend.resize(MAX_DATAGRAM, 0);
                // The history holds only datagrams this endpoint encoded to fit.
                let Ok(len) = packet::encode_resend(original, &mut resend) else {
                    debug_assert!(false, "a held datagram does not re-encode");
                    self.out.recycle(resend);
                    continue;
                };
                resend.truncate(len);
                self.stats.resent += 1;
                if let (Some(at), Some(user_id)) = (copy_at, user_id)
                    && self.out.send_later(at, user_id, &resend)
                    && self.timers.get(EndpointTimer::Delayed).is_none()
                {
                    self.timers.set(EndpointTimer::Delayed, at);
                }
                self.out.send(dest, resend);
            }
        }
    }

    /// Sends the held copies that are due, each on its peer's path of this moment.
    pub(super) fn send_delayed(&mut self, now: Instant) {
        while let Some((user_id, bytes)) = self.out.pop_due(now) {
            match self.peer(user_id) {
                Some(peer) => {
                    let dest = peer.paths.active();
                    self.out.send(dest, bytes);
                }
                None => self.out.recycle(bytes),
            }
        }
        if let Some(at) = self.out.next_due() {
            self.timers.set(EndpointTimer::Delayed, at);
        }
    }
}
