//! The effect chain: the 35 effects in the order they process, each with its on switch and,
//! unfolded, its parameters. All are host parameters, so the host records, automates and
//! undoes them like any other.

use egui::{self, Ui};
use nice_plug::prelude::{Param, ParamSetter};

use super::widgets::{param_slider, param_switch};
use crate::effects::HostParam;
use crate::params::JamParams;

pub(super) fn show(ui: &mut Ui, setter: &ParamSetter<'_>, params: &JamParams) {
    ui.heading("Effects");
    let running = params
        .effects
        .effects()
        .filter(|e| e.enabled.value())
        .count();
    ui.label(format!(
        "{running} of {} on, in processing order",
        params.effects.effects().count()
    ));
    egui::ScrollArea::vertical()
        .id_salt("chain")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (index, effect) in params.effects.effects().enumerate() {
                let id = ui.make_persistent_id(("effect", index));
                egui::collapsing_header::CollapsingState::load_with_default_open(
                    ui.ctx(),
                    id,
                    false,
                )
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
        });
}

fn row<P: Param>(ui: &mut Ui, setter: &ParamSetter<'_>, param: &P) {
    let name = param.name().to_owned();
    ui.label(&name);
    ui.horizontal(|ui| param_slider(ui, setter, param, &name, 110.0));
    ui.end_row();
}
