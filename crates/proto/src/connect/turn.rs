//! The TURN client (RFC 8656 over UDP): one allocation on the configured server, reached over
//! the session's socket. Allocate (answered 401, repeated with long-term credentials),
//! Refresh before the lifetime ends, CreatePermission for each remote candidate's address,
//! ChannelBind per peer address so relayed audio carries a 4-byte ChannelData header instead
//! of a 36-byte Send indication.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::Duration;

use stun_rs::attributes::StunAttributeType;
use stun_rs::attributes::stun::{
    ErrorCode, Fingerprint, MessageIntegrity, Nonce, Realm, UserName, XorMappedAddress,
};
use stun_rs::attributes::turn::{
    ChannelNumber, Data, LifeTime, RequestedTrasport, XorPeerAddress, XorRelayedAddress,
};
use stun_rs::methods::{ALLOCATE, CHANNEL_BIND, CREATE_PERMMISSION, DATA, REFRESH, SEND};
use stun_rs::{
    Algorithm, AlgorithmId, HMACKey, MessageClass, MessageMethod, StunMessage, StunMessageBuilder,
};

use super::message::{self, CHANNELS, Reject};
use crate::time::Instant;

/// Where the TURN server is and who we are to it (long-term credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// The server's address.
    pub addr: SocketAddr,
    /// The long-term credential's user name.
    pub username: String,
    /// Its password.
    pub password: String,
}

/// The allocation lifetime we ask for (the RFC 8656 default).
const LIFETIME: Duration = Duration::from_secs(600);
/// Permissions last 300 s and channel bindings 600 s; both are renewed at this interval.
const PERMISSION_REFRESH: Duration = Duration::from_secs(240);
/// Largest TURN request we build (well under any path MTU).
const MAX_REQUEST: usize = 548;

/// A TURN request in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// Allocate a relayed address.
    Allocate,
    /// Extend the allocation.
    Refresh,
    /// Permit every remote candidate address (by IP).
    Permission,
    /// Bind a channel to a peer address.
    ChannelBind(u16, SocketAddr),
}

/// What a TURN response meant.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The allocation exists: our relayed address and our address as the server saw it.
    Allocated {
        /// Relayed transport address.
        relayed: SocketAddr,
        /// Server-reflexive address (the server's XOR-MAPPED-ADDRESS).
        mapped: Option<SocketAddr>,
    },
    /// Send the request again (with credentials, or a fresh nonce).
    Retry(Request),
    /// A channel is bound: ChannelData to and from that peer works now.
    Bound(SocketAddr),
    /// Nothing to do (a refresh or a permission succeeded).
    Done,
    /// The server refused for good (bad credentials, quota): a clear error code.
    Failed(u16),
    /// Dropped: bad integrity, fingerprint, or not a message of the request's kind.
    Rejected(Reject),
}

#[derive(Clone, Debug)]
struct Auth {
    realm: String,
    nonce: String,
    key: HMACKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Channel {
    number: u16,
    peer: SocketAddr,
    bound: bool,
}

/// The client's state for one server.
#[derive(Debug)]
pub(crate) struct Client {
    server: Server,
    auth: Option<Auth>,
    relayed: Option<SocketAddr>,
    permissions: Vec<IpAddr>,
    channels: Vec<Channel>,
    refresh_at: Option<Instant>,
    permissions_at: Option<Instant>,
    max_channels: usize,
}

impl Client {
    pub(crate) fn new(server: Server, max_channels: usize) -> Self {
        Self {
            server,
            auth: None,
            relayed: None,
            permissions: Vec::new(),
            channels: Vec::new(),
            refresh_at: None,
            permissions_at: None,
            max_channels: max_channels.min(CHANNELS.len()),
        }
    }

    /// The server's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Our relayed address, once allocated.
    pub(crate) fn relayed(&self) -> Option<SocketAddr> {
        self.relayed
    }

    /// The channel bound to `peer`, if its ChannelBind succeeded.
    pub(crate) fn channel(&self, peer: SocketAddr) -> Option<u16> {
        self.channels
            .iter()
            .find(|c| c.peer == peer && c.bound)
            .map(|c| c.number)
    }

    /// The peer address a bound channel number stands for.
    pub(crate) fn peer_of(&self, number: u16) -> Option<SocketAddr> {
        self.channels
            .iter()
            .find(|c| c.number == number && c.bound)
            .map(|c| c.peer)
    }

    /// Adds `peer` to the permissions and channels wanted; returns the requests to send now
    /// (none before the allocation exists: they are sent when it does).
    pub(crate) fn want_peer(&mut self, peer: SocketAddr) -> Vec<Request> {
        let mut requests = Vec::new();
        if !self.permissions.contains(&peer.ip()) && self.permissions.len() < self.max_channels {
            self.permissions.push(peer.ip());
            if self.relayed.is_some() {
                requests.push(Request::Permission);
            }
        }
        if self.channels.iter().all(|c| c.peer != peer) && self.channels.len() < self.max_channels {
            let number = CHANNELS.start() + self.channels.len() as u16;
            self.channels.push(Channel {
                number,
                peer,
                bound: false,
            });
            if self.relayed.is_some() {
                requests.push(Request::ChannelBind(number, peer));
            }
        }
        requests
    }

