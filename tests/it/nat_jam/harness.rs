//! What every NAT-jam case shares: the lab with coturn and `osp-relay` in its wan
//! ([`Internet`]), and a [`Jam`] of whole engines, one per home, each playing its own sine to
//! the others in lockstep on a real clock, which measures what every player hears of every
//! other.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::{Codec, Config, Controller, JitterMode, Processor, Turn};
use proto::connect::PathKind;
use proto::path::Path;

use crate::natlab::{Home, Lab, Nat, Servers, coturn};
use crate::support::{Paced, hear_sine};

/// Bound on every single wait.
pub(super) const WAIT: Duration = Duration::from_secs(20);
const SR: u32 = 48_000;
const BLOCK: usize = 64;
const AMP: f32 = 0.25;
/// Player n's pitch (user id n, in home n): whole numbers of cycles per 512-sample window
/// (exact window RMS), each its own, so a stream heard in another player's slot is heard at
/// the wrong pitch.
const PITCHES: [f64; 3] = [937.5, 656.25, 1_218.75];
/// What each hearing is measured over: 1 s.
const MEASURE: usize = 48_000;
/// Most audio kept per hearing: 20 s.
const KEEP: usize = 20 * MEASURE;

/// The lab with its servers running: one home behind each of the NATs it was started with,
/// coturn and the room server in the wan. The servers stop before the namespaces go.
pub(super) struct Internet {
    pub(super) servers: Servers,
    pub(super) lab: Lab,
}

impl Internet {
    /// Home n (from 1) behind `nats[n - 1]`.
    pub(super) fn start(nats: &[Nat]) -> Self {
        assert!(
            nats.len() <= PITCHES.len(),
            "at most {} players",
            PITCHES.len()
        );
        let lab = nats
            .iter()
            .fold(Lab::builder(), |builder, &nat| builder.home(nat))
            .build();
        Self {
            servers: Servers::start(&lab),
            lab,
        }
    }
}

/// A player's engine, started inside `home`'s host namespace with the room server, STUN and
/// TURN configured and no peer: PCM 64-sample frames (exact levels), a fixed 20 ms jitter
/// buffer (the test checks the path, not this machine's scheduling).
fn player(home: &Home, user_id: u32, servers: &Servers) -> (Controller, Processor) {
    let mut config = Config::new(
        user_id,
        "nat-jam",
        "s3cret",
        SocketAddr::from((home.addr, 0)),
    );
    config.codec = Codec::PcmL24 { frame_samples: 64 };
    config.jitter = JitterMode::Fixed(Duration::from_millis(20));
    config.max_block = BLOCK;
    config.seed = u64::from(user_id);
    let turn = servers.coturn.listening[0].to_string();
    config.server = Some(servers.room.to_string());
    config.stun = Some(turn.clone());
    config.turn = Some(Turn {
        user: coturn::USER.to_owned(),
        password: coturn::PASSWORD.to_owned(),
        address: turn,
    });
    home.host
        .within(move || engine::new(config))
        .unwrap_or_else(|e| panic!("player {user_id}: {e}"))
}

/// What `listener` hears of `speaker`: its slot's left channel from the first block that
/// carries sound.
struct Ear {
    listener: u32,
    speaker: u32,
    first: Option<Instant>,
    samples: Vec<f32>,
}

/// A player's audio side in the lockstep loop.
struct Voice {
    user_id: u32,
    pitch: f64,
    processor: Processor,
}

/// Every processor in real time on one thread (a 64-sample block every 1.333 ms), each
/// playing its player's sine; every player's hearing of every other is kept.
struct Lockstep {
    paced: Paced,
    ears: Arc<Mutex<Vec<Ear>>>,
}

