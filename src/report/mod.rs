//! `music21-prod report`: a stress run's `results.json` as text (for a terminal), Markdown
//! (for an issue or a pull request) or one self-contained HTML file whose charts are inline
//! SVG (no scripts, no external assets).
//!
//! Reading is lenient where it can be and strict where it must be: the schema version is
//! checked first, from the raw JSON, so that a file of another version gets a clear
//! message whatever else it holds; then fields a version-1 file lacks (or holds as `null`,
//! as `serde_json` writes a non-finite number) are filled with empty values, and the
//! report says which.

mod charts;
mod escape;
mod html;
mod markdown;
#[cfg(test)]
mod tests;
mod text;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use serde_json::{Map, Value};

use crate::config::stress::{StressConfig, Threshold};
use crate::stress::checker::CheckerReport;
use crate::stress::recorder::{
    CallSample as Sample, LatencySummary, Recovery, SeriesPoint, TimelineEvent,
};
use crate::stress::results::{format_figure, Results, ThresholdResult, SCHEMA_VERSION};

/// The `results.json` schema versions this report reads.
pub const SUPPORTED_SCHEMA_VERSIONS: &[u64] = &[SCHEMA_VERSION as u64];

/// The report's formats; the command line's `--format` takes these names (any case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[value(alias = "txt")]
    Text,
    #[value(alias = "md")]
    Markdown,
    Html,
}

/// What `report` is asked to do; `main` builds it from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `results.json` of a stress run.
    pub results: std::path::PathBuf,
    pub format: Format,
    /// Where to write the report; standard output when `None`.
    pub out: Option<std::path::PathBuf>,
}

/// A results file, read and checked, ready to render.
#[derive(Clone, Debug)]
pub struct Report {
    pub results: Results,
    /// The `config` object exactly as the file has it (the report shows it verbatim), or
    /// `null` when the file has none.
    pub config_json: Value,
    /// Figures the file holds as `null` (a non-finite number, e.g. a recovery that never
    /// came): dropped from `results.figures`, shown as "not finite".
    pub non_finite_figures: BTreeSet<String>,
    /// What the reader had to fill in or drop; the report shows these.
    pub notes: Vec<String>,
}

/// `music21-prod report`: 0 when the report was written, 1 when the file could not be read
/// or written.
pub fn run(args: Options) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::from(run_code(args)))
}

fn run_code(args: Options) -> u8 {
    let format = args.format;
    let text = match std::fs::read_to_string(&args.results) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "music21-prod report: cannot read {}: {e}",
                args.results.display()
            );
            return 1;
        }
    };
    let report = match load(&text) {
        Ok(r) => r,
        Err(m) => {
            eprintln!("music21-prod report: {}: {m}", args.results.display());
            return 1;
        }
    };
    let rendered = render(&report, format);
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, rendered) {
                eprintln!("music21-prod report: cannot write {}: {e}", path.display());
                return 1;
            }
            eprintln!("music21-prod report: wrote {}", path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(rendered.as_bytes()).and_then(|_| out.flush()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    eprintln!("music21-prod report: cannot write to standard output: {e}");
                    return 1;
                }
            }
        }
    }
    0
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text::render(report),
        Format::Markdown => markdown::render(report),
        Format::Html => html::render(report),
    }
}

