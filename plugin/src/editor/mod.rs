//! The plugin's editor (egui): one screen to join a room, see every player's numbers, hear
//! your own levels, follow the grid and shape the effect chain. The standalone opens the same
//! editor in its window.
//!
//! Panes, one file each: `join`, `players`, `latency` (the chosen player's breakdown),
//! `levels` (your own meters and strip), `grid`, `chain` (the effects) and `events` (the
//! room's events, where chat will go). Parameters change through the host
//! ([`ParamSetter`]), so automation and undo see them; everything else comes from the
//! plugin's [`Status`], which the audio and control threads publish without waiting for the
//! editor.

mod chain;
mod events;
mod grid;
mod join;
mod latency;
mod levels;
mod players;
mod widgets;

use std::sync::Arc;
use std::time::Instant;

use egui::{self, Ui};
use engine::controller::Report;
use nice_plug::context::gui::GuiContext;
use nice_plug::prelude::ParamSetter;
use nice_plug_egui::{EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp};

use crate::control::SessionControl;
use crate::params::JamParams;
use crate::presets::PresetStore;
use crate::secrets::SecretStore;
use crate::status::{SessionState, Status};

/// Whether plugins of this process have no editor (a standalone without a display).
static HEADLESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every plugin of this process editor-less: the standalone without a display, or with
/// `--no-gui`, runs as it did before it had a window.
pub fn disable() {
    HEADLESS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Set to close every editor window of this process at its next frame.
static CLOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// What the standalone runs as a window opens (see [`on_window_open`]).
static ON_WINDOW_OPEN: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// The flag that closes every editor window of this process at its next frame: the standalone
/// sets it on Ctrl-C or SIGTERM (nice-plug's shell stops on them only when headless), and the
/// shell then leaves the room and exits as when the window is closed. A DAW never sets it.
pub fn close_request() -> &'static std::sync::atomic::AtomicBool {
    &CLOSE
}

/// Makes `hook` run each time an editor window opens, on its thread (the standalone installs
/// its signal handlers there: after the shell's own, so both run).
pub fn on_window_open(hook: fn()) {
    let _ = ON_WINDOW_OPEN.set(hook);
}

/// The window's title, in a DAW and in the standalone.
pub const TITLE: &str = "OSP Jam";

/// The editor's size at 100 % (logical pixels).
const SIZE: (u32, u32) = (1280, 800);

/// The window size and scale the editor opens with (saved with the project).
pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(
        nice_plug::editor::dpi::LogicalSize::<f64>::new(f64::from(SIZE.0), f64::from(SIZE.1)),
        1.0,
    )
}

/// The editor for a plugin's parameters and status.
pub fn create(
    params: Arc<JamParams>,
    status: Arc<Status>,
    control: Arc<SessionControl>,
    state: Arc<EguiEditorState>,
) -> Option<EguiEditor<JamEditor>> {
    if HEADLESS.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    nice_plug_egui::create_egui_editor(
        state,
        nice_plug_egui::RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile(TITLE),
        JamEditor::new(params, status, control),
    )
}

/// The editor's state between frames.
pub struct JamEditor {
    params: Arc<JamParams>,
    status: Arc<Status>,
    control: Arc<SessionControl>,
    gui: Option<GuiContext>,
    join: join::JoinForm,
    players: players::PlayersPane,
    chain: chain::ChainPane,
    levels: levels::LevelsPane,
    events: events::RoomEvents,
    /// What the threads published last (kept while a write is in progress).
    state: SessionState,
    report: Option<Report>,
    last_frame: Instant,
}

impl JamEditor {
    /// An editor showing `params` and `status`; secrets and presets in the user's folder.
    pub fn new(params: Arc<JamParams>, status: Arc<Status>, control: Arc<SessionControl>) -> Self {
        Self::with_stores(
            params,
            status,
            control,
            SecretStore::for_user(),
            PresetStore::for_user(),
        )
    }

    /// An editor that keeps secrets in `secrets` and presets in `presets` (tests use their own
    /// folder).
    pub fn with_stores(
        params: Arc<JamParams>,
        status: Arc<Status>,
        control: Arc<SessionControl>,
        secrets: Option<SecretStore>,
        presets: Option<PresetStore>,
    ) -> Self {
        let join = join::JoinForm::new(
            &params
                .session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            secrets,
        );
        Self {
            params,
            status,
            control,
            gui: None,
            join,
            players: players::PlayersPane::default(),
            chain: chain::ChainPane::new(presets),
            levels: levels::LevelsPane::default(),
            events: events::RoomEvents::new(),
            state: SessionState::Off,
            report: None,
            last_frame: Instant::now(),
        }
    }

