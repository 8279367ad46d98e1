//! The Players pane: one row per remote player with the network's and the jitter buffer's
//! numbers, and their gain, mute and level in your mix.
//!
//! A row is a remote slot of the audio engine (the order of the "Player N" host parameters)
//! joined by user id with the session report; a player the network knows but whose audio has
//! not arrived yet has a row without mix controls.

use egui::{self, Ui};
use engine::controller::{Path, PeerReport, Report};
use nice_plug::prelude::{Param, ParamSetter};

use super::widgets::{MeterState, cell, maybe, param_slider, param_switch};
use crate::params::{JamParams, PLAYERS};
use crate::status::Status;

/// The pane's own state: the chosen player and each slot's meter.
#[derive(Default)]
pub(super) struct PlayersPane {
    /// The player whose latency is broken down.
    pub(super) chosen: Option<u32>,
    meters: [MeterState; PLAYERS],
}

/// What the session says this frame.
pub(super) struct Session<'a> {
    /// The last report.
    pub(super) report: Option<&'a Report>,
    /// Seconds since the last frame.
    pub(super) dt: f32,
}

/// One row: a player, its slot (if its audio plays) and what the report says of it.
struct Row<'a> {
    user_id: u32,
    slot: Option<usize>,
    peer: Option<&'a PeerReport>,
}

impl PlayersPane {
    pub(super) fn show(
        &mut self,
        ui: &mut Ui,
        setter: &ParamSetter<'_>,
        params: &JamParams,
        status: &Status,
        session: Session<'_>,
    ) {
        let Session { report, dt } = session;
        ui.heading("Players");
        let mut rows: Vec<Row<'_>> = Vec::new();
        for (slot, meter) in status.players.iter().enumerate() {
            let levels = meter.level.take();
            self.meters[slot].update(levels, dt);
            let user_id = meter.user_id.load(std::sync::atomic::Ordering::Relaxed);
            if user_id != 0 {
                rows.push(Row {
                    user_id,
                    slot: Some(slot),
                    peer: report.and_then(|r| r.peers.iter().find(|p| p.user_id == user_id)),
                });
            }
        }
        for peer in report.map_or(&[][..], |r| &r.peers[..]) {
            if !rows.iter().any(|row| row.user_id == peer.user_id) {
                rows.push(Row {
                    user_id: peer.user_id,
                    slot: None,
                    peer: Some(peer),
                });
            }
        }
        if rows.is_empty() {
            ui.label("Nobody else is here yet.");
            return;
        }
        if self
            .chosen
            .is_none_or(|id| !rows.iter().any(|row| row.user_id == id))
        {
            self.chosen = rows.first().map(|row| row.user_id);
        }
        egui::ScrollArea::horizontal().show(ui, |ui| {
            egui::Grid::new("players")
                .striped(true)
                .spacing([12.0, 6.0])
                .show(ui, |ui| {
                    #[rustfmt::skip]
                    let titles = [
                        "Player", "Level", "Gain", "Mute", "RTT", "One-way", "Buffer",
                        "Jitter", "Loss", "Grid lag", "Recovered / concealed", "Codec", "Path",
                    ];
                    for title in titles {
                        ui.label(egui::RichText::new(title).strong());
                    }
                    ui.end_row();
                    for row in &rows {
                        self.show_row(ui, setter, params, row);
                        ui.end_row();
                    }
                });
        });
    }

    fn show_row(
        &mut self,
        ui: &mut Ui,
        setter: &ParamSetter<'_>,
        params: &JamParams,
        row: &Row<'_>,
    ) {
        let name = format!("player {}", row.user_id);
        if ui
            .selectable_label(self.chosen == Some(row.user_id), &name)
            .on_hover_text("Show this player's latency below")
            .clicked()
        {
            self.chosen = Some(row.user_id);
        }
        match row.slot {
            Some(slot) => {
                let player = &params.players[slot];
                self.meters[slot].show(ui, &format!("Level of {name}"), 90.0);
                ui.horizontal(|ui| {
                    param_slider(ui, setter, &player.gain, player.gain.name(), 80.0);
                });
                param_switch(ui, setter, &player.mute, "");
            }
            None => {
                ui.label("no audio yet");
                ui.label("");
                ui.label("");
            }
        }
        let peer = row.peer;
        let rtt = maybe(peer.and_then(|p| p.rtt_ms), 2, "ms");
        cell(ui, &rtt, &format!("RTT to {name}: {rtt}"));
        let one_way = maybe(peer.and_then(|p| p.one_way_ms), 1, "ms");
        cell(
            ui,
            &one_way,
            &format!("One-way latency from {name}: {one_way}"),
        );
        let buffer = maybe(peer.map(|p| p.buffer_ms), 1, "ms");
        cell(ui, &buffer, &format!("Buffer for {name}: {buffer}"));
        let jitter = maybe(peer.map(|p| p.jitter_ms), 2, "ms");
        cell(ui, &jitter, &format!("Jitter of {name}: {jitter}"));
        let loss = maybe(peer.map(|p| p.loss * 100.0), 2, "%");
        cell(ui, &loss, &format!("Loss from {name}: {loss}"));
        let lag = match peer.and_then(|p| p.grid_lag_ms.zip(p.grid_lag_beats)) {
            Some((ms, beats)) => format!("{ms:.1} ms ({beats:.2} beats)"),
            None => maybe(peer.and_then(|p| p.grid_lag_ms), 1, "ms"),
        };
        cell(ui, &lag, &format!("Grid lag of {name}: {lag}"));
        let repaired = peer.map_or_else(
            || "—".to_owned(),
            |p| format!("{} / {}", p.recovered, p.concealed),
        );
        cell(
            ui,
            &repaired,
            &format!("Recovered and concealed from {name}: {repaired}"),
        );
        let codec = peer.map_or_else(|| "—".to_owned(), codecs);
        cell(ui, &codec, &format!("Codec from {name}: {codec}"));
        // NAT traversal's `direct`/`turn` when it chose the path, else the path's own kind.
        let path = match (peer.and_then(|p| p.path_kind), peer.and_then(|p| p.path)) {
            (Some(kind), _) => kind.as_str(),
            (None, Some(Path::Direct(_))) => "direct",
            (None, Some(Path::Multicast(_))) => "multicast",
            (None, Some(Path::Relay(_))) => "relay",
            (None, None) => "—",
        };
        cell(ui, path, &format!("Path to {name}: {path}"));
    }
}

/// What a player sends, as its streams announced it: "Opus 2.5 ms", or "L24 1.3 ms, Opus 5 ms"
/// for a player with two tracks in different codecs (each codec once).
fn codecs(peer: &PeerReport) -> String {
    let mut words: Vec<String> = Vec::new();
    for stream in &peer.streams {
        let word = stream.to_string();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    if words.is_empty() {
        "—".to_owned()
    } else {
        words.join(", ")
    }
}
