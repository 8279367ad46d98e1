//! Two whole `osp-jam` processes, each started inside its own home behind a real NAT (the
//! natlab, both routers endpoint-independent), meet through the real `osp-relay` in the wan
//! with nothing but the internet flags (`--server`, `--stun` and `--turn` on coturn; no
//! `--peer`), punch through and hear each other: B's output carries A's sine at A's level and
//! pitch, and both `--stats` lines say `path direct` from the moment B hears A to the end.
//! That the other two flags were used shows at the servers: each home sent datagrams to the
//! STUN address (an nftables counter on the wan) and allocated a relay on coturn (its log).
//!
//! The audio runs through one JACK server (`jackd -d dummy`) outside the lab. A JACK client
//! reaches its server through the filesystem: jackd listens on a path-bound unix socket
//! (`/dev/shm/jack_<server>_0_0`, as `ss -xl` shows; no abstract socket, which would belong to
//! jackd's network namespace) and shares memory and its wake-up futexes through files in
//! `/dev/shm`, which `ip netns exec` leaves shared. So the standalones talk JACK with the
//! test's probe while their UDP stays inside the lab; one server, one clock: what B plays of A
//! is A's pitch with no drift to follow.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::app::{App, PeerStats, Stats};
use crate::natlab::{Home, Lab, Nat, Servers, coturn};
use crate::support::{bundled, hear_sine, jackd, read_recording, tempdir};

const SR: u32 = 48_000;
const PERIOD: u32 = 64;
/// A's sine: five whole cycles per 10 ms level window (exact window RMS), at −6 dBFS.
const FREQ: f64 = 500.0;
const AMP: f64 = 0.5;
/// Level windows (10 ms).
const LEVEL_WINDOW: usize = 480;
/// What is recorded of B's outputs (after jack-probe's 0.25 s of settling): 1 s, five pitch
/// windows of 0.2 s and a hundred level windows.
const RECORD_FRAMES: usize = 48_000;

