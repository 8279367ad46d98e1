//! The editor driven headless through its accessibility tree (egui_kittest; no pixels are
//! compared): what a player types and presses reaches the plugin, and what the room does
//! reaches the screen and the audio.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use nice_plug::context::gui::{GuiContext, GuiContextInner};
use nice_plug::prelude::*;

use super::JamEditor;
use crate::OspJam;
use crate::presets::PresetStore;
use crate::secrets::SecretStore;
use crate::status::SessionState;
use crate::tests::{SR, TestContext, context, param_by_id, plugin, run, set_by_id, tone_db};

/// The host's side of the editor: parameters set at once, restarts counted.
#[derive(Default)]
struct TestHost {
    restarts: AtomicU32,
}

impl GuiContextInner for TestHost {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    unsafe fn raw_begin_set_parameter(&self, _param: ParamPtr) {}
    unsafe fn raw_set_parameter_normalized(&self, param: ParamPtr, normalized: f32) {
        // SAFETY: the editor hands pointers to the plugin's own parameters, alive for the test.
        unsafe {
            param._internal_set_normalized_value(normalized);
            param._internal_update_smoother(SR, false);
        }
    }
    unsafe fn raw_end_set_parameter(&self, _param: ParamPtr) {}
    fn get_state(&self) -> PluginState {
        unreachable!("the editor does not read the state")
    }
    fn set_state(&self, _state: PluginState) {
        unreachable!("the editor does not load state")
    }
    fn request_restart(&self) {
        self.restarts.fetch_add(1, Ordering::SeqCst);
    }
}

