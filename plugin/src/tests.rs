//! Host-less tests: `process()` driven by a test `ProcessContext`, smoothers reset first as hosts
//! do, every call under the allocation guard.

use super::*;
use nice_plug::context::process::SendEventError;

pub(crate) const SR: f32 = 48_000.0;

pub(crate) struct TestContext {
    transport: Transport,
    /// Restarts the plugin asked for.
    restarts: std::cell::Cell<u32>,
}

impl ProcessContext<OspJam> for TestContext {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    fn execute_background(&self, _task: ()) {}
    fn execute_gui(&self, _task: ()) {}
    fn transport(&self) -> &Transport {
        &self.transport
    }
    fn next_event(&mut self) -> Option<PluginNoteEvent<OspJam>> {
        None
    }
    fn try_send_event(
        &mut self,
        event: PluginNoteEvent<OspJam>,
    ) -> Result<(), (PluginNoteEvent<OspJam>, SendEventError)> {
        Err((event, SendEventError::NoOutputBuffer))
    }
    fn set_latency_samples(&self, _samples: u32) {}
    fn request_restart(&self) {
        self.restarts.set(self.restarts.get() + 1);
    }
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

/// A plugin initialised for 48 kHz stereo, with every smoother snapped to its value and the
/// effect chain off (the limiter too), so these tests see the strip's gains alone.
pub(crate) fn plugin() -> OspJam {
    let plugin = OspJam::default();
    set_by_id(&plugin, "limiter.on", 0.0);
    activated(plugin)
}

/// A plugin with the default effect chain (the limiter on), initialised like [`plugin`].
fn plugin_with_default_chain() -> OspJam {
    activated(OspJam::default())
}

/// The parameter with host id `id` (valid as long as `plugin`).
pub(crate) fn param_by_id(plugin: &OspJam, id: &str) -> ParamPtr {
    let (_, ptr, _) = plugin
        .params()
        .param_map()
        .into_iter()
        .find(|(param_id, _, _)| param_id == id)
        .unwrap_or_else(|| panic!("no parameter {id}"));
    ptr
}

/// Sets the parameter with host id `id` to the normalised `value`, as a host would.
pub(crate) fn set_by_id(plugin: &OspJam, id: &str, normalized: f32) {
    let ptr = param_by_id(plugin, id);
    // SAFETY: the parameter lives as long as `plugin`, and no other thread touches it.
    unsafe {
        ptr._internal_set_normalized_value(normalized);
        ptr._internal_update_smoother(SR, true);
    }
}

pub(crate) fn activated(mut plugin: OspJam) -> OspJam {
    struct Init;
    impl ActivateContext<OspJam> for Init {
        fn plugin_api(&self) -> PluginApi {
            PluginApi::Clap
        }
        fn execute(&self, _task: ()) {}
        fn set_latency_samples(&self, _samples: u32) {}
        fn set_current_voice_capacity(&self, _capacity: u32) {}
    }
    let config = BufferConfig {
        sample_rate: SR,
        min_buffer_size: None,
        max_buffer_size: 1024,
        process_mode: ProcessMode::Realtime,
    };
    assert!(plugin.activate(&OspJam::AUDIO_IO_LAYOUTS[0], &config, &mut Init));
    snap_smoothers(&plugin);
    plugin.reset();
    plugin
}

fn snap_smoothers(plugin: &OspJam) {
    for (_, param, _) in plugin.params().param_map() {
        // SAFETY: no other thread touches these parameters in the test.
        unsafe { param._internal_update_smoother(SR, true) };
    }
}

/// Sets a parameter by plain value the way a host's automation would (smoothed).
fn set(param: &FloatParam, plain: f32) {
    let ptr = param.as_ptr();
    // SAFETY: the parameter is alive for the call and owned by this thread.
    unsafe {
        ptr._internal_set_normalized_value(param.preview_normalized(plain));
        ptr._internal_update_smoother(SR, false);
    }
}

/// Runs one block of `channels` through `process` under the allocation guard.
pub(crate) fn run(plugin: &mut OspJam, context: &mut TestContext, channels: &mut [Vec<f32>]) {
    let len = channels[0].len();
    let mut buffer = Buffer::default();
    // SAFETY: each slice outlives `buffer`, which is dropped at the end of this function.
    unsafe {
        buffer.set_slices(len, |slices| {
            slices.clear();
            for channel in channels.iter_mut() {
                // SAFETY: the channel vectors are not touched while `buffer` lives.
                slices.push(&mut *(channel.as_mut_slice() as *mut [f32]));
            }
        });
    }
    let mut aux = AuxiliaryBuffers {
        inputs: &mut [],
        outputs: &mut [],
    };
    let status = rt::guard::no_alloc(|| plugin.process(&mut buffer, &mut aux, context));
    assert!(matches!(status, ProcessStatus::KeepAlive));
}

pub(crate) fn context() -> TestContext {
    TestContext {
        transport: Transport::new(SR),
        restarts: std::cell::Cell::new(0),
    }
}

fn db(gain: f32) -> f32 {
    20.0 * gain.log10()
}

#[test]
fn unity_by_default_own_signal_passes_unchanged() {
    let mut plugin = plugin();
    let mut ctx = context();
    let mut io = vec![vec![0.5f32; 512], vec![-0.25f32; 512]];
    run(&mut plugin, &mut ctx, &mut io);
    assert!(io[0].iter().all(|&y| (y - 0.5).abs() < 1e-6));
    assert!(io[1].iter().all(|&y| (y + 0.25).abs() < 1e-6));
}

/// The default chain is the reference's master chain: every effect off but the limiter, whose
/// 2 ms lookahead is reported as the plugin's latency and which holds a +6 dBFS input under
/// its ceiling (−0.3 dBFS), settling at its threshold (−1 dBFS).
#[test]
fn the_default_chain_limits_at_the_ceiling_with_its_latency() {
    let mut plugin = plugin_with_default_chain();
    assert_eq!(plugin.latency.reported(), 96);
    let mut ctx = context();
    let mut io = vec![vec![2.0f32; 4096], vec![-2.0f32; 4096]];
    run(&mut plugin, &mut ctx, &mut io);
    let ceiling = 10f32.powf(-0.3 / 20.0);
    assert!(
        io[0][..96].iter().all(|&y| y == 0.0),
        "the lookahead delays"
    );
    assert!(
        io.iter()
            .flatten()
            .all(|&y| y.abs() <= ceiling * (1.0 + 1e-6))
    );
    let threshold = 10f32.powf(-1.0 / 20.0);
    assert!((io[0][4095] - threshold).abs() < 1e-3, "{}", io[0][4095]);
}

/// Effect parameters reach the chain: switching the stereo imager on at width 0 makes the
/// output mono (after its 10 ms crossfade), and switching it off again restores the stereo
/// input bit for bit, allocation-free throughout.
#[test]
fn host_effect_parameters_reach_the_chain() {
    let mut plugin = plugin();
    let mut ctx = context();
    set_by_id(&plugin, "stereoImager.width", 0.0);
    set_by_id(&plugin, "stereoImager.on", 1.0);
    let mut io = vec![vec![0.5f32; 2048], vec![-0.25f32; 2048]];
    run(&mut plugin, &mut ctx, &mut io);
    for (l, r) in io[0][1024..].iter().zip(&io[1][1024..]) {
        assert!(
            (l - 0.125).abs() < 1e-6 && (r - 0.125).abs() < 1e-6,
            "{l} {r}"
        );
    }
    set_by_id(&plugin, "stereoImager.on", 0.0);
    let mut io = vec![vec![0.5f32; 2048], vec![-0.25f32; 2048]];
    run(&mut plugin, &mut ctx, &mut io);
    assert!(io[0][1024..].iter().all(|&y| y == 0.5));
    assert!(io[1][1024..].iter().all(|&y| y == -0.25));
}

/// Switching the limiter off while processing keeps the latency the host was told (the chain
/// is padded to it: an impulse still comes out 96 samples late) and asks for one restart; the
/// next activation reports the chain's new latency, 0.
#[test]
fn a_latency_change_waits_for_the_restart_and_is_padded_until_then() {
    let mut plugin = plugin_with_default_chain();
    let mut ctx = context();
    set_by_id(&plugin, "limiter.on", 0.0);
    // Past the limiter's crossfade, so the chain itself has no latency left.
    let mut io = vec![vec![0.0f32; 8192], vec![0.0f32; 8192]];
    run(&mut plugin, &mut ctx, &mut io);
    assert_eq!(plugin.chain.latency(), 0);
    let mut io = vec![vec![0.0f32; 1024], vec![0.0f32; 1024]];
    io[0][100] = 0.5;
    io[1][100] = 0.5;
    run(&mut plugin, &mut ctx, &mut io);
    let peak = io[0].iter().position(|&y| y != 0.0);
    assert_eq!(
        peak,
        Some(196),
        "the impulse comes out at the reported 96 samples"
    );
    assert!((io[0][196] - 0.5).abs() < 1e-6);
    assert_eq!(ctx.restarts.get(), 1, "one restart asked for");
    let plugin = activated(plugin);
    assert_eq!(plugin.latency.reported(), 0);
}

#[test]
fn gain_law_input_and_output_gains_add_in_db() {
    let mut plugin = plugin();
    let params = plugin.jam_params().clone();
    set(&params.input_gain, util::db_to_gain(6.0));
    set(&params.output_gain, util::db_to_gain(-18.0));
    snap_smoothers(&plugin);
    let mut ctx = context();
    let mut io = vec![vec![0.1f32; 256], vec![0.1f32; 256]];
    run(&mut plugin, &mut ctx, &mut io);
    for channel in &io {
        let gain_db = db(channel[255] / 0.1);
        assert!((gain_db - -12.0).abs() < 0.01, "{gain_db} dB");
    }
    // Monitor fully on the room: the player's own signal is gone.
    set(&params.monitor, 0.0);
    snap_smoothers(&plugin);
    run(&mut plugin, &mut ctx, &mut io);
    assert!(io.iter().flatten().all(|&y| y == 0.0));
}

#[test]
fn gain_changes_are_smoothed_over_twenty_ms_on_a_log_curve() {
    let mut plugin = plugin();
    let params = plugin.jam_params().clone();
    set(&params.output_gain, util::db_to_gain(-40.0));
    let mut ctx = context();
    let n = (SR * 0.040) as usize;
    let mut io = vec![vec![1.0f32; n]];
    run(&mut plugin, &mut ctx, &mut io);
    let y = &io[0];
    // Monotone fall, no step bigger than a smooth 20 ms log ramp allows.
    assert!(y.windows(2).all(|w| w[1] <= w[0] + 1e-7));
    let ramp = (SR * params::SMOOTHING_MS / 1000.0) as usize; // 960 samples
    // Halfway through the ramp a logarithmic smoother sits at the dB midpoint (-20 dB).
    let mid_db = db(y[ramp / 2 - 1]);
    assert!((mid_db - -20.0).abs() < 0.5, "midpoint {mid_db} dB");
    assert!((db(y[ramp - 1]) - -40.0).abs() < 0.01);
    assert!((db(y[n - 1]) - -40.0).abs() < 0.001);
}

#[test]
fn bypass_crossfades_to_the_dry_input() {
    let mut plugin = plugin();
    let params = plugin.jam_params().clone();
    set(&params.output_gain, util::db_to_gain(-60.0));
    snap_smoothers(&plugin);
    // Set bypass as a host would.
    // SAFETY: owned by this thread for the call.
    unsafe { params.bypass.as_ptr()._internal_set_normalized_value(1.0) };
    let mut ctx = context();
    let n = 1_024;
    let mut io = vec![vec![0.5f32; n], vec![0.5f32; n]];
    run(&mut plugin, &mut ctx, &mut io);
    let fade = (engine::strip::BYPASS_FADE_SECONDS * f64::from(SR)) as usize;
    let wet = 0.5 * util::db_to_gain(-60.0);
    assert!(
        (io[0][0] - wet).abs() < 0.5 / fade as f32 + 1e-6,
        "first {}",
        io[0][0]
    );
    assert!((io[0][fade / 2 - 1] - (wet + 0.5) / 2.0).abs() < 0.01);
    assert!(
        io[0][fade..].iter().all(|&y| y == 0.5),
        "dry after the fade"
    );
    assert_eq!(io[0], io[1]);
}

#[test]
fn transport_snapshot_carries_what_the_host_said() {
    let mut plugin = plugin();
    let slot = plugin.transport();
    let mut ctx = context();
    ctx.transport.playing = true;
    ctx.transport.tempo = Some(120.0);
    ctx.transport.time_sig_numerator = Some(3);
    ctx.transport.time_sig_denominator = Some(4);
    ctx.transport.pos_samples = Some(96_000); // 2 s at 120 BPM = beat 4 = bar 1 (0-based) in 3/4
    ctx.transport.loop_range_beats = Some((3.0, 9.0));
    let mut io = vec![vec![0.0f32; 128]; 2];
    run(&mut plugin, &mut ctx, &mut io);
    let seen: transport::Snapshot = slot.read().expect("published");
    assert!(seen.playing && !seen.recording);
    assert_eq!(seen.tempo_bpm, Some(120.0));
    assert_eq!(seen.time_signature, Some((3, 4)));
    assert_eq!(seen.pos_samples, Some(96_000));
    assert_eq!(seen.pos_beats, Some(4.0));
    assert_eq!(seen.bar_number, Some(1));
    assert_eq!(seen.bar_start_beats, Some(3.0));
    assert_eq!(seen.beat_in_bar(), Some(1.0));
    assert_eq!(seen.loop_beats, Some((3.0, 9.0)));
    assert_eq!(seen.sample_clock, 0);
    assert_eq!(seen.sample_rate, 48_000.0);

    ctx.transport.playing = false;
    ctx.transport.pos_samples = Some(96_128);
    run(&mut plugin, &mut ctx, &mut io);
    let seen: transport::Snapshot = slot.read().expect("published");
    assert!(!seen.playing);
    assert_eq!(seen.sample_clock, 128, "engine clock advanced by one block");
    assert_eq!(slot.updates(), 2);
}

#[test]
fn denormal_input_is_flushed_inside_process() {
    let mut plugin = plugin();
    let params = plugin.jam_params().clone();
    set(&params.input_gain, util::db_to_gain(-6.0));
    snap_smoothers(&plugin);
    let mut ctx = context();
    // A denormal times -6 dB stays denormal under IEEE rules; with FTZ/DAZ it is zero.
    let mut io = vec![vec![f32::MIN_POSITIVE / 8.0; 64]];
    run(&mut plugin, &mut ctx, &mut io);
    assert!(io[0].iter().all(|&y| y == 0.0), "{:e}", io[0][0]);
}

#[test]
fn blocks_longer_than_a_chunk_are_processed_whole() {
    let mut plugin = plugin();
    let params = plugin.jam_params().clone();
    set(&params.output_gain, util::db_to_gain(-6.0));
    snap_smoothers(&plugin);
    let mut ctx = context();
    let n = CHUNK * 3 + 17;
    let input: Vec<f32> = (0..n).map(|i| (i as f32 * 0.001).sin()).collect();
    let mut io = vec![input.clone()];
    run(&mut plugin, &mut ctx, &mut io);
    // Every sample, in every chunk including the short last one, got the gain.
    let gain = util::db_to_gain(-6.0);
    for (i, (y, x)) in io[0].iter().zip(&input).enumerate() {
        assert!(
            (y - gain * x).abs() < 1e-6,
            "sample {i}: {y} vs {}",
            gain * x
        );
    }
}

/// Level of `hz` in `x` relative to a full-scale sine, dB: the median over 20 ms windows, so a
/// concealed packet (which shifts the phase of everything after it) does not cancel the sum.
pub(crate) fn tone_db(x: &[f32], hz: f64) -> f64 {
    let mut levels: Vec<f64> = x.chunks_exact(960).map(|w| window_tone_db(w, hz)).collect();
    levels.sort_by(f64::total_cmp);
    levels[levels.len() / 2]
}

/// Power of `hz` in `x` relative to a full-scale sine (Goertzel), dB.
fn window_tone_db(x: &[f32], hz: f64) -> f64 {
    let w = std::f64::consts::TAU * hz / f64::from(SR);
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = f64::from(v) + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    10.0 * (power / (x.len() as f64 * x.len() as f64 / 4.0)).log10()
}

#[test]
#[allow(clippy::disallowed_methods)] // paces the blocks in real time, as an audio device would
fn two_instances_in_one_room_share_a_session_and_process_allocation_free_with_the_network() {
    use std::time::{Duration, Instant};
    const BLOCK: usize = 64;
    // The other member: an engine of its own on 127.0.0.1, sending 660 Hz.
    let mut config =
        engine::Config::new(99, "plugin-room", "secret", "127.0.0.1:0".parse().unwrap());
    config.codec = engine::Codec::PcmL24 { frame_samples: 64 };
    config.max_block = BLOCK;
    let (remote, mut remote_processor) = engine::new(config).expect("remote engine");
    let settings = session::Settings {
        room: "plugin-room".into(),
        secret: "secret".into(),
        listen: "127.0.0.1:0".into(),
        peers: vec![remote.local_addr().to_string()],
        user_id: 7,
        codec: "pcm".into(),
        frame_samples: 64,
        ..session::Settings::default()
    };
    let instance = || {
        let plugin = OspJam::default();
        set_by_id(&plugin, "limiter.on", 0.0);
        *plugin.params.session.lock().unwrap() = settings.clone();
        activated(plugin)
    };
    let mut first = instance();
    let mut second = instance();
    assert_eq!(
        second.control.track_count(),
        Some(2),
        "one session, two tracks"
    );

    let (mut ctx1, mut ctx2) = (context(), context());
    let period = Duration::from_secs_f64(BLOCK as f64 / f64::from(SR));
    let tone = |hz: f64, n: usize| {
        (0.25 * (std::f64::consts::TAU * hz * n as f64 / f64::from(SR)).sin()) as f32
    };
    let mut out_first = Vec::new();
    let mut heard: std::collections::HashMap<u16, Vec<f32>> = Default::default();
    let blocks = 4 * 48_000 / BLOCK;
    let start = Instant::now();
    for block in 0..blocks {
        if let Some(wait) = (start + period * block as u32).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let n = block * BLOCK;
        let mut a = vec![(0..BLOCK).map(|i| tone(997.0, n + i)).collect::<Vec<f32>>(); 2];
        let mut b = vec![(0..BLOCK).map(|i| tone(440.0, n + i)).collect::<Vec<f32>>(); 2];
        run(&mut first, &mut ctx1, &mut a);
        run(&mut second, &mut ctx2, &mut b);
        let remote_in: Vec<f32> = (0..BLOCK).map(|i| tone(660.0, n + i)).collect();
        remote_processor.process(&remote_in, &remote_in, None);
        if block >= blocks / 2 {
            out_first.extend_from_slice(&a[0]);
            for slot in 0..engine::processor::MAX_REMOTES {
                if let Some(out) = remote_processor.remote(slot) {
                    heard
                        .entry(out.stream_id)
                        .or_default()
                        .extend_from_slice(out.left);
                }
            }
        }
    }
    // The other member hears both tracks as their own streams.
    for (stream, hz) in [(1u16, 997.0), (2, 440.0)] {
        let x = heard
            .get(&stream)
            .unwrap_or_else(|| panic!("stream {stream} not heard"));
        let level = tone_db(x, hz);
        assert!(
            (level - 20.0 * 0.25f64.log10()).abs() < 1.0,
            "stream {stream}: {level:.1} dB"
        );
    }
    // The first instance plays the room: the other member's 660 Hz is in its output.
    let room = tone_db(&out_first, 660.0);
    assert!(room > -30.0, "room at {room:.1} dB");
    assert!(remote.network().peers.len() == 1);
    drop(second);
    drop(first);
}
