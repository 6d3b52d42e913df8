//! The report's content, worked out once from a loaded results file: the verdict, the
//! thresholds, the figures, the outcomes, latency, recoveries, refusals, adversaries and the
//! rest, in the report's order. `text`, `markdown` and `html` only lay these out (each keeps
//! its own limits, such as how many refusals a terminal shows); text from the file is left
//! as it is, and each format escapes it its own way.

use std::collections::BTreeMap;

use serde_json::Value;

use super::charts::{self, Chart};
use super::{Report, KEY_FIGURES};
use crate::stress::checker::CheckerReport;
use crate::stress::recorder::{CallSample as Sample, LatencySummary};
use crate::stress::results::AdversaryReport;
use crate::stress::results::{format_figure, Results, ThresholdResult};
use crate::stress::target::ReplicaReport;
use crate::wire::status::TimelineEvent;
use crate::wire::Threshold;

pub struct Sections<'a> {
    /// The results as read, for the charts.
    results: &'a Results,
    pub verdict: Verdict,
    /// Where the run came from: tool, version, revision, start, length, users, seed.
    pub run_line: String,
    pub thresholds: Thresholds<'a>,
    pub figures: Figures<'a>,
    pub outcomes: Outcomes<'a>,
    pub latency: Vec<ToolLatency<'a>>,
    /// The tool and outcome with the highest p99 latency.
    pub slowest: Option<Slowest<'a>>,
    pub recoveries: Recoveries<'a>,
    pub checker: &'a CheckerReport,
    /// Refusal counts by `outcome:code`, largest first (ties by name).
    pub refusals: Vec<(&'a str, u64)>,
    pub unexpected_samples: &'a [Sample],
    /// `None` when no adversary ran.
    pub adversaries: Option<Adversaries<'a>>,
    /// `None` for a run against its own server with nothing skipped.
    pub deployment: Option<Deployment<'a>>,
    pub timeline: &'a [TimelineEvent],
    /// The `config` object as the file has it (`null` when it has none).
    pub config: &'a Value,
    /// What the reader had to fill in or drop.
    pub notes: &'a [String],
    pub schema_version: u32,
    pub started: String,
    pub finished: String,
}

pub struct Verdict {
    /// PASS, FAIL, BROKEN, INTERRUPTED (or what the file says), UNKNOWN when it says nothing.
    pub word: String,
    /// Its CSS class: `pass`, `fail`, `broken` or `unknown`.
    pub class: &'static str,
    /// How many thresholds failed and which; an interruption; an error.
    pub summary: String,
}

pub struct Thresholds<'a> {
    /// As judged, for the verdict table `stress` prints too.
    pub judged: &'a [ThresholdResult],
    pub rows: Vec<ThresholdRow<'a>>,
}

pub struct ThresholdRow<'a> {
    pub name: &'a str,
    /// The figure: the number, "not finite" or "not measured".
    pub value: String,
    pub expression: &'a str,
    pub pass: bool,
    /// The figure is in the file, but as `null`.
    pub non_finite: bool,
    /// How it was judged when faults were skipped.
    pub note: Option<&'a str>,
}

pub struct Figures<'a> {
    /// Those of [`KEY_FIGURES`] the file has, in that order.
    pub key: Vec<KeyFigure>,
    /// The rest: (name, shown value), the finite ones first.
    pub others: Vec<(&'a str, String)>,
}

pub struct KeyFigure {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
    /// A threshold on it failed.
    pub failed: bool,
}

pub struct Outcomes<'a> {
    /// In their natural order (success, expected refusal, fault-induced, unexpected), then
    /// any others.
    pub rows: Vec<OutcomeShare<'a>>,
    pub total: u64,
}

pub struct OutcomeShare<'a> {
    pub name: &'a str,
    pub calls: u64,
    /// Percent of all calls.
    pub share: f64,
    /// Unexpected outcomes happened.
    pub failed: bool,
}

pub struct ToolLatency<'a> {
    pub tool: &'a str,
    pub rows: Vec<LatencyRow<'a>>,
}

/// One outcome of one tool; the latencies in milliseconds, as shown.
pub struct LatencyRow<'a> {
    pub outcome: &'a str,
    pub count: u64,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    pub max: String,
}

pub struct Slowest<'a> {
    pub tool: &'a str,
    pub outcome: &'a str,
    pub p99: String,
}

