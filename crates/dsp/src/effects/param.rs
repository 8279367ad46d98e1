//! Parameter types shared by several effects' `Params`: tempo-synced note values, musical keys
//! and scales, as the reference JSON writes them (docs/effects.md §3.1–3.2).

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

/// A musical key (its tonic's pitch class): `"C"` = 0 … `"B"` = 11, sharps (`#`, `♯`) and the
/// flats Db Eb Gb Ab Bb (and any other `b`/`♭` spelling). Unknown text reads as C (docs/effects.md
/// §3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Key(u8);

impl Key {
    /// C.
    pub const C: Self = Self(0);

    /// The key whose tonic is pitch class `pitch_class` (taken modulo 12).
    pub const fn new(pitch_class: u8) -> Self {
        Self(pitch_class % 12)
    }

    /// The tonic's pitch class, 0 (C) … 11 (B).
    pub const fn pitch_class(self) -> u8 {
        self.0
    }

    /// Parses a key name; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let mut chars = text.trim().chars();
        let natural = match chars.next()?.to_ascii_uppercase() {
            'C' => 0,
            'D' => 2,
            'E' => 4,
            'F' => 5,
            'G' => 7,
            'A' => 9,
            'B' => 11,
            _ => return None,
        };
        let accidental: i8 = match chars.as_str() {
            "" => 0,
            "#" | "♯" => 1,
            "b" | "♭" => -1,
            _ => return None,
        };
        Some(Self::new((natural + accidental + 12) as u8))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 12] = [
            "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
        ];
        f.write_str(NAMES[usize::from(self.0)])
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Self::parse(&text).unwrap_or_default())
    }
}

/// A scale: the pitch classes above the key's tonic that belong to it (docs/effects.md §3.1).
///
/// Unknown text reads as chromatic: no snapping is the safe reading of a bad field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scale {
    /// All twelve semitones.
    #[default]
    Chromatic,
    /// 0 2 4 5 7 9 11.
    Major,
    /// 0 2 3 5 7 8 10 (natural minor).
    Minor,
    /// 0 2 4 7 9.
    PentatonicMajor,
    /// 0 3 5 7 10.
    PentatonicMinor,
    /// 0 3 5 6 7 10.
    Blues,
    /// 0 2 3 5 7 9 10.
    Dorian,
    /// 0 2 4 5 7 9 10.
    Mixolydian,
    /// 0 2 3 5 7 8 11.
    HarmonicMinor,
}

impl<'de> Deserialize<'de> for Scale {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Self::parse(&text).unwrap_or_default())
    }
}

impl Scale {
    /// Every scale, in the order of docs/effects.md §3.1.
    pub const ALL: [Self; 9] = [
        Self::Chromatic,
        Self::Major,
        Self::Minor,
        Self::PentatonicMajor,
        Self::PentatonicMinor,
        Self::Blues,
        Self::Dorian,
        Self::Mixolydian,
        Self::HarmonicMinor,
    ];

    /// The reference name (`"pentatonicMajor"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Chromatic => "chromatic",
            Self::Major => "major",
            Self::Minor => "minor",
            Self::PentatonicMajor => "pentatonicMajor",
            Self::PentatonicMinor => "pentatonicMinor",
            Self::Blues => "blues",
            Self::Dorian => "dorian",
            Self::Mixolydian => "mixolydian",
            Self::HarmonicMinor => "harmonicMinor",
        }
    }

    /// Parses a reference name (snake_case accepted); `None` if it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let wanted: String = text.trim().chars().filter(|c| *c != '_').collect();
        Self::ALL
            .into_iter()
            .find(|scale| scale.name().eq_ignore_ascii_case(&wanted))
    }

    /// Semitones above the tonic, ascending, starting at 0.
    pub fn intervals(self) -> &'static [u8] {
        match self {
            Self::Chromatic => &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
            Self::Major => &[0, 2, 4, 5, 7, 9, 11],
            Self::Minor => &[0, 2, 3, 5, 7, 8, 10],
            Self::PentatonicMajor => &[0, 2, 4, 7, 9],
            Self::PentatonicMinor => &[0, 3, 5, 7, 10],
            Self::Blues => &[0, 3, 5, 6, 7, 10],
            Self::Dorian => &[0, 2, 3, 5, 7, 9, 10],
            Self::Mixolydian => &[0, 2, 4, 5, 7, 9, 10],
            Self::HarmonicMinor => &[0, 2, 3, 5, 7, 8, 11],
        }
    }

    /// The scale note of `key` nearest to `note` (a fractional MIDI note number; 69 = A4).
    /// Ties go down. NaN stays NaN.
    pub fn nearest(self, key: Key, note: f64) -> f64 {
        let tonic = f64::from(key.pitch_class());
        let octave = ((note - tonic) / 12.0).floor();
        let base = tonic + 12.0 * octave;
        let mut best = f64::NAN;
        // Candidates in this octave, plus the next octave's tonic (above the highest degree).
        for candidate in self
            .intervals()
            .iter()
            .map(|&i| base + f64::from(i))
            .chain([
                base + 12.0,
                base - 12.0 + f64::from(*self.intervals().last().unwrap_or(&0)),
            ])
        {
            if best.is_nan() || (candidate - note).abs() < (best - note).abs() {
                best = candidate;
            }
        }
        best
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

    #[test]
    fn keys_parse_every_spelling_and_unknown_is_c() {
        let key = |text: &str| Key::parse(text).map(Key::pitch_class);
        assert_eq!(key("C"), Some(0));
        assert_eq!(key("C#"), Some(1));
        assert_eq!(key("Db"), Some(1));
        assert_eq!(key("F♯"), Some(6));
        assert_eq!(key("Bb"), Some(10));
        assert_eq!(key("B"), Some(11));
        assert_eq!(key("Cb"), Some(11));
        assert_eq!(key("H"), None);
        let bad: Key = serde_json::from_str("\"la\"").unwrap();
        assert_eq!(bad, Key::C);
        let eb: Key = serde_json::from_str("\"Eb\"").unwrap();
        assert_eq!(serde_json::to_string(&eb).unwrap(), "\"Eb\"");
    }

    #[test]
    fn scales_snap_to_their_nearest_note() {
        let a = Key::parse("A").unwrap();
        // A minor: A B C D E F G. 61.4 (C#+40 ct) is nearer D (62) than C (60).
        assert_eq!(Scale::Minor.nearest(a, 61.4), 62.0);
        assert_eq!(Scale::Minor.nearest(a, 60.9), 60.0);
        assert_eq!(Scale::Major.nearest(Key::C, 70.6), 71.0, "B, across a gap");
        assert_eq!(
            Scale::Major.nearest(Key::C, 71.6),
            72.0,
            "the next octave's tonic"
        );
        assert_eq!(
            Scale::PentatonicMinor.nearest(Key::C, 58.9),
            58.0,
            "Bb below the tonic"
        );
        assert_eq!(Scale::Chromatic.nearest(Key::C, 64.49), 64.0);
        let unknown: Scale = serde_json::from_str("\"lydianDominant\"").unwrap();
        assert_eq!(unknown, Scale::Chromatic);
        assert_eq!(Scale::parse("harmonic_minor"), Some(Scale::HarmonicMinor));
        let blues: Scale = serde_json::from_str("\"pentatonicMajor\"").unwrap();
        assert_eq!(blues, Scale::PentatonicMajor);
    }
}
