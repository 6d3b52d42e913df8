//! The report as one self-contained HTML file: inline CSS, inline SVG charts, no scripts,
//! no fonts, no links outside the page. Every piece of text that comes from the results
//! file goes through [`esc`] (`super::escape`).
//!
//! The page is written with `format!`/`write!` rather than a template engine: it is one
//! fixed layout, the escaping is explicit at each use, and it costs no dependency.

use std::fmt::Write as _;

use serde_json::Value;

use super::charts::{self, Chart};
use super::escape::esc;
use super::{
    fmt_epoch, fmt_ms, fmt_secs, key_figures, outcome_order, recovery_threshold, recovery_too_slow,
    refusals_sorted, run_line, threshold_value, verdict_class, verdict_summary, verdict_word,
    Report, KEY_FIGURES,
};
use crate::stress::results::format_figure;

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #1d1d1f;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; min-height: 100vh; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
h3 { font-size: 16px; margin: 20px 0 8px; }
p.meta { color: #555; margin: 0 0 16px; }
nav { font-size: 14px; margin: 10px 0 0; }
nav a { color: #1565c0; text-decoration: none; margin-right: 14px; }
.verdict { display: flex; align-items: center; gap: 22px; padding: 16px 22px; border-radius: 8px;
  border: 2px solid; margin: 12px 0 8px; }
.verdict .word { font-size: 46px; font-weight: 800; letter-spacing: 2px; line-height: 1; }
.verdict .summary { font-size: 16px; }
.verdict.pass { background: #e8f5e9; border-color: #2e7d32; color: #1b5e20; }
.verdict.fail { background: #ffebee; border-color: #c62828; color: #b71c1c; }
.verdict.broken { background: #fff3e0; border-color: #ef6c00; color: #8a3b00; }
.verdict.unknown { background: #eceff1; border-color: #607d8b; color: #37474f; }
.notes { background: #fffde7; border: 1px solid #f0e68c; padding: 8px 14px; border-radius: 6px; font-size: 14px;
  margin-top: 12px; }
.notes ul { margin: 4px 0; padding-left: 20px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 6px 0 10px; }
th, td { border: 1px solid #dcdcdc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.failed td { background: #fff5f5; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 700; }
.badge.pass { background: #c8e6c9; color: #1b5e20; }
.badge.fail { background: #ffcdd2; color: #b71c1c; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 10px; }
.card { border: 1px solid #e0e0e0; border-radius: 6px; padding: 8px 12px; }
.card .value { font-size: 22px; font-weight: 700; font-variant-numeric: tabular-nums; }
.card .label { font-size: 13px; color: #555; }
.card.bad { border-color: #e57373; background: #fff5f5; }
.card.bad .value { color: #b71c1c; }
figure { margin: 18px 0 26px; }
figure svg { width: 100%; max-width: 900px; height: auto; display: block; border: 1px solid #e6e6e6; }
figcaption { font-size: 13px; color: #555; max-width: 900px; margin-top: 6px; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 13px; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; border-radius: 6px; padding: 10px 12px; overflow-x: auto;
  white-space: pre-wrap; word-break: break-word; }
td.detail { word-break: break-word; }
.muted { color: #777; }
.bad-text { color: #b71c1c; font-weight: 700; }
details { margin-top: 10px; }
details summary { cursor: pointer; color: #1565c0; font-size: 14px; }
footer { margin-top: 40px; font-size: 12px; color: #888; }
@media print { body { background: #fff; } main { padding: 0; } nav { display: none; } }
"#;

pub fn render(report: &Report) -> String {
    let r = &report.results;
    let word = verdict_word(r);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — music21-prod stress report</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(&word)
    );
    let _ = writeln!(h, "<h1>music21-prod stress report</h1>");
    let _ = writeln!(h, "<p class=\"meta\">{}</p>", esc(&run_line(report)));
    let _ = writeln!(
        h,
        "<div class=\"verdict {}\" id=\"verdict\"><div class=\"word\">{}</div><div class=\"summary\">{}</div></div>",
        verdict_class(r),
        esc(&word),
        esc(&verdict_summary(r))
    );
    h.push_str(
        "<nav><a href=\"#thresholds\">Thresholds</a><a href=\"#figures\">Figures</a><a href=\"#charts\">Charts</a>\
         <a href=\"#latency\">Latency</a><a href=\"#recoveries\">Recoveries</a><a href=\"#checker\">Checker</a>\
         <a href=\"#refusals\">Refusals</a><a href=\"#adversaries\">Adversaries</a><a href=\"#timeline\">Timeline</a><a href=\"#config\">Config</a></nav>\n",
    );
    if !report.notes.is_empty() {
        h.push_str("<div class=\"notes\"><strong>Notes on reading the file</strong><ul>");
        for note in &report.notes {
            let _ = write!(h, "<li>{}</li>", esc(note));
        }
        h.push_str("</ul></div>\n");
    }

    thresholds(&mut h, report);
    figures(&mut h, report);

    let _ = writeln!(h, "<h2 id=\"charts\">Over time</h2>");
    let budget = r.figures.get("memory_budget_mb").copied();
    for chart in [
        charts::throughput(r),
        charts::latency(r),
        charts::memory(r, budget),
    ] {
        figure(&mut h, &chart);
    }

    outcomes(&mut h, report);
    latency(&mut h, report);
    recoveries(&mut h, report);
    checker(&mut h, report);
    refusals(&mut h, report);
    samples(&mut h, report);
    adversaries(&mut h, report);
    timeline(&mut h, report);
    config(&mut h, report);

    let _ = writeln!(
        h,
        "<footer>Written by music21-prod report {} from a results file of schema version {}; run from {} to {}.</footer>",
        esc(env!("CARGO_PKG_VERSION")),
        r.schema_version,
        esc(&fmt_epoch(r.started_at)),
        esc(&fmt_epoch(r.finished_at))
    );
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

fn figure(h: &mut String, chart: &Chart) {
    let _ = writeln!(
        h,
        "<figure id=\"fig-{}\" aria-label=\"{}\">\n{}\n<figcaption>{}</figcaption>\n</figure>",
        chart.id,
        esc(chart.title),
        chart.svg,
        esc(&chart.caption)
    );
}

fn thresholds(h: &mut String, report: &Report) {
    let r = &report.results;
    let _ = writeln!(h, "<h2 id=\"thresholds\">Thresholds and verdict</h2>");
    if r.thresholds.is_empty() {
        h.push_str("<p class=\"muted\">No thresholds in the results.</p>\n");
        return;
    }
    h.push_str(
        "<table class=\"thresholds\"><thead><tr><th>threshold</th><th class=\"num\">figure</th><th>required</th>\
         <th>result</th></tr></thead><tbody>\n",
    );
    for t in &r.thresholds {
        let _ = writeln!(
            h,
            "<tr{}><td><code>{}</code></td><td class=\"num\">{}</td><td><code>{}</code></td><td>{}</td></tr>",
            if t.pass { "" } else { " class=\"failed\"" },
            esc(&t.name),
            esc(&threshold_value(report, t)),
            esc(&t.expression),
            if t.pass { "<span class=\"badge pass\">pass</span>" } else { "<span class=\"badge fail\">FAIL</span>" }
        );
    }
    h.push_str("</tbody></table>\n");
}

fn figures(h: &mut String, report: &Report) {
    let r = &report.results;
    let _ = writeln!(h, "<h2 id=\"figures\">Key figures</h2>");
    let failed: Vec<&str> = r
        .thresholds
        .iter()
        .filter(|t| !t.pass)
        .map(|t| t.name.as_str())
        .collect();
    let key = key_figures(report);
    if key.is_empty() {
        h.push_str("<p class=\"muted\">No figures in the results.</p>\n");
    } else {
        h.push_str("<div class=\"cards\">\n");
        for (name, label, value) in &key {
            let _ = writeln!(
                h,
                "<div class=\"card{}\" title=\"{}\"><div class=\"value\">{}</div><div class=\"label\">{}</div></div>",
                if failed.contains(name) { " bad" } else { "" },
                esc(name),
                esc(value),
                esc(label)
            );
        }
        h.push_str("</div>\n");
    }
    let is_key = |k: &str| KEY_FIGURES.iter().any(|(name, _)| *name == k);
    let others: Vec<(&String, &f64)> = r.figures.iter().filter(|(k, _)| !is_key(k)).collect();
    let others_non_finite: Vec<&String> = report
        .non_finite_figures
        .iter()
        .filter(|k| !is_key(k))
        .collect();
    if !others.is_empty() || !others_non_finite.is_empty() {
        h.push_str("<details><summary>All other figures</summary><table><tbody>\n");
        for (k, v) in others {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td class=\"num\">{}</td></tr>",
                esc(k),
                esc(&format_figure(*v))
            );
        }
        for k in others_non_finite {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td class=\"num\">not finite</td></tr>",
                esc(k)
            );
        }
        h.push_str("</tbody></table></details>\n");
    }
}

fn outcomes(h: &mut String, report: &Report) {
    let r = &report.results;
    let _ = writeln!(h, "<h2 id=\"outcomes\">Outcomes</h2>");
    if r.outcomes.is_empty() {
        h.push_str("<p class=\"muted\">No calls recorded.</p>\n");
        return;
    }
    let total: u64 = r.outcomes.values().sum();
    h.push_str(
        "<table class=\"outcomes\"><thead><tr><th>outcome</th><th class=\"num\">calls</th><th class=\"num\">share</th>\
         </tr></thead><tbody>\n",
    );
    for name in outcome_order(r.outcomes.keys()) {
        let count = r.outcomes[name];
        let share = if total > 0 {
            100.0 * count as f64 / total as f64
        } else {
            0.0
        };
        let _ = writeln!(
            h,
            "<tr{}><td><code>{}</code></td><td class=\"num\">{count}</td><td class=\"num\">{share:.2} %</td></tr>",
            if name == "unexpected" && count > 0 { " class=\"failed\"" } else { "" },
            esc(name)
        );
    }
    let _ = writeln!(
        h,
        "<tr><th>all</th><th class=\"num\">{total}</th><th></th></tr>"
    );
    h.push_str("</tbody></table>\n");
}

fn latency(h: &mut String, report: &Report) {
    let r = &report.results;
    let _ = writeln!(h, "<h2 id=\"latency\">Latency per tool</h2>");
    if r.latency.is_empty() {
        h.push_str("<p class=\"muted\">No latency recorded.</p>\n");
        return;
    }
    h.push_str(
        "<table class=\"latency\"><thead><tr><th>tool</th><th>outcome</th><th class=\"num\">count</th>\
         <th class=\"num\">p50 ms</th><th class=\"num\">p95 ms</th><th class=\"num\">p99 ms</th>\
         <th class=\"num\">max ms</th></tr></thead><tbody>\n",
    );
    for (tool, by) in &r.latency {
        let order = outcome_order(by.keys());
        for (i, outcome) in order.iter().enumerate() {
            let s = &by[*outcome];
            h.push_str("<tr>");
            if i == 0 {
                let _ = write!(
                    h,
                    "<td rowspan=\"{}\"><code>{}</code></td>",
                    order.len(),
                    esc(tool)
                );
            }
            let _ = writeln!(
                h,
                "<td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(outcome),
                s.count,
                fmt_ms(s.p50_ms),
                fmt_ms(s.p95_ms),
                fmt_ms(s.p99_ms),
                fmt_ms(s.max_ms)
            );
        }
    }
    h.push_str("</tbody></table>\n");
}

fn recoveries(h: &mut String, report: &Report) {
    let r = &report.results;
    let _ = writeln!(h, "<h2 id=\"recoveries\">Recoveries</h2>");
    if r.recoveries.is_empty() {
        h.push_str("<p class=\"muted\">No server kills or restarts in this run.</p>\n");
        return;
    }
    let threshold = recovery_threshold(r);
    let _ = write!(
        h,
        "<p>From the kill (or restart) to <code>/readyz</code> answering, and to the first successful tool call"
    );
    match &threshold {
        Some(t) => {
            let _ = writeln!(
                h,
                "; the threshold on the worst is <code>{} {}</code> s.</p>",
                esc(t.op),
                esc(&format_figure(t.bound))
            );
        }
        None => h.push_str(".</p>\n"),
    }
    h.push_str(
        "<table class=\"recoveries\"><thead><tr><th class=\"num\">#</th><th>kind</th><th class=\"num\">at s</th>\
         <th class=\"num\">ready after s</th><th class=\"num\">first success after s</th><th></th></tr></thead><tbody>\n",
    );
    for (i, rec) in r.recoveries.iter().enumerate() {
        let slow = recovery_too_slow(rec, threshold.as_ref());
        let _ = writeln!(
            h,
            "<tr{}><td class=\"num\">{}</td><td><code>{}</code></td><td class=\"num\">{:.1}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            if slow { " class=\"failed\"" } else { "" },
            i + 1,
            esc(&rec.kind),
            rec.at_s,
            esc(&fmt_secs(rec.ready_after_s)),
            esc(&fmt_secs(rec.first_success_after_s)),
            if slow { "<span class=\"badge fail\">too slow</span>" } else { "" }
        );
    }
    h.push_str("</tbody></table>\n");
}

fn checker(h: &mut String, report: &Report) {
    let c = &report.results.checker;
    let _ = writeln!(h, "<h2 id=\"checker\">Checker</h2>");
    h.push_str(
        "<p>After the final heal every acknowledged score not deleted or evicted is read back and its content hash \
         compared. Lost and silently corrupted must be zero.</p>\n",
    );
    h.push_str("<table class=\"checker\"><tbody>\n");
    let rows: [(&str, u64, bool); 10] = [
        ("acknowledged", c.acknowledged, false),
        ("deleted", c.deleted, false),
        ("maybe deleted (answer lost)", c.maybe_deleted, false),
        ("evicted", c.evicted, false),
        ("checked", c.checked, false),
        ("ok", c.ok, false),
        ("lost", c.lost, true),
        ("silently corrupted", c.silently_corrupted, true),
        (
            "corrupted on disk and detected",
            c.corrupted_detected,
            false,
        ),
        ("unreadable", c.unreadable, true),
    ];
    for (label, value, must_be_zero) in rows {
        let bad = must_be_zero && value > 0;
        let _ = writeln!(
            h,
            "<tr{}><td>{label}</td><td class=\"num\">{}</td></tr>",
            if bad { " class=\"failed\"" } else { "" },
            if bad {
                format!("<span class=\"bad-text\">{value}</span>")
            } else {
                value.to_string()
            }
        );
    }
    h.push_str("</tbody></table>\n");
    if c.problems.is_empty() {
        h.push_str("<p class=\"muted\">No problems reported.</p>\n");
    } else {
        let _ = writeln!(
            h,
            "<h3>Problems ({})</h3><ul class=\"problems\">",
            c.problems.len()
        );
        for p in &c.problems {
            let _ = writeln!(h, "<li><code>{}</code></li>", esc(p));
        }
        h.push_str("</ul>\n");
    }
}

fn refusals(h: &mut String, report: &Report) {
    let r = &report.results;
    let _ = writeln!(h, "<h2 id=\"refusals\">Refusals and failures by code</h2>");
    let sorted = refusals_sorted(r);
    if sorted.is_empty() {
        h.push_str("<p class=\"muted\">None.</p>\n");
        return;
    }
    h.push_str(
        "<table class=\"refusals\"><thead><tr><th>outcome</th><th>code</th><th class=\"num\">calls</th></tr></thead>\
         <tbody>\n",
    );
    for (key, count) in sorted {
        let (outcome, code) = key.split_once(':').unwrap_or((key, ""));
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"num\">{count}</td></tr>",
            esc(outcome),
            esc(code)
        );
    }
    h.push_str("</tbody></table>\n");
}

fn samples(h: &mut String, report: &Report) {
    let r = &report.results;
    let _ = writeln!(h, "<h2 id=\"unexpected\">Unexpected outcomes</h2>");
    if r.unexpected_samples.is_empty() {
        h.push_str("<p class=\"muted\">No unexpected outcomes sampled.</p>\n");
        return;
    }
    h.push_str(
        "<table class=\"samples\"><thead><tr><th class=\"num\">t s</th><th>tool</th><th>detail</th></tr></thead>\
         <tbody>\n",
    );
    for s in &r.unexpected_samples {
        let _ = writeln!(
            h,
            "<tr><td class=\"num\">{:.1}</td><td><code>{}</code></td><td class=\"detail\">{}</td></tr>",
            s.t_s,
            esc(&s.tool),
            esc(&s.detail)
        );
    }
    h.push_str("</tbody></table>\n");
}

fn adversaries(h: &mut String, report: &Report) {
    let r = &report.results;
    if r.adversaries.is_empty() {
        return;
    }
    let _ = writeln!(h, "<h2 id=\"adversaries\">Adversaries</h2>");
    let f = &r.fairness;
    let rate = if f.victim_calls > 0 {
        format!("{:.4}", f.victim_success as f64 / f.victim_calls as f64)
    } else {
        "not measured".into()
    };
    let _ = writeln!(
        h,
        "<p>The normal users made {} calls while adversaries ran (none meeting a chaos fault): success rate {}, \
         p50 {} ms and p99 {} ms, against p50 {} ms and p99 {} ms outside every window.</p>",
        f.victim_calls,
        esc(&rate),
        esc(&fmt_ms(f.inside.p50_ms)),
        esc(&fmt_ms(f.inside.p99_ms)),
        esc(&fmt_ms(f.outside.p50_ms)),
        esc(&fmt_ms(f.outside.p99_ms))
    );
    if !f.victim_failures.is_empty() {
        h.push_str("<p>Their failures: ");
        let parts: Vec<String> = f
            .victim_failures
            .iter()
            .map(|(k, n)| format!("<code>{}</code> {n}", esc(k)))
            .collect();
        h.push_str(&parts.join(", "));
        h.push_str("</p>\n");
    }
    h.push_str(
        "<table class=\"adversaries\"><thead><tr><th>kind</th><th>from</th><th class=\"num\">start s</th>\
         <th class=\"num\">end s</th><th class=\"num\">tried</th><th class=\"num\">refused</th>\
         <th class=\"num\">served</th><th class=\"num\">misbehaved</th><th>detail</th></tr></thead><tbody>\n",
    );
    for a in &r.adversaries {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{:.1}</td><td class=\"num\">{:.1}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"detail\">{}{}</td></tr>",
            esc(&a.kind),
            esc(&a.source),
            a.start_s,
            a.end_s,
            a.attempts,
            a.refused,
            a.served,
            a.misbehaved,
            esc(&a.detail),
            if a.samples.is_empty() {
                String::new()
            } else {
                format!("; e.g. {}", esc(&a.samples.join(" | ")))
            }
        );
    }
    h.push_str("</tbody></table>\n");
}

fn timeline(h: &mut String, report: &Report) {
    let r = &report.results;
    let _ = writeln!(h, "<h2 id=\"timeline\">Chaos and adversary timeline</h2>");
    if r.timeline.is_empty() {
        h.push_str("<p class=\"muted\">No chaos events.</p>\n");
        return;
    }
    h.push_str(
        "<table class=\"timeline\"><thead><tr><th>kind</th><th class=\"num\">start s</th><th class=\"num\">end s</th>\
         <th class=\"num\">length s</th><th>detail</th></tr></thead><tbody>\n",
    );
    for e in &r.timeline {
        let (end, length) = match e.end_s {
            Some(end) => (format!("{end:.1}"), format!("{:.1}", end - e.start_s)),
            None => ("not ended".into(), String::new()),
        };
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td class=\"num\">{:.1}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"detail\">{}</td></tr>",
            esc(&e.kind),
            e.start_s,
            esc(&end),
            esc(&length),
            esc(&e.detail)
        );
    }
    h.push_str("</tbody></table>\n");
}

fn config(h: &mut String, report: &Report) {
    let _ = writeln!(h, "<h2 id=\"config\">Configuration used</h2>");
    let c = &report.config_json;
    if c.is_null() {
        h.push_str("<p class=\"muted\">The results file does not record its configuration.</p>\n");
        return;
    }
    let pretty = serde_json::to_string_pretty(c).unwrap_or_else(|_| c.to_string());
    let _ = writeln!(h, "<pre class=\"config\">{}</pre>", esc(&pretty));
    if let Some(overrides) = c.get("server_overrides").and_then(Value::as_str) {
        let _ = writeln!(
            h,
            "<h3>server_overrides (TOML)</h3><pre>{}</pre>",
            esc(overrides)
        );
    }
}
