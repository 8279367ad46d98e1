//! OSP Jam as a CLAP and VST3 plugin: the host adapter around the `engine` crate.
//!
//! This crate holds no DSP and no network code. It declares the plugin to the host (ids, ports,
//! parameters), turns the host's parameters into per-sample control curves, effect settings and
//! the host's transport into an `engine::transport::Snapshot`, and hands the audio to the effect
//! chain (`dsp`) and the engine.
//!
//! Signal path per chunk: input × input gain → effect chain → sent to the room and monitored
//! (`engine::strip` mixes it with the room; bypass fades to the dry input).
//! `process` runs under flush-to-zero and, in debug builds, under nice-plug's allocation
//! assertion.

pub mod control;
pub mod diag;
pub mod editor;
pub mod effects;
mod handoff;
mod latency;
pub mod params;
pub mod presets;
pub mod secrets;
pub mod session;
pub mod status;
mod user_dir;

use std::num::NonZeroU32;
use std::sync::Arc;

use dsp::chain::{Chain, Preset};
use dsp::context::RoomContext;
use dsp::effect::{Block, Effect, ProcessSpec};
use engine::click::Click;
use engine::grid::Grid;
use engine::strip::{Controls, Strip};
use engine::transport;
use nice_plug::prelude::*;

pub use params::JamParams;
use params::PLAYERS;

/// Samples per internal chunk: the size of the preallocated control-curve buffers. Host blocks
/// longer than this are processed in several chunks.
pub const CHUNK: usize = 256;

/// The OSP Jam plugin instance.
pub struct OspJam {
    params: Arc<JamParams>,
    strip: Strip,
    transport: Arc<transport::Shared>,
    sample_rate: f64,
    /// Samples processed since activation: the engine's own clock.
    sample_clock: u64,
    curves: Curves,
    /// The network session (control side): started at activation and by the editor.
    control: Arc<control::SessionControl>,
    /// Its audio thread side: the processor playing the room, and where new ones arrive.
    processor: Option<engine::Processor>,
    handoff: handoff::Receiver,
    /// The effect chain on the player's own signal.
    chain: Chain,
    /// The chain's settings as last read from the host parameters (audio thread copy).
    chain_settings: Preset,
    /// The latency reported at activation and the padding that holds the chain on it.
    latency: latency::LatencyPad,
    /// The player's signal through input gain and the chain, one chunk.
    local: [[f32; CHUNK]; 2],
    /// The metronome on the room's grid (sounding while `control.click` is on).
    click: Click,
    /// Whether the click sounded in the last chunk (it restarts from the grid when switched on).
    click_on: bool,
    /// What the editor shows: levels, the session's state and report.
    status: Arc<status::Status>,
    /// The editor's window size and scale, saved with the project.
    editor_state: Arc<nice_plug_egui::EguiEditorState>,
}

/// Level of the click on the grid (-12 dBFS peak): audible over a band, below a loud track.
const CLICK_LEVEL: f32 = 0.25;

/// Preallocated per-sample parameter curves for one chunk.
struct Curves {
    input_gain: [f32; CHUNK],
    output_gain: [f32; CHUNK],
    monitor: [f32; CHUNK],
}

impl Default for OspJam {
    fn default() -> Self {
        let transport = Arc::new(transport::Shared::new());
        let status = status::Status::new_shared();
        let (control, handoff) =
            control::SessionControl::new(Arc::clone(&transport), Arc::clone(&status));
        Self {
            params: JamParams::new_shared(),
            strip: Strip::new(48_000.0, false),
            transport,
            sample_rate: 48_000.0,
            sample_clock: 0,
            curves: Curves {
                input_gain: [1.0; CHUNK],
                output_gain: [1.0; CHUNK],
                monitor: [0.5; CHUNK],
            },
            control,
            processor: None,
            handoff,
            chain: Chain::new(&Preset::default()),
            chain_settings: Preset::default(),
            latency: latency::LatencyPad::default(),
            local: [[0.0; CHUNK]; 2],
            click: Click::new(48_000.0),
            click_on: false,
            status,
            editor_state: editor::default_state(),
        }
    }
}

