//! What the dashboard remembers between samples: the trailing history for the charts (one
//! point per poll, 1 s apart by default), rates from counter deltas, windowed latency
//! percentiles from histogram bucket deltas, a log of changes, and the alerts (deduplicated).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use crate::monitor::sample::{bucket_delta, counter_delta, percentiles_ms, ServerSample};

/// How much history the charts keep, in milliseconds.
pub const HISTORY_MS: u64 = 600_000;
/// The window of the latency percentiles and per-tool rates, in milliseconds.
pub const LATENCY_WINDOW_MS: u64 = 10_000;
/// Resolved alerts kept for the events view.
const RESOLVED_KEPT: usize = 50;
/// Lines of the change log kept.
const EVENTS_KEPT: usize = 200;

/// One point of the traffic chart.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Point {
    pub t_ms: u64,
    pub rps: f64,
    pub ok_ps: f64,
    pub errors_ps: f64,
    /// ok / all calls in the interval; `None` when there were none.
    pub success_rate: Option<f64>,
    pub in_flight: f64,
    pub queue_depth: f64,
    pub memory_bytes: f64,
}

/// Per tool, over the trailing window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ToolWindow {
    pub rps: f64,
    pub errors_ps: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// The percentiles cover the trailing window (false: the server's lifetime, because
    /// only one sample exists or nothing was called in the window).
    pub windowed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warn",
            Severity::Critical => "CRIT",
        }
    }
}

/// A condition worth a look. One per key however long it lasts; a condition that clears and
/// comes back is the same alert again (`count` goes up).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    pub key: String,
    pub severity: Severity,
    pub message: String,
    pub first_unix_ms: u64,
    /// Last seen (while active) or when it cleared.
    pub last_unix_ms: u64,
    pub count: u32,
    pub active: bool,
}

/// A change seen between two samples (breaker transitions, restarts, kills, ...).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub unix_ms: u64,
    pub severity: Severity,
    pub text: String,
}

/// A condition found in one sample: key, severity, message.
type Condition = (String, Severity, String);

/// One tool at one moment: calls, errors, cumulative latency buckets.
type ToolCounters = (f64, f64, Vec<(f64, f64)>);

struct Snapshot {
    t_ms: u64,
    tools: BTreeMap<String, ToolCounters>,
    requests_total: f64,
}

#[derive(Default)]
pub struct DashboardState {
    /// The latest sample, reachable or not.
    pub last: Option<ServerSample>,
    /// The latest sample of a reachable server: its figures stay on screen while it is not.
    pub last_good: Option<ServerSample>,
    pub points: VecDeque<Point>,
    pub tools: BTreeMap<String, ToolWindow>,
    pub alerts: Vec<Alert>,
    pub events: VecDeque<Event>,
    pub polls: u64,
    /// Failed polls in a row (server unreachable).
    pub failures_in_a_row: u64,
    /// When the server last answered.
    pub last_ok_unix_ms: Option<u64>,
    snapshots: VecDeque<Snapshot>,
    last_unexpected_rise_ms: Option<u64>,
    prev_unexpected: Option<f64>,
}

impl DashboardState {
    pub fn new() -> Self {
        Self::default()
    }

    /// The sample whose figures are shown (the last good one while the server is down).
    pub fn shown(&self) -> Option<&ServerSample> {
        self.last_good.as_ref().or(self.last.as_ref())
    }

    pub fn reachable(&self) -> bool {
        self.last.as_ref().is_some_and(|s| s.server.reachable)
    }

