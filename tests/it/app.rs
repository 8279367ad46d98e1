//! A standalone (or probe) run as a child process: its stdout collected line by line (the
//! address it listens on, its `--stats` lines, parsed), its stderr in a file, both printed if
//! the test fails while it runs; killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{KillOnDrop, tempdir};

/// Bound on every single wait for a line.
const WAIT: Duration = Duration::from_secs(30);

/// A child process whose stdout is collected line by line (the standalone's address and
/// stats); stderr goes to a file. Both are printed if the test fails while it runs.
pub(crate) struct App {
    name: String,
    child: KillOnDrop,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: PathBuf,
    /// Stats lines before this index were already handed out by `wait_for_stats`.
    seen: usize,
}

impl App {
    /// Starts `program` with `args` and `env`, headless and never starting a JACK server.
    pub(crate) fn start(
        name: &str,
        program: PathBuf,
        args: &[String],
        env: &[(&str, String)],
    ) -> Self {
        let mut command = Command::new(program);
        command.args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        Self::spawn(name, command)
    }

    /// Starts `command` (a program and its arguments, perhaps wrapped, as
    /// `ip netns exec NAME program` is) headless and never starting a JACK server.
    pub(crate) fn spawn(name: &str, mut command: Command) -> Self {
        let stderr = tempdir(&format!("jam-{name}")).join("stderr.log");
        command
            .env_remove("DISPLAY")
            .env("JACK_NO_START_SERVER", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr log"));
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("{name}: cannot start: {error}"));
        let out = child.stdout.take().expect("piped stdout");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        {
            let stdout = Arc::clone(&stdout);
            // Ends when the child's stdout closes (it exited or was killed).
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    stdout.lock().expect("stdout lines").push(line);
                }
            });
        }
        Self {
            name: name.to_owned(),
            child: KillOnDrop(child),
            stdout,
            stderr,
            seen: 0,
        }
    }

    /// Polls `found` on the lines printed so far and the stderr log until it gives a value,
    /// for at most `limit`; `None` if the time passed or the process exited first.
    pub(crate) fn try_wait_for<T>(
        &mut self,
        limit: Duration,
        mut found: impl FnMut(&[String], &str) -> Option<T>,
    ) -> Option<T> {
        let start = Instant::now();
        loop {
            let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
            if let Some(v) = found(&self.stdout.lock().expect("stdout lines"), &stderr) {
                return Some(v);
            }
            if start.elapsed() > limit || !matches!(self.child.0.try_wait(), Ok(None)) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like [`Self::try_wait_for`] on stdout for [`WAIT`], failing with `what`.
    pub(crate) fn wait_for<T>(
        &mut self,
        what: &str,
        mut found: impl FnMut(&[String]) -> Option<T>,
    ) -> T {
        match self.try_wait_for(WAIT, |lines, _| found(lines)) {
            Some(v) => v,
            None => panic!("{}: timed out waiting for {what}", self.name),
        }
    }

    /// The address the standalone says it listens on.
    pub(crate) fn address(&mut self) -> SocketAddr {
        self.wait_for("its address", |lines| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix("listening on ")?.parse().ok())
        })
    }

    /// The first stats line not handed out before that satisfies `ok`.
    pub(crate) fn wait_for_stats(&mut self, what: &str, ok: impl Fn(&Stats) -> bool) -> Stats {
        let mut seen = self.seen;
        let (index, stats) = self.wait_for(what, |lines| {
            let fresh = lines.iter().enumerate().skip(seen);
            let hit = fresh
                .filter_map(|(i, l)| Some((i, Stats::parse(l)?)))
                .find(|(_, s)| ok(s));
            seen = lines.len().max(seen);
            hit
        });
        self.seen = index + 1;
        stats
    }

    /// The newest stats line as printed.
    pub(crate) fn latest_stats_line(&self) -> String {
        let lines = self.stdout.lock().expect("stdout lines");
        let line = lines.iter().rev().find(|l| Stats::parse(l).is_some());
        line.cloned().unwrap_or_default()
    }

    /// Every stats line printed so far, parsed.
    pub(crate) fn all_stats(&self) -> Vec<Stats> {
        let lines = self.stdout.lock().expect("stdout lines");
        lines.iter().filter_map(|l| Stats::parse(l)).collect()
    }

    /// The newest stats line, parsed.
    pub(crate) fn latest_stats(&self) -> Option<Stats> {
        let lines = self.stdout.lock().expect("stdout lines");
        lines.iter().rev().find_map(|l| Stats::parse(l))
    }

    /// SIGKILL, and reap it (its socket is closed when this returns).
    pub(crate) fn kill(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let stdout = self.stdout.lock().map(|l| l.join("\n")).unwrap_or_default();
            let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
            eprintln!(
                "----- {} stdout:\n{stdout}\n----- {} stderr:\n{stderr}",
                self.name, self.name
            );
        }
    }
}

/// One `--stats` line: `peers N | <id>: rtt .. ms jitter .. ms loss .. % buffer .. ms one-way
/// .. ms recovered .. concealed .. | sent .. received .. dropped ..`.
#[derive(Clone, Debug)]
pub(crate) struct Stats {
    pub(crate) peers: Vec<PeerStats>,
    pub(crate) received: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct PeerStats {
    pub(crate) user_id: u32,
    /// The path kind (`direct`, `turn`), printed once the peer's path was chosen through
    /// connectivity checks (a session with a room server); `None` otherwise.
    pub(crate) path: Option<String>,
    pub(crate) loss_pct: f64,
    pub(crate) buffer_ms: f64,
    /// `None` when printed as `-` (no round trip measured yet).
    pub(crate) one_way_ms: Option<f64>,
}

impl Stats {
    pub(crate) fn parse(line: &str) -> Option<Self> {
        let mut parts = line.split(" | ");
        let count: usize = parts.next()?.strip_prefix("peers ")?.parse().ok()?;
        let mut peers = Vec::new();
        let mut received = None;
        for part in parts {
            let words: Vec<&str> = part.split_whitespace().collect();
            let value = |key: &str| {
                let at = words.iter().position(|w| *w == key)?;
                words.get(at + 1).copied()
            };
            let number = |key: &str| value(key)?.parse::<f64>().ok();
            match words.first()?.strip_suffix(':') {
                Some(id) => peers.push(PeerStats {
                    user_id: id.parse().ok()?,
                    path: value("path").map(str::to_owned),
                    loss_pct: number("loss")?,
                    buffer_ms: number("buffer")?,
                    one_way_ms: number("one-way"),
                }),
                None => received = Some(value("received")?.parse().ok()?),
            }
        }
        (peers.len() == count).then_some(Self {
            peers,
            received: received?,
        })
    }
}