    /// The host's side: parameter changes go through it.
    pub fn set_gui_context(&mut self, gui: GuiContext) {
        self.gui = Some(gui);
    }

    /// Draws the whole screen into `ui`.
    pub fn draw(&mut self, ui: &mut Ui) {
        let Some(gui) = self.gui.clone() else {
            ui.label("The editor has no host.");
            return;
        };
        if CLOSE.load(std::sync::atomic::Ordering::Relaxed) {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
        let setter = gui.param_setter();
        let now = Instant::now();
        let dt = now.duration_since(self.last_frame).as_secs_f32().min(1.0);
        self.last_frame = now;
        if let Some(state) = self.status.state() {
            self.state = state;
        }
        if let Some(report) = self.status.report() {
            self.report = report;
        }
        self.events.observe(&self.state, self.report.as_ref());
        // Meters move and numbers refresh while the window is open.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(33));

        egui::Panel::top("title").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading(egui::RichText::new(TITLE).strong());
                ui.separator();
                let words = self.state_in_words();
                ui.label(egui::RichText::new(&words).size(16.0))
                    .widget_info(|| {
                        egui::WidgetInfo::labeled(
                            egui::Role::Label,
                            true,
                            format!("Session: {words}"),
                        )
                    });
            });
        });
        egui::Panel::bottom("events")
            .resizable(true)
            .default_size(140.0)
            .show(ui, |ui| self.events.show(ui));
        egui::Panel::left("join")
            .resizable(false)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().id_salt("left").show(ui, |ui| {
                    let in_room = matches!(self.state, SessionState::Running { .. });
                    self.join.show(ui, &self.params, &self.control, in_room);
                    ui.separator();
                    self.levels
                        .show(ui, &setter, &self.params, &self.status, dt);
                    ui.separator();
                    grid::show(ui, &self.params, &self.control, self.report.as_ref());
                });
            });
        egui::Panel::right("chain")
            .resizable(true)
            .default_size(280.0)
            .show(ui, |ui| self.chain.show(ui, &setter, &self.params));
        egui::CentralPanel::default().show(ui, |ui| {
            self.show_center(ui, &setter, dt);
        });
    }

    fn show_center(&mut self, ui: &mut Ui, setter: &ParamSetter<'_>, dt: f32) {
        let frame = match &self.state {
            SessionState::Running { frame, .. } => *frame,
            _ => 0,
        };
        self.players.show(
            ui,
            setter,
            &self.params,
            &self.status,
            players::Session {
                report: self.report.as_ref(),
                dt,
            },
        );
        ui.add_space(12.0);
        ui.separator();
        let rate = f64::from(
            self.status
                .sample_rate
                .load(std::sync::atomic::Ordering::Relaxed)
                .max(1),
        );
        let block = f64::from(self.status.block.load(std::sync::atomic::Ordering::Relaxed));
        latency::show(
            ui,
            self.report.as_ref(),
            self.players.chosen,
            f64::from(frame) / 48.0,
            block / rate * 1e3,
        );
    }

    /// The session's state as a sentence.
    fn state_in_words(&self) -> String {
        match &self.state {
            SessionState::Off => "not in a room".to_owned(),
            SessionState::Failed(why) => why.clone(),
            SessionState::Running {
                room, peers_called, ..
            } => {
                let here = self.report.as_ref().map_or(0, |r| r.peers.len());
                if *peers_called > here {
                    format!("in room {room}, connecting to {here} of {peers_called}")
                } else if here == 0 {
                    format!("in room {room}, waiting for players")
                } else if here == 1 {
                    format!("in room {room} with 1 player")
                } else {
                    format!("in room {room} with {here} players")
                }
            }
        }
    }
}

impl NiceEguiApp for JamEditor {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        if let Some(hook) = ON_WINDOW_OPEN.get() {
            hook();
        }
        self.set_gui_context(nice_gui_ctx);
        Ok(())
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut nice_plug_egui::Frame) {
        self.draw(ui);
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

#[cfg(test)]
mod tests;
