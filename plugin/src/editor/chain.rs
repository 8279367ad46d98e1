//! The effect chain: the 35 effects in the order they process, each with its on switch and,
//! unfolded, its parameters; and named presets saved to and loaded from the user's folder. All
//! are host parameters (a preset loads through them too), so the host records, automates and
//! undoes them like any other.

use egui::{self, Ui};
use nice_plug::prelude::{Param, ParamSetter};

use super::widgets::{param_slider, param_switch};
use crate::effects::HostParam;
use crate::params::JamParams;
use crate::presets::PresetStore;

/// The pane's own state: the preset name typed, the saved names, what the last action did.
pub(super) struct ChainPane {
    store: Option<PresetStore>,
    name: String,
    /// The saved presets, read when the pane opens and after every save.
    names: Vec<String>,
    /// What the last save or load did (`Err`: why it failed).
    outcome: Option<Result<String, String>>,
}

impl ChainPane {
    pub(super) fn new(store: Option<PresetStore>) -> Self {
        let names = store.as_ref().map(PresetStore::names).unwrap_or_default();
        Self {
            store,
            name: String::new(),
            names,
            outcome: None,
        }
    }

    pub(super) fn show(&mut self, ui: &mut Ui, setter: &ParamSetter<'_>, params: &JamParams) {
        ui.heading("Effects");
        self.show_presets(ui, setter, params);
        ui.separator();
        let running = params
            .effects
            .effects()
            .filter(|e| e.enabled.value())
            .count();
        ui.label(format!(
            "{running} of {} on, in processing order",
            params.effects.effects().count()
        ));
        // The one restart left: a chain whose delay changed is reported to the host only as it
        // activates the plugin again (CLAP allows it nowhere else), and activation starts the
        // session anew.
        ui.label(
            egui::RichText::new(
                "Switching an effect with a delay of its own (limiter, pitch, drive, amp) \
                 changes the plugin's latency: the host restarts the plugin to compensate, and \
                 the room is joined again.",
            )
            .small()
            .weak(),
        );
        egui::ScrollArea::vertical()
            .id_salt("chain")
            .auto_shrink([false, false])
            .show(ui, |ui| effects(ui, setter, params));
    }

    fn show_presets(&mut self, ui: &mut Ui, setter: &ParamSetter<'_>, params: &JamParams) {
        ui.horizontal(|ui| {
            let label = ui.label("Preset");
            ui.add(egui::TextEdit::singleline(&mut self.name).desired_width(120.0))
                .labelled_by(label.id);
            let saved = ui.label("or");
            egui::ComboBox::from_id_salt("saved presets")
                .selected_text("saved…")
                .width(70.0)
                .show_ui(ui, |ui| {
                    if self.names.is_empty() {
                        ui.label("none yet");
                    }
                    for name in &self.names {
                        if ui.selectable_label(*name == self.name, name).clicked() {
                            self.name.clone_from(name);
                        }
                    }
                })
                .response
                .labelled_by(saved.id);
        });
        ui.horizontal(|ui| {
            let named = !self.name.trim().is_empty() && self.store.is_some();
            if ui
                .add_enabled(named, egui::Button::new("Save preset"))
                .clicked()
            {
                self.save(params);
            }
            if ui
                .add_enabled(named, egui::Button::new("Load preset"))
                .clicked()
            {
                self.load(setter, params);
            }
        });
        match &self.outcome {
            Some(Ok(done)) => {
                ui.label(egui::RichText::new(done).small());
            }
            Some(Err(why)) => {
                ui.colored_label(ui.visuals().error_fg_color, why);
            }
            None => {
                let note = self.store.as_ref().map_or_else(
                    || "No folder for presets: set HOME or XDG_CONFIG_HOME.".to_owned(),
                    |store| format!("Presets are kept in {}.", store.dir().display()),
                );
                ui.label(egui::RichText::new(note).small().weak());
            }
        }
    }

    fn save(&mut self, params: &JamParams) {
        let Some(store) = &self.store else { return };
        let name = self.name.trim();
        self.outcome = Some(
            store
                .save(name, &params.effects.preset())
                .map(|path| format!("Saved {name} ({}).", path.display()))
                .map_err(|err| format!("Cannot save: {err}")),
        );
        self.names = store.names();
    }

    /// Reads the preset and sets the parameters through the host (never the audio thread's
    /// copy): the chain follows on its next block.
    fn load(&mut self, setter: &ParamSetter<'_>, params: &JamParams) {
        let Some(store) = &self.store else { return };
        let name = self.name.trim();
        self.outcome = Some(match store.load(name) {
            Ok(preset) => {
                let moved = params.effects.apply(&preset, setter);
                let mut done = format!("Loaded {name}: {moved} parameters changed.");
                if !preset.unknown.is_empty() {
                    done += &format!(" Ignored (no such effect): {}.", preset.unknown.join(", "));
                }
                Ok(done)
            }
            Err(err) => Err(format!("Cannot load: {err}")),
        });
    }
}

/// Every effect: its switch as the header, its parameters unfolded.
fn effects(ui: &mut Ui, setter: &ParamSetter<'_>, params: &JamParams) {
    for (index, effect) in params.effects.effects().enumerate() {
        let id = ui.make_persistent_id(("effect", index));
        egui::collapsing_header::CollapsingState::load_with_default_open(ui.ctx(), id, false)
            .show_header(ui, |ui| {
                param_switch(ui, setter, effect.enabled, effect.name);
            })
            .body(|ui| {
                egui::Grid::new(("effect params", index))
                    .num_columns(2)
                    .spacing([8.0, 2.0])
                    .show(ui, |ui| {
                        for param in effect.params {
                            match param {
                                HostParam::Float(p) => row(ui, setter, p),
                                HostParam::Int(p) => row(ui, setter, p),
                                HostParam::Toggle(p) => {
                                    ui.label("");
                                    param_switch(ui, setter, p, p.name());
                                    ui.end_row();
                                }
                            }
                        }
                    });
            });
    }
}

fn row<P: Param>(ui: &mut Ui, setter: &ParamSetter<'_>, param: &P) {
    let name = param.name().to_owned();
    ui.label(&name);
    ui.horizontal(|ui| param_slider(ui, setter, param, &name, 110.0));
    ui.end_row();
}
