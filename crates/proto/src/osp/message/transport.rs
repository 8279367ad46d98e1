//! Transport and tempo (Transport, TempoChange, our TransportSync anchored on the session
//! timeline) and the song, loop and generator state that follows the transport.

use serde::{Deserialize, Serialize};

/// Transport verbs (also the room's transport state).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransportAction {
    /// Start playing.
    Play,
    /// Pause in place.
    Pause,
    /// Stop.
    #[default]
    Stop,
    /// Move the play head.
    Seek,
    /// Start recording.
    Record,
    /// Stop recording.
    StopRecord,
}

/// 0x0104: a transport command.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transport {
    /// The verb.
    pub action: TransportAction,
    /// Position in seconds (Seek).
    pub position: Option<f64>,
    /// When to act (reference: ms epoch; ours: use [`TransportSync`] instead).
    pub sync_timestamp: Option<u64>,
}

/// Where a tempo came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TempoSource {
    /// Typed in.
    Manual,
    /// From a track's metadata.
    Track,
    /// Detected.
    Analyzer,
    /// Tap tempo.
    Tap,
}

/// 0x0105: tempo (and optionally key) change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TempoChange {
    /// Beats per minute.
    pub bpm: f32,
    /// Origin.
    pub source: TempoSource,
    /// Key, e.g. `"C#"`.
    pub key: Option<String>,
    /// Scale, e.g. `"minor"`.
    pub scale: Option<String>,
}

/// Song-list verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SongAction {
    /// Choose a song.
    Select,
    /// Next song.
    Next,
    /// Previous song.
    Previous,
    /// Add a song.
    Create,
    /// Remove a song.
    Delete,
}

/// 0x0209: song list change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SongChange {
    /// Song id.
    pub song_id: String,
    /// Verb.
    pub action: SongAction,
}

/// Loop verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoopAction {
    /// Add a loop.
    Create,
    /// Remove it.
    Delete,
    /// Start it.
    Start,
    /// Stop it.
    Stop,
    /// Change its settings.
    Update,
}

/// 0x020A: loop state change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Loop id.
    pub loop_id: String,
    /// Verb.
    pub action: LoopAction,
    /// Position, s.
    pub position: Option<f64>,
    /// Linear volume.
    pub volume: Option<f32>,
    /// Muted.
    pub muted: Option<bool>,
}

/// Generator settings in LyriaState.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LyriaConfig {
    /// Tempo.
    pub bpm: f32,
    /// Scale name.
    pub scale: String,
    /// 0..1.
    pub density: f32,
    /// 0..1.
    pub brightness: f32,
    /// 0..1.
    pub drums: f32,
    /// 0..1.
    pub bass: f32,
}

/// 0x020B: the reference app's music-generator state (carried for compatibility).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LyriaState {
    /// Generator state name.
    pub session_state: String,
    /// Settings.
    pub config: Option<LyriaConfig>,
}

/// 0x020E (ours): tempo and transport anchored on the shared session timeline.
///
/// The beat at session tick `t` (48 kHz) is `anchor_beat + (t − anchor_tick) × bpm / 2,880,000`
/// while playing (and `anchor_beat` while stopped), so every peer places beat N at the same
/// instant whatever the message's delivery delay.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransportSync {
    /// Bumped by the master on every change; receivers apply only newer ones.
    pub version: u32,
    /// Playing.
    pub playing: bool,
    /// Tempo, beats per minute.
    pub bpm: f64,
    /// Beats per bar.
    pub beats_per_bar: u8,
    /// Beat unit (4 = quarter note).
    pub beat_unit: u8,
    /// Session timeline tick (48 kHz) of the anchor.
    pub anchor_tick: u64,
    /// Beat position at the anchor.
    pub anchor_beat: f64,
}

impl TransportSync {
    /// Ticks per second of the session timeline.
    pub const TICKS_PER_SECOND: f64 = 48_000.0;

    /// The beat position at session tick `tick`.
    pub fn beat_at(&self, tick: u64) -> f64 {
        self.beat_at_tick(tick as f64)
    }

    /// The beat position at a fractional session tick (a clock finer than the tick).
    pub fn beat_at_tick(&self, tick: f64) -> f64 {
        if !self.playing {
            return self.anchor_beat;
        }
        let elapsed = tick - self.anchor_tick as f64;
        self.anchor_beat + elapsed * self.bpm / (60.0 * Self::TICKS_PER_SECOND)
    }

    /// The session tick at which beat `beat` falls (while playing at this tempo).
    pub fn tick_of(&self, beat: f64) -> f64 {
        self.anchor_tick as f64
            + (beat - self.anchor_beat) * 60.0 * Self::TICKS_PER_SECOND / self.bpm
    }
}
