//! The real `osp-relay` on loopback: three rendezvous clients (`proto::rendezvous::client`)
//! join one room over real UDP sockets and learn each other's addresses and candidates; a
//! malformed datagram is counted; Ctrl-C stops the server with status 0 and its final `--stats`
//! line accounts for everything. A member tops up its balance with a signed CHARGE, the key
//! read from `--charge-key-file`. A failure to start is one line and status 2.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant as Clock, SystemTime};

use proto::rendezvous::client::{Client, Config};
use proto::rendezvous::{Amount, ChargeMac, ChargeRequest, ChargeToken, Reply};
use proto::rendezvous::{Candidate, CandidateKind, Credentials};
use proto::time::Instant;

use relay::charge::ChargeKey;

use crate::support::{KillOnDrop, bundled, interrupt_and_expect_clean_exit};

struct Player {
    id: u32,
    socket: UdpSocket,
    client: Client,
    your_addr: Option<SocketAddr>,
    joined: bool,
    /// Candidates heard, by device id.
    heard: BTreeMap<u32, BTreeSet<(String, u32, SocketAddr)>>,
}

impl Player {
    fn new(id: u32, server: SocketAddr, now: Instant) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let mut client = Client::new(
            Config {
                server,
                credentials: Credentials::derive(b"relay it secret", "relay it room"),
                device_name: format!("player {id}"),
                device_id: id,
            },
            now,
        )
        .unwrap();
        // Two candidates of our own: a host one (the socket) and a made-up relayed one.
        let host = socket.local_addr().unwrap();
        let relayed = SocketAddr::from(([198, 18, 0, id as u8], 3478));
        client.set_candidates(&[
            Candidate::new(CandidateKind::Host, host),
            Candidate {
                kind: CandidateKind::Relay,
                priority: 255,
                addr: relayed,
            },
        ]);
        Self {
            id,
            socket,
            client,
            your_addr: None,
            joined: false,
            heard: BTreeMap::new(),
        }
    }

    fn step(&mut self, now: Instant, buf: &mut Vec<u8>, recv: &mut [u8]) {
        self.client.handle_timeout(now);
        while let Some(t) = self.client.poll_transmit(buf) {
            self.socket.send_to(&buf[..t.len], t.destination).unwrap();
        }
        if let Ok((len, from)) = self.socket.recv_from(recv) {
            self.client.handle_input(now, from, &recv[..len]);
        }
        while let Some(event) = self.client.poll_event() {
            match event {
                Reply::Joined => self.joined = true,
                Reply::YourAddr(addr) => self.your_addr = Some(addr),
                Reply::Cand {
                    device_id,
                    candidate,
                } => {
                    self.heard.entry(device_id).or_default().insert((
                        candidate.kind.as_str().to_owned(),
                        candidate.priority,
                        candidate.addr,
                    ));
                }
                _ => {}
            }
        }
    }
}

#[test]
fn three_players_find_each_other_through_osp_relay() {
    let (mut child, server) = start_relay(&[]);

    let origin = Clock::now();
    let now = || Instant::from_duration(origin.elapsed());
    let mut players: Vec<Player> = (1..=3).map(|id| Player::new(id, server, now())).collect();
    let (mut buf, mut recv) = (Vec::new(), vec![0u8; 2048]);
    // Each player must hear the other two's srflx (server-observed), host and relay candidates.
    let complete = |players: &[Player]| {
        players
            .iter()
            .all(|p| p.heard.len() == 2 && p.heard.values().all(|c| c.len() == 3))
    };
    // Generous under load: on an idle machine this takes a few ms.
    while !complete(&players) && origin.elapsed() < Duration::from_secs(20) {
        for player in &mut players {
            player.step(now(), &mut buf, &mut recv);
        }
    }
    for player in &players {
        let own = player.socket.local_addr().unwrap();
        assert!(player.joined, "player {} joined", player.id);
        assert_eq!(
            player.your_addr,
            Some(own),
            "YOUR_ADDR is the socket's address"
        );
        for other in players.iter().filter(|o| o.id != player.id) {
            let addr = other.socket.local_addr().unwrap();
            let expected: BTreeSet<_> = [
                ("host".to_owned(), 2_130_706_431, addr),
                ("srflx".to_owned(), 1_694_498_815, addr),
                (
                    "relay".to_owned(),
                    255,
                    SocketAddr::from(([198, 18, 0, other.id as u8], 3478)),
                ),
            ]
            .into();
            assert_eq!(
                player.heard.get(&other.id),
                Some(&expected),
                "player {} hears player {}",
                player.id,
                other.id
            );
        }
        assert_eq!(player.client.stats().not_from_server, 0);
        assert_eq!(player.client.stats().malformed, 0);
    }

    // Bad input to the server is counted, not answered; one player leaves.
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    stranger
        .send_to(b"CAND:host:1:127.0.0.1:0", server)
        .unwrap();
    stranger.send_to(b"HELLO", server).unwrap();
    players[2].client.close();
    players[2].step(now(), &mut buf, &mut recv);
    // The server reads datagrams in order per sender; give it a moment for the stranger's.
    std::thread::sleep(Duration::from_millis(200));

    let last = stop_relay(&mut child);
    let count = |name: &str| stat(&last, name);
    assert_eq!(count("joins"), 3, "{last}");
    assert_eq!(count("candidates"), 6, "{last}");
    assert_eq!(count("leaves"), 1, "{last}");
    assert_eq!(count("malformed"), 1, "{last}");
    assert_eq!(count("not_member"), 1, "{last}");
    assert_eq!(count("members"), 2, "{last}");
}