pub struct Recoveries<'a> {
    /// The threshold on the worst recovery (`recovery_seconds_max`), if the run had one.
    pub threshold: Option<Threshold>,
    pub rows: Vec<RecoveryRow<'a>>,
}

pub struct RecoveryRow<'a> {
    pub kind: &'a str,
    pub at_s: f64,
    /// Seconds, "never" or "not finite".
    pub ready_after: String,
    pub first_success_after: String,
    /// Breaks the recovery threshold (a recovery that never came does).
    pub slow: bool,
}

/// A run against a deployment it did not start (`stress --target`): its replicas, the
/// faults it could not inject, and reads across replicas that failed.
pub struct Deployment<'a> {
    pub replicas: &'a [ReplicaReport],
    pub skipped: &'a BTreeMap<String, String>,
    /// Figures about reads across replicas, as `(name, value)`: only those the run has.
    pub cross_replica: Vec<(&'static str, String)>,
    pub cross_replica_samples: &'a [String],
}

pub struct Adversaries<'a> {
    pub windows: &'a [AdversaryReport],
    /// The normal users' calls beside the adversaries, and how many succeeded.
    pub victim_calls: u64,
    pub victim_success: u64,
    /// Their success rate, or "not measured".
    pub victim_success_rate: String,
    /// Successful calls' latency (ms) beside the adversaries and outside every window.
    pub inside_p50: String,
    pub inside_p99: String,
    pub outside_p50: String,
    pub outside_p99: String,
    /// How the users' failed calls failed: `outcome:code` counts.
    pub victim_failures: &'a BTreeMap<String, u64>,
    /// The users' successful calls beside each adversary kind: which one cost them most.
    pub beside_each: Vec<BesideAdversary>,
}

/// The normal users' successful calls inside one adversary kind's windows.
pub struct BesideAdversary {
    pub kind: String,
    pub calls: u64,
    pub p50: String,
    pub p99: String,
}

impl BesideAdversary {
    /// "`kind` p99 N ms (n calls)", for the text and Markdown reports.
    pub fn describe(&self) -> String {
        format!("{} p99 {} ms ({} calls)", self.kind, self.p99, self.calls)
    }
}

impl<'a> Sections<'a> {
    pub fn of(report: &'a Report) -> Self {
        let r = &report.results;
        Sections {
            results: r,
            verdict: verdict(r),
            run_line: run_line(report),
            thresholds: thresholds(report),
            figures: figures(report),
            outcomes: outcomes(&r.outcomes),
            latency: latency(&r.latency),
            slowest: slowest(&r.latency),
            recoveries: recoveries(r),
            checker: &r.checker,
            refusals: refusals(&r.refusals),
            unexpected_samples: &r.unexpected_samples,
            adversaries: adversaries(r),
            deployment: deployment(r),
            timeline: &r.timeline,
            config: &report.config_json,
            notes: &report.notes,
            schema_version: r.schema_version,
            started: fmt_epoch(r.started_at),
            finished: fmt_epoch(r.finished_at),
        }
    }

    /// Throughput, latency and memory over time.
    pub fn charts(&self) -> [Chart; 3] {
        let r = self.results;
        let budget = r.figures.get("memory_budget_mb").copied();
        [
            charts::throughput(r),
            charts::latency(r),
            charts::memory(r, budget),
        ]
    }
}

fn verdict(r: &Results) -> Verdict {
    let v = r.verdict.trim();
    let word = if v.is_empty() {
        "UNKNOWN".into()
    } else {
        v.to_uppercase()
    };
    let class = match v.to_ascii_lowercase().as_str() {
        "pass" => "pass",
        "fail" => "fail",
        "interrupted" | "broken" => "broken",
        _ => "unknown",
    };
    let failed = failed_thresholds(r);
    let mut parts = Vec::new();
    if r.thresholds.is_empty() {
        parts.push("no thresholds judged".to_string());
    } else if failed.is_empty() {
        parts.push(format!("all {} thresholds hold", r.thresholds.len()));
    } else {
        parts.push(format!(
            "{} of {} thresholds failed: {}",
            failed.len(),
            r.thresholds.len(),
            failed.join(", ")
        ));
    }
    if r.interrupted {
        parts.push("the run was interrupted (Ctrl-C)".into());
    }
    if let Some(e) = &r.error {
        parts.push(format!("error: {e}"));
    }
    Verdict {
        word,
        class,
        summary: parts.join("; "),
    }
}