impl Lockstep {
    fn start(mut voices: Vec<Voice>) -> Self {
        let ears: Vec<Ear> = voices
            .iter()
            .flat_map(|listener| {
                voices
                    .iter()
                    .filter(|speaker| speaker.user_id != listener.user_id)
                    .map(|speaker| Ear {
                        listener: listener.user_id,
                        speaker: speaker.user_id,
                        first: None,
                        samples: Vec::with_capacity(KEEP),
                    })
            })
            .collect();
        let ears = Arc::new(Mutex::new(ears));
        let period = Duration::from_secs_f64(BLOCK as f64 / f64::from(SR));
        let mut tone = [0f32; BLOCK];
        let recorded = Arc::clone(&ears);
        let paced = Paced::start(period, move || {
            for voice in &mut voices {
                let first = voice.processor.sample_clock();
                for (i, x) in tone.iter_mut().enumerate() {
                    let t = (first + i as u64) as f64 / f64::from(SR);
                    *x = AMP * (2.0 * std::f64::consts::PI * voice.pitch * t).sin() as f32;
                }
                voice.processor.process(&tone, &tone, None);
            }
            let now = Instant::now();
            let mut ears = recorded.lock().expect("ears");
            for ear in ears.iter_mut() {
                let Some(listener) = voices.iter().find(|v| v.user_id == ear.listener) else {
                    continue;
                };
                let Some(stream) = (0..engine::processor::MAX_REMOTES)
                    .filter_map(|i| listener.processor.remote(i))
                    .find(|r| r.user_id == ear.speaker)
                else {
                    continue;
                };
                if ear.first.is_none() && stream.left.iter().any(|&s| s != 0.0) {
                    ear.first = Some(now);
                }
                if ear.first.is_some() && ear.samples.len() < KEEP {
                    ear.samples.extend_from_slice(stream.left);
                }
            }
        });
        Self { paced, ears }
    }

    /// The fewest samples any player has kept of any other.
    fn least_heard(&self) -> usize {
        let ears = self.ears.lock().expect("ears");
        ears.iter().map(|e| e.samples.len()).min().unwrap_or(0)
    }

    /// When the last of the hearings began, once every player hears every other.
    fn everyone_heard(&self) -> Option<Instant> {
        let ears = self.ears.lock().expect("ears");
        ears.iter()
            .map(|e| e.first)
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    }

    /// Stops the loop and hands over what everyone heard.
    fn stop(self) -> Vec<Ear> {
        self.paced.stop();
        std::mem::take(&mut *self.ears.lock().expect("ears"))
    }
}

/// Polls `done` every 20 ms for at most [`WAIT`]; the time it took.
pub(super) fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// One player's path to another, as its engine reports it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Route {
    pub(super) from: u32,
    pub(super) to: u32,
    pub(super) kind: PathKind,
    pub(super) addr: SocketAddr,
}

/// One player per home of an [`Internet`] (user id n in home n), playing PITCHES[n - 1].
pub(super) struct Jam<'a> {
    internet: &'a Internet,
    case: &'a str,
    controllers: Vec<(u32, Controller)>,
    lockstep: Lockstep,
    start: Instant,
}

impl<'a> Jam<'a> {
    /// Starts every player's engine and the lockstep loop; the clock of [`Jam::connected`]
    /// and [`Jam::everyone_heard`] starts here.
    pub(super) fn start(internet: &'a Internet, case: &'a str) -> Self {
        let start = Instant::now();
        let (controllers, voices) = (1..)
            .zip(internet.lab.homes())
            .zip(PITCHES)
            .map(|((user_id, home), pitch)| {
                let (controller, processor) = player(home, user_id, &internet.servers);
                let voice = Voice {
                    user_id,
                    pitch,
                    processor,
                };
                ((user_id, controller), voice)
            })
            .unzip();
        Self {
            internet,
            case,
            controllers,
            lockstep: Lockstep::start(voices),
            start,
        }
    }

    /// `from`'s path to `to`, once chosen.
    pub(super) fn path(&mut self, from: u32, to: u32) -> Option<Route> {
        let report = self.controller(from).report();
        let peer = report.peers.iter().find(|p| p.user_id == to)?;
        match (peer.path_kind, peer.path) {
            (Some(kind), Some(Path::Direct(addr))) => Some(Route {
                from,
                to,
                kind,
                addr,
            }),
            _ => None,
        }
    }

    /// How many paths `from` has selected to `to` so far.
    pub(super) fn path_selections(&mut self, from: u32, to: u32) -> Option<u64> {
        let report = self.controller(from).report();
        let peer = report.peers.iter().find(|p| p.user_id == to)?;
        Some(peer.path_selections)
    }

    fn controller(&mut self, user_id: u32) -> &mut Controller {
        let (_, controller) = self
            .controllers
            .iter_mut()
            .find(|(id, _)| *id == user_id)
            .unwrap_or_else(|| panic!("no player {user_id}"));
        controller
    }

