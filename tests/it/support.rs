//! Shared helpers: where the bundles are, test signals, measurements, child-process cleanup.

use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The cargo target directory the bundles were built into.
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

/// A file under `target/bundled/`, or a panic telling how to build it.
pub(crate) fn bundled(name: &str) -> PathBuf {
    let path = target_dir().join("bundled").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask bundle plugin` first (the README's test command does)",
        path.display()
    );
    path
}

/// `n` samples of a sine at `freq` Hz and amplitude `amp`, sampled at `sr` Hz.
pub(crate) fn sine(freq: f64, amp: f32, sr: f64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| amp * (2.0 * std::f64::consts::PI * freq * i as f64 / sr).sin() as f32)
        .collect()
}

/// RMS level of `x`.
pub(crate) fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Frequency of the strongest component of `x` near `guess` Hz (±50 %), by a fine DFT scan
/// (0.1 Hz steps); precise enough to tell a pitch from its neighbours on a few thousand samples.
pub(crate) fn dominant_frequency(x: &[f32], sr: f64, guess: f64) -> f64 {
    let power = |f: f64| {
        let w = 2.0 * std::f64::consts::PI * f / sr;
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &s) in x.iter().enumerate() {
            re += f64::from(s) * (w * i as f64).cos();
            im += f64::from(s) * (w * i as f64).sin();
        }
        re * re + im * im
    };
    let (lo, hi) = (guess * 0.5, guess * 1.5);
    let coarse = (0..=100).map(|k| lo + (hi - lo) * k as f64 / 100.0);
    let best = coarse
        .max_by(|a, b| power(*a).total_cmp(&power(*b)))
        .unwrap_or(guess);
    let step = (hi - lo) / 100.0;
    (0..=(2.0 * step / 0.1) as usize)
        .map(|k| best - step + 0.1 * k as f64)
        .max_by(|a, b| power(*a).total_cmp(&power(*b)))
        .unwrap_or(best)
}

/// A sine as a receiver heard it: its level (median over short windows), how many of those
/// windows fell below −6 dB (dropouts), and its pitch (median of the DFT peaks of 0.2 s windows:
/// over a few seconds one peak's lobe is narrower than the search grid, so a pitch a little off
/// the guess or gliding would be found on a side lobe).
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeardSine {
    pub(crate) level_db: f64,
    pub(crate) dropouts: usize,
    pub(crate) windows: usize,
    pub(crate) pitch: f64,
}

/// Measures `x` (one channel at `sr`) as a sine of amplitude `amp` near `freq`, its level over
/// windows of `level_window` samples.
pub(crate) fn hear_sine(x: &[f32], sr: f64, amp: f64, freq: f64, level_window: usize) -> HeardSine {
    let levels: Vec<f64> = x
        .chunks_exact(level_window)
        .map(|w| 20.0 * (rms(w) * 2f64.sqrt() / amp).log10())
        .collect();
    let dropouts = levels.iter().filter(|&&db| db < -6.0).count();
    let pitches: Vec<f64> = x
        .chunks_exact(9_600)
        .map(|w| dominant_frequency(w, sr, freq))
        .collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    HeardSine {
        windows: levels.len(),
        level_db: median(levels),
        dropouts,
        pitch: median(pitches),
    }
}

/// A loop on its own thread that calls `block` once a `period` on an absolute schedule (a
/// late call is followed at once by the next due one), as an audio device drives its callback;
/// it ends when stopped or dropped.
pub(crate) struct Paced {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Paced {
    pub(crate) fn start(
        period: std::time::Duration,
        mut block: impl FnMut() + Send + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let start = std::time::Instant::now();
                let mut due = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    if let Some(wait) =
                        (start + period * due).checked_duration_since(std::time::Instant::now())
                    {
                        std::thread::sleep(wait);
                    }
                    block();
                    due += 1;
                }
            })
        };
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Ends the loop after the call in progress; a panic in `block` fails the caller here.
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("paced loop");
        }
    }
}

impl Drop for Paced {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits (bounded by `limit`) for `child` to exit and expects status 0.
pub(crate) fn expect_clean_exit(child: &mut KillOnDrop, what: &str, limit: std::time::Duration) {
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for child") {
            break status;
        }
        assert!(
            start.elapsed() < limit,
            "{what} did not exit within {limit:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "{what} exited with {status}");
}

/// Sends SIGINT (Ctrl-C; GStreamer's `-e` and tshark turn it into a clean end of stream) and
/// expects a clean exit within 10 s.
pub(crate) fn interrupt_and_expect_clean_exit(child: &mut KillOnDrop, what: &str) {
    let pid = child.0.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status();
    assert!(sent.expect("run kill").success(), "kill -INT {pid}");
    expect_clean_exit(child, what, std::time::Duration::from_secs(10));
}

/// Stops and reaps a child process when dropped, so a failing test leaves nothing running:
/// SIGTERM first, so servers clean up after themselves (a SIGKILLed jackd leaves its entry in
/// JACK's shared-memory registry, and after eight of those no JACK server can start on the
/// machine), then SIGKILL if it is still there after 5 s.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let pid = self.0.id().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status();
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_secs(5) {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The left and right channels of a `jack-probe record` file (raw f32 little endian, the two
/// interleaved), which must hold `frames` frames.
pub(crate) fn read_recording(file: &std::path::Path, frames: usize) -> [Vec<f32>; 2] {
    let bytes = std::fs::read(file)
        .unwrap_or_else(|error| panic!("the recording {}: {error}", file.display()));
    let samples: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(
        samples.len(),
        2 * frames,
        "the recording {}: samples, for {frames} stereo frames",
        file.display()
    );
    [0, 1].map(|ch| samples.iter().skip(ch).step_by(2).copied().collect())
}

/// A fresh directory for one test's files under the target directory.
pub(crate) fn tempdir(name: &str) -> PathBuf {
    let dir = target_dir()
        .join("it-tmp")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Starts `jackd -d dummy` as the server named `server` (never the default one) at `rate` Hz
/// with `period`-frame cycles, and waits until it serves (bounded at 10 s); if jackd dies
/// first, fails with what it said. Stopped (SIGTERM, so it leaves JACK's registry) on drop.
pub(crate) fn jackd(server: &str, rate: u32, period: u32) -> KillOnDrop {
    let log = tempdir(&format!("jackd-{server}")).join("jackd.log");
    let child = std::process::Command::new("jackd")
        .args(["-n", server, "-d", "dummy"])
        .args(["-r", &rate.to_string(), "-p", &period.to_string()])
        .env("JACK_DEFAULT_SERVER", server)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("jackd log"))
        .spawn()
        .expect("start jackd (Debian jackd2; scripts/install-deps.sh installs it)");
    let mut jackd = KillOnDrop(child);
    let start = std::time::Instant::now();
    loop {
        if let Ok(Some(status)) = jackd.0.try_wait() {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("jackd exited ({status}) before serving:\n{said}");
        }
        let lsp = std::process::Command::new("jack_lsp")
            .env("JACK_DEFAULT_SERVER", server)
            .env("JACK_NO_START_SERVER", "1")
            .stderr(std::process::Stdio::null())
            .output()
            .expect("run jack_lsp");
        if lsp.status.success()
            && String::from_utf8_lossy(&lsp.stdout).contains("system:playback_1")
        {
            return jackd;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "jackd {server} did not come up"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs the bundled standalone with `args` (and `env`), expecting it to refuse to start:
/// status 2 within 20 s and exactly one line on stderr, `osp-jam: ` and the reason, which must
/// contain `says`. Returns that line.
pub(crate) fn expect_start_failure(args: &[&str], env: &[(&str, &str)], says: &str) -> String {
    let mut command = std::process::Command::new(bundled("osp-jam"));
    command
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("RUST_LOG")
        .env("JACK_NO_START_SERVER", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = KillOnDrop(command.spawn().expect("start the standalone"));
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for the standalone") {
            break status;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{args:?}: still running after 20 s, expected a failure to start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.0.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert_eq!(
        status.code(),
        Some(2),
        "{args:?}: {status}, stderr:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{args:?}: not one line on stderr:\n{stderr}"
    );
    assert!(
        lines[0].starts_with("osp-jam: ") && lines[0].contains(says),
        "{args:?}: {:?} does not say {says:?}",
        lines[0]
    );
    lines[0].to_owned()
}
