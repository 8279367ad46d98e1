//! Your own levels: what you send (after input gain and the chain) and what you hear, each as
//! RMS, peak and a held clip light; with the strip's gains beside them.

use egui::{self, Ui};
use nice_plug::prelude::ParamSetter;

use super::widgets::{MeterState, param_slider};
use crate::params::JamParams;
use crate::status::Status;

/// The two meters' display state.
#[derive(Default)]
pub(super) struct LevelsPane {
    input: MeterState,
    output: MeterState,
}

impl LevelsPane {
    pub(super) fn show(
        &mut self,
        ui: &mut Ui,
        setter: &ParamSetter<'_>,
        params: &JamParams,
        status: &Status,
        dt: f32,
    ) {
        self.input.update(status.input.take(), dt);
        self.output.update(status.output.take(), dt);
        ui.heading("You");
        egui::Grid::new("levels")
            .num_columns(3)
            .spacing([8.0, 6.0])
            .show(ui, |ui| {
                ui.label("Sent");
                self.input.show(ui, "Your sent level", 150.0);
                ui.label(format!("{:.1} dB", self.input.peak_db()));
                ui.end_row();
                ui.label("Heard");
                self.output.show(ui, "Your heard level", 150.0);
                ui.label(format!("{:.1} dB", self.output.peak_db()));
                ui.end_row();
            });
        egui::Grid::new("strip")
            .num_columns(2)
            .spacing([8.0, 4.0])
            .show(ui, |ui| {
                for (name, param) in [
                    ("Input gain", &params.input_gain),
                    ("Output gain", &params.output_gain),
                    ("Monitor mix", &params.monitor),
                ] {
                    ui.label(name);
                    ui.horizontal(|ui| param_slider(ui, setter, param, name, 120.0));
                    ui.end_row();
                }
            });
    }
}
