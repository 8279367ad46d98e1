//! The standalone's own JACK shell on one real server (`jackd -d dummy -r 48000 -p 64`): two
//! instances register side by side under distinct client names, join one room over 127.0.0.1
//! and hear each other; and every JACK failure to start (no server, name taken, rate mismatch,
//! UDP port taken) is one line and status 2.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{
    KillOnDrop, bundled, dominant_frequency, expect_start_failure, interrupt_and_expect_clean_exit,
    jackd, read_recording, tempdir,
};

const SR: u32 = 48_000;
const PERIOD: u32 = 64;
/// Bound on every single wait.
const WAIT: Duration = Duration::from_secs(30);
/// The sines A and B play: far enough apart that a search around one (±50 %) never finds the
/// other, and whole cycles in a 10 ms window so neither leaks into the other's DFT bin.
const A_FREQ: f64 = 300.0;
const B_FREQ: f64 = 1_000.0;
/// −6 dBFS.
const AMP: f64 = 0.5;
/// Frames recorded at each output (after the probe's settling frames): 3 s.
const RECORD_FRAMES: usize = 144_000;
/// Level windows (10 ms) and pitch windows (0.2 s).
const LEVEL_WINDOW: usize = 480;
const PITCH_WINDOW: usize = 9_600;

#[test]
fn two_standalones_share_one_jack_server_and_hear_each_other() {
    let server = format!("osp_jam_{}_shared", std::process::id());
    let _jackd = jackd(&server, SR, PERIOD);
    let args = |user: &str| -> Vec<String> {
        [
            "--backend",
            "jack",
            "-r",
            "48000",
            "-p",
            "64",
            "--room",
            "shared",
            "--secret",
            "s",
            "--listen",
            "127.0.0.1:0",
            "--user-id",
            user,
            "--codec",
            "pcm",
            "--stats",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let mut a = App::start(&server, &args("1"));
    let a_name = a.wait_for_line("jack client ");
    let a_addr = a.wait_for_line("listening on ");
    let mut b_args = args("2");
    b_args.extend(["--peer".to_owned(), a_addr]);
    let mut b = App::start(&server, &b_args);
    let b_name = b.wait_for_line("jack client ");
    b.wait_for_line("listening on ");
    assert_ne!(a_name, b_name, "two clients under one name");

    // Both registered, as any JACK client sees them.
    let lsp = Command::new("jack_lsp")
        .env("JACK_DEFAULT_SERVER", &server)
        .env("JACK_NO_START_SERVER", "1")
        .output()
        .expect("run jack_lsp");
    let ports = String::from_utf8_lossy(&lsp.stdout);
    for name in [&a_name, &b_name] {
        for port in ["input_1", "input_2", "output_1", "output_2"] {
            let port = format!("{name}:{port}");
            assert!(ports.lines().any(|l| l == port), "{port} missing:\n{ports}");
        }
    }
    println!("clients {a_name:?} and {b_name:?}");

    let probe = |args: &[&str]| {
        KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_jack-probe"))
                .args(args)
                .env("JACK_DEFAULT_SERVER", &server)
                .env("JACK_NO_START_SERVER", "1")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start jack-probe"),
        )
    };
    let (a_freq, b_freq, amp) = (A_FREQ.to_string(), B_FREQ.to_string(), AMP.to_string());
    let _play_a = probe(&["play", &a_name, &a_freq, &amp, "120"]);
    let _play_b = probe(&["play", &b_name, &b_freq, &amp, "120"]);

    // Each hears the other (one peer with a buffer), then 3 more stats lines to settle.
    for app in [&mut a, &mut b] {
        app.wait_for_stats(|line| line.starts_with("peers 1 |") && !line.contains("buffer 0.00 "));
        for _ in 0..3 {
            app.wait_for_stats(|line| line.starts_with("peers 1 |"));
        }
    }

    let dir = tempdir("jack-shared");
    let frames = RECORD_FRAMES.to_string();
    let (a_file, b_file) = (dir.join("a.f32"), dir.join("b.f32"));
    let record_a = probe(&["record", &a_name, &frames, a_file.to_str().unwrap()]);
    let record_b = probe(&["record", &b_name, &frames, b_file.to_str().unwrap()]);
    for (record, who) in [(record_a, "A"), (record_b, "B")] {
        let mut child = record;
        let start = Instant::now();
        // jack-probe bounds its own waits; this bounds the whole recording too.
        while child.0.try_wait().expect("jack-probe").is_none() {
            assert!(start.elapsed() < Duration::from_secs(60), "recording {who}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = child.0.wait().expect("jack-probe");
        assert!(status.success(), "jack-probe record at {who}: {status}");
    }

    // A's output carries B's sine (and A's own, monitored); B's output A's.
    for (file, who, freq) in [(&a_file, "A", B_FREQ), (&b_file, "B", A_FREQ)] {
        for ch in 0..2 {
            let (level_db, pitch, dropouts, windows) = analyse(file, ch, freq);
            println!(
                "{who} ch {ch} hears {freq} Hz at {level_db:+.3} dB, pitch {pitch:.2} Hz, \
                 {dropouts} of {windows} windows below -6 dB"
            );
            // PCM (L24) and unity gains all the way: the peer's sine at its level. One server,
            // one clock: no drift to follow, so the pitch is exact but for the resampler's
            // glide while the jitter buffer settles (at most 0.5 %). 1 dB and 5 % of windows
            // leave room for a concealed packet or two on a loaded machine.
            assert!(level_db.abs() < 1.0, "{who} ch {ch}: {level_db:+.3} dB");
            assert!(
                (pitch - freq).abs() < freq * 0.005,
                "{who} ch {ch}: {pitch:.2} Hz, not {freq} Hz"
            );
            assert!(
                dropouts * 20 <= windows,
                "{who} ch {ch}: {dropouts} dropouts; A's last stats: {}; B's: {}",
                a.last_line(),
                b.last_line()
            );
        }
    }

    interrupt_and_expect_clean_exit(&mut b.child, "B");
    interrupt_and_expect_clean_exit(&mut a.child, "A");
}

#[test]
fn jack_startup_failures_say_why_in_one_line_with_status_2() {
    let absent = format!("osp_jam_{}_absent", std::process::id());
    expect_start_failure(
        &["--backend", "jack"],
        &[("JACK_DEFAULT_SERVER", &absent)],
        "no JACK server",
    );

    let server = format!("osp_jam_{}_fail", std::process::id());
    let _jackd = jackd(&server, SR, PERIOD);
    let env = [("JACK_DEFAULT_SERVER", server.as_str())];
    expect_start_failure(
        &["--backend", "jack", "-r", "44100"],
        &env,
        "does not match",
    );
    expect_start_failure(
        &[
            "--backend",
            "jack",
            "--connect-jack-outputs",
            "nobody:nothing",
        ],
        &env,
        "nobody:nothing",
    );
    let held = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    let port = held.local_addr().unwrap().to_string();
    expect_start_failure(
        &[
            "--backend",
            "jack",
            "--room",
            "r",
            "--secret",
            "s",
            "--listen",
            &port,
        ],
        &env,
        "cannot join room",
    );

    // An exact name another client has.
    let mut first = App::start(&server, &["--backend", "jack", "--client-name", "taken"]);
    assert_eq!(first.wait_for_line("jack client "), "taken");
    let line = expect_start_failure(
        &["--backend", "jack", "--client-name", "taken"],
        &env,
        "is taken",
    );
    println!("{line}");
    interrupt_and_expect_clean_exit(&mut first.child, "the first client");
}

/// The peer's sine in channel `ch` of a recording: median level (dB against [`AMP`]) over
/// 10 ms windows, how many of those were more than 6 dB down (of how many), and the median
/// pitch over 0.2 s windows. Both sines have whole cycles in 10 ms, so a one-bin DFT at the
/// peer's frequency does not see the receiver's own (monitored) sine at all.
fn analyse(file: &Path, ch: usize, freq: f64) -> (f64, f64, usize, usize) {
    let [left, right] = read_recording(file, RECORD_FRAMES);
    let x = if ch == 0 { left } else { right };
    let sr = f64::from(SR);
    let levels: Vec<f64> = x
        .chunks_exact(LEVEL_WINDOW)
        .map(|w| 20.0 * (amplitude_at(w, sr, freq) / AMP).log10())
        .collect();
    let pitches: Vec<f64> = x
        .chunks_exact(PITCH_WINDOW)
        .map(|w| dominant_frequency(w, sr, freq))
        .collect();
    let windows = levels.len();
    let dropouts = levels.iter().filter(|&&db| db < -6.0).count();
    (median(levels), median(pitches), dropouts, windows)
}

/// Amplitude of the component at `freq` Hz in `x` (a one-bin DFT).
fn amplitude_at(x: &[f32], sr: f64, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / sr;
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &s) in x.iter().enumerate() {
        re += f64::from(s) * (w * i as f64).cos();
        im += f64::from(s) * (w * i as f64).sin();
    }
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A standalone on the test's server whose stdout is collected line by line (stderr goes to
/// the test's stderr).
struct App {
    child: KillOnDrop,
    lines: Arc<Mutex<Vec<String>>>,
    /// Stats lines before this index were already handed out.
    seen: usize,
}

impl App {
    fn start<S: AsRef<str>>(server: &str, args: &[S]) -> Self {
        let mut child = Command::new(bundled("osp-jam"))
            .args(args.iter().map(AsRef::as_ref))
            .env_remove("DISPLAY")
            .env("JACK_DEFAULT_SERVER", server)
            .env("JACK_NO_START_SERVER", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the standalone");
        let out = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        {
            let lines = Arc::clone(&lines);
            // Ends when the child's stdout closes.
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    lines.lock().expect("lines").push(line);
                }
            });
        }
        Self {
            child: KillOnDrop(child),
            lines,
            seen: 0,
        }
    }

    /// The newest line the app printed (its latest stats, once it prints them).
    fn last_line(&self) -> String {
        let lines = self.lines.lock().expect("lines");
        lines.last().cloned().unwrap_or_default()
    }

    /// The rest of the first line starting with `prefix` (bounded by [`WAIT`]).
    fn wait_for_line(&mut self, prefix: &str) -> String {
        self.wait(prefix, |lines, _| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
                .map(|v| (v, 0))
        })
        .0
    }

    /// Waits for a stats line not handed out before that satisfies `ok`.
    fn wait_for_stats(&mut self, ok: impl Fn(&str) -> bool) {
        let seen = self.seen;
        let ((), index) = self.wait("a stats line", |lines, _| {
            lines
                .iter()
                .enumerate()
                .skip(seen)
                .find(|(_, l)| ok(l))
                .map(|(i, _)| ((), i))
        });
        self.seen = index + 1;
    }

    fn wait<T>(
        &mut self,
        what: &str,
        found: impl Fn(&[String], usize) -> Option<(T, usize)>,
    ) -> (T, usize) {
        let start = Instant::now();
        loop {
            {
                let lines = self.lines.lock().expect("lines");
                if let Some(hit) = found(&lines, self.seen) {
                    return hit;
                }
                assert!(
                    start.elapsed() < WAIT && matches!(self.child.0.try_wait(), Ok(None)),
                    "timed out (or exited) waiting for {what}; stdout:\n{}",
                    lines.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
