//! The standalone app: headless on the dummy backend, and under a real JACK server
//! (`jackd -d dummy`, named per test so no other server is touched) where it registers its
//! ports, passes a sine from a JACK client through to its outputs, and leaves on SIGINT; and
//! every failure to start without JACK (bad flag, preset, layout, UDP port taken) as one line
//! and status 2 (the JACK ones are in `jack_shell`).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{
    KillOnDrop, bundled, expect_start_failure, interrupt_and_expect_clean_exit, jackd,
};

const SR: u32 = 48_000;
const PERIOD: u32 = 128;
const FREQ: f64 = 440.0;
const AMP: f64 = 0.5;
/// The JACK server name these tests use (see `.config/nextest.toml`, group `jack`).
const JACK_SERVER: &str = "osp_jam_it";
/// One second of audio, counted on the JACK clock.
const FRAMES: u32 = SR;

#[test]
fn standalone_passes_audio_through_a_real_jack_server() {
    // One fixed name, and tests using it run one at a time (nextest group `jack`): JACK keeps
    // at most eight server entries in its shared-memory registry, and a server that had to be
    // killed leaves its entry behind; with a fixed name the next run reclaims it instead of
    // adding another.
    let server = JACK_SERVER.to_owned();
    let _jackd = jackd(&server, SR, PERIOD);

    let app = Command::new(bundled("osp-jam"))
        .args([
            "--backend",
            "jack",
            "-r",
            &SR.to_string(),
            "-p",
            &PERIOD.to_string(),
        ])
        .env("JACK_DEFAULT_SERVER", &server)
        .env("JACK_NO_START_SERVER", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the standalone");
    let app = KillOnDrop(app);

    let probe = Command::new(env!("CARGO_BIN_EXE_jack-probe"))
        .args([
            "osp_jam",
            &FRAMES.to_string(),
            &FREQ.to_string(),
            &AMP.to_string(),
        ])
        .env("JACK_DEFAULT_SERVER", &server)
        .env("JACK_NO_START_SERVER", "1")
        .output()
        .expect("run jack-probe");
    let report = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.status.success(),
        "jack-probe failed: {}\n{report}",
        String::from_utf8_lossy(&probe.stderr)
    );

    let ports: Vec<&str> = report
        .lines()
        .filter_map(|l| l.strip_prefix("port "))
        .collect();
    for name in [
        "osp_jam:input_1",
        "osp_jam:input_2",
        "osp_jam:output_1",
        "osp_jam:output_2",
    ] {
        assert!(ports.contains(&name), "{name} not registered: {ports:?}");
    }
    let channels: Vec<(f64, f64)> = report
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                ["channel", _, "rms", rms, "freq", freq] => {
                    Some((rms.parse().ok()?, freq.parse().ok()?))
                }
                _ => None,
            }
        })
        .collect();
    assert_eq!(channels.len(), 2, "{report}");
    let expected_rms = AMP / 2f64.sqrt();
    for (ch, (rms, freq)) in channels.iter().enumerate() {
        // Unity gain by default: the sine comes out at the level it went in, at its pitch.
        let level_db = 20.0 * (rms / expected_rms).log10();
        assert!(
            level_db.abs() < 0.1,
            "channel {ch}: {level_db:+.3} dB ({report})"
        );
        assert!((freq - FREQ).abs() < 0.5, "channel {ch}: {freq} Hz");
    }

    // Our JACK shell deactivates the client (no wait on the process callback) and leaves.
    let mut app = app;
    interrupt_and_expect_clean_exit(&mut app, "osp-jam on JACK");
}

#[test]
fn standalone_runs_headless_on_the_dummy_backend() {
    let app = Command::new(bundled("osp-jam"))
        .args(["--backend", "dummy", "-r", "48000", "-p", "64"])
        .env_remove("DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the standalone");
    let mut app = KillOnDrop(app);
    // A debug build aborts on any allocation in process(): a second of 64-frame periods
    // (750 callbacks) without dying is the check.
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        app.0.try_wait().expect("poll").is_none(),
        "standalone died on the dummy backend"
    );
    interrupt_and_expect_clean_exit(&mut app, "osp-jam");
}

#[test]
fn startup_failures_say_why_in_one_line_with_status_2() {
    let dir = crate::support::tempdir("start-failures");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"compressor": {"ratio": "lots"}}"#).unwrap();
    let bad = bad.to_str().unwrap();
    let missing = dir.join("missing.json");
    let missing = missing.to_str().unwrap();
    expect_start_failure(&["--backend", "dummy", "--nonsense"], &[], "--nonsense");
    expect_start_failure(&["--backend", "pulse"], &[], "pulse");
    expect_start_failure(
        &["--backend", "dummy", "--audio-layout", "9"],
        &[],
        "choose one of",
    );
    expect_start_failure(
        &["--backend", "dummy", "--client-name", "x"],
        &[],
        "JACK flag",
    );
    expect_start_failure(&["--room", "r", "--codec", "mp3"], &[], "codec");
    expect_start_failure(&["--backend", "dummy", "--preset", bad], &[], "compressor");
    expect_start_failure(
        &["--backend", "dummy", "--preset", missing],
        &[],
        "missing.json",
    );

    expect_start_failure(
        &["--room", "r", "--turn", "relay:3478"],
        &[],
        "user:password@",
    );
    // A room server whose name cannot resolve (`.invalid` never does, RFC 6761): one line
    // naming it, at start, not a silent room.
    expect_start_failure(
        &[
            "--backend",
            "dummy",
            "-p",
            "64",
            "--room",
            "r",
            "--secret",
            "s",
            "--listen",
            "127.0.0.1:0",
            "--server",
            "room.invalid:5100",
        ],
        &[],
        "cannot resolve room server \"room.invalid:5100\"",
    );

    // The room's UDP port held by another socket: the app does not play on without its room.
    let held = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    let port = held.local_addr().unwrap().to_string();
    let line = expect_start_failure(
        &[
            "--backend",
            "dummy",
            "-p",
            "64",
            "--room",
            "r",
            "--secret",
            "s",
            "--listen",
            &port,
        ],
        &[],
        "cannot join room",
    );
    assert!(line.contains(&port), "{line}");
    println!("{line}");
}
