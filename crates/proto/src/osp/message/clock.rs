//! Clocks and the master: the reference's ms clock messages (ClockSync, BeatPosition, Ping, Pong),
//! our µs ClockProbe/ClockReply exchange and the MasterElection candidacy.

use serde::{Deserialize, Serialize};

/// 0x0003: the reference's ms-resolution master clock (kept for reference peers; ours is
/// [`ClockProbe`]/[`ClockReply`] and [`TransportSync`](super::TransportSync)).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockSync {
    /// Master wall clock, ms since the Unix epoch.
    pub master_time: u64,
    /// Fractional beat position.
    pub beat_position: f64,
    /// Tempo.
    pub bpm: f32,
    /// Beats per bar.
    pub time_sig_num: u8,
    /// Beat unit.
    pub time_sig_denom: u8,
    /// Counter of sync messages.
    pub sync_sequence: u32,
}

/// 0x0004: beat position and metronome state.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BeatPosition {
    /// Fractional beat.
    pub beat: f64,
    /// Metronome clicking.
    pub metronome_active: bool,
}

/// 0x0301: heartbeat and RTT probe (reference: ms epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Probe id.
    pub ping_id: u32,
    /// Sender time, ms.
    pub send_time: u64,
}

/// 0x0302: answer to Ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// Echoed probe id.
    pub ping_id: u32,
    /// Echoed sender time, ms.
    pub send_time: u64,
    /// Responder receive time, ms.
    pub recv_time: u64,
}

/// 0x0303: a master-clock candidacy (priority = 0xFFFF_FFFF − median RTT in µs; ties go to the
/// lowest user id in byte order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterElection {
    /// Candidate's user id string.
    pub candidate_id: String,
    /// Higher wins.
    pub priority: u32,
    /// Who the sender believes is master.
    pub current_master_id: Option<String>,
}

/// 0x030B (ours): clock probe, microseconds on the sender's monotonic session clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockProbe {
    /// Probe id, echoed.
    pub probe_id: u32,
    /// T1: sender's send time, µs.
    pub t1_us: u64,
}

/// 0x030C (ours): clock reply. offset = ((T2 − T1) + (T3 − T4)) / 2, RTT = (T4 − T1) − (T3 − T2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockReply {
    /// Echoed probe id.
    pub probe_id: u32,
    /// Echoed T1, µs on the prober's clock.
    pub t1_us: u64,
    /// T2: responder receive time, µs on its clock.
    pub t2_us: u64,
    /// T3: responder send time, µs on its clock.
    pub t3_us: u64,
}
