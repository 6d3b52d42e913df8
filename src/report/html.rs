//! The report as one self-contained HTML file: inline CSS, inline SVG charts, no scripts,
//! no fonts, no links outside the page. Every piece of text that comes from the results
//! file goes through [`esc`] (`super::escape`).
//!
//! The page is written with `format!`/`write!` rather than a template engine: it is one
//! fixed layout, the escaping is explicit at each use, and it costs no dependency.

use std::fmt::Write as _;

use serde_json::Value;

use super::charts::Chart;
use super::escape::esc;
use super::sections::Sections;
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

pub fn render(s: &Sections) -> String {
    let word = esc(&s.verdict.word);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{word} — music21-prod stress report</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
    );
    let _ = writeln!(h, "<h1>music21-prod stress report</h1>");
    let _ = writeln!(h, "<p class=\"meta\">{}</p>", esc(&s.run_line));
    let _ = writeln!(
        h,
        "<div class=\"verdict {}\" id=\"verdict\"><div class=\"word\">{word}</div><div class=\"summary\">{}</div></div>",
        s.verdict.class,
        esc(&s.verdict.summary)
    );
    h.push_str(
        "<nav><a href=\"#thresholds\">Thresholds</a><a href=\"#figures\">Figures</a><a href=\"#charts\">Charts</a>\
         <a href=\"#latency\">Latency</a><a href=\"#recoveries\">Recoveries</a><a href=\"#checker\">Checker</a>\
         <a href=\"#refusals\">Refusals</a><a href=\"#adversaries\">Adversaries</a><a href=\"#timeline\">Timeline</a><a href=\"#config\">Config</a></nav>\n",
    );
    if !s.notes.is_empty() {
        h.push_str("<div class=\"notes\"><strong>Notes on reading the file</strong><ul>");
        for note in s.notes {
            let _ = write!(h, "<li>{}</li>", esc(note));
        }
        h.push_str("</ul></div>\n");
    }

    thresholds(&mut h, s);
    figures(&mut h, s);
    heading(&mut h, "charts", "Over time");
    for chart in s.charts() {
        figure(&mut h, &chart);
    }
    outcomes(&mut h, s);
    latency(&mut h, s);
    recoveries(&mut h, s);
    checker(&mut h, s);
    refusals(&mut h, s);
    samples(&mut h, s);
    adversaries(&mut h, s);
    deployment(&mut h, s);
    timeline(&mut h, s);
    config(&mut h, s);

    let _ = writeln!(
        h,
        "<footer>Written by music21-prod report {} from a results file of schema version {}; run from {} to {}.</footer>",
        esc(env!("CARGO_PKG_VERSION")),
        s.schema_version,
        esc(&s.started),
        esc(&s.finished)
    );
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

fn heading(h: &mut String, id: &str, title: &str) {
    let _ = writeln!(h, "<h2 id=\"{id}\">{title}</h2>");
}

/// What stands in for a section with nothing to show.
fn muted(h: &mut String, text: &str) {
    let _ = writeln!(h, "<p class=\"muted\">{text}</p>");
}

/// A table's header cell: text, or a number (right-aligned).
enum Col<'a> {
    Text(&'a str),
    Num(&'a str),
}

/// Opens a table of `class` with its header row; [`close_table`] ends it.
fn open_table(h: &mut String, class: &str, columns: &[Col]) {
    let _ = write!(h, "<table class=\"{class}\"><thead><tr>");
    for col in columns {
        let _ = match col {
            Col::Text(name) => write!(h, "<th>{name}</th>"),
            Col::Num(name) => write!(h, "<th class=\"num\">{name}</th>"),
        };
    }
    h.push_str("</tr></thead><tbody>\n");
}

fn close_table(h: &mut String) {
    h.push_str("</tbody></table>\n");
}

/// The attribute of a row that should catch the eye.
fn failed_if(bad: bool) -> &'static str {
    if bad {
        " class=\"failed\""
    } else {
        ""
    }
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

fn thresholds(h: &mut String, s: &Sections) {
    heading(h, "thresholds", "Thresholds and verdict");
    if s.thresholds.rows.is_empty() {
        return muted(h, "No thresholds in the results.");
    }
    use Col::*;
    let columns = [
        Text("threshold"),
        Num("figure"),
        Text("required"),
        Text("result"),
    ];
    open_table(h, "thresholds", &columns);
    for t in &s.thresholds.rows {
        let _ = writeln!(
            h,
            "<tr{}><td><code>{}</code></td><td class=\"num\">{}</td><td><code>{}</code></td><td>{}{}</td></tr>",
            failed_if(!t.pass),
            esc(t.name),
            esc(&t.value),
            esc(t.expression),
            if t.pass { "<span class=\"badge pass\">pass</span>" } else { "<span class=\"badge fail\">FAIL</span>" },
            t.note.map(|n| format!(" {}", esc(n))).unwrap_or_default()
        );
    }
    close_table(h);
}

fn figures(h: &mut String, s: &Sections) {
    heading(h, "figures", "Key figures");
    if s.figures.key.is_empty() {
        muted(h, "No figures in the results.");
    } else {
        h.push_str("<div class=\"cards\">\n");
        for f in &s.figures.key {
            let _ = writeln!(
                h,
                "<div class=\"card{}\" title=\"{}\"><div class=\"value\">{}</div><div class=\"label\">{}</div></div>",
                if f.failed { " bad" } else { "" },
                esc(f.name),
                esc(&f.value),
                esc(f.label)
            );
        }
        h.push_str("</div>\n");
    }
    if !s.figures.others.is_empty() {
        h.push_str("<details><summary>All other figures</summary><table><tbody>\n");
        for (name, value) in &s.figures.others {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td class=\"num\">{}</td></tr>",
                esc(name),
                esc(value)
            );
        }
        h.push_str("</tbody></table></details>\n");
    }
}

