//! The jitter histogram: a decaying log-linear histogram of how late packets arrive relative
//! to the floor, from which the buffer reads the quantile its target delay covers.

/// 16 linear sub-bins per power of two, 1-tick bins below 32 ticks.
const SUB_BINS: usize = 16;
/// 15 octaves: jitter up to 262,143 ticks (5.5 s); anything above is clamped.
pub(super) const BINS: usize = SUB_BINS * 15;

/// Decaying histogram of jitter on log-linear bins. Instead of decaying every bin per sample,
/// each new sample weighs more than the last; the bins are rescaled when the weight grows large.
#[derive(Clone, Debug)]
pub(super) struct Histogram {
    bins: [f64; BINS],
    total: f64,
    weight: f64,
    growth: f64,
}

impl Histogram {
    pub(super) fn new(history_packets: u32) -> Self {
        Self {
            bins: [0.0; BINS],
            total: 0.0,
            weight: 1.0,
            growth: 1.0 / (1.0 - 1.0 / f64::from(history_packets.max(2))),
        }
    }

    pub(super) fn clear(&mut self) {
        self.bins = [0.0; BINS];
        self.total = 0.0;
        self.weight = 1.0;
    }

    pub(super) fn index(ticks: u64) -> usize {
        if ticks < 2 * SUB_BINS as u64 {
            return ticks as usize;
        }
        let msb = 63 - ticks.leading_zeros() as usize;
        let shift = msb - 4;
        let index = SUB_BINS * (shift + 1) + ((ticks >> shift) as usize - SUB_BINS);
        index.min(BINS - 1)
    }

    /// The largest value that falls in bin `index`.
    pub(super) fn upper(index: usize) -> u64 {
        if index < 2 * SUB_BINS {
            return index as u64;
        }
        let shift = index / SUB_BINS - 1;
        let lower = ((SUB_BINS + index % SUB_BINS) as u64) << shift;
        lower + (1 << shift) - 1
    }

    pub(super) fn add(&mut self, ticks: u64) {
        self.bins[Self::index(ticks)] += self.weight;
        self.total += self.weight;
        self.weight *= self.growth;
        if self.weight > 1e100 {
            let scale = 1.0 / self.weight;
            for bin in &mut self.bins {
                *bin *= scale;
            }
            self.total *= scale;
            self.weight = 1.0;
        }
    }

    /// The smallest bin edge with at most `fraction` of the weight above it.
    pub(super) fn quantile(&self, fraction: f64) -> u64 {
        let allowed = fraction * self.total;
        let mut tail = 0.0;
        for index in (0..BINS).rev() {
            tail += self.bins[index];
            if tail > allowed {
                return Self::upper(index);
            }
        }
        0
    }
}
