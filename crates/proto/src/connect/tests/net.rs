//! A small internet on virtual time for the agent tests: players behind NATs (endpoint-
//! independent or port-randomising mapping, address-and-port-dependent filtering unless full
//! cone), a STUN
//! server and a TURN server (long-term credentials, permissions, channels), 10 ms per hop.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use stun_rs::attributes::stun::{
    ErrorCode, Fingerprint, MessageIntegrity, Nonce, Realm, XorMappedAddress,
};
use stun_rs::attributes::turn::{ChannelNumber, Data, LifeTime, XorPeerAddress, XorRelayedAddress};
use stun_rs::methods::{ALLOCATE, BINDING, CHANNEL_BIND, CREATE_PERMMISSION, DATA, REFRESH, SEND};
use stun_rs::{
    Algorithm, AlgorithmId, HMACKey, MessageClass, MessageDecoderBuilder, StunMessage,
    StunMessageBuilder,
};

use crate::connect::message;
use crate::connect::{Agent, Event, HEADROOM, PathKind, Received};
use crate::time::Instant;

pub(super) const HOP: Duration = Duration::from_millis(10);
pub(super) const STUN: SocketAddr = addr([198, 18, 0, 1], 3478);
pub(super) const TURN: SocketAddr = addr([198, 18, 0, 2], 3478);
const TURN_RELAY_IP: [u8; 4] = [198, 18, 0, 3];
pub(super) const REALM: &str = "test.local";

pub(super) const fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])),
        port,
    )
}

/// How a NAT maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mapping {
    /// One external port per internal address (hole punching works).
    EndpointIndependent,
    /// A fresh external port per destination (RFC 4787 address-and-port-dependent).
    PortRandomising,
    /// One external port per internal address, and anyone may send to it (endpoint-independent
    /// filtering, a "full cone").
    FullCone,
}

pub(super) struct Nat {
    public: IpAddr,
    mapping: Mapping,
    /// (internal, destination or None, external port, destinations sent to)
    entries: Vec<(SocketAddr, Option<SocketAddr>, u16, Vec<SocketAddr>)>,
    next_port: u16,
}

