//! The report as GitHub-flavoured Markdown, for an issue or a pull request: the verdict,
//! the thresholds, key figures, per-tool latency, recoveries and the checker. No charts.
//! Text from the file is escaped so that it cannot break a table or inject HTML.

use std::fmt::Write as _;

use super::escape::strip_controls;
use super::sections::Sections;

const TOP_REFUSALS: usize = 10;
const SAMPLES: usize = 10;

/// Escapes text for a Markdown table cell or paragraph.
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// An identifier or expression in a code span; anything that looks like more than that
/// (markup, backticks, pipes) is escaped as plain text instead.
fn code(s: &str) -> String {
    let plain = s
        .chars()
        .all(|c| c.is_alphanumeric() || "_.:-=<>!+ ".contains(c));
    let tag = s
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || b"/!?".contains(&w[1])));
    if plain && !tag && !s.is_empty() {
        format!("`{s}`")
    } else {
        cell(s)
    }
}

pub fn render(s: &Sections) -> String {
    let mut out = String::new();
    let word = cell(&s.verdict.word);
    let _ = writeln!(out, "## music21-prod stress report: {word}\n");
    let _ = writeln!(out, "**Verdict: {word}** — {}\n", cell(&s.verdict.summary));
    let _ = writeln!(out, "{}\n", cell(&s.run_line));
    thresholds(&mut out, s);
    figures(&mut out, s);
    outcomes(&mut out, s);
    adversaries(&mut out, s);
    deployment(&mut out, s);
    latency(&mut out, s);
    recoveries(&mut out, s);
    checker(&mut out, s);
    refusals(&mut out, s);
    samples(&mut out, s);
    if !s.notes.is_empty() {
        let _ = writeln!(out, "### Notes on reading the file\n");
        for n in s.notes {
            let _ = writeln!(out, "- {}", cell(n));
        }
        out.push('\n');
    }
    strip_controls(&out)
}

fn thresholds(out: &mut String, s: &Sections) {
    let _ = writeln!(out, "### Thresholds\n");
    if s.thresholds.rows.is_empty() {
        let _ = writeln!(out, "No thresholds in the results.\n");
        return;
    }
    let _ = writeln!(out, "| threshold | figure | required | result |");
    let _ = writeln!(out, "|---|---:|---|---|");
    for t in &s.thresholds.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            code(t.name),
            cell(&t.value),
            code(t.expression),
            match (t.pass, t.note) {
                (true, Some(note)) => format!("pass ({})", cell(note)),
                (true, None) => "pass".into(),
                (false, Some(note)) => format!("**FAIL** ({})", cell(note)),
                (false, None) => "**FAIL**".into(),
            }
        );
    }
    out.push('\n');
}

fn figures(out: &mut String, s: &Sections) {
    if s.figures.key.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Key figures\n");
    let _ = writeln!(out, "| figure | value |");
    let _ = writeln!(out, "|---|---:|");
    for f in &s.figures.key {
        let _ = writeln!(
            out,
            "| {} ({}) | {} |",
            f.label,
            code(f.name),
            cell(&f.value)
        );
    }
    out.push('\n');
}

fn outcomes(out: &mut String, s: &Sections) {
    if s.outcomes.rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Outcomes\n");
    let _ = writeln!(out, "| outcome | calls | share |");
    let _ = writeln!(out, "|---|---:|---:|");
    for o in &s.outcomes.rows {
        let _ = writeln!(out, "| {} | {} | {:.2} % |", code(o.name), o.calls, o.share);
    }
    out.push('\n');
}

fn adversaries(out: &mut String, s: &Sections) {
    let Some(a) = &s.adversaries else { return };
    let _ = writeln!(out, "### Adversaries\n");
    let _ = writeln!(
        out,
        "The normal users made {} calls while adversaries ran (none meeting a chaos fault); {} succeeded. \
         p99 {} ms beside the adversaries, {} ms outside every window.\n",
        a.victim_calls, a.victim_success, a.inside_p99, a.outside_p99
    );
    if !a.beside_each.is_empty() {
        let each: Vec<String> = a.beside_each.iter().map(|b| b.describe()).collect();
        let _ = writeln!(out, "The users beside each kind: {}.\n", each.join(", "));
    }
    let _ = writeln!(
        out,
        "| kind | from | start s | tried | refused | served | misbehaved | detail |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---|");
    for w in a.windows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} |",
            code(&w.kind),
            cell(&w.source),
            w.start_s,
            w.attempts,
            w.refused,
            w.served,
            w.misbehaved,
            cell(&w.detail)
        );
    }
    out.push('\n');
}

