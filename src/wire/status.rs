//! What the stress run publishes at `GET /status` (and hands the in-process dashboard), and
//! the records it shares with `results.json`: the chaos timeline, the recoveries, the
//! 1-second series and the checker's report. `stress::status` builds a [`StressStatus`];
//! `monitor` reads one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The live status of a run. Every field has a default, so a status from an older run
/// (without `active_adversaries`, say) still reads.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StressStatus {
    /// `starting`, `load`, `heal`, `check` or `done`.
    pub phase: String,
    pub elapsed_s: f64,
    pub duration_s: f64,
    pub users: u32,
    pub server: RunServer,
    /// Calls so far by outcome class (`success`, `expected_refusal`, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// Expected refusals by code.
    pub refusals: BTreeMap<String, u64>,
    pub active_faults: Vec<String>,
    pub active_adversaries: Vec<String>,
    pub recent_events: Vec<TimelineEvent>,
    pub recoveries: Vec<Recovery>,
    /// The last points of the 1-second series.
    pub series: Vec<SeriesPoint>,
    pub acknowledged: u64,
    /// The checker's report, once the run has checked.
    pub checker: Option<CheckerReport>,
    /// The run's thresholds: figure name → expression.
    pub thresholds: BTreeMap<String, String>,
}

/// The server under test, as the status shows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RunServer {
    /// Its MCP URL.
    pub url: String,
    pub pid: Option<u32>,
    pub restarts: u64,
}

impl StressStatus {
    /// The status as `/status` writes it: through a JSON value, whose keys are sorted, so
    /// that the text on the wire stays what the hand-built `json!` gave.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// One second of the run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SeriesPoint {
    /// Seconds since the start of the run.
    pub t: u64,
    pub requests: u64,
    pub success: u64,
    pub expected_refusal: u64,
    pub fault_induced: u64,
    pub unexpected: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub server_rss_mb: f64,
    pub workers_rss_mb: f64,
    pub server_cpu_percent: f64,
    /// Resident memory of the stress harness itself (absent from older files: 0).
    #[serde(default)]
    pub harness_rss_mb: f64,
    /// Faults active during this second.
    pub faults: Vec<String>,
}

/// A chaos event as it happened.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TimelineEvent {
    pub kind: String,
    pub start_s: f64,
    pub end_s: Option<f64>,
    pub detail: String,
}

/// The recovery from one server kill (or restart).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Recovery {
    pub kind: String,
    pub at_s: f64,
    /// From the kill to `/readyz` answering 200.
    pub ready_after_s: Option<f64>,
    /// From the kill to the first successful tool call.
    pub first_success_after_s: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CheckerReport {
    pub acknowledged: u64,
    pub deleted: u64,
    pub maybe_deleted: u64,
    pub evicted: u64,
    pub checked: u64,
    pub ok: u64,
    pub lost: u64,
    /// Corrupted on purpose on disk by the nemesis, and reported as corrupted by the server.
    pub corrupted_detected: u64,
    /// Served with content that differs from what was acknowledged.
    pub silently_corrupted: u64,
    /// Could not be read back for another reason (each listed in `problems`).
    pub unreadable: u64,
    pub problems: Vec<String>,
}

impl CheckerReport {
    /// Its counts, as the run figures name them.
    pub fn figures(&self) -> crate::wire::CheckerFigures {
        crate::wire::CheckerFigures {
            lost: self.lost as f64,
            silently_corrupted: self.silently_corrupted as f64,
            corrupted_detected: self.corrupted_detected as f64,
            unreadable: self.unreadable as f64,
            acknowledged: self.acknowledged as f64,
            checked_ok: self.ok as f64,
        }
    }
}
