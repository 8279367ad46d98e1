//! coturn (STUN + TURN) in the lab's wan namespace, on two wan addresses and two ports each.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::stun;
use super::topology::{Lab, WAN_HOSTS};
use crate::support::{KillOnDrop, tempdir};

/// coturn's listening ports: the STUN/TURN port and the RFC 5780 alternate one it opens when it
/// has two addresses.
const PORTS: [u16; 2] = [3478, 3479];
/// Relayed ports coturn hands out.
pub(crate) const RELAY_PORTS: std::ops::RangeInclusive<u16> = 49_160..=49_200;
/// The long-term credential the tests use.
pub(crate) const USER: &str = "alice";
/// Its password.
pub(crate) const PASSWORD: &str = "secret";

/// A running coturn; stopped when dropped.
pub(crate) struct Coturn {
    /// Its four STUN/TURN sockets: two wan addresses × two ports.
    pub(crate) listening: [SocketAddr; 4],
    /// The address its relayed sockets are bound to.
    pub(crate) relay_ip: Ipv4Addr,
    log: PathBuf,
    process: KillOnDrop,
}

impl Coturn {
    /// Starts coturn in `lab`'s wan namespace on `WAN_HOSTS[0]` and `[1]` (relaying on the
    /// first) and waits until all four sockets answer a Binding request (bounded at 10 s); if
    /// coturn dies or stays silent, panics with one line and its log.
    pub(crate) fn start(lab: &Lab) -> Self {
        let dir = tempdir(&format!("coturn-{}", lab.wan.name()));
        let relay_ip = WAN_HOSTS[0];
        let config = format!(
            "listening-ip={a}\nlistening-ip={b}\nlistening-port={port}\nalt-listening-port={alt}\n\
             relay-ip={relay_ip}\nmin-port={min}\nmax-port={max}\n\
             realm=lab.test\nlt-cred-mech\nuser={USER}:{PASSWORD}\nfingerprint\n\
             no-tls\nno-dtls\nno-cli\nno-software-attribute\nlog-file=stdout\nsimple-log\nverbose\n\
             pidfile={dir}/turnserver.pid\nuserdb={dir}/turndb.sqlite\n",
            a = WAN_HOSTS[0],
            b = WAN_HOSTS[1],
            port = PORTS[0],
            alt = PORTS[1],
            min = RELAY_PORTS.start(),
            max = RELAY_PORTS.end(),
            dir = dir.display(),
        );
        let config_path = dir.join("turnserver.conf");
        std::fs::write(&config_path, config).expect("write turnserver.conf");
        let log = dir.join("turnserver.log");
        let mut command = lab.wan.command("turnserver");
        command
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("coturn log"))
            .stderr(Stdio::null());
        let process = lab.wan.spawn(command, "coturn (turnserver)");
        let listening = [
            (WAN_HOSTS[0], PORTS[0]),
            (WAN_HOSTS[0], PORTS[1]),
            (WAN_HOSTS[1], PORTS[0]),
            (WAN_HOSTS[1], PORTS[1]),
        ]
        .map(|(ip, port)| SocketAddr::V4(SocketAddrV4::new(ip, port)));
        let mut coturn = Self {
            listening,
            relay_ip,
            log,
            process,
        };
        coturn.wait_ready(lab);
        coturn
    }

    fn wait_ready(&mut self, lab: &Lab) {
        let probe = lab
            .wan
            .udp_socket(SocketAddr::V4(SocketAddrV4::new(WAN_HOSTS[3], 0)));
        let start = Instant::now();
        let mut ready = 0;
        while ready < self.listening.len() {
            if let Ok(Some(status)) = self.process.0.try_wait() {
                panic!(
                    "natlab: coturn exited ({status}) before serving; its log:\n{}",
                    self.log_text()
                );
            }
            let server = self.listening[ready];
            if stun::mapped_address(&probe, server, Duration::from_millis(400)).is_ok() {
                ready += 1;
                continue;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "natlab: coturn did not answer on {server} within 10 s; its log:\n{}",
                self.log_text()
            );
        }
    }

    /// What coturn has logged so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
