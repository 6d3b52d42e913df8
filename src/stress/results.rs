//! `results.json`: the record of a run (schema version 1, documented in
//! docs/results-schema.md), the figures the thresholds judge, and the verdict.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::stress::{StressConfig, Threshold};
use crate::stress::checker::CheckerReport;
use crate::stress::recorder::{
    CallSample, FairnessReport, LatencySummary, Recovery, SeriesPoint, TimelineEvent,
};

pub const SCHEMA_VERSION: u32 = 1;

/// What one adversary window did, for `results.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct AdversaryReport {
    pub kind: String,
    /// The address it spoke from.
    pub source: String,
    pub start_s: f64,
    pub end_s: f64,
    /// Requests, connections or sessions it tried.
    pub attempts: u64,
    /// Answered as the hostile client deserved: refused, cut off, or limited.
    pub refused: u64,
    /// Served normally (a greedy client's calls that ran, a session that opened).
    pub served: u64,
    /// Answers that show the server misbehaving.
    pub misbehaved: u64,
    /// What it saw, in a line.
    pub detail: String,
    /// A few of the misbehaving answers.
    pub samples: Vec<String>,
}

/// What the cross-replica reads found.
#[derive(Clone, Debug, Default)]
pub struct CrossReplica {
    /// Scores stored through one replica and read through the others.
    pub rounds: u64,
    /// Reads through another replica.
    pub reads: u64,
    /// Reads that failed or disagreed outside any fault window.
    pub failures: u64,
    /// Failed reads inside a fault window (excused).
    pub excused: u64,
    /// The first few failures, in words.
    pub samples: Vec<String>,
}

