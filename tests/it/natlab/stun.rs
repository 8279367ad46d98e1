//! A small blocking STUN/TURN client over a std UDP socket, on the stun-rs codec: what the lab
//! needs to see a NAT from inside a home (the mapped address) and to use coturn's relay.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use stun_rs::attributes::stun::{
    ErrorCode, Fingerprint, MessageIntegrity, Nonce, Realm, UserName, XorMappedAddress,
};
use stun_rs::attributes::turn::{Data, RequestedTrasport, XorPeerAddress, XorRelayedAddress};
use stun_rs::methods::{ALLOCATE, BINDING, CREATE_PERMMISSION, SEND};
use stun_rs::{
    Algorithm, AlgorithmId, HMACKey, MessageClass, MessageDecoderBuilder, MessageEncoderBuilder,
    StunMessage, StunMessageBuilder,
};

/// Time between retransmissions of a request (a lab link loses nothing; this only bounds a
/// server that is not up yet).
const RETRANSMIT: Duration = Duration::from_millis(200);

/// Sends `request` to `server` until a response with its transaction id comes back from
/// `server` (other datagrams are ignored), for at most `limit`.
fn transact(
    socket: &UdpSocket,
    server: SocketAddr,
    request: &StunMessage,
    limit: Duration,
) -> Result<StunMessage, String> {
    let mut out = [0u8; 1_500];
    let size = MessageEncoderBuilder::default()
        .build()
        .encode(&mut out, request)
        .map_err(|error| format!("encode: {error:?}"))?;
    let decoder = MessageDecoderBuilder::default().build();
    let start = Instant::now();
    let mut buffer = [0u8; 1_500];
    while start.elapsed() < limit {
        socket
            .send_to(&out[..size], server)
            .map_err(|error| format!("send to {server}: {error}"))?;
        let sent = Instant::now();
        while sent.elapsed() < RETRANSMIT {
            let wait = RETRANSMIT
                .saturating_sub(sent.elapsed())
                .max(Duration::from_millis(1));
            socket
                .set_read_timeout(Some(wait))
                .map_err(|error| error.to_string())?;
            let Ok((len, from)) = socket.recv_from(&mut buffer) else {
                continue;
            };
            if from != server {
                continue;
            }
            let Ok((response, _)) = decoder.decode(&buffer[..len]) else {
                continue;
            };
            if response.transaction_id() == request.transaction_id() {
                return Ok(response);
            }
        }
    }
    Err(format!("no STUN response from {server} within {limit:?}"))
}

/// The address `server` saw a Binding request from `socket` come from (XOR-MAPPED-ADDRESS).
pub(crate) fn mapped_address(
    socket: &UdpSocket,
    server: SocketAddr,
    limit: Duration,
) -> Result<SocketAddr, String> {
    let request = StunMessageBuilder::new(BINDING, MessageClass::Request).build();
    let response = transact(socket, server, &request, limit)?;
    xor_mapped(&response).ok_or_else(|| format!("{server}: Binding response without a mapping"))
}

fn xor_mapped(message: &StunMessage) -> Option<SocketAddr> {
    let attribute = message.get::<XorMappedAddress>()?;
    Some(*attribute.as_xor_mapped_address().ok()?.socket_address())
}

/// A TURN allocation made with the long-term credential mechanism.
pub(crate) struct Allocation {
    /// The relayed transport address coturn allocated.
    pub(crate) relayed: SocketAddr,
    /// Where coturn saw the Allocate come from (the client's public address).
    pub(crate) mapped: SocketAddr,
    server: SocketAddr,
    user: UserName,
    realm: Realm,
    nonce: Nonce,
    key: HMACKey,
}

