//! Sliding-window maximum: the largest value among the last N samples, O(1) amortised per
//! sample (a monotonic deque in a fixed ring; docs/effects.md §2.7). Peak detectors hold a
//! waveform's peak across its cycle with it; the lookahead limiter finds the deepest gain in its
//! window.

/// The maximum over a window of the most recent samples.
#[derive(Clone, Debug, Default)]
pub struct SlidingMax {
    /// Candidates, oldest first, values strictly decreasing: a value with a larger one after
    /// it can never be the maximum again.
    values: Vec<f32>,
    stamps: Vec<u64>,
    /// `values.len() - 1`: the ring is a power of two long, so wrapping is a mask (a `%` here
    /// was an integer division per access, on every sample of every detector).
    mask: usize,
    /// The prepared window, the longest [`SlidingMax::set_window`] accepts.
    max_window: usize,
    head: usize,
    len: usize,
    window: u64,
    now: u64,
}

impl SlidingMax {
    /// An empty detector; call [`SlidingMax::prepare`] before use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allocates for a window of `window` samples (at least 1) and clears.
    pub fn prepare(&mut self, window: usize) {
        let window = window.max(1);
        // At most `window` candidates are inside the window, plus the newest before the oldest
        // expires.
        let capacity = (window + 1).next_power_of_two();
        self.values = vec![0.0; capacity];
        self.stamps = vec![0; capacity];
        self.mask = capacity - 1;
        self.max_window = window;
        self.window = window as u64;
        self.reset();
    }

    /// Changes the window to `window` samples (1 up to the prepared size); a shorter window
    /// takes effect at once.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn set_window(&mut self, window: usize) {
        self.window = window.clamp(1, self.max_window.max(1)) as u64;
    }

    /// Forgets all samples.
    ///
    /// Audio thread: must not allocate, lock or block.
    pub fn reset(&mut self) {
        self.head = 0;
        self.len = 0;
        self.now = 0;
    }

    /// Adds `x` and returns the maximum of the last `window` samples including it. NaN is
    /// treated as −∞ (never the maximum).
    ///
    /// Audio thread: must not allocate, lock or block.
    #[inline]
    pub fn push(&mut self, x: f32) -> f32 {
        let mask = self.mask;
        let x = if x.is_nan() { f32::NEG_INFINITY } else { x };
        while self.len > 0 && self.values[(self.head + self.len - 1) & mask] <= x {
            self.len -= 1;
        }
        let back = (self.head + self.len) & mask;
        self.values[back] = x;
        self.stamps[back] = self.now;
        self.len += 1;
        // One expiry per sample normally; several after the window shrank.
        while self.stamps[self.head] + self.window <= self.now {
            self.head = (self.head + 1) & mask;
            self.len -= 1;
        }
        self.now += 1;
        self.values[self.head]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Noise;

    #[test]
    fn matches_a_brute_force_maximum() {
        let mut noise = Noise::new(5);
        for window in [1usize, 2, 7, 64] {
            let mut detector = SlidingMax::new();
            detector.prepare(window);
            let input: Vec<f32> = (0..5_000).map(|_| noise.next_f64() as f32).collect();
            for n in 0..input.len() {
                let got = rt::guard::no_alloc(|| detector.push(input[n]));
                let start = (n + 1).saturating_sub(window);
                let expected = input[start..=n].iter().cloned().fold(f32::MIN, f32::max);
                assert_eq!(got, expected, "window {window}, n {n}");
            }
        }
    }

    #[test]
    fn holds_a_peak_for_exactly_the_window() {
        let mut detector = SlidingMax::new();
        detector.prepare(10);
        assert_eq!(detector.push(1.0), 1.0);
        for _ in 0..9 {
            assert_eq!(detector.push(0.0), 1.0);
        }
        assert_eq!(detector.push(0.0), 0.0, "the peak expires after 10 samples");
        assert_eq!(detector.push(f32::NAN), 0.0);
        detector.push(2.0);
        detector.push(1.0);
        detector.set_window(1);
        assert_eq!(
            detector.push(0.5),
            0.5,
            "a shrunk window drops older peaks at once"
        );
    }
}
