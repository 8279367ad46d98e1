//! The session's room-server membership ([`proto::rendezvous::client::Client`]) on the session's
//! socket: our candidates (the connectivity agent's, plus the address the server sees us at)
//! registered with the server as `CAND:` lines, every other member's `CAND:` handed to the
//! agent, `LEAVE` when the session leaves.
//!
//! The relay text dialect is not a kind of `proto::demux` (its first bytes fall in the
//! ChannelData range), so a datagram is the server's only when it comes from the server's
//! address *and* looks like dialect text; anything else from there (STUN, TURN on the same
//! host) goes on to the agent.

use std::net::SocketAddr;

use proto::connect::{self, Kind};
use proto::rendezvous::Reply;
use proto::rendezvous::client::{self, Client};
use proto::rendezvous::{self, CandidateKind, MAX_CANDIDATES};
use proto::time::Instant;

use super::Session;

/// What the session counts of its room membership.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoomStats {
    /// The server accepted our JOIN (first or after a refusal).
    pub joined: u64,
    /// The server refused something (`ERR:`).
    pub refused: u64,
    /// Other members' candidates handed to the agent.
    pub remote_candidates: u64,
    /// Where the server last saw us.
    pub your_addr: Option<SocketAddr>,
}

/// The room membership and what it registered.
#[derive(Debug)]
pub(super) struct Room {
    client: Client,
    /// Our candidates as registered (agent's first, then the server-reflexive one the room
    /// server reported).
    registered: Vec<rendezvous::Candidate>,
    /// The agent's candidates so far.
    gathered: Vec<connect::Candidate>,
    buf: Vec<u8>,
    stats: RoomStats,
}

impl Session {
    /// Joins the room on `config.server` through this session's socket: candidates are
    /// exchanged there (needs [`Session::enable_connect`] first to be of use).
    ///
    /// # Errors
    /// [`client::ConfigError`] if the device name cannot travel in a JOIN.
    pub fn enable_room(
        &mut self,
        now: Instant,
        config: client::Config,
    ) -> Result<(), client::ConfigError> {
        let client = Client::new(config, now)?;
        self.room = Some(Room {
            client,
            registered: Vec::new(),
            gathered: Vec::new(),
            buf: Vec::with_capacity(rendezvous::MAX_TEXT),
            stats: RoomStats::default(),
        });
        self.sync_room_candidates();
        Ok(())
    }

    /// The room membership's counters (`None` without a room server).
    pub fn room_stats(&self) -> Option<RoomStats> {
        self.room.as_ref().map(|room| room.stats)
    }

    /// Whether `data` from `from` is the room server's (and so handled here).
    pub(super) fn handle_room_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> bool {
        let Some(room) = &mut self.room else {
            return false;
        };
        if from != room.client.server() || !rendezvous::is_dialect(data) {
            return false;
        }
        room.client.handle_input(now, from, data);
        self.drain_room(now);
        true
    }

    /// The room's deadline, if it has one.
    pub(super) fn room_timeout(&self) -> Option<Instant> {
        self.room.as_ref()?.client.poll_timeout()
    }

    /// The room's deadline work, when due.
    pub(super) fn handle_room_timeout(&mut self, now: Instant) {
        if let Some(room) = &mut self.room
            && room.client.poll_timeout().is_some_and(|at| at <= now)
        {
            room.client.handle_timeout(now);
        }
        self.drain_room(now);
    }

    /// The room client's next datagram (to the server).
    pub(super) fn poll_room_transmit(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let room = self.room.as_mut()?;
        let transmit = room.client.poll_transmit(&mut room.buf)?;
        let out = buf.get_mut(..transmit.len)?;
        out.copy_from_slice(&room.buf[..transmit.len]);
        Some((transmit.destination, transmit.len))
    }

    /// Leaves the room (`LEAVE` goes with the next transmits).
    pub(super) fn close_room(&mut self) {
        if let Some(room) = &mut self.room {
            room.client.close();
        }
    }

