//! The relay's HTTP API, sans-IO: [`Api::handle`] maps a request (method, path, body) to a
//! status and a JSON body; the `osp-relay` binary reads requests off its HTTP threads and
//! writes the answers (docs/protocol.md, "The HTTP API").
//!
//! - `POST /api/wallet/charge`: a signed top-up ([`crate::charge::http`]), 200/400/401/409/503.
//! - `POST /api/fingerprint`: a listener's report ([`crate::consensus::report`]); 200, 400 for
//!   a body or a timestamp that cannot count, 429 for a device past its rate, 503 when a table
//!   is full.
//! - `GET /api/fingerprint/<channel>`: the channel's verdict at the last evaluation, 404 if it
//!   had none.
//! - `GET /api/groups/<group>/members`: device id, name and role of each member, in join order;
//!   never addresses or session tokens (who plays is public to the API, where they are is not).
//!
//! Anything else is 404, a known path with another method 405. Bodies over [`MAX_BODY`] are
//! refused 413 by the caller before they are read whole.

use std::time::Duration;

use proto::time::Instant;
use serde_json::json;

use crate::Server;
use crate::consensus::{self, Consensus, Refusal, Report, Verdict};

/// Longest request body the API reads; longer ones are 413. Every body it takes is far
/// shorter (a charge at most 1 KiB, a report at most 4 KiB).
pub const MAX_BODY: usize = 16 * 1024;

/// An answer: status and JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// JSON text.
    pub body: String,
}

impl Response {
    fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            body: body.to_string(),
        }
    }

    /// `{"ok":false,"error":…}`, in the key order of the charge's refusals.
    fn error(status: u16, error: &str) -> Self {
        Self {
            status,
            body: format!(r#"{{"ok":false,"error":{}}}"#, json!(error)),
        }
    }

    /// 413, for a body over [`MAX_BODY`].
    pub fn too_large() -> Self {
        Self::error(413, "body_too_large")
    }
}

/// The time of a request: the relay's monotonic clock and the wall clock (since the Unix epoch)
/// at the same moment.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Monotonic (the [`Server`]'s time).
    pub now: Instant,
    /// Since the Unix epoch (charges' windows and fingerprint reports are in Unix time).
    pub unix: Duration,
}

/// The fingerprint consensus and what the API shows of it.
#[derive(Debug)]
pub struct Api {
    consensus: Consensus,
    /// The verdicts of the last evaluation, in channel order (at most one per channel held).
    verdicts: Vec<Verdict>,
}

impl Api {
    /// An API whose first consensus evaluation is one interval after `unix`.
    pub fn new(unix: Duration) -> Self {
        Self {
            consensus: Consensus::new(consensus::Config::default(), unix),
            verdicts: Vec::new(),
        }
    }

    /// The consensus (its counters).
    pub fn consensus(&self) -> &Consensus {
        &self.consensus
    }

    /// When [`Api::handle_timeout`] next has work (Unix time).
    pub fn poll_timeout(&self) -> Duration {
        self.consensus.poll_timeout()
    }

    /// Runs the consensus evaluation if it is due at `unix`; the verdicts it gave, empty when
    /// it was not due or found none.
    pub fn handle_timeout(&mut self, unix: Duration) -> &[Verdict] {
        if unix < self.consensus.poll_timeout() {
            return &[];
        }
        self.consensus.handle_timeout(unix);
        self.verdicts.clear();
        while let Some(verdict) = self.consensus.poll_verdict() {
            self.verdicts.push(verdict);
        }
        &self.verdicts
    }

    /// Answers one request.
    pub fn handle(
        &mut self,
        server: &mut Server,
        clock: Clock,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Response {
        if body.len() > MAX_BODY {
            return Response::too_large();
        }
        // The query string selects nothing here.
        let path = path.split_once('?').map_or(path, |(path, _)| path);
        let segments: Vec<&str> = path.split('/').collect();
        match (method, segments.as_slice()) {
            ("POST", ["", "api", "wallet", "charge"]) => {
                server.set_wall_clock(clock.now, clock.unix);
                let response = server.charge_http(clock.now, body);
                Response {
                    status: response.status,
                    body: response.body,
                }
            }
            ("POST", ["", "api", "fingerprint"]) => self.report(clock.unix, body),
            ("GET", ["", "api", "fingerprint", channel]) => self.verdict(channel),
            ("GET", ["", "api", "groups", group, "members"]) => members(server, group),
            (
                _,
                ["", "api", "wallet", "charge"]
                | ["", "api", "fingerprint"]
                | ["", "api", "fingerprint", _]
                | ["", "api", "groups", _, "members"],
            ) => Response::error(405, "method_not_allowed"),
            _ => Response::error(404, "not_found"),
        }
    }

    fn report(&mut self, unix: Duration, body: &[u8]) -> Response {
        let report = match Report::parse(body) {
            Ok(report) => report,
            Err(error) => return Response::error(400, &error.to_string()),
        };
        match self.consensus.handle_report(unix, &report) {
            Ok(()) => Response::json(200, &json!({ "ok": true })),
            Err(refusal) => {
                let (status, error) = match refusal {
                    Refusal::Expired => (400, "expired"),
                    Refusal::FromTheFuture => (400, "from_the_future"),
                    Refusal::RateLimited => (429, "rate_limited"),
                    Refusal::TooManyDevices => (503, "too_many_devices"),
                    Refusal::TooManyChannels => (503, "too_many_channels"),
                    Refusal::ChannelFull => (503, "channel_full"),
                };
                Response::error(status, error)
            }
        }
    }

    fn verdict(&self, channel: &str) -> Response {
        let channel = percent_decoded(channel);
        match self.verdicts.iter().find(|v| *v.channel == channel) {
            Some(verdict) => Response::json(
                200,
                &json!({
                    "channel": &*verdict.channel,
                    "fingerprint": format!("{:016x}", verdict.fingerprint),
                    "listeners": verdict.listeners,
                    "reports": verdict.reports,
                }),
            ),
            None => Response::error(404, "no_verdict"),
        }
    }
}

fn members(server: &Server, group: &str) -> Response {
    let group = percent_decoded(group);
    let Some(members) = server.members(&group) else {
        return Response::error(404, "no_such_group");
    };
    let members: Vec<_> = members
        .map(|member| {
            json!({
                "device_id": member.device_id,
                "device_name": member.device_name,
                "role": member.role.as_str(),
            })
        })
        .collect();
    Response::json(200, &json!({ "group": group, "members": members }))
}

/// A path segment with `%XX` escapes decoded (group and channel names may hold any
/// character); an escape that is not two hex digits, or bytes that are not UTF-8, stay as
/// they are (such a name then matches nothing). Written here because it is the one piece of
/// URL handling the API needs.
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).unwrap_or_else(|_| segment.to_owned())
}

pub mod serve;

#[cfg(test)]
mod tests;
