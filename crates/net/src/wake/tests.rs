//! The pacer against a simulated audio callback on virtual time: how often it looks and how
//! long a packet waits for its look.

use super::*;

const BLOCK: u64 = 64;
const FALLBACK: Duration = Duration::from_micros(250);

fn ticks(n: u64) -> Duration {
    Duration::from_nanos((n as f64 * TICK_NANOS).round() as u64)
}

/// An audio callback every `BLOCK` ticks, handing over packets of `frame` ticks; callback `k`
/// publishes at `start + k * BLOCK ticks + offset(k)`.
struct Audio {
    frame: u64,
    start: Duration,
    offset: Box<dyn Fn(u64) -> Duration>,
}

impl Audio {
    fn new(frame: u64) -> Self {
        Self {
            frame,
            start: Duration::from_micros(3_217),
            offset: Box::new(|_| Duration::from_micros(80)),
        }
    }

    fn handover(&self, k: u64) -> Duration {
        self.start + ticks(k * BLOCK) + (self.offset)(k)
    }

    fn schedule(&self, callbacks: u64) -> Option<Schedule> {
        let position = callbacks * BLOCK;
        let need = self.frame - position % self.frame;
        (callbacks > 0).then(|| Schedule {
            position,
            ahead: (need.div_ceil(BLOCK) * BLOCK) as u32,
        })
    }

    /// The callback that handed over packet `p` (0-based).
    fn callback_of(&self, packet: u64) -> u64 {
        ((packet + 1) * self.frame).div_ceil(BLOCK) - 1
    }
}

#[derive(Debug, Default)]
struct Run {
    looks: u64,
    packets: u64,
    /// Wait from hand-over to the look that found it, µs, per packet.
    waits: Vec<f64>,
}

impl Run {
    fn looks_per_packet(&self) -> f64 {
        self.looks as f64 / self.packets as f64
    }

    fn mean_wait_us(&self) -> f64 {
        self.waits.iter().sum::<f64>() / self.waits.len() as f64
    }

    fn max_wait_us(&self) -> f64 {
        self.waits.iter().copied().fold(0.0, f64::max)
    }
}

/// Runs a pacer against `audio` for `seconds`, each wake-up late by 5-45 µs (a timer's
/// overshoot); counts only what happens after `settle` seconds.
fn run(audio: &Audio, pacer: &mut Pacer, seconds: f64, settle: f64) -> Run {
    let mut run = Run::default();
    let mut now = Duration::ZERO;
    let mut seen = 0u64;
    let mut noise = 0x2545_F491_u64;
    let settle = Duration::from_secs_f64(settle);
    let mut k = 0;
    while now < Duration::from_secs_f64(seconds) {
        while audio.handover(k) <= now {
            k += 1;
        }
        let packets = k * BLOCK / audio.frame;
        if now >= settle {
            run.looks += 1;
            for packet in seen..packets {
                let wait = now - audio.handover(audio.callback_of(packet));
                run.waits.push(wait.as_secs_f64() * 1e6);
                run.packets += 1;
            }
        }
        seen = packets;
        let next = pacer.look(now, audio.schedule(k)).max(now);
        noise = noise
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        now = next + Duration::from_micros(5 + (noise >> 33) % 41);
    }
    run
}

/// Packets of `frame` ticks from regular callbacks over 2.5 s after locking: at least
/// `packets` of them, about one look each (a probe's two or three every 17th), each waiting
/// less than 150 µs and 70 µs on average (the plain poll: 125 µs plus the overshoot, at most
/// 250 µs).
fn assert_one_look_per_packet(frame: u64, packets: u64) {
    let audio = Audio::new(frame);
    let mut pacer = Pacer::new(FALLBACK);
    let run = run(&audio, &mut pacer, 3.0, 0.5);
    assert!(pacer.is_locked());
    assert!(run.packets > packets, "{}", run.packets);
    assert!(run.looks_per_packet() < 1.4, "{run:?}");
    assert!(run.mean_wait_us() < 70.0, "{}", run.mean_wait_us());
    assert!(run.max_wait_us() < 150.0, "{}", run.max_wait_us());
}

#[test]
fn pcm_packets_every_block_get_about_one_look_each_and_wait_less_than_the_poll() {
    assert_one_look_per_packet(64, 1_850);
}

#[test]
fn opus_packets_every_one_or_two_blocks_are_predicted_from_the_schedule() {
    // 2.5 ms frames: 120 ticks, handed over by the blocks ending at ticks 128, 256, 384, ..,
    // 896, 960, 1,088: every one or two blocks.
    assert_one_look_per_packet(120, 990);
}

