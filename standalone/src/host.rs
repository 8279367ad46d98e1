//! The plugin hosted by our own shell: activation as a plugin host does it (smoothers snapped to
//! their values first, then `activate` and `reset`), the standalone's own transport, and one
//! `process()` call per audio period on channel slices the audio backend lends for the call.
//!
//! The shell drives the plugin's own `Plugin` impl, so the standalone keeps everything the
//! track has in a DAW (effect chain, strip, parameters, transport, session).

use std::sync::Arc;

use nice_plug::context::gui::AsyncExecutor;
use nice_plug::context::process::SendEventError;
use nice_plug::prelude::*;
use plugin::OspJam;

/// The most channels any port of any layout has (stereo).
const MAX_CHANNELS: usize = 2;

/// The standalone's own transport: rolling from the start, at the tempo and time signature of
/// the command line, its position the samples processed so far.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OwnTransport {
    /// Tempo in BPM.
    pub(crate) tempo: f64,
    /// Time signature numerator and denominator.
    pub(crate) time_signature: (u32, u32),
}

/// An activated plugin and the buffers its `process()` takes, allocated once.
pub(crate) struct Host {
    plugin: OspJam,
    layout: AudioIOLayout,
    config: BufferConfig,
    sample_rate: f32,
    transport: OwnTransport,
    /// Samples processed since activation (the transport's position).
    position: i64,
    /// The main buffer: its slice list holds the backend's channels during a call only.
    main: Buffer<'static>,
    /// One buffer per auxiliary output port (the players' outputs of layout 2), likewise.
    aux: Vec<Buffer<'static>>,
}

impl Host {
    /// Creates the plugin and activates it with `layout` at `sample_rate` for periods up to
    /// `max_block` frames. Activation starts the session when the command line names a room.
    ///
    /// # Errors
    /// The plugin refused the configuration.
    pub(crate) fn activate(
        layout: &AudioIOLayout,
        sample_rate: f32,
        max_block: u32,
        transport: OwnTransport,
    ) -> Result<Self, String> {
        let mut plugin = OspJam::default();
        for (_, param, _) in plugin.params().param_map() {
            // SAFETY: the parameters live as long as `plugin`; nothing else touches them yet.
            unsafe { param._internal_update_smoother(sample_rate, true) };
        }
        let config = BufferConfig {
            sample_rate,
            min_buffer_size: None,
            max_buffer_size: max_block,
            process_mode: ProcessMode::Realtime,
        };
        if !plugin.activate(layout, &config, &mut Activation) {
            return Err(format!(
                "the plugin refused {sample_rate} Hz with layout {:?}",
                layout.name()
            ));
        }
        plugin.reset();
        // The slice lists get their capacity now: the audio thread only clears and refills them.
        let mut main = Buffer::default();
        // SAFETY: no slice is stored; the list only reserves room.
        unsafe { main.set_slices(0, |slices| slices.reserve_exact(MAX_CHANNELS)) };
        let aux = layout
            .aux_output_ports
            .iter()
            .map(|_| {
                let mut buffer = Buffer::default();
                // SAFETY: as above.
                unsafe { buffer.set_slices(0, |slices| slices.reserve_exact(MAX_CHANNELS)) };
                buffer
            })
            .collect();
        Ok(Self {
            plugin,
            layout: *layout,
            config,
            sample_rate,
            transport,
            position: 0,
            main,
            aux,
        })
    }

