//! The standalone's window: the plugin's editor, opened by our JACK shell when a display is
//! available (nice-plug's shell opens it for the ALSA and dummy backends).
//!
//! The editor talks to its host through a [`GuiContextInner`]: here parameters are set on the
//! plugin's own atomics (the audio thread reads them at its next period, as it reads a DAW's
//! automation), and a restart the editor asks for is a flag the shell's supervisor acts on
//! between periods.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nice_plug::context::gui::{GuiContext, GuiContextInner};
use nice_plug::editor::{EditorHandle, SpawnedEditor};
use nice_plug::prelude::*;

/// The shell as the editor's host.
pub(crate) struct ShellGui {
    /// The editor asked for a restart (the shell's supervisor clears it).
    pub(crate) restart: Arc<AtomicBool>,
    /// The sample rate the plugin runs at (for the parameters' smoothers).
    pub(crate) sample_rate: f32,
}

impl GuiContextInner for ShellGui {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Standalone
    }

    unsafe fn raw_begin_set_parameter(&self, _param: ParamPtr) {}

    unsafe fn raw_set_parameter_normalized(&self, param: ParamPtr, normalized: f32) {
        // SAFETY: the editor only hands out pointers to the plugin's own parameters, which
        // live as long as the plugin, and so as long as the window; the values are atomics.
        unsafe {
            param._internal_set_normalized_value(normalized);
            param._internal_update_smoother(self.sample_rate, false);
        }
    }

    unsafe fn raw_end_set_parameter(&self, _param: ParamPtr) {}

    fn get_state(&self) -> PluginState {
        // The editor saves no presets through its host.
        unreachable!("the OSP Jam editor does not read the plugin state")
    }

    fn set_state(&self, _state: PluginState) {
        unreachable!("the OSP Jam editor does not load plugin state")
    }

    fn request_restart(&self) {
        self.restart.store(true, Ordering::Relaxed);
    }
}

/// Opens `editor` in a window of its own and runs it until the player closes it.
///
/// # Errors
/// The window could not be opened (no display, no OpenGL).
pub(crate) fn run<E: Editor>(editor: &E, gui: ShellGui) -> Result<(), String> {
    let spawned = editor
        .spawn(None, false, None, GuiContext::new(Arc::new(gui)), None)
        .map_err(|e| format!("cannot open the window: {e}"))?;
    let SpawnedEditor { handle, window } = spawned;
    let result = E::Handle::run_until_closed(window).map_err(|e| format!("the window failed: {e}"));
    drop(handle);
    result
}

/// Whether a window can be opened: an X11 or Wayland display is named.
pub(crate) fn display_available() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// Closes the window on Ctrl-C or SIGTERM, which then ends the app as closing it does: the
/// plugin leaves the room and the app exits 0. nice-plug's shell installs its own handler
/// (`ctrlc`), which stops only a run without a window; these flags are chained after it (the
/// editor calls this as its window opens, once the shell's handler is in place), so both run.
pub(crate) fn close_on_signals() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            if let Err(err) = signal_hook::flag::register(signal, plugin::editor::close_request()) {
                tracing::warn!("Ctrl-C will not close the window: {err}");
            }
        }
    });
}
