//! Tracks started and stopped mid-session reach connected peers through loss.

use super::*;

#[test]
fn a_track_started_and_stopped_mid_session_reaches_connected_peers_through_loss() {
    // 30 % loss: each copy of the announcement may be lost; the repeats carry it.
    let link = lan().with_loss(Loss::Random(0.3));
    let mut mesh = mesh(2, link, |_| {});
    mesh.run_for(Duration::from_secs(3));
    assert_eq!(mesh.node(1).ep.connected().count(), 1);
    let second = StreamInfo::stereo(0x1801, 2, StreamEncoding::Opus, 111, 120);
    let now = mesh.now();
    mesh.node_mut(0).command(
        now,
        Command::SetStream {
            index: 1,
            info: Some(second),
        },
    );
    mesh.run_for(Duration::from_secs(6));
    let changed: Vec<Vec<u16>> = mesh
        .node(1)
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::StreamsChanged {
                user_id: 1,
                streams,
            } => Some(streams.iter().map(|s| s.stream_id).collect()),
            _ => None,
        })
        .collect();
    assert_eq!(changed, [vec![1, 2]], "one change, both streams");
    // Audio on the new slot reaches the peer as that stream's.
    let now = mesh.now();
    for k in 0..20u64 {
        mesh.node_mut(0).command(
            now,
            Command::SendAudio {
                stream: 1,
                timestamp: MediaTime(k * 120),
                capture: None,
                payload: &[7; 40],
            },
        );
    }
    mesh.run_for(Duration::from_millis(200));
    let heard = mesh
        .node(1)
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Audio(a) if a.user_id == 1 && a.stream_id == 2))
        .count();
    assert!(heard >= 8, "{heard} of 20 packets of the new stream");
    // Stopping it announces the first stream alone; a slot past the bound is refused.
    let now = mesh.now();
    mesh.node_mut(0).command(
        now,
        Command::SetStream {
            index: 1,
            info: None,
        },
    );
    mesh.node_mut(0).command(
        now,
        Command::SetStream {
            index: MAX_LOCAL_STREAMS,
            info: Some(second),
        },
    );
    mesh.run_for(Duration::from_secs(6));
    let last = mesh.node(1).events.iter().rev().find_map(|(_, e)| match e {
        Event::StreamsChanged { streams, .. } => Some(streams.len()),
        _ => None,
    });
    assert_eq!(last, Some(1));
    assert_eq!(mesh.node(0).ep.stats().no_such_stream, 1);
}
