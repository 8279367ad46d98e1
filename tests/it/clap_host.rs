//! The built `OSP Jam.clap` in a small CLAP host (clack-host): descriptor, parameters,
//! processing with a playing 120 BPM transport, the transport the plugin saw, and state.

use clack_extensions::latency::PluginLatency;
use clack_extensions::params::{ParamInfoBuffer, ParamInfoFlags, PluginParams};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::events::{EventFlags, EventHeader};
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};
use engine::transport::{Snapshot, WORDS};
use rt::snapshot::Packed;

use crate::support::{bundled, dominant_frequency, rms, sine};

const PLUGIN_ID: &[u8] = b"org.ospjam.osp-jam";
const SR: f64 = 48_000.0;
const BLOCK: usize = 256;
const TEMPO: f64 = 120.0;

struct Shared;
impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

struct TestHost;
impl HostHandlers for TestHost {
    type Shared<'a> = Shared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();
}

pub(crate) fn host_info() -> HostInfo {
    HostInfo::new(
        "osp-jam-it",
        "OSP Jam tests",
        "https://example.invalid",
        "0.1.0",
    )
    .unwrap()
}

fn clap_path() -> std::path::PathBuf {
    // nice-plug bundles a CLAP on Linux as a single shared object named `<name>.clap`.
    bundled("OSP Jam.clap")
}

pub(crate) fn load_entry() -> PluginEntry {
    // SAFETY: loading our own freshly built plugin; its entry point follows the CLAP ABI.
    unsafe { PluginEntry::load(clap_path()) }.expect("load OSP Jam.clap")
}

fn new_instance(entry: &PluginEntry) -> PluginInstance<TestHost> {
    let id = c"org.ospjam.osp-jam";
    PluginInstance::<TestHost>::new(|_| Shared, |_| (), entry, id, &host_info())
        .expect("instantiate OSP Jam")
}

/// Parameter ids by display name, with flags.
pub(crate) fn params<H: HostHandlers>(
    instance: &mut PluginInstance<H>,
) -> Vec<(String, ClapId, ParamInfoFlags)> {
    let handle = instance.plugin_handle();
    let ext = handle
        .get_extension::<PluginParams>()
        .expect("params extension");
    let mut buffer = ParamInfoBuffer::new();
    (0..ext.count(&handle))
        .map(|i| {
            let info = ext.get_info(&handle, i, &mut buffer).expect("param info");
            (
                String::from_utf8_lossy(info.name).into_owned(),
                info.id,
                info.flags,
            )
        })
        .collect()
}

pub(crate) fn param_id(params: &[(String, ClapId, ParamInfoFlags)], name: &str) -> ClapId {
    params
        .iter()
        .find(|(n, ..)| n == name)
        .unwrap_or_else(|| panic!("no param {name}"))
        .1
}

/// The host value (normalised for nice-plug) the plugin parses from `text`.
fn value_from_text(instance: &mut PluginInstance<TestHost>, id: ClapId, text: &str) -> f64 {
    let handle = instance.plugin_handle();
    let ext = handle.get_extension::<PluginParams>().unwrap();
    let text = std::ffi::CString::new(text).unwrap();
    ext.text_to_value(&handle, id, &text)
        .expect("text_to_value")
}

fn current_value(instance: &mut PluginInstance<TestHost>, id: ClapId) -> f64 {
    let handle = instance.plugin_handle();
    let ext = handle.get_extension::<PluginParams>().unwrap();
    ext.get_value(&handle, id).expect("get_value")
}

