//! Two players in homes behind real NATs (the natlab) meet through the real `osp-relay` in the
//! wan, with coturn there for STUN and TURN, and play: each player is a whole engine whose
//! driver runs inside its home's namespace, configured with nothing but the three servers (no
//! peer address). Behind two endpoint-independent NATs the pair punches through (`path
//! direct`, to the other router's public address, so nothing runs through coturn); with one
//! behind a port-randomising NAT the pair falls back to coturn (`path turn`), and a conntrack
//! flush there (a new public port) is followed within 2 s. Each case measures what B hears of
//! A's sine (level and pitch), the time to connect and the time to first audio.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::{Codec, Config, Controller, JitterMode, Processor, Turn};
use proto::connect::PathKind;
use proto::path::Path;

use crate::natlab::{Home, Lab, Nat, Servers, coturn};
use crate::support::{Paced, hear_sine};

/// Bound on every single wait.
const WAIT: Duration = Duration::from_secs(20);
const SR: u32 = 48_000;
const BLOCK: usize = 64;
/// A's sine: a whole number of cycles per 512-sample window (exact window RMS).
const FREQ: f64 = 937.5;
const AMP: f32 = 0.25;
/// What B's hearing of A is measured over: 1 s.
const MEASURE: usize = 48_000;

/// A player's engine, started inside `home`'s host namespace with the room server, STUN and
/// TURN configured and no peer: PCM 64-sample frames (exact levels), a fixed 20 ms jitter
/// buffer (the test checks the path, not this machine's scheduling).
fn player(home: &Home, user_id: u32, servers: &Servers) -> (Controller, Processor) {
    let mut config = Config::new(
        user_id,
        "nat-jam",
        "s3cret",
        SocketAddr::from((home.addr, 0)),
    );
    config.codec = Codec::PcmL24 { frame_samples: 64 };
    config.jitter = JitterMode::Fixed(Duration::from_millis(20));
    config.max_block = BLOCK;
    config.seed = u64::from(user_id);
    let turn = servers.coturn.listening[0].to_string();
    config.server = Some(servers.room.to_string());
    config.stun = Some(turn.clone());
    config.turn = Some(Turn {
        user: coturn::USER.to_owned(),
        password: coturn::PASSWORD.to_owned(),
        address: turn,
    });
    home.host
        .within(move || engine::new(config))
        .unwrap_or_else(|e| panic!("player {user_id}: {e}"))
}

/// Both processors in real time on one thread (a 64-sample block every 1.333 ms): A plays
/// the sine, B silence; B's output of A's stream (left) is kept, from the first block that
/// carries it.
struct Lockstep {
    paced: Paced,
    heard: Arc<Mutex<Vec<f32>>>,
}

impl Lockstep {
    fn start(mut a: Processor, mut b: Processor) -> Self {
        let heard = Arc::new(Mutex::new(Vec::with_capacity(20 * MEASURE)));
        let period = Duration::from_secs_f64(BLOCK as f64 / f64::from(SR));
        let (mut tone, silence) = ([0f32; BLOCK], [0f32; BLOCK]);
        let recorded = Arc::clone(&heard);
        let paced = Paced::start(period, move || {
            let first = a.sample_clock();
            for (i, x) in tone.iter_mut().enumerate() {
                let t = (first + i as u64) as f64 / f64::from(SR);
                *x = AMP * (2.0 * std::f64::consts::PI * FREQ * t).sin() as f32;
            }
            a.process(&tone, &tone, None);
            b.process(&silence, &silence, None);
            let from_a = (0..engine::processor::MAX_REMOTES)
                .filter_map(|i| b.remote(i))
                .find(|r| r.user_id == 1);
            let mut heard = recorded.lock().expect("heard");
            if let Some(stream) = from_a
                && (!heard.is_empty() || stream.left.iter().any(|&s| s != 0.0))
                && heard.len() < 20 * MEASURE
            {
                heard.extend_from_slice(stream.left);
            }
        });
        Self { paced, heard }
    }

    fn heard(&self) -> usize {
        self.heard.lock().expect("heard").len()
    }

    /// Stops the loop and hands over what B heard.
    fn stop(self) -> Vec<f32> {
        self.paced.stop();
        std::mem::take(&mut *self.heard.lock().expect("heard"))
    }
}

/// Polls `done` every 20 ms for at most [`WAIT`]; the time it took.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// A player's path to its one peer, once chosen.
fn path(controller: &mut Controller) -> Option<(PathKind, SocketAddr)> {
    let report = controller.report();
    let peer = report.peers.first()?;
    match (peer.path_kind, peer.path) {
        (Some(kind), Some(Path::Direct(addr))) => Some((kind, addr)),
        _ => None,
    }
}

/// What a case measured.
struct Heard {
    /// Each player's path to the other (A's, B's).
    paths: [(PathKind, SocketAddr); 2],
}

/// Runs players 1 (A, home 1) and 2 (B, home 2) until B has heard a second of A, and checks
/// level and pitch.
fn jam(lab: &Lab, servers: &Servers, case: &str) -> Heard {
    jam_with(lab, servers, case, |_, _| ())
}

