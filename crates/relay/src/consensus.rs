//! Listener fingerprint consensus, sans-IO (docs/fingerprint.md): which music a channel is
//! playing, agreed by at least two distinct listeners.
//!
//! Feed each parsed [`Report`] with [`Consensus::handle_report`] and the relay's wall clock
//! (`now`, since the Unix epoch: reports carry Unix timestamps); it answers accepted or the
//! [`Refusal`], and counts either way, so nothing is dropped silently. Call
//! [`Consensus::handle_timeout`] when [`Consensus::poll_timeout`] passes (every 10 s): it
//! prunes reports older than the retention by their own timestamps and evaluates every
//! channel; then drain [`Consensus::poll_verdict`].
//!
//! Evaluation: for each report r of a channel, the reports within Hamming distance 8 of r
//! (r included) form r's cluster, and the cluster's weight is the number of distinct devices
//! in it, whatever the number of reports each sent. The heaviest cluster (on a tie, the one
//! around the newest report) is the channel's verdict when it has at least 2 listeners.
//!
//! Memory is bounded: channels, reports per channel and rate-limited devices are capped
//! ([`Config`]); what a full table refuses is counted by reason.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

pub mod report;

pub use report::{Report, ReportError};

/// Limits, windows and thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Reports older than this (by their own timestamp) are pruned, and refused on arrival.
    pub retention: Duration,
    /// Reports timestamped further than this in the future are refused: a listener clock
    /// that runs ahead must not keep its reports alive past the retention.
    pub max_clock_ahead: Duration,
    /// Fingerprints at most this many bits apart are the same music.
    pub max_distance: u32,
    /// Distinct listeners a cluster needs for a verdict.
    pub min_listeners: usize,
    /// How often channels are evaluated.
    pub evaluation_interval: Duration,
    /// Reports one device may have accepted within [`Config::rate_window`]. The default
    /// (130 an hour) takes a listener on the 30 s period (120 an hour) with room for a
    /// restart's extra report, and stops a device that reports faster.
    pub max_reports_per_device: usize,
    /// The sliding window of the rate limit.
    pub rate_window: Duration,
    /// Devices whose rate is tracked at once (those with a report accepted within the window).
    pub max_devices: usize,
    /// Channels held at once.
    pub max_channels: usize,
    /// Reports one channel holds at once.
    pub max_reports_per_channel: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(60),
            max_clock_ahead: Duration::from_secs(30),
            max_distance: 8,
            min_listeners: 2,
            evaluation_interval: Duration::from_secs(10),
            max_reports_per_device: 130,
            rate_window: Duration::from_secs(3_600),
            max_devices: 4_096,
            max_channels: 1_024,
            max_reports_per_channel: 1_024,
        }
    }
}

/// Why a report was not taken. Each is counted in [`Counters`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Timestamped more than the retention before `now`.
    Expired,
    /// Timestamped more than [`Config::max_clock_ahead`] after `now`.
    FromTheFuture,
    /// The device already had [`Config::max_reports_per_device`] accepted within the window.
    RateLimited,
    /// A new device while [`Config::max_devices`] are tracked.
    TooManyDevices,
    /// A new channel while [`Config::max_channels`] are held.
    TooManyChannels,
    /// The channel holds [`Config::max_reports_per_channel`] reports.
    ChannelFull,
}

/// A channel's consensus at one evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The channel.
    pub channel: Box<str>,
    /// The fingerprint at the cluster's centre.
    pub fingerprint: u64,
    /// Distinct devices in the cluster.
    pub listeners: usize,
    /// Reports in the cluster (a device may have sent several).
    pub reports: usize,
}