#[test]
fn callbacks_straying_by_up_to_100_us_still_get_about_one_look_per_packet() {
    // One thread running eight engines one after another: the last one's hand-over strays by
    // what the others' processing varies.
    let mut audio = Audio::new(120);
    audio.offset = Box::new(|k| {
        let hash = (k + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        Duration::from_micros(700 + hash % 100)
    });
    let mut pacer = Pacer::new(FALLBACK);
    let run = run(&audio, &mut pacer, 3.0, 0.5);
    eprintln!(
        "stray {} {} {}",
        run.looks_per_packet(),
        run.mean_wait_us(),
        run.max_wait_us()
    );
    assert!(pacer.is_locked());
    assert!(run.looks_per_packet() < 1.6, "{run:?}");
    assert!(run.mean_wait_us() < 100.0, "{}", run.mean_wait_us());
}

#[test]
fn without_a_schedule_it_polls_at_the_fallback_interval() {
    let mut pacer = Pacer::new(FALLBACK);
    let mut now = Duration::from_millis(5);
    for _ in 0..10 {
        let next = pacer.look(now, None);
        assert_eq!(next - now, FALLBACK);
        now = next;
    }
    assert!(!pacer.is_locked());
}

#[test]
fn callbacks_with_a_millisecond_of_jitter_wait_no_longer_than_with_the_plain_poll() {
    // A host whose callbacks wander by up to 1 ms: no phase holds for long, so the pacer
    // mostly polls.
    let mut audio = Audio::new(64);
    audio.offset = Box::new(|k| {
        let hash = (k + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        Duration::from_micros(hash % 1_000)
    });
    let mut pacer = Pacer::new(FALLBACK);
    let run = run(&audio, &mut pacer, 3.0, 0.5);
    // The plain poll's packets wait 125 µs plus the overshoot (25 µs) on average.
    assert!(run.mean_wait_us() < 175.0, "{}", run.mean_wait_us());
    // A callback that comes early against a phase it had held waits less than a block.
    assert!(run.max_wait_us() < 1_000.0, "{}", run.max_wait_us());
    // No more looks than the plain poll's 4,000 a second.
    assert!(run.looks as f64 / 2.5 < 4_000.0, "{run:?}");
}

#[test]
fn after_a_stall_and_a_phase_jump_it_locks_again() {
    // The host stops for 100 ms at 1 s and resumes 0.6 ms later in its period.
    let mut audio = Audio::new(64);
    let stall_at = 750;
    audio.offset = Box::new(move |k| {
        if k < stall_at {
            Duration::from_micros(80)
        } else {
            Duration::from_micros(100_000 + 680)
        }
    });
    // Within half a second of the restart it is back at about a look per packet.
    let mut pacer = Pacer::new(FALLBACK);
    let after = run(&audio, &mut pacer, 2.5, 1.6);
    assert!(pacer.is_locked());
    assert!(after.looks_per_packet() < 1.4, "{after:?}");
    assert!(after.mean_wait_us() < 70.0, "{}", after.mean_wait_us());
    // Across the stall no packet waits longer than the plain poll would have made it.
    let mut pacer = Pacer::new(FALLBACK);
    let across = run(&audio, &mut pacer, 2.5, 0.0);
    assert!(
        across.max_wait_us() < 250.0 + 45.0,
        "{}",
        across.max_wait_us()
    );
}

/// `a` within a microsecond of `b` (tick arithmetic rounds to nanoseconds).
fn assert_close(a: Duration, b: Duration) {
    assert!(a.abs_diff(b) < Duration::from_micros(1), "{a:?} vs {b:?}");
}

#[test]
fn six_close_sightings_lock_and_the_phase_follows_early_ones_faster_than_late_ones() {
    let mut pacer = Pacer::new(FALLBACK);
    let us = Duration::from_micros;
    let at = |position: u64| {
        Some(Schedule {
            position,
            ahead: 64,
        })
    };
    // Hand-over k (to position 64 k) at 1,010 µs + k blocks, each bracketed by looks 20 µs
    // apart.
    let edge = |k: u64| us(1_010) + ticks(64 * k);
    let mut next = Duration::ZERO;
    for k in 1..=LOCK_SIGHTINGS as u64 {
        assert!(!pacer.is_locked());
        assert_eq!(
            pacer.look(edge(k) - us(10), at(64 * (k - 1))) - edge(k),
            us(240)
        );
        next = pacer.look(edge(k) + us(10), at(64 * k));
    }
    assert!(pacer.is_locked());
    // The next hand-over is looked at MARGIN after it.
    let k = u64::from(LOCK_SIGHTINGS);
    assert_close(next, edge(k + 1) + MARGIN);
    // A pinned sighting 40 µs later than predicted moves the phase by 5 µs (a late callback
    // is mostly jitter), and the mean stray to 40 / 8 = 5 µs, which the next look allows for ..
    pacer.look(edge(k + 1) + us(30), at(64 * k));
    let next = pacer.look(edge(k + 1) + us(50), at(64 * (k + 1)));
    assert_close(next, edge(k + 2) + us(5) + MARGIN + us(5));
    // .. one 40 µs earlier by 20 µs (a late phase makes every packet wait); the mean stray
    // becomes 5 · 7/8 + 40/8 = 9.375 µs.
    let due = edge(k + 2) + us(5);
    pacer.look(due - us(50), at(64 * (k + 1)));
    let next = pacer.look(due - us(30), at(64 * (k + 2)));
    assert_close(
        next,
        due - us(20) + ticks(64) + MARGIN + Duration::from_nanos(9_375),
    );
}
