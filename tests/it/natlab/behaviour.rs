//! The lab's NATs behave like the NATs they stand for, seen with real packets: STUN Binding
//! requests to coturn from inside a home show the mappings, datagrams from the wan show the
//! filtering, and a TURN allocation shows coturn relaying for a home.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::coturn;
use super::stun;
use super::{Coturn, Home, Lab, Nat, WAN_HOSTS};

/// Bound on one STUN transaction inside the lab.
const STUN_LIMIT: Duration = Duration::from_secs(5);
/// How long a datagram that must not arrive is waited for (one that may arrives in
/// microseconds: three veths in one kernel).
const SILENCE: Duration = Duration::from_millis(500);

/// A socket on `home`'s host, on a port the kernel picks.
fn host_socket(home: &Home) -> UdpSocket {
    home.host.udp_socket(SocketAddr::from((home.addr, 0)))
}

/// A socket in the wan on [`WAN_HOSTS`]`[2]` (coturn uses the first two), any port.
fn wan_socket(lab: &Lab) -> UdpSocket {
    lab.wan.udp_socket(SocketAddr::from((WAN_HOSTS[2], 0)))
}

/// Where coturn's socket `server` sees `socket` come from.
fn mapped(socket: &UdpSocket, server: SocketAddr) -> SocketAddr {
    stun::mapped_address(socket, server, STUN_LIMIT)
        .unwrap_or_else(|error| panic!("Binding to {server}: {error}"))
}

/// The datagrams `socket` receives within `wait`.
fn received(socket: &UdpSocket, wait: Duration) -> Vec<(Vec<u8>, SocketAddr)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buffer = [0u8; 1_500];
    while let Some(left) = wait.checked_sub(start.elapsed()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("set read timeout");
        if let Ok((len, from)) = socket.recv_from(&mut buffer) {
            got.push((buffer[..len].to_vec(), from));
        }
    }
    got
}

/// The first datagram `socket` receives, within 5 s.
fn first_datagram(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set read timeout");
    let mut buffer = [0u8; 1_500];
    let (len, from) = socket
        .recv_from(&mut buffer)
        .expect("a datagram within 5 s");
    (buffer[..len].to_vec(), from)
}

/// One host socket behind a router doing `nat`, as coturn's four sockets (two addresses × two
/// ports) see it.
struct Mappings {
    /// The socket's own address.
    local: SocketAddr,
    /// Its public address by destination, each of them checked to be on the router's address.
    seen: Vec<SocketAddr>,
    /// Its public address at the first destination, asked again after the others.
    again: SocketAddr,
}

impl Mappings {
    fn probe(nat: Nat) -> Self {
        let lab = Lab::builder().home(nat).build();
        let coturn = Coturn::start(&lab);
        let home = lab.home(1);
        let socket = host_socket(home);
        let local = socket.local_addr().expect("local address");
        let seen: Vec<SocketAddr> = coturn
            .listening
            .iter()
            .map(|&server| mapped(&socket, server))
            .collect();
        let again = mapped(&socket, coturn.listening[0]);
        println!("{nat:?} NAT: local {local}, mapped by destination {seen:?}, first again {again}");
        for address in &seen {
            assert_eq!(address.ip(), IpAddr::V4(home.public), "{seen:?}");
        }
        Self { local, seen, again }
    }

    /// How many public ports the destinations saw.
    fn distinct_ports(&self) -> usize {
        let ports: BTreeSet<u16> = self.seen.iter().map(SocketAddr::port).collect();
        ports.len()
    }
}

#[test]
fn endpoint_independent_nat_keeps_one_public_port_for_every_destination() {
    let mappings = Mappings::probe(Nat::EndpointIndependent);
    let seen = &mappings.seen;
    assert_eq!(mappings.distinct_ports(), 1, "4 destinations: {seen:?}");
    // Linux masquerade keeps the host's source port when no other flow holds it.
    assert_eq!(seen[0].port(), mappings.local.port(), "{seen:?}");
    assert_eq!(mappings.again, seen[0]);
}