/// What happened to reports, by reason, since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Reports taken.
    pub accepted: u64,
    /// [`Refusal::Expired`].
    pub expired: u64,
    /// [`Refusal::FromTheFuture`].
    pub from_the_future: u64,
    /// [`Refusal::RateLimited`].
    pub rate_limited: u64,
    /// [`Refusal::TooManyDevices`].
    pub too_many_devices: u64,
    /// [`Refusal::TooManyChannels`].
    pub too_many_channels: u64,
    /// [`Refusal::ChannelFull`].
    pub channel_full: u64,
    /// Reports pruned once older than the retention.
    pub pruned: u64,
    /// Evaluation rounds run.
    pub evaluations: u64,
    /// Verdicts given.
    pub verdicts: u64,
}

/// One stored report.
#[derive(Debug)]
struct Stored {
    device_id: Box<str>,
    fingerprint: u64,
    timestamp: Duration,
}

/// The fingerprint consensus of every channel.
#[derive(Debug)]
pub struct Consensus {
    config: Config,
    channels: HashMap<Box<str>, Vec<Stored>>,
    /// Per device, the relay's clock at each report accepted within the rate window, oldest
    /// first (at most [`Config::max_reports_per_device`]).
    accepted_at: HashMap<Box<str>, VecDeque<Duration>>,
    next_evaluation: Duration,
    verdicts: VecDeque<Verdict>,
    counters: Counters,
}

impl Consensus {
    /// Empty, with the first evaluation one interval after `now`.
    pub fn new(config: Config, now: Duration) -> Self {
        Self {
            config,
            channels: HashMap::new(),
            accepted_at: HashMap::new(),
            next_evaluation: now.saturating_add(config.evaluation_interval),
            verdicts: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    /// Counts since start.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Reports held across all channels.
    pub fn report_count(&self) -> usize {
        self.channels.values().map(Vec::len).sum()
    }

    /// Channels held.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Takes one report at `now` (the relay's clock, since the Unix epoch), or says why not.
    pub fn handle_report(&mut self, now: Duration, report: &Report) -> Result<(), Refusal> {
        let refusal = self.admit(now, report);
        let counter = match refusal {
            Ok(()) => &mut self.counters.accepted,
            Err(Refusal::Expired) => &mut self.counters.expired,
            Err(Refusal::FromTheFuture) => &mut self.counters.from_the_future,
            Err(Refusal::RateLimited) => &mut self.counters.rate_limited,
            Err(Refusal::TooManyDevices) => &mut self.counters.too_many_devices,
            Err(Refusal::TooManyChannels) => &mut self.counters.too_many_channels,
            Err(Refusal::ChannelFull) => &mut self.counters.channel_full,
        };
        *counter += 1;
        refusal
    }

    fn admit(&mut self, now: Duration, report: &Report) -> Result<(), Refusal> {
        let config = self.config;
        if report.timestamp.saturating_add(config.retention) < now {
            return Err(Refusal::Expired);
        }
        if report.timestamp > now.saturating_add(config.max_clock_ahead) {
            return Err(Refusal::FromTheFuture);
        }
        let tracked = self.accepted_at.len();
        match self.accepted_at.get_mut(&report.device_id) {
            Some(times) => {
                forget_before(times, now, config.rate_window);
                if times.len() >= config.max_reports_per_device {
                    return Err(Refusal::RateLimited);
                }
            }
            None if tracked >= config.max_devices => return Err(Refusal::TooManyDevices),
            None => {}
        }
        let channel = self.channels.get(&report.channel);
        match channel {
            None if self.channels.len() >= config.max_channels => {
                return Err(Refusal::TooManyChannels);
            }
            Some(reports) if reports.len() >= config.max_reports_per_channel => {
                return Err(Refusal::ChannelFull);
            }
            _ => {}
        }
        self.accepted_at
            .entry(report.device_id.clone())
            .or_default()
            .push_back(now);
        self.channels
            .entry(report.channel.clone())
            .or_default()
            .push(Stored {
                device_id: report.device_id.clone(),
                fingerprint: report.fingerprint,
                timestamp: report.timestamp,
            });
        Ok(())
    }

    /// When [`Consensus::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Duration {
        self.next_evaluation
    }

    /// Prunes and evaluates every channel if the evaluation is due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        if now < self.next_evaluation {
            return;
        }
        self.next_evaluation = now.saturating_add(self.config.evaluation_interval);
        self.prune(now);
        self.counters.evaluations += 1;
        let mut channels: Vec<&Box<str>> = self.channels.keys().collect();
        // Verdicts come out in channel order, whatever the map's order.
        channels.sort_unstable();
        for channel in channels {
            let reports = &self.channels[channel];
            if let Some((centre, listeners, count)) =
                best_cluster(reports, self.config.max_distance)
                && listeners >= self.config.min_listeners
            {
                self.counters.verdicts += 1;
                self.verdicts.push_back(Verdict {
                    channel: channel.clone(),
                    fingerprint: reports[centre].fingerprint,
                    listeners,
                    reports: count,
                });
            }
        }
    }

    /// The next verdict of the last evaluation.
    pub fn poll_verdict(&mut self) -> Option<Verdict> {
        self.verdicts.pop_front()
    }

    /// Drops reports past the retention, empty channels and devices with nothing left in
    /// their rate window.
    fn prune(&mut self, now: Duration) {
        let Config {
            retention,
            rate_window,
            ..
        } = self.config;
        for reports in self.channels.values_mut() {
            let before = reports.len();
            reports.retain(|r| r.timestamp.saturating_add(retention) >= now);
            self.counters.pruned += (before - reports.len()) as u64;
        }
        self.channels.retain(|_, reports| !reports.is_empty());
        self.accepted_at.retain(|_, times| {
            forget_before(times, now, rate_window);
            !times.is_empty()
        });
    }
}

