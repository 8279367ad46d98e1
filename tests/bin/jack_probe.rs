//! `jack-probe`: a JACK client for the integration tests, run as a child process so the test
//! can point it at its own named server through `JACK_DEFAULT_SERVER` without touching the test
//! process's environment.
//!
//! It waits for the server and for the target's ports, then does one of three things, counting
//! time in frames of the JACK clock (never wall time: the dummy driver may run slow):
//!
//! ```text
//! jack-probe <target> <frames> <freq Hz> <amplitude>    play a sine into <target>:input_1/2
//!                                                       and record <target>:output_1/2
//! jack-probe play <target> <freq Hz> <amplitude> <seconds>
//!                                                       only play (the sender's side of a
//!                                                       jam on another server)
//! jack-probe record <target> <frames> <file>            only record, and write what it
//!                                                       recorded to <file> (raw f32 little
//!                                                       endian, left and right interleaved)
//! ```
//!
//! and prints one line per fact:
//!
//! ```text
//! port <name>
//! playing                      (play: connected, the sine is going out)
//! played <frames>              (play: done)
//! frames <n>                   (recorded, after the settling frames)
//! rate <frames/s>              (recording: the server's real rate over the recording)
//! channel <i> rms <linear> freq <Hz>
//! ```
//!
//! The rate is frames over JACK's own cycle-start times (microseconds, filtered by its DLL):
//! a dummy server runs by sleeping and so a little slow, each by its own amount, and a test
//! comparing pitches across two servers needs their ratio.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use jack::{AudioIn, AudioOut, Client, ClientOptions, Control, PortFlags, ProcessScope};

/// Frames skipped before analysis: port connections settle and the plugin's smoothers start.
const SETTLE_FRAMES: usize = 12_000;
/// Wall-clock bound on every wait, so a broken server cannot hang the test.
const WAIT: Duration = Duration::from_secs(30);

const USAGE: &str = "usage: jack-probe <target client> <frames> <freq Hz> <amplitude>\n       \
                     jack-probe play <target client> <freq Hz> <amplitude> <seconds>\n       \
                     jack-probe record <target client> <frames> <file>";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("jack-probe: {err}");
            ExitCode::FAILURE
        }
    }
}

/// What to do with the target's ports.
struct Job {
    target: String,
    /// A sine into the target's inputs: frequency (Hz) and amplitude.
    play: Option<(f64, f32)>,
    /// How long to run.
    length: Length,
    record: bool,
    /// Where to write the recording.
    file: Option<String>,
}

/// How long a job runs, on the JACK clock.
enum Length {
    /// Frames recorded from the target's outputs (after [`SETTLE_FRAMES`]).
    Frames(usize),
    /// Seconds played (a play-only job: the server's rate is not known until it answers).
    Seconds(f64),
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |what: &str, value: &str| value.parse::<f64>().map_err(|e| format!("{what}: {e}"));
    let frames = |value: &str| value.parse::<usize>().map_err(|e| format!("frames: {e}"));
    let job = match args.as_slice() {
        [mode, target, freq, amp, seconds] if mode == "play" => {
            let seconds = number("seconds", seconds)?;
            Job {
                target: target.clone(),
                play: Some((number("freq", freq)?, number("amplitude", amp)? as f32)),
                length: Length::Seconds(seconds),
                record: false,
                file: None,
            }
        }
        [mode, target, n, file] if mode == "record" => Job {
            target: target.clone(),
            play: None,
            length: Length::Frames(frames(n)?),
            record: true,
            file: Some(file.clone()),
        },
        [target, n, freq, amp] => Job {
            target: target.clone(),
            play: Some((number("freq", freq)?, number("amplitude", amp)? as f32)),
            length: Length::Frames(frames(n)?),
            record: true,
            file: None,
        },
        _ => return Err(USAGE.into()),
    };
    probe(job)
}