    /// Every player's path to every other, those chosen so far.
    pub(super) fn routes(&mut self) -> Vec<Route> {
        let ids: Vec<u32> = self.controllers.iter().map(|(id, _)| *id).collect();
        let pairs: Vec<(u32, u32)> = ids
            .iter()
            .flat_map(|&from| {
                ids.iter()
                    .filter(move |&&to| to != from)
                    .map(move |&to| (from, to))
            })
            .collect();
        pairs
            .into_iter()
            .filter_map(|(from, to)| self.path(from, to))
            .collect()
    }

    /// Waits until every player has a path to every other; the time since the start.
    pub(super) fn connected(&mut self) -> Duration {
        let players = self.controllers.len();
        let connecting = Instant::now();
        while self.routes().len() < players * (players - 1) {
            if connecting.elapsed() >= WAIT {
                let reports: Vec<String> = self
                    .controllers
                    .iter_mut()
                    .map(|(id, c)| format!("{id}: {:?}", c.report()))
                    .collect();
                panic!(
                    "{}: the players did not connect within {WAIT:?}:\n{}\ncoturn's log:\n{}",
                    self.case,
                    reports.join("\n"),
                    self.internet.servers.coturn.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.start.elapsed()
    }

    /// Waits until every player hears every other; the time from the start to the block in
    /// which the last of them was first heard.
    pub(super) fn everyone_heard(&self) -> Duration {
        let mut last = None;
        wait_until(&format!("{}: everyone to hear everyone", self.case), || {
            last = self.lockstep.everyone_heard();
            last.is_some()
        });
        last.expect("heard") - self.start
    }

    /// Plays on until every player has heard 1.5 s more of every other, stops, and checks
    /// the last second of each: the speaker's level and pitch, and few dropouts. The paths
    /// are read just before the loop stops.
    pub(super) fn measure(mut self) -> Vec<Route> {
        let from = self.lockstep.least_heard();
        wait_until(&format!("{}: 1.5 s more of everyone", self.case), || {
            self.lockstep.least_heard() >= from + MEASURE * 3 / 2
        });
        let routes = self.routes();
        let players = self.controllers.len();
        assert_eq!(
            routes.len(),
            players * (players - 1),
            "{}: a path went away: {routes:?}",
            self.case
        );
        let case = self.case;
        for ear in self.lockstep.stop() {
            let pitch = PITCHES[ear.speaker as usize - 1];
            let measured = &ear.samples[ear.samples.len() - MEASURE..];
            let heard = hear_sine(measured, f64::from(SR), f64::from(AMP), pitch, 512);
            let route = routes
                .iter()
                .find(|r| r.from == ear.listener && r.to == ear.speaker)
                .expect("a route per hearing");
            let (who, level_db) = (
                format!("{} at {}", ear.speaker, ear.listener),
                heard.level_db,
            );
            eprintln!(
                "{case}: {who} ({} path to {}): {level_db:+.3} dB, {:.2} Hz (plays {pitch} Hz), \
                 {} of {} windows below -6 dB",
                route.kind, route.addr, heard.pitch, heard.dropouts, heard.windows
            );
            // PCM end to end at unity gain on one clock: the speaker's level exactly (but for
            // the 24-bit step), its pitch exactly (0.1 Hz is the estimator's step).
            assert!(level_db.abs() < 0.1, "{case}: {who} at {level_db:+.3} dB");
            assert!(
                (heard.pitch - pitch).abs() < 0.5,
                "{case}: {who} at {:.2} Hz, plays {pitch} Hz",
                heard.pitch
            );
            // A loaded machine may conceal a packet or two; a broken path silences most.
            assert!(
                heard.dropouts * 20 <= heard.windows,
                "{case}: {who}: {} of {} windows below -6 dB",
                heard.dropouts,
                heard.windows
            );
        }
        routes
    }
}

/// Starts a jam over `internet`, waits until everyone hears everyone and measures it (see
/// [`Jam::measure`]); the paths.
pub(super) fn play(internet: &Internet, case: &str) -> Vec<Route> {
    let mut jam = Jam::start(internet, case);
    let connected = jam.connected();
    let heard = jam.everyone_heard();
    eprintln!(
        "{case}: connected after {:.0} ms, everyone heard everyone after {:.0} ms",
        connected.as_secs_f64() * 1e3,
        heard.as_secs_f64() * 1e3
    );
    jam.measure()
}

/// The route from `from` to `to` among `routes`.
pub(super) fn route(routes: &[Route], from: u32, to: u32) -> Route {
    *routes
        .iter()
        .find(|r| r.from == from && r.to == to)
        .unwrap_or_else(|| panic!("no path from {from} to {to} in {routes:?}"))
}
