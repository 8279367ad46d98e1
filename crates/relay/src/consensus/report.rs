//! The body of `POST /api/fingerprint`: one listener's fingerprint as JSON, parsed into a
//! typed [`Report`] or refused with a [`ReportError`] that names what is wrong.
//!
//! Fields: `channel`, `device_id`, `fingerprint` (16 hex digits; `hash` is accepted under the
//! same rule, and if both are present they must agree), `timestamp` (Unix seconds, integer or
//! fractional). `duration`, `sample_rate` and `window_sec` describe how the fingerprint was
//! taken: they may be left out, but when present they must be the fingerprint's own (5 s at
//! 48 kHz), since a hash taken otherwise cannot be compared with the rest. `chromaprint`
//! (base64 of 32 × 12 bytes) is optional and kept as text. Unknown fields are ignored.

use std::fmt;
use std::time::Duration;

use proto::rendezvous::MAX_NAME;
use serde::Deserialize;

/// Longest body parsed; longer bodies are refused before they are looked at. A report with
/// every field at its limit takes under 1 KiB.
pub const MAX_BODY: usize = 4_096;
/// Longest device id (bytes).
pub const MAX_DEVICE_ID: usize = 128;
/// Length of `chromaprint`: 384 bytes in base64.
pub const CHROMAPRINT_LEN: usize = 512;
/// Timestamps from this Unix second on (the year 2242) are refused as nonsense.
const MAX_TIMESTAMP_SECS: f64 = (1u64 << 33) as f64;

/// One listener's fingerprint report.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The channel (room) the listener hears.
    pub channel: Box<str>,
    /// The listener's device.
    pub device_id: Box<str>,
    /// The 64-bit fingerprint.
    pub fingerprint: u64,
    /// When the listener took it, since the Unix epoch (the listener's clock).
    pub timestamp: Duration,
    /// The base64 pitch-class chroma, when sent.
    pub chromaprint: Option<Box<str>>,
}

/// Why a body is not a report.
#[derive(Debug)]
pub enum ReportError {
    /// Longer than [`MAX_BODY`].
    TooLong(usize),
    /// Not a JSON object (an array would otherwise fill the fields by position).
    NotAnObject,
    /// Not JSON, a field of the wrong type or a required field missing.
    Json(serde_json::Error),
    /// Neither `fingerprint` nor `hash`.
    MissingFingerprint,
    /// `fingerprint` and `hash` disagree.
    ConflictingFingerprints,
    /// The fingerprint is not 16 hex digits.
    BadFingerprint,
    /// `channel` is empty, longer than 64 bytes or holds a control character.
    BadChannel,
    /// `device_id` is empty, longer than [`MAX_DEVICE_ID`] bytes or holds a control character.
    BadDeviceId,
    /// `timestamp` is negative, not finite or past the year 2242.
    BadTimestamp,
    /// `duration`, `sample_rate` or `window_sec` (named) is not the fingerprint's.
    Incomparable(&'static str),
    /// `chromaprint` is not 512 base64 characters.
    BadChromaprint,
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong(len) => write!(f, "body of {len} bytes exceeds {MAX_BODY}"),
            Self::NotAnObject => f.write_str("a fingerprint report is a JSON object"),
            Self::Json(e) => write!(f, "not a fingerprint report: {e}"),
            Self::MissingFingerprint => f.write_str("missing field `fingerprint` (or `hash`)"),
            Self::ConflictingFingerprints => f.write_str("`fingerprint` and `hash` differ"),
            Self::BadFingerprint => f.write_str("`fingerprint` must be 16 hex digits"),
            Self::BadChannel => write!(
                f,
                "`channel` must be 1 to {MAX_NAME} bytes without control characters"
            ),
            Self::BadDeviceId => write!(
                f,
                "`device_id` must be 1 to {MAX_DEVICE_ID} bytes without control characters"
            ),
            Self::BadTimestamp => f.write_str("`timestamp` must be Unix seconds, 0 to 2^33"),
            Self::Incomparable(field) => write!(
                f,
                "`{field}` differs from the fingerprint's (5 s at 48,000 Hz): not comparable"
            ),
            Self::BadChromaprint => write!(
                f,
                "`chromaprint` must be {CHROMAPRINT_LEN} base64 characters"
            ),
        }
    }
}