fn probe(job: Job) -> Result<(), String> {
    let client = wait_for(|| {
        Client::new("osp_probe", ClientOptions::NO_START_SERVER)
            .ok()
            .map(|(c, _)| c)
    })
    .ok_or("no JACK server answered")?;
    let sr = client.sample_rate() as f64;
    let frames = match job.length {
        Length::Frames(n) => n,
        Length::Seconds(s) => (s * sr) as usize,
    };
    let target = &job.target;

    let needed: &[&str] = match (job.play.is_some(), job.record) {
        (true, true) => &["input_1", "input_2", "output_1", "output_2"],
        (true, false) => &["input_1", "input_2"],
        (false, _) => &["output_1", "output_2"],
    };
    let target_ports = wait_for(|| {
        let ports = client.ports(Some(&format!("^{target}:")), None, PortFlags::empty());
        let complete = needed
            .iter()
            .all(|p| ports.iter().any(|name| name.ends_with(p)));
        complete.then_some(ports)
    })
    .ok_or_else(|| format!("{target} did not register {}", needed.join(", ")))?;
    for port in &target_ports {
        println!("port {port}");
    }

    let out_ports = match job.play {
        Some(_) => Some([
            client
                .register_port("out_1", AudioOut::default())
                .map_err(|e| e.to_string())?,
            client
                .register_port("out_2", AudioOut::default())
                .map_err(|e| e.to_string())?,
        ]),
        None => None,
    };
    let in_ports = if job.record {
        Some([
            client
                .register_port("in_1", AudioIn::default())
                .map_err(|e| e.to_string())?,
            client
                .register_port("in_2", AudioIn::default())
                .map_err(|e| e.to_string())?,
        ])
    } else {
        None
    };
    let total = if job.record {
        SETTLE_FRAMES + frames
    } else {
        frames
    };
    let (freq, amp) = job.play.unwrap_or((0.0, 0.0));
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<()>(1);
    let recorder = Recorder {
        out_ports,
        in_ports,
        recorded: if job.record {
            [vec![0.0; total], vec![0.0; total]]
        } else {
            [Vec::new(), Vec::new()]
        },
        total,
        done_frames: 0,
        phase: 0.0,
        step: 2.0 * std::f64::consts::PI * freq / sr,
        amp,
        done: done_tx,
        clock: [None; 2],
    };
    let active = client
        .activate_async((), recorder)
        .map_err(|e| e.to_string())?;
    let c = active.as_client();
    // JACK renames a second `osp_probe` on the same server (a player and a recorder side by
    // side): connect by the name it gave.
    let me = c.name().to_owned();
    if job.play.is_some() {
        for (ours, theirs) in [("out_1", "input_1"), ("out_2", "input_2")] {
            connect(c, &format!("{me}:{ours}"), &format!("{target}:{theirs}"))
                .map_err(|e| format!("connect {ours} -> {theirs}: {e}"))?;
        }
    }
    if job.record {
        for (theirs, ours) in [("output_1", "in_1"), ("output_2", "in_2")] {
            connect(c, &format!("{target}:{theirs}"), &format!("{me}:{ours}"))
                .map_err(|e| format!("connect {theirs} -> {ours}: {e}"))?;
        }
    } else {
        println!("playing");
        // The test waits for this line through a pipe before it starts listening elsewhere.
        let _ = std::io::stdout().flush();
    }
    // The JACK clock may run slow; allow twice the nominal time plus the usual wait.
    let limit = WAIT + Duration::from_secs_f64(2.0 * total as f64 / sr);
    done_rx
        .recv_timeout(limit)
        .map_err(|_| "the JACK clock did not reach the end in time")?;
    let (_, _, handler) = active.deactivate().map_err(|e| e.to_string())?;
    if !job.record {
        println!("played {total}");
        return Ok(());
    }
    let recorded = handler.recorded;
    let tails = [&recorded[0][SETTLE_FRAMES..], &recorded[1][SETTLE_FRAMES..]];
    if let Some(path) = &job.file {
        let mut bytes = Vec::with_capacity(frames * 8);
        for (l, r) in tails[0].iter().zip(tails[1]) {
            bytes.extend_from_slice(&l.to_le_bytes());
            bytes.extend_from_slice(&r.to_le_bytes());
        }
        std::fs::write(path, bytes).map_err(|e| format!("{path}: {e}"))?;
    }
    println!("frames {frames}");
    if let [Some((f0, t0)), Some((f1, t1))] = handler.clock
        && t1 > t0
    {
        let rate = f64::from(f1.wrapping_sub(f0)) / ((t1 - t0) as f64 / 1e6);
        println!("rate {rate:.2}");
    }
    for (ch, tail) in tails.iter().enumerate() {
        let rms =
            (tail.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / tail.len() as f64).sqrt();
        println!(
            "channel {ch} rms {rms:.6} freq {:.2}",
            zero_crossing_frequency(tail, sr)
        );
    }
    Ok(())
}

