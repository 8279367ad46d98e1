//! One direction of one link: what happens to each datagram (delay, jitter, loss, bursts,
//! reordering, duplication, rate limit), drawn from a seeded generator.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64Mcg;

/// How datagrams are lost.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Loss {
    /// Nothing is lost.
    #[default]
    None,
    /// Each datagram independently with this probability.
    Random(f64),
    /// Gilbert–Elliott two-state bursts: in the good state nothing is lost, in the bad state
    /// everything is. Per datagram the state moves good → bad with `enter_bad`, bad → good with
    /// `leave_bad`; mean burst length = 1 / `leave_bad`, long-run loss = p / (p + r).
    GilbertElliott {
        /// P(good → bad) per datagram.
        enter_bad: f64,
        /// P(bad → good) per datagram.
        leave_bad: f64,
    },
}

impl Loss {
    /// Gilbert–Elliott bursts with long-run loss `rate` and mean burst length `mean_burst`
    /// datagrams.
    pub fn bursts(rate: f64, mean_burst: f64) -> Self {
        let leave_bad = 1.0 / mean_burst;
        Self::GilbertElliott {
            enter_bad: rate * leave_bad / (1.0 - rate),
            leave_bad,
        }
    }
}

/// The impairments of one link direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Netem {
    /// Fixed one-way delay.
    pub latency: Duration,
    /// Jitter σ: each datagram's delay is `latency + |N(0, σ)|`.
    pub jitter: Duration,
    /// Loss model.
    pub loss: Loss,
    /// Probability that a datagram is held back by `reorder_delay` on top of its delay.
    pub reorder: f64,
    /// Extra delay of a reordered datagram.
    pub reorder_delay: Duration,
    /// Probability that a datagram is delivered twice (the copy with its own delay draw).
    pub duplicate: f64,
    /// Bottleneck rate in bit/s (serialisation delay and queueing); `None` = unlimited.
    pub rate: Option<u64>,
    /// Longest queueing delay the bottleneck holds before it drops (tail drop).
    pub queue_limit: Duration,
}

impl Default for Netem {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: Loss::None,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            duplicate: 0.0,
            rate: None,
            queue_limit: Duration::from_millis(200),
        }
    }
}

impl Netem {
    /// A link with this fixed one-way delay and nothing else.
    pub fn latency(latency: Duration) -> Self {
        Self {
            latency,
            ..Self::default()
        }
    }

    /// This link with jitter σ.
    pub fn with_jitter(self, sigma: Duration) -> Self {
        Self {
            jitter: sigma,
            ..self
        }
    }

    /// This link with a loss model.
    pub fn with_loss(self, loss: Loss) -> Self {
        Self { loss, ..self }
    }
}

/// What became of one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Lost by the loss model.
    Lost,
    /// Dropped at a full bottleneck queue.
    QueueDrop,
    /// Delivered after this delay (and, if duplicated, again after the second).
    Delivered(Duration, Option<Duration>),
}

/// The running state of one link direction: its generator, burst state and bottleneck.
#[derive(Clone, Debug)]
pub struct Link {
    config: Netem,
    rng: Pcg64Mcg,
    bad: bool,
    /// When the bottleneck finishes sending what it already holds.
    busy_until: Duration,
}

impl Link {
    /// A link direction drawing from `seed`.
    pub fn new(config: Netem, seed: u64) -> Self {
        Self {
            config,
            rng: Pcg64Mcg::seed_from_u64(seed),
            bad: false,
            busy_until: Duration::ZERO,
        }
    }

    /// The impairments.
    pub fn config(&self) -> Netem {
        self.config
    }

    /// Changes the impairments from now on (state and generator continue).
    pub fn set_config(&mut self, config: Netem) {
        self.config = config;
    }

    /// Decides the fate of a datagram of `len` bytes sent at `now`.
    pub fn transmit(&mut self, now: Duration, len: usize) -> Fate {
        let mut queueing = Duration::ZERO;
        if let Some(rate) = self.config.rate {
            let start = self.busy_until.max(now);
            queueing = start - now;
            if queueing > self.config.queue_limit {
                return Fate::QueueDrop;
            }
            let serialise = Duration::from_secs_f64(len as f64 * 8.0 / rate as f64);
            self.busy_until = start + serialise;
            queueing += serialise;
        }
        if self.lost() {
            return Fate::Lost;
        }
        let first = queueing + self.delay();
        let copy = self
            .rng
            .random_bool(self.config.duplicate.clamp(0.0, 1.0))
            .then(|| queueing + self.delay());
        Fate::Delivered(first, copy)
    }

    fn lost(&mut self) -> bool {
        match self.config.loss {
            Loss::None => false,
            Loss::Random(p) => self.rng.random_bool(p.clamp(0.0, 1.0)),
            Loss::GilbertElliott {
                enter_bad,
                leave_bad,
            } => {
                let flip = if self.bad { leave_bad } else { enter_bad };
                if self.rng.random_bool(flip.clamp(0.0, 1.0)) {
                    self.bad = !self.bad;
                }
                self.bad
            }
        }
    }

    fn delay(&mut self) -> Duration {
        let mut delay = self.config.latency;
        if !self.config.jitter.is_zero() {
            let sigma = self.config.jitter.as_secs_f64();
            // σ > 0 and finite, so the distribution exists.
            let normal = Normal::new(0.0, sigma).expect("finite positive sigma");
            delay += Duration::from_secs_f64(normal.sample(&mut self.rng).abs());
        }
        if self.config.reorder > 0.0 && self.rng.random_bool(self.config.reorder.clamp(0.0, 1.0)) {
            delay += self.config.reorder_delay;
        }
        delay
    }
}
