//! The room's events as they happen: players arriving and leaving, the grid starting,
//! stopping and changing tempo, the session joining or failing. Chat joins this pane once the
//! room carries it.

use std::collections::VecDeque;
use std::time::Instant;

use egui::{self, Ui};
use engine::controller::Report;

use crate::status::SessionState;

/// Lines kept; older ones scroll away.
const KEPT: usize = 200;

/// What happened, newest last, and what the last report said (to see what changed).
pub(super) struct RoomEvents {
    since: Instant,
    lines: VecDeque<String>,
    peers: Vec<u32>,
    grid: Option<(bool, f64)>,
    state: SessionState,
}

impl RoomEvents {
    pub(super) fn new() -> Self {
        Self {
            since: Instant::now(),
            lines: VecDeque::new(),
            peers: Vec::new(),
            grid: None,
            state: SessionState::Off,
        }
    }

    fn push(&mut self, line: String) {
        let seconds = self.since.elapsed().as_secs();
        self.lines
            .push_back(format!("{:02}:{:02}  {line}", seconds / 60, seconds % 60));
        while self.lines.len() > KEPT {
            self.lines.pop_front();
        }
    }

    /// Notes what changed since the last state and report.
    pub(super) fn observe(&mut self, state: &SessionState, report: Option<&Report>) {
        if *state != self.state {
            match state {
                SessionState::Off => self.push("left the room".to_owned()),
                SessionState::Running { room, codec, .. } => {
                    self.push(format!("joined room {room} ({codec})"));
                }
                SessionState::Failed(why) => self.push(why.clone()),
            }
            self.state = state.clone();
            self.peers.clear();
            self.grid = None;
        }
        let Some(report) = report else { return };
        let now: Vec<u32> = report.peers.iter().map(|p| p.user_id).collect();
        let arrived: Vec<u32> = now
            .iter()
            .copied()
            .filter(|id| !self.peers.contains(id))
            .collect();
        for id in arrived {
            self.push(format!("player {id} arrived"));
        }
        let left: Vec<u32> = self
            .peers
            .iter()
            .copied()
            .filter(|id| !now.contains(id))
            .collect();
        for id in left {
            self.push(format!("player {id} left"));
        }
        self.peers = now;
        let grid = report.grid.map(|g| (g.playing, g.bpm));
        if grid != self.grid {
            match (self.grid, grid) {
                (_, Some((true, bpm))) if self.grid.is_none_or(|(playing, _)| !playing) => {
                    self.push(format!("the grid rolls at {bpm:.1} BPM"));
                }
                (Some((true, _)), Some((false, _))) => self.push("the grid stopped".to_owned()),
                (Some((_, old)), Some((_, bpm))) if (old - bpm).abs() > 0.01 => {
                    self.push(format!("tempo {old:.1} -> {bpm:.1} BPM"));
                }
                _ => {}
            }
            self.grid = grid;
        }
    }

    pub(super) fn show(&self, ui: &mut Ui) {
        ui.heading("Room events");
        egui::ScrollArea::vertical()
            .id_salt("events")
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if self.lines.is_empty() {
                    ui.label(egui::RichText::new("Room events appear here; chat will too.").weak());
                }
                for line in &self.lines {
                    ui.monospace(line);
                }
            });
    }
}
