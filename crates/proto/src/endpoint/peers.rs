//! The peer table: every remote member under a stable [`PeerId`], found by id, by the path a
//! datagram came on, or by user id, in O(log n) and in a deterministic order.
//!
//! Ids never move or get reused while the endpoint lives, so a handler may hold one across
//! calls that add or remove other peers. The table owns the two indexes (path -> id, user id ->
//! id); a peer's paths and user id change only through it, so the indexes cannot go stale.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::link::Peer;
use crate::path::{Path, Paths};

/// A peer's handle, stable for the endpoint's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct PeerId(u64);

/// Every peer, with its path and user-id indexes.
#[derive(Debug, Default)]
pub(super) struct Peers {
    peers: BTreeMap<PeerId, Peer>,
    by_path: BTreeMap<Path, PeerId>,
    by_user: BTreeMap<u32, PeerId>,
    next: u64,
}

impl Peers {
    /// Adds `peer` under a fresh id, indexing its paths and user id (a path or id another peer
    /// already holds stays with that peer).
    pub(super) fn insert(&mut self, peer: Peer) -> PeerId {
        let id = PeerId(self.next);
        self.next += 1;
        let paths = peer.paths;
        let user_id = peer.user_id;
        self.peers.insert(id, peer);
        self.index_paths(id, &paths);
        if let Some(user_id) = user_id {
            self.by_user.entry(user_id).or_insert(id);
        }
        id
    }

    /// Removes a peer and its index entries.
    pub(super) fn remove(&mut self, id: PeerId) -> Option<Peer> {
        let peer = self.peers.remove(&id)?;
        self.unindex_paths(id, &peer.paths);
        if let Some(user_id) = peer.user_id
            && self.by_user.get(&user_id) == Some(&id)
        {
            self.by_user.remove(&user_id);
        }
        Some(peer)
    }

    /// Sets a peer's user id (learnt from its Hello or proof).
    pub(super) fn set_user(&mut self, id: PeerId, user_id: u32) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.user_id == Some(user_id) {
            return;
        }
        if let Some(old) = peer.user_id.replace(user_id)
            && self.by_user.get(&old) == Some(&id)
        {
            self.by_user.remove(&old);
        }
        self.by_user.entry(user_id).or_insert(id);
    }

    /// Changes a peer's paths (switch, accept, forget) and re-indexes them.
    pub(super) fn update_paths(&mut self, id: PeerId, change: impl FnOnce(&mut Paths)) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let before = peer.paths;
        change(&mut peer.paths);
        let after = peer.paths;
        self.unindex_paths(id, &before);
        self.index_paths(id, &after);
    }

    pub(super) fn get(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(&id)
    }

    pub(super) fn get_mut(&mut self, id: PeerId) -> Option<&mut Peer> {
        self.peers.get_mut(&id)
    }

    /// The peer a datagram on `path` belongs to.
    pub(super) fn by_path(&self, path: Path) -> Option<PeerId> {
        self.by_path.get(&path).copied()
    }

    /// The peer with this user id.
    pub(super) fn by_user(&self, user_id: u32) -> Option<PeerId> {
        self.by_user.get(&user_id).copied()
    }

    /// The first id after `after` (the first of all for `None`), in id order: a cursor that
    /// stays valid while the caller adds and removes peers.
    pub(super) fn next_id(&self, after: Option<PeerId>) -> Option<PeerId> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.peers
            .range((start, Bound::Unbounded))
            .next()
            .map(|(id, _)| *id)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (PeerId, &Peer)> {
        self.peers.iter().map(|(id, peer)| (*id, peer))
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut Peer> {
        self.peers.values_mut()
    }

    pub(super) fn len(&self) -> usize {
        self.peers.len()
    }

    fn index_paths(&mut self, id: PeerId, paths: &Paths) {
        for path in paths.iter() {
            self.by_path.entry(path).or_insert(id);
        }
    }

    /// Drops `id`'s path entries; a path another peer also accepts passes to that peer.
    fn unindex_paths(&mut self, id: PeerId, paths: &Paths) {
        for path in paths.iter() {
            if self.by_path.get(&path) != Some(&id) {
                continue;
            }
            self.by_path.remove(&path);
            let heir = self
                .peers
                .iter()
                .find(|(other, peer)| **other != id && peer.paths.accepts(path));
            if let Some((heir, _)) = heir {
                self.by_path.insert(path, *heir);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::*;
    use crate::auth::Nonce;
    use crate::path::RelayTrack;
    use crate::time::Instant;

    fn direct(port: u16) -> Path {
        Path::Direct(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    fn peer(port: u16, user_id: Option<u32>) -> Peer {
        let now = Instant::from_micros(0);
        Peer::connecting(
            direct(port),
            user_id,
            now,
            Nonce([0; 32]),
            now,
            Duration::from_millis(20),
        )
    }

    #[test]
    fn ids_stay_put_and_indexes_follow_every_change() {
        let mut peers = Peers::default();
        let a = peers.insert(peer(1, Some(10)));
        let b = peers.insert(peer(2, None));
        let c = peers.insert(peer(3, Some(30)));
        assert_eq!(peers.remove(b).map(|p| p.paths.active()), Some(direct(2)));
        // Removing one peer moves no other: the ids a handler holds stay valid.
        assert_eq!(peers.by_path(direct(1)), Some(a));
        assert_eq!(peers.by_path(direct(3)), Some(c));
        assert_eq!(peers.by_path(direct(2)), None);
        assert_eq!(peers.by_user(30), Some(c));
        let d = peers.insert(peer(2, None));
        assert!(d > c, "ids are never reused");
        peers.set_user(d, 40);
        assert_eq!(peers.by_user(40), Some(d));
        peers.set_user(d, 41);
        assert_eq!((peers.by_user(40), peers.by_user(41)), (None, Some(d)));

        // A make-before-break switch: both paths route to the peer, then only the new one.
        let relay = Path::Relay(RelayTrack(7));
        peers.update_paths(a, |p| p.accept(relay));
        assert_eq!(
            (peers.by_path(relay), peers.by_path(direct(1))),
            (Some(a), Some(a))
        );
        peers.update_paths(a, |p| p.switch_to(relay));
        peers.update_paths(a, |p| p.forget(direct(1)));
        assert_eq!(
            (peers.by_path(relay), peers.by_path(direct(1))),
            (Some(a), None)
        );
        // Paths a switch pushes out of the peer's list leave the index too.
        for port in 100..104 {
            peers.update_paths(a, |p| p.switch_to(direct(port)));
        }
        assert_eq!(peers.by_path(relay), None);
        assert_eq!(peers.by_path(direct(103)), Some(a));

        // A path two peers accept goes to the other when its holder lets go of it.
        peers.update_paths(c, |p| p.accept(direct(103)));
        assert_eq!(peers.by_path(direct(103)), Some(a));
        peers.remove(a);
        assert_eq!(peers.by_path(direct(103)), Some(c));
        assert_eq!(peers.by_user(10), None);

        let mut order = Vec::new();
        let mut cursor = None;
        while let Some(id) = peers.next_id(cursor) {
            cursor = Some(id);
            order.push(id);
        }
        assert_eq!(order, vec![c, d]);
    }
}
