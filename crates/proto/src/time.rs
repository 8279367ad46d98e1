//! The protocol core's clocks as newtypes: [`Instant`] (the caller's monotonic session clock, µs)
//! and [`MediaTime`] (48 kHz sample ticks: RTP timestamps, the shared session timeline, and a
//! local audio sample clock).
//!
//! The core never reads a clock. The driver passes `now` as an [`Instant`]; the audio thread
//! passes its sample clock as a [`MediaTime`]. Keeping them distinct types stops a µs value
//! being used as a tick count (a 48× error) or the two clocks being compared directly: they
//! drift apart by the audio interface's crystal error, which is what the jitter buffer's
//! resampler events correct.

use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A point on the caller's monotonic clock, in microseconds since an origin the caller chose.
///
/// Different endpoints' `Instant`s are unrelated; [`crate::clock`] estimates the offset between
/// two of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The origin.
    pub const ZERO: Self = Self(0);
    /// Later than any deadline the core sets (used as "never").
    pub const MAX: Self = Self(u64::MAX);

    /// `micros` µs after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Self(micros)
    }

    /// `elapsed` after the origin, saturating at [`Instant::MAX`] (584,000 years).
    pub fn from_duration(elapsed: Duration) -> Self {
        Self(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
    }

    /// µs since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time since the origin.
    pub const fn as_duration(self) -> Duration {
        Duration::from_micros(self.0)
    }

    /// `self − earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Self) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// `self − other` in µs, signed.
    pub fn signed_micros_since(self, other: Self) -> i64 {
        (self.0 as i128 - other.0 as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }
}

impl Add<Duration> for Instant {
    type Output = Self;

    /// Saturates at [`Instant::MAX`].
    fn add(self, rhs: Duration) -> Self {
        let micros = u64::try_from(rhs.as_micros()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(micros))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Self;

    /// Saturates at [`Instant::ZERO`].
    fn sub(self, rhs: Duration) -> Self {
        let micros = u64::try_from(rhs.as_micros()).unwrap_or(u64::MAX);
        Self(self.0.saturating_sub(micros))
    }
}

/// A count of 48 kHz sample ticks: an RTP timestamp extended to 64 bits, a position on the
/// shared session timeline, or a local audio sample clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MediaTime(pub u64);

impl MediaTime {
    /// Ticks per second.
    pub const RATE: u64 = 48_000;

    /// The tick at `micros` µs, rounded to the nearest tick.
    pub const fn from_micros(micros: u64) -> Self {
        // 48 ticks per 1,000 µs; widened so 2^64 µs cannot overflow.
        Self(((micros as u128 * 48 + 500) / 1000) as u64)
    }

    /// The tick count.
    pub const fn ticks(self) -> u64 {
        self.0
    }

    /// This many ticks as µs, rounded to the nearest µs.
    pub const fn as_micros(self) -> u64 {
        ((self.0 as u128 * 1000 + 24) / 48) as u64
    }

    /// This many ticks as a duration.
    pub const fn as_duration(self) -> Duration {
        Duration::from_nanos(((self.0 as u128 * 1_000_000_000) / Self::RATE as u128) as u64)
    }

    /// `self − other` in ticks, signed.
    pub fn signed_since(self, other: Self) -> i64 {
        (self.0 as i128 - other.0 as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// `self + ticks`, saturating at both ends.
    pub fn offset(self, ticks: i64) -> Self {
        Self(self.0.saturating_add_signed(ticks))
    }
}

impl Add<u64> for MediaTime {
    type Output = Self;

    fn add(self, ticks: u64) -> Self {
        Self(self.0.saturating_add(ticks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_convert_and_saturate() {
        let t = Instant::from_micros(1_500);
        assert_eq!(t + Duration::from_millis(2), Instant::from_micros(3_500));
        assert_eq!(t - Duration::from_secs(1), Instant::ZERO);
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(
            t.saturating_since(Instant::from_micros(2_000)),
            Duration::ZERO
        );
        assert_eq!(Instant::ZERO.signed_micros_since(t), -1_500);
        assert_eq!(
            Instant::from_duration(Duration::from_millis(7)).as_micros(),
            7_000
        );
    }

    #[test]
    fn media_time_is_48_ticks_per_millisecond() {
        assert_eq!(MediaTime::from_micros(1_000), MediaTime(48));
        assert_eq!(MediaTime(48_000).as_micros(), 1_000_000);
        assert_eq!(MediaTime(64).as_duration(), Duration::from_nanos(1_333_333));
        // 1 tick = 20.833 µs: rounding goes to the nearest.
        assert_eq!(MediaTime::from_micros(10), MediaTime(0));
        assert_eq!(MediaTime::from_micros(11), MediaTime(1));
        assert_eq!(MediaTime(5).offset(-9), MediaTime(0));
        assert_eq!(MediaTime(5).signed_since(MediaTime(9)), -4);
    }
}