fn latency(out: &mut String, s: &Sections) {
    let _ = writeln!(out, "### Latency per tool (ms)\n");
    if s.latency.is_empty() {
        let _ = writeln!(out, "No latency recorded.\n");
        return;
    }
    let _ = writeln!(out, "| tool | outcome | count | p50 | p95 | p99 | max |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
    for tool in &s.latency {
        for row in &tool.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                code(tool.tool),
                code(row.outcome),
                row.count,
                row.p50,
                row.p95,
                row.p99,
                row.max
            );
        }
    }
    out.push('\n');
}

fn recoveries(out: &mut String, s: &Sections) {
    let _ = writeln!(out, "### Recoveries\n");
    if s.recoveries.rows.is_empty() {
        let _ = writeln!(out, "No server kills or restarts.\n");
        return;
    }
    let _ = writeln!(
        out,
        "| kind | at (s) | ready after (s) | first success after (s) | |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|");
    for rec in &s.recoveries.rows {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {} | {} | {} |",
            code(rec.kind),
            rec.at_s,
            rec.ready_after,
            rec.first_success_after,
            if rec.slow { "**slow**" } else { "" }
        );
    }
    out.push('\n');
}

fn checker(out: &mut String, s: &Sections) {
    let c = s.checker;
    let _ = writeln!(out, "### Checker\n");
    let _ = writeln!(
        out,
        "Acknowledged {}, deleted {}, maybe deleted {}, evicted {}; checked {}: ok {}, \
         **lost {}**, **silently corrupted {}**, corrupted and detected {}, unreadable {}.\n",
        c.acknowledged,
        c.deleted,
        c.maybe_deleted,
        c.evicted,
        c.checked,
        c.ok,
        c.lost,
        c.silently_corrupted,
        c.corrupted_detected,
        c.unreadable
    );
    if !c.problems.is_empty() {
        let _ = writeln!(out, "Problems:\n");
        for p in &c.problems {
            let _ = writeln!(out, "- {}", cell(p));
        }
        out.push('\n');
    }
}

fn refusals(out: &mut String, s: &Sections) {
    if s.refusals.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Top refusals\n");
    let _ = writeln!(out, "| outcome:code | calls |");
    let _ = writeln!(out, "|---|---:|");
    for (name, n) in s.refusals.iter().take(TOP_REFUSALS) {
        let _ = writeln!(out, "| {} | {n} |", code(name));
    }
    if s.refusals.len() > TOP_REFUSALS {
        let _ = writeln!(
            out,
            "\n… and {} more codes.",
            s.refusals.len() - TOP_REFUSALS
        );
    }
    out.push('\n');
}

fn samples(out: &mut String, s: &Sections) {
    let samples = s.unexpected_samples;
    if samples.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Unexpected outcomes\n");
    let _ = writeln!(out, "| t (s) | tool | detail |");
    let _ = writeln!(out, "|---:|---|---|");
    for x in samples.iter().take(SAMPLES) {
        let _ = writeln!(
            out,
            "| {:.1} | {} | {} |",
            x.t_s,
            code(&x.tool),
            cell(&x.detail)
        );
    }
    if samples.len() > SAMPLES {
        let _ = writeln!(
            out,
            "\n… and {} more samples in results.json.",
            samples.len() - SAMPLES
        );
    }
    out.push('\n');
}

fn deployment(out: &mut String, s: &Sections) {
    let Some(d) = &s.deployment else { return };
    let _ = writeln!(out, "### Deployment under test\n");
    if !d.replicas.is_empty() {
        let _ = writeln!(
            out,
            "| replica | calls answered | kills | terms | database cuts | ready at end | URL |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---|---|");
        for r in d.replicas {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                cell(&r.name),
                super::sections::replica_requests(r),
                r.kills,
                r.terms,
                r.db_cuts,
                if r.ready_at_end { "yes" } else { "**no**" },
                code(&r.url)
            );
        }
        out.push('\n');
    }
    for (name, value) in &d.cross_replica {
        let _ = writeln!(out, "- {}: {}", code(name), value);
    }
    for sample in d.cross_replica_samples {
        let _ = writeln!(out, "- across replicas: {}", cell(sample));
    }
    for (kind, why) in d.skipped {
        let _ = writeln!(out, "- skipped {}: {}", code(kind), cell(why));
    }
    out.push('\n');
}
