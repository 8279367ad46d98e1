//! The member's side of rendezvous, sans-IO: joins the group, keeps the membership alive,
//! registers its candidates, re-joins when the server falls silent, leaves on close, and turns
//! the server's replies into [`Reply`]s for the caller (the JOIN bookkeeping kept back, and
//! `YOUR_ADDR`/`SESSION` only when they change).
//!
//! Driven like every state machine of this crate: after each [`Client::handle_input`],
//! [`Client::handle_timeout`] or command, drain [`Client::poll_transmit`] and
//! [`Client::poll_event`], then wait until [`Client::poll_timeout`].
//!
//! The server never answers `HELLO`, so silence is the only sign that it restarted or that
//! the path to it broke: after [`REJOIN_AFTER`] without a datagram from it the client sends
//! `JOIN` again, retrying like the first JOIN (1 s doubling to [`HELLO_INTERVAL`]). The server answers a member's re-JOIN with
//! the whole reply sequence, which also refreshes `YOUR_ADDR` (a NAT that changed our mapping
//! shows up as a [`Reply::YourAddr`]) and re-announces every member's candidates.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use super::{
    Candidate, Command, Credentials, ErrorCode, HELLO_INTERVAL, Join, MAX_CANDIDATES, ParseError,
    Reply, STALE_AFTER, SessionToken,
};
use crate::time::Instant;

/// First JOIN retry; doubles up to [`HELLO_INTERVAL`].
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Silence from the server after which a joined member sends `JOIN` again.
pub const REJOIN_AFTER: Duration = STALE_AFTER;
/// After the server refuses a JOIN (`ERR:`), the next attempt waits this long: the group may
/// empty or the user fix the secret, but hammering the server helps nobody.
pub const RETRY_REFUSED: Duration = Duration::from_secs(30);

/// Who joins where.
#[derive(Clone, Debug)]
pub struct Config {
    /// The room server.
    pub server: SocketAddr,
    /// Group name and verifier, from the room secret.
    pub credentials: Credentials,
    /// A name for people to read (no `:`, at most [`super::MAX_NAME`] bytes).
    pub device_name: String,
    /// Our OSP user id.
    pub device_id: u32,
}

/// A [`Config`] that cannot be written into a JOIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("device name must be at most 64 bytes without ':' or control characters")]
pub struct ConfigError;

/// A datagram to send: `len` bytes of the caller's buffer, to `destination` (the server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where.
    pub destination: SocketAddr,
    /// Bytes written.
    pub len: usize,
}

/// What the client did and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// JOINs sent (first, retries and re-joins).
    pub joins_sent: u64,
    /// HELLOs sent.
    pub hellos_sent: u64,
    /// Replies from the server that parsed.
    pub replies: u64,
    /// Datagrams fed in from an address other than the server's: dropped (a forged `PEER:`
    /// must never become a hint).
    pub not_from_server: u64,
    /// Datagrams from the server that did not parse.
    pub malformed: u64,
    /// Dialect replies from the server we do not act on (`META:`, `MAXDELAY:`, ...).
    pub ignored: u64,
    /// Candidates beyond [`MAX_CANDIDATES`] the caller offered: not registered.
    pub candidates_dropped: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Sending JOIN until `OK:joined`.
    Joining,
    /// A member; HELLO keeps it so.
    Joined,
    /// Closed: LEAVE sent, nothing more.
    Closed,
}

#[derive(Clone, Copy, Debug)]
enum Outgoing {
    Join,
    Hello,
    Leave,
    Cand(Candidate),
}

/// A member's rendezvous client.
#[derive(Debug)]
pub struct Client {
    config: Config,
    state: State,
    candidates: Vec<Candidate>,
    outbox: VecDeque<Outgoing>,
    events: VecDeque<Reply>,
    /// Joining: when the next JOIN goes. Joined: the earliest a re-JOIN may go.
    next_join: Instant,
    retry: Duration,
    next_hello: Instant,
    last_heard: Instant,
    your_addr: Option<SocketAddr>,
    session: Option<SessionToken>,
    stats: Stats,
}

impl Client {
    /// A client that sends its first JOIN at `now`.
    ///
    /// # Errors
    /// [`ConfigError`] if the device name cannot travel in a JOIN.
    pub fn new(config: Config, now: Instant) -> Result<Self, ConfigError> {
        let join = Join {
            group: config.credentials.group(),
            password: config.credentials.verifier(),
            device_name: &config.device_name,
            device_id: Some(config.device_id),
        };
        if !join.is_valid() {
            return Err(ConfigError);
        }
        Ok(Self {
            config,
            state: State::Joining,
            candidates: Vec::with_capacity(MAX_CANDIDATES),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            next_join: now,
            retry: FIRST_RETRY,
            next_hello: Instant::MAX,
            last_heard: now,
            your_addr: None,
            session: None,
            stats: Stats::default(),
        })
    }

    /// The room server's address.
    pub fn server(&self) -> SocketAddr {
        self.config.server
    }

