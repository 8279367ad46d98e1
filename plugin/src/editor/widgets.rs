//! The editor's small widgets: host parameters as sliders and switches (with the host's
//! gestures, so automation records and undo works), and level meters.

use egui::{self, Color32, Response, Sense, Ui, WidgetInfo};
use nice_plug::prelude::{BoolParam, Param, ParamSetter};

/// A host parameter as a slider over its normalised range, with its value as the host shows
/// it. `label` is what a screen reader (and a test) finds it by.
pub(super) fn param_slider<P: Param>(
    ui: &mut Ui,
    setter: &ParamSetter<'_>,
    param: &P,
    label: &str,
    width: f32,
) -> Response {
    let mut normalized = param.unmodulated_normalized_value();
    let response = ui
        .scope(|ui| {
            ui.spacing_mut().slider_width = width;
            ui.add(egui::Slider::new(&mut normalized, 0.0..=1.0).show_value(false))
        })
        .inner;
    response.widget_info(|| WidgetInfo::slider(true, f64::from(normalized), label));
    if response.drag_started() {
        setter.begin_set_parameter(param);
    }
    if response.changed() {
        // A click, a key or an assistive technology: one whole gesture.
        let gesture = !response.dragged();
        if gesture {
            setter.begin_set_parameter(param);
        }
        setter.set_parameter_normalized(param, normalized);
        if gesture {
            setter.end_set_parameter(param);
        }
    }
    if response.drag_stopped() {
        setter.end_set_parameter(param);
    }
    ui.label(param.normalized_value_to_string(param.unmodulated_normalized_value(), true));
    response
}

/// A switch parameter as a checkbox labelled `label`; without a label (a table cell) a screen
/// reader reads the parameter's name.
pub(super) fn param_switch(
    ui: &mut Ui,
    setter: &ParamSetter<'_>,
    param: &BoolParam,
    label: &str,
) -> Response {
    let mut on = param.value();
    let response = ui.checkbox(&mut on, label);
    if label.is_empty() {
        response.widget_info(|| WidgetInfo::selected(egui::Role::CheckBox, true, on, param.name()));
    }
    if response.changed() {
        setter.begin_set_parameter(param);
        setter.set_parameter(param, on);
        setter.end_set_parameter(param);
    }
    response
}

/// The lowest level a meter shows, dBFS.
const FLOOR_DB: f32 = -60.0;

/// Linear amplitude in dBFS, floored at [`FLOOR_DB`].
pub(super) fn dbfs(amplitude: f32) -> f32 {
    if amplitude > 0.0 {
        (20.0 * amplitude.log10()).max(FLOOR_DB)
    } else {
        FLOOR_DB
    }
}

/// A meter's display state: the peak falls back slowly, a clip stays lit for a while.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct MeterState {
    peak_db: f32,
    rms_db: f32,
    /// Seconds the clip light stays on.
    clip_hold: f32,
}

/// How long a clip stays lit, s.
const CLIP_HOLD_S: f32 = 2.0;
/// How fast the peak falls back, dB per second.
const PEAK_FALL_DB_PER_S: f32 = 20.0;

impl MeterState {
    /// Folds in what the audio thread measured (linear peak and RMS) over `dt` seconds.
    pub(super) fn update(&mut self, (peak, rms): (f32, f32), dt: f32) {
        let fallen = (self.peak_db - PEAK_FALL_DB_PER_S * dt).max(FLOOR_DB);
        self.peak_db = dbfs(peak).max(fallen);
        self.rms_db = dbfs(rms);
        self.clip_hold = if peak >= 1.0 {
            CLIP_HOLD_S
        } else {
            (self.clip_hold - dt).max(0.0)
        };
    }

    /// The peak shown, dBFS.
    pub(super) fn peak_db(&self) -> f32 {
        self.peak_db
    }

    /// Draws the meter `width` wide: the RMS as a bar, the peak as a line, a red box while a
    /// clip is held; read out as "`label`: peak X dBFS, RMS Y dBFS".
    pub(super) fn show(&self, ui: &mut Ui, label: &str, width: f32) -> Response {
        let height = ui.spacing().interact_size.y * 0.6;
        let (rect, response) = ui.allocate_exact_size(egui::vec2(width, height), Sense::hover());
        let clip_width = height;
        let bar = egui::Rect::from_min_max(
            rect.min,
            egui::pos2(rect.max.x - clip_width - 2.0, rect.max.y),
        );
        let painter = ui.painter_at(rect);
        painter.rect_filled(bar, 2.0, ui.visuals().extreme_bg_color);
        let x = |db: f32| bar.min.x + bar.width() * ((db - FLOOR_DB) / -FLOOR_DB).clamp(0.0, 1.0);
        let colour = if self.rms_db > -6.0 {
            Color32::from_rgb(230, 180, 40)
        } else {
            Color32::from_rgb(70, 190, 110)
        };
        painter.rect_filled(
            egui::Rect::from_min_max(bar.min, egui::pos2(x(self.rms_db), bar.max.y)),
            2.0,
            colour,
        );
        let peak_x = x(self.peak_db);
        painter.line_segment(
            [egui::pos2(peak_x, bar.min.y), egui::pos2(peak_x, bar.max.y)],
            egui::Stroke::new(2.0, ui.visuals().strong_text_color()),
        );
        let clip =
            egui::Rect::from_min_max(egui::pos2(rect.max.x - clip_width, rect.min.y), rect.max);
        let clip_colour = if self.clip_hold > 0.0 {
            Color32::from_rgb(220, 50, 50)
        } else {
            ui.visuals().extreme_bg_color
        };
        painter.rect_filled(clip, 2.0, clip_colour);
        let text = format!(
            "{label}: peak {:.1} dBFS, RMS {:.1} dBFS{}",
            self.peak_db,
            self.rms_db,
            if self.clip_hold > 0.0 {
                ", clipped"
            } else {
                ""
            }
        );
        response.widget_info(|| WidgetInfo::labeled(egui::Role::ProgressIndicator, true, &text));
        response.on_hover_text(text)
    }
}

/// A text cell a screen reader (and a test) reads as `spoken` ("RTT to player 7: 0.31 ms").
pub(super) fn cell(ui: &mut Ui, text: &str, spoken: &str) -> Response {
    let response = ui.label(text);
    response.widget_info(|| WidgetInfo::labeled(egui::Role::Label, true, spoken));
    response
}

/// A number with its unit, or a dash while it is unknown.
pub(super) fn maybe(value: Option<f64>, decimals: usize, unit: &str) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.decimals$} {unit}"))
}