/// One block of `input` (on both channels) through `processor` with `events`; the two output
/// channels and the status.
pub(crate) fn process_stereo<H: HostHandlers>(
    processor: &mut StartedPluginAudioProcessor<H>,
    input: &[f32],
    events: &EventBuffer,
    steady_time: u64,
    transport: Option<&TransportEvent>,
) -> (Vec<f32>, Vec<f32>, ProcessStatus) {
    let mut in_ports = AudioPorts::with_capacity(2, 1);
    let mut out_ports = AudioPorts::with_capacity(2, 1);
    let mut out_events = EventBuffer::new();
    let mut left = input.to_vec();
    let mut right = input.to_vec();
    let mut out_l = vec![0.0f32; input.len()];
    let mut out_r = vec![0.0f32; input.len()];
    let ins = in_ports.with_input_buffers([AudioPortBuffer {
        latency: 0,
        channels: AudioPortBufferType::f32_input_only(
            [&mut left[..], &mut right[..]]
                .into_iter()
                .map(InputChannel::variable),
        ),
    }]);
    let mut outs = out_ports.with_output_buffers([AudioPortBuffer {
        latency: 0,
        channels: AudioPortBufferType::f32_output_only(
            [&mut out_l[..], &mut out_r[..]].into_iter(),
        ),
    }]);
    let status = processor
        .process(
            &ins,
            &mut outs,
            &InputEvents::from_buffer(events),
            &mut OutputEvents::from_buffer(&mut out_events),
            Some(steady_time),
            transport,
        )
        .expect("process");
    (out_l, out_r, status)
}

/// A playing 4/4 transport at 120 BPM, looping beats 4..12, at `beats` into the song.
fn transport_at(beats: f64) -> TransportEvent {
    let bar = (beats / 4.0).floor();
    TransportEvent {
        header: EventHeader::new_core(0, EventFlags::empty()),
        flags: TransportFlags::HAS_TEMPO
            | TransportFlags::HAS_BEATS_TIMELINE
            | TransportFlags::HAS_SECONDS_TIMELINE
            | TransportFlags::HAS_TIME_SIGNATURE
            | TransportFlags::IS_PLAYING
            | TransportFlags::IS_LOOP_ACTIVE,
        song_pos_beats: BeatTime::from_float(beats),
        song_pos_seconds: SecondsTime::from_float(beats * 60.0 / TEMPO),
        tempo: TEMPO,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::from_float(4.0),
        loop_end_beats: BeatTime::from_float(12.0),
        loop_start_seconds: SecondsTime::from_float(2.0),
        loop_end_seconds: SecondsTime::from_float(6.0),
        bar_start: BeatTime::from_float(bar * 4.0),
        bar_number: bar as i32,
        time_signature_numerator: 4,
        time_signature_denominator: 4,
    }
}

/// The transport the plugin published last, read through the bundle's diagnostics export.
fn transport_seen_by_plugin() -> (u64, Snapshot) {
    // SAFETY: the same shared object the entry loaded; dlopen returns the loaded instance, so
    // the diagnostics statics are the ones the plugin wrote.
    let lib = unsafe { libloading::Library::new(clap_path()) }.expect("dlopen bundle");
    // SAFETY: the symbol's signature is the one `plugin::diag` exports.
    let diag: libloading::Symbol<unsafe extern "C" fn(*mut u64, usize) -> u64> =
        unsafe { lib.get(b"osp_jam_diag_transport_v1\0") }.expect("diag symbol");
    let mut words = [0u64; WORDS];
    // SAFETY: `words` is valid for WORDS writes.
    let updates = unsafe { diag(words.as_mut_ptr(), WORDS) };
    (updates, Snapshot::unpack(words))
}

