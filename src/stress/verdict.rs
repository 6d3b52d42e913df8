//! The figures a run is judged on: those the dashboard also shows, then the ones only the
//! end of the run knows (kills, memory peaks, the adversaries' tally, the huge scores, the
//! leak figures).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use crate::config::stress::AdversaryAction;
use crate::stress::checker::CheckerReport;
use crate::stress::ctx::RunCtx;
use crate::stress::leaks::{self, ProcessCounts};
use crate::stress::recorder::Outcome;

/// How the server stood at the end, for the figures.
pub(super) struct AtEnd {
    pub(super) ready: bool,
    pub(super) breakers_closed: bool,
    /// The budget the server under test enforced (its effective config).
    pub(super) memory_budget_mb: Option<f64>,
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The figures the thresholds judge: those the dashboard also shows (`wire::figures`), then
/// the ones only the end of the run knows.
pub(super) fn figures(
    ctx: &RunCtx,
    checker: &CheckerReport,
    at_end: &AtEnd,
) -> BTreeMap<String, f64> {
    let r = &ctx.recorder;
    let counts = r.counts();
    let get = |o: Outcome| counts.get(&o).copied().unwrap_or(0) as f64;
    let (peak_server, peak_total) = r.peak_rss_mb();
    let success_lat = r.success_latency();
    let mut figures = crate::wire::figures(&crate::wire::RunSoFar {
        success: get(Outcome::Success),
        expected_refusal: get(Outcome::ExpectedRefusal),
        fault_induced: get(Outcome::FaultInduced),
        unexpected: get(Outcome::Unexpected),
        recoveries: r
            .recoveries()
            .iter()
            .map(|rec| rec.first_success_after_s)
            .collect(),
        server_restarts: ctx.server.restarts() as f64,
        users: ctx.config.users as f64,
        elapsed_s: ctx.start.elapsed().as_secs_f64(),
        checker: Some(checker.figures()),
    });
    let mut put = |k: &str, v: f64| {
        figures.insert(k.to_string(), v);
    };
    put("server_kills", ctx.kills.load(Ordering::SeqCst) as f64);
    put("server_rss_mb_max", peak_server);
    put("server_and_workers_rss_mb_max", peak_total);
    put("harness_rss_mb_max", r.peak_harness_rss_mb());
    // For the memory chart.
    if let Some(mb) = at_end.memory_budget_mb {
        put("memory_budget_mb", mb);
    }
    put("breakers_closed_at_end", flag(at_end.breakers_closed));
    put("ready_at_end", flag(at_end.ready));
    put(
        "fault_kinds_injected",
        crate::wire::fault::kinds_injected(
            ctx.windows.kinds_injected().iter().map(String::as_str),
            r.timeline().iter().map(|e| e.kind.as_str()),
        ) as f64,
    );
    if !ctx.config.adversaries.is_empty() {
        adversary_figures(ctx, &mut put);
    }
    if let Some(budget) = at_end.memory_budget_mb {
        put("rss_within_budget", flag(peak_total <= budget));
    }
    put("p50_ms", success_lat.p50_ms);
    put("p99_ms", success_lat.p99_ms);
    if r.timeline().iter().any(|e| e.kind == "huge_scores") {
        for (k, v) in ctx.huge.figures() {
            put(k, v);
        }
    }
    leak_figures(ctx, &mut figures);
    figures
}

/// The resident-memory slopes of a long run, and open files and threads at the start and
/// at the end (see `stress::leaks`).
fn leak_figures(ctx: &RunCtx, figures: &mut BTreeMap<String, f64>) {
    if let Some(slopes) = leaks::slopes(&ctx.recorder.series(), &ctx.recorder.timeline()) {
        slopes.figures(figures);
    }
    let start = *ctx
        .resources_at_start
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let end = ctx
        .resources_at_end
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .unwrap_or_else(|| ProcessCounts::now(ctx.server.pid()));
    end.figures("end", figures);
    if let Some(start) = start {
        start.figures("start", figures);
        end.growth_since(&start, figures);
    }
}

/// The fairness figures (what the normal users saw while the adversaries ran) and the
/// adversaries' own tally.
fn adversary_figures(ctx: &RunCtx, put: &mut impl FnMut(&str, f64)) {
    let fairness = ctx.recorder.fairness();
    put("victim_calls", fairness.victim_calls as f64);
    put(
        "victim_unexpected",
        (fairness.victim_calls - fairness.victim_success) as f64,
    );
    if fairness.victim_calls > 0 {
        put(
            "victim_success_rate",
            fairness.victim_success as f64 / fairness.victim_calls as f64,
        );
    }
    if fairness.inside.count > 0 && fairness.outside.count > 0 {
        put("victim_p99_ms", fairness.inside.p99_ms);
        put("outside_p99_ms", fairness.outside.p99_ms);
        put(
            "victim_p99_ratio",
            fairness.inside.p99_ms / fairness.outside.p99_ms.max(0.001),
        );
    }
    if ctx
        .config
        .adversaries
        .iter()
        .any(|a| matches!(a.action, AdversaryAction::Garbage { .. }))
    {
        put(
            "breakers_opened_by_garbage",
            ctx.breakers_opened_by_garbage.load(Ordering::SeqCst) as f64,
        );
    }
    let reports = ctx.adversary_reports();
    let mut kinds: Vec<&str> = reports.iter().map(|a| a.kind.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    put("adversary_kinds", kinds.len() as f64);
    put(
        "adversary_misbehaved",
        reports.iter().map(|a| a.misbehaved).sum::<u64>() as f64,
    );
}