/// Allocates a UDP relay on `server` for `socket` (Allocate, 401 with realm and nonce, Allocate
/// again with MESSAGE-INTEGRITY).
pub(crate) fn allocate(
    socket: &UdpSocket,
    server: SocketAddr,
    user: &str,
    password: &str,
) -> Result<Allocation, String> {
    let limit = Duration::from_secs(5);
    let first = StunMessageBuilder::new(ALLOCATE, MessageClass::Request)
        .with_attribute(RequestedTrasport::new(stun_rs::protocols::UDP))
        .build();
    let challenge = transact(socket, server, &first, limit)?;
    let code = error_code(&challenge);
    if code != Some(401) {
        return Err(format!(
            "{server}: first Allocate answered {:?} (error {code:?}), expected 401",
            challenge.class()
        ));
    }
    let realm = challenge
        .get::<Realm>()
        .and_then(|a| a.as_realm().ok().cloned())
        .ok_or("401 without REALM")?;
    let nonce = challenge
        .get::<Nonce>()
        .and_then(|a| a.as_nonce().ok().cloned())
        .ok_or("401 without NONCE")?;
    let user = UserName::new(user).map_err(|error| format!("user name: {error:?}"))?;
    let key = HMACKey::new_long_term(&user, &realm, password, Algorithm::from(AlgorithmId::MD5))
        .map_err(|error| format!("key: {error:?}"))?;
    let second = StunMessageBuilder::new(ALLOCATE, MessageClass::Request)
        .with_attribute(RequestedTrasport::new(stun_rs::protocols::UDP))
        .with_attribute(user.clone())
        .with_attribute(realm.clone())
        .with_attribute(nonce.clone())
        .with_attribute(MessageIntegrity::new(key.clone()))
        .with_attribute(Fingerprint::default())
        .build();
    let response = transact(socket, server, &second, limit)?;
    if response.class() != MessageClass::SuccessResponse {
        return Err(format!(
            "{server}: authenticated Allocate failed (error {:?})",
            error_code(&response)
        ));
    }
    let relayed = response
        .get::<XorRelayedAddress>()
        .and_then(|a| a.as_xor_relayed_address().ok().map(|a| *a.socket_address()))
        .ok_or("Allocate success without XOR-RELAYED-ADDRESS")?;
    let mapped = xor_mapped(&response).ok_or("Allocate success without XOR-MAPPED-ADDRESS")?;
    Ok(Allocation {
        relayed,
        mapped,
        server,
        user,
        realm,
        nonce,
        key,
    })
}

impl Allocation {
    /// Lets `peer` use the relay (CreatePermission).
    pub(crate) fn permit(&self, socket: &UdpSocket, peer: SocketAddr) -> Result<(), String> {
        let request = StunMessageBuilder::new(CREATE_PERMMISSION, MessageClass::Request)
            .with_attribute(XorPeerAddress::from(peer))
            .with_attribute(self.user.clone())
            .with_attribute(self.realm.clone())
            .with_attribute(self.nonce.clone())
            .with_attribute(MessageIntegrity::new(self.key.clone()))
            .with_attribute(Fingerprint::default())
            .build();
        let response = transact(socket, self.server, &request, Duration::from_secs(5))?;
        if response.class() == MessageClass::SuccessResponse {
            Ok(())
        } else {
            Err(format!(
                "CreatePermission for {peer} failed (error {:?})",
                error_code(&response)
            ))
        }
    }

    /// Sends `payload` to `peer` from the relayed address (a Send indication).
    pub(crate) fn send(
        &self,
        socket: &UdpSocket,
        peer: SocketAddr,
        payload: &[u8],
    ) -> Result<(), String> {
        let indication = StunMessageBuilder::new(SEND, MessageClass::Indication)
            .with_attribute(XorPeerAddress::from(peer))
            .with_attribute(Data::new(payload))
            .build();
        let mut out = [0u8; 1_500];
        let size = MessageEncoderBuilder::default()
            .build()
            .encode(&mut out, &indication)
            .map_err(|error| format!("encode: {error:?}"))?;
        socket
            .send_to(&out[..size], self.server)
            .map(drop)
            .map_err(|error| format!("send to {}: {error}", self.server))
    }
}

fn error_code(message: &StunMessage) -> Option<u16> {
    let attribute = message.get::<ErrorCode>()?;
    Some(attribute.as_error_code().ok()?.error_code().error_code())
}
