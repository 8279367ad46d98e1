//! The session's connectivity agent ([`proto::connect::Agent`]) beside its endpoint, on the same
//! socket: STUN and TURN go to the agent, everything else (and what the TURN server relays) to
//! the endpoint; the endpoint's datagrams to a peer whose selected pair runs through our TURN
//! allocation leave as ChannelData; a selected pair becomes the endpoint's path to that peer.
//!
//! The endpoint knows a peer by `Path::Direct(address)`: the peer's address on the selected
//! pair, whether it is reached straight or through our relay (the relay's peer address).

use std::net::SocketAddr;
use std::ops::Range;

use proto::connect::{self, Agent, Candidate, PathKind, Received, Route};
use proto::endpoint::{Command, Input};
use proto::path::Path;
use proto::time::Instant;

use super::Session;

impl Session {
    /// Runs connectivity checks on this session's socket: gathering starts at the next
    /// timeout, candidates to announce come out of [`Session::poll_candidate`].
    pub fn enable_connect(&mut self, config: connect::Config) {
        self.connect = Some(Agent::new(config));
    }

    /// A peer's candidate from the room (`CAND:` line).
    pub fn add_remote_candidate(&mut self, now: Instant, user_id: u32, candidate: Candidate) {
        if let Some(agent) = &mut self.connect {
            agent.add_remote_candidate(now, user_id, candidate);
        }
        self.drain_connect(now);
    }

    /// The next local candidate to announce to the room (with a room server configured,
    /// [`Session::enable_room`], the session registers them itself and none come out here).
    pub fn poll_candidate(&mut self) -> Option<Candidate> {
        self.candidates.pop_front()
    }

    /// `direct` or `turn` for a peer whose pair the agent selected.
    pub fn path_kind(&self, user_id: u32) -> Option<PathKind> {
        Some(self.connect.as_ref()?.selected(user_id)?.kind)
    }

    /// Pairs selected for a peer so far (1 once connected, one more per path change).
    pub fn path_selections(&self, user_id: u32) -> u64 {
        self.connect.as_ref().map_or(0, |a| a.selections(user_id))
    }

    /// The agent's deadline, if it has one.
    pub(super) fn connect_timeout(&self) -> Option<Instant> {
        self.connect.as_ref()?.poll_timeout()
    }

    /// The agent's deadline work, when due.
    pub(super) fn handle_connect_timeout(&mut self, now: Instant) {
        if let Some(agent) = &mut self.connect
            && agent.poll_timeout().is_some_and(|at| at <= now)
        {
            agent.handle_timeout(now);
        }
        self.drain_connect(now);
    }

    /// Offers a datagram to the agent; when it is the endpoint's, returns the path it came on
    /// and its payload, a slice of `data`. `None`: the agent consumed it.
    pub(super) fn route_inbound<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &'a [u8],
    ) -> Option<(Path, &'a [u8])> {
        // Only called with an agent (without one, datagrams go straight to the endpoint).
        let agent = self.connect.as_mut()?;
        let inbound = match agent.handle_datagram(now, from, data) {
            Received::Handled => None,
            Received::Payload { route, data } => Some((route, data)),
        };
        if let Some((route, _)) = inbound
            && let Some(user_id) = agent.peer_on(route)
        {
            agent.handle_heard(now, user_id);
        }
        self.drain_connect(now);
        let (Route::Direct(addr) | Route::Relayed(addr), payload) = inbound?;
        Some((Path::Direct(addr), payload))
    }

    /// The agent's next datagram (checks, TURN requests).
    pub(super) fn poll_connect_transmit(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let transmit = self.connect.as_mut()?.poll_transmit(buf)?;
        Some((transmit.dest, transmit.len))
    }

    /// Where the endpoint writes its datagrams in the caller's buffer: behind room for a
    /// ChannelData header when an agent may relay them.
    pub(super) fn headroom(&self) -> usize {
        if self.connect.is_some() {
            connect::HEADROOM
        } else {
            0
        }
    }

    /// Frames the endpoint's datagram to `dest` (already in `buf[headroom..][..len]`) for its
    /// peer's route, where it lies: unchanged when direct, behind a ChannelData header to the
    /// TURN server when relayed. Returns where to send which bytes of `buf`.
    pub(super) fn frame_outbound(
        &mut self,
        dest: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Option<(SocketAddr, Range<usize>)> {
        let Some(agent) = &mut self.connect else {
            return Some((dest, 0..len));
        };
        let relayed = Route::Relayed(dest);
        let route = if agent.peer_on(relayed).is_some() {
            relayed
        } else {
            Route::Direct(dest)
        };
        let framed = agent.frame(route, buf, len)?;
        Some((framed.dest, framed.range))
    }

    /// Takes the agent's events: candidates queue for the room, a selected pair becomes the
    /// endpoint's path to its peer (the peer is called if the endpoint does not know it yet).
    fn drain_connect(&mut self, now: Instant) {
        let mut selected = Vec::new();
        if let Some(agent) = &mut self.connect {
            while let Some(event) = agent.poll_event() {
                match event {
                    connect::Event::Candidate(candidate) => self.candidates.push_back(candidate),
                    connect::Event::Selected {
                        user_id,
                        selected: pair,
                    } => {
                        selected.push((user_id, Path::Direct(pair.remote.addr)));
                    }
                    // Counted in the agent's own statistics; checks already run again.
                    connect::Event::Lost { .. }
                    | connect::Event::StunFailed
                    | connect::Event::TurnFailed { .. } => {}
                }
            }
        }
        for (user_id, path) in selected {
            let known = self.endpoint.peer_state(user_id).is_some();
            let commands = if known {
                [
                    Some(Command::AcceptPath { user_id, path }),
                    Some(Command::SetPath { user_id, path }),
                ]
            } else {
                [
                    Some(Command::AddPeer {
                        path,
                        user_id: Some(user_id),
                    }),
                    None,
                ]
            };
            for command in commands.into_iter().flatten() {
                self.handle(now, Input::Command(command));
            }
        }
        self.sync_room_candidates();
    }
}
