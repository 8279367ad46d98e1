//! Path switches under a live stream: make before break, no gap.

use super::*;

/// Both peers stream over a direct 10 ms path, move to a 16 ms relay path, and back to the
/// direct one (where new packets overtake those still in flight on the relay), each side
/// switching at its own moment after both accepted the new path: every packet is delivered
/// exactly once, nothing is reported `Missing` or late.
#[test]
fn a_path_switch_under_a_live_stream_leaves_no_gap() {
    let direct = Netem::latency(Duration::from_millis(10)).with_jitter(Duration::from_millis(1));
    let leg = Netem::latency(Duration::from_millis(8)).with_jitter(Duration::from_millis(1));
    let mut mesh = Mesh::new(direct, 42);
    for i in 0..2 {
        let mut config = config(i as u32 + 1, SECRET);
        config.playout_delay = Duration::from_millis(30);
        let mut node = Node::new(config, clocks()[i]);
        node.relay = Some(addr(2));
        mesh.add(addr(i), Sim::Peer(Box::new(node)));
    }
    let relay = mesh.add(
        addr(2),
        Sim::Relay(Relay {
            tracks: vec![addr(0), addr(1)],
            queue: Default::default(),
            forwarded: 0,
        }),
    );
    for i in 0..2 {
        mesh.set_link_both(i, relay, leg);
    }
    let to_relay: fn(usize) -> Path = |peer| Path::Relay(RelayTrack(peer as u32));
    let to_direct: fn(usize) -> Path = |peer| Path::Direct(addr(peer));
    let command = |mesh: &mut Mesh<Sim>, i: usize, make: &dyn Fn(u32) -> Command<'static>| {
        let now = mesh.now();
        mesh.node_mut(i).peer_mut().command(now, make(2 - i as u32));
    };
    for i in 0..2 {
        command(&mut mesh, i, &|user_id| Command::AddPeer {
            path: to_direct(user_id as usize - 1),
            user_id: Some(user_id),
        });
    }
    mesh.run_for(Duration::from_secs(2));
    let start = mesh.now();
    for i in 0..2 {
        mesh.node_mut(i).peer_mut().source = Some(Source::every_2_5_ms(start));
    }
    // (at, node, what): accept first, then each side moves on its own; forget the relay last.
    type Step = (
        u64,
        usize,
        fn(usize) -> Path,
        fn(u32, Path) -> Command<'static>,
    );
    let accept: fn(u32, Path) -> Command<'static> =
        |user_id, path| Command::AcceptPath { user_id, path };
    let switch: fn(u32, Path) -> Command<'static> =
        |user_id, path| Command::SetPath { user_id, path };
    let forget: fn(u32, Path) -> Command<'static> =
        |user_id, path| Command::ForgetPath { user_id, path };
    let plan: [Step; 8] = [
        (5_000, 0, to_relay, accept),
        (5_000, 1, to_relay, accept),
        (5_100, 0, to_relay, switch),
        (5_237, 1, to_relay, switch),
        (10_000, 0, to_direct, switch),
        (10_113, 1, to_direct, switch),
        (12_000, 0, to_relay, forget),
        (12_000, 1, to_relay, forget),
    ];
    for (at, node, path, make) in plan {
        mesh.run_until(start + Duration::from_millis(at));
        let peer = 1 - node;
        command(&mut mesh, node, &|user_id| make(user_id, path(peer)));
    }
    mesh.run_until(start + Duration::from_secs(15));
    let end = mesh.now();

    let Sim::Relay(r) = mesh.node(relay) else {
        unreachable!()
    };
    let forwarded = r.forwarded;
    for (tx, rx) in [(0, 1), (1, 0)] {
        let ssrc = 0x1001 + tx as u32;
        let mut sent = std::collections::BTreeMap::new();
        for &(t, s, seq, out) in &mesh.node(tx).peer().media {
            if out && s == ssrc {
                sent.entry(seq).or_insert(t);
            }
        }
        let receiver = mesh.node(rx).peer();
        let mut delivered = std::collections::HashMap::<u32, u32>::new();
        for (_, event) in &receiver.events {
            if let Event::Audio(audio) = event
                && audio.user_id == tx as u32 + 1
            {
                *delivered.entry(audio.seq.0 as u32).or_default() += 1;
            }
        }
        let window = start + Duration::from_millis(100)..end - Duration::from_millis(200);
        let expected: Vec<u32> = sent
            .iter()
            .filter(|(_, t)| window.contains(t))
            .map(|(seq, _)| *seq)
            .collect();
        let gaps: Vec<u32> = expected
            .iter()
            .filter(|seq| delivered.get(seq) != Some(&1))
            .copied()
            .collect();
        let stats = receiver.ep.recovery_stats(tx as u32 + 1, 1).unwrap();
        let on_relay = |from: u64, to: u64| {
            let window = start + Duration::from_millis(from)..start + Duration::from_millis(to);
            let node = mesh.node(tx).peer();
            let direct = node
                .sent
                .iter()
                .filter(|(t, a, _)| window.contains(t) && *a == addr(rx));
            let relayed = node
                .sent
                .iter()
                .filter(|(t, a, _)| window.contains(t) && *a == addr(2));
            (relayed.count(), direct.count())
        };
        let switched = [5_100, 5_237][tx];
        let back = [10_000, 10_113][tx];
        let (relayed, direct) = on_relay(switched + 1, back);
        let (relayed_after, _) = on_relay(back + 1, 15_000);
        eprintln!(
            "{tx} -> {rx}: {} packets, {} not delivered exactly once, {relayed} datagrams on the \
             relay and {direct} direct while switched, {relayed_after} on the relay after; {stats:?}",
            expected.len(),
            gaps.len()
        );
        assert!(expected.len() > 5_000, "{}", expected.len());
        assert!(gaps.is_empty(), "{tx} -> {rx}: {gaps:?}");
        assert_eq!((stats.missing, stats.late, stats.lost), (0, 0, 0));
        assert!(
            relayed > 1_900 && direct == 0,
            "{relayed} relayed, {direct} direct"
        );
        assert_eq!(relayed_after, 0);
    }
    assert!(forwarded > 3_800, "{forwarded}");
}
