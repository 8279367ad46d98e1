//! The room's grid: tempo, where the bar and beat are, whether it rolls, how far your host is
//! from it; and the click on it.

use egui::{self, Ui};
use engine::controller::Report;

use super::widgets::cell;
use crate::control::SessionControl;
use crate::params::JamParams;

pub(super) fn show(
    ui: &mut Ui,
    params: &JamParams,
    control: &SessionControl,
    report: Option<&Report>,
) {
    ui.heading("Grid");
    match report.and_then(|r| r.grid) {
        Some(grid) => {
            let bar_beats = f64::from(grid.beats_per_bar.max(1));
            let bar = (grid.beat / bar_beats).floor() as i64 + 1;
            let beat = grid.beat.rem_euclid(bar_beats) + 1.0;
            egui::Grid::new("grid")
                .num_columns(2)
                .spacing([12.0, 4.0])
                .show(ui, |ui| {
                    ui.label("Tempo");
                    let tempo = format!("{:.2} BPM, {}/4", grid.bpm, grid.beats_per_bar);
                    cell(ui, &tempo, &format!("Tempo: {tempo}"));
                    ui.end_row();
                    ui.label("Position");
                    let position = format!("bar {bar}, beat {beat:.2}");
                    cell(ui, &position, &format!("Position: {position}"));
                    ui.end_row();
                    ui.label("Transport");
                    ui.label(if grid.playing { "playing" } else { "stopped" });
                    ui.end_row();
                    ui.label("Your host");
                    let offset = grid.host_offset_beats.map_or_else(
                        || "follows the room".to_owned(),
                        |beats| format!("{beats:+.3} beats from the grid"),
                    );
                    cell(ui, &offset, &format!("Host offset: {offset}"));
                    ui.end_row();
                });
        }
        None => {
            ui.label("The room has no tempo yet: it takes the first host that plays.");
        }
    }
    let mut settings = params
        .session
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Saved with the project, heard at once: the audio thread reads the switch every chunk.
    if ui
        .checkbox(&mut settings.click, "Click on the grid")
        .changed()
    {
        control
            .click
            .store(settings.click, std::sync::atomic::Ordering::Relaxed);
    }
}