#[test]
fn port_randomising_nat_gives_each_destination_its_own_port() {
    let mappings = Mappings::probe(Nat::PortRandomising);
    let seen = &mappings.seen;
    // Each new flow draws a port from 1024-65535: two of four alike has odds of about 1e-4,
    // three alike about 1e-9, so "at least three different" cannot fail by chance.
    assert!(
        mappings.distinct_ports() >= 3,
        "{} different ports for 4 destinations: {seen:?}",
        mappings.distinct_ports()
    );
    assert_eq!(
        mappings.again, seen[0],
        "a flow keeps its mapping while it lives"
    );
}

#[test]
fn flushing_conntrack_rebinds_a_port_randomising_mapping() {
    let lab = Lab::builder()
        .home(Nat::PortRandomising)
        .home(Nat::EndpointIndependent)
        .build();
    let coturn = Coturn::start(&lab);
    let server = coturn.listening[0];

    let randomising = lab.home(1);
    let (before, after) = across_a_flush(randomising, server);
    assert_eq!(after.ip(), IpAddr::V4(randomising.public));
    // Same flow, new random port: equal by chance once in 64,512.
    assert_ne!(after.port(), before.port(), "the mapping did not change");

    // The endpoint-independent router maps the same flow to the same free port again: a
    // rebinding test needs the port-randomising router.
    let (before, after) = across_a_flush(lab.home(2), server);
    assert_eq!(after, before);
}

/// A new socket on `home`'s host: its public address at `server` before and after the router
/// forgets its mappings.
fn across_a_flush(home: &Home, server: SocketAddr) -> (SocketAddr, SocketAddr) {
    let socket = host_socket(home);
    let before = mapped(&socket, server);
    home.flush_mappings();
    let after = mapped(&socket, server);
    println!("{:?} NAT, conntrack -F: {before} -> {after}", home.nat);
    (before, after)
}

#[test]
fn unsolicited_datagrams_from_the_wan_do_not_reach_a_home() {
    let lab = Lab::builder()
        .home(Nat::EndpointIndependent)
        .home(Nat::PortRandomising)
        .build();
    for number in [1, 2] {
        let home = lab.home(number);
        let host = host_socket(home);
        let port = host.local_addr().expect("local address").port();
        let peer = wan_socket(&lab);
        let stranger = wan_socket(&lab);

        // No flow yet: to the router's address at the host's port, and to the host's own
        // (private, unrouted) address.
        peer.send_to(b"unsolicited", (home.public, port))
            .expect("send to the router");
        let direct = peer.send_to(b"unsolicited", (home.addr, port));
        let unsolicited = received(&host, SILENCE);

        // The host opens a flow to `peer`: `peer` sees it from the router's address, and its
        // answer comes back through the mapping.
        host.send_to(b"hello", peer.local_addr().expect("peer address"))
            .expect("send from the host");
        let (payload, public) = first_datagram(&peer);
        assert_eq!(payload, b"hello");
        assert_eq!(public.ip(), IpAddr::V4(home.public));
        peer.send_to(b"answer", public).expect("answer");
        let (payload, from) = first_datagram(&host);
        assert_eq!(payload, b"answer");
        assert_eq!(from, peer.local_addr().expect("peer address"));

        // Another wan socket at the open mapping: filtered (Linux conntrack lets in only
        // the peer the host sent to).
        stranger
            .send_to(b"stranger", public)
            .expect("send to the mapping");
        let filtered = received(&host, SILENCE);

        println!(
            "{:?} NAT: unsolicited to {}:{port} and {}:{port} ({direct:?}): {} arrived; \
             mapping {public} opened to {}; stranger's datagram: {} arrived",
            home.nat,
            home.public,
            home.addr,
            unsolicited.len(),
            peer.local_addr().expect("peer address"),
            filtered.len()
        );
        assert_eq!(unsolicited.len(), 0, "{:?}: {unsolicited:?}", home.nat);
        assert_eq!(filtered.len(), 0, "{:?}: {filtered:?}", home.nat);
        if home.nat == Nat::EndpointIndependent {
            // The router dropped the unsolicited datagram before conntrack kept it, so the
            // host's port was still free for its own flow.
            assert_eq!(
                public.port(),
                port,
                "the unsolicited datagram moved the mapping"
            );
        }
    }
}

