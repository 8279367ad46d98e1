//! The latency breakdown for the chosen player: where the milliseconds between their playing
//! and your hearing go, as the engine estimates them (the one-way figure of the report).

use egui::{self, Ui};
use engine::controller::Report;

use super::widgets::{cell, maybe};

/// Shows the chosen player's breakdown; `frame_ms` is the session's packet, `block_ms` the
/// host's block.
pub(super) fn show(
    ui: &mut Ui,
    report: Option<&Report>,
    chosen: Option<u32>,
    frame_ms: f64,
    block_ms: f64,
) {
    ui.heading("Latency");
    let Some(peer) = chosen.and_then(|id| report?.peers.iter().find(|p| p.user_id == id)) else {
        ui.label("Choose a player above to see where their latency goes.");
        return;
    };
    let network = peer.rtt_ms.map(|rtt| rtt / 2.0);
    let rows = [
        ("Their packet (capture and encode)", Some(frame_ms)),
        ("Network (half the round trip)", network),
        ("Your jitter buffer", Some(peer.buffer_ms)),
        ("Your host block (decode and output)", Some(block_ms)),
    ];
    egui::Grid::new("latency")
        .num_columns(2)
        .spacing([16.0, 4.0])
        .show(ui, |ui| {
            for (what, ms) in rows {
                ui.label(what);
                let text = maybe(ms, 2, "ms");
                cell(ui, &text, &format!("{what}: {text}"));
                ui.end_row();
            }
            ui.label(egui::RichText::new(format!("From player {}", peer.user_id)).strong());
            let total = maybe(peer.one_way_ms, 2, "ms");
            cell(
                ui,
                &total,
                &format!("One-way latency from player {}: {total}", peer.user_id),
            );
            ui.end_row();
        });
}