/// [`jam`] with `during` run once B hears A (on both controllers); the measured second starts
/// a half second after it returns.
fn jam_with(
    lab: &Lab,
    servers: &Servers,
    case: &str,
    during: impl FnOnce(&mut Controller, &mut Controller),
) -> Heard {
    let start = Instant::now();
    let (mut a, a_audio) = player(lab.home(1), 1, servers);
    let (mut b, b_audio) = player(lab.home(2), 2, servers);
    let lockstep = Lockstep::start(a_audio, b_audio);
    let connecting = Instant::now();
    while path(&mut a).is_none() || path(&mut b).is_none() {
        assert!(
            connecting.elapsed() < WAIT,
            "{case}: the players did not connect within {WAIT:?}: A {:?}, B {:?}; coturn's log:\n{}",
            a.report(),
            b.report(),
            servers.coturn.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let connected = start.elapsed();
    wait_until(&format!("{case}: B to hear A"), || lockstep.heard() > 0);
    let first_audio = start.elapsed();
    during(&mut a, &mut b);
    // Half a second for the buffer to settle, then the measured second.
    let from = lockstep.heard();
    wait_until(&format!("{case}: 1.5 s of A at B"), || {
        lockstep.heard() >= from + MEASURE * 3 / 2
    });
    let paths = [path(&mut a), path(&mut b)].map(|p| p.expect("still connected"));
    let heard = lockstep.stop();
    let measured = &heard[heard.len() - MEASURE..];
    let heard = hear_sine(measured, f64::from(SR), f64::from(AMP), FREQ, 512);
    let (level_db, dropouts, pitch) = (heard.level_db, heard.dropouts, heard.pitch);
    eprintln!(
        "{case}: connected after {:.0} ms, B heard A after {:.0} ms; A's path {} to {}, B's {} \
         to {}; A at B {level_db:+.3} dB, {pitch:.2} Hz, {dropouts} of {} windows below -6 dB",
        connected.as_secs_f64() * 1e3,
        first_audio.as_secs_f64() * 1e3,
        paths[0].0,
        paths[0].1,
        paths[1].0,
        paths[1].1,
        heard.windows
    );
    // PCM end to end at unity gain on one clock: A's level exactly (but for the 24-bit step),
    // A's pitch exactly (0.1 Hz is the estimator's step).
    assert!(level_db.abs() < 0.1, "{case}: A at B at {level_db:+.3} dB");
    assert!(
        (pitch - FREQ).abs() < 0.5,
        "{case}: A at B at {pitch:.2} Hz"
    );
    // A loaded machine may conceal a packet or two; a broken path silences most.
    assert!(
        dropouts * 20 <= heard.windows,
        "{case}: {dropouts} of {} windows below -6 dB",
        heard.windows
    );
    Heard { paths }
}

#[test]
fn nat_jam_two_endpoint_independent_nats_connect_directly() {
    let lab = Lab::builder()
        .home(Nat::EndpointIndependent)
        .home(Nat::EndpointIndependent)
        .build();
    let servers = Servers::start(&lab);
    let heard = jam(&lab, &servers, "endpoint-independent");
    for (who, (kind, _)) in ["A", "B"].iter().zip(heard.paths) {
        assert_eq!(kind, PathKind::Direct, "{who}'s path");
    }
    // Each reaches the other at the other router's public address: the audio runs between
    // the two NATs, never through coturn's relay address.
    assert_eq!(heard.paths[0].1.ip(), lab.home(2).public);
    assert_eq!(heard.paths[1].1.ip(), lab.home(1).public);
    assert_ne!(heard.paths[0].1.ip(), servers.coturn.relay_ip);
}

#[test]
fn nat_jam_a_port_randomising_nat_falls_back_to_turn() {
    let lab = Lab::builder()
        .home(Nat::PortRandomising)
        .home(Nat::EndpointIndependent)
        .build();
    let servers = Servers::start(&lab);
    let heard = jam(&lab, &servers, "port-randomising");
    for (who, (kind, _)) in ["A", "B"].iter().zip(heard.paths) {
        assert_eq!(kind, PathKind::Turn, "{who}'s path");
    }
}

#[test]
fn nat_jam_a_rebinding_behind_a_port_randomising_nat_heals_within_two_seconds() {
    let lab = Lab::builder()
        .home(Nat::PortRandomising)
        .home(Nat::EndpointIndependent)
        .build();
    let servers = Servers::start(&lab);
    let heard = jam_with(&lab, &servers, "rebinding", |a, b| {
        let before = path(b).expect("B's path to A");
        let selections = |c: &mut Controller| c.report().peers.first().map(|p| p.path_selections);
        let selected_before = selections(b);
        lab.home(1).flush_mappings();
        // B's path to A leaves A's old public port: A's datagrams now come from a new one.
        let healed = wait_until("rebinding: B's path to A's new port", || {
            path(b).is_some_and(|(_, addr)| addr != before.1) && path(a).is_some()
        });
        let after = path(b).expect("B's path to A");
        let selected_after = selections(b);
        eprintln!(
            "rebinding: A's public port {} -> {}, path back after {:.0} ms, B's selections for A \
             {selected_before:?} -> {selected_after:?}",
            before.1,
            after.1,
            healed.as_secs_f64() * 1e3
        );
        // Counted: B selected at least one more pair for A.
        assert!(
            selected_after > selected_before && selected_before >= Some(1),
            "B's selections for A: {selected_before:?} then {selected_after:?}"
        );
        assert_eq!(after.1.ip(), before.1.ip(), "A's router, still");
        assert_ne!(after.1.port(), before.1.port(), "A's public port changed");
        assert!(
            healed <= Duration::from_secs(2),
            "rebinding: the path came back after {healed:?}"
        );
    });
    for (who, (kind, _)) in ["A", "B"].iter().zip(heard.paths) {
        assert_eq!(kind, PathKind::Turn, "{who}'s path");
    }
}
