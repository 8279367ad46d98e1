//! `osp-relay`: the room server on one UDP socket.
//!
//! `osp-relay --listen ADDR [--max-groups N] [--max-members N] [--max-candidates N]
//! [--charge-key-file PATH] [--http ADDR] [--stats]` prints `osp-relay listening on <bound
//! address>` once it is ready (port 0 asks the OS for one), serves until Ctrl-C or SIGTERM, and
//! exits 0. Any failure to start prints one line and exits 2. `--stats` prints the counters
//! every sweep (10 s) and at exit, and each fingerprint verdict, on stderr.
//!
//! `--http ADDR` also serves the HTTP API (`relay::http`) on TCP at ADDR, announced by a second
//! line `osp-relay http on <bound address>`; without it there is no HTTP. The HTTP threads and
//! the UDP loop share the server through a mutex that neither holds across socket I/O.
//!
//! `--charge-key-file` names a file holding the `CHARGE` key (its bytes, one trailing line
//! ending dropped): a file rather than a flag value so the secret never shows in `ps`.
//! Without it the relay refuses every charge `charge_disabled`; an unreadable or empty file
//! is a failure to start.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::TryRngCore;
use rand::rngs::OsRng;
use relay::charge::ChargeKey;
use relay::consensus::Verdict;
use relay::http::Api;
use relay::http::serve::{Clocks, Shared, lock};
use relay::{Config, Server};

/// Longest a receive waits, so Ctrl-C is noticed within this.
const POLL: Duration = Duration::from_millis(200);
/// Datagrams up to this size are read whole (one MTU; the dialect is far shorter).
const RECV_BUFFER: usize = 2048;

const USAGE: &str = "usage: osp-relay --listen ADDR [--max-groups N] [--max-members N] \
                     [--max-candidates N] [--charge-key-file PATH] [--http ADDR] [--stats]";

struct Args {
    listen: SocketAddr,
    config: Config,
    charge_key_file: Option<String>,
    http: Option<SocketAddr>,
    stats: bool,
}

/// The command line, by hand: four flags do not need a parser whose errors span several
/// lines (a failure to start prints exactly one).
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut listen = None;
    let mut config = Config::default();
    let mut stats = false;
    let mut charge_key_file = None;
    let mut http = None;
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let count = |name: &str, text: String| {
            text.parse::<usize>()
                .map_err(|_| format!("{name} needs a whole number, not {text:?}"))
        };
        match flag.as_str() {
            "--listen" => {
                let text = value("--listen")?;
                listen = Some(
                    text.parse::<SocketAddr>()
                        .map_err(|_| format!("--listen needs IP:PORT, not {text:?}"))?,
                );
            }
            "--max-groups" => config.max_groups = count("--max-groups", value("--max-groups")?)?,
            "--max-members" => {
                config.max_members = count("--max-members", value("--max-members")?)?;
            }
            "--max-candidates" => {
                config.max_candidates = count("--max-candidates", value("--max-candidates")?)?;
            }
            "--charge-key-file" => charge_key_file = Some(value("--charge-key-file")?),
            "--http" => {
                let text = value("--http")?;
                http = Some(
                    text.parse::<SocketAddr>()
                        .map_err(|_| format!("--http needs IP:PORT, not {text:?}"))?,
                );
            }
            "--stats" => stats = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?} ({USAGE})")),
        }
    }
    let listen = listen.ok_or(format!("--listen is required ({USAGE})"))?;
    Ok(Some(Args {
        listen,
        config,
        charge_key_file,
        http,
        stats,
    }))
}

