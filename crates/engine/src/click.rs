//! A metronome on the shared grid: a short decaying sine on every beat, higher on the bar's
//! first, placed to the sample where the grid crosses the beat.

use std::f64::consts::TAU;

use crate::grid::Grid;

/// Pitch of the bar's first beat and of the others, Hz.
const ACCENT_HZ: f64 = 1_500.0;
const BEAT_HZ: f64 = 1_000.0;
/// Decay time constant of one click, seconds; it is cut after five of them (-43 dB).
const DECAY_S: f64 = 0.006;
const LENGTH_TAUS: f64 = 5.0;

/// Click generator state (allocation-free; runs on the audio thread).
#[derive(Clone, Debug)]
pub struct Click {
    sample_rate: f64,
    /// Samples into the sounding click, if one sounds.
    age: Option<u32>,
    accent: bool,
    /// The last beat index a click started on, so a re-anchored grid never clicks twice.
    last_beat: Option<i64>,
    length: u32,
}

impl Click {
    /// A click for a host running at `sample_rate`.
    pub fn new(sample_rate: f64) -> Self {
        Self {
            sample_rate,
            age: None,
            accent: false,
            last_beat: None,
            length: (LENGTH_TAUS * DECAY_S * sample_rate) as u32,
        }
    }

    /// Adds the click for samples `first..first + out_left.len()` of the sample clock into
    /// both outputs at linear `level`.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn render(
        &mut self,
        grid: Option<&Grid>,
        first: u64,
        level: f32,
        out_left: &mut [f32],
        out_right: &mut [f32],
    ) {
        let frames = out_left.len().min(out_right.len());
        let step = grid.map_or(0.0, Grid::beats_per_sample);
        let start_beat = grid.map(|g| g.beat_at(first));
        for i in 0..frames {
            if let (Some(grid), Some(start)) = (grid, start_beat)
                && step > 0.0
            {
                let position = start + i as f64 * step;
                let beat = position.floor() as i64;
                let starts = match self.last_beat {
                    // A beat sounds on the first sample at or after its grid instant.
                    None => position - (beat as f64) < step,
                    Some(last) => beat > last,
                };
                // A grid moved back (the master relocated) re-arms from where it now is.
                if starts || self.last_beat.is_none_or(|last| beat < last) {
                    self.last_beat = Some(beat);
                }
                if starts {
                    self.age = Some(0);
                    self.accent = beat.rem_euclid(i64::from(grid.beats_per_bar.max(1))) == 0;
                }
            }
            let Some(age) = self.age else { continue };
            if age >= self.length {
                self.age = None;
                continue;
            }
            let t = f64::from(age) / self.sample_rate;
            let hz = if self.accent { ACCENT_HZ } else { BEAT_HZ };
            let x = ((TAU * hz * t).sin() * (-t / DECAY_S).exp()) as f32 * level;
            out_left[i] += x;
            out_right[i] += x;
            self.age = Some(age + 1);
        }
        if step == 0.0 {
            // Stopped: the next start clicks on its first beat again.
            self.last_beat = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(bpm: f64) -> Grid {
        Grid {
            playing: true,
            bpm,
            beats_per_bar: 3,
            beat_unit: 4,
            anchor_sample: 0.0,
            anchor_beat: -0.5,
            sample_rate: 48_000.0,
        }
    }

    /// Sample indices where a click starts (first sample of a burst after silence).
    fn onsets(out: &[f32]) -> Vec<usize> {
        (0..out.len())
            .filter(|&i| {
                out[i] != 0.0 && (i == 0 || out[i - 1] == 0.0) && (i < 2 || out[i - 2] == 0.0)
            })
            .collect()
    }

    #[test]
    fn clicks_land_on_grid_beats_to_the_sample_in_any_block_size() {
        // 97 BPM: 29,690.72 samples per beat, so beats fall between samples; the grid is half a
        // beat in at sample 0.
        let grid = grid(97.0);
        let per_beat = 48_000.0 * 60.0 / 97.0;
        // The sine starts at phase 0: the first non-zero sample follows the onset sample.
        let expected: Vec<usize> = (0..4)
            .map(|k| ((f64::from(k) + 0.5) * per_beat).ceil() as usize + 1)
            .collect();
        for block in [1usize, 37, 64, 1_000] {
            let mut click = Click::new(48_000.0);
            let mut left = vec![0f32; 120_000];
            let mut right = vec![0f32; 120_000];
            let mut first = 0;
            while first < left.len() {
                let end = (first + block).min(left.len());
                let (l, r) = (&mut left[first..end], &mut right[first..end]);
                click.render(Some(&grid), first as u64, 0.5, l, r);
                first = end;
            }
            assert_eq!(onsets(&left), expected, "block {block}");
            // Beats 0 and 3 start bars (3 beats per bar): accented, a higher pitch.
            let zero_crossings = |at: usize| {
                left[at..at + 240]
                    .windows(2)
                    .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
                    .count()
            };
            assert!(zero_crossings(expected[0]) > zero_crossings(expected[1]));
            assert!(zero_crossings(expected[3]) > zero_crossings(expected[2]));
            assert_eq!(left, right);
        }
    }

    #[test]
    fn no_grid_or_a_stopped_grid_is_silent() {
        let mut click = Click::new(48_000.0);
        let mut left = vec![0f32; 50_000];
        let mut right = vec![0f32; 50_000];
        click.render(None, 0, 1.0, &mut left, &mut right);
        let stopped = Grid {
            playing: false,
            ..grid(120.0)
        };
        click.render(Some(&stopped), 0, 1.0, &mut left, &mut right);
        assert!(left.iter().chain(&right).all(|&x| x == 0.0));
    }
}