/// Hole punching between sockets `a` and `b`, each told the other's public address as coturn
/// saw it: both send `PUNCH_ROUNDS` datagrams to the other, 20 ms apart. Returns how many
/// `a` and `b` received from the other's public address.
fn punch(
    a: &UdpSocket,
    a_public: SocketAddr,
    b: &UdpSocket,
    b_public: SocketAddr,
) -> (usize, usize) {
    for _ in 0..PUNCH_ROUNDS {
        a.send_to(b"punch", b_public).expect("send from a");
        b.send_to(b"punch", a_public).expect("send from b");
        std::thread::sleep(Duration::from_millis(20));
    }
    let count = |socket: &UdpSocket, from: SocketAddr| {
        received(socket, SILENCE)
            .iter()
            .filter(|(payload, source)| payload == b"punch" && *source == from)
            .count()
    };
    (count(a, b_public), count(b, a_public))
}

/// Datagrams each side sends while hole punching.
const PUNCH_ROUNDS: usize = 5;

#[test]
fn hole_punching_joins_endpoint_independent_homes_and_fails_with_a_port_randomising_one() {
    let lab = Lab::builder()
        .home(Nat::EndpointIndependent)
        .home(Nat::EndpointIndependent)
        .home(Nat::PortRandomising)
        .build();
    let coturn = Coturn::start(&lab);
    let server = coturn.listening[0];
    let open = |number: usize| {
        let socket = host_socket(lab.home(number));
        let public = mapped(&socket, server);
        (socket, public)
    };

    let (first, first_public) = open(1);
    let (second, second_public) = open(2);
    let (first_heard, second_heard) = punch(&first, first_public, &second, second_public);
    println!(
        "endpoint-independent {first_public} <-> endpoint-independent {second_public}: \
         {first_heard}/{PUNCH_ROUNDS} and {second_heard}/{PUNCH_ROUNDS} arrived"
    );
    // The first datagram may reach the other router before that side has sent anything, and
    // is dropped there; every one after it passes.
    for heard in [first_heard, second_heard] {
        assert!(heard >= PUNCH_ROUNDS - 1, "{heard} of {PUNCH_ROUNDS}");
    }

    let (first, first_public) = open(1);
    let (third, third_public) = open(3);
    let (first_heard, third_heard) = punch(&first, first_public, &third, third_public);
    println!(
        "endpoint-independent {first_public} <-> port-randomising {third_public}: \
         {first_heard}/{PUNCH_ROUNDS} and {third_heard}/{PUNCH_ROUNDS} arrived"
    );
    // The randomising router gives the flow to the first home a new port: the first home's
    // router only lets in the port it sent to, and the third's router has no flow from the
    // first home on the port coturn saw. Such a pair needs TURN.
    assert_eq!((first_heard, third_heard), (0, 0));
}

#[test]
fn coturn_relays_for_a_home_behind_nat() {
    let lab = Lab::builder().home(Nat::PortRandomising).build();
    let coturn = Coturn::start(&lab);
    let home = lab.home(1);
    let socket = host_socket(home);
    let peer = wan_socket(&lab);
    let peer_addr = peer.local_addr().expect("peer address");

    let allocation = stun::allocate(&socket, coturn.listening[0], coturn::USER, coturn::PASSWORD)
        .unwrap_or_else(|error| panic!("TURN Allocate: {error}\n{}", coturn.log_text()));
    allocation
        .permit(&socket, peer_addr)
        .unwrap_or_else(|error| panic!("{error}\n{}", coturn.log_text()));
    allocation
        .send(&socket, peer_addr, b"through coturn")
        .expect("Send indication");
    let (payload, from) = first_datagram(&peer);
    println!(
        "TURN: relayed {}, client seen as {}, peer {peer_addr} got {} bytes from {from}",
        allocation.relayed,
        allocation.mapped,
        payload.len()
    );

    assert_eq!(allocation.relayed.ip(), IpAddr::V4(coturn.relay_ip));
    assert!(
        coturn::RELAY_PORTS.contains(&allocation.relayed.port()),
        "relayed port {}",
        allocation.relayed.port()
    );
    assert_eq!(allocation.mapped.ip(), IpAddr::V4(home.public));
    assert_eq!(payload, b"through coturn");
    assert_eq!(from, allocation.relayed);
}