/// Plays a sine into the target and/or records what comes out of it, in the JACK process
/// callback, for `total` frames.
struct Recorder {
    out_ports: Option<[jack::Port<AudioOut>; 2]>,
    in_ports: Option<[jack::Port<AudioIn>; 2]>,
    /// Preallocated to `total` frames when recording, empty when only playing.
    recorded: [Vec<f32>; 2],
    total: usize,
    done_frames: usize,
    phase: f64,
    step: f64,
    amp: f32,
    done: std::sync::mpsc::SyncSender<()>,
    /// JACK's (frame, µs) at the start of the first cycle after the settling frames, and of
    /// the cycle that completed the recording.
    clock: [Option<(u32, u64)>; 2],
}

impl jack::ProcessHandler for Recorder {
    fn process(&mut self, _: &Client, ps: &ProcessScope) -> Control {
        let n = ps.n_frames() as usize;
        if let Some(out_ports) = &mut self.out_ports {
            for port in out_ports {
                for (i, out) in port.as_mut_slice(ps).iter_mut().enumerate() {
                    *out = self.amp * (self.phase + self.step * i as f64).sin() as f32;
                }
            }
            self.phase = (self.phase + self.step * n as f64) % (2.0 * std::f64::consts::PI);
        }
        if self.done_frames < self.total {
            if let Ok(t) = ps.cycle_times() {
                let at = Some((t.current_frames, t.current_usecs));
                if self.done_frames >= SETTLE_FRAMES.min(self.total) && self.clock[0].is_none() {
                    self.clock[0] = at;
                }
                self.clock[1] = at;
            }
            let take = n.min(self.total - self.done_frames);
            if let Some(in_ports) = &self.in_ports {
                for (rec, port) in self.recorded.iter_mut().zip(in_ports) {
                    rec[self.done_frames..self.done_frames + take]
                        .copy_from_slice(&port.as_slice(ps)[..take]);
                }
            }
            self.done_frames += take;
            if self.done_frames == self.total {
                let _ = self.done.try_send(());
            }
        }
        Control::Continue
    }
}

/// Polls `f` every 50 ms until it yields a value or [`WAIT`] passes.
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > WAIT {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Frequency from the median interval between rising zero crossings, interpolated between
/// samples. The median, not first-to-last crossing: on a loaded machine the `--no-realtime`
/// dummy server can miss a cycle, and one skipped or repeated period would shift a span-based
/// estimate by up to 0.27 % (1.2 Hz at 440 Hz) although every other cycle is at pitch. Pitch is
/// what this measures; the level check still sees a dropout that silences the path.
fn zero_crossing_frequency(x: &[f32], sr: f64) -> f64 {
    let crossings: Vec<f64> = x
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
        .map(|(i, w)| i as f64 + f64::from(w[0] / (w[0] - w[1])))
        .collect();
    let mut periods: Vec<f64> = crossings.windows(2).map(|w| w[1] - w[0]).collect();
    if periods.is_empty() {
        return 0.0;
    }
    periods.sort_by(f64::total_cmp);
    sr / periods[periods.len() / 2]
}

/// Connects two ports, retrying for up to 5 s: a JACK app registers its ports before it
/// activates, and a port of a client not yet active refuses connections.
fn connect(client: &Client, from: &str, to: &str) -> Result<(), jack::Error> {
    let start = Instant::now();
    loop {
        match client.connect_ports_by_name(from, to) {
            Ok(()) => return Ok(()),
            Err(e) if start.elapsed() >= Duration::from_secs(5) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