    /// Whether the server has accepted us (and we have not closed).
    pub fn is_joined(&self) -> bool {
        self.state == State::Joined
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Our candidates: registered with the server now if joined, else after `OK:joined`.
    /// Only the first [`MAX_CANDIDATES`] count (the server keeps no more); the rest are
    /// counted in [`Stats::candidates_dropped`].
    pub fn set_candidates(&mut self, candidates: &[Candidate]) {
        let kept = candidates.len().min(MAX_CANDIDATES);
        self.stats.candidates_dropped += (candidates.len() - kept) as u64;
        for &candidate in &candidates[..kept] {
            if !self.candidates.contains(&candidate) && self.state == State::Joined {
                self.outbox.push_back(Outgoing::Cand(candidate));
            }
        }
        self.candidates.clear();
        self.candidates.extend_from_slice(&candidates[..kept]);
    }

    /// Feeds one datagram that arrived from `from`. Only the server's are looked at.
    pub fn handle_input(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        if from != self.config.server {
            self.stats.not_from_server += 1;
            return;
        }
        self.last_heard = now;
        let reply = match Reply::parse(data) {
            Ok(reply) => reply,
            Err(ParseError::Unknown) => {
                self.stats.ignored += 1;
                return;
            }
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        self.stats.replies += 1;
        match reply {
            Reply::Joined => {
                if self.state == State::Joining {
                    self.state = State::Joined;
                    self.events.push_back(Reply::Joined);
                    self.next_hello = now + HELLO_INTERVAL;
                }
                self.retry = FIRST_RETRY;
                // The server may have restarted and forgotten them; it ignores repeats.
                let candidates = self.candidates.iter().map(|&c| Outgoing::Cand(c));
                self.outbox.extend(candidates);
            }
            Reply::YourAddr(addr) => {
                if self.your_addr.replace(addr) != Some(addr) {
                    self.events.push_back(Reply::YourAddr(addr));
                }
            }
            Reply::Session(token) => {
                if self.session.replace(token) != Some(token) {
                    self.events.push_back(Reply::Session(token));
                }
            }
            Reply::Role(role) => self.events.push_back(Reply::Role(role)),
            Reply::Mode(mode) => self.events.push_back(Reply::Mode(mode)),
            Reply::Peer(addr) => self.events.push_back(Reply::Peer(addr)),
            Reply::Cand {
                device_id,
                candidate,
            } => {
                if device_id != self.config.device_id {
                    self.events.push_back(Reply::Cand {
                        device_id,
                        candidate,
                    });
                }
            }
            // The client sends no CHARGE; whoever does (a member's app) gets the answer.
            Reply::Charged { .. } | Reply::Err(ErrorCode::Charge(_)) => {
                self.events.push_back(reply)
            }
            Reply::Err(code) => {
                self.events.push_back(Reply::Err(code));
                if self.state == State::Joining {
                    self.next_join = now + RETRY_REFUSED;
                }
            }
        }
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed => {}
            State::Joining => {
                if now >= self.next_join {
                    self.send_join(now);
                }
            }
            State::Joined => {
                if now >= self.rejoin_at() {
                    self.send_join(now);
                }
                if now >= self.next_hello {
                    self.outbox.push_back(Outgoing::Hello);
                    self.stats.hellos_sent += 1;
                    self.next_hello = now + HELLO_INTERVAL;
                }
            }
        }
    }

    /// The next instant [`Client::handle_timeout`] has work, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::Joining => Some(self.next_join),
            State::Joined => Some(self.rejoin_at().min(self.next_hello)),
        }
    }

    /// Leaves the group: queues `LEAVE` (once) and stops every timer.
    pub fn close(&mut self) {
        if self.state != State::Closed {
            self.outbox.clear();
            self.outbox.push_back(Outgoing::Leave);
            self.state = State::Closed;
        }
    }

    /// The next datagram, written into `buf` (cleared first).
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        let outgoing = self.outbox.pop_front()?;
        buf.clear();
        let command = match outgoing {
            Outgoing::Join => Command::Join(Join {
                group: self.config.credentials.group(),
                password: self.config.credentials.verifier(),
                device_name: &self.config.device_name,
                device_id: Some(self.config.device_id),
            }),
            Outgoing::Hello => Command::Hello,
            Outgoing::Leave => Command::Leave,
            Outgoing::Cand(candidate) => Command::Cand(candidate),
        };
        command.write(buf);
        Some(Transmit {
            destination: self.config.server,
            len: buf.len(),
        })
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Reply> {
        self.events.pop_front()
    }

    /// When a joined member re-joins: after [`REJOIN_AFTER`] of silence, and no sooner than
    /// the retry interval after the previous JOIN.
    fn rejoin_at(&self) -> Instant {
        (self.last_heard + REJOIN_AFTER).max(self.next_join)
    }

    fn send_join(&mut self, now: Instant) {
        self.outbox.push_back(Outgoing::Join);
        self.stats.joins_sent += 1;
        self.next_join = now + self.retry;
        self.retry = (self.retry * 2).min(HELLO_INTERVAL);
    }
}

#[cfg(test)]
mod tests;
