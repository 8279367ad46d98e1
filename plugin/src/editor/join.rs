//! The Join pane: the room and how to reach it, then Join or Leave.
//!
//! Joining writes the settings into the plugin's state (saved with the project, all but the
//! secret), the secret into the user's own secrets file, and starts the session here, off the
//! audio thread, which takes it at its next block: no restart of the plugin, and the latency
//! the host knows does not change (it is the effect chain's; the room's is the jitter
//! buffer's, shown in the Players table).

use crate::control::SessionControl;
use crate::params::JamParams;
use crate::secrets::SecretStore;
use crate::session::Settings;
use egui::{self, Ui};

/// Opus frame sizes a player can pick (samples at 48 kHz) and how they read.
const OPUS_FRAMES: [(u32, &str); 4] = [
    (120, "2.5 ms"),
    (240, "5 ms"),
    (480, "10 ms"),
    (960, "20 ms"),
];
/// PCM frame sizes.
const PCM_FRAMES: [(u32, &str); 4] = [
    (32, "0.7 ms"),
    (64, "1.3 ms"),
    (120, "2.5 ms"),
    (240, "5 ms"),
];

/// The form as typed, before Join takes it.
pub(super) struct JoinForm {
    room: String,
    secret: String,
    peers: String,
    server: String,
    listen: String,
    codec: String,
    frame: u32,
    jitter_auto: bool,
    jitter_ms: f64,
    align: String,
    /// What went wrong the last time Join was pressed.
    error: Option<String>,
    secrets: Option<SecretStore>,
}

impl JoinForm {
    /// The form filled from the saved settings, the secret from the user's file.
    pub(super) fn new(settings: &Settings, secrets: Option<SecretStore>) -> Self {
        let secret = if settings.secret.is_empty() {
            secrets
                .as_ref()
                .and_then(|store| store.get(&settings.room))
                .unwrap_or_default()
        } else {
            settings.secret.clone()
        };
        Self {
            room: settings.room.clone(),
            secret,
            peers: settings.peers.join(", "),
            server: settings.server.clone(),
            listen: settings.listen.clone(),
            codec: settings.codec.clone(),
            frame: settings.frame_samples,
            jitter_auto: settings.jitter_ms.is_none(),
            jitter_ms: settings.jitter_ms.unwrap_or(5.0),
            align: settings.align.clone(),
            error: None,
            secrets,
        }
    }

    /// The settings the form describes, on top of `saved` (fields the form does not show keep
    /// their values).
    fn settings(&self, saved: &Settings) -> Settings {
        Settings {
            room: self.room.trim().to_owned(),
            secret: self.secret.clone(),
            listen: self.listen.trim().to_owned(),
            peers: self
                .peers
                .split([',', ' '])
                .map(str::trim)
                .filter(|peer| !peer.is_empty())
                .map(str::to_owned)
                .collect(),
            server: self.server.trim().to_owned(),
            codec: self.codec.clone(),
            frame_samples: self.frame,
            jitter_ms: (!self.jitter_auto).then_some(self.jitter_ms),
            align: self.align.clone(),
            ..saved.clone()
        }
    }