impl std::error::Error for ReportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Json(e) => Some(e),
            _ => None,
        }
    }
}

/// The body as JSON; checked into a [`Report`] by [`Report::parse`].
#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    channel: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    device_id: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    fingerprint: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    hash: Option<std::borrow::Cow<'a, str>>,
    timestamp: f64,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    sample_rate: Option<u64>,
    #[serde(default)]
    window_sec: Option<f64>,
    #[serde(borrow, default)]
    chromaprint: Option<std::borrow::Cow<'a, str>>,
}

impl Report {
    /// Parses a `POST /api/fingerprint` body. Any bytes: the error says what is wrong.
    pub fn parse(body: &[u8]) -> Result<Self, ReportError> {
        if body.len() > MAX_BODY {
            return Err(ReportError::TooLong(body.len()));
        }
        if body.trim_ascii_start().first() != Some(&b'{') {
            return Err(ReportError::NotAnObject);
        }
        let body: Body<'_> = serde_json::from_slice(body).map_err(ReportError::Json)?;
        let fingerprint = match (body.fingerprint.as_deref(), body.hash.as_deref()) {
            (None, None) => return Err(ReportError::MissingFingerprint),
            (Some(one), None) | (None, Some(one)) => parse_hex(one)?,
            (Some(fingerprint), Some(hash)) => {
                let (fingerprint, hash) = (parse_hex(fingerprint)?, parse_hex(hash)?);
                if fingerprint != hash {
                    return Err(ReportError::ConflictingFingerprints);
                }
                fingerprint
            }
        };
        if !is_name(&body.channel, MAX_NAME) {
            return Err(ReportError::BadChannel);
        }
        if !is_name(&body.device_id, MAX_DEVICE_ID) {
            return Err(ReportError::BadDeviceId);
        }
        if !(0.0..MAX_TIMESTAMP_SECS).contains(&body.timestamp) {
            return Err(ReportError::BadTimestamp);
        }
        let timestamp =
            Duration::try_from_secs_f64(body.timestamp).map_err(|_| ReportError::BadTimestamp)?;
        if body.duration.is_some_and(|d| d != 5.0) {
            return Err(ReportError::Incomparable("duration"));
        }
        if body.sample_rate.is_some_and(|r| r != 48_000) {
            return Err(ReportError::Incomparable("sample_rate"));
        }
        if body.window_sec.is_some_and(|w| w != 5.0) {
            return Err(ReportError::Incomparable("window_sec"));
        }
        let chromaprint = match body.chromaprint {
            None => None,
            Some(text) if is_chromaprint(&text) => Some(text.into()),
            Some(_) => return Err(ReportError::BadChromaprint),
        };
        Ok(Self {
            channel: body.channel.into(),
            device_id: body.device_id.into(),
            fingerprint,
            timestamp,
            chromaprint,
        })
    }
}

/// 16 hex digits, either case.
fn parse_hex(text: &str) -> Result<u64, ReportError> {
    if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ReportError::BadFingerprint);
    }
    u64::from_str_radix(text, 16).map_err(|_| ReportError::BadFingerprint)
}

fn is_name(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len()) && !text.chars().any(char::is_control)
}

/// 512 characters of the standard base64 alphabet, `=` only as trailing padding (384 bytes
/// need none, but padding is tolerated where base64 allows it).
fn is_chromaprint(text: &str) -> bool {
    let body = text.trim_end_matches('=');
    text.len() == CHROMAPRINT_LEN
        && text.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}
