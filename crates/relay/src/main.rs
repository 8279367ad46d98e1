//! `osp-relay`: the room server on one UDP socket.
//!
//! `osp-relay --listen ADDR [--max-groups N] [--max-members N] [--max-candidates N]
//! [--charge-key-file PATH] [--stats]` prints `osp-relay listening on <bound address>` once
//! it is ready (port 0 asks the OS for one), serves until Ctrl-C or SIGTERM, and exits 0. Any
//! failure to start prints one line and exits 2. `--stats` prints the counters every sweep (10 s) and at exit, on stderr.
//!
//! `--charge-key-file` names a file holding the `CHARGE` key (its bytes, one trailing line
//! ending dropped): a file rather than a flag value so the secret never shows in `ps`.
//! Without it the relay refuses every charge `charge_disabled`; an unreadable or empty file
//! is a failure to start.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use rand::TryRngCore;
use rand::rngs::OsRng;
use relay::charge::ChargeKey;
use relay::{Config, Server};

/// Longest a receive waits, so Ctrl-C is noticed within this.
const POLL: Duration = Duration::from_millis(200);
/// Datagrams up to this size are read whole (one MTU; the dialect is far shorter).
const RECV_BUFFER: usize = 2048;

const USAGE: &str = "usage: osp-relay --listen ADDR [--max-groups N] [--max-members N] \
                     [--max-candidates N] [--charge-key-file PATH] [--stats]";

struct Args {
    listen: SocketAddr,
    config: Config,
    charge_key_file: Option<String>,
    stats: bool,
}

/// The command line, by hand: four flags do not need a parser whose errors span several
/// lines (a failure to start prints exactly one).
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut listen = None;
    let mut config = Config::default();
    let mut stats = false;
    let mut charge_key_file = None;
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
    let mut server = Server::new(args.config, seed, proto::time::Instant::ZERO);
    if let Some(key) = charge_key {
        server.set_charge_key(key);
    }
    println!("osp-relay listening on {local}");
    let _ = std::io::stdout().flush();
    serve(&socket, server, &stop, args.stats);
    ExitCode::SUCCESS
}

fn serve(socket: &UdpSocket, mut server: Server, stop: &AtomicBool, stats: bool) {
    let origin = std::time::Instant::now();
    let now = || proto::time::Instant::from_duration(origin.elapsed());
    let mut recv = vec![0u8; RECV_BUFFER];
    let mut send = Vec::with_capacity(RECV_BUFFER);
    let mut send_errors = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let wait = server.poll_timeout().saturating_since(now());
        // A zero timeout means "block forever" to std: wait at least 1 ms.
        let _ = socket.set_read_timeout(Some(wait.clamp(Duration::from_millis(1), POLL)));
        match socket.recv_from(&mut recv) {
            Ok((len, from)) => {
                let now = now();
                // The charge window is wall-clock time; following the clock at every datagram
                // keeps up with a stepped clock (a vDSO read, no syscall).
                if let Ok(since_epoch) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
                    server.set_wall_clock(now, since_epoch);
                }
                server.handle_datagram(now, from, &recv[..len]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // ICMP errors for earlier sends surface here on some systems: not fatal.
            Err(_) => {}
        }
        while let Some(t) = server.poll_transmit(&mut send) {
            if socket.send_to(&send[..t.len], t.destination).is_err() {
                send_errors += 1;
            }
        }
        let now = now();
        if now >= server.poll_timeout() {
            server.handle_timeout(now);
            if stats {
                print_stats(&server, send_errors);
            }
        }
    }
    if stats {
        print_stats(&server, send_errors);
    }
}

fn print_stats(server: &Server, send_errors: u64) {
    eprintln!(
        "osp-relay stats: groups={} members={} send_errors={send_errors} {}",
        server.group_count(),
        server.member_count(),
        server.counters()
    );
}
