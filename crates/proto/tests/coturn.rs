//! The connectivity agent against a real coturn on 127.0.0.1: a server-reflexive address by
//! STUN Binding, a relayed address by TURN Allocate (401, then long-term credentials), and a
//! ChannelBind whose ChannelData carries bytes both ways between the agent's socket and a UDP
//! socket of the test. The test is the driver, so it owns std sockets and a real clock.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "this test is the driver: it owns the sockets and the clock the sans-IO agent must not"
)]

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proto::auth::RoomKey;
use proto::connect::{
    Agent, Candidate, Config, HEADROOM, Kind, Limits, Received, Route, Timing, TurnServer,
};

/// coturn running on a temporary config; killed and its directory removed on drop.
struct Coturn {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn start_coturn() -> Option<Coturn> {
    if Command::new("turnserver")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("coturn not installed (scripts/install-deps.sh installs it): skipping");
        return None;
    }
    let port = free_udp_port();
    // Relay ports near the listening port's, so parallel runs rarely share a range.
    let min_port = 49152 + (port % 1000) * 10;
    let dir = std::env::temp_dir().join(format!("osp-coturn-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = format!(
        "listening-ip=127.0.0.1\nlistening-port={port}\nrelay-ip=127.0.0.1\nexternal-ip=127.0.0.1\n\
         min-port={min_port}\nmax-port={}\nrealm=test.local\nlt-cred-mech\nuser=alice:secret\n\
         fingerprint\nno-tls\nno-dtls\nno-cli\nallow-loopback-peers\nno-software-attribute\n\
         log-file=stdout\nsimple-log\npidfile={}/turnserver.pid\nuserdb={}/turndb.sqlite\n",
        min_port + 9,
        dir.display(),
        dir.display(),
    );
    let path = dir.join("turnserver.conf");
    std::fs::write(&path, config).expect("write turnserver.conf");
    let child = Command::new("turnserver")
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start turnserver");
    Some(Coturn {
        child,
        dir,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    })
}

/// Drives `agent` on `socket` until `done` holds or `limit` passes; returns whether it held.
fn drive(
    agent: &mut Agent,
    socket: &UdpSocket,
    start: Instant,
    limit: Duration,
    mut done: impl FnMut(&mut Agent) -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = [0; 1500];
    let mut out = [0; 1500];
    while Instant::now() < deadline {
        let now = proto::time::Instant::from_duration(start.elapsed());
        if agent.poll_timeout().is_some_and(|t| t <= now) {
            agent.handle_timeout(now);
        }
        while let Some(t) = agent.poll_transmit(&mut out) {
            socket.send_to(&out[..t.len], t.dest).expect("send");
        }
        while agent.poll_event().is_some() {}
        if done(agent) {
            return true;
        }
        if let Ok((len, from)) = socket.recv_from(&mut buf) {
            let now = proto::time::Instant::from_duration(start.elapsed());
            let _ = agent.handle_datagram(now, from, &buf[..len]);
        }
    }
    false
}

#[test]
fn srflx_by_binding_relay_by_allocate_and_channel_data_both_ways_through_coturn() {
    let Some(coturn) = start_coturn() else {
        return;
    };
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind agent socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").expect("bind peer socket");
    peer.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let peer_addr = peer.local_addr().unwrap();

    let mut timing = Timing::default();
    // coturn is ready within a second; retransmit until then.
    timing.server.sends = 12;
    timing.server.max_rto = Duration::from_millis(500);
    let mut agent = Agent::new(Config {
        user_id: 1,
        key: RoomKey::derive(b"secret", "room"),
        host: vec![local],
        stun: Some(coturn.addr),
        turn: Some(TurnServer {
            addr: coturn.addr,
            username: "alice".into(),
            password: "secret".into(),
        }),
        timing,
        limits: Limits::default(),
        seed: 7,
    });
    let start = Instant::now();
    let gathered = drive(&mut agent, &socket, start, Duration::from_secs(10), |a| {
        a.server_reflexive().is_some() && a.relayed().is_some()
    });
    assert!(gathered, "gathering through coturn: {:?}", agent.stats());
    // On loopback the server sees our socket's own address.
    assert_eq!(agent.server_reflexive(), Some(local));
    let relayed = agent.relayed().unwrap();
    assert_eq!(relayed.ip(), local.ip());
    assert_ne!(relayed.port(), coturn.addr.port());
    let kinds: Vec<Kind> = agent.local_candidates().iter().map(|c| c.kind).collect();
    assert!(kinds.contains(&Kind::ServerReflexive) && kinds.contains(&Kind::Relayed));

    // The peer's public (server-reflexive) candidate makes the agent permit it and bind a
    // channel to it; a host candidate would not (the server has no route into a home).
    let now = proto::time::Instant::from_duration(start.elapsed());
    agent.add_remote_candidate(
        now,
        2,
        Candidate::new(Kind::ServerReflexive, peer_addr, 65535),
    );
    let payload: Vec<u8> = (0..160u32).map(|i| 0x80 ^ (i as u8)).collect();
    let mut framed = [0; 1500];
    // Until the channel is bound the payload leaves in a Send indication (longer, written
    // over the buffer: the payload is put back each time).
    let bound = drive(&mut agent, &socket, start, Duration::from_secs(5), |a| {
        framed[HEADROOM..HEADROOM + payload.len()].copy_from_slice(&payload);
        a.frame(Route::Relayed(peer_addr), &mut framed, payload.len())
            .is_some_and(|f| f.range == (0..HEADROOM + payload.len()))
    });
    assert!(bound, "channel bound: {:?}", agent.stats());

    // Agent → coturn (ChannelData, its 4-byte header written into the headroom) → peer, from
    // the relayed address.
    let out = agent
        .frame(Route::Relayed(peer_addr), &mut framed, payload.len())
        .unwrap();
    assert_eq!(out.dest, coturn.addr);
    assert_eq!(out.range, 0..payload.len() + 4);
    socket.send_to(&framed[out.range], out.dest).unwrap();
    let mut buf = [0; 1500];
    let mut arrived = None;
    for _ in 0..40 {
        // The agent's own connectivity checks reach the peer too (STUN, first byte < 4).
        if let Ok((len, from)) = peer.recv_from(&mut buf)
            && buf[0] >= 4
        {
            arrived = Some((buf[..len].to_vec(), from));
            break;
        }
    }
    let (bytes, from) = arrived.expect("the relayed bytes reach the peer socket");
    assert_eq!(bytes, payload);
    assert_eq!(from, relayed);

    // Peer → relayed address → coturn → agent as ChannelData, unwrapped to the same bytes.
    let reply: Vec<u8> = payload.iter().rev().copied().collect();
    peer.send_to(&reply, relayed).unwrap();
    let mut received = None;
    let deadline = Instant::now() + Duration::from_secs(2);
    while received.is_none() && Instant::now() < deadline {
        if let Ok((len, from)) = socket.recv_from(&mut buf) {
            let now = proto::time::Instant::from_duration(start.elapsed());
            if let Received::Payload { route, data } = agent.handle_datagram(now, from, &buf[..len])
            {
                received = Some((route, data.to_vec()));
            }
        }
    }
    let (route, data) = received.expect("the peer's bytes come back through the channel");
    assert_eq!(route, Route::Relayed(peer_addr));
    assert_eq!(data, reply);
    let stats = agent.stats();
    assert_eq!(
        stats.bad_integrity + stats.bad_fingerprint + stats.wrong_source,
        0,
        "{stats:?}"
    );
}
