//! Joining: authentication, replayed handshakes, a restarted peer.

use super::*;

#[test]
fn peers_authenticate_and_announce_their_streams() {
    let mut mesh = mesh(3, lan(), |_| {});
    mesh.run_for(Duration::from_secs(1));
    for i in 0..3 {
        let node = mesh.node(i);
        let mut up: Vec<u32> = node.ep.connected().collect();
        up.sort_unstable();
        let expected: Vec<u32> = (1..=3).filter(|&u| u != i as u32 + 1).collect();
        assert_eq!(up, expected, "node {i}");
        let announced = node.events.iter().find_map(|(t, e)| match e {
            Event::PeerUp { streams, .. } => Some((*t, streams.clone())),
            _ => None,
        });
        let (at, streams) = announced.expect("PeerUp");
        assert!(at < Duration::from_millis(20), "connected after {at:?}");
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0].parity.map(|p| p.group_size), Some(5));
        let stats = node.ep.stats();
        assert_eq!((stats.bad_tag, stats.stale_nonce), (0, 0));
    }
}

#[test]
fn a_wrong_secret_never_connects() {
    let mut mesh = Mesh::new(lan(), 1);
    mesh.add(addr(0), Node::new(config(1, SECRET), clocks()[0]));
    mesh.add(addr(1), Node::new(config(2, b"wrong"), clocks()[1]));
    for (i, j) in [(0, 1), (1, 0)] {
        mesh.node_mut(i).command(
            Duration::ZERO,
            Command::AddPeer {
                path: Path::Direct(addr(j)),
                user_id: None,
            },
        );
    }
    mesh.run_for(Duration::from_secs(3));
    for i in 0..2 {
        assert_eq!(mesh.node(i).ep.connected().count(), 0);
        assert!(
            mesh.node(i).ep.stats().bad_tag >= 10,
            "{:?}",
            mesh.node(i).ep.stats()
        );
    }
}

/// Runs two endpoints against each other by hand, returning every datagram each sent.
fn pump(a: &mut Endpoint, b: &mut Endpoint, at: Instant, rounds: usize) -> [Vec<Vec<u8>>; 2] {
    let mut log = [Vec::new(), Vec::new()];
    let mut buf = vec![0; 1500];
    let pa = Path::Direct(addr(0));
    let pb = Path::Direct(addr(1));
    for _ in 0..rounds {
        while let Some(t) = a.poll_transmit(&mut buf) {
            log[0].push(buf[..t.len].to_vec());
            b.handle(
                at,
                Input::Datagram {
                    from: pa,
                    data: &buf[..t.len],
                },
            );
        }
        while let Some(t) = b.poll_transmit(&mut buf) {
            log[1].push(buf[..t.len].to_vec());
            a.handle(
                at,
                Input::Datagram {
                    from: pb,
                    data: &buf[..t.len],
                },
            );
        }
    }
    while a.poll_event().is_some() || b.poll_event().is_some() {}
    log
}

#[test]
fn a_captured_handshake_cannot_be_replayed() {
    let t = Instant::from_micros(1_000_000);
    let mut a = Endpoint::new(config(1, SECRET));
    let mut b = Endpoint::new(config(2, SECRET));
    let pa = Path::Direct(addr(0));
    let pb = Path::Direct(addr(1));
    a.handle(
        t,
        Input::Command(Command::AddPeer {
            path: pb,
            user_id: Some(2),
        }),
    );
    b.handle(
        t,
        Input::Command(Command::AddPeer {
            path: pa,
            user_id: Some(1),
        }),
    );
    let captured = pump(&mut a, &mut b, t, 4);
    assert_eq!(b.connected().collect::<Vec<_>>(), [1]);

    // B restarts (new nonces from a new seed); the attacker replays everything A sent.
    let mut restarted = config(2, SECRET);
    restarted.seed = 999;
    let mut b = Endpoint::new(restarted);
    b.handle(
        t,
        Input::Command(Command::AddPeer {
            path: pa,
            user_id: Some(1),
        }),
    );
    for datagram in &captured[0] {
        b.handle(
            t,
            Input::Datagram {
                from: pa,
                data: datagram,
            },
        );
    }
    assert_eq!(b.connected().count(), 0, "replay accepted");
    let stats = b.stats();
    assert!(stats.stale_nonce >= 1, "{stats:?}");

    // A forged proof with the right nonces but no key, and a tampered announcement.
    let mut buf = vec![0; 1500];
    let hello = loop {
        let t = b.poll_transmit(&mut buf).unwrap();
        if let Ok(Frame {
            message: Message::PeerHello(hello),
            ..
        }) = osp::decode(&buf[..t.len])
        {
            break hello;
        }
    };
    let forged = Message::PeerAuth(PeerAuth {
        from: 1,
        to: 2,
        from_nonce: [7; 32],
        to_nonce: hello.nonce,
        announce: StreamAnnounce {
            user_id: 1,
            version: 1,
            streams: vec![],
        },
        tag: [0; 32],
    });
    let mut frame = vec![0; 1500];
    let len = osp::encode(
        FrameHeader {
            seq: 0,
            timestamp: 0,
        },
        &forged,
        &mut frame,
    )
    .unwrap();
    b.handle(
        t,
        Input::Datagram {
            from: pa,
            data: &frame[..len],
        },
    );
    assert_eq!(b.connected().count(), 0);
    assert_eq!(b.stats().bad_tag, stats.bad_tag + 1);

    // A real A still connects to the restarted B.
    let mut a = Endpoint::new(config(1, SECRET));
    a.handle(
        t,
        Input::Command(Command::AddPeer {
            path: pb,
            user_id: Some(2),
        }),
    );
    pump(&mut a, &mut b, t, 4);
    assert_eq!(b.connected().collect::<Vec<_>>(), [1]);
}

