//! Parameter types shared by several effects' `Params`: tempo-synced note values as the
//! reference JSON writes them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Dotted or triplet modifier of a [`Subdivision`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Modifier {
    Straight,
    Dotted,
    Triplet,
}

/// A note value such as `"1/4"`, `"1/8D"` (dotted, ×1.5) or `"1/16T"` (triplet, ×⅔).
///
/// A plain `Copy` value, so `set_params` can take it without allocating; it reads and writes
/// the reference's text form. Text that is not a note value reads as the default `"1/4"`
/// (a partial update must not fail on one bad field). `"1/16"` is a sixteenth note, a quarter
/// of a beat (the reference computes 4 beats for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subdivision {
    numerator: u16,
    denominator: u16,
    modifier: Modifier,
}

impl Default for Subdivision {
    fn default() -> Self {
        Self::QUARTER
    }
}

impl Subdivision {
    /// A quarter note, one beat.
    pub const QUARTER: Self = Self {
        numerator: 1,
        denominator: 4,
        modifier: Modifier::Straight,
    };

    /// Parses `"n/d"` with an optional `D` (dotted) or `T` (triplet) suffix; `None` otherwise.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (body, modifier) = match text.as_bytes().last()? {
            b'D' | b'd' => (&text[..text.len() - 1], Modifier::Dotted),
            b'T' | b't' => (&text[..text.len() - 1], Modifier::Triplet),
            _ => (text, Modifier::Straight),
        };
        let (numerator, denominator) = body.split_once('/')?;
        let numerator: u16 = numerator.trim().parse().ok()?;
        let denominator: u16 = denominator.trim().parse().ok()?;
        (numerator > 0 && denominator > 0).then_some(Self {
            numerator,
            denominator,
            modifier,
        })
    }

    /// The length in beats (quarter notes): `"1/4"` = 1, `"1/16"` = 0.25, `"1/4D"` = 1.5.
    pub fn beats(self) -> f64 {
        let straight = 4.0 * f64::from(self.numerator) / f64::from(self.denominator);
        match self.modifier {
            Modifier::Straight => straight,
            Modifier::Dotted => straight * 1.5,
            Modifier::Triplet => straight * 2.0 / 3.0,
        }
    }
}

impl fmt::Display for Subdivision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = match self.modifier {
            Modifier::Straight => "",
            Modifier::Dotted => "D",
            Modifier::Triplet => "T",
        };
        write!(f, "{}/{}{suffix}", self.numerator, self.denominator)
    }
}

impl Serialize for Subdivision {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subdivision {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Self::parse(&text).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_values_have_musical_lengths() {
        let beats = |text: &str| Subdivision::parse(text).unwrap().beats();
        assert_eq!(beats("1/4"), 1.0);
        assert_eq!(beats("1/8"), 0.5);
        assert_eq!(beats("1/16"), 0.25);
        assert_eq!(beats("1/1"), 4.0);
        assert_eq!(beats("1/4D"), 1.5);
        assert!((beats("1/8T") - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(Subdivision::parse("quarter"), None);
        assert_eq!(Subdivision::parse("0/4"), None);
    }

    #[test]
    fn note_values_round_trip_through_json_and_bad_text_is_the_default() {
        for text in ["1/4", "1/8D", "1/16T", "3/8"] {
            let value: Subdivision = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            assert_eq!(
                serde_json::to_string(&value).unwrap(),
                format!("\"{text}\"")
            );
        }
        let bad: Subdivision = serde_json::from_str("\"sometimes\"").unwrap();
        assert_eq!(bad, Subdivision::QUARTER);
    }
}
