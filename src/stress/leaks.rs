//! Leak figures for long runs: how fast resident memory grows over the last hour, and the
//! open files and threads of the harness and the server at the start and at the end.
//!
//! A slope is fitted by least squares over the per-second series of the last hour. The
//! seconds during and just after a huge-score burst, and just after a restart, are left
//! out: memory rises there by design (a 50 MB parse, caches filling) and falls back. Across
//! restarts the fit is over the sawtooth as it is: a server killed every few minutes cannot
//! pile up a leak of its own, so the question over the hour is whether its level drifts
//! (shared state, the store, the harness). A fit within each life instead would read every
//! restart's warm-up as a leak: the first soak measured 430 MB/h that way while the median
//! of each server life stayed between 180 and 260 MB for two hours.

use std::collections::BTreeMap;

use crate::stress::recorder::{SeriesPoint, TimelineEvent};
use crate::sysmem;

/// The longest stretch at the end of a run the slopes are fitted over.
pub const WINDOW_MAX_S: u64 = 3600;
/// A run shorter than this has no slopes: too few minutes to tell growth from noise.
pub const RUN_MIN_S: u64 = 1200;
/// Seconds left out after a huge-score burst ends.
pub const AFTER_HUGE_S: f64 = 180.0;
/// Seconds left out after the server was killed or stopped.
pub const AFTER_RESTART_S: f64 = 60.0;

/// Chaos events after which the server is a new process.
const RESTARTS: [&str; 3] = ["kill_server", "term_server", "corrupt_disk"];

/// Open files and threads of the harness and of the server under test.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessCounts {
    pub harness_fds: u64,
    pub harness_threads: u64,
    pub server_fds: Option<u64>,
    pub server_threads: Option<u64>,
}

impl ProcessCounts {
    /// Counts now, for the harness and (when it runs) the server process `server`.
    pub fn now(server: Option<u32>) -> Self {
        let me = std::process::id();
        Self {
            harness_fds: sysmem::open_fds(me).unwrap_or(0),
            harness_threads: sysmem::threads(me).unwrap_or(0),
            server_fds: server.and_then(sysmem::open_fds),
            server_threads: server.and_then(sysmem::threads),
        }
    }

    /// The figures, each named `<process>_<what>_<when>` (`when`: start or end).
    pub fn figures(&self, when: &str, out: &mut BTreeMap<String, f64>) {
        out.insert(format!("harness_fds_{when}"), self.harness_fds as f64);
        out.insert(
            format!("harness_threads_{when}"),
            self.harness_threads as f64,
        );
        if let Some(n) = self.server_fds {
            out.insert(format!("server_fds_{when}"), n as f64);
        }
        if let Some(n) = self.server_threads {
            out.insert(format!("server_threads_{when}"), n as f64);
        }
    }
}

impl ProcessCounts {
    /// `<process>_<what>_growth`: how many more than at `start` (negative: fewer).
    pub fn growth_since(&self, start: &ProcessCounts, out: &mut BTreeMap<String, f64>) {
        let mut put = |name: &str, end: Option<u64>, start: Option<u64>| {
            if let (Some(e), Some(s)) = (end, start) {
                out.insert(format!("{name}_growth"), e as f64 - s as f64);
            }
        };
        put(
            "harness_fds",
            Some(self.harness_fds),
            Some(start.harness_fds),
        );
        put(
            "harness_threads",
            Some(self.harness_threads),
            Some(start.harness_threads),
        );
        put("server_fds", self.server_fds, start.server_fds);
        put("server_threads", self.server_threads, start.server_threads);
    }
}

/// Resident-memory slopes, in MB per hour, and the stretch they were fitted over.
#[derive(Clone, Debug, PartialEq)]
pub struct Slopes {
    pub server: f64,
    pub workers: f64,
    pub harness: f64,
    pub window_s: u64,
    /// Seconds of the window actually used (the rest fell after a burst or a restart).
    pub seconds_used: u64,
}

impl Slopes {
    pub fn figures(&self, out: &mut BTreeMap<String, f64>) {
        out.insert("server_rss_slope_mb_per_hour".into(), self.server);
        out.insert("workers_rss_slope_mb_per_hour".into(), self.workers);
        out.insert("harness_rss_slope_mb_per_hour".into(), self.harness);
        out.insert("leak_window_s".into(), self.window_s as f64);
        out.insert("leak_seconds_used".into(), self.seconds_used as f64);
    }
}

/// The slopes over the last hour of the series (the last half of a run under two hours),
/// or `None` when the run is too short or too little of the window is usable.
pub fn slopes(series: &[SeriesPoint], timeline: &[TimelineEvent]) -> Option<Slopes> {
    let end = series.last()?.t;
    if end < RUN_MIN_S {
        return None;
    }
    // `end` is the last second's start: the series covers end + 1 seconds.
    let window_s = WINDOW_MAX_S.min(end.div_ceil(2));
    let from = end + 1 - window_s;
    let bursts: Vec<(f64, f64)> = timeline
        .iter()
        .filter(|e| e.kind == "huge_scores")
        .map(|e| (e.start_s, e.end_s.unwrap_or(f64::MAX) + AFTER_HUGE_S))
        .collect();
    let restarts: Vec<f64> = timeline
        .iter()
        .filter(|e| RESTARTS.contains(&e.kind.as_str()))
        .map(|e| e.start_s)
        .collect();
    let usable = |t: f64| {
        !bursts.iter().any(|(s, e)| t >= *s && t <= *e)
            && !restarts.iter().any(|r| t >= *r && t <= r + AFTER_RESTART_S)
    };
    let mut points: Vec<(f64, &SeriesPoint)> = Vec::new();
    for p in series.iter().filter(|p| p.t >= from) {
        let t = p.t as f64;
        // A second with no sample of the server (it was down) says nothing.
        if !usable(t) || p.server_rss_mb <= 0.0 {
            continue;
        }
        points.push((t / 3600.0, p));
    }
    if (points.len() as u64) < window_s / 4 {
        return None;
    }
    let fit = |value: fn(&SeriesPoint) -> f64| slope(points.iter().map(|(x, p)| (*x, value(p))));
    Some(Slopes {
        server: fit(|p| p.server_rss_mb),
        workers: fit(|p| p.workers_rss_mb),
        harness: fit(|p| p.harness_rss_mb),
        window_s,
        seconds_used: points.len() as u64,
    })
}

