//! The plugin's latency as a CLAP host sees it: switching effects while processing never
//! changes it from the audio thread; the plugin asks for a restart, the new value reaches the
//! host through `latency.changed` inside `activate`, and in every chain state the reported
//! latency is the delay an impulse measures.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;

use crate::clap_host::{host_info, load_entry, param_id, params, process_stereo};

const SR: f64 = 48_000.0;
const BLOCK: usize = 256;

/// What the plugin asked of the host, and when.
#[derive(Default)]
struct Calls {
    /// Set by the test while it is inside `activate`.
    in_activate: AtomicBool,
    restarts_requested: AtomicU32,
    callbacks_requested: AtomicU32,
    changed_in_activate: AtomicU32,
    changed_out_of_place: AtomicU32,
}

struct Shared(&'static Calls);
impl SharedHandler<'_> for Shared {
    fn request_restart(&self) {
        self.0.restarts_requested.fetch_add(1, Ordering::SeqCst);
    }
    fn request_process(&self) {}
    fn request_callback(&self) {
        self.0.callbacks_requested.fetch_add(1, Ordering::SeqCst);
    }
}

struct MainThread(&'static Calls);
impl MainThreadHandler<'_> for MainThread {}
impl HostLatencyImpl for MainThread {
    fn changed(&self) {
        let counter = if self.0.in_activate.load(Ordering::SeqCst) {
            &self.0.changed_in_activate
        } else {
            &self.0.changed_out_of_place
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

struct LatencyHost;
impl HostHandlers for LatencyHost {
    type Shared<'a> = Shared;
    type MainThread<'a> = MainThread;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostLatency>();
    }
}

/// A host that honours restarts and measures the plugin's delay.
struct Host {
    calls: &'static Calls,
    instance: PluginInstance<LatencyHost>,
    processor: Option<StartedPluginAudioProcessor<LatencyHost>>,
    /// Samples processed since the last activation.
    steady_time: u64,
}

impl Host {
    fn new(entry: &PluginEntry) -> Self {
        // Leaked: the handlers borrow it for the instance's whole life (one per test).
        let calls: &'static Calls = Box::leak(Box::default());
        let instance = PluginInstance::<LatencyHost>::new(
            |_| Shared(calls),
            |_| MainThread(calls),
            entry,
            c"org.ospjam.osp-jam",
            &host_info(),
        )
        .expect("instantiate OSP Jam");
        let mut host = Self {
            calls,
            instance,
            processor: None,
            steady_time: 0,
        };
        host.activate();
        host
    }

    fn activate(&mut self) {
        let config = PluginAudioConfiguration {
            sample_rate: SR,
            min_frames_count: 1,
            max_frames_count: BLOCK as u32,
        };
        self.calls.in_activate.store(true, Ordering::SeqCst);
        let processor = self.instance.activate(|_, _| (), config).expect("activate");
        self.calls.in_activate.store(false, Ordering::SeqCst);
        self.processor = Some(processor.start_processing().expect("start processing"));
        self.steady_time = 0;
    }

    fn deactivate(&mut self) {
        let processor = self.processor.take().expect("active").stop_processing();
        self.instance.deactivate(processor);
    }

    /// What a host's main loop does between blocks: runs the plugin's main-thread callback
    /// when asked, and restarts the plugin when asked (each restart once). Returns the
    /// restarts done.
    fn main_loop(&mut self, restarts_seen: &mut u32) -> u32 {
        if self.calls.callbacks_requested.swap(0, Ordering::SeqCst) > 0 {
            self.instance.call_on_main_thread_callback();
        }
        let mut done = 0;
        // A restart asked for inside `activate` is honoured too, a bounded number of times.
        while self.calls.restarts_requested.load(Ordering::SeqCst) > *restarts_seen {
            *restarts_seen = self.calls.restarts_requested.load(Ordering::SeqCst);
            self.deactivate();
            self.activate();
            done += 1;
            assert!(done <= 3, "the plugin keeps asking for restarts");
        }
        done
    }

    fn reported_latency(&mut self) -> usize {
        let handle = self.instance.plugin_handle();
        let ext = handle
            .get_extension::<PluginLatency>()
            .expect("latency extension");
        ext.get(&handle) as usize
    }

    /// Processes `input` (mono, on both channels) in blocks with `events` at the first one;
    /// returns the left output.
    fn process(&mut self, input: &[f32], events: &[ParamValueEvent]) -> Vec<f32> {
        let mut output = Vec::with_capacity(input.len());
        for (index, chunk) in input.chunks(BLOCK).enumerate() {
            let mut buffer = EventBuffer::new();
            if index == 0 {
                for event in events {
                    buffer.push(event);
                }
            }
            let processor = self.processor.as_mut().expect("active");
            let (left, _, _) = process_stereo(processor, chunk, &buffer, self.steady_time, None);
            self.steady_time += chunk.len() as u64;
            output.extend_from_slice(&left);
        }
        output
    }

    /// The delay of an impulse through the plugin now: where the output peaks.
    fn measured_delay(&mut self) -> usize {
        const AT: usize = 1_000;
        let mut input = vec![0.0f32; 16 * BLOCK];
        input[AT] = 0.5;
        let output = self.process(&input, &[]);
        let (peak, value) = output
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .expect("output");
        assert!(
            value.abs() > 0.25,
            "the impulse came out at {value} (sample {peak})"
        );
        peak - AT
    }
}

/// Sets host parameters at the start of the next block, as automation would.
fn set(id: ClapId, value: f64) -> ParamValueEvent {
    ParamValueEvent::new(0, id, Pckn::match_all(), value)
}

#[test]
fn latency_changes_reach_the_host_through_a_restart_and_match_the_audio() {
    let entry = load_entry();
    let mut host = Host::new(&entry);
    let params = params(&mut host.instance);
    let limiter = param_id(&params, "Limiter On");
    let pitch = param_id(&params, "Pitch Correction On");
    let pitch_mix = param_id(&params, "Pitch Correction Mix");
    let mut restarts_seen = 0;
    host.main_loop(&mut restarts_seen);

    // The default chain: the limiter's 2 ms look-ahead.
    assert_eq!(host.reported_latency(), 96);
    assert_eq!(host.measured_delay(), 96);

    // Limiter off while processing: the host is not told from the audio thread; the plugin
    // keeps the latency it reported (padded: the impulse is still 96 samples late) and asks
    // for a restart.
    let silence = vec![0.0f32; 32 * BLOCK]; // past the effect's crossfade
    host.process(&silence, &[set(limiter, 0.0)]);
    assert_eq!(host.calls.changed_out_of_place.load(Ordering::SeqCst), 0);
    assert_eq!(host.reported_latency(), 96);
    assert_eq!(host.measured_delay(), 96);
    let changed_before = host.calls.changed_in_activate.load(Ordering::SeqCst);
    assert!(
        host.main_loop(&mut restarts_seen) >= 1,
        "a restart was asked"
    );
    assert!(
        host.calls.changed_in_activate.load(Ordering::SeqCst) > changed_before,
        "latency.changed was called inside activate"
    );
    assert_eq!(host.reported_latency(), 0);
    assert_eq!(host.measured_delay(), 0);

    // Limiter and pitch correction (at mix 0: its input delayed by its analysis) on: the
    // chain grows past the reported latency; after the restart both are reported.
    host.process(
        &silence,
        &[set(limiter, 1.0), set(pitch_mix, 0.0), set(pitch, 1.0)],
    );
    assert_eq!(host.reported_latency(), 0);
    let changed_before = host.calls.changed_in_activate.load(Ordering::SeqCst);
    assert!(
        host.main_loop(&mut restarts_seen) >= 1,
        "a restart was asked"
    );
    assert!(host.calls.changed_in_activate.load(Ordering::SeqCst) > changed_before);
    let reported = host.reported_latency();
    assert!(
        reported > 96,
        "limiter and pitch correction report {reported}"
    );
    assert_eq!(host.measured_delay(), reported);

    // A steady chain asks for nothing more, and nothing arrives after deactivation.
    host.process(&silence, &[]);
    assert_eq!(host.main_loop(&mut restarts_seen), 0);
    host.deactivate();
    host.instance.call_on_main_thread_callback();
    assert_eq!(
        host.calls.changed_out_of_place.load(Ordering::SeqCst),
        0,
        "latency.changed outside activate"
    );
}