impl OspJam {
    /// Leaves the room (if in one) and frees the session, off the audio thread.
    fn stop_session(&mut self) {
        self.processor = None;
        self.handoff.clear();
        self.control.deactivate();
    }

    /// The slot this instance publishes its host transport into, once per block.
    pub fn transport(&self) -> Arc<transport::Shared> {
        Arc::clone(&self.transport)
    }

    /// The instance's parameters.
    pub fn jam_params(&self) -> &Arc<JamParams> {
        &self.params
    }

    /// What the editor shows that is not a parameter.
    pub fn status(&self) -> &Arc<status::Status> {
        &self.status
    }

    /// The session's settings with the secret filled in from the user's secrets file when the
    /// settings carry none (they are saved without it).
    fn session_settings(&self) -> session::Settings {
        let mut settings = match self.params.session.lock() {
            Ok(settings) => settings.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if settings.secret.is_empty()
            && let Some(secret) =
                secrets::SecretStore::for_user().and_then(|store| store.get(&settings.room))
        {
            settings.secret = secret;
        }
        settings
    }

    /// Reads the effect parameters into the chain.
    ///
    /// Audio thread: must not allocate, lock or block.
    fn update_chain(&mut self) {
        let chain = &mut self.chain;
        self.params
            .effects
            .read_into(&mut self.chain_settings, |index, unit| {
                chain.slots_mut()[index].set_params(unit);
            });
    }

    /// The room context at `offset` samples into the block: the room's grid while it rolls
    /// (so every player's tempo-synced effects share its phase), else the host's tempo and beat
    /// position. `grid_at` is the grid and the sample clock at the chunk's start.
    fn room_context(
        snapshot: &transport::Snapshot,
        grid_at: Option<(&Grid, u64)>,
        offset: usize,
    ) -> RoomContext {
        if let Some((grid, first)) = grid_at
            && grid.playing
        {
            return RoomContext {
                tempo_bpm: grid.bpm,
                beat_position: Some(grid.beat_at(first)),
                ..RoomContext::default()
            };
        }
        let tempo = snapshot.tempo_bpm.unwrap_or(120.0);
        let beat_position = snapshot
            .pos_beats
            .filter(|_| snapshot.playing)
            .map(|beats| beats + offset as f64 / snapshot.sample_rate * tempo / 60.0);
        RoomContext {
            tempo_bpm: tempo,
            beat_position,
            ..RoomContext::default()
        }
    }
}

impl Plugin for OspJam {
    const NAME: &'static str = "OSP Jam";
    const VENDOR: &'static str = "OSP Jam";
    const URL: &'static str = "https://example.invalid/osp-jam";
    const EMAIL: &'static str = "dev@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    // The first layout is what hosts (and pedalboard) pick by default; multi-output hosts
    // offer the second, where every remote player also has an output of its own to record on
    // its own track (`osp-jam --audio-layout 2` in the standalone).
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            aux_output_ports: &[new_nonzero_u32(2); PLAYERS],
            names: PortNames {
                layout: Some("Stereo with player outputs"),
                main_input: None,
                main_output: None,
                aux_inputs: &[],
                aux_outputs: &[
                    "Player 1", "Player 2", "Player 3", "Player 4", "Player 5", "Player 6",
                    "Player 7",
                ],
            },
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

    type Editor = nice_plug_egui::EguiEditor<editor::JamEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.sample_rate = f64::from(buffer_config.sample_rate);
        self.strip = Strip::new(self.sample_rate, self.params.bypass.value());
        // Built and prepared here, off the audio thread: every effect's buffers for this rate
        // and the chunk size (process never hands the chain more than a chunk).
        self.chain_settings = self.params.effects.preset();
        self.chain = Chain::new(&self.chain_settings);
        self.chain
            .prepare(&ProcessSpec::stereo(self.sample_rate, CHUNK));
        // The one place the latency changes (see `latency`): nice-plug tells a CLAP host
        // through `latency.changed` inside the activation that follows.
        self.latency = latency::LatencyPad::new(self.chain.latency());
        context.set_latency_samples(u32::try_from(self.latency.reported()).unwrap_or(u32::MAX));
        self.sample_clock = 0;
        self.stop_session();
        let settings = self.session_settings();
        self.status.sample_rate.store(
            buffer_config.sample_rate as u32,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.click = Click::new(self.sample_rate);
        self.click_on = false;
        self.processor = self.control.activate(&settings, self.sample_rate);
        true
    }