#[test]
fn clap_bundle_processes_with_a_playing_120_bpm_transport() {
    let entry = load_entry();
    let factory = entry.get_plugin_factory().expect("plugin factory");
    let descriptors: Vec<_> = factory.plugin_descriptors().collect();
    assert_eq!(descriptors.len(), 1);
    assert_eq!(descriptors[0].id().unwrap().to_bytes(), PLUGIN_ID);
    assert_eq!(descriptors[0].name().unwrap().to_bytes(), b"OSP Jam");

    let mut instance = new_instance(&entry);
    let params = params(&mut instance);
    let names: Vec<&str> = params.iter().map(|(n, ..)| n.as_str()).collect();
    let mut expected = vec![
        "Bypass".to_owned(),
        "Input Gain".to_owned(),
        "Output Gain".to_owned(),
        "Monitor Mix".to_owned(),
    ];
    for player in 1..=7 {
        expected.push(format!("Player {player} Gain"));
        expected.push(format!("Player {player} Mute"));
    }
    // The strip's parameters first, then every effect of the chain as a group: its switch and
    // its parameters (the reference chain's defaults: all off but the limiter).
    assert_eq!(names[..expected.len()], expected);
    for name in [
        "Compressor On",
        "Compressor Threshold",
        "EQ Band 3 Gain",
        "Limiter On",
        "Limiter Ceiling",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(names.len() > 150, "{} parameters", names.len());
    for (name, _, flags) in &params {
        assert!(
            flags.contains(ParamInfoFlags::IS_AUTOMATABLE),
            "{name} not automatable"
        );
    }
    assert!(params[0].2.contains(ParamInfoFlags::IS_BYPASS));
    let out_gain = param_id(&params, "Output Gain");
    let minus_6 = value_from_text(&mut instance, out_gain, "-6 dB");

    let config = PluginAudioConfiguration {
        sample_rate: SR,
        min_frames_count: 1,
        max_frames_count: 256,
    };
    let processor = instance.activate(|_, _| (), config).expect("activate");
    // The default chain's limiter looks 2 ms ahead; the host is told, and the audio is
    // delayed by exactly that (docs/effects.md §1 test 30).
    let latency = {
        let handle = instance.plugin_handle();
        let ext = handle
            .get_extension::<PluginLatency>()
            .expect("latency extension");
        ext.get(&handle) as usize
    };
    assert_eq!(latency, 96);
    let mut processor = processor.start_processing().expect("start processing");

    let blocks = 80; // 0.43 s: well past the 20 ms gain smoothing
    let input = sine(440.0, 0.5, SR, BLOCK * blocks);
    let mut output = vec![[0.0f32; 2 * BLOCK]; blocks].concat();
    let mut events = EventBuffer::new();
    let start_beats = 8.0; // bar 2 (0-based), beat 1
    for b in 0..blocks {
        events.clear();
        if b == 0 {
            events.push(&ParamValueEvent::new(
                0,
                out_gain,
                Pckn::match_all(),
                minus_6,
            ));
        }
        let beats = start_beats + (b * BLOCK) as f64 * TEMPO / 60.0 / SR;
        let transport = transport_at(beats);
        let (out_l, out_r, status) = process_stereo(
            &mut processor,
            &input[b * BLOCK..(b + 1) * BLOCK],
            &events,
            (b * BLOCK) as u64,
            Some(&transport),
        );
        assert_eq!(status, ProcessStatus::Continue);
        let frame = &mut output[b * 2 * BLOCK..(b + 1) * 2 * BLOCK];
        frame[..BLOCK].copy_from_slice(&out_l);
        frame[BLOCK..].copy_from_slice(&out_r);
    }

    // Audio: after the smoother settles, out = in · (−6 dB) delayed by the reported latency,
    // sample for sample, on both channels.
    let gain = 10f64.powf(-6.0 / 20.0);
    for b in 8..blocks {
        let x = &input[b * BLOCK - latency..(b + 1) * BLOCK - latency];
        for ch in 0..2 {
            let y = &output[b * 2 * BLOCK + ch * BLOCK..b * 2 * BLOCK + (ch + 1) * BLOCK];
            for (yi, xi) in y.iter().zip(x) {
                assert!(
                    (f64::from(*yi) - gain * f64::from(*xi)).abs() < 1e-5,
                    "block {b}"
                );
            }
        }
    }
    let tail_l: Vec<f32> = (blocks - 40..blocks)
        .flat_map(|b| output[b * 2 * BLOCK..b * 2 * BLOCK + BLOCK].to_vec())
        .collect();
    let level_db = 20.0 * (rms(&tail_l) / (0.5 / 2f64.sqrt())).log10();
    assert!((level_db - -6.0).abs() < 0.01, "output level {level_db} dB");
    let f = dominant_frequency(&tail_l[..4_800], SR, 440.0);
    assert!((f - 440.0).abs() < 0.5, "output pitch {f} Hz");
    assert!((current_value(&mut instance, out_gain) - minus_6).abs() < 1e-9);

    // Transport: what the plugin saw at the start of the last block.
    let (updates, seen) = transport_seen_by_plugin();
    assert!(
        updates >= blocks as u64,
        "{updates} snapshots for {blocks} blocks"
    );
    let last_beats = start_beats + ((blocks - 1) * BLOCK) as f64 * TEMPO / 60.0 / SR;
    assert!(seen.playing);
    assert_eq!(seen.tempo_bpm, Some(TEMPO));
    assert_eq!(seen.time_signature, Some((4, 4)));
    assert_eq!(seen.sample_rate, SR);
    let pos = seen.pos_beats.expect("beat position");
    assert!((pos - last_beats).abs() < 1e-6, "pos {pos} vs {last_beats}");
    assert_eq!(seen.bar_number, Some((last_beats / 4.0).floor() as i32));
    assert_eq!(seen.bar_start_beats, Some((last_beats / 4.0).floor() * 4.0));
    assert_eq!(seen.loop_beats, Some((4.0, 12.0)));
    assert_eq!(seen.sample_clock, ((blocks - 1) * BLOCK) as u64);

    let processor = processor.stop_processing();
    instance.deactivate(processor);
}

#[test]
fn clap_state_saves_and_restores_parameters() {
    let entry = load_entry();
    let mut first = new_instance(&entry);
    let params = params(&mut first);
    let in_gain = param_id(&params, "Input Gain");
    let monitor = param_id(&params, "Monitor Mix");
    let plus_3 = value_from_text(&mut first, in_gain, "3 dB");
    let quarter = value_from_text(&mut first, monitor, "25%");
    // Parameter changes outside processing go through params.flush, as a host's automation does.
    {
        let mut events = EventBuffer::new();
        events.push(&ParamValueEvent::new(0, in_gain, Pckn::match_all(), plus_3));
        events.push(&ParamValueEvent::new(
            0,
            monitor,
            Pckn::match_all(),
            quarter,
        ));
        let ext = first
            .plugin_handle()
            .get_extension::<PluginParams>()
            .unwrap();
        let mut handle = first.inactive_plugin_handle().expect("not active");
        let mut out = EventBuffer::new();
        ext.flush(
            &mut handle,
            &InputEvents::from_buffer(&events),
            &mut OutputEvents::from_buffer(&mut out),
        );
    }
    assert!((current_value(&mut first, in_gain) - plus_3).abs() < 1e-9);

    let mut state = Vec::new();
    {
        let handle = first.plugin_handle();
        let ext = handle
            .get_extension::<PluginState>()
            .expect("state extension");
        ext.save(&handle, &mut state).expect("save state");
    }
    let text = String::from_utf8_lossy(&state);
    assert!(
        text.contains("in_gain") && text.contains("monitor"),
        "state: {text}"
    );

    let mut second = new_instance(&entry);
    assert!(
        (current_value(&mut second, in_gain) - plus_3).abs() > 1e-3,
        "fresh instance"
    );
    {
        let handle = second.plugin_handle();
        let ext = handle.get_extension::<PluginState>().unwrap();
        ext.load(&handle, &mut state.as_slice())
            .expect("load state");
    }
    assert!((current_value(&mut second, in_gain) - plus_3).abs() < 1e-6);
    assert!((current_value(&mut second, monitor) - quarter).abs() < 1e-6);

    // Garbage state is refused, and leaves the instance as it was.
    {
        let handle = second.plugin_handle();
        let ext = handle.get_extension::<PluginState>().unwrap();
        assert!(ext.load(&handle, &mut &b"\xff\x00not json"[..]).is_err());
    }
    assert!((current_value(&mut second, monitor) - quarter).abs() < 1e-6);
}
