//! Hostile input: counted, bounded, and harmless to the session.

use super::*;

#[test]
fn hostile_input_is_counted_and_bounded_without_disturbing_a_session() {
    let mut mesh = mesh(2, lan(), |c| {
        c.accept_unknown = true;
        c.limits.max_peers = 8;
    });
    mesh.run_for(Duration::from_secs(1));
    start_audio(&mut mesh, 2);
    mesh.run_for(Duration::from_secs(1));
    let mut rng = Pcg64Mcg::seed_from_u64(5);
    let mut data = vec![0u8; 1200];
    let mut frame = vec![0u8; 1500];
    for round in 0..20_000u32 {
        let now = mesh.now() + Duration::from_micros(u64::from(round) * 50);
        let node = mesh.node_mut(1);
        let local = node.clock.local(now);
        let from = Path::Direct(SocketAddr::from(([127, 0, 0, 2], (round % 60_000) as u16)));
        let len = rand::Rng::random_range(&mut rng, 0..1200);
        rand::RngCore::fill_bytes(&mut rng, &mut data[..len]);
        // Random bytes, OSP-looking bytes, and valid Hellos from ever new addresses.
        let datagram: &[u8] = match round % 4 {
            0 => &data[..len],
            1 => {
                data[..4].copy_from_slice(b"OSP1");
                &data[..len.max(4)]
            }
            2 => {
                let hello = Message::PeerHello(PeerHello {
                    version: 1,
                    user_id: 1000 + round,
                    nonce: [round as u8; 32],
                });
                let header = FrameHeader {
                    seq: 0,
                    timestamp: 0,
                };
                let n = osp::encode(header, &hello, &mut frame).unwrap();
                &frame[..n]
            }
            _ => {
                // Media from the real peer's address with random bytes after a valid header.
                data[0] = 0xB0;
                data[1] = 111;
                data[8..12].copy_from_slice(&0x1001u32.to_be_bytes());
                let from = Path::Direct(addr(0));
                node.ep.handle(
                    local,
                    Input::Datagram {
                        from,
                        data: &data[..len.max(12)],
                    },
                );
                continue;
            }
        };
        node.ep.handle(
            local,
            Input::Datagram {
                from,
                data: datagram,
            },
        );
        let mut sink = vec![0; 1500];
        while node.ep.poll_transmit(&mut sink).is_some() {}
        node.drain(now);
    }
    let stats = mesh.node(1).ep.stats();
    eprintln!("{stats:?}; peers held {}", mesh.node(1).ep.peer_count());
    assert!(
        mesh.node(1).ep.peer_count() <= 8,
        "peer table grew without bound"
    );
    assert!(stats.refused_hello > 4_000);
    assert!(stats.unknown_source + stats.unsupported + stats.invalid_control > 5_000);
    assert!(stats.invalid_media > 4_000);
    // The real session carries on.
    let before = mesh.node(1).events.len();
    mesh.run_for(Duration::from_secs(2));
    let node = mesh.node(1);
    assert_eq!(node.ep.connected().collect::<Vec<_>>(), [1]);
    let audio = node.events[before..]
        .iter()
        .filter(|(_, e)| matches!(e, Event::Audio(_)))
        .count();
    assert!(audio > 700, "audio after the flood: {audio}");
    let missing = node
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Missing { .. }))
        .count();
    assert_eq!(missing, 0);
}