    fn deactivate(&mut self) {
        self.stop_session();
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            Arc::clone(&self.params),
            Arc::clone(&self.status),
            Arc::clone(&self.control),
            Arc::clone(&self.editor_state),
        )
    }

    fn reset(&mut self) {
        self.strip.reset(self.params.bypass.value());
        self.chain.reset();
        self.latency.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let _ftz = rt::ftz::ScopedFtz::new();
        let snapshot = host_transport(context.transport(), self.sample_clock);
        self.transport.publish(&snapshot);
        diag::LAST_TRANSPORT.publish(&snapshot);

        let samples = buffer.samples();
        self.status
            .block
            .store(samples as u32, std::sync::atomic::Ordering::Relaxed);
        let bypass = self.params.bypass.value();
        self.update_chain();
        let chain_latency = self.chain.latency();
        if self.latency.needs_restart(chain_latency) {
            // Thread-safe in CLAP and VST3; the new latency is reported as the host
            // reactivates us, never from here. The one restart the plugin asks for (Join and
            // Leave need none): the reactivation starts the session anew, and the editor's
            // chain pane says so.
            context.request_restart();
        }
        // A session the editor started or stopped since the last block.
        self.handoff.swap_into(&mut self.processor);
        let click_on = self
            .control
            .click
            .load(std::sync::atomic::Ordering::Relaxed);
        if click_on && !self.click_on {
            // From silence: the next beat of the grid clicks, not the one already begun.
            self.click = Click::new(self.sample_rate);
        }
        self.click_on = click_on;
        if let Some(processor) = &self.processor {
            for (index, player) in self.params.players.iter().enumerate() {
                processor.set_gain(index, player.gain.value(), player.mute.value());
            }
        }
        let channels = buffer.as_slice();
        let mut start = 0;
        while start < samples {
            let len = (samples - start).min(CHUNK);
            let c = &mut self.curves;
            self.params
                .input_gain
                .smoothed
                .next_block(&mut c.input_gain[..len], len);
            self.params
                .output_gain
                .smoothed
                .next_block(&mut c.output_gain[..len], len);
            self.params
                .monitor
                .smoothed
                .next_block(&mut c.monitor[..len], len);
            let controls = Controls {
                input_gain: &c.input_gain[..len],
                output_gain: &c.output_gain[..len],
                monitor: &c.monitor[..len],
                bypass,
            };
            let range = start..start + len;
            let right = channels.len().min(2) - 1;
            let [local_left, local_right] = &mut self.local;
            let (local_left, local_right) = (&mut local_left[..len], &mut local_right[..len]);
            for (i, (l, r)) in local_left
                .iter_mut()
                .zip(local_right.iter_mut())
                .enumerate()
            {
                *l = channels[0][start + i] * c.input_gain[i];
                *r = channels[right][start + i] * c.input_gain[i];
            }
            let first = self.processor.as_mut().map(|processor| {
                processor.begin_block();
                if start == 0
                    && snapshot.playing
                    && let Some(beat) = snapshot.pos_beats
                {
                    processor.note_host_beat(beat);
                }
                processor.sample_clock()
            });
            let grid = self.processor.as_ref().and_then(|p| p.grid().copied());
            let grid_at = grid.as_ref().zip(first);
            self.chain
                .set_context(&Self::room_context(&snapshot, grid_at, start));
            self.chain.process(&mut Block::new(local_left, local_right));
            self.latency.process(chain_latency, local_left, local_right);
            if channels.len() == 1 {
                // A mono track hears (and sends) the middle of the stereo chain.
                for (l, r) in local_left.iter_mut().zip(local_right.iter()) {
                    *l = 0.5 * (*l + *r);
                }
                local_right.copy_from_slice(local_left);
            }
            self.status.input.measure(local_left, local_right);
            let own: [&[f32]; 2] = [local_left, local_right];
            match &mut self.processor {
                Some(processor) => {
                    processor.process(own[0], own[1], None);
                    let (room_left, room_right) = processor.room();
                    let room: [&[f32]; 2] = [room_left, room_right];
                    self.strip
                        .process(channels, Some(&own), Some(&room), range.clone(), controls);
                    if self.click_on
                        && let Some((grid, first)) = grid_at
                    {
                        let click = &mut self.click;
                        match channels {
                            [left, right, ..] => click.render(
                                Some(grid),
                                first,
                                CLICK_LEVEL,
                                &mut left[range.clone()],
                                &mut right[range.clone()],
                            ),
                            [mono] => {
                                let scratch = &mut self.local[1][..len];
                                scratch.fill(0.0);
                                click.render(
                                    Some(grid),
                                    first,
                                    CLICK_LEVEL,
                                    &mut mono[range.clone()],
                                    scratch,
                                );
                            }
                            [] => {}
                        }
                    }
                    for (index, meter) in self.status.players.iter().enumerate() {
                        match processor.remote(index) {
                            Some(remote) => {
                                meter
                                    .user_id
                                    .store(remote.user_id, std::sync::atomic::Ordering::Relaxed);
                                meter.level.measure(remote.left, remote.right);
                            }
                            None => {
                                meter.user_id.store(0, std::sync::atomic::Ordering::Relaxed);
                                meter.level.clear();
                            }
                        }
                    }
                    for (index, out) in aux.outputs.iter_mut().enumerate() {
                        let out = out.as_slice();
                        match processor.remote(index) {
                            Some(remote) => {
                                out[0][range.clone()].copy_from_slice(remote.left);
                                if let Some(r) = out.get_mut(1) {
                                    r[range.clone()].copy_from_slice(remote.right);
                                }
                            }
                            None => {
                                for channel in out.iter_mut() {
                                    channel[range.clone()].fill(0.0);
                                }
                            }
                        }
                    }
                }
                None => {
                    self.strip
                        .process(channels, Some(&own), None, range.clone(), controls);
                    for out in aux.outputs.iter_mut() {
                        for channel in out.as_slice().iter_mut() {
                            channel[range.clone()].fill(0.0);
                        }
                    }
                }
            }
            self.status
                .output
                .measure(&channels[0][range.clone()], &channels[right][range]);
            start += len;
        }
        self.sample_clock += samples as u64;
        // The room keeps playing while the local track is silent: never let the host put us to
        // sleep on quiet input.
        ProcessStatus::KeepAlive
    }
}

