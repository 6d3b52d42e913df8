//! The report for a terminal: the verdict, the verdict table, key figures, recoveries, the
//! checker and the commonest refusals. Control characters from the file are replaced.

use std::fmt::Write as _;

use super::escape::strip_controls;
use super::sections::Sections;
use crate::stress::results::verdict_table;

const TOP_REFUSALS: usize = 10;
const SAMPLES: usize = 5;

pub fn render(s: &Sections) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "music21-prod stress report");
    let _ = writeln!(out, "  {}", s.run_line);
    let _ = writeln!(out);
    let _ = writeln!(out, "VERDICT: {}  ({})", s.verdict.word, s.verdict.summary);
    let _ = writeln!(out);
    thresholds(&mut out, s);
    figures(&mut out, s);
    outcomes(&mut out, s);
    recoveries(&mut out, s);
    checker(&mut out, s);
    refusals(&mut out, s);
    samples(&mut out, s);
    if let Some(slowest) = &s.slowest {
        let _ = writeln!(
            out,
            "\nSlowest p99: {} ({}) {} ms",
            slowest.tool, slowest.outcome, slowest.p99
        );
    }
    let _ = writeln!(out, "\nChaos and adversary events: {}", s.timeline.len());
    adversaries(&mut out, s);
    deployment(&mut out, s);
    if !s.notes.is_empty() {
        let _ = writeln!(out, "\nNotes on reading the file");
        for n in s.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    strip_controls(&out)
}

fn thresholds(out: &mut String, s: &Sections) {
    if s.thresholds.rows.is_empty() {
        let _ = writeln!(out, "no thresholds in the results");
    } else {
        out.push_str(&verdict_table(s.thresholds.judged));
    }
    for t in s.thresholds.rows.iter().filter(|t| t.non_finite) {
        let _ = writeln!(out, "  ({}: the figure is not finite)", t.name);
    }
}

fn figures(out: &mut String, s: &Sections) {
    if s.figures.key.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nKey figures");
    for f in &s.figures.key {
        let _ = writeln!(out, "  {:<34} {:>14}   {}", f.label, f.value, f.name);
    }
}

fn outcomes(out: &mut String, s: &Sections) {
    if s.outcomes.rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nOutcomes");
    for o in &s.outcomes.rows {
        let _ = writeln!(out, "  {:<34} {:>14}   {:6.2} %", o.name, o.calls, o.share);
    }
}

fn recoveries(out: &mut String, s: &Sections) {
    let _ = writeln!(
        out,
        "\nRecoveries (kill to ready, kill to first successful call)"
    );
    if s.recoveries.rows.is_empty() {
        let _ = writeln!(out, "  none");
        return;
    }
    let _ = writeln!(
        out,
        "  {:<14} {:>9} {:>12} {:>15}",
        "kind", "at s", "ready s", "first success s"
    );
    for rec in &s.recoveries.rows {
        let _ = writeln!(
            out,
            "  {:<14} {:>9.1} {:>12} {:>15}{}",
            rec.kind,
            rec.at_s,
            rec.ready_after,
            rec.first_success_after,
            if rec.slow { "  SLOW" } else { "" }
        );
    }
}

fn checker(out: &mut String, s: &Sections) {
    let c = s.checker;
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
}

fn refusals(out: &mut String, s: &Sections) {
    if s.refusals.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nTop refusals (outcome:code)");
    for (code, n) in s.refusals.iter().take(TOP_REFUSALS) {
        let _ = writeln!(out, "  {code:<44} {n:>10}");
    }
    if s.refusals.len() > TOP_REFUSALS {
        let _ = writeln!(
            out,
            "  ... and {} more codes",
            s.refusals.len() - TOP_REFUSALS
        );
    }
}

fn samples(out: &mut String, s: &Sections) {
    let samples = s.unexpected_samples;
    if samples.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nUnexpected outcomes (first {} of {} samples)",
        SAMPLES.min(samples.len()),
        samples.len()
    );
    for x in samples.iter().take(SAMPLES) {
        let _ = writeln!(out, "  {:>8.1} s  {}: {}", x.t_s, x.tool, x.detail);
    }
}

fn adversaries(out: &mut String, s: &Sections) {
    let Some(a) = &s.adversaries else { return };
    let _ = writeln!(
        out,
        "\nAdversaries (users beside them: {} calls, {} succeeded; p99 {} ms, {} ms outside)",
        a.victim_calls, a.victim_success, a.inside_p99, a.outside_p99
    );
    if !a.beside_each.is_empty() {
        let each: Vec<String> = a.beside_each.iter().map(|b| b.describe()).collect();
        let _ = writeln!(out, "  users beside each kind: {}", each.join(", "));
    }
    for w in a.windows {
        let _ = writeln!(
            out,
            "  {:>7.1} s  {:<16} {} tried, {} refused, {} served, {} misbehaved; {}",
            w.start_s, w.kind, w.attempts, w.refused, w.served, w.misbehaved, w.detail
        );
    }
}

fn deployment(out: &mut String, s: &Sections) {
    let Some(d) = &s.deployment else { return };
    let _ = writeln!(out, "\nDeployment under test");
    for r in d.replicas {
        let _ = writeln!(
            out,
            "  {:<10} {:>20} calls, {} kills, {} terms, {} database cuts, {}  {}",
            r.name,
            super::sections::replica_requests(r),
            r.kills,
            r.terms,
            r.db_cuts,
            if r.ready_at_end { "ready" } else { "NOT READY" },
            r.url
        );
    }
    for (name, value) in &d.cross_replica {
        let _ = writeln!(out, "  {name} = {value}");
    }
    for sample in d.cross_replica_samples {
        let _ = writeln!(out, "  across replicas: {sample}");
    }
    for (kind, why) in d.skipped {
        let _ = writeln!(out, "  skipped {kind}: {why}");
    }
}