fn outcomes(h: &mut String, s: &Sections) {
    heading(h, "outcomes", "Outcomes");
    if s.outcomes.rows.is_empty() {
        return muted(h, "No calls recorded.");
    }
    use Col::*;
    open_table(
        h,
        "outcomes",
        &[Text("outcome"), Num("calls"), Num("share")],
    );
    for o in &s.outcomes.rows {
        let _ = writeln!(
            h,
            "<tr{}><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{:.2} %</td></tr>",
            failed_if(o.failed),
            esc(o.name),
            o.calls,
            o.share
        );
    }
    let _ = writeln!(
        h,
        "<tr><th>all</th><th class=\"num\">{}</th><th></th></tr>",
        s.outcomes.total
    );
    close_table(h);
}

fn latency(h: &mut String, s: &Sections) {
    heading(h, "latency", "Latency per tool");
    if s.latency.is_empty() {
        return muted(h, "No latency recorded.");
    }
    use Col::*;
    let columns = [
        Text("tool"),
        Text("outcome"),
        Num("count"),
        Num("p50 ms"),
        Num("p95 ms"),
        Num("p99 ms"),
        Num("max ms"),
    ];
    open_table(h, "latency", &columns);
    for tool in &s.latency {
        for (i, row) in tool.rows.iter().enumerate() {
            h.push_str("<tr>");
            if i == 0 {
                let _ = write!(
                    h,
                    "<td rowspan=\"{}\"><code>{}</code></td>",
                    tool.rows.len(),
                    esc(tool.tool)
                );
            }
            let _ = writeln!(
                h,
                "<td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(row.outcome),
                row.count,
                row.p50,
                row.p95,
                row.p99,
                row.max
            );
        }
    }
    close_table(h);
}

fn recoveries(h: &mut String, s: &Sections) {
    heading(h, "recoveries", "Recoveries");
    if s.recoveries.rows.is_empty() {
        return muted(h, "No server kills or restarts in this run.");
    }
    h.push_str(
        "<p>From the kill (or restart) to <code>/readyz</code> answering, and to the first successful tool call",
    );
    match &s.recoveries.threshold {
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
    use Col::*;
    let columns = [
        Num("#"),
        Text("kind"),
        Num("at s"),
        Num("ready after s"),
        Num("first success after s"),
        Text(""),
    ];
    open_table(h, "recoveries", &columns);
    for (i, rec) in s.recoveries.rows.iter().enumerate() {
        let _ = writeln!(
            h,
            "<tr{}><td class=\"num\">{}</td><td><code>{}</code></td><td class=\"num\">{:.1}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            failed_if(rec.slow),
            i + 1,
            esc(rec.kind),
            rec.at_s,
            esc(&rec.ready_after),
            esc(&rec.first_success_after),
            if rec.slow { "<span class=\"badge fail\">too slow</span>" } else { "" }
        );
    }
    close_table(h);
}

fn checker(h: &mut String, s: &Sections) {
    let c = s.checker;
    heading(h, "checker", "Checker");
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
            failed_if(bad),
            if bad {
                format!("<span class=\"bad-text\">{value}</span>")
            } else {
                value.to_string()
            }
        );
    }
    close_table(h);
    if c.problems.is_empty() {
        return muted(h, "No problems reported.");
    }
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

fn refusals(h: &mut String, s: &Sections) {
    heading(h, "refusals", "Refusals and failures by code");
    if s.refusals.is_empty() {
        return muted(h, "None.");
    }
    use Col::*;
    open_table(
        h,
        "refusals",
        &[Text("outcome"), Text("code"), Num("calls")],
    );
    for (key, count) in &s.refusals {
        let (outcome, code) = key.split_once(':').unwrap_or((key, ""));
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"num\">{count}</td></tr>",
            esc(outcome),
            esc(code)
        );
    }
    close_table(h);
}

