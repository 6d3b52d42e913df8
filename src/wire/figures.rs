//! The run figures that both the verdict (`stress::run`) and the dashboard's thresholds
//! (`monitor::sample`) show, computed once so that the two cannot disagree.

use std::collections::BTreeMap;

/// A recovery that never came counts as the prober's whole limit (JSON has no infinity);
/// `stress::nemesis` gives up on a recovery after this long.
pub const RECOVERY_LIMIT_S: f64 = 60.0;

/// What the checker found, as the figures name it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CheckerFigures {
    pub lost: f64,
    pub silently_corrupted: f64,
    pub corrupted_detected: f64,
    pub unreadable: f64,
    pub acknowledged: f64,
    pub checked_ok: f64,
}

/// A run as far as it has gone: enough for the figures both ends show.
#[derive(Clone, Debug, Default)]
pub struct RunSoFar {
    pub success: f64,
    pub expected_refusal: f64,
    pub fault_induced: f64,
    pub unexpected: f64,
    /// Each recovery's time to the first successful call; `None` when it never came.
    pub recoveries: Vec<Option<f64>>,
    pub server_restarts: f64,
    pub users: f64,
    pub elapsed_s: f64,
    /// Once the checker has reported.
    pub checker: Option<CheckerFigures>,
}

/// The figures of [`RunSoFar`], by the names thresholds use.
pub fn figures(run: &RunSoFar) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: f64| {
        out.insert(k.to_string(), v);
    };
    let RunSoFar {
        success,
        expected_refusal,
        fault_induced,
        unexpected,
        ..
    } = *run;
    put(
        "calls",
        success + expected_refusal + fault_induced + unexpected,
    );
    put("success", success);
    put("expected_refusal", expected_refusal);
    put("fault_induced", fault_induced);
    put("unexpected", unexpected);
    put(
        "success_rate_excluding_faults",
        if success + unexpected > 0.0 {
            success / (success + unexpected)
        } else {
            0.0
        },
    );
    put(
        "recovery_seconds_max",
        run.recoveries
            .iter()
            .map(|r| r.unwrap_or(RECOVERY_LIMIT_S))
            .fold(0.0, f64::max),
    );
    put("recoveries", run.recoveries.len() as f64);
    put("server_restarts", run.server_restarts);
    put("users", run.users);
    put("requests_per_second", success / run.elapsed_s.max(0.001));
    if let Some(c) = run.checker {
        put("lost", c.lost);
        put("silently_corrupted", c.silently_corrupted);
        put("corrupted_detected", c.corrupted_detected);
        put("unreadable", c.unreadable);
        put("acknowledged", c.acknowledged);
        put("checked_ok", c.checked_ok);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovery_that_never_came_counts_as_the_limit() {
        let run = RunSoFar {
            success: 9.0,
            unexpected: 1.0,
            recoveries: vec![Some(1.5), None],
            elapsed_s: 3.0,
            ..Default::default()
        };
        let f = figures(&run);
        assert_eq!(f["recovery_seconds_max"], RECOVERY_LIMIT_S);
        assert_eq!(f["recoveries"], 2.0);
        assert_eq!(f["success_rate_excluding_faults"], 0.9);
        assert_eq!(f["requests_per_second"], 3.0);
        assert!(
            !f.contains_key("lost"),
            "no checker figures before the check"
        );
    }

    #[test]
    fn no_calls_is_a_success_rate_of_zero() {
        let f = figures(&RunSoFar::default());
        assert_eq!(f["success_rate_excluding_faults"], 0.0);
        assert_eq!(f["recovery_seconds_max"], 0.0);
    }
}