#[test]
fn nat_standalone_two_processes_meet_through_the_room_server_and_play_directly() {
    let start = Instant::now();
    let lab = Lab::builder()
        .home(Nat::EndpointIndependent)
        .home(Nat::EndpointIndependent)
        .build();
    let servers = Servers::start(&lab);
    let server = format!("osp_jam_{}_nat", std::process::id());
    let _jackd = jackd(&server, SR, PERIOD);
    let ready = start.elapsed();

    // --stun names coturn's second address, --turn its first: what each router sends to the
    // second is its standalone's STUN traffic.
    let stun = servers.coturn.listening[2];
    let stun_from = [1, 2].map(|home| lab.count_datagrams(lab.home(home).public, stun));
    let started = Instant::now();
    // A as a musician starts it, without --listen: the documented default, every address of
    // its home's host (only `lo` and the lab's veth there); B on its address and a port the
    // OS picks.
    let mut a = standalone(lab.home(1), "nat_a", 1, None, &servers, stun, &server);
    let b_listen = SocketAddr::from((lab.home(2).addr, 0));
    let mut b = standalone(
        lab.home(2),
        "nat_b",
        2,
        Some(b_listen),
        &servers,
        stun,
        &server,
    );
    assert_eq!(a.address(), SocketAddr::from(([0, 0, 0, 0], 48_500)));
    assert_eq!(b.address().ip(), b_listen.ip(), "bound where --listen said");
    let mut player = App::start(
        "nat-play",
        PathBuf::from(env!("CARGO_BIN_EXE_jack-probe")),
        &["play", "nat_a", &FREQ.to_string(), &AMP.to_string(), "120"].map(str::to_owned),
        &[("JACK_DEFAULT_SERVER", server.clone())],
    );
    player.wait_for("the probe to play into A", |lines| {
        lines.iter().any(|l| l == "playing").then_some(())
    });

    // Connected: each has the other as its one peer on a chosen path, and B plays A's stream
    // (its buffer shows). Then one more second of stats so both buffers have settled.
    let heard = b.wait_for_stats("B to hear A on a chosen path", |s| {
        one_peer(s, 1).is_some_and(|p| p.path.is_some() && p.buffer_ms > 0.0)
    });
    a.wait_for_stats("A to reach B on a chosen path", |s| {
        one_peer(s, 2).is_some_and(|p| p.path.is_some())
    });
    let connected = started.elapsed();
    let from = [a.all_stats().len() - 1, b.all_stats().len() - 1];
    b.wait_for_stats("B to keep hearing A", |s| one_peer(s, 1).is_some());

    let file = tempdir("nat-standalone").join("b.f32");
    let recording = Command::new(env!("CARGO_BIN_EXE_jack-probe"))
        .args(["record", "nat_b", &RECORD_FRAMES.to_string()])
        .arg(&file)
        .env("JACK_DEFAULT_SERVER", &server)
        .env("JACK_NO_START_SERVER", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run jack-probe record");
    // jack-probe bounds its own waits (30 s each, then the recording on the JACK clock).
    assert!(
        recording.status.success(),
        "jack-probe record at B failed: {}",
        String::from_utf8_lossy(&recording.stderr)
    );
    let channels = read_recording(&file, RECORD_FRAMES);
    // The stats line of the second the recording ended in, so the path is checked over it.
    b.wait_for_stats("B's stats after the recording", |s| {
        one_peer(s, 1).is_some()
    });
    let total = start.elapsed();

    eprintln!("A {}", a.latest_stats_line());
    eprintln!("B {}", b.latest_stats_line());
    eprintln!(
        "lab, coturn, osp-relay and jackd ready after {:.0} ms; the standalones connected {:.0} \
         ms after they were started (B heard A with buffer {:.2} ms); whole test {:.1} s",
        ready.as_secs_f64() * 1e3,
        connected.as_secs_f64() * 1e3,
        one_peer(&heard, 1).map_or(0.0, |p| p.buffer_ms),
        total.as_secs_f64()
    );

    // Direct through both NATs from the moment B heard A to the end (coturn was offered as a
    // TURN server, and never chosen), on every stats line of both.
    for (who, app, other, from) in [("A", &a, 2, from[0]), ("B", &b, 1, from[1])] {
        let lines = &app.all_stats()[from..];
        assert!(lines.len() >= 2, "{who}: {} stats lines", lines.len());
        for stats in lines {
            let path = one_peer(stats, other).and_then(|p| p.path.clone());
            assert_eq!(path.as_deref(), Some("direct"), "{who}: {stats:?}");
        }
    }

    // `--turn USER:PASS@HOST:PORT` reached coturn whole: each standalone allocated a relay
    // with the long-term credential (the first Allocate of each is the 401 challenge).
    let log = servers.coturn.log_text();
    let allocations = log
        .lines()
        .filter(|l| {
            l.contains(&format!(
                "new, realm=<lab.test>, username=<{}>",
                coturn::USER
            ))
        })
        .count();
    assert_eq!(allocations, 2, "TURN allocations in coturn's log:\n{log}");
    // And `--stun HOST:PORT` reached the STUN server: each home sent it Binding requests.
    let stun_sent = stun_from.map(|counter| counter.read(&lab));
    eprintln!(
        "datagrams to the STUN server {stun}: from A's home {}, from B's {}",
        stun_sent[0], stun_sent[1]
    );
    for (who, sent) in ["A", "B"].iter().zip(stun_sent) {
        assert!(sent > 0, "{who} sent nothing to the STUN server {stun}");
    }

    for (ch, x) in channels.iter().enumerate() {
        let heard = hear_sine(x, f64::from(SR), AMP, FREQ, LEVEL_WINDOW);
        let (level_db, dropouts, pitch) = (heard.level_db, heard.dropouts, heard.pitch);
        eprintln!(
            "B ch {ch} hears A at {level_db:+.3} dB, {pitch:.2} Hz, {dropouts} of {} windows \
             below -6 dB",
            heard.windows
        );
        // PCM (L24) at unity gain all the way (A's input, the room at full level in B's
        // monitor mix): A's level but for the 24-bit step; 1 dB leaves room for a concealed
        // packet on a loaded machine. One JACK clock: the pitch is A's but for the
        // resampler's glide while B's buffer settles (at most 0.5 %).
        assert!(level_db.abs() < 1.0, "B ch {ch}: {level_db:+.3} dB");
        assert!(
            (pitch - FREQ).abs() < FREQ * 0.005,
            "B ch {ch}: {pitch:.2} Hz, not {FREQ} Hz"
        );
        // A glitch may conceal a packet or two; a broken path silences most windows.
        assert!(
            dropouts * 20 <= heard.windows,
            "B ch {ch}: {dropouts} of {} windows below -6 dB",
            heard.windows
        );
    }
}

/// Starts the bundled standalone inside `home`'s host namespace as JACK client `client` on
/// `jack_server`, in the room through `servers` with the three internet flags and no peer,
/// bound to `listen` (none: the default), with `stun` as its STUN server: PCM 64-sample
/// frames (exact levels) and a fixed 20 ms jitter buffer (the test checks the path, not this
/// machine's scheduling).
fn standalone(
    home: &Home,
    client: &str,
    user_id: u32,
    listen: Option<SocketAddr>,
    servers: &Servers,
    stun: SocketAddr,
    jack_server: &str,
) -> App {
    let turn = servers.coturn.listening[0];
    let mut command = home
        .host
        .command(bundled("osp-jam").to_str().expect("a UTF-8 path"));
    command
        .args(["--backend", "jack", "--client-name", client, "--no-gui"])
        .args(["-r", &SR.to_string(), "-p", &PERIOD.to_string()])
        .args(["--room", "nat-standalone", "--secret", "s3cret"])
        .args(["--user-id", &user_id.to_string()])
        .args(["--codec", "pcm", "--frame", "64", "--jitter", "20"])
        .args(["--server", &servers.room.to_string()])
        .args(["--stun", &stun.to_string()])
        .args([
            "--turn",
            &format!("{}:{}@{turn}", coturn::USER, coturn::PASSWORD),
        ])
        .arg("--stats")
        .args(listen.map(|addr| format!("--listen={addr}")))
        .env("JACK_DEFAULT_SERVER", jack_server);
    App::spawn(client, command)
}

/// The stats' one peer, if it is `user_id`.
fn one_peer(stats: &Stats, user_id: u32) -> Option<&PeerStats> {
    match stats.peers.as_slice() {
        [peer] if peer.user_id == user_id => Some(peer),
        _ => None,
    }
}