fn samples(h: &mut String, s: &Sections) {
    heading(h, "unexpected", "Unexpected outcomes");
    if s.unexpected_samples.is_empty() {
        return muted(h, "No unexpected outcomes sampled.");
    }
    use Col::*;
    open_table(h, "samples", &[Num("t s"), Text("tool"), Text("detail")]);
    for x in s.unexpected_samples {
        let _ = writeln!(
            h,
            "<tr><td class=\"num\">{:.1}</td><td><code>{}</code></td><td class=\"detail\">{}</td></tr>",
            x.t_s,
            esc(&x.tool),
            esc(&x.detail)
        );
    }
    close_table(h);
}

fn adversaries(h: &mut String, s: &Sections) {
    let Some(a) = &s.adversaries else { return };
    heading(h, "adversaries", "Adversaries");
    let _ = writeln!(
        h,
        "<p>The normal users made {} calls while adversaries ran (none meeting a chaos fault): success rate {}, \
         p50 {} ms and p99 {} ms, against p50 {} ms and p99 {} ms outside every window.</p>",
        a.victim_calls,
        esc(&a.victim_success_rate),
        esc(&a.inside_p50),
        esc(&a.inside_p99),
        esc(&a.outside_p50),
        esc(&a.outside_p99)
    );
    if !a.victim_failures.is_empty() {
        let parts: Vec<String> = a
            .victim_failures
            .iter()
            .map(|(k, n)| format!("<code>{}</code> {n}", esc(k)))
            .collect();
        let _ = writeln!(h, "<p>Their failures: {}</p>", parts.join(", "));
    }
    if !a.beside_each.is_empty() {
        let parts: Vec<String> = a
            .beside_each
            .iter()
            .map(|b| {
                format!(
                    "<code>{}</code> p50 {} ms, p99 {} ms ({} calls)",
                    esc(&b.kind),
                    esc(&b.p50),
                    esc(&b.p99),
                    b.calls
                )
            })
            .collect();
        let _ = writeln!(
            h,
            "<p>The users beside each kind: {}.</p>",
            parts.join("; ")
        );
    }
    use Col::*;
    let columns = [
        Text("kind"),
        Text("from"),
        Num("start s"),
        Num("end s"),
        Num("tried"),
        Num("refused"),
        Num("served"),
        Num("misbehaved"),
        Text("detail"),
    ];
    open_table(h, "adversaries", &columns);
    for w in a.windows {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{:.1}</td><td class=\"num\">{:.1}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"detail\">{}{}</td></tr>",
            esc(&w.kind),
            esc(&w.source),
            w.start_s,
            w.end_s,
            w.attempts,
            w.refused,
            w.served,
            w.misbehaved,
            esc(&w.detail),
            if w.samples.is_empty() {
                String::new()
            } else {
                format!("; e.g. {}", esc(&w.samples.join(" | ")))
            }
        );
    }
    close_table(h);
}

fn deployment(h: &mut String, s: &Sections) {
    let Some(d) = &s.deployment else { return };
    heading(h, "deployment", "Deployment under test");
    if !d.replicas.is_empty() {
        use Col::*;
        let columns = [
            Text("replica"),
            Num("calls answered"),
            Num("kills"),
            Num("terms"),
            Num("database cuts"),
            Text("ready at end"),
            Text("URL"),
        ];
        open_table(h, "replicas", &columns);
        for r in d.replicas {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&r.name),
                esc(&super::sections::replica_requests(r)),
                r.kills,
                r.terms,
                r.db_cuts,
                if r.ready_at_end { "yes" } else { "<strong>no</strong>" },
                esc(&r.url)
            );
        }
        close_table(h);
    }
    let mut items: Vec<String> = d
        .cross_replica
        .iter()
        .map(|(name, value)| format!("<code>{}</code>: {}", esc(name), esc(value)))
        .collect();
    items.extend(
        d.cross_replica_samples
            .iter()
            .map(|x| format!("across replicas: {}", esc(x))),
    );
    items.extend(
        d.skipped
            .iter()
            .map(|(kind, why)| format!("skipped <code>{}</code>: {}", esc(kind), esc(why))),
    );
    if !items.is_empty() {
        let _ = writeln!(h, "<ul>");
        for item in items {
            let _ = writeln!(h, "<li>{item}</li>");
        }
        let _ = writeln!(h, "</ul>");
    }
}

fn timeline(h: &mut String, s: &Sections) {
    heading(h, "timeline", "Chaos and adversary timeline");
    if s.timeline.is_empty() {
        return muted(h, "No chaos events.");
    }
    use Col::*;
    let columns = [
        Text("kind"),
        Num("start s"),
        Num("end s"),
        Num("length s"),
        Text("detail"),
    ];
    open_table(h, "timeline", &columns);
    for e in s.timeline {
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
    close_table(h);
}

fn config(h: &mut String, s: &Sections) {
    heading(h, "config", "Configuration used");
    let c = s.config;
    if c.is_null() {
        return muted(h, "The results file does not record its configuration.");
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