fn supported_list() -> String {
    SUPPORTED_SCHEMA_VERSIONS
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads a results file: its schema version first, then the rest.
pub fn load(text: &str) -> Result<Report, String> {
    let mut value: Value =
        serde_json::from_str(text).map_err(|e| format!("not a JSON document: {e}"))?;
    let Some(obj) = value.as_object_mut() else {
        return Err("not a results file: the top level is not a JSON object".into());
    };
    let version = match obj.get("schema_version") {
        None => {
            return Err(format!(
            "not a results file: it has no `schema_version` (this report reads schema version {})",
            supported_list()
        ))
        }
        Some(v) => v.as_u64().ok_or_else(|| {
            format!(
                "`schema_version` is {v}, not a whole number (this report reads schema version {})",
                supported_list()
            )
        })?,
    };
    if !SUPPORTED_SCHEMA_VERSIONS.contains(&version) {
        let hint = if version > SCHEMA_VERSION as u64 {
            "a newer music21-prod wrote it; report it with that version"
        } else {
            "an older music21-prod wrote it"
        };
        return Err(format!(
            "unknown results schema version {version}: this music21-prod report reads schema version {} only ({hint})",
            supported_list()
        ));
    }
    let config_json = obj.get("config").cloned().unwrap_or(Value::Null);
    let mut notes = Vec::new();
    let non_finite_figures = normalize(obj, &mut notes);
    let results: Results = serde_path_to_error::deserialize(value).map_err(|e| {
        format!(
            "does not fit results schema version {version} at `{}`: {}",
            e.path(),
            e.inner()
        )
    })?;
    Ok(Report {
        results,
        config_json,
        non_finite_figures,
        notes,
    })
}

/// Fills in what a version-1 file may lack, so that `Results` reads it. Returns the
/// figures that were `null`.
fn normalize(obj: &mut Map<String, Value>, notes: &mut Vec<String>) -> BTreeSet<String> {
    let defaults = to_object(&empty_results());
    let mut absent = Vec::new();
    for (key, default) in &defaults {
        // Added to version 1 later and optional (serde fills them): their absence in a file
        // of a run without adversaries is not news.
        if matches!(key.as_str(), "schema_version" | "adversaries" | "fairness") {
            continue;
        }
        let missing = match obj.get(key) {
            None | Some(Value::Null) => !default.is_null(),
            Some(_) => false,
        };
        if missing {
            absent.push(key.clone());
            obj.insert(key.clone(), default.clone());
        }
    }
    if !absent.is_empty() {
        notes.push(format!(
            "absent from the file (read as empty): {}",
            absent.join(", ")
        ));
    }

    // The configuration: shown verbatim; read into `StressConfig` only if it fits this build.
    let config = obj.get("config").cloned().unwrap_or(Value::Null);
    if serde_json::from_value::<StressConfig>(config).is_err() {
        notes.push(
            "the `config` object does not fit this build's [stress] keys; it is shown as written"
                .into(),
        );
        obj.insert("config".into(), Value::Object(Map::new()));
    }

    let mut non_finite = BTreeSet::new();
    if let Some(Value::Object(figures)) = obj.get_mut("figures") {
        figures.retain(|name, v| {
            if v.is_null() {
                non_finite.insert(name.clone());
                false
            } else {
                true
            }
        });
    }
    if !non_finite.is_empty() {
        notes.push(format!(
            "figures null in the file (not finite, e.g. a recovery that never came): {}",
            non_finite.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }

    let mut point = to_object(&SeriesPoint::default());
    // Added to version 1 later, optional (serde fills it): its absence is not news.
    point.remove("harness_rss_mb");
    fill_items(obj.get_mut("series"), &point, "series points", notes);
    let summary = to_object(&LatencySummary {
        count: 0,
        p50_ms: 0.0,
        p90_ms: 0.0,
        p95_ms: 0.0,
        p99_ms: 0.0,
        max_ms: 0.0,
        mean_ms: 0.0,
    });
    if let Some(Value::Object(tools)) = obj.get_mut("latency") {
        let mut filled = BTreeSet::new();
        let mut count = 0;
        for outcomes in tools.values_mut() {
            if let Value::Object(outcomes) = outcomes {
                for s in outcomes.values_mut() {
                    if let Value::Object(s) = s {
                        let f = fill_object(s, &summary);
                        count += usize::from(!f.is_empty());
                        filled.extend(f);
                    }
                }
            }
        }
        note_filled(notes, "latency summaries", count, &filled);
    }
    let event = to_object(&TimelineEvent {
        kind: "unknown".into(),
        start_s: 0.0,
        end_s: None,
        detail: String::new(),
    });
    fill_items(obj.get_mut("timeline"), &event, "timeline events", notes);
    let recovery = to_object(&Recovery {
        kind: "unknown".into(),
        at_s: 0.0,
        ready_after_s: None,
        first_success_after_s: None,
    });
    fill_items(obj.get_mut("recoveries"), &recovery, "recoveries", notes);
    let sample = to_object(&Sample {
        t_s: 0.0,
        tool: String::new(),
        detail: String::new(),
    });
    fill_items(
        obj.get_mut("unexpected_samples"),
        &sample,
        "unexpected samples",
        notes,
    );
    let threshold = to_object(&ThresholdResult {
        name: "unnamed".into(),
        expression: String::new(),
        value: None,
        pass: false,
    });
    fill_items(obj.get_mut("thresholds"), &threshold, "thresholds", notes);
    if let Some(Value::Object(checker)) = obj.get_mut("checker") {
        let filled = fill_object(checker, &to_object(&CheckerReport::default()));
        note_filled(
            notes,
            "the checker",
            usize::from(!filled.is_empty()),
            &filled,
        );
    }
    non_finite
}

fn to_object<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Fills keys absent (or null where the default is not) with the default; returns them.
fn fill_object(obj: &mut Map<String, Value>, defaults: &Map<String, Value>) -> BTreeSet<String> {
    let mut filled = BTreeSet::new();
    for (key, default) in defaults {
        let missing = match obj.get(key) {
            None | Some(Value::Null) => !default.is_null(),
            Some(_) => false,
        };
        if missing {
            obj.insert(key.clone(), default.clone());
            filled.insert(key.clone());
        }
    }
    filled
}

fn fill_items(
    items: Option<&mut Value>,
    defaults: &Map<String, Value>,
    what: &str,
    notes: &mut Vec<String>,
) {
    let Some(Value::Array(items)) = items else {
        return;
    };
    let mut filled = BTreeSet::new();
    let mut count = 0;
    for item in items.iter_mut() {
        if let Value::Object(item) = item {
            let f = fill_object(item, defaults);
            count += usize::from(!f.is_empty());
            filled.extend(f);
        }
    }
    note_filled(notes, what, count, &filled);
}

fn note_filled(notes: &mut Vec<String>, what: &str, count: usize, filled: &BTreeSet<String>) {
    if count > 0 {
        notes.push(format!(
            "{what}: {count} lacked {} (read as zero or empty)",
            filled.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
}

fn empty_results() -> Results {
    Results::blank(StressConfig::default())
}

// ---- Shared by the three renderers ----

/// The verdict in capitals: PASS, FAIL, BROKEN, INTERRUPTED (or what the file says).
pub fn verdict_word(r: &Results) -> String {
    let v = r.verdict.trim();
    if v.is_empty() {
        "UNKNOWN".into()
    } else {
        v.to_uppercase()
    }
}

/// The CSS class of the verdict.
pub fn verdict_class(r: &Results) -> &'static str {
    match r.verdict.trim().to_ascii_lowercase().as_str() {
        "pass" => "pass",
        "fail" => "fail",
        "interrupted" | "broken" => "broken",
        _ => "unknown",
    }
}

/// One line on the verdict: how many thresholds failed, and which.
pub fn verdict_summary(r: &Results) -> String {
    let failed: Vec<&str> = r
        .thresholds
        .iter()
        .filter(|t| !t.pass)
        .map(|t| t.name.as_str())
        .collect();
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
    parts.join("; ")
}

/// The figures worth a glance, in order: (name, label).
pub const KEY_FIGURES: &[(&str, &str)] = &[
    ("calls", "calls"),
    ("success", "successful calls"),
    ("expected_refusal", "expected refusals"),
    ("fault_induced", "fault-induced failures"),
    ("unexpected", "unexpected outcomes"),
    (
        "success_rate_excluding_faults",
        "success rate (excluding faults)",
    ),
    ("requests_per_second", "successful calls per second"),
    ("p50_ms", "p50 latency of successes (ms)"),
    ("p99_ms", "p99 latency of successes (ms)"),
    ("users", "users"),
    ("server_kills", "server kills"),
    ("recoveries", "recoveries"),
    ("recovery_seconds_max", "worst recovery (s)"),
    ("server_restarts", "server restarts"),
    ("fault_kinds_injected", "fault kinds injected"),
    ("adversary_kinds", "adversary kinds run"),
    (
        "victim_success_rate",
        "users' success rate beside adversaries",
    ),
    (
        "victim_p99_ratio",
        "users' p99 beside adversaries / outside",
    ),
    ("adversary_misbehaved", "answers misbehaving to adversaries"),
    ("server_rss_mb_max", "server RSS peak (MiB)"),
    (
        "server_and_workers_rss_mb_max",
        "server + workers RSS peak (MiB)",
    ),
    ("memory_budget_mb", "memory budget (MiB)"),
    ("harness_rss_mb_max", "stress harness RSS peak (MiB)"),
    ("lost", "lost scores"),
    ("silently_corrupted", "silently corrupted"),
    ("breakers_closed_at_end", "breakers closed at end"),
    ("ready_at_end", "ready at end"),
];

/// Key figures present in the report (as figure or as non-finite): (name, label, shown value).
pub fn key_figures(report: &Report) -> Vec<(&'static str, &'static str, String)> {
    KEY_FIGURES
        .iter()
        .filter_map(|&(name, label)| figure_text(report, name).map(|v| (name, label, v)))
        .collect()
}

pub fn figure_text(report: &Report, name: &str) -> Option<String> {
    if let Some(v) = report.results.figures.get(name) {
        Some(format_figure(*v))
    } else if report.non_finite_figures.contains(name) {
        Some("not finite".into())
    } else {
        None
    }
}

/// A threshold's figure as shown: the number, "not finite" or "not measured".
pub fn threshold_value(report: &Report, t: &ThresholdResult) -> String {
    match t.value {
        Some(v) => format_figure(v),
        None if report.non_finite_figures.contains(&t.name) => "not finite".into(),
        None => "not measured".into(),
    }
}

/// Refusal counts, largest first (ties by name).
pub fn refusals_sorted(r: &Results) -> Vec<(&str, u64)> {
    let mut v: Vec<(&str, u64)> = r.refusals.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v
}

/// Outcome names in their natural order, then any others the file has.
pub fn outcome_order<'a>(names: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
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

/// The recovery threshold (from `recovery_seconds_max`), to flag slow recoveries.
pub fn recovery_threshold(r: &Results) -> Option<Threshold> {
    r.thresholds
        .iter()
        .find(|t| t.name == "recovery_seconds_max")
        .and_then(|t| Threshold::parse(&t.expression).ok())
}

/// Whether a recovery breaks the recovery threshold (a recovery that never came does).
pub fn recovery_too_slow(rec: &Recovery, threshold: Option<&Threshold>) -> bool {
    match (rec.first_success_after_s, threshold) {
        (None, _) => true,
        (Some(s), Some(t)) => !t.holds(s),
        (Some(_), None) => false,
    }
}

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

/// Where the run came from, in one line: tool, version, revision, start, length, users, seed.
pub fn run_line(report: &Report) -> String {
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

/// Replaces control characters (terminal escapes, stray carriage returns) in text that
/// came from the file, keeping newlines and tabs.
pub fn strip_controls(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}
