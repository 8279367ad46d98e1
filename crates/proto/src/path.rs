//! How a peer is reached: a [`Path`] names the way datagrams go to (and come from) it, so the
//! peer and stream state machines never depend on whether that is a direct UDP address, a LAN
//! multicast group or a relay track.

use std::net::SocketAddr;

/// A relay track carrying one peer's datagrams (assigned by the relay layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelayTrack(pub u32);

/// Where a datagram goes or came from (ordered, so the endpoint can index peers by path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Path {
    /// A unicast UDP address (LAN, or the pair NAT traversal found).
    Direct(SocketAddr),
    /// A LAN multicast group: one send reaches every member; replies come from unicast sources.
    Multicast(SocketAddr),
    /// A relay track (QUIC/MoQ relay): the driver sends on the relay connection.
    Relay(RelayTrack),
}

/// Paths one peer may use at once: the active one and those still accepted during a switch.
pub const MAX_PATHS: usize = 4;

/// The paths of one peer: datagrams go out on `active`; they are accepted from any listed path,
/// so a stream keeps flowing while both sides move from one path to another (make before
/// break): packets already in flight on the old path still count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paths {
    active: Path,
    /// Older paths still accepted, newest first.
    accepted: [Option<Path>; MAX_PATHS - 1],
}

impl Paths {
    /// One path, active.
    pub fn new(active: Path) -> Self {
        Self {
            active,
            accepted: [None; MAX_PATHS - 1],
        }
    }

    /// Where datagrams go.
    pub fn active(&self) -> Path {
        self.active
    }

    /// Makes `path` active; the previous one stays accepted (the oldest is forgotten when more
    /// than [`MAX_PATHS`] are known).
    pub fn switch_to(&mut self, path: Path) {
        if path == self.active {
            return;
        }
        let previous = self.active;
        remove(&mut self.accepted, path);
        self.accepted.rotate_right(1);
        self.accepted[0] = Some(previous);
        self.active = path;
    }

    /// Accepts datagrams from `path` without sending on it yet: the first half of a switch, done
    /// before the far side starts sending there (the oldest accepted path is forgotten when
    /// more than [`MAX_PATHS`] are known).
    pub fn accept(&mut self, path: Path) {
        if self.accepts(path) {
            return;
        }
        self.accepted.rotate_right(1);
        self.accepted[0] = Some(path);
    }

    /// Stops accepting `path` (unless it is the active one).
    pub fn forget(&mut self, path: Path) {
        remove(&mut self.accepted, path);
    }

    /// Every accepted path, the active one first.
    pub fn iter(&self) -> impl Iterator<Item = Path> + '_ {
        std::iter::once(self.active).chain(self.accepted.iter().flatten().copied())
    }

    /// Whether a datagram arriving on `path` belongs to this peer.
    pub fn accepts(&self, path: Path) -> bool {
        path == self.active || self.accepted.contains(&Some(path))
    }
}

/// Removes `removed` from `list`, closing the gap so newest-first order holds.
fn remove(list: &mut [Option<Path>; MAX_PATHS - 1], removed: Path) {
    let mut kept = [None; MAX_PATHS - 1];
    for (slot, path) in kept
        .iter_mut()
        .zip(list.iter().flatten().filter(|p| **p != removed))
    {
        *slot = Some(*path);
    }
    *list = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(port: u16) -> Path {
        Path::Direct(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    #[test]
    fn switching_keeps_old_paths_accepted_up_to_the_limit() {
        let mut paths = Paths::new(direct(1));
        paths.switch_to(Path::Relay(RelayTrack(9)));
        assert_eq!(paths.active(), Path::Relay(RelayTrack(9)));
        assert!(paths.accepts(direct(1)));
        for port in 2..=5 {
            paths.switch_to(direct(port));
        }
        assert!(paths.accepts(direct(5)) && paths.accepts(direct(2)));
        assert!(paths.accepts(direct(3)) && paths.accepts(direct(4)));
        assert!(!paths.accepts(direct(1)), "the oldest is forgotten");
        assert!(!paths.accepts(Path::Relay(RelayTrack(9))));
        paths.switch_to(direct(3));
        assert_eq!(paths.active(), direct(3));
        assert!(paths.accepts(direct(5)));
        paths.forget(direct(5));
        assert!(!paths.accepts(direct(5)));
        paths.forget(direct(3));
        assert!(paths.accepts(direct(3)), "the active path stays");
    }

    #[test]
    fn accepting_a_path_does_not_send_on_it() {
        let mut paths = Paths::new(direct(1));
        paths.accept(Path::Relay(RelayTrack(2)));
        assert_eq!(paths.active(), direct(1));
        assert!(paths.accepts(Path::Relay(RelayTrack(2))));
        paths.accept(direct(1));
        paths.switch_to(Path::Relay(RelayTrack(2)));
        assert_eq!(paths.active(), Path::Relay(RelayTrack(2)));
        assert!(paths.accepts(direct(1)));
        for port in 3..=5 {
            paths.accept(direct(port));
        }
        assert!(!paths.accepts(direct(1)), "the oldest is forgotten");
        assert_eq!(paths.active(), Path::Relay(RelayTrack(2)));
    }
}