impl CrossReplica {
    pub(crate) fn note(&mut self, failed: Option<String>, excused: bool) {
        self.reads += 1;
        if let Some(why) = failed {
            if excused {
                self.excused += 1;
            } else {
                self.failures += 1;
                if self.samples.len() < 10 {
                    self.samples.push(why);
                }
            }
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ThresholdResult {
    pub name: String,
    pub expression: String,
    /// The figure, or null when the run did not measure it.
    pub value: Option<f64>,
    pub pass: bool,
    /// How it was judged when faults were skipped (a `--target` run without commands for
    /// them): `skipped: ...` for a threshold that could not be measured, or what else was
    /// counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Results {
    pub schema_version: u32,
    pub tool: String,
    pub version: String,
    pub git_revision: String,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    pub finished_at: u64,
    pub duration_s: f64,
    /// True when Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// `pass`, `fail` or `broken`.
    pub verdict: String,
    pub exit_code: i32,
    /// A line on what broke the run, when it broke.
    pub error: Option<String>,
    pub config: StressConfig,
    /// The figures the thresholds are judged on, and more.
    pub figures: BTreeMap<String, f64>,
    pub thresholds: Vec<ThresholdResult>,
    pub outcomes: BTreeMap<String, u64>,
    /// Counts by `outcome:code`, e.g. `expected_refusal:rate_limited`.
    pub refusals: BTreeMap<String, u64>,
    /// Per tool, per outcome: latency percentiles (ms).
    pub latency: BTreeMap<String, BTreeMap<String, LatencySummary>>,
    pub timeline: Vec<TimelineEvent>,
    pub recoveries: Vec<Recovery>,
    pub series: Vec<SeriesPoint>,
    pub checker: CheckerReport,
    pub unexpected_samples: Vec<CallSample>,
    /// What each adversary window did (absent from files of runs without adversaries).
    #[serde(default)]
    pub adversaries: Vec<AdversaryReport>,
    /// What the normal users saw while the adversaries ran.
    #[serde(default)]
    pub fairness: FairnessReport,
    /// Fault kinds not injected, with why (a `--target` run without the command for them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped_faults: BTreeMap<String, String>,
    /// Each replica of a `--target` deployment at the end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<crate::stress::target::ReplicaReport>,
    /// The first reads of a score through another replica that failed or disagreed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cross_replica_samples: Vec<String>,
}

impl Results {
    /// A results value with nothing in it yet: no figures, no events, verdict "unknown".
    pub fn blank(config: StressConfig) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            tool: String::new(),
            version: String::new(),
            git_revision: String::new(),
            started_at: 0,
            finished_at: 0,
            duration_s: 0.0,
            interrupted: false,
            verdict: "unknown".into(),
            exit_code: -1,
            error: None,
            config,
            figures: BTreeMap::new(),
            thresholds: Vec::new(),
            outcomes: BTreeMap::new(),
            refusals: BTreeMap::new(),
            latency: BTreeMap::new(),
            timeline: Vec::new(),
            recoveries: Vec::new(),
            series: Vec::new(),
            checker: CheckerReport::default(),
            adversaries: Vec::new(),
            fairness: FairnessReport::default(),
            unexpected_samples: Vec::new(),
            skipped_faults: BTreeMap::new(),
            replicas: Vec::new(),
            cross_replica_samples: Vec::new(),
        }
    }
}

/// Judges each threshold against the figures. A figure the run did not produce fails.
pub fn judge(
    thresholds: &BTreeMap<String, String>,
    figures: &BTreeMap<String, f64>,
) -> Vec<ThresholdResult> {
    judge_with_skips(thresholds, figures, &BTreeMap::new())
}

/// Judges the thresholds of a run in which the fault kinds of `skipped` (kind → why) were
/// not injected: `server_kills` is not judged when `kill_server` was skipped (it cannot
/// happen), and `fault_kinds_injected` counts the skipped kinds as accounted for. Every
/// such row says so.
pub fn judge_with_skips(
    thresholds: &BTreeMap<String, String>,
    figures: &BTreeMap<String, f64>,
    skipped: &BTreeMap<String, String>,
) -> Vec<ThresholdResult> {
    thresholds
        .iter()
        .map(|(name, expression)| {
            let value = figures.get(name).copied();
            let holds = |v: f64| Threshold::parse(expression).is_ok_and(|t| t.holds(v));
            let (pass, note) = match (name.as_str(), value) {
                ("server_kills", _) if skipped.contains_key("kill_server") => (
                    true,
                    Some(format!(
                        "skipped: kill_server was not injected ({})",
                        skipped["kill_server"]
                    )),
                ),
                ("fault_kinds_injected", Some(v)) if !skipped.is_empty() => (
                    holds(v + skipped.len() as f64),
                    Some(format!(
                        "{v:.0} injected + {} skipped ({})",
                        skipped.len(),
                        skipped.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                ),
                (_, Some(v)) => (holds(v), None),
                (_, None) => (false, None),
            };
            ThresholdResult {
                name: name.clone(),
                expression: expression.clone(),
                value,
                pass,
                note,
            }
        })
        .collect()
}

/// The verdict table, for the terminal.
pub fn verdict_table(results: &[ThresholdResult]) -> String {
    let mut out = format!(
        "{:<34} {:>14} {:>12}  {}\n",
        "threshold", "figure", "required", "result"
    );
    for r in results {
        let value = r
            .value
            .map(format_figure)
            .unwrap_or_else(|| "not measured".into());
        let result = match (&r.note, r.pass) {
            (Some(note), _) if note.starts_with("skipped") => note.clone(),
            (Some(note), pass) => format!("{} ({note})", if pass { "pass" } else { "FAIL" }),
            (None, true) => "pass".into(),
            (None, false) => "FAIL".into(),
        };
        out.push_str(&format!(
            "{:<34} {:>14} {:>12}  {result}\n",
            r.name, value, r.expression,
        ));
    }
    out
}

pub fn format_figure(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{v:.0}")
    } else if v.abs() < 10.0 {
        format!("{v:.4}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judging_and_missing_figures() {
        let thresholds: BTreeMap<String, String> = [
            ("lost", "== 0"),
            ("recovery_seconds_max", "<= 2"),
            ("nope", ">= 1"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let figures: BTreeMap<String, f64> = [("lost", 0.0), ("recovery_seconds_max", 2.5)]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b))
            .collect();
        let judged = judge(&thresholds, &figures);
        let by: BTreeMap<_, _> = judged.iter().map(|r| (r.name.as_str(), r.pass)).collect();
        assert!(by["lost"]);
        assert!(!by["recovery_seconds_max"]);
        assert!(!by["nope"], "a figure not measured fails");
        assert!(verdict_table(&judged).contains("FAIL"));
    }
}