/// The least-squares slope of `(x, y)` points.
fn slope(points: impl Iterator<Item = (f64, f64)> + Clone) -> f64 {
    let (mut n, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (x, y) in points.clone() {
        n += 1.0;
        sx += x;
        sy += y;
    }
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (sx / n, sy / n);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in points {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
    }
    if sxx > 0.0 {
        sxy / sxx
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: u64, server: f64, workers: f64, harness: f64) -> SeriesPoint {
        SeriesPoint {
            t,
            server_rss_mb: server,
            workers_rss_mb: workers,
            harness_rss_mb: harness,
            ..SeriesPoint::default()
        }
    }

    fn event(kind: &str, start: f64, end: f64) -> TimelineEvent {
        TimelineEvent {
            kind: kind.into(),
            start_s: start,
            end_s: Some(end),
            detail: String::new(),
        }
    }

    #[test]
    fn a_steady_leak_is_measured_in_mb_per_hour() {
        // 7,200 s; harness grows 10 MB/h, server flat, workers noisy around 300.
        let series: Vec<SeriesPoint> = (0..7200)
            .map(|t| {
                let noise = if t % 2 == 0 { 3.0 } else { -3.0 };
                point(t, 100.0, 300.0 + noise, 50.0 + t as f64 / 360.0)
            })
            .collect();
        let s = slopes(&series, &[]).expect("long enough");
        assert_eq!(s.window_s, 3600, "the last hour of a series of 7,200 s");
        assert!((s.harness - 10.0).abs() < 0.01, "{s:?}");
        assert!(s.server.abs() < 0.01 && s.workers.abs() < 0.5, "{s:?}");
    }

    #[test]
    fn a_restart_warm_up_is_no_leak_but_a_drifting_level_is() {
        // The server warms up by 20 MB in each 5-minute life, from the same level each time:
        // no leak over the hour.
        let kills: Vec<TimelineEvent> = (1..24)
            .map(|k| event("kill_server", k as f64 * 300.0, k as f64 * 300.0 + 1.0))
            .collect();
        let warm = |t: u64| (t % 300) as f64 * 20.0 / 300.0;
        let series: Vec<SeriesPoint> = (0..7200)
            .map(|t| point(t, 120.0 + warm(t), 300.0, 50.0))
            .collect();
        let s = slopes(&series, &kills).expect("long enough");
        assert!(s.server.abs() < 5.0, "{s:?}");
        assert!(
            s.seconds_used < 3600,
            "the minute after each restart is left out"
        );
        // The same, each life starting 30 MB/h higher than the last: the drift shows.
        let series: Vec<SeriesPoint> = (0..7200)
            .map(|t| {
                let life_start = (t - t % 300) as f64;
                point(t, 120.0 + warm(t) + life_start * 30.0 / 3600.0, 300.0, 50.0)
            })
            .collect();
        let s = slopes(&series, &kills).expect("long enough");
        assert!((s.server - 30.0).abs() < 5.0, "{s:?}");
    }

    #[test]
    fn huge_score_bursts_are_left_out() {
        // Flat, but each burst lifts workers by 2 GB for its minute and the decay after.
        let bursts: Vec<TimelineEvent> = (0..12)
            .map(|k| {
                event(
                    "huge_scores",
                    k as f64 * 600.0 + 100.0,
                    k as f64 * 600.0 + 160.0,
                )
            })
            .collect();
        let series: Vec<SeriesPoint> = (0..7200)
            .map(|t| {
                let inside = bursts
                    .iter()
                    .any(|b| t as f64 >= b.start_s && t as f64 <= b.end_s.unwrap_or(0.0) + 120.0);
                point(t, 100.0, if inside { 2300.0 } else { 300.0 }, 50.0)
            })
            .collect();
        let s = slopes(&series, &bursts).expect("long enough");
        assert!(s.workers.abs() < 0.01, "{s:?}");
    }

    #[test]
    fn short_runs_have_no_slopes() {
        let series: Vec<SeriesPoint> = (0..600).map(|t| point(t, 1.0, 1.0, 1.0)).collect();
        assert_eq!(slopes(&series, &[]), None);
        assert_eq!(slopes(&[], &[]), None);
    }

    #[test]
    fn this_process_has_files_and_threads() {
        let c = ProcessCounts::now(Some(std::process::id()));
        assert!(c.harness_fds >= 3 && c.harness_threads >= 1, "{c:?}");
        assert!(
            c.server_fds.is_some() && c.server_threads.is_some(),
            "{c:?}"
        );
        let mut out = BTreeMap::new();
        c.figures("end", &mut out);
        assert!(out.contains_key("harness_fds_end") && out.contains_key("server_threads_end"));
    }
}