    pub(super) fn show(
        &mut self,
        ui: &mut Ui,
        params: &JamParams,
        control: &SessionControl,
        in_room: bool,
    ) {
        ui.heading("Join a room");
        egui::Grid::new("join")
            .num_columns(2)
            .spacing([8.0, 6.0])
            .show(ui, |ui| {
                labelled_text(ui, "Room", &mut self.room, false);
                labelled_text(ui, "Secret", &mut self.secret, true);
                labelled_text(ui, "Server", &mut self.server, false);
                labelled_text(ui, "Peers", &mut self.peers, false);
                labelled_text(ui, "Listen on", &mut self.listen, false);

                let label = ui.label("Codec");
                egui::ComboBox::from_id_salt("codec")
                    .selected_text(if self.codec == "pcm" {
                        "PCM 24-bit"
                    } else {
                        "Opus"
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut self.codec, "opus".to_owned(), "Opus");
                        ui.selectable_value(&mut self.codec, "pcm".to_owned(), "PCM 24-bit");
                    })
                    .response
                    .labelled_by(label.id);
                ui.end_row();

                let label = ui.label("Frame");
                let frames = if self.codec == "pcm" {
                    &PCM_FRAMES
                } else {
                    &OPUS_FRAMES
                };
                if !frames.iter().any(|(samples, _)| *samples == self.frame) {
                    self.frame = frames[0].0;
                }
                let shown = frames
                    .iter()
                    .find(|(samples, _)| *samples == self.frame)
                    .map_or("", |(_, text)| text);
                egui::ComboBox::from_id_salt("frame")
                    .selected_text(shown)
                    .show_ui(ui, |ui| {
                        for (samples, text) in frames {
                            ui.selectable_value(&mut self.frame, *samples, *text);
                        }
                    })
                    .response
                    .labelled_by(label.id);
                ui.end_row();

                let label = ui.label("Jitter buffer");
                ui.horizontal(|ui| {
                    ui.checkbox(&mut self.jitter_auto, "auto");
                    ui.add_enabled(
                        !self.jitter_auto,
                        egui::DragValue::new(&mut self.jitter_ms)
                            .range(0.0..=200.0)
                            .speed(0.1)
                            .suffix(" ms"),
                    )
                    .labelled_by(label.id);
                });
                ui.end_row();

                let label = ui.label("Align");
                egui::ComboBox::from_id_salt("align")
                    .selected_text(match self.align.as_str() {
                        "beat" => "a beat late",
                        "bar" => "a bar late",
                        _ => "live",
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut self.align, "live".to_owned(), "live");
                        ui.selectable_value(&mut self.align, "beat".to_owned(), "a beat late");
                        ui.selectable_value(&mut self.align, "bar".to_owned(), "a bar late");
                    })
                    .response
                    .labelled_by(label.id);
                ui.end_row();
            });
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            if ui.button("Join").clicked() {
                self.join(params, control);
            }
            if ui
                .add_enabled(in_room, egui::Button::new("Leave"))
                .clicked()
            {
                self.leave(params, control);
            }
        });
        if let Some(error) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        let note = match &self.secrets {
            Some(store) => format!(
                "The secret is not saved with the project: it stays in {} (yours only).",
                store.path().display()
            ),
            None => "The secret is not saved with the project.".to_owned(),
        };
        ui.label(egui::RichText::new(note).small().weak());
    }

    /// Takes the form: checks it, saves it, joins.
    fn join(&mut self, params: &JamParams, control: &SessionControl) {
        let settings = self.settings(&lock(&params.session));
        if settings.room.is_empty() {
            self.error = Some("Name the room to join.".to_owned());
            return;
        }
        if let Err(err) = settings.engine_config(48_000.0, crate::CHUNK) {
            self.error = Some(err.to_string());
            return;
        }
        if let Some(store) = &self.secrets
            && let Err(err) = store.set(&settings.room, &settings.secret)
        {
            self.error = Some(format!(
                "cannot keep the secret in {}: {err}",
                store.path().display()
            ));
            return;
        }
        *lock(&params.session) = settings.clone();
        self.apply(control, &settings);
    }

    fn leave(&mut self, params: &JamParams, control: &SessionControl) {
        let settings = {
            let mut saved = lock(&params.session);
            saved.room.clear();
            saved.clone()
        };
        self.apply(control, &settings);
    }

    /// Changes the running session to `settings` (the saved ones, with the secret typed).
    fn apply(&mut self, control: &SessionControl, settings: &Settings) {
        self.error = control.apply(settings).err().map(|err| err.to_string());
    }
}

/// A label and its text field in a grid row; the field is found by the label.
fn labelled_text(ui: &mut Ui, label: &str, text: &mut String, password: bool) {
    let name = ui.label(label);
    ui.add(
        egui::TextEdit::singleline(text)
            .password(password)
            .desired_width(180.0),
    )
    .labelled_by(name.id);
    ui.end_row();
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