/// The charge key from its file.
fn read_charge_key(path: &str) -> Result<ChargeKey, String> {
    let contents = std::fs::read(path)
        .map_err(|e| format!("cannot read the charge key file {path:?}: {e}"))?;
    ChargeKey::from_file_contents(&contents)
        .ok_or_else(|| format!("the charge key file {path:?} is empty"))
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("osp-relay: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => return fail(message),
    };
    let charge_key = match args.charge_key_file.as_deref().map(read_charge_key) {
        Some(Ok(key)) => Some(key),
        Some(Err(message)) => return fail(message),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)) {
        return fail(format_args!("cannot install the Ctrl-C handler: {e}"));
    }
    let socket = match UdpSocket::bind(args.listen) {
        Ok(socket) => socket,
        Err(e) => return fail(format_args!("cannot listen on {}: {e}", args.listen)),
    };
    let local = match socket.local_addr() {
        Ok(local) => local,
        Err(e) => return fail(format_args!("cannot read the bound address: {e}")),
    };
    let mut seed = [0; 32];
    if let Err(e) = OsRng.try_fill_bytes(&mut seed) {
        return fail(format_args!("no OS randomness for session tokens: {e}"));
    }
    let http = match args.http {
        None => None,
        Some(addr) => {
            let bound = TcpListener::bind(addr).and_then(|l| Ok((l.local_addr()?, l)));
            match bound {
                Ok(bound) => Some(bound),
                Err(e) => return fail(format_args!("cannot serve HTTP on {addr}: {e}")),
            }
        }
    };
    let clocks = Clocks::start();
    let mut server = Server::new(args.config, seed, clocks.now().now);
    if let Some(key) = charge_key {
        server.set_charge_key(key);
    }
    let shared = Arc::new(Mutex::new(Shared {
        server,
        api: Api::new(clocks.now().unix),
    }));
    let http_bound = http.as_ref().map(|(bound, _)| *bound);
    if let Some((_, listener)) = http
        && let Err(e) = relay::http::serve::spawn(listener, Arc::clone(&shared), clocks)
    {
        return fail(format_args!("cannot start the HTTP thread: {e}"));
    }
    println!("osp-relay listening on {local}");
    if let Some(bound) = http_bound {
        println!("osp-relay http on {bound}");
    }
    let _ = std::io::stdout().flush();
    serve(&socket, &shared, clocks, &stop, args.stats);
    ExitCode::SUCCESS
}

fn serve(
    socket: &UdpSocket,
    shared: &Mutex<Shared>,
    clocks: Clocks,
    stop: &AtomicBool,
    stats: bool,
) {
    let mut recv = vec![0u8; RECV_BUFFER];
    let mut send = Vec::with_capacity(RECV_BUFFER);
    let mut send_errors = 0u64;
    let mut verdicts: Vec<Verdict> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let wait = lock(shared)
            .server
            .poll_timeout()
            .saturating_since(clocks.now().now);
        // A zero timeout means "block forever" to std: wait at least 1 ms.
        let _ = socket.set_read_timeout(Some(wait.clamp(Duration::from_millis(1), POLL)));
        match socket.recv_from(&mut recv) {
            Ok((len, from)) => {
                let clock = clocks.now();
                let server = &mut lock(shared).server;
                // The charge window is wall-clock time; following the clock at every datagram
                // keeps up with a stepped clock (a vDSO read, no syscall).
                server.set_wall_clock(clock.now, clock.unix);
                server.handle_datagram(clock.now, from, &recv[..len]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // ICMP errors for earlier sends surface here on some systems: not fatal.
            Err(_) => {}
        }
        // One lock per datagram: the send itself happens unlocked.
        while let Some(t) = lock(shared).server.poll_transmit(&mut send) {
            if socket.send_to(&send[..t.len], t.destination).is_err() {
                send_errors += 1;
            }
        }
        let clock = clocks.now();
        let mut state = lock(shared);
        let swept = clock.now >= state.server.poll_timeout();
        if swept {
            state.server.handle_timeout(clock.now);
        }
        verdicts.clear();
        verdicts.extend_from_slice(state.api.handle_timeout(clock.unix));
        let line = (stats && swept).then(|| stats_line(&state, send_errors));
        drop(state);
        if stats {
            for v in &verdicts {
                eprintln!(
                    "osp-relay verdict: channel={:?} fingerprint={:016x} listeners={} reports={}",
                    v.channel, v.fingerprint, v.listeners, v.reports
                );
            }
        }
        if let Some(line) = line {
            eprintln!("{line}");
        }
    }
    if stats {
        let line = stats_line(&lock(shared), send_errors);
        eprintln!("{line}");
    }
}

fn stats_line(state: &Shared, send_errors: u64) -> String {
    let fingerprints = state.api.consensus().counters();
    format!(
        "osp-relay stats: groups={} members={} send_errors={send_errors} {} \
         fingerprint_accepted={} fingerprint_verdicts={}",
        state.server.group_count(),
        state.server.member_count(),
        state.server.counters(),
        fingerprints.accepted,
        fingerprints.verdicts
    )
}
