//! The servers a jam across the lab meets through, in its wan: coturn (STUN and TURN) and the
//! real `osp-relay` room server.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::Stdio;

use super::{Coturn, Lab, WAN_HOSTS};
use crate::support::{KillOnDrop, bundled};

/// coturn and the room server in the lab's wan; both stopped when dropped.
pub(crate) struct Servers {
    pub(crate) coturn: Coturn,
    /// Where `osp-relay` listens ([`WAN_HOSTS`]`[2]`, coturn has the first two).
    pub(crate) room: SocketAddr,
    _relay: KillOnDrop,
}

impl Servers {
    /// Starts coturn, then the bundled `osp-relay`, and waits until the relay says it listens.
    pub(crate) fn start(lab: &Lab) -> Self {
        let coturn = Coturn::start(lab);
        let room = SocketAddr::from((WAN_HOSTS[2], 5100));
        let mut command = lab
            .wan
            .command(bundled("osp-relay").to_str().expect("a UTF-8 path"));
        command
            .args(["--listen", &room.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut relay = lab.wan.spawn(command, "osp-relay");
        let mut line = String::new();
        let stdout = relay.0.stdout.take().expect("osp-relay's stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("osp-relay's first line");
        assert_eq!(line.trim(), format!("osp-relay listening on {room}"));
        Self {
            coturn,
            room,
            _relay: relay,
        }
    }
}