    /// Registers with the server what the agent gathered since the last call.
    pub(super) fn sync_room_candidates(&mut self) {
        let Some(room) = &mut self.room else {
            return;
        };
        let mut changed = false;
        while let Some(candidate) = self.candidates.pop_front() {
            if !room.gathered.contains(&candidate) {
                room.gathered.push(candidate);
                changed = true;
            }
        }
        if changed {
            room.register();
        }
    }

    /// Takes the room client's events: members' candidates go to the agent, our address as
    /// the server sees it becomes a server-reflexive candidate.
    fn drain_room(&mut self, now: Instant) {
        let mut remote = Vec::new();
        if let Some(room) = &mut self.room {
            while let Some(event) = room.client.poll_event() {
                match event {
                    Reply::Joined => room.stats.joined += 1,
                    Reply::Err(_) => room.stats.refused += 1,
                    Reply::YourAddr(addr) => {
                        room.stats.your_addr = Some(addr);
                        room.register();
                    }
                    Reply::Cand {
                        device_id,
                        candidate,
                    } => {
                        room.stats.remote_candidates += 1;
                        remote.push((device_id, to_agent(candidate)));
                    }
                    // A member's address without its id: the agent pairs by user id, and the
                    // member's `CAND:` lines carry the same address. A jam sends no CHARGE, so
                    // an `OK:charged` is not for it.
                    Reply::Peer(_)
                    | Reply::Role(_)
                    | Reply::Session(_)
                    | Reply::Mode(_)
                    | Reply::Charged { .. } => {}
                }
            }
        }
        for (user_id, candidate) in remote {
            self.add_remote_candidate(now, user_id, candidate);
        }
    }
}

impl Room {
    /// Hands the server our candidates: the agent's (host, STUN, TURN) best first, then the
    /// address the room server sees us at if no STUN candidate has it already.
    fn register(&mut self) {
        let mut list: Vec<rendezvous::Candidate> =
            self.gathered.iter().map(|&c| to_room(c)).collect();
        if let Some(addr) = self.stats.your_addr
            && !list.iter().any(|c| c.addr == addr)
        {
            // Below the agent's STUN candidate (same kind, lower local preference).
            let priority = connect::candidate::priority(Kind::ServerReflexive, 65_534);
            list.push(rendezvous::Candidate {
                kind: CandidateKind::Srflx,
                priority,
                addr,
            });
        }
        list.sort_by_key(|c| std::cmp::Reverse(c.priority));
        // Relayed candidates rank last but must be registered: keep one in the server's
        // bounded list when there are more than it takes.
        if list.len() > MAX_CANDIDATES
            && let Some(relay) = list.iter().position(|c| c.kind == CandidateKind::Relay)
            && relay >= MAX_CANDIDATES
        {
            let relayed = list.remove(relay);
            list.insert(MAX_CANDIDATES - 1, relayed);
        }
        if list != self.registered {
            self.client.set_candidates(&list);
            self.registered = list;
        }
    }
}

/// A local candidate as the `CAND:` line carries it.
fn to_room(candidate: connect::Candidate) -> rendezvous::Candidate {
    let kind = match candidate.kind {
        Kind::Host => CandidateKind::Host,
        Kind::ServerReflexive | Kind::PeerReflexive => CandidateKind::Srflx,
        Kind::Relayed => CandidateKind::Relay,
    };
    rendezvous::Candidate {
        kind,
        priority: candidate.priority,
        addr: candidate.addr,
    }
}

/// A member's `CAND:` as the agent takes it.
fn to_agent(candidate: rendezvous::Candidate) -> connect::Candidate {
    let kind = match candidate.kind {
        CandidateKind::Host => Kind::Host,
        CandidateKind::Srflx => Kind::ServerReflexive,
        CandidateKind::Relay => Kind::Relayed,
    };
    connect::Candidate {
        kind,
        priority: candidate.priority,
        addr: candidate.addr,
    }
}
