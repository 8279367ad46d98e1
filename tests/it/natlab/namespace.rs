//! One network namespace the test made: commands and sockets inside it, removal on drop, and
//! the sweep that removes namespaces left behind by test processes that died.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::support::KillOnDrop;

/// Every lab namespace is named `osplab-<pid>-<lab>-<role>`: the pid tells the sweep whether
/// its owner still runs, the per-process lab counter keeps labs of one process apart.
const PREFIX: &str = "osplab-";

/// How long one setup command (`ip`, `nft`, `sysctl`, `conntrack`) may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(10);

/// Labs made by this process so far.
static LABS: AtomicU32 = AtomicU32::new(0);

/// The `osplab-<pid>-<lab>` stem for a new lab's namespaces.
pub(crate) fn new_lab_stem() -> String {
    let lab = LABS.fetch_add(1, Ordering::Relaxed);
    format!("{PREFIX}{}-{lab}", std::process::id())
}

/// A network namespace; deleted (after its processes are killed) when dropped, also while a
/// failing test unwinds.
pub(crate) struct Namespace {
    name: String,
}

impl Namespace {
    /// Creates the namespace `name` with `lo` up. Panics with one line if the machine refuses.
    pub(crate) fn create(name: String) -> Self {
        match Command::new("ip").args(["netns", "add", &name]).output() {
            Err(error) => panic!("natlab: cannot run `ip` ({error}): run scripts/install-deps.sh"),
            Ok(out) if !out.status.success() => panic!(
                "natlab: this machine refuses network namespaces (`ip netns add` said: {}); \
                 the NAT lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Ok(_) => {}
        }
        let namespace = Self { name };
        namespace.ip(&["link", "set", "lo", "up"]);
        namespace
    }

    /// Its name, as `ip netns` knows it.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <name> <args>`, panicking with one line (the command and what it said) if it
    /// fails.
    pub(crate) fn ip(&self, args: &[&str]) {
        let mut command = Command::new("ip");
        command.args(["-n", &self.name]).args(args);
        run(command, None);
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`, which execs it, so
    /// the child's pid is the program's).
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Runs `program args` inside the namespace to completion, feeding it `stdin`; panics with
    /// one line if it fails. Returns what it printed on stdout.
    pub(crate) fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> String {
        let mut command = self.command(program);
        command.args(args);
        run(command, stdin)
    }

    /// Starts `command` (made by [`Self::command`]) as a child stopped when dropped.
    pub(crate) fn spawn(&self, mut command: Command, what: &str) -> KillOnDrop {
        match command.spawn() {
            Ok(child) => KillOnDrop(child),
            Err(error) => panic!("natlab: cannot start {what} in {}: {error}", self.name),
        }
    }

    /// Runs `work` on a thread that entered the namespace first: what it binds (and every
    /// thread it starts, which inherits the namespace) stays in there; for a whole engine
    /// whose driver binds its own socket.
    pub(crate) fn within<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        let result = std::thread::scope(|scope| {
            scope
                .spawn(|| -> std::io::Result<T> {
                    let handle = std::fs::File::open(&path)?;
                    // SAFETY: `handle` is an open namespace file for the whole call, and only
                    // this thread (which ends when `work` returns) changes namespace.
                    let entered = unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) };
                    if entered != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(work())
                })
                .join()
        });
        match result {
            Ok(Ok(value)) => value,
            Ok(Err(error)) => panic!("natlab: cannot enter {}: {error}", self.name),
            Err(_) => panic!("natlab: the thread working in {} panicked", self.name),
        }
    }

    /// A UDP socket bound to `addr` inside the namespace.
    ///
    /// A socket stays in the namespace it was created in, so a short-lived thread enters the
    /// namespace (`setns`), binds, and hands the socket back: the test then drives it like any
    /// other socket, with no helper process and no output to parse.
    pub(crate) fn udp_socket(&self, addr: SocketAddr) -> UdpSocket {
        self.within(|| UdpSocket::bind(addr))
            .unwrap_or_else(|error| panic!("natlab: cannot bind {addr} in {}: {error}", self.name))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        remove(&self.name);
    }
}

/// Runs `command` (stdin fed from `stdin`), panicking with one line if it fails; returns its
/// stdout.
fn run(mut command: Command, stdin: Option<&str>) -> String {
    let shown = format!("{command:?}").replace('"', "");
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|error| {
        panic!("natlab: cannot run `{shown}` ({error}): run scripts/install-deps.sh")
    });
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes())
            .unwrap_or_else(|error| panic!("natlab: writing to `{shown}`: {error}"));
    }
    // Bounded: a wedged `ip` or `nft` is killed (by its pid) and the test fails saying which.
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let out = match finished.recv_timeout(COMMAND_LIMIT) {
        Ok(Ok(out)) => out,
        Ok(Err(error)) => panic!("natlab: waiting for `{shown}`: {error}"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("natlab: `{shown}` did not finish within {COMMAND_LIMIT:?}");
        }
    };
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr)
            .trim()
            .replace('\n', "; ");
        // `ip netns exec` says "exec of ... failed" when the program is not installed.
        let hint = if said.contains("exec of") {
            " (run scripts/install-deps.sh)"
        } else {
            ""
        };
        panic!("natlab: `{shown}` failed: {said}{hint}");
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Kills what still runs in namespace `name` (by pid: only the lab's own processes live
/// there), then deletes it. Errors are ignored: a namespace another sweep removed is gone.
fn remove(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "delete", name])
        .stderr(Stdio::null())
        .status();
}

/// Names of the lab namespaces that exist now (of any process).
pub(crate) fn lab_namespaces() -> Vec<String> {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(PREFIX))
        .map(str::to_owned)
        .collect()
}

/// Removes the lab namespaces whose owning process no longer runs (a test killed before its
/// drops ran). Returns how many it removed.
pub(crate) fn sweep_stale() -> usize {
    let stale: Vec<String> = lab_namespaces()
        .into_iter()
        .filter(|name| {
            let pid = name[PREFIX.len()..].split('-').next().unwrap_or("");
            pid.parse::<u32>().is_ok() && !std::path::Path::new("/proc").join(pid).exists()
        })
        .collect();
    for name in &stale {
        remove(name);
    }
    stale.len()
}