    /// Runs one period of `frames` frames: `main` holds the main outputs, already filled with
    /// the inputs (the plugin works in place), `aux` the auxiliary output ports' channels (null
    /// for a channel a port does not have).
    ///
    /// Audio thread: must not allocate, lock or block.
    ///
    /// # Safety
    /// Every non-null channel pointer must point to `frames` writable samples that nothing else
    /// touches during the call, and no two may overlap.
    pub(crate) unsafe fn process(
        &mut self,
        frames: usize,
        main: &[*mut f32],
        aux: &[[*mut f32; MAX_CHANNELS]],
    ) {
        // SAFETY: the caller guarantees the pointers (both fills); the lists are cleared again
        // below, before the lent channels go back to the backend.
        unsafe {
            self.main.set_slices(frames, |slices| {
                slices.clear();
                slices.extend(
                    main.iter()
                        .take(MAX_CHANNELS)
                        .map(|&p| std::slice::from_raw_parts_mut(p, frames)),
                );
            });
            for (buffer, channels) in self.aux.iter_mut().zip(aux) {
                buffer.set_slices(frames, |slices| {
                    slices.clear();
                    slices.extend(
                        channels
                            .iter()
                            .filter(|p| !p.is_null())
                            .map(|&p| std::slice::from_raw_parts_mut(p, frames)),
                    );
                });
            }
        }
        let mut context = Context {
            transport: self.transport_now(),
        };
        // `AuxiliaryBuffers` wants the list and the buffers under one lifetime, and a
        // `&mut [Buffer<'static>]` borrowed from `self` has a shorter one.
        // SAFETY: `self.aux` outlives the call and nothing else touches it meanwhile; the
        // reference is dropped with `aux_buffers` at the end of this function.
        let outputs = unsafe { &mut *std::ptr::from_mut(self.aux.as_mut_slice()) };
        let mut aux_buffers = AuxiliaryBuffers {
            inputs: &mut [],
            outputs,
        };
        self.plugin
            .process(&mut self.main, &mut aux_buffers, &mut context);
        self.position += frames as i64;
        // SAFETY: clearing stores nothing.
        unsafe {
            self.main.set_slices(0, Vec::clear);
            for buffer in &mut self.aux {
                buffer.set_slices(0, Vec::clear);
            }
        }
    }

    /// The transport at the start of the current period.
    fn transport_now(&self) -> Transport {
        let mut transport = Transport::new(self.sample_rate);
        transport.playing = true;
        transport.tempo = Some(self.transport.tempo);
        let (num, den) = self.transport.time_signature;
        transport.time_sig_numerator = i32::try_from(num).ok();
        transport.time_sig_denominator = i32::try_from(den).ok();
        transport.pos_samples = Some(self.position);
        transport
    }

    /// Deactivates the plugin: it leaves the room (peers are told).
    pub(crate) fn deactivate(&mut self) {
        self.plugin.deactivate();
    }

    /// Deactivates and activates the plugin again, as a plugin host does when the plugin asks
    /// for a restart: the session starts anew from the settings.
    /// Call with the audio callbacks stopped.
    ///
    /// # Errors
    /// The plugin refused to activate again.
    pub(crate) fn restart(&mut self) -> Result<(), String> {
        self.plugin.deactivate();
        if !self
            .plugin
            .activate(&self.layout, &self.config, &mut Activation)
        {
            return Err("the plugin refused to activate again".to_owned());
        }
        self.plugin.reset();
        self.position = 0;
        Ok(())
    }

    /// The plugin's editor, unless the process runs headless.
    pub(crate) fn editor(&mut self) -> Option<<OspJam as Plugin>::Editor> {
        // The editor runs no background tasks: both executors drop what they are given.
        let executor = AsyncExecutor::new(Arc::new(|_task| {}), Arc::new(|_task| {}));
        self.plugin.editor(executor)
    }
}

/// What the plugin may ask of its host while activating: nothing the standalone acts on
/// (no background tasks; latency is not reported to JACK).
struct Activation;

impl ActivateContext<OspJam> for Activation {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Standalone
    }
    fn execute(&self, _task: ()) {}
    fn set_latency_samples(&self, _samples: u32) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

/// The process context: the transport of this period, no events.
struct Context {
    transport: Transport,
}

impl ProcessContext<OspJam> for Context {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Standalone
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
    fn request_restart(&self) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}
