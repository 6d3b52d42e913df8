//! Report tests, on `tests/fixtures/results-v1.json`: a realistic 95-second smoke-like run
//! written by [`generate_fixture`] (regenerate with
//! `cargo test --lib report::tests::write_fixture -- --ignored`).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::sections::{fmt_epoch, fmt_ms};
use super::*;
use crate::stress::results::judge;

const FIXTURE: &str = include_str!("../../tests/fixtures/results-v1.json");

fn fixture() -> Report {
    load(FIXTURE).expect("the fixture loads")
}

/// A deterministic xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// `v`, jittered by ±`share`.
    fn jitter(&mut self, v: f64, share: f64) -> f64 {
        v * (1.0 + share * (2.0 * self.next() - 1.0))
    }
}

fn round(v: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (v * m).round() / m
}

const FIXTURE_CONFIG: &str = r#"
duration = "95s"
users = 100
seed = 42
model = "closed"
think_time_ms = 1000
ramp_up = "5s"
heal = "3s"
out_dir = "stress-runs"
server_workers = 2
call_timeout_ms = 20000
server_overrides = """
[server.rate_limit]
client_per_second = 50.0
client_burst = 100
[server.memory]
budget_mb = 1024
"""

[thresholds]
success_rate_excluding_faults = ">= 0.999"
recovery_seconds_max = "<= 2"
lost = "== 0"
silently_corrupted = "== 0"
unexpected = "== 0"
breakers_closed_at_end = "== 1"
server_kills = ">= 2"
fault_kinds_injected = ">= 14"
users = ">= 100"
server_and_workers_rss_mb_max = "<= 4096"

[[chaos]]
at = "8s"
duration = "5s"
action = { kind = "latency", ms = 50, jitter_ms = 20 }
[[chaos]]
at = "14s"
action = { kind = "kill_server" }
[[chaos]]
at = "18s"
duration = "4s"
action = { kind = "bandwidth", bytes_per_sec = 200000 }
[[chaos]]
at = "24s"
duration = "3s"
action = { kind = "reset", probability = 0.3 }
[[chaos]]
at = "28s"
action = { kind = "kill_worker" }
[[chaos]]
at = "31s"
duration = "4s"
action = { kind = "slicer", max_segment = 64, delay_ms = 2 }
[[chaos]]
at = "36s"
action = { kind = "corrupt_scores", count = 6 }
[[chaos]]
at = "38s"
action = { kind = "malformed_requests", count = 12 }
[[chaos]]
at = "40s"
action = { kind = "term_server" }
[[chaos]]
at = "46s"
duration = "3s"
action = { kind = "half_close", after_bytes = 2000 }
[[chaos]]
at = "50s"
duration = "5s"
action = { kind = "memory_ballast", mb = 300 }
[[chaos]]
at = "52s"
action = { kind = "huge_scores", count = 2, mb = 5 }
[[chaos]]
at = "58s"
duration = "3s"
action = { kind = "blackhole" }
[[chaos]]
at = "63s"
action = { kind = "kill_server" }
[[chaos]]
at = "68s"
action = { kind = "corrupt_disk", records = 3 }
"#;

