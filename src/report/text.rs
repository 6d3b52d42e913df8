//! The report for a terminal: the verdict, the verdict table, key figures, recoveries, the
//! checker and the commonest refusals. Control characters from the file are replaced.

use std::fmt::Write as _;

use super::{
    fmt_ms, fmt_secs, key_figures, outcome_order, recovery_threshold, recovery_too_slow,
    refusals_sorted, run_line, strip_controls, verdict_summary, verdict_word, Report,
};
use crate::stress::results::verdict_table;

const TOP_REFUSALS: usize = 10;
const SAMPLES: usize = 5;

pub fn render(report: &Report) -> String {
    let r = &report.results;
    let mut out = String::new();
    let _ = writeln!(out, "music21-prod stress report");
    let _ = writeln!(out, "  {}", run_line(report));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "VERDICT: {}  ({})",
        verdict_word(r),
        verdict_summary(r)
    );
    let _ = writeln!(out);
    if r.thresholds.is_empty() {
        let _ = writeln!(out, "no thresholds in the results");
    } else {
        out.push_str(&verdict_table(&r.thresholds));
    }
    for t in r
        .thresholds
        .iter()
        .filter(|t| t.value.is_none() && report.non_finite_figures.contains(&t.name))
    {
        let _ = writeln!(out, "  ({}: the figure is not finite)", t.name);
    }

    let figures = key_figures(report);
    if !figures.is_empty() {
        let _ = writeln!(out, "\nKey figures");
        for (name, label, value) in figures {
            let _ = writeln!(out, "  {label:<34} {value:>14}   {name}");
        }
    }

    if !r.outcomes.is_empty() {
        let total: u64 = r.outcomes.values().sum();
        let _ = writeln!(out, "\nOutcomes");
        for name in outcome_order(r.outcomes.keys()) {
            let n = r.outcomes[name];
            let share = if total > 0 {
                100.0 * n as f64 / total as f64
            } else {
                0.0
            };
            let _ = writeln!(out, "  {name:<34} {n:>14}   {share:6.2} %");
        }
    }

    let _ = writeln!(
        out,
        "\nRecoveries (kill to ready, kill to first successful call)"
    );
    if r.recoveries.is_empty() {
        let _ = writeln!(out, "  none");
    } else {
        let threshold = recovery_threshold(r);
        let _ = writeln!(
            out,
            "  {:<14} {:>9} {:>12} {:>15}",
            "kind", "at s", "ready s", "first success s"
        );
        for rec in &r.recoveries {
            let slow = recovery_too_slow(rec, threshold.as_ref());
            let _ = writeln!(
                out,
                "  {:<14} {:>9.1} {:>12} {:>15}{}",
                rec.kind,
                rec.at_s,
                fmt_secs(rec.ready_after_s),
                fmt_secs(rec.first_success_after_s),
                if slow { "  SLOW" } else { "" }
            );
        }
    }

    let c = &r.checker;
    let _ = writeln!(out, "\nChecker (every acknowledged score read back)");
    let _ = writeln!(
        out,
        "  acknowledged {}, deleted {}, maybe deleted {}, evicted {}, checked {}, ok {}",
        c.acknowledged, c.deleted, c.maybe_deleted, c.evicted, c.checked, c.ok
    );
    let _ = writeln!(
        out,
        "  lost {}, silently corrupted {}, corrupted and detected {}, unreadable {}",
        c.lost, c.silently_corrupted, c.corrupted_detected, c.unreadable
    );
    if !c.problems.is_empty() {
        let _ = writeln!(out, "  problems:");
        for p in &c.problems {
            let _ = writeln!(out, "    - {p}");
        }
    }

    let refusals = refusals_sorted(r);
    if !refusals.is_empty() {
        let _ = writeln!(out, "\nTop refusals (outcome:code)");
        for (code, n) in refusals.iter().take(TOP_REFUSALS) {
            let _ = writeln!(out, "  {code:<44} {n:>10}");
        }
        if refusals.len() > TOP_REFUSALS {
            let _ = writeln!(
                out,
                "  ... and {} more codes",
                refusals.len() - TOP_REFUSALS
            );
        }
    }

    if !r.unexpected_samples.is_empty() {
        let _ = writeln!(
            out,
            "\nUnexpected outcomes (first {} of {} samples)",
            SAMPLES.min(r.unexpected_samples.len()),
            r.unexpected_samples.len()
        );
        for s in r.unexpected_samples.iter().take(SAMPLES) {
            let _ = writeln!(out, "  {:>8.1} s  {}: {}", s.t_s, s.tool, s.detail);
        }
    }

    if let Some((tool, outcome, p99)) = slowest(report) {
        let _ = writeln!(out, "\nSlowest p99: {tool} ({outcome}) {} ms", fmt_ms(p99));
    }
    let _ = writeln!(out, "\nChaos and adversary events: {}", r.timeline.len());
    if !r.adversaries.is_empty() {
        let f = &r.fairness;
        let _ = writeln!(
            out,
            "\nAdversaries (users beside them: {} calls, {} succeeded; p99 {} ms, {} ms outside)",
            f.victim_calls,
            f.victim_success,
            fmt_ms(f.inside.p99_ms),
            fmt_ms(f.outside.p99_ms)
        );
        for a in &r.adversaries {
            let _ = writeln!(
                out,
                "  {:>7.1} s  {:<16} {} tried, {} refused, {} served, {} misbehaved; {}",
                a.start_s, a.kind, a.attempts, a.refused, a.served, a.misbehaved, a.detail
            );
        }
    }

    if !report.notes.is_empty() {
        let _ = writeln!(out, "\nNotes on reading the file");
        for n in &report.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    strip_controls(&out)
}

/// The tool and outcome with the highest p99 latency.
fn slowest(report: &Report) -> Option<(&str, &str, f64)> {
    report
        .results
        .latency
        .iter()
        .flat_map(|(tool, by)| {
            by.iter()
                .map(move |(o, s)| (tool.as_str(), o.as_str(), s.p99_ms))
        })
        .filter(|(_, _, p)| p.is_finite())
        .max_by(|a, b| a.2.total_cmp(&b.2))
}
