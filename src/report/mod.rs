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
mod sections;
mod svg;
mod text;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use serde_json::{Map, Value};

use crate::config::stress::StressConfig;
use crate::stress::checker::CheckerReport;
use crate::stress::recorder::{
    CallSample as Sample, LatencySummary, Recovery, SeriesPoint, TimelineEvent,
};
use crate::stress::results::{Results, ThresholdResult, SCHEMA_VERSION};
use sections::Sections;

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

/// The report in `format`: its sections are worked out once, then laid out.
pub fn render(report: &Report, format: Format) -> String {
    let sections = Sections::of(report);
    match format {
        Format::Text => text::render(&sections),
        Format::Markdown => markdown::render(&sections),
        Format::Html => html::render(&sections),
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
        note: None,
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

/// The figures worth a glance, in order: (name, label). The report shows these first.
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

#[cfg(test)]
mod tests;