fn failed_thresholds(r: &Results) -> Vec<&str> {
    r.thresholds
        .iter()
        .filter(|t| !t.pass)
        .map(|t| t.name.as_str())
        .collect()
}

fn run_line(report: &Report) -> String {
    let r = &report.results;
    let mut parts = Vec::new();
    let who = [r.tool.as_str(), r.version.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    if !who.is_empty() {
        parts.push(if r.git_revision.is_empty() {
            who
        } else {
            format!("{who} ({})", r.git_revision)
        });
    }
    parts.push(format!("started {}", fmt_epoch(r.started_at)));
    parts.push(format!("{:.1} s", r.duration_s));
    let c = &report.config_json;
    if let Some(u) = c.get("users").and_then(Value::as_u64) {
        parts.push(format!("{u} users"));
    }
    if let Some(m) = c.get("model").and_then(Value::as_str) {
        parts.push(format!("{m} model"));
    }
    if let Some(s) = c.get("seed").and_then(Value::as_u64) {
        parts.push(format!("seed {s}"));
    }
    parts.join(", ")
}

fn thresholds(report: &Report) -> Thresholds<'_> {
    let judged = &report.results.thresholds;
    let rows = judged
        .iter()
        .map(|t| {
            let non_finite = report.non_finite_figures.contains(&t.name);
            let value = match t.value {
                Some(v) => format_figure(v),
                None if non_finite => "not finite".into(),
                None => "not measured".into(),
            };
            ThresholdRow {
                name: &t.name,
                value,
                expression: &t.expression,
                pass: t.pass,
                non_finite: t.value.is_none() && non_finite,
                note: t.note.as_deref(),
            }
        })
        .collect();
    Thresholds { judged, rows }
}

/// A figure as shown: the number, or "not finite" for one the file holds as `null`.
fn figure_text(report: &Report, name: &str) -> Option<String> {
    if let Some(v) = report.results.figures.get(name) {
        Some(format_figure(*v))
    } else if report.non_finite_figures.contains(name) {
        Some("not finite".into())
    } else {
        None
    }
}

fn figures(report: &Report) -> Figures<'_> {
    let failed = failed_thresholds(&report.results);
    let key = KEY_FIGURES
        .iter()
        .filter_map(|&(name, label)| {
            figure_text(report, name).map(|value| KeyFigure {
                name,
                label,
                value,
                failed: failed.contains(&name),
            })
        })
        .collect();
    let is_key = |k: &str| KEY_FIGURES.iter().any(|(name, _)| *name == k);
    let finite = report
        .results
        .figures
        .iter()
        .filter(|(k, _)| !is_key(k))
        .map(|(k, v)| (k.as_str(), format_figure(*v)));
    let non_finite = report
        .non_finite_figures
        .iter()
        .filter(|k| !is_key(k))
        .map(|k| (k.as_str(), "not finite".to_string()));
    Figures {
        key,
        others: finite.chain(non_finite).collect(),
    }
}

/// Outcome names in their natural order, then any others the file has.
fn outcome_order<'a>(names: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
    const ORDER: [&str; 4] = ["success", "expected_refusal", "fault_induced", "unexpected"];
    let mut names: Vec<&str> = names.map(String::as_str).collect();
    names.sort_by_key(|n| {
        (
            ORDER.iter().position(|o| o == n).unwrap_or(ORDER.len()),
            n.to_string(),
        )
    });
    names
}

fn outcomes(counts: &BTreeMap<String, u64>) -> Outcomes<'_> {
    let total: u64 = counts.values().sum();
    let rows = outcome_order(counts.keys())
        .into_iter()
        .map(|name| {
            let calls = counts[name];
            let share = if total > 0 {
                100.0 * calls as f64 / total as f64
            } else {
                0.0
            };
            OutcomeShare {
                name,
                calls,
                share,
                failed: name == "unexpected" && calls > 0,
            }
        })
        .collect();
    Outcomes { rows, total }
}

type LatencyByTool = BTreeMap<String, BTreeMap<String, LatencySummary>>;