/// Drops the acceptance times that have left the rate window at `now`.
fn forget_before(times: &mut VecDeque<Duration>, now: Duration, window: Duration) {
    while times
        .front()
        .is_some_and(|&t| t.saturating_add(window) <= now)
    {
        times.pop_front();
    }
}

/// The heaviest cluster of `reports`: its centre's index, its distinct devices and its
/// reports. Quadratic in the reports of one channel, which [`Config::max_reports_per_channel`]
/// bounds.
fn best_cluster(reports: &[Stored], max_distance: u32) -> Option<(usize, usize, usize)> {
    // Devices as small integers, so a cluster's distinct devices are counted with one mark
    // per device instead of a set per cluster.
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let device_of: Vec<usize> = reports
        .iter()
        .map(|r| {
            let next = ids.len();
            *ids.entry(&r.device_id).or_insert(next)
        })
        .collect();
    let mut marked_for = vec![usize::MAX; ids.len()];
    let mut best: Option<(usize, usize, usize)> = None;
    for (centre, r) in reports.iter().enumerate() {
        let (mut listeners, mut count) = (0, 0);
        for (other, device) in reports.iter().zip(&device_of) {
            if (r.fingerprint ^ other.fingerprint).count_ones() > max_distance {
                continue;
            }
            count += 1;
            if marked_for[*device] != centre {
                marked_for[*device] = centre;
                listeners += 1;
            }
        }
        let better = best.is_none_or(|(best_centre, best_listeners, _)| {
            (listeners, r.timestamp) > (best_listeners, reports[best_centre].timestamp)
        });
        if better {
            best = Some((centre, listeners, count));
        }
    }
    best
}

/// One body through the parser and, when it parses, through a consensus at the report's own
/// time and an evaluation: the entry a fuzz target calls. Never panics on any input.
pub fn fuzz_report_body(body: &[u8]) -> Option<Verdict> {
    let report = Report::parse(body).ok()?;
    let mut consensus = Consensus::new(Config::default(), report.timestamp);
    consensus.handle_report(report.timestamp, &report).ok()?;
    consensus.handle_report(report.timestamp, &report).ok()?;
    consensus.handle_timeout(consensus.poll_timeout());
    consensus.poll_verdict()
}

#[cfg(test)]
mod tests;