    /// Builds `request` with a fresh transaction id (credentials attached once we have them).
    pub(crate) fn build(
        &self,
        request: Request,
        rng: &mut impl rand::RngCore,
    ) -> Option<([u8; 12], Vec<u8>)> {
        let id = message::new_transaction_id(rng);
        let (method, attributes): (MessageMethod, Vec<stun_rs::StunAttribute>) = match request {
            Request::Allocate => (
                ALLOCATE,
                vec![
                    RequestedTrasport::new(stun_rs::protocols::UDP).into(),
                    LifeTime::new(LIFETIME.as_secs() as u32).into(),
                ],
            ),
            Request::Refresh => (
                REFRESH,
                vec![LifeTime::new(LIFETIME.as_secs() as u32).into()],
            ),
            Request::Permission => (
                CREATE_PERMMISSION,
                self.permissions
                    .iter()
                    .map(|ip| XorPeerAddress::from(SocketAddr::new(*ip, 0)).into())
                    .collect(),
            ),
            Request::ChannelBind(number, peer) => (
                CHANNEL_BIND,
                vec![
                    ChannelNumber::new(number).into(),
                    XorPeerAddress::from(peer).into(),
                ],
            ),
        };
        let mut builder = StunMessageBuilder::new(method, MessageClass::Request)
            .with_transaction_id(id)
            .with_attribute(stun_rs::StunAttribute::from(
                UserName::try_from(self.server.username.as_str()).ok()?,
            ));
        for attribute in attributes {
            builder = builder.with_attribute(attribute);
        }
        if let Some(auth) = &self.auth {
            builder = builder
                .with_attribute(Realm::try_from(auth.realm.as_str()).ok()?)
                .with_attribute(Nonce::try_from(auth.nonce.as_str()).ok()?)
                .with_attribute(MessageIntegrity::new(auth.key.clone()));
        } else if request != Request::Allocate {
            return None;
        }
        let built = builder.with_attribute(Fingerprint::default()).build();
        Some((*id.as_bytes(), message::encode(&built, MAX_REQUEST)?))
    }

    /// Handles the server's response `data` to `request`.
    pub(crate) fn handle_response(
        &mut self,
        now: Instant,
        request: Request,
        data: &[u8],
    ) -> Outcome {
        let error = data.first().is_some_and(|b| b & 0x01 == 0x01)
            && data.get(1).is_some_and(|b| b & 0x10 == 0x10);
        // Error responses to unauthenticated requests cannot carry integrity; they only make
        // us retry with credentials, never move a path.
        let key = if error {
            None
        } else {
            self.auth.as_ref().map(|a| &a.key)
        };
        let decoded = match message::decode(data, key, false) {
            Ok(decoded) => decoded,
            Err(Reject::Integrity) if error => match message::decode_ignoring_integrity(data) {
                Ok(decoded) => decoded,
                Err(reject) => return Outcome::Rejected(reject),
            },
            Err(reject) => return Outcome::Rejected(reject),
        };
        if error {
            return self.handle_error(request, &decoded);
        }
        match request {
            Request::Allocate => {
                let Some(relayed) = decoded
                    .get::<XorRelayedAddress>()
                    .and_then(|a| a.as_xor_relayed_address().ok())
                    .map(|a| *a.socket_address())
                else {
                    return Outcome::Rejected(Reject::Missing);
                };
                let mapped = decoded
                    .get::<XorMappedAddress>()
                    .and_then(|a| a.as_xor_mapped_address().ok())
                    .map(|a| *a.socket_address());
                let lifetime = lifetime_of(&decoded);
                self.relayed = Some(relayed);
                self.refresh_at = Some(now + refresh_after(lifetime));
                self.permissions_at = Some(now + PERMISSION_REFRESH);
                Outcome::Allocated { relayed, mapped }
            }
            Request::Refresh => {
                self.refresh_at = Some(now + refresh_after(lifetime_of(&decoded)));
                Outcome::Done
            }
            Request::Permission => Outcome::Done,
            Request::ChannelBind(number, peer) => {
                match self.channels.iter_mut().find(|c| c.number == number) {
                    Some(channel) if channel.peer == peer => {
                        channel.bound = true;
                        Outcome::Bound(peer)
                    }
                    _ => Outcome::Done,
                }
            }
        }
    }