    pub fn active_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(|a| a.active)
    }

    /// Takes in one sample.
    pub fn ingest(&mut self, sample: ServerSample) {
        self.polls += 1;
        let now = sample.taken_unix_ms;
        if sample.server.reachable {
            self.failures_in_a_row = 0;
            self.last_ok_unix_ms = Some(now);
            if let Some(prev) = self.last_good.take() {
                self.compare(&prev, &sample);
            }
            self.window(&sample);
            self.last_good = Some(sample.clone());
        } else {
            self.failures_in_a_row += 1;
        }
        let conditions = self.conditions(&sample);
        self.reconcile(now, conditions);
        self.last = Some(sample);
        while self
            .points
            .front()
            .is_some_and(|p| p.t_ms + HISTORY_MS < now)
        {
            self.points.pop_front();
        }
    }

    fn log(&mut self, unix_ms: u64, severity: Severity, text: String) {
        self.events.push_back(Event {
            unix_ms,
            severity,
            text,
        });
        while self.events.len() > EVENTS_KEPT {
            self.events.pop_front();
        }
    }

    /// Rates and changes from the previous good sample to this one.
    fn compare(&mut self, prev: &ServerSample, cur: &ServerSample) {
        let now = cur.taken_unix_ms;
        let dt = now.saturating_sub(prev.taken_unix_ms) as f64 / 1000.0;
        let (pt, ct) = (&prev.traffic, &cur.traffic);
        if dt > 0.0 {
            let calls = counter_delta(ct.requests_total, pt.requests_total);
            let ok = counter_delta(ct.ok_total, pt.ok_total);
            let errors = counter_delta(ct.errors_total, pt.errors_total);
            self.points.push_back(Point {
                t_ms: now,
                rps: calls / dt,
                ok_ps: ok / dt,
                errors_ps: errors / dt,
                success_rate: (calls > 0.0).then(|| ok / calls),
                in_flight: ct.in_flight,
                queue_depth: ct.queue_depth,
                memory_bytes: cur.memory.total_bytes,
            });
        }
        if let (Some(before), Some(after)) = (prev.server.uptime_s, cur.server.uptime_s) {
            if after + 1.0 < before {
                self.log(
                    now,
                    Severity::Warning,
                    format!("server restarted (up {after:.0} s)"),
                );
            }
        }
        for (tool, b) in &cur.breakers {
            let was = prev
                .breakers
                .get(tool)
                .map(|b| b.state.as_str())
                .unwrap_or("closed");
            if was != b.state {
                let sev = if b.state == "open" {
                    Severity::Warning
                } else {
                    Severity::Info
                };
                self.log(now, sev, format!("breaker {tool}: {was} -> {}", b.state));
            }
        }
        let (pw, cw) = (&prev.workers, &cur.workers);
        for (reason, n) in &cw.restarts_by_reason {
            let d = counter_delta(
                *n,
                pw.restarts_by_reason.get(reason).copied().unwrap_or(0.0),
            );
            if d > 0.0 {
                self.log(
                    now,
                    Severity::Info,
                    format!("worker restarted x{d:.0} ({reason})"),
                );
            }
        }
        for (reason, n) in &cw.kills_by_reason {
            let d = counter_delta(*n, pw.kills_by_reason.get(reason).copied().unwrap_or(0.0));
            if d > 0.0 {
                self.log(
                    now,
                    Severity::Warning,
                    format!("worker killed x{d:.0} ({reason})"),
                );
            }
        }
        let evicted = counter_delta(cur.store.evictions_total, prev.store.evictions_total);
        if evicted > 0.0 {
            self.log(
                now,
                Severity::Info,
                format!("store evicted {evicted:.0} scores"),
            );
        }
        if let (Some(a), Some(b)) = (&prev.memory.pressure, &cur.memory.pressure) {
            if a != b {
                let sev = if b == "normal" {
                    Severity::Info
                } else {
                    Severity::Warning
                };
                self.log(now, sev, format!("memory pressure {a} -> {b}"));
            }
        }
    }

    /// Per-tool rates and percentiles over the trailing window.
    fn window(&mut self, cur: &ServerSample) {
        let now = cur.taken_unix_ms;
        // A restarted server starts its counters again: forget the older snapshots.
        if self
            .snapshots
            .back()
            .is_some_and(|s| cur.traffic.requests_total < s.requests_total)
        {
            self.snapshots.clear();
        }
        self.snapshots.push_back(Snapshot {
            t_ms: now,
            tools: cur
                .tools
                .iter()
                .map(|(t, s)| (t.clone(), (s.requests, s.errors, s.buckets.clone())))
                .collect(),
            requests_total: cur.traffic.requests_total,
        });
        while self.snapshots.len() > 1 && self.snapshots[1].t_ms + LATENCY_WINDOW_MS <= now {
            self.snapshots.pop_front();
        }
        let base = &self.snapshots[0];
        let dt = now.saturating_sub(base.t_ms) as f64 / 1000.0;
        let mut tools = BTreeMap::new();
        for (tool, s) in &cur.tools {
            let mut w = ToolWindow::default();
            let old = base.tools.get(tool);
            if dt > 0.0 {
                let (r0, e0) = old.map(|o| (o.0, o.1)).unwrap_or((0.0, 0.0));
                w.rps = counter_delta(s.requests, r0) / dt;
                w.errors_ps = counter_delta(s.errors, e0) / dt;
                let delta = match old {
                    Some(o) => bucket_delta(&s.buckets, &o.2),
                    None => s.buckets.clone(),
                };
                if let Some([p50, p95, p99]) = percentiles_ms(&delta) {
                    w.windowed = true;
                    (w.p50_ms, w.p95_ms, w.p99_ms) = (Some(p50), Some(p95), Some(p99));
                }
            }
            if !w.windowed {
                w.p50_ms = s.p50_ms;
                w.p95_ms = s.p95_ms;
                w.p99_ms = s.p99_ms;
            }
            tools.insert(tool.clone(), w);
        }
        self.tools = tools;
    }

    /// Everything wrong in this sample.
    fn conditions(&mut self, s: &ServerSample) -> Vec<Condition> {
        let mut out: Vec<Condition> = Vec::new();
        let now = s.taken_unix_ms;
        if !s.server.reachable {
            out.push((
                "server_unreachable".into(),
                Severity::Critical,
                format!(
                    "server {} unreachable: {}",
                    s.server.url,
                    s.server.error.as_deref().unwrap_or("no answer")
                ),
            ));
        } else {
            if let Some(e) = &s.server.error {
                out.push((
                    "server_error".into(),
                    Severity::Warning,
                    format!("server answers badly: {e}"),
                ));
            }
            if s.server.status.as_deref() == Some("unhealthy") {
                let why = if s.server.problems.is_empty() {
                    String::new()
                } else {
                    format!(": {}", s.server.problems.join("; "))
                };
                out.push((
                    "server_unhealthy".into(),
                    Severity::Critical,
                    format!("server unhealthy{why}"),
                ));
            }
            for (tool, b) in &s.breakers {
                match b.state.as_str() {
                    "open" => out.push((
                        format!("breaker:{tool}"),
                        Severity::Warning,
                        format!("breaker open: {tool}"),
                    )),
                    "half_open" => out.push((
                        format!("breaker:{tool}"),
                        Severity::Info,
                        format!("breaker half-open (probing): {tool}"),
                    )),
                    _ => {}
                }
            }
            let m = &s.memory;
            let over = |limit: Option<f64>| limit.is_some_and(|l| l > 0.0 && m.total_bytes >= l);
            let gib = |b: f64| b / 1024.0 / 1024.0 / 1024.0;
            if m.pressure.as_deref() == Some("hard") || over(m.hard_limit_bytes) {
                out.push((
                    "memory".into(),
                    Severity::Critical,
                    format!(
                        "memory over the hard limit: {:.2} of {:.2} GiB budget",
                        gib(m.total_bytes),
                        gib(m.budget_bytes)
                    ),
                ));
            } else if m.pressure.as_deref() == Some("soft") || over(m.soft_limit_bytes) {
                out.push((
                    "memory".into(),
                    Severity::Warning,
                    format!(
                        "memory over the soft limit: {:.2} of {:.2} GiB budget",
                        gib(m.total_bytes),
                        gib(m.budget_bytes)
                    ),
                ));
            }
            let w = &s.workers;
            if w.size > 0.0 && w.up < w.size {
                let sev = if w.up == 0.0 {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                out.push((
                    "workers".into(),
                    sev,
                    format!("workers down: {:.0} of {:.0} up", w.up, w.size),
                ));
            }
        }
        if let Some(sys) = &s.system {
            if sys.total_bytes > 0 && (sys.available_bytes as f64) < 0.05 * sys.total_bytes as f64 {
                out.push((
                    "system_memory".into(),
                    Severity::Warning,
                    format!(
                        "system memory low: {} MB available",
                        sys.available_bytes / 1024 / 1024
                    ),
                ));
            }
        }
        if let Some(st) = &s.stress {
            if !st.reachable {
                out.push((
                    "stress_unreachable".into(),
                    Severity::Warning,
                    format!(
                        "stress status {} unreachable: {}",
                        st.source,
                        st.error.as_deref().unwrap_or("no answer")
                    ),
                ));
            } else {
                let unexpected = st.outcome("unexpected");
                if self.prev_unexpected.is_some_and(|p| unexpected > p) {
                    self.last_unexpected_rise_ms = Some(now);
                }
                self.prev_unexpected = Some(unexpected);
                if self
                    .last_unexpected_rise_ms
                    .is_some_and(|t| now.saturating_sub(t) < LATENCY_WINDOW_MS)
                {
                    out.push((
                        "unexpected".into(),
                        Severity::Critical,
                        format!("unexpected outcomes rising: {unexpected:.0} so far"),
                    ));
                }
                let done = st.phase == "done";
                for t in &st.thresholds {
                    if t.pass == Some(false) {
                        out.push((
                            format!("threshold:{}", t.name),
                            if done {
                                Severity::Critical
                            } else {
                                Severity::Warning
                            },
                            format!(
                                "threshold failing: {} {} (now {})",
                                t.name,
                                t.expression,
                                t.value
                                    .map(|v| format!("{v:.4}"))
                                    .unwrap_or_else(|| "?".into())
                            ),
                        ));
                    }
                }
            }
        }
        out
    }

    /// Merges this sample's conditions into the alert list: one alert per key.
    fn reconcile(&mut self, now: u64, conditions: Vec<Condition>) {
        let keys: BTreeSet<String> = conditions.iter().map(|c| c.0.clone()).collect();
        for (key, severity, message) in conditions {
            match self.alerts.iter_mut().find(|a| a.key == key) {
                Some(a) => {
                    if !a.active {
                        a.active = true;
                        a.count += 1;
                    }
                    a.last_unix_ms = now;
                    a.message = message;
                    a.severity = severity;
                }
                None => self.alerts.push(Alert {
                    key,
                    severity,
                    message,
                    first_unix_ms: now,
                    last_unix_ms: now,
                    count: 1,
                    active: true,
                }),
            }
        }
        let mut cleared = Vec::new();
        for a in self
            .alerts
            .iter_mut()
            .filter(|a| a.active && !keys.contains(&a.key))
        {
            a.active = false;
            a.last_unix_ms = now;
            cleared.push(format!("cleared: {}", a.message));
        }
        for text in cleared {
            self.log(now, Severity::Info, text);
        }
        // Active first (worst first), then the most recent.
        self.alerts.sort_by(|a, b| {
            b.active
                .cmp(&a.active)
                .then(b.severity.cmp(&a.severity))
                .then(b.last_unix_ms.cmp(&a.last_unix_ms))
                .then(a.key.cmp(&b.key))
        });
        let mut resolved = 0;
        self.alerts.retain(|a| {
            if a.active {
                return true;
            }
            resolved += 1;
            resolved <= RESOLVED_KEPT
        });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::monitor::sample::fixtures::*;
    use crate::monitor::sample::ServerSample;

    /// A reachable healthy server, then more load 2 s later.
    pub fn recorded_state() -> DashboardState {
        let mut st = DashboardState::new();
        st.ingest(sample(METRICS_A, HEALTH_A, 1_000_000));
        st.ingest(sample(METRICS_B, HEALTH_B, 1_002_000));
        st
    }

    #[test]
    fn rates_from_two_samples() {
        let st = recorded_state();
        assert_eq!(st.points.len(), 1);
        let p = &st.points[0];
        // metrics_a: 46 ok + 57 errors; metrics_b: 77 ok + 67 errors; 2 s apart.
        let a = sample(METRICS_A, HEALTH_A, 0);
        assert_eq!(a.traffic.requests_total, 103.0);
        assert!((p.rps - 20.5).abs() < 1e-9, "{p:?}");
        assert!((p.ok_ps - 15.5).abs() < 1e-9);
        assert!((p.errors_ps - 5.0).abs() < 1e-9);
        assert!((p.success_rate.unwrap() - 31.0 / 41.0).abs() < 1e-9);
        let key = &st.tools["key_analysis"];
        assert!(key.windowed);
        assert!((key.rps - 10.0).abs() < 1e-9, "{key:?}");
        assert!(key.p50_ms.is_some());
    }

    #[test]
    fn single_sample_uses_cumulative_percentiles() {
        let mut st = DashboardState::new();
        let s = sample(METRICS_B, HEALTH_B, 5_000);
        let p99 = s.tools["key_analysis"].p99_ms;
        st.ingest(s);
        assert!(st.points.is_empty());
        let w = &st.tools["key_analysis"];
        assert!(!w.windowed);
        assert_eq!(w.p99_ms, p99);
    }

    #[test]
    fn counter_reset_is_not_a_negative_rate() {
        let mut st = DashboardState::new();
        st.ingest(sample(METRICS_B, HEALTH_B, 1_000));
        st.ingest(sample(METRICS_A, HEALTH_A, 2_000));
        let p = st.points.back().unwrap();
        assert!(p.rps >= 0.0 && p.errors_ps >= 0.0);
        assert!(st.tools.values().all(|w| w.rps >= 0.0));
        assert!(
            st.events.iter().any(|e| e.text.contains("restarted")),
            "{:?}",
            st.events
        );
    }

    #[test]
    fn alerts_are_deduplicated_and_cleared() {
        let mut st = recorded_state();
        assert_eq!(st.active_alerts().count(), 0);
        for i in 0..3 {
            st.ingest(sample(
                METRICS_DEGRADED,
                HEALTH_DEGRADED,
                1_003_000 + i * 1000,
            ));
        }
        let keys: Vec<&str> = st.active_alerts().map(|a| a.key.as_str()).collect();
        assert!(keys.contains(&"breaker:key_analysis"), "{keys:?}");
        assert!(keys.contains(&"breaker:score_info"));
        assert!(keys.contains(&"memory"));
        assert!(keys.contains(&"workers"));
        assert_eq!(
            st.alerts
                .iter()
                .filter(|a| a.key == "breaker:key_analysis")
                .count(),
            1
        );
        let open = st
            .alerts
            .iter()
            .find(|a| a.key == "breaker:key_analysis")
            .unwrap();
        assert_eq!(
            (open.count, open.first_unix_ms, open.last_unix_ms),
            (1, 1_003_000, 1_005_000)
        );
        assert!(st
            .events
            .iter()
            .any(|e| e.text == "breaker key_analysis: closed -> open"));
        // Unreachable three times: one alert.
        for i in 0..3 {
            let mut s = ServerSample::unreachable(URL, "connection refused");
            s.taken_unix_ms = 1_006_000 + i * 1000;
            st.ingest(s);
        }
        assert_eq!(
            st.alerts
                .iter()
                .filter(|a| a.key == "server_unreachable")
                .count(),
            1
        );
        assert_eq!(st.failures_in_a_row, 3);
        // Back and healthy: everything clears; the next outage counts 2.
        st.ingest(sample(METRICS_B, HEALTH_B, 1_010_000));
        assert_eq!(st.active_alerts().count(), 0, "{:?}", st.alerts);
        let mut s = ServerSample::unreachable(URL, "connection refused");
        s.taken_unix_ms = 1_011_000;
        st.ingest(s);
        let a = st
            .alerts
            .iter()
            .find(|a| a.key == "server_unreachable")
            .unwrap();
        assert!(a.active);
        assert_eq!(a.count, 2);
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(st.alerts[0].key, "server_unreachable", "active first");
    }

    #[test]
    fn stress_alerts() {
        let mut st = recorded_state();
        let mut s = sample(METRICS_B, HEALTH_B, 1_003_000);
        let mut status = stress(STRESS);
        status.outcomes.insert("unexpected".into(), 0.0);
        s.stress = Some(status.clone());
        st.ingest(s.clone());
        assert!(!st.active_alerts().any(|a| a.key == "unexpected"));
        s.taken_unix_ms += 1000;
        status.outcomes.insert("unexpected".into(), 2.0);
        s.stress = Some(status);
        st.ingest(s);
        let keys: Vec<&str> = st.active_alerts().map(|a| a.key.as_str()).collect();
        assert!(keys.contains(&"unexpected"), "{keys:?}");
        // The fixture's thresholds were judged on its own figures (1 unexpected).
        assert!(keys.contains(&"threshold:unexpected"), "{keys:?}");
    }
}