/// A folder of its own for a test's secrets file, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("osp-jam-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }

    fn store(&self) -> SecretStore {
        SecretStore::at(self.0.join("secrets.json"))
    }

    fn presets(&self) -> PresetStore {
        PresetStore::at(self.0.join("presets"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn editor(plugin: &OspJam, dir: &TempDir) -> (Harness<'static, JamEditor>, Arc<TestHost>) {
    let host = Arc::new(TestHost::default());
    let mut editor = JamEditor::with_stores(
        Arc::clone(&plugin.params),
        Arc::clone(&plugin.status),
        Arc::clone(&plugin.control),
        Some(dir.store()),
        Some(dir.presets()),
    );
    editor.set_gui_context(GuiContext::new(
        Arc::clone(&host) as Arc<dyn GuiContextInner>
    ));
    let harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_ui_state(|ui, editor: &mut JamEditor| editor.draw(ui), editor);
    (harness, host)
}

/// Types `text` into the field labelled `label` (replacing what it held).
fn fill(harness: &mut Harness<'_, JamEditor>, label: &str, text: &str) {
    harness.get_by_label(label).set_text_value_accesskit(text);
    harness.step();
}

/// Fills the Join form and presses Join: the session starts at once, with no restart asked
/// of the host.
fn join(harness: &mut Harness<'_, JamEditor>, host: &TestHost, fields: &[(&str, &str)]) {
    for (label, text) in fields {
        fill(harness, label, text);
    }
    press(harness, "Join");
    assert_eq!(
        host.restarts.load(Ordering::SeqCst),
        0,
        "Join restarts nothing"
    );
}

#[test]
fn join_starts_the_session_typed_and_keeps_the_secret_out_of_the_project() {
    let dir = TempDir::new("editor-join");
    let mut plugin = plugin();
    let (mut harness, host) = editor(&plugin, &dir);
    harness.get_by_label("Session: not in a room");
    join(
        &mut harness,
        &host,
        &[
            ("Room", "editor-room"),
            ("Secret", "s3cret"),
            ("Listen on", "127.0.0.1:0"),
            ("Server", "127.0.0.1:9"),
            ("Peers", "127.0.0.1:9"),
        ],
    );
    let settings = plugin.params.session.lock().unwrap().clone();
    assert_eq!(settings.room, "editor-room");
    assert_eq!(settings.listen, "127.0.0.1:0");
    assert_eq!(settings.peers, ["127.0.0.1:9"]);
    assert_eq!(settings.server, "127.0.0.1:9");
    // The project's state carries no secret; the user's file does, for that room.
    let saved = serde_json::to_string(&settings).unwrap();
    assert!(!saved.contains("s3cret"), "{saved}");
    assert_eq!(dir.store().get("editor-room").as_deref(), Some("s3cret"));
    // The running plugin runs the room: the audio thread takes the session at its next block.
    assert!(plugin.control.is_running(), "a session runs");
    assert!(plugin.processor.is_none());
    run(&mut plugin, &mut context(), &mut vec![vec![0.0; 64]; 2]);
    assert!(
        plugin.processor.is_some(),
        "the audio thread plays the room"
    );
    assert_eq!(
        plugin.status.state(),
        Some(SessionState::Running {
            room: "editor-room".into(),
            peers_called: 1,
            codec: "Opus 128 kb/s, 2.5 ms".into(),
            frame: 120,
        })
    );
    harness.step();
    harness.get_by_label("Session: in room editor-room, connecting to 0 of 1");
}

/// Samples per block of the paced runs.
const BLOCK: usize = 64;

/// Runs the plugin on silence for `seconds` in blocks of [`BLOCK`], paced like an audio device,
/// calling `after_block(i)` after block `i`; the left output.
#[allow(clippy::disallowed_methods)] // real time: the session's clocks follow the wall clock
fn play_paced(
    plugin: &mut OspJam,
    ctx: &mut TestContext,
    seconds: f64,
    mut after_block: impl FnMut(usize),
) -> Vec<f32> {
    let period = Duration::from_secs_f64(BLOCK as f64 / f64::from(SR));
    let blocks = (seconds * f64::from(SR)) as usize / BLOCK;
    let start = Instant::now();
    let mut out = Vec::with_capacity(blocks * BLOCK);
    for i in 0..blocks {
        if let Some(wait) = (start + period * i as u32).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let mut io = vec![vec![0.0f32; BLOCK]; 2];
        run(plugin, ctx, &mut io);
        out.extend_from_slice(&io[0]);
        after_block(i);
    }
    out
}

fn play_silence(plugin: &mut OspJam, ctx: &mut TestContext, seconds: f64) -> Vec<f32> {
    play_paced(plugin, ctx, seconds, |_| {})
}

/// Where clicks start in `out`: the first sample above -40 dBFS after 50 ms below it.
fn click_onsets(out: &[f32]) -> Vec<usize> {
    let mut onsets = Vec::new();
    let mut quiet = usize::MAX;
    for (i, x) in out.iter().enumerate() {
        if x.abs() > 0.01 {
            if quiet >= 2_400 {
                onsets.push(i);
            }
            quiet = 0;
        } else {
            quiet = quiet.saturating_add(1);
        }
    }
    onsets
}

/// Join, the click switched on and off, Leave: each takes effect in the running plugin (the
/// host is never asked to restart it): at 120 BPM two seconds hold about four clicks while
/// the switch is on and none while it is off.
#[test]
fn join_leave_and_the_click_take_effect_live_without_a_restart() {
    let dir = TempDir::new("editor-live");
    let mut plugin = plugin();
    // This member leads the room at 120 BPM, so the grid rolls with nobody else there.
    plugin.params.session.lock().unwrap().bpm = Some(120.0);
    let (mut harness, host) = editor(&plugin, &dir);
    join(
        &mut harness,
        &host,
        &[("Room", "editor-live"), ("Listen on", "127.0.0.1:0")],
    );
    let mut ctx = context();
    // The grid reaches the audio thread within a few control ticks (bounded: 10 s under load).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !plugin
        .processor
        .as_ref()
        .and_then(|p| p.grid())
        .is_some_and(|grid| grid.playing)
    {
        assert!(Instant::now() < deadline, "no rolling grid after 10 s");
        play_silence(&mut plugin, &mut ctx, 0.05);
    }
    let off = play_silence(&mut plugin, &mut ctx, 1.0);
    assert_eq!(click_onsets(&off), [0usize; 0], "no click while off");

    harness.get_by_label("Click on the grid").click_accesskit();
    harness.step();
    assert!(plugin.control.click.load(Ordering::Relaxed));
    let on = play_silence(&mut plugin, &mut ctx, 2.0);
    let onsets = click_onsets(&on);
    let peak = on.iter().fold(0f32, |m, x| m.max(x.abs()));
    // Two seconds at 120 BPM hold four beats; the grid follows the session clock's fit of
    // this paced loop, so a beat lasts 24,000 samples only on average (a margin for load).
    eprintln!("clicks at {onsets:?}, peak {peak}");
    assert!(
        (2..=6).contains(&onsets.len()),
        "{} clicks in 2 s at 120 BPM (onsets {onsets:?}), peak {peak}",
        onsets.len()
    );
    assert!(peak > 0.1, "click peak {peak}");

    harness.get_by_label("Click on the grid").click_accesskit();
    harness.step();
    let after = play_silence(&mut plugin, &mut ctx, 1.2);
    // The last click rings out within 0.2 s; nothing sounds after it.
    assert_eq!(
        click_onsets(&after[9_600..]),
        [0usize; 0],
        "no click once off"
    );

    press(&mut harness, "Leave");
    play_silence(&mut plugin, &mut ctx, 0.01);
    assert!(plugin.processor.is_none(), "the audio thread left the room");
    assert!(!plugin.control.is_running());
    assert_eq!(plugin.status.state(), Some(SessionState::Off));
    assert_eq!(host.restarts.load(Ordering::SeqCst), 0, "nothing restarted");
}

/// The plain value of the parameter with host id `id`.
fn plain_by_id(plugin: &OspJam, id: &str) -> f32 {
    // SAFETY: the parameter lives as long as `plugin`.
    unsafe { param_by_id(plugin, id).unmodulated_plain_value() }
}

fn press(harness: &mut Harness<'_, JamEditor>, button: &str) {
    harness
        .get_by_role_and_label(egui::accesskit::Role::Button, button)
        .click();
    harness.step();
    harness.step();
}

/// Save a named preset, move two of its parameters, load it: both are back, through the
/// host's parameters (the chain reads them on its next block). A file that is no preset reads
/// as an error in the pane and changes nothing.
#[test]
fn a_saved_preset_loads_back_through_the_host_parameters() {
    let dir = TempDir::new("editor-presets");
    let plugin = plugin();
    let (mut harness, _host) = editor(&plugin, &dir);
    set_by_id(&plugin, "compressor.on", 1.0);
    set_by_id(&plugin, "compressor.threshold", 0.25);
    let threshold = plain_by_id(&plugin, "compressor.threshold");
    fill(&mut harness, "Preset", "tight lead");
    press(&mut harness, "Save preset");
    assert_eq!(dir.presets().names(), ["tight lead"]);
    harness.get_by_label_contains("Saved tight lead");

    set_by_id(&plugin, "compressor.on", 0.0);
    set_by_id(&plugin, "compressor.threshold", 0.75);
    let moved = plain_by_id(&plugin, "compressor.threshold");
    assert!(
        (moved - threshold).abs() > 5.0,
        "threshold {threshold} dB, moved to {moved} dB"
    );
    press(&mut harness, "Load preset");
    harness.get_by_label("Loaded tight lead: 2 parameters changed.");
    assert_eq!(plain_by_id(&plugin, "compressor.on"), 1.0);
    let loaded = plain_by_id(&plugin, "compressor.threshold");
    assert!(
        (loaded - threshold).abs() < 0.01,
        "threshold {loaded} dB after loading, saved at {threshold} dB"
    );
    // What the chain reads on the audio thread is the loaded preset.
    let units = plugin.params.effects.preset().units;
    let saved = dir.presets().load("tight lead").unwrap().units;
    assert_eq!(units, saved);

    std::fs::write(
        dir.presets().dir().join("broken.json"),
        "{\"compressor\": 3",
    )
    .unwrap();
    fill(&mut harness, "Preset", "broken");
    press(&mut harness, "Load preset");
    harness.get_by_label_contains("Cannot load:");
    assert_eq!(
        plain_by_id(&plugin, "compressor.on"),
        1.0,
        "nothing changed"
    );
}

/// A second real engine in the room: its row shows a numeric RTT, and setting its gain to
/// -20 dB in the editor takes 20 dB off its tone in the plugin's output.
#[test]
fn a_second_engine_shows_with_its_rtt_and_its_gain_sets_its_level_in_the_mix() {
    const REMOTE_ID: u32 = 99;
    let dir = TempDir::new("editor-players");
    let mut config = engine::Config::new(
        REMOTE_ID,
        "editor-players",
        "s3cret",
        "127.0.0.1:0".parse().unwrap(),
    );
    config.codec = engine::Codec::PcmL24 { frame_samples: 64 };
    config.max_block = BLOCK;
    let (remote, mut remote_processor) = engine::new(config).expect("remote engine");

    let mut plugin = plugin();
    let (mut harness, host) = editor(&plugin, &dir);
    join(
        &mut harness,
        &host,
        &[
            ("Room", "editor-players"),
            ("Secret", "s3cret"),
            ("Listen on", "127.0.0.1:0"),
            ("Peers", &remote.local_addr().to_string()),
        ],
    );

    // Real time: both engines' audio paced by the clock, the editor drawn ten times a second.
    let mut ctx = context();
    let tone =
        |n: usize| (0.25 * (std::f64::consts::TAU * 660.0 * n as f64 / 48_000.0).sin()) as f32;
    let mut block = 0usize;
    let mut play = |plugin: &mut OspJam,
                    ctx: &mut TestContext,
                    harness: &mut Harness<'_, JamEditor>,
                    seconds: f64|
     -> Vec<f32> {
        play_paced(plugin, ctx, seconds, |i| {
            let remote_in: Vec<f32> = (0..BLOCK).map(|s| tone(block * BLOCK + s)).collect();
            remote_processor.process(&remote_in, &remote_in, None);
            block += 1;
            if i % 75 == 0 {
                harness.step();
            }
        })
    };

    // The row appears with a number for its RTT (bounded wait: 20 s under any load).
    let deadline = Instant::now() + Duration::from_secs(20);
    let rtt_label = format!("RTT to player {REMOTE_ID}: ");
    let rtt_ms = loop {
        play(&mut plugin, &mut ctx, &mut harness, 0.25);
        let rtt = harness
            .query_by_label_contains(&rtt_label)
            // A text cell's words are its value (a label of role Label reads from it).
            .and_then(|node| node.accesskit_node().value())
            .and_then(|label| {
                label
                    .strip_prefix(&rtt_label)?
                    .strip_suffix(" ms")?
                    .parse::<f64>()
                    .ok()
            });
        if let Some(rtt) = rtt {
            break rtt;
        }
        assert!(
            Instant::now() < deadline,
            "no RTT for player {REMOTE_ID} after 20 s: state {:?}, report {:?}, remote {:?}",
            plugin.status.state(),
            plugin.status.report(),
            remote.network().peers,
        );
    };
    assert!((0.0..1_000.0).contains(&rtt_ms), "RTT {rtt_ms} ms");

    let slot = plugin
        .status
        .players
        .iter()
        .position(|p| p.user_id.load(Ordering::Relaxed) == REMOTE_ID)
        .expect("the player has a slot");
    // Settled at unity gain: its tone in our output.
    play(&mut plugin, &mut ctx, &mut harness, 1.0);
    let before = tone_db(&play(&mut plugin, &mut ctx, &mut harness, 1.0), 660.0);
    assert!(before > -30.0, "the player is heard at {before:.1} dB");
    // Its row reads the codec it sends (PCM L24, 64 samples), not ours (Opus 2.5 ms), and
    // the path its media takes.
    let cell_text = |harness: &Harness<'_, JamEditor>, label: &str| {
        harness
            .get_by_label_contains(label)
            .accesskit_node()
            .value()
            .unwrap_or_default()
    };
    assert_eq!(
        cell_text(&harness, &format!("Codec from player {REMOTE_ID}: ")),
        format!("Codec from player {REMOTE_ID}: L24 1.3 ms")
    );
    assert_eq!(
        cell_text(&harness, &format!("Path to player {REMOTE_ID}: ")),
        format!("Path to player {REMOTE_ID}: direct")
    );
    let report = plugin.status.report().flatten().expect("a report");
    let peer = report
        .peers
        .iter()
        .find(|p| p.user_id == REMOTE_ID)
        .unwrap();
    assert_eq!(peer.streams.len(), 1, "{:?}", peer.streams);
    assert_eq!(peer.streams[0].payload_type, engine::PT_L24);
    assert_eq!(peer.streams[0].frame_samples, 64);
    assert!(
        matches!(peer.path, Some(engine::controller::Path::Direct(addr)) if addr == remote.local_addr()),
        "{:?}",
        peer.path
    );

    // Its gain to -20 dB through the editor's slider, as a screen reader would set it.
    let gain = &plugin.params.players[slot].gain;
    let normalized = gain.preview_normalized(util::db_to_gain(-20.0));
    harness
        .get_by_label(&format!("Player {} Gain", slot + 1))
        .set_value_accesskit(f64::from(normalized));
    harness.step();
    assert!(
        (util::gain_to_db(gain.value()) + 20.0).abs() < 0.1,
        "gain {} dB",
        util::gain_to_db(gain.value())
    );
    play(&mut plugin, &mut ctx, &mut harness, 0.5);
    let after = tone_db(&play(&mut plugin, &mut ctx, &mut harness, 1.0), 660.0);
    assert!(
        (before - after - 20.0).abs() < 1.5,
        "the player went from {before:.1} to {after:.1} dB"
    );
    drop(plugin);
    drop(remote);
}

/// The process's resident set, bytes (Linux: `/proc/self/statm`, in pages).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("resident pages in statm");
    pages * 4096
}

/// Opening and closing the editor 100 times (a fresh editor and egui context each time, three
/// frames drawn, then dropped) keeps the process within 2 MB of where it was after 10: the
/// editor keeps nothing per opening. The window system's side (baseview, OpenGL) is not in
/// this count.
#[test]
fn a_hundred_editor_openings_cost_no_memory() {
    let dir = TempDir::new("editor-rss");
    let plugin = plugin();
    let mut frames = Duration::ZERO;
    let mut open_and_close = || {
        let (mut harness, _host) = editor(&plugin, &dir);
        let start = Instant::now();
        for _ in 0..3 {
            harness.step();
        }
        frames += start.elapsed();
    };
    for _ in 0..10 {
        open_and_close();
    }
    let after_10 = resident_bytes();
    for _ in 10..100 {
        open_and_close();
    }
    let after_100 = resident_bytes();
    let grown = after_100.saturating_sub(after_10);
    // A figure, not a limit: the editor's layout per frame (egui without the GPU's drawing).
    eprintln!(
        "RSS after 10 openings {after_10} B, after 100 {after_100} B; {:.2} ms per frame",
        frames.as_secs_f64() * 1e3 / 300.0
    );
    assert!(
        grown <= 2 << 20,
        "RSS grew {grown} B between the 10th and the 100th opening"
    );
}