    fn handle_error(&mut self, request: Request, decoded: &StunMessage) -> Outcome {
        let code = decoded
            .get::<ErrorCode>()
            .and_then(|a| a.as_error_code().ok())
            .map_or(0, |e| e.error_code().error_code());
        let realm = decoded
            .get::<Realm>()
            .and_then(|a| a.as_realm().ok())
            .map(|r| r.as_str().to_owned());
        let nonce = decoded
            .get::<Nonce>()
            .and_then(|a| a.as_nonce().ok())
            .map(|n| n.as_str().to_owned());
        match (code, realm, nonce) {
            // 401 to our first (unauthenticated) request: learn realm and nonce.
            (401, Some(realm), Some(nonce)) if self.auth.is_none() => {
                let Ok(key) = HMACKey::new_long_term(
                    &self.server.username,
                    &realm,
                    &self.server.password,
                    Algorithm::from(AlgorithmId::MD5),
                ) else {
                    return Outcome::Failed(401);
                };
                self.auth = Some(Auth { realm, nonce, key });
                Outcome::Retry(request)
            }
            // 438 Stale Nonce: the same request with the new nonce.
            (438, _, Some(nonce)) if self.auth.is_some() => {
                if let Some(auth) = &mut self.auth {
                    auth.nonce = nonce;
                }
                Outcome::Retry(request)
            }
            // 437 Allocation Mismatch: the server knows no allocation for our address (our
            // NAT mapping changed): allocate again from where we are now.
            (437, ..) if request != Request::Allocate => {
                self.reset();
                Outcome::Retry(Request::Allocate)
            }
            (code, ..) => {
                if matches!(request, Request::Allocate | Request::Refresh) {
                    self.relayed = None;
                }
                Outcome::Failed(code)
            }
        }
    }

    /// Forgets the allocation and its channels (kept as wanted, to bind again on the next
    /// one); credentials stay.
    pub(crate) fn reset(&mut self) {
        self.relayed = None;
        self.refresh_at = None;
        self.permissions_at = None;
        for channel in &mut self.channels {
            channel.bound = false;
        }
    }

    /// Requests due at `now` (refreshes), and the deadlines they reset.
    pub(crate) fn poll_due(&mut self, now: Instant) -> Vec<Request> {
        let mut due = Vec::new();
        if self.refresh_at.is_some_and(|at| at <= now) {
            self.refresh_at = None;
            due.push(Request::Refresh);
        }
        if self.permissions_at.is_some_and(|at| at <= now) {
            self.permissions_at = Some(now + PERMISSION_REFRESH);
            due.extend(self.bindings());
        }
        due
    }

    /// The permission and every channel binding, as requests (after the allocation, and to
    /// refresh them).
    pub(crate) fn bindings(&self) -> Vec<Request> {
        let mut requests = Vec::new();
        if !self.permissions.is_empty() {
            requests.push(Request::Permission);
        }
        requests.extend(
            self.channels
                .iter()
                .map(|c| Request::ChannelBind(c.number, c.peer)),
        );
        requests
    }

    /// The next refresh deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [self.refresh_at, self.permissions_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Wraps `payload` for `peer` into `buf`: ChannelData when a channel is bound, a Send
    /// indication otherwise. Returns the length.
    pub(crate) fn wrap(&self, peer: SocketAddr, payload: &[u8], buf: &mut [u8]) -> Option<usize> {
        if let Some(number) = self.channel(peer) {
            return message::write_channel_data(number, payload, buf);
        }
        self.relayed?;
        // Indications are not retransmitted or answered: any transaction id will do, so the
        // payload's own bytes need no random generator here.
        let indication = StunMessageBuilder::new(SEND, MessageClass::Indication)
            .with_attribute(XorPeerAddress::from(peer))
            .with_attribute(Data::from(payload))
            .build();
        let bytes = message::encode(&indication, buf.len())?;
        buf.get_mut(..bytes.len())?.copy_from_slice(&bytes);
        Some(bytes.len())
    }

    /// Unwraps a datagram from the server carrying a peer's data (a ChannelData message on a
    /// bound channel, or a Data indication): the peer's address and where its payload lies in
    /// `data`.
    pub(crate) fn unwrap(&self, data: &[u8]) -> Option<(SocketAddr, Range<usize>)> {
        if let Some((number, payload)) = message::read_channel_data(data) {
            let start = message::CHANNEL_HEADER;
            return Some((self.peer_of(number)?, start..start + payload.len()));
        }
        let decoded = message::decode(data, None, false).ok()?;
        if decoded.method() != DATA || decoded.class() != MessageClass::Indication {
            return None;
        }
        let peer = *decoded
            .get::<XorPeerAddress>()?
            .as_xor_peer_address()
            .ok()?
            .socket_address();
        let payload = message::attribute_value(data, Data::get_type().as_u16())?;
        Some((peer, payload))
    }
}

fn lifetime_of(decoded: &StunMessage) -> Duration {
    decoded
        .get::<LifeTime>()
        .and_then(|a| a.as_life_time().ok())
        .map_or(LIFETIME, |l| Duration::from_secs(u64::from(l.as_u32())))
}

/// Refresh a minute before expiry (half-way for lifetimes under two minutes).
fn refresh_after(lifetime: Duration) -> Duration {
    if lifetime >= Duration::from_secs(120) {
        lifetime - Duration::from_secs(60)
    } else {
        lifetime / 2
    }
}