impl Nat {
    fn outbound(&mut self, src: SocketAddr, dst: SocketAddr) -> SocketAddr {
        let key = match self.mapping {
            Mapping::EndpointIndependent | Mapping::FullCone => None,
            Mapping::PortRandomising => Some(dst),
        };
        let at = match self.entries.iter().position(|e| e.0 == src && e.1 == key) {
            Some(at) => at,
            None => {
                self.next_port += 7;
                self.entries.push((src, key, self.next_port, Vec::new()));
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[at];
        if !entry.3.contains(&dst) {
            entry.3.push(dst);
        }
        SocketAddr::new(self.public, entry.2)
    }

    /// The internal address for a datagram from `src` to our `port`, if the filter lets it in.
    fn inbound(&self, src: SocketAddr, port: u16) -> Option<SocketAddr> {
        let open = self.mapping == Mapping::FullCone;
        self.entries
            .iter()
            .find(|e| e.2 == port && (open || e.3.contains(&src)))
            .map(|e| e.0)
    }

    /// A router restart: every mapping is gone, new ones get new ports.
    pub(super) fn flush(&mut self) {
        self.entries.clear();
        self.next_port += 1000;
    }
}

pub(super) struct Player {
    pub(super) agent: Agent,
    pub(super) inside: SocketAddr,
    pub(super) nat: usize,
    pub(super) peer: u32,
    next_media: Instant,
    /// When media from the peer arrived on its selected route.
    pub(super) heard: Vec<Instant>,
    pub(super) events: Vec<(Instant, Event)>,
}

struct Flight {
    at: Instant,
    src: SocketAddr,
    dst: SocketAddr,
    data: Vec<u8>,
}

#[derive(Default)]
struct Allocation {
    client: Option<SocketAddr>,
    relay: Option<SocketAddr>,
    permissions: Vec<IpAddr>,
    channels: Vec<(u16, SocketAddr)>,
}

pub(super) struct World {
    pub(super) now: Instant,
    pub(super) nats: Vec<Nat>,
    pub(super) players: Vec<Player>,
    flights: Vec<Flight>,
    allocations: Vec<Allocation>,
    turn_key: HMACKey,
    /// Datagrams that left the TURN server's relay addresses (relayed traffic).
    pub(super) relayed: u64,
    /// Drop one datagram in n put on the wire (deterministic, spread by a hash), if set.
    pub(super) drop_every: Option<u64>,
    /// Datagrams put on the wire.
    sent: u64,
}

impl World {
    pub(super) fn new() -> Self {
        Self {
            now: Instant::from_micros(0),
            nats: Vec::new(),
            players: Vec::new(),
            flights: Vec::new(),
            allocations: Vec::new(),
            turn_key: HMACKey::new_long_term(
                "alice",
                REALM,
                "secret",
                Algorithm::from(AlgorithmId::MD5),
            )
            .unwrap(),
            relayed: 0,
            drop_every: None,
            sent: 0,
        }
    }

    pub(super) fn add_nat(&mut self, public: [u8; 4], mapping: Mapping) -> usize {
        self.nats.push(Nat {
            public: addr(public, 0).ip(),
            mapping,
            entries: Vec::new(),
            next_port: 40000,
        });
        self.nats.len() - 1
    }

    pub(super) fn add_player(&mut self, agent: Agent, inside: SocketAddr, nat: usize, peer: u32) {
        self.players.push(Player {
            agent,
            inside,
            nat,
            peer,
            next_media: Instant::from_micros(0),
            heard: Vec::new(),
            events: Vec::new(),
        });
    }

    /// Runs until `end`, players sending a 20 ms media packet to their peer on its route.
    pub(super) fn run_until(&mut self, end: Instant) {
        let mut steps_at_now = 0;
        loop {
            let flights = self.flights.iter().map(|f| f.at).min();
            let players = self
                .players
                .iter()
                .flat_map(|p| [p.agent.poll_timeout(), Some(p.next_media)])
                .flatten()
                .min();
            let Some(next) = [flights, players].into_iter().flatten().min() else {
                break;
            };
            if next > end {
                break;
            }
            steps_at_now = if next <= self.now {
                steps_at_now + 1
            } else {
                0
            };
            assert!(steps_at_now < 10_000, "livelock at {:?}", self.now);
            self.now = self.now.max(next);
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.flights)
                .into_iter()
                .partition(|f| f.at <= now);
            self.flights = later;
            for flight in due {
                self.deliver(flight);
            }
            for at in 0..self.players.len() {
                let player = &mut self.players[at];
                if player.agent.poll_timeout().is_some_and(|t| t <= now) {
                    player.agent.handle_timeout(now);
                }
                if player.next_media <= now {
                    player.next_media = now + Duration::from_millis(20);
                    if let Some(route) = player.agent.route(player.peer) {
                        let mut buf = [0; 1500];
                        buf[HEADROOM..HEADROOM + 4].copy_from_slice(&[0x80, 0x60, 0, 0]);
                        if let Some(framed) = player.agent.frame(route, &mut buf, 4) {
                            let src = player.inside;
                            self.send_from_player(at, src, framed.dest, buf[framed.range].to_vec());
                        }
                    }
                }
                self.drain(at);
            }
        }
        self.now = end;
    }

    fn drain(&mut self, at: usize) {
        let now = self.now;
        let mut buf = [0; 1500];
        while let Some(t) = self.players[at].agent.poll_transmit(&mut buf) {
            let src = self.players[at].inside;
            self.send_from_player(at, src, t.dest, buf[..t.len].to_vec());
        }
        while let Some(event) = self.players[at].agent.poll_event() {
            self.players[at].events.push((now, event));
        }
    }

    fn send_from_player(&mut self, at: usize, src: SocketAddr, dst: SocketAddr, data: Vec<u8>) {
        let nat = self.players[at].nat;
        let src = self.nats[nat].outbound(src, dst);
        self.send(src, dst, data);
    }

    /// Puts a datagram on the wire (also how a test injects a forged one).
    pub(super) fn send(&mut self, src: SocketAddr, dst: SocketAddr, data: Vec<u8>) {
        self.sent += 1;
        // A hash of the count, not the count itself: a fixed period would resonate with the
        // 20 ms media pattern and always hit the same flow.
        let hash = self.sent.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        if self.drop_every.is_some_and(|n| hash.is_multiple_of(n)) {
            return;
        }
        self.flights.push(Flight {
            at: self.now + HOP,
            src,
            dst,
            data,
        });
    }

    fn deliver(&mut self, flight: Flight) {
        let Flight { src, dst, data, .. } = flight;
        if dst == STUN {
            return self.stun(src, &data);
        }
        if dst == TURN {
            return self.turn(src, &data);
        }
        if let Some(at) = self.allocations.iter().position(|a| a.relay == Some(dst)) {
            return self.relay_to_client(at, src, &data);
        }
        let Some(nat) = self.nats.iter().position(|n| n.public == dst.ip()) else {
            return;
        };
        let Some(inside) = self.nats[nat].inbound(src, dst.port()) else {
            return;
        };
        let Some(at) = self.players.iter().position(|p| p.inside == inside) else {
            return;
        };
        let now = self.now;
        let player = &mut self.players[at];
        let peer = player.peer;
        if let Received::Payload { route, .. } = player.agent.handle_datagram(now, src, &data)
            && player.agent.peer_on(route) == Some(peer)
        {
            player.agent.handle_heard(now, peer);
            player.heard.push(now);
        }
        self.drain(at);
    }

    fn stun(&mut self, src: SocketAddr, data: &[u8]) {
        let Ok((request, _)) = MessageDecoderBuilder::default().build().decode(data) else {
            return;
        };
        if request.method() != BINDING || request.class() != MessageClass::Request {
            return;
        }
        let response = StunMessageBuilder::new(BINDING, MessageClass::SuccessResponse)
            .with_transaction_id(*request.transaction_id())
            .with_attribute(XorMappedAddress::from(src))
            .with_attribute(Fingerprint::default())
            .build();
        self.send(STUN, src, message::encode(&response, 548).unwrap());
    }

    fn reply(&mut self, to: SocketAddr, message: &StunMessage) {
        self.send(TURN, to, message::encode(message, 1500).unwrap());
    }

    fn success(&self, request: &StunMessage) -> StunMessageBuilder {
        StunMessageBuilder::new(request.method(), MessageClass::SuccessResponse)
            .with_transaction_id(*request.transaction_id())
    }

    fn signed(&self, builder: StunMessageBuilder) -> StunMessage {
        builder
            .with_attribute(MessageIntegrity::new(self.turn_key.clone()))
            .with_attribute(Fingerprint::default())
            .build()
    }

    fn turn(&mut self, src: SocketAddr, data: &[u8]) {
        let allocation = self.allocations.iter().position(|a| a.client == Some(src));
        if let Some((channel, payload)) = message::read_channel_data(data) {
            let Some(at) = allocation else { return };
            let allocation = &self.allocations[at];
            let Some(&(_, peer)) = allocation.channels.iter().find(|c| c.0 == channel) else {
                return;
            };
            let relay = allocation.relay.unwrap();
            self.relayed += 1;
            return self.send(relay, peer, payload.to_vec());
        }
        let Ok((plain, _)) = MessageDecoderBuilder::default().build().decode(data) else {
            return;
        };
        if plain.method() == SEND && plain.class() == MessageClass::Indication {
            let Some(at) = allocation else { return };
            let peer = *plain
                .get::<XorPeerAddress>()
                .unwrap()
                .as_xor_peer_address()
                .unwrap()
                .socket_address();
            let payload = plain
                .get::<Data>()
                .unwrap()
                .as_data()
                .unwrap()
                .as_bytes()
                .to_vec();
            let relay = self.allocations[at].relay.unwrap();
            self.relayed += 1;
            return self.send(relay, peer, payload);
        }
        if plain.get::<MessageIntegrity>().is_none() {
            let error = StunMessageBuilder::new(plain.method(), MessageClass::ErrorResponse)
                .with_transaction_id(*plain.transaction_id())
                .with_attribute(ErrorCode::from(
                    stun_rs::ErrorCode::new(401, "Unauthorized").unwrap(),
                ))
                .with_attribute(Realm::try_from(REALM).unwrap())
                .with_attribute(Nonce::try_from("nonce-1").unwrap())
                .build();
            return self.reply(src, &error);
        }
        let Ok(request) = message::decode(data, Some(&self.turn_key), true) else {
            return;
        };
        let method = request.method();
        if method == ALLOCATE {
            let at = allocation.unwrap_or_else(|| {
                let port = 50000 + self.allocations.len() as u16;
                self.allocations.push(Allocation {
                    client: Some(src),
                    relay: Some(addr(TURN_RELAY_IP, port)),
                    ..Allocation::default()
                });
                self.allocations.len() - 1
            });
            let relay = self.allocations[at].relay.unwrap();
            let response = self.signed(
                self.success(&request)
                    .with_attribute(XorRelayedAddress::from(relay))
                    .with_attribute(XorMappedAddress::from(src))
                    .with_attribute(LifeTime::new(600)),
            );
            return self.reply(src, &response);
        }
        let Some(at) = allocation else {
            let mismatch = StunMessageBuilder::new(method, MessageClass::ErrorResponse)
                .with_transaction_id(*request.transaction_id())
                .with_attribute(ErrorCode::from(
                    stun_rs::ErrorCode::new(437, "Allocation Mismatch").unwrap(),
                ))
                .build();
            return self.reply(src, &mismatch);
        };
        if method == CREATE_PERMMISSION {
            for attribute in request.attributes() {
                if let Ok(peer) = attribute.as_xor_peer_address() {
                    self.allocations[at]
                        .permissions
                        .push(peer.socket_address().ip());
                }
            }
        } else if method == CHANNEL_BIND {
            let channel = request
                .get::<ChannelNumber>()
                .unwrap()
                .as_channel_number()
                .unwrap()
                .number();
            let peer = *request
                .get::<XorPeerAddress>()
                .unwrap()
                .as_xor_peer_address()
                .unwrap()
                .socket_address();
            let allocation = &mut self.allocations[at];
            allocation.permissions.push(peer.ip());
            allocation.channels.retain(|c| c.0 != channel);
            allocation.channels.push((channel, peer));
        } else if method != REFRESH {
            return;
        }
        let mut builder = self.success(&request);
        if method == REFRESH {
            builder = builder.with_attribute(LifeTime::new(600));
        }
        let response = self.signed(builder);
        self.reply(src, &response);
    }

    fn relay_to_client(&mut self, at: usize, src: SocketAddr, data: &[u8]) {
        let allocation = &self.allocations[at];
        if !allocation.permissions.contains(&src.ip()) {
            return;
        }
        let client = allocation.client.unwrap();
        let mut buf = vec![0; data.len() + 4];
        let bytes = match allocation.channels.iter().find(|c| c.1 == src) {
            Some(&(channel, _)) => {
                let len = message::write_channel_data(channel, data, &mut buf).unwrap();
                buf.truncate(len);
                buf
            }
            None => {
                let indication = StunMessageBuilder::new(DATA, MessageClass::Indication)
                    .with_attribute(XorPeerAddress::from(src))
                    .with_attribute(Data::from(data))
                    .build();
                message::encode(&indication, 1500).unwrap()
            }
        };
        self.send(TURN, client, bytes);
    }

    /// The channel number the TURN server bound to `peer` on some allocation.
    pub(super) fn channel_to(&self, peer: SocketAddr) -> Option<u16> {
        self.allocations
            .iter()
            .flat_map(|a| &a.channels)
            .find(|c| c.1 == peer)
            .map(|c| c.0)
    }

    /// The selected path kind of player `at`.
    pub(super) fn path(&self, at: usize) -> Option<PathKind> {
        let player = &self.players[at];
        Some(player.agent.selected(player.peer)?.kind)
    }

    /// When player `at` first heard media at or after `since`.
    pub(super) fn first_heard(&self, at: usize, since: Instant) -> Option<Instant> {
        self.players[at].heard.iter().copied().find(|t| *t >= since)
    }

    /// The longest gap in player `at`'s received media between `from` and `to`.
    pub(super) fn longest_gap(&self, at: usize, from: Instant, to: Instant) -> Duration {
        let mut last = from;
        let mut gap = Duration::ZERO;
        for t in self.players[at]
            .heard
            .iter()
            .copied()
            .filter(|t| *t >= from && *t <= to)
        {
            gap = gap.max(t.saturating_since(last));
            last = t;
        }
        gap.max(to.saturating_since(last))
    }
}
