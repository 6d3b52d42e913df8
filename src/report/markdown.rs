//! The report as GitHub-flavoured Markdown, for an issue or a pull request: the verdict,
//! the thresholds, key figures, per-tool latency, recoveries and the checker. No charts.
//! Text from the file is escaped so that it cannot break a table or inject HTML.

use std::fmt::Write as _;

use super::{
    fmt_ms, fmt_secs, key_figures, outcome_order, recovery_threshold, recovery_too_slow,
    refusals_sorted, run_line, strip_controls, threshold_value, verdict_summary, verdict_word,
    Report,
};

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

pub fn render(report: &Report) -> String {
    let r = &report.results;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## music21-prod stress report: {}\n",
        cell(&verdict_word(r))
    );
    let _ = writeln!(
        out,
        "**Verdict: {}** — {}\n",
        cell(&verdict_word(r)),
        cell(&verdict_summary(r))
    );
    let _ = writeln!(out, "{}\n", cell(&run_line(report)));

    let _ = writeln!(out, "### Thresholds\n");
    if r.thresholds.is_empty() {
        let _ = writeln!(out, "No thresholds in the results.\n");
    } else {
        let _ = writeln!(out, "| threshold | figure | required | result |");
        let _ = writeln!(out, "|---|---:|---|---|");
        for t in &r.thresholds {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                code(&t.name),
                cell(&threshold_value(report, t)),
                code(&t.expression),
                if t.pass { "pass" } else { "**FAIL**" }
            );
        }
        out.push('\n');
    }

    let figures = key_figures(report);
    if !figures.is_empty() {
        let _ = writeln!(out, "### Key figures\n");
        let _ = writeln!(out, "| figure | value |");
        let _ = writeln!(out, "|---|---:|");
        for (name, label, value) in figures {
            let _ = writeln!(out, "| {label} ({}) | {} |", code(name), cell(&value));
        }
        out.push('\n');
    }

    if !r.outcomes.is_empty() {
        let total: u64 = r.outcomes.values().sum();
        let _ = writeln!(out, "### Outcomes\n");
        let _ = writeln!(out, "| outcome | calls | share |");
        let _ = writeln!(out, "|---|---:|---:|");
        for name in outcome_order(r.outcomes.keys()) {
            let n = r.outcomes[name];
            let share = if total > 0 {
                100.0 * n as f64 / total as f64
            } else {
                0.0
            };
            let _ = writeln!(out, "| {} | {n} | {share:.2} % |", code(name));
        }
        out.push('\n');
    }

    if !r.adversaries.is_empty() {
        let f = &r.fairness;
        let _ = writeln!(out, "### Adversaries\n");
        let _ = writeln!(
            out,
            "The normal users made {} calls while adversaries ran (none meeting a chaos fault); {} succeeded. \
             p99 {} ms beside the adversaries, {} ms outside every window.\n",
            f.victim_calls,
            f.victim_success,
            fmt_ms(f.inside.p99_ms),
            fmt_ms(f.outside.p99_ms)
        );
        let _ = writeln!(
            out,
            "| kind | from | start s | tried | refused | served | misbehaved | detail |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---|");
        for a in &r.adversaries {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {} | {} | {} | {} | {} |",
                code(&a.kind),
                cell(&a.source),
                a.start_s,
                a.attempts,
                a.refused,
                a.served,
                a.misbehaved,
                cell(&a.detail)
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "### Latency per tool (ms)\n");
    if r.latency.is_empty() {
        let _ = writeln!(out, "No latency recorded.\n");
    } else {
        let _ = writeln!(out, "| tool | outcome | count | p50 | p95 | p99 | max |");
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
        for (tool, by) in &r.latency {
            for outcome in outcome_order(by.keys()) {
                let s = &by[outcome];
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    code(tool),
                    code(outcome),
                    s.count,
                    fmt_ms(s.p50_ms),
                    fmt_ms(s.p95_ms),
                    fmt_ms(s.p99_ms),
                    fmt_ms(s.max_ms)
                );
            }
        }
        out.push('\n');
    }

    let _ = writeln!(out, "### Recoveries\n");
    if r.recoveries.is_empty() {
        let _ = writeln!(out, "No server kills or restarts.\n");
    } else {
        let threshold = recovery_threshold(r);
        let _ = writeln!(
            out,
            "| kind | at (s) | ready after (s) | first success after (s) | |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---|");
        for rec in &r.recoveries {
            let slow = recovery_too_slow(rec, threshold.as_ref());
            let _ = writeln!(
                out,
                "| {} | {:.1} | {} | {} | {} |",
                code(&rec.kind),
                rec.at_s,
                fmt_secs(rec.ready_after_s),
                fmt_secs(rec.first_success_after_s),
                if slow { "**slow**" } else { "" }
            );
        }
        out.push('\n');
    }

    let c = &r.checker;
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

    let refusals = refusals_sorted(r);
    if !refusals.is_empty() {
        let _ = writeln!(out, "### Top refusals\n");
        let _ = writeln!(out, "| outcome:code | calls |");
        let _ = writeln!(out, "|---|---:|");
        for (name, n) in refusals.iter().take(TOP_REFUSALS) {
            let _ = writeln!(out, "| {} | {n} |", code(name));
        }
        if refusals.len() > TOP_REFUSALS {
            let _ = writeln!(out, "\n… and {} more codes.", refusals.len() - TOP_REFUSALS);
        }
        out.push('\n');
    }

    if !r.unexpected_samples.is_empty() {
        let _ = writeln!(out, "### Unexpected outcomes\n");
        let _ = writeln!(out, "| t (s) | tool | detail |");
        let _ = writeln!(out, "|---:|---|---|");
        for s in r.unexpected_samples.iter().take(SAMPLES) {
            let _ = writeln!(
                out,
                "| {:.1} | {} | {} |",
                s.t_s,
                code(&s.tool),
                cell(&s.detail)
            );
        }
        if r.unexpected_samples.len() > SAMPLES {
            let _ = writeln!(
                out,
                "\n… and {} more samples in results.json.",
                r.unexpected_samples.len() - SAMPLES
            );
        }
        out.push('\n');
    }

    if !report.notes.is_empty() {
        let _ = writeln!(out, "### Notes on reading the file\n");
        for n in &report.notes {
            let _ = writeln!(out, "- {}", cell(n));
        }
        out.push('\n');
    }
    strip_controls(&out)
}