/// Converts nice-plug's transport into the engine's snapshot, deriving positions the host gave
/// only in another unit.
///
/// Audio thread: must not allocate, lock or block.
pub fn host_transport(t: &Transport, sample_clock: u64) -> transport::Snapshot {
    let time_signature = match (t.time_sig_numerator, t.time_sig_denominator) {
        (Some(num), Some(den)) => match (u16::try_from(num), u16::try_from(den)) {
            (Ok(num), Ok(den)) if num > 0 && den > 0 => Some((num, den)),
            _ => None,
        },
        _ => None,
    };
    transport::Snapshot {
        playing: t.playing,
        recording: t.recording,
        sample_rate: f64::from(t.sample_rate),
        tempo_bpm: t.tempo.filter(|bpm| bpm.is_finite() && *bpm > 0.0),
        time_signature,
        pos_samples: t.pos_samples(),
        pos_beats: t.pos_beats(),
        bar_start_beats: t.bar_start_pos_beats(),
        bar_number: t.bar_number(),
        loop_beats: t.loop_range_beats(),
        sample_clock,
    }
}

impl ClapPlugin for OspJam {
    const CLAP_ID: &'static str = "org.ospjam.osp-jam";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Play together over the network in real time, locked to the host's tempo");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Utility,
        ClapFeature::Mixing,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
}

impl Vst3Plugin for OspJam {
    const VST3_CLASS_ID: [u8; 16] = *b"OspJamNetworkJam";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[
        Vst3SubCategory::Fx,
        Vst3SubCategory::Network,
        Vst3SubCategory::Tools,
    ];
}

nice_export_clap!(OspJam);
nice_export_vst3!(OspJam);

#[cfg(test)]
mod tests;