/// The fixture: a 95-second run of 100 users with every fault kind, where one recovery
/// took 2.4 s and so the `recovery_seconds_max <= 2` threshold fails.
fn generate_fixture() -> Results {
    let config: StressConfig = toml::from_str(FIXTURE_CONFIG).expect("fixture config");
    let ev = |kind: &str, start: f64, end: f64, detail: &str| TimelineEvent {
        kind: kind.into(),
        start_s: start,
        end_s: Some(end),
        detail: detail.into(),
    };
    let timeline = vec![
        ev("latency", 8.002, 13.004, "Latency { ms: 50, jitter_ms: 20 } for 5s"),
        ev("kill_server", 14.001, 17.415, "Kill to pid 48211; ready after 1.187 s, first success after 2.412 s"),
        ev("bandwidth", 18.003, 22.005, "Bandwidth { bytes_per_sec: 200000 } for 4s"),
        ev("reset", 24.001, 27.002, "Reset { probability: 0.3 } for 3s"),
        ev("kill_worker", 28.004, 29.011, "SIGKILL to worker pid 48302: Ok(())"),
        ev("slicer", 31.002, 35.003, "Slicer { max_segment: 64, delay_ms: 2 } for 4s"),
        ev("corrupt_scores", 36.001, 36.412, "6 scores; 6 refused cleanly, 0 still valid and stored"),
        ev("malformed_requests", 38.002, 38.231, "12 requests; 12 answered cleanly, 0 not"),
        ev("term_server", 40.003, 41.962, "SIGTERM to pid 48377; ready after 0.912 s, first success after 0.958 s"),
        ev("half_close", 46.001, 49.003, "HalfClose { after_bytes: 2000 } for 3s"),
        ev("memory_ballast", 50.002, 55.031, "300 MB for 5s"),
        ev("huge_scores", 52.001, 53.644, "2 x 5 MB; 2 stored"),
        ev("blackhole", 58.001, 61.002, "Blackhole for 3s"),
        ev("kill_server", 63.002, 65.304, "SIGKILL to pid 48409; ready after 1.004 s, first success after 1.301 s"),
        ev(
            "corrupt_disk",
            68.001,
            70.499,
            "3 records; flipped a byte in s-4f1c09d2, s-9a0b7e13, s-c27d5581; ready after 1.233 s, first success after 1.497 s",
        ),
    ];
    let recovery = |kind: &str, at_s: f64, ready: f64, first: f64| Recovery {
        kind: kind.into(),
        at_s,
        ready_after_s: Some(ready),
        first_success_after_s: Some(first),
    };
    let recoveries = vec![
        recovery("kill_server", 14.001, 1.187, 2.412),
        recovery("term_server", 40.003, 0.912, 0.958),
        recovery("kill_server", 63.002, 1.004, 1.301),
        recovery("corrupt_disk", 68.001, 1.233, 1.497),
    ];

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
    let mut series = Vec::new();
    let (mut server_base, mut workers_base) = (42.0, 296.0);
    for t in 1..=95u64 {
        let tf = t as f64;
        let within = |a: f64, b: f64| tf > a && tf - 1.0 < b;
        let users = (tf * 20.0).min(100.0);
        let requests = rng.jitter(users * 0.95, 0.05).round();
        let (mut success, mut refused, mut fault) = (requests, rng.jitter(1.2, 1.0).round(), 0.0);
        let mut refusal_code = "expected_refusal:rate_limited";
        let mut fault_code = "fault_induced:timeout";
        let (mut p50, mut p95, mut p99) = (
            rng.jitter(7.4, 0.12),
            rng.jitter(34.0, 0.12),
            rng.jitter(88.0, 0.15),
        );
        server_base += 0.5;
        workers_base += 1.4;
        let (mut server, mut workers) = (
            server_base + rng.jitter(3.0, 1.0),
            workers_base + rng.jitter(12.0, 1.0),
        );
        let mut faults: Vec<String> = Vec::new();
        for e in &timeline {
            let active = within(e.start_s, e.end_s.unwrap_or(95.0) + 1.0);
            if active && !faults.contains(&e.kind) && e.kind != "huge_scores" {
                faults.push(e.kind.clone());
            }
        }
        match t {
            9..=13 => {
                p50 += rng.jitter(55.0, 0.2);
                p95 += rng.jitter(70.0, 0.2);
                p99 += rng.jitter(95.0, 0.2);
                success *= 0.94;
            }
            15 | 16 => {
                fault = success * if t == 15 { 0.52 } else { 0.41 };
                success = 0.0;
                fault_code = "fault_induced:transport";
                server = if t == 15 { 0.0 } else { 38.0 };
                workers = if t == 15 { 0.0 } else { 151.0 };
            }
            17 => {
                fault = 12.0;
                success *= 0.71;
                fault_code = "fault_induced:transport";
                p99 = 384.0;
                p95 = 121.0;
                server_base = 44.0;
                workers_base = 300.0;
                server = 41.5;
                workers = 262.0;
            }
            19..=22 => {
                p95 = rng.jitter(180.0, 0.15);
                p99 = rng.jitter(420.0, 0.15);
                fault = rng.jitter(1.5, 1.0).round();
            }
            25..=27 => {
                fault = (success * rng.jitter(0.28, 0.1)).round();
                success -= fault;
                fault_code = "fault_induced:transport";
            }
            29 => {
                fault = 4.0;
                success -= 4.0;
                fault_code = "fault_induced:worker_crashed";
                workers -= 212.0;
            }
            30 => workers -= 96.0,
            31 => workers -= 30.0,
            32..=35 => {
                p50 += rng.jitter(18.0, 0.2);
                p95 += rng.jitter(40.0, 0.2);
            }
            37 => {
                refused += 6.0;
                refusal_code = "expected_refusal:corrupted_input";
            }
            41 => {
                refused += 17.0;
                success -= 17.0 + 9.0;
                fault = 9.0;
                refusal_code = "expected_refusal:shutting_down";
                fault_code = "fault_induced:transport";
                p99 = 265.0;
            }
            47..=49 => {
                fault = rng.jitter(10.0, 0.3).round();
                success -= fault;
                fault_code = "fault_induced:transport";
            }
            51..=55 => {
                refused += rng.jitter(11.0, 0.4).round();
                success -= refused;
                refusal_code = "expected_refusal:memory_pressure";
                if (53..=54).contains(&t) {
                    workers += if t == 53 { 382.0 } else { 255.0 };
                    p99 = rng.jitter(640.0, 0.1);
                    p95 = rng.jitter(150.0, 0.1);
                }
            }
            59 => {
                fault = 34.0;
                success = 3.0;
            }
            60 | 61 => {
                fault = if t == 60 { 61.0 } else { 72.0 };
                success = 0.0;
            }
            64 => {
                fault = success * 0.58;
                success = 0.0;
                fault_code = "fault_induced:transport";
                server = 0.0;
                workers = 0.0;
            }
            65 => {
                fault = 10.0;
                success *= 0.68;
                fault_code = "fault_induced:transport";
                server_base = 43.0;
                workers_base = 305.0;
                server = 40.2;
                workers = 171.0;
                p99 = 291.0;
            }
            69 => {
                fault = success * 0.55;
                success = 0.0;
                fault_code = "fault_induced:transport";
                server = 0.0;
                workers = 0.0;
            }
            70 => {
                fault = 8.0;
                success *= 0.6;
                fault_code = "fault_induced:transport";
                server_base = 43.5;
                workers_base = 302.0;
                server = 39.8;
                workers = 166.0;
                p99 = 318.0;
            }
            71 => {
                refused += 3.0;
                refusal_code = "expected_refusal:corrupted";
            }
            _ => {}
        }
        let success = success.round().max(0.0);
        let fault = fault.round();
        let refused = refused.max(0.0);
        if refused > 0.0 {
            *refusals.entry(refusal_code.into()).or_insert(0) += refused as u64;
        }
        if fault > 0.0 {
            *refusals.entry(fault_code.into()).or_insert(0) += fault as u64;
        }
        let (p50, p95, p99) = if success > 0.0 {
            (
                round(p50, 3),
                round(p95.max(p50), 3),
                round(p99.max(p95), 3),
            )
        } else {
            (0.0, 0.0, 0.0)
        };
        series.push(SeriesPoint {
            t,
            requests: (success + refused + fault) as u64,
            success: success as u64,
            expected_refusal: refused as u64,
            fault_induced: fault as u64,
            unexpected: 0,
            p50_ms: p50,
            p95_ms: p95,
            p99_ms: p99,
            server_rss_mb: round(server.max(0.0), 1),
            workers_rss_mb: round(workers.max(0.0), 1),
            server_cpu_percent: if server > 0.0 {
                round(rng.jitter(85.0, 0.4), 1)
            } else {
                0.0
            },
            harness_rss_mb: 0.0,
            faults,
        });
    }

    let total = |f: fn(&SeriesPoint) -> u64| series.iter().map(f).sum::<u64>();
    let (success, refused, fault) = (
        total(|p| p.success),
        total(|p| p.expected_refusal),
        total(|p| p.fault_induced),
    );
    let outcomes: BTreeMap<String, u64> = [
        ("success", success),
        ("expected_refusal", refused),
        ("fault_induced", fault),
        ("unexpected", 0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();

    // Per tool: the outcome counts split by the mix, with latencies to suit each tool.
    let tools: [(&str, u64, f64); 10] = [
        ("import_score", 20, 14.2),
        ("key_analysis", 15, 9.1),
        ("chord_analysis", 10, 11.3),
        ("harmony_analysis", 10, 22.6),
        ("harmonize_melody", 3, 182.0),
        ("transpose_score", 7, 12.4),
        ("export_score", 10, 16.8),
        ("score_info", 12, 3.1),
        ("list_scores", 6, 2.5),
        ("delete_score", 7, 2.8),
    ];
    let mut latency: BTreeMap<String, BTreeMap<String, LatencySummary>> = BTreeMap::new();
    for (outcome, count) in [
        ("success", success),
        ("expected_refusal", refused),
        ("fault_induced", fault),
    ] {
        let mut left = count;
        for (i, (tool, weight, base)) in tools.iter().enumerate() {
            let n = if i + 1 == tools.len() {
                left
            } else {
                count * weight / 100
            };
            left -= n;
            if n == 0 {
                continue;
            }
            let b = match outcome {
                "success" => *base,
                "expected_refusal" => 0.6 + base / 40.0,
                _ => 850.0 + base * 3.0,
            };
            let cap = if outcome == "fault_induced" {
                20_004.0
            } else {
                f64::INFINITY
            };
            let s = LatencySummary {
                count: n,
                p50_ms: round(b, 3),
                p90_ms: round((b * 3.0).min(cap), 3),
                p95_ms: round((b * 4.5).min(cap), 3),
                p99_ms: round((b * 11.0).min(cap), 3),
                max_ms: round((b * 60.0).min(cap), 3),
                mean_ms: round(b * 1.9, 3),
            };
            latency
                .entry(tool.to_string())
                .or_default()
                .insert(outcome.to_string(), s);
        }
    }

    let checker = CheckerReport {
        acknowledged: 1873,
        deleted: 131,
        maybe_deleted: 2,
        evicted: 0,
        checked: 1740,
        ok: 1736,
        lost: 0,
        corrupted_detected: 3,
        silently_corrupted: 0,
        unreadable: 1,
        problems: vec![
            "s-7f3c2a91: read back failed: [timeout] the call did not answer within 30 s".into(),
        ],
    };

    let peak_server = series.iter().map(|p| p.server_rss_mb).fold(0.0, f64::max);
    let peak_total = series
        .iter()
        .map(|p| p.server_rss_mb + p.workers_rss_mb)
        .fold(0.0, f64::max);
    let duration_s = 95.412;
    let figures: BTreeMap<String, f64> = [
        ("calls", (success + refused + fault) as f64),
        ("success", success as f64),
        ("expected_refusal", refused as f64),
        ("fault_induced", fault as f64),
        ("unexpected", 0.0),
        ("success_rate_excluding_faults", 1.0),
        ("recovery_seconds_max", 2.412),
        ("server_kills", 3.0),
        ("recoveries", 4.0),
        ("server_restarts", 4.0),
        ("lost", 0.0),
        ("silently_corrupted", 0.0),
        ("corrupted_detected", 3.0),
        ("unreadable", 1.0),
        ("acknowledged", 1873.0),
        ("checked_ok", 1736.0),
        ("server_rss_mb_max", peak_server),
        ("server_and_workers_rss_mb_max", round(peak_total, 1)),
        ("breakers_closed_at_end", 1.0),
        ("ready_at_end", 1.0),
        ("fault_kinds_injected", 14.0),
        ("users", 100.0),
        ("p50_ms", 7.631),
        ("p99_ms", 212.479),
        ("requests_per_second", round(success as f64 / duration_s, 3)),
        ("memory_budget_mb", 1024.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let thresholds = judge(&config.thresholds, &figures);
    Results {
        schema_version: 1,
        tool: "music21-prod stress".into(),
        version: "0.1.0".into(),
        git_revision: "3f9c2e1".into(),
        started_at: 1_760_011_200,
        finished_at: 1_760_011_302,
        duration_s,
        interrupted: false,
        verdict: "fail".into(),
        exit_code: 1,
        error: None,
        config,
        figures,
        thresholds,
        outcomes,
        refusals,
        latency,
        timeline,
        recoveries,
        series,
        checker,
        unexpected_samples: Vec::new(),
        adversaries: Vec::new(),
        fairness: Default::default(),
        skipped_faults: Default::default(),
        replicas: Vec::new(),
        cross_replica_samples: Vec::new(),
    }
}

#[test]
#[ignore = "writes tests/fixtures/results-v1.json; run by hand after changing the generator"]
fn write_fixture() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results-v1.json");
    let text = serde_json::to_string_pretty(&generate_fixture()).unwrap() + "\n";
    std::fs::write(&path, text).unwrap();
}

#[test]
fn the_fixture_is_a_realistic_version_1_results_file() {
    let r: Results =
        serde_json::from_str(FIXTURE).expect("the fixture deserialises into Results as it is");
    assert_eq!(
        r,
        generate_fixture(),
        "the fixture is stale: run write_fixture (see the module docs)"
    );
    assert_eq!(r.schema_version, 1);
    assert!(r.series.len() >= 90);
    assert!(r.timeline.iter().any(|e| e.kind == "kill_server"));
    assert!(r
        .timeline
        .iter()
        .any(|e| e.kind == "latency" && e.end_s.is_some()));
    assert!(r.latency.len() >= 5);
    assert_eq!(r.recoveries.len(), 4);
    assert_eq!(r.checker.problems.len(), 1);
    let failing: Vec<_> = r
        .thresholds
        .iter()
        .filter(|t| !t.pass)
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(failing, ["recovery_seconds_max"]);
    let calls: u64 = r.series.iter().map(|p| p.requests).sum();
    assert_eq!(calls as f64, r.figures["calls"]);
    assert_eq!(
        r.refusals.values().sum::<u64>(),
        r.outcomes["expected_refusal"] + r.outcomes["fault_induced"]
    );
}

#[test]
fn text_has_the_verdict_and_every_threshold() {
    let report = fixture();
    let text = render(&report, Format::Text);
    assert!(text.contains("VERDICT: FAIL"), "{text}");
    for t in &report.results.thresholds {
        assert!(text.contains(&t.name), "{} missing", t.name);
    }
    assert!(text.contains("Recoveries"));
    assert!(text.contains("SLOW"), "the 2.4 s recovery is flagged");
    assert!(
        text.contains("s-7f3c2a91"),
        "the checker's problem is listed"
    );
    assert!(text.contains("fault_induced:transport"), "top refusals");
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}

#[test]
fn markdown_has_a_pipe_table_and_the_verdict() {
    let md = render(&fixture(), Format::Markdown);
    assert!(md.contains("**Verdict: FAIL**"), "{md}");
    assert!(md.contains("| threshold | figure | required | result |\n|---|---:|---|---|\n"));
    assert!(
        md.contains("| `recovery_seconds_max` | 2.4120 | `<= 2` | **FAIL** |"),
        "{md}"
    );
    assert!(md.contains("| `key_analysis` | `success` |"));
    assert!(md.contains("### Recoveries") && md.contains("### Checker"));
    assert!(
        md.contains("- s-7f3c2a91: read back failed: \\[timeout\\]"),
        "{md}"
    );
    assert!(!md.contains("<svg"));
}

#[test]
fn html_is_self_contained_with_charts_events_and_tables() {
    let html = render(&fixture(), Format::Html);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.matches("<svg").count() >= 3);
    for id in ["chart-throughput", "chart-latency", "chart-memory"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(
        html.contains("<div class=\"verdict fail\" id=\"verdict\"><div class=\"word\">FAIL</div>")
    );
    // A lasting fault is a shaded band; a kill is a marker; each in all three charts.
    assert_eq!(html.matches("class=\"band band-latency\"").count(), 3);
    assert_eq!(
        html.matches("class=\"marker marker-kill_server\"").count(),
        6
    );
    assert!(html.contains("class=\"marker marker-corrupt_disk\""));
    assert!(html.contains("class=\"band band-memory_ballast\""));
    assert!(
        html.contains("class=\"budget\""),
        "the fixture records the memory budget"
    );
    assert!(html.contains("<table class=\"latency\">"));
    assert!(html.contains("<code>harmonize_melody</code>"));
    assert!(html.contains("<table class=\"recoveries\">") && html.contains("too slow"));
    assert!(html.contains("<ul class=\"problems\">"));
    assert!(html.contains("<pre class=\"config\">"));
    assert!(html.contains("<table class=\"timeline\">"));
    assert!(html.contains("<table class=\"refusals\">"));
    let lower = html.to_ascii_lowercase();
    for banned in [
        "<script", "http://", "https://", "<link", "@import", "src=", "<iframe", "<object",
    ] {
        assert!(!lower.contains(banned), "{banned} in the HTML");
    }
    // The only url() references are the charts' own clip paths.
    assert_eq!(
        lower.matches("url(").count(),
        lower.matches("url(#chart-").count()
    );
    assert_eq!(html, render(&fixture(), Format::Html), "deterministic");
}

#[test]
fn text_from_the_file_is_escaped() {
    let mut value: Value = serde_json::from_str(FIXTURE).unwrap();
    let evil = "<script>alert('x')</script>";
    let latency = value["latency"].as_object_mut().unwrap();
    let key_analysis = latency["key_analysis"].clone();
    latency.insert(evil.into(), key_analysis);
    value["unexpected_samples"] =
        json!([{"t_s": 3.5, "tool": evil, "detail": format!("[internal] {evil} | <b>")}]);
    value["timeline"][0]["detail"] = json!("<img src=x onerror=alert(1)>");
    value["timeline"][1]["kind"] = json!("kill<script>");
    value["checker"]["problems"] = json!([evil]);
    value["thresholds"][0]["name"] = json!(evil);
    value["error"] = json!(format!("boom \u{1b}[31m{evil}"));
    let report = load(&value.to_string()).unwrap();

    let html = render(&report, Format::Html);
    assert!(!html.contains("<script"), "raw <script> in the HTML");
    assert!(!html.contains("<img"));
    assert!(!html.contains("<b>"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(
        html.contains("class=\"band band-kill-script-\""),
        "kinds become safe class names"
    );

    let md = render(&report, Format::Markdown);
    assert!(!md.contains("<script") && !md.contains("<b>"), "{md}");
    assert!(md.contains("&lt;script&gt;"));

    let text = render(&report, Format::Text);
    assert!(!text.contains('\u{1b}'), "terminal escapes are replaced");
}

#[test]
fn an_unknown_schema_version_is_refused_clearly() {
    let mut value: Value = serde_json::from_str(FIXTURE).unwrap();
    value["schema_version"] = json!(99);
    let err = load(&value.to_string()).unwrap_err();
    assert!(
        err.contains("99") && err.contains("schema version 1"),
        "{err}"
    );
    // Even when the rest does not fit version 1 at all.
    let err = load(r#"{"schema_version": 2, "series": "other"}"#).unwrap_err();
    assert!(
        err.contains("version 2") && err.contains("version 1"),
        "{err}"
    );
    let err = load(r#"{"verdict": "pass"}"#).unwrap_err();
    assert!(err.contains("no `schema_version`"), "{err}");
    assert!(load(r#"{"schema_version": "1"}"#)
        .unwrap_err()
        .contains("not a whole number"));
    assert!(load("[1, 2]").unwrap_err().contains("not a JSON object"));
    assert!(load("{").unwrap_err().contains("not a JSON document"));
    let err = load(r#"{"schema_version": 1, "series": "other"}"#).unwrap_err();
    assert!(
        err.contains("`series`"),
        "the path of what does not fit: {err}"
    );
}

#[test]
fn a_file_missing_optional_fields_still_renders() {
    let minimal = r#"{"schema_version": 1, "verdict": "broken", "error": null,
        "figures": {"calls": 10, "recovery_seconds_max": null},
        "thresholds": [{"name": "recovery_seconds_max", "expression": "<= 2", "value": null, "pass": false}],
        "series": [{"t": 1, "success": 3}, {"t": 2, "requests": 4, "p50_ms": null}],
        "timeline": [{"kind": "latency", "start_s": 0.5}, {"kind": "kill_server", "start_s": 1.2}],
        "checker": {"acknowledged": 2}}"#;
    let report = load(minimal).unwrap();
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("absent from the file") && n.contains("latency")),
        "{:?}",
        report.notes
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("series points: 2 lacked")),
        "{:?}",
        report.notes
    );
    assert!(report.non_finite_figures.contains("recovery_seconds_max"));
    assert!(report.config_json.is_null());

    let text = render(&report, Format::Text);
    assert!(text.contains("VERDICT: BROKEN"), "{text}");
    assert!(text.contains("not finite"));
    let md = render(&report, Format::Markdown);
    assert!(
        md.contains("**Verdict: BROKEN**")
            && md.contains("| `recovery_seconds_max` | not finite |"),
        "{md}"
    );
    let html = render(&report, Format::Html);
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(
        html.contains("class=\"band band-latency\""),
        "an event without an end lasts to the end"
    );
    assert!(html.contains("class=\"marker marker-kill_server\""));
    assert!(html.contains("does not record its configuration"));
    assert!(
        html.contains("no budget line"),
        "no memory budget in this file"
    );
    assert!(!html.contains("class=\"budget\""));

    // Nearly nothing at all.
    let bare = load(r#"{"schema_version": 1}"#).unwrap();
    for format in [Format::Text, Format::Markdown, Format::Html] {
        assert!(!render(&bare, format).is_empty());
    }
    assert!(render(&bare, Format::Html).contains("no time series in this results file"));
    assert!(render(&bare, Format::Text).contains("VERDICT: UNKNOWN"));
}

#[test]
fn a_config_from_another_build_is_shown_as_written() {
    let mut value: Value = serde_json::from_str(FIXTURE).unwrap();
    value["config"]["a_key_from_the_future"] = json!(true);
    let report = load(&value.to_string()).unwrap();
    assert!(report.notes.iter().any(|n| n.contains("config")));
    assert!(render(&report, Format::Html).contains("a_key_from_the_future"));
}

#[test]
fn a_long_run_is_bucketed() {
    let mut r = generate_fixture();
    let template = r.series.clone();
    r.series = (1..=5000u64)
        .map(|t| SeriesPoint {
            t,
            ..template[(t as usize) % template.len()].clone()
        })
        .collect();
    r.duration_s = 5000.0;
    let chart = charts::throughput(&r);
    assert!(
        chart.caption.contains("Each point covers 5 s"),
        "{}",
        chart.caption
    );
    assert!(chart.svg.len() < 200_000, "{} bytes", chart.svg.len());
    assert!(
        chart.svg.contains(">1:20:00<"),
        "long runs are labelled h:mm:ss"
    );
}

#[test]
fn run_writes_the_file_and_exits_with_the_documented_codes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("results.json");
    std::fs::write(&input, FIXTURE).unwrap();
    let out = dir.path().join("report.html");
    let args = |format: Format, results: &std::path::Path| Options {
        results: results.to_path_buf(),
        format,
        out: Some(out.clone()),
    };
    assert_eq!(run_code(args(Format::Html, &input)), 0);
    assert!(std::fs::read_to_string(&out).unwrap().contains("<svg"));
    assert_eq!(
        run_code(args(Format::Text, &dir.path().join("missing.json"))),
        1,
        "unreadable file"
    );
    let v99 = dir.path().join("v99.json");
    std::fs::write(&v99, r#"{"schema_version": 99}"#).unwrap();
    assert_eq!(
        run_code(args(Format::Markdown, &v99)),
        1,
        "unknown schema version"
    );
}

#[test]
fn epoch_and_figures_format() {
    assert_eq!(fmt_epoch(1_760_011_200), "2025-10-09 12:00:00 UTC");
    assert_eq!(fmt_epoch(0), "not recorded");
    assert_eq!(fmt_epoch(951_782_400), "2000-02-29 00:00:00 UTC");
    assert_eq!(fmt_ms(7.4321), "7.43");
    assert_eq!(fmt_ms(384.2), "384");
    use clap::ValueEnum;
    assert_eq!(Format::from_str("MD", true).unwrap(), Format::Markdown);
    assert_eq!(Format::from_str("txt", true).unwrap(), Format::Text);
    assert!(Format::from_str("pdf", true).is_err());
}

#[test]
fn a_budget_far_above_the_peak_is_stated_not_drawn() {
    let mut value: Value = serde_json::from_str(FIXTURE).unwrap();
    value["figures"]["memory_budget_mb"] = json!(65536.0);
    let report = load(&value.to_string()).unwrap();
    let html = render(&report, Format::Html);
    assert!(
        !html.contains("class=\"budget\""),
        "a budget 80 times the peak would flatten the chart"
    );
    assert!(
        html.contains("(65536 MiB) is far above this chart"),
        "the caption says where the budget is"
    );
}

#[test]
fn the_users_latency_beside_each_adversary_kind_is_shown_in_every_format() {
    let mut report = fixture();
    let r = &mut report.results;
    r.adversaries.push(crate::stress::results::AdversaryReport {
        kind: "greedy".into(),
        source: "127.2.5.1".into(),
        start_s: 90.0,
        end_s: 97.0,
        attempts: 50,
        refused: 0,
        served: 50,
        misbehaved: 0,
        detail: "import_score on 4 x 300-measure scores, 4 at a time".into(),
        samples: Vec::new(),
    });
    r.fairness.victim_calls = 870;
    r.fairness.victim_success = 870;
    r.fairness.by_adversary.insert(
        "greedy".into(),
        crate::stress::recorder::LatencySummary {
            count: 870,
            p50_ms: 26.9,
            p99_ms: 272.6,
            ..Default::default()
        },
    );
    let text = render(&report, Format::Text);
    assert!(
        text.contains("users beside each kind: greedy p99 273 ms (870 calls)"),
        "{text}"
    );
    let md = render(&report, Format::Markdown);
    assert!(md.contains("greedy p99 273 ms (870 calls)"), "{md}");
    let html = render(&report, Format::Html);
    assert!(
        html.contains("<code>greedy</code> p50 26.9 ms, p99 273 ms (870 calls)"),
        "the HTML report names the kind"
    );
}