/// `osp-relay --listen 127.0.0.1:0 --stats` plus `args`, and the address it bound.
fn start_relay(args: &[&str]) -> (KillOnDrop, SocketAddr) {
    let (child, mut stdout) = spawn_relay(args);
    let server = announced(&mut stdout, "osp-relay listening on ");
    (child, server)
}

/// `osp-relay --listen 127.0.0.1:0 --stats` plus `args`, and its stdout.
fn spawn_relay(args: &[&str]) -> (KillOnDrop, BufReader<ChildStdout>) {
    let mut child = Command::new(bundled("osp-relay"))
        .args(["--listen", "127.0.0.1:0", "--stats"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map(KillOnDrop)
        .expect("start osp-relay");
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    (child, stdout)
}

/// The loopback address on osp-relay's next line, which starts with `prefix`.
fn announced(stdout: &mut BufReader<ChildStdout>, prefix: &str) -> SocketAddr {
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a line from osp-relay");
    let bound: SocketAddr = line
        .trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"))
        .parse()
        .expect("a bound address");
    assert!(bound.ip().is_loopback() && bound.port() != 0);
    bound
}

/// Ctrl-C, a clean exit, and the last `--stats` line.
fn stop_relay(child: &mut KillOnDrop) -> String {
    interrupt_and_expect_clean_exit(child, "osp-relay");
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr.lines().last().unwrap_or_default().to_owned()
}

/// The counter `name` in a `--stats` line.
fn stat(line: &str, name: &str) -> u64 {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} in {line:?}"))
        .parse()
        .unwrap()
}

/// A file in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::write(&path, contents).expect("write a temporary file");
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The member's replies up to and including the first that `is_last` accepts.
fn replies_until(socket: &UdpSocket, is_last: impl Fn(&str) -> bool) -> Vec<String> {
    let mut replies = Vec::new();
    let mut buf = [0u8; 2048];
    let deadline = Clock::now() + Duration::from_secs(20);
    while Clock::now() < deadline {
        let Ok(len) = socket.recv(&mut buf) else {
            continue;
        };
        let reply = String::from_utf8_lossy(&buf[..len]).into_owned();
        let last = is_last(&reply);
        replies.push(reply);
        if last {
            return replies;
        }
    }
    panic!("no final reply in 20 s; heard {replies:?}");
}

/// A member socket joined to `group` as device 7, `payer`, its JOIN replies read.
fn join_as_payer(server: SocketAddr, group: &str) -> UdpSocket {
    let member = UdpSocket::bind("127.0.0.1:0").unwrap();
    member.connect(server).unwrap();
    member
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    member
        .send(format!("JOIN:{group}:pw:payer:7").as_bytes())
        .unwrap();
    replies_until(&member, |r| r.starts_with("MODE:"));
    member
}

#[test]
fn a_member_charges_through_osp_relay_with_a_key_file() {
    let key = TempFile::new("osp-relay-charge-key", b"example-secret\n");
    let (mut child, server) = start_relay(&["--charge-key-file", key.path()]);
    let member = join_as_payer(server, "charge-room");
    let unix_now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let amount = Amount::parse("0.25").unwrap();
    let mac = ChargeKey::new(b"example-secret")
        .unwrap()
        .sign(amount, "7", unix_now);
    let charge = ChargeRequest {
        amount,
        token: ChargeToken {
            unix_ts: unix_now,
            mac: ChargeMac(mac),
        },
    }
    .to_string();
    member.send(charge.as_bytes()).unwrap();
    let credited = replies_until(&member, |r| {
        r.starts_with("OK:charged") || r.starts_with("ERR")
    });
    assert_eq!(
        credited.last().map(String::as_str),
        Some(r#"OK:charged:{"balance":"0.250000","amount":"0.250000"}"#)
    );
    member.send(charge.as_bytes()).unwrap();
    let replayed = replies_until(&member, |r| r.starts_with("ERR"));
    assert_eq!(replayed, ["ERR:replay_detected"]);

    let last = stop_relay(&mut child);
    assert_eq!(stat(&last, "charged"), 1, "{last}");
    assert_eq!(stat(&last, "charge_replayed"), 1, "{last}");
    assert_eq!(stat(&last, "charge_invalid_token"), 0, "{last}");
}

/// One HTTP/1.1 request on its own connection: the status and the body.
fn http(server: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(server).expect("connect to the HTTP API");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: relay\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    read_response(&mut stream)
}

fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head");
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line in {head:?}"));
    (status, body.to_owned())
}

#[test]
fn osp_relay_serves_the_http_api_with_http() {
    let key = TempFile::new("osp-relay-http-charge-key", b"example-secret\n");
    let (mut child, mut stdout) =
        spawn_relay(&["--charge-key-file", key.path(), "--http", "127.0.0.1:0"]);
    let server = announced(&mut stdout, "osp-relay listening on ");
    let api = announced(&mut stdout, "osp-relay http on ");
    // A client that sends 1 byte of a 10-byte body and waits: it holds only its own thread,
    // so the JOIN over UDP and every request below are answered meanwhile.
    let mut stalled = TcpStream::connect(api).unwrap();
    stalled
        .write_all(b"POST /api/fingerprint HTTP/1.1\r\nContent-Length: 10\r\n\r\n{")
        .unwrap();
    let member = join_as_payer(server, "http-room");
    let unix_now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mac = ChargeKey::new(b"example-secret").unwrap().sign(
        Amount::parse("0.25").unwrap(),
        "7",
        unix_now,
    );
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    let charge = format!(r#"{{"device_id":"7","amount":"0.25","token":"{unix_now}:{hex}"}}"#);
    assert_eq!(
        http(api, "POST", "/api/wallet/charge", &charge),
        (
            200,
            r#"{"ok":true,"balance":"0.250000","charged":"0.250000"}"#.to_owned()
        )
    );
    assert_eq!(
        http(api, "POST", "/api/wallet/charge", &charge),
        (409, r#"{"ok":false,"error":"replay_detected"}"#.to_owned())
    );
    assert_eq!(http(api, "POST", "/api/wallet/charge", "{not json").0, 400);
    assert_eq!(http(api, "GET", "/api/nothing", "").0, 404);
    assert_eq!(http(api, "PUT", "/api/fingerprint", "").0, 405);

    // A 1 MiB body is refused from its head: the answer comes without a byte of it sent.
    let mut oversize = TcpStream::connect(api).unwrap();
    oversize
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    oversize
        .write_all(b"POST /api/fingerprint HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut oversize).0, 413);
    for (head, status) in [
        ("Transfer-Encoding: chunked", 411),
        ("Content-Length: -1", 400),
    ] {
        let mut refused = TcpStream::connect(api).unwrap();
        refused
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write!(refused, "POST /api/fingerprint HTTP/1.1\r\n{head}\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut refused).0, status, "{head}");
    }

    let (status, members) = http(api, "GET", "/api/groups/http-room/members", "");
    assert_eq!(status, 200, "{members}");
    assert_eq!(
        members,
        r#"{"group":"http-room","members":[{"device_id":7,"device_name":"payer","role":"dj"}]}"#
    );
    let port = member.local_addr().unwrap().port().to_string();
    assert!(!members.contains(&port), "{members}");

    for (device, fingerprint) in [("ear-1", "0123456789abcdef"), ("ear-2", "0123456789abcd10")] {
        let report = format!(
            r#"{{"channel":"live","device_id":"{device}","fingerprint":"{fingerprint}","timestamp":{unix_now}}}"#
        );
        assert_eq!(
            http(api, "POST", "/api/fingerprint", &report),
            (200, r#"{"ok":true}"#.to_owned())
        );
    }

    // Still waiting for its body (a server that served it first would have closed it at its
    // 5 s timeout before answering anyone else).
    stalled.set_nonblocking(true).unwrap();
    let pending = stalled.read(&mut [0; 64]).map_err(|e| e.kind());
    assert_eq!(pending, Err(std::io::ErrorKind::WouldBlock));
    drop(stalled);
    let last = stop_relay(&mut child);
    assert_eq!(stat(&last, "charged"), 1, "{last}");
    assert_eq!(stat(&last, "charge_replayed"), 1, "{last}");
    assert_eq!(stat(&last, "charge_invalid_format"), 1, "{last}");
    assert_eq!(stat(&last, "fingerprint_accepted"), 2, "{last}");
}

#[test]
fn osp_relay_fails_to_start_with_one_line_and_status_2() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let taken_tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_tcp = taken_tcp.local_addr().unwrap().to_string();
    let empty = TempFile::new("osp-relay-empty-charge-key", b"\n");
    let missing = format!("{}.missing", empty.path());
    let cases: [(&[&str], &str); 8] = [
        (&[], "--listen is required"),
        (&["--listen", "not-an-address"], "--listen needs IP:PORT"),
        (
            &["--listen", "127.0.0.1:0", "--max-groups", "many"],
            "--max-groups needs a whole number",
        ),
        (&["--listen", &taken], "cannot listen on"),
        (
            &["--listen", "127.0.0.1:0", "--http", "localhost"],
            "--http needs IP:PORT",
        ),
        (
            &["--listen", "127.0.0.1:0", "--http", &taken_tcp],
            "cannot serve HTTP on",
        ),
        (
            &["--listen", "127.0.0.1:0", "--charge-key-file", &missing],
            "cannot read the charge key file",
        ),
        (
            &["--listen", "127.0.0.1:0", "--charge-key-file", empty.path()],
            "is empty",
        ),
    ];
    for (args, why) in cases {
        let output = Command::new(bundled("osp-relay"))
            .args(args)
            .output()
            .expect("run osp-relay");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("osp-relay: ") && stderr.contains(why),
            "{args:?}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}