/// B sends `count` frames of its stream from frame `first` on; returns how many A delivered.
fn audio_through(a: &mut Endpoint, b: &mut Endpoint, at: Instant, first: u64, count: u64) -> usize {
    let mut buf = vec![0; 1500];
    let mut delivered = 0;
    for k in first..first + count {
        b.handle(
            at,
            Input::Command(Command::SendAudio {
                stream: 0,
                timestamp: MediaTime(k * 120),
                capture: None,
                payload: &[7; 40],
            }),
        );
        while let Some(t) = b.poll_transmit(&mut buf) {
            a.handle(
                at,
                Input::Datagram {
                    from: Path::Direct(addr(1)),
                    data: &buf[..t.len],
                },
            );
        }
        while let Some(event) = a.poll_event() {
            delivered += usize::from(matches!(event, Event::Audio(_)));
        }
        while a.poll_transmit(&mut buf).is_some() {}
    }
    delivered
}

#[test]
fn a_restarted_peer_is_heard_whatever_sequence_numbers_it_starts_from() {
    // Each seed gives the restarted B other initial sequence numbers, some behind the ones
    // its first run reached: before the fix its announcement (version 1 again) was ignored,
    // the old receive window kept, and every packet of those runs dropped as old.
    for seed in 1..=8u64 {
        let t = Instant::from_micros(1_000_000);
        let mut a = Endpoint::new(config(1, SECRET));
        let mut b = Endpoint::new(config(2, SECRET));
        let (pa, pb) = (Path::Direct(addr(0)), Path::Direct(addr(1)));
        let add = |e: &mut Endpoint, path, user| {
            e.handle(
                t,
                Input::Command(Command::AddPeer {
                    path,
                    user_id: Some(user),
                }),
            );
        };
        add(&mut a, pb, 2);
        add(&mut b, pa, 1);
        pump(&mut a, &mut b, t, 4);
        assert_eq!(audio_through(&mut a, &mut b, t, 0, 100), 100);

        // B is killed. A notices the silence, and calls the restarted B back (it calls
        // nobody) on its address, before A forgets it.
        let mut now = t;
        let mut b = {
            let mut restarted = config(2, SECRET);
            restarted.seed = 1_000 + seed;
            restarted.accept_unknown = true;
            Endpoint::new(restarted)
        };
        let mut buf = vec![0; 1500];
        let mut b_alive = false;
        while !(b.connected().eq([1]) && a.connected().eq([2])) {
            assert!(
                now < t + Duration::from_secs(60),
                "seed {seed}: never reconnected"
            );
            now += Duration::from_millis(10);
            // B stays dead for 10 s: long enough for A to call it gone.
            b_alive |= now >= t + Duration::from_secs(10);
            if a.poll_timeout().is_some_and(|at| at <= now) {
                a.handle(now, Input::Timeout);
            }
            if b_alive && b.poll_timeout().is_some_and(|at| at <= now) {
                b.handle(now, Input::Timeout);
            }
            while let Some(t) = a.poll_transmit(&mut buf) {
                if b_alive {
                    b.handle(
                        now,
                        Input::Datagram {
                            from: pa,
                            data: &buf[..t.len],
                        },
                    );
                }
            }
            while let Some(t) = b.poll_transmit(&mut buf) {
                a.handle(
                    now,
                    Input::Datagram {
                        from: pb,
                        data: &buf[..t.len],
                    },
                );
            }
            while a.poll_event().is_some() || b.poll_event().is_some() {}
        }
        let heard = audio_through(&mut a, &mut b, now, 1_000, 100);
        assert!(
            heard >= 98,
            "seed {seed}: A delivered {heard} of the restarted B's 100"
        );
    }
}