fn latency(by_tool: &LatencyByTool) -> Vec<ToolLatency<'_>> {
    by_tool
        .iter()
        .map(|(tool, by)| ToolLatency {
            tool,
            rows: outcome_order(by.keys())
                .into_iter()
                .map(|outcome| {
                    let s = &by[outcome];
                    LatencyRow {
                        outcome,
                        count: s.count,
                        p50: fmt_ms(s.p50_ms),
                        p95: fmt_ms(s.p95_ms),
                        p99: fmt_ms(s.p99_ms),
                        max: fmt_ms(s.max_ms),
                    }
                })
                .collect(),
        })
        .collect()
}

fn slowest(by_tool: &LatencyByTool) -> Option<Slowest<'_>> {
    by_tool
        .iter()
        .flat_map(|(tool, by)| by.iter().map(move |(o, s)| (tool, o, s.p99_ms)))
        .filter(|(_, _, p)| p.is_finite())
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(tool, outcome, p99)| Slowest {
            tool,
            outcome,
            p99: fmt_ms(p99),
        })
}

fn recoveries(r: &Results) -> Recoveries<'_> {
    let threshold = r
        .thresholds
        .iter()
        .find(|t| t.name == "recovery_seconds_max")
        .and_then(|t| Threshold::parse(&t.expression).ok());
    let rows = r
        .recoveries
        .iter()
        .map(|rec| RecoveryRow {
            kind: &rec.kind,
            at_s: rec.at_s,
            ready_after: fmt_secs(rec.ready_after_s),
            first_success_after: fmt_secs(rec.first_success_after_s),
            slow: match (rec.first_success_after_s, &threshold) {
                (None, _) => true,
                (Some(s), Some(t)) => !t.holds(s),
                (Some(_), None) => false,
            },
        })
        .collect();
    Recoveries { threshold, rows }
}

fn refusals(counts: &BTreeMap<String, u64>) -> Vec<(&str, u64)> {
    let mut v: Vec<(&str, u64)> = counts.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v
}

fn deployment(r: &Results) -> Option<Deployment<'_>> {
    if r.replicas.is_empty() && r.skipped_faults.is_empty() && r.cross_replica_samples.is_empty() {
        return None;
    }
    let cross_replica = [
        "cross_replica_reads",
        "cross_replica_failures",
        "replica_readback_reads",
        "replica_readback_failures",
        "db_recovery_seconds_max",
    ]
    .into_iter()
    .filter_map(|name| r.figures.get(name).map(|v| (name, format_figure(*v))))
    .collect();
    Some(Deployment {
        replicas: &r.replicas,
        skipped: &r.skipped_faults,
        cross_replica,
        cross_replica_samples: &r.cross_replica_samples,
    })
}

/// A replica's calls answered, as the report shows it.
pub fn replica_requests(replica: &ReplicaReport) -> String {
    match replica.requests {
        Some(n) if replica.restarted => format!("{n:.0} since its restart"),
        Some(n) => format!("{n:.0}"),
        None => "not measured".into(),
    }
}

fn adversaries(r: &Results) -> Option<Adversaries<'_>> {
    if r.adversaries.is_empty() {
        return None;
    }
    let f = &r.fairness;
    let victim_success_rate = if f.victim_calls > 0 {
        format!("{:.4}", f.victim_success as f64 / f.victim_calls as f64)
    } else {
        "not measured".into()
    };
    Some(Adversaries {
        windows: &r.adversaries,
        victim_calls: f.victim_calls,
        victim_success: f.victim_success,
        victim_success_rate,
        inside_p50: fmt_ms(f.inside.p50_ms),
        inside_p99: fmt_ms(f.inside.p99_ms),
        outside_p50: fmt_ms(f.outside.p50_ms),
        outside_p99: fmt_ms(f.outside.p99_ms),
        victim_failures: &f.victim_failures,
        beside_each: f
            .by_adversary
            .iter()
            .map(|(kind, l)| BesideAdversary {
                kind: kind.clone(),
                calls: l.count,
                p50: fmt_ms(l.p50_ms),
                p99: fmt_ms(l.p99_ms),
            })
            .collect(),
    })
}

/// Seconds to the millisecond; "never" for what did not happen.
pub fn fmt_secs(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        Some(_) => "not finite".into(),
        None => "never".into(),
    }
}

/// A latency in milliseconds, with precision to suit its size.
pub fn fmt_ms(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// Seconds since the Unix epoch as a UTC date and time; 0 is "not recorded".
pub fn fmt_epoch(secs: u64) -> String {
    if secs == 0 {
        return "not recorded".into();
    }
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
