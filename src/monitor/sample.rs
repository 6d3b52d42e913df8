//! One poll's worth of figures: the server's `/metrics` and `/health`, the system, and (when
//! watching a stress run) its live status. Everything here is a pure function from text or
//! JSON to a [`ServerSample`], so tests can feed recorded answers.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::wire::health::{Health, WorkersHealth};
use crate::wire::metric;
use crate::wire::status::{CheckerReport, Recovery, SeriesPoint, StressStatus, TimelineEvent};
use crate::wire::Threshold;

/// Everything one poll gathered.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerSample {
    /// When the sample was taken, in milliseconds since the Unix epoch.
    pub taken_unix_ms: u64,
    pub server: ServerInfo,
    pub traffic: Traffic,
    /// Per tool: counts by outcome and cumulative latency percentiles.
    pub tools: BTreeMap<String, ToolStats>,
    /// Per tool: `closed`, `open` or `half_open`.
    pub breakers: BTreeMap<String, Breaker>,
    pub workers: Workers,
    pub memory: Memory,
    pub store: StoreInfo,
    /// Memory and CPU of the machine the monitor runs on.
    pub system: Option<SystemInfo>,
    /// The stress run's live status, when one is watched.
    pub stress: Option<StressInfo>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerInfo {
    pub url: String,
    /// The server answered HTTP at all (even 401).
    pub reachable: bool,
    /// Why figures are missing: connection refused, timeout, 401...
    pub error: Option<String>,
    /// `healthy`, `degraded` or `unhealthy` (from `/health`).
    pub status: Option<String>,
    pub version: Option<String>,
    pub git_revision: Option<String>,
    pub uptime_s: Option<f64>,
    pub problems: Vec<String>,
    pub sessions: f64,
    pub process_rss_bytes: f64,
    pub process_cpu_seconds: Option<f64>,
    pub open_fds: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Traffic {
    /// Tool calls answered so far, every outcome.
    pub requests_total: f64,
    pub ok_total: f64,
    /// Every outcome but `ok`.
    pub errors_total: f64,
    pub by_outcome: BTreeMap<String, f64>,
    pub in_flight: f64,
    pub queue_depth: f64,
    pub rate_limited_total: f64,
    pub shed_total: f64,
    pub shed_by_reason: BTreeMap<String, f64>,
    pub timeouts_total: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ToolStats {
    pub requests: f64,
    pub ok: f64,
    pub errors: f64,
    pub by_outcome: BTreeMap<String, f64>,
    pub timeouts: f64,
    /// Cumulative latency histogram: (upper bound in seconds, calls at or under it).
    #[serde(skip)]
    pub buckets: Vec<(f64, f64)>,
    pub latency_count: f64,
    pub latency_sum_s: f64,
    /// Percentiles over the server's lifetime (cumulative buckets), in milliseconds.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Breaker {
    pub state: String,
    pub opened_total: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Workers {
    pub size: f64,
    pub up: f64,
    pub busy: f64,
    pub waiting: f64,
    pub restarts_total: f64,
    pub kills_total: f64,
    pub restarts_by_reason: BTreeMap<String, f64>,
    pub kills_by_reason: BTreeMap<String, f64>,
    pub slots: Vec<Slot>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Slot {
    pub slot: u64,
    pub pid: Option<u64>,
    pub state: String,
    pub tool: Option<String>,
    pub tasks: f64,
    pub rss_bytes: f64,
    pub restarts: f64,
    pub uptime_s: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Memory {
    pub server_bytes: f64,
    pub workers_bytes: f64,
    pub total_bytes: f64,
    pub budget_bytes: f64,
    pub soft_limit_bytes: Option<f64>,
    pub hard_limit_bytes: Option<f64>,
    /// `normal`, `soft` or `hard`.
    pub pressure: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct StoreInfo {
    pub scores: f64,
    pub bytes: f64,
    pub evictions_total: f64,
    pub max_scores: Option<f64>,
    pub max_bytes: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SystemInfo {
    pub total_bytes: u64,
    pub available_bytes: u64,
    /// Every CPU together, 0-100; `None` on the first refresh.
    pub cpu_percent: Option<f32>,
    pub cpus: usize,
}

/// The live status of a stress run, as its `/status` gives it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StressInfo {
    /// The status URL, or `in-process`.
    pub source: String,
    pub reachable: bool,
    pub error: Option<String>,
    pub phase: String,
    pub elapsed_s: f64,
    pub duration_s: f64,
    pub users: f64,
    pub server_url: Option<String>,
    pub server_pid: Option<u64>,
    pub server_restarts: f64,
    pub outcomes: BTreeMap<String, f64>,
    pub refusals: BTreeMap<String, f64>,
    pub active_faults: Vec<String>,
    /// Adversaries running now (absent from older runs' status: empty).
    pub active_adversaries: Vec<String>,
    pub recent_events: Vec<TimelineEvent>,
    pub recoveries: Vec<Recovery>,
    /// Last points of the run's 1-second series (not in `--json`: ask the status URL).
    #[serde(skip)]
    pub series: Vec<SeriesPoint>,
    pub acknowledged: f64,
    /// The checker's report, once the run has checked (null until then).
    pub checker: Option<Value>,
    pub thresholds: Vec<ThresholdState>,
}

/// A threshold of the run and how it stands so far.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ThresholdState {
    pub name: String,
    pub expression: String,
    /// The figure so far; `None` while it cannot be known yet (e.g. `lost` before the check).
    pub value: Option<f64>,
    /// `None` while pending.
    pub pass: Option<bool>,
}

// ------------------------------------------------------------------------------ percentiles

/// The `q` quantile (0..1) of a cumulative histogram, by linear interpolation inside the
/// bucket (as Prometheus' `histogram_quantile`). `None` when the histogram is empty. A rank
/// that falls in the `+Inf` bucket answers the highest finite bound.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    quantile_of_sorted(&sorted_buckets(buckets), q)
}

/// p50, p95 and p99 in milliseconds, the buckets sorted once; None when they are empty.
pub fn percentiles_ms(buckets: &[(f64, f64)]) -> Option<[f64; 3]> {
    let sorted = sorted_buckets(buckets);
    let at = |q| quantile_of_sorted(&sorted, q).map(|v| v * 1000.0);
    Some([at(0.50)?, at(0.95)?, at(0.99)?])
}

fn sorted_buckets(buckets: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<(f64, f64)> = buckets.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    sorted
}

fn quantile_of_sorted(sorted: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = sorted.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total;
    let (mut lower, mut below) = (0.0_f64, 0.0_f64);
    for &(le, cumulative) in sorted {
        if cumulative >= rank && cumulative > below {
            if le.is_infinite() {
                return Some(lower);
            }
            let fraction = (rank - below) / (cumulative - below);
            return Some(lower + (le - lower) * fraction.clamp(0.0, 1.0));
        }
        if le.is_finite() {
            lower = le;
        }
        below = cumulative;
    }
    Some(lower)
}

/// `now - before`, bucket by bucket; when a counter went down (the server restarted), `now`
/// alone, as Prometheus treats counter resets.
pub fn bucket_delta(now: &[(f64, f64)], before: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let find = |le: f64| before.iter().find(|(b, _)| b == &le).map(|(_, c)| *c);
    let reset = now.iter().any(|(le, c)| find(*le).is_some_and(|b| b > *c));
    if reset {
        return now.to_vec();
    }
    now.iter()
        .map(|(le, c)| (*le, c - find(*le).unwrap_or(0.0)))
        .collect()
}

/// Counter delta with reset handling.
pub fn counter_delta(now: f64, before: f64) -> f64 {
    if now >= before {
        now - before
    } else {
        now
    }
}

// ------------------------------------------------------------------------------ building

fn label<'a>(labels: &'a [(String, String)], key: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The name of a breaker state number of `music21_breaker_state`.
pub fn breaker_name(value: f64) -> &'static str {
    crate::resilience::breaker::BreakerState::from_gauge(value as i64)
        .map_or("unknown", crate::resilience::breaker::BreakerState::name)
}

impl ServerSample {
    /// A sample of a server that did not answer.
    pub fn unreachable(url: &str, error: impl Into<String>) -> Self {
        ServerSample {
            taken_unix_ms: now_unix_ms(),
            server: ServerInfo {
                url: url.to_string(),
                error: Some(error.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Builds a sample from the text of `/metrics` and the JSON of `/health` (either may be
    /// missing, e.g. refused for a token). At least one must be given for `reachable`.
    pub fn from_server(url: &str, metrics: Option<&str>, health: Option<&Health>) -> Self {
        let mut sample = ServerSample {
            taken_unix_ms: now_unix_ms(),
            server: ServerInfo {
                url: url.to_string(),
                reachable: metrics.is_some() || health.is_some(),
                ..Default::default()
            },
            ..Default::default()
        };
        if let Some(text) = metrics {
            sample.apply_metrics(text);
        }
        if let Some(health) = health {
            sample.apply_health(health);
        }
        for tool in sample.tools.values_mut() {
            let p = percentiles_ms(&tool.buckets);
            (tool.p50_ms, tool.p95_ms, tool.p99_ms) =
                (p.map(|p| p[0]), p.map(|p| p[1]), p.map(|p| p[2]));
        }
        sample
    }

    fn apply_metrics(&mut self, text: &str) {
        let t = &mut self.traffic;
        for (name, labels, value) in crate::metrics::parse_text(text) {
            let tool = label(&labels, "tool").map(str::to_string);
            match name.as_str() {
                metric::REQUESTS_TOTAL => {
                    let outcome = label(&labels, "outcome").unwrap_or("unknown").to_string();
                    let entry = self.tools.entry(tool.unwrap_or_default()).or_default();
                    entry.requests += value;
                    *entry.by_outcome.entry(outcome.clone()).or_default() += value;
                    t.requests_total += value;
                    if outcome == crate::metrics::outcome::OK {
                        entry.ok += value;
                        t.ok_total += value;
                    } else {
                        entry.errors += value;
                        t.errors_total += value;
                    }
                    *t.by_outcome.entry(outcome).or_default() += value;
                }
                metric::REQUEST_DURATION_SECONDS_BUCKET => {
                    let le = match label(&labels, "le") {
                        Some("+Inf") => f64::INFINITY,
                        Some(v) => match v.parse() {
                            Ok(v) => v,
                            Err(_) => continue,
                        },
                        None => continue,
                    };
                    self.tools
                        .entry(tool.unwrap_or_default())
                        .or_default()
                        .buckets
                        .push((le, value));
                }
                metric::REQUEST_DURATION_SECONDS_COUNT => {
                    self.tools
                        .entry(tool.unwrap_or_default())
                        .or_default()
                        .latency_count = value;
                }
                metric::REQUEST_DURATION_SECONDS_SUM => {
                    self.tools
                        .entry(tool.unwrap_or_default())
                        .or_default()
                        .latency_sum_s = value;
                }
                metric::IN_FLIGHT => t.in_flight = value,
                metric::QUEUE_DEPTH => t.queue_depth = value,
                metric::RATE_LIMITED_TOTAL => t.rate_limited_total = value,
                metric::SHED_TOTAL => {
                    t.shed_total += value;
                    let reason = label(&labels, "reason").unwrap_or("unknown").to_string();
                    *t.shed_by_reason.entry(reason).or_default() += value;
                }
                metric::TIMEOUTS_TOTAL => {
                    t.timeouts_total += value;
                    self.tools
                        .entry(tool.unwrap_or_default())
                        .or_default()
                        .timeouts += value;
                }
                metric::BREAKER_STATE => {
                    if let Some(tool) = tool {
                        self.breakers.entry(tool).or_default().state =
                            breaker_name(value).to_string();
                    }
                }
                metric::BREAKER_OPENED_TOTAL => {
                    if let Some(tool) = tool {
                        self.breakers.entry(tool).or_default().opened_total = Some(value);
                    }
                }
                metric::WORKER_RESTARTS_TOTAL => {
                    self.workers.restarts_total += value;
                    let reason = label(&labels, "reason").unwrap_or("unknown").to_string();
                    *self.workers.restarts_by_reason.entry(reason).or_default() += value;
                }
                metric::WORKER_KILLS_TOTAL => {
                    self.workers.kills_total += value;
                    let reason = label(&labels, "reason").unwrap_or("unknown").to_string();
                    *self.workers.kills_by_reason.entry(reason).or_default() += value;
                }
                metric::WORKERS_UP => self.workers.up = value,
                metric::WORKERS_BUSY => self.workers.busy = value,
                metric::MEMORY_BYTES => match label(&labels, "component") {
                    Some("server") => self.memory.server_bytes = value,
                    Some("workers") => self.memory.workers_bytes = value,
                    _ => {}
                },
                metric::MEMORY_BUDGET_BYTES => self.memory.budget_bytes = value,
                metric::WORKER_RSS_BYTES => {
                    if let Some(slot) = label(&labels, "slot").and_then(|s| s.parse::<u64>().ok()) {
                        self.workers.slots.push(Slot {
                            slot,
                            state: "?".into(),
                            rss_bytes: value,
                            ..Default::default()
                        });
                    }
                }
                metric::STORE_SCORES => self.store.scores = value,
                metric::STORE_BYTES => self.store.bytes = value,
                metric::STORE_EVICTIONS_TOTAL => self.store.evictions_total = value,
                metric::SESSIONS => self.server.sessions = value,
                metric::PROCESS_RESIDENT_MEMORY_BYTES => self.server.process_rss_bytes = value,
                metric::PROCESS_CPU_SECONDS_TOTAL => self.server.process_cpu_seconds = Some(value),
                metric::PROCESS_OPEN_FDS => self.server.open_fds = value,
                _ => {}
            }
        }
        self.tools.remove("");
        for tool in self.tools.values_mut() {
            tool.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        self.workers.slots.sort_by_key(|s| s.slot);
        self.workers.size = self.workers.slots.len() as f64;
        self.memory.total_bytes = self.memory.server_bytes + self.memory.workers_bytes;
    }

    /// What `/health` adds to `/metrics`; a field it lacks keeps what the metrics said.
    fn apply_health(&mut self, h: &Health) {
        self.server.status = h.status.clone();
        self.server.version = h.version.clone();
        self.server.git_revision = h.git_revision.clone();
        self.server.uptime_s = h.uptime_seconds;
        self.server.problems = h.problems.clone();
        if let Some(n) = h.sessions {
            self.server.sessions = n as f64;
        }
        if let Some(n) = h.in_flight {
            self.traffic.in_flight = n as f64;
        }
        for (tool, b) in &h.breakers {
            let entry = self.breakers.entry(tool.clone()).or_default();
            if let Some(state) = &b.state {
                entry.state = state.clone();
            }
            if let Some(n) = b.opened_total {
                entry.opened_total = Some(n as f64);
            }
        }
        if let Some(w) = &h.workers {
            self.apply_workers(w);
        }
        if let Some(m) = &h.memory {
            let get = |v: Option<u64>| v.map(|v| v as f64);
            let mem = &mut self.memory;
            mem.server_bytes = get(m.server_bytes).unwrap_or(mem.server_bytes);
            mem.workers_bytes = get(m.workers_bytes).unwrap_or(mem.workers_bytes);
            mem.total_bytes = get(m.total_bytes).unwrap_or(mem.server_bytes + mem.workers_bytes);
            mem.budget_bytes = get(m.budget_bytes).unwrap_or(mem.budget_bytes);
            mem.soft_limit_bytes = get(m.soft_limit_bytes);
            mem.hard_limit_bytes = get(m.hard_limit_bytes);
            mem.pressure = m.pressure.clone();
        }
        if let Some(st) = &h.store {
            let get = |v: Option<u64>| v.map(|v| v as f64);
            let store = &mut self.store;
            store.scores = get(st.scores).unwrap_or(store.scores);
            store.bytes = get(st.bytes).unwrap_or(store.bytes);
            store.evictions_total = get(st.evictions_total).unwrap_or(store.evictions_total);
            store.max_scores = get(st.max_scores);
            store.max_bytes = get(st.max_bytes);
        }
    }

    fn apply_workers(&mut self, w: &WorkersHealth) {
        if let Some(n) = w.size {
            self.workers.size = n as f64;
        }
        if let Some(n) = w.up {
            self.workers.up = n as f64;
        }
        if let Some(n) = w.waiting {
            self.workers.waiting = n as f64;
        }
        if let Some(slots) = &w.slots {
            self.workers.slots = slots
                .iter()
                .map(|x| Slot {
                    slot: x.slot,
                    pid: x.pid.map(u64::from),
                    state: x.state.clone(),
                    tool: x.tool.clone(),
                    tasks: x.tasks as f64,
                    rss_bytes: x.rss_bytes as f64,
                    restarts: x.restarts as f64,
                    uptime_s: x.uptime_secs,
                })
                .collect();
            self.workers.slots.sort_by_key(|s| s.slot);
            let busy = self
                .workers
                .slots
                .iter()
                .filter(|s| s.state == "busy")
                .count() as f64;
            self.workers.busy = self.workers.busy.max(busy);
        }
    }

    /// Total resident memory of server and workers against the budget, 0..1+.
    pub fn memory_ratio(&self) -> Option<f64> {
        (self.memory.budget_bytes > 0.0).then(|| self.memory.total_bytes / self.memory.budget_bytes)
    }
}

impl StressInfo {
    /// The status of a stress run that could not be read.
    pub fn unreachable(source: &str, error: impl Into<String>) -> Self {
        StressInfo {
            source: source.to_string(),
            error: Some(error.into()),
            ..Default::default()
        }
    }

    /// Reads the JSON of the run's `/status` (a [`StressStatus`]).
    pub fn from_json(source: &str, v: &Value) -> Self {
        if !v.is_object() {
            return StressInfo {
                phase: "?".into(),
                ..Self::unreachable(source, "the stress status is not a JSON object")
            };
        }
        match serde_json::from_value::<StressStatus>(v.clone()) {
            Ok(status) => Self::from_status(source, status),
            Err(e) => StressInfo {
                phase: "?".into(),
                ..Self::unreachable(source, format!("the stress status does not read: {e}"))
            },
        }
    }

    /// The dashboard's view of a run's status, with its thresholds judged so far.
    pub fn from_status(source: &str, st: StressStatus) -> Self {
        let to_f64 = |m: BTreeMap<String, u64>| -> BTreeMap<String, f64> {
            m.into_iter().map(|(k, v)| (k, v as f64)).collect()
        };
        let mut info = StressInfo {
            source: source.to_string(),
            reachable: true,
            error: None,
            phase: if st.phase.is_empty() {
                "?".into()
            } else {
                st.phase
            },
            elapsed_s: st.elapsed_s,
            duration_s: st.duration_s,
            users: st.users as f64,
            server_url: (!st.server.url.is_empty()).then_some(st.server.url),
            server_pid: st.server.pid.map(u64::from),
            server_restarts: st.server.restarts as f64,
            outcomes: to_f64(st.outcomes),
            refusals: to_f64(st.refusals),
            active_faults: st.active_faults,
            active_adversaries: st.active_adversaries,
            recent_events: st.recent_events,
            recoveries: st.recoveries,
            series: st.series,
            acknowledged: st.acknowledged as f64,
            checker: st
                .checker
                .as_ref()
                .and_then(|c| serde_json::to_value(c).ok()),
            thresholds: Vec::new(),
        };
        let figures = info.figures_so_far();
        info.thresholds = st
            .thresholds
            .into_iter()
            .map(|(name, expression)| {
                let value = figures.get(&name).copied();
                let pass = match (Threshold::parse(&expression), value) {
                    (Ok(t), Some(v)) => Some(t.holds(v)),
                    _ => None,
                };
                ThresholdState {
                    name,
                    expression,
                    value,
                    pass,
                }
            })
            .collect();
        info
    }

    pub fn outcome(&self, name: &str) -> f64 {
        self.outcomes.get(name).copied().unwrap_or(0.0)
    }

    /// The figures of the verdict that can be known during the run (the others, such as
    /// `lost`, once the checker has reported), by the verdict's own rules.
    pub fn figures_so_far(&self) -> BTreeMap<String, f64> {
        crate::wire::figures(&crate::wire::RunSoFar {
            success: self.outcome("success"),
            expected_refusal: self.outcome("expected_refusal"),
            fault_induced: self.outcome("fault_induced"),
            unexpected: self.outcome("unexpected"),
            recoveries: self
                .recoveries
                .iter()
                .map(|r| r.first_success_after_s)
                .collect(),
            server_restarts: self.server_restarts,
            users: self.users,
            elapsed_s: self.elapsed_s,
            checker: self
                .checker
                .as_ref()
                .and_then(|c| serde_json::from_value::<CheckerReport>(c.clone()).ok())
                .map(|c| c.figures()),
        })
    }
}

pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// ------------------------------------------------------------------------------ text summary

fn mb(bytes: f64) -> String {
    format!("{:.0} MB", bytes / 1024.0 / 1024.0)
}

/// The plain text of `monitor --once` (no terminal needed).
pub fn summary(sample: &ServerSample) -> String {
    let mut out = String::new();
    let srv = &sample.server;
    if !srv.reachable {
        out.push_str(&format!(
            "server {}: UNREACHABLE ({})\n",
            srv.url,
            srv.error.as_deref().unwrap_or("no answer")
        ));
    } else {
        out.push_str(&format!(
            "server {}: {} version {} ({}) up {}\n",
            srv.url,
            srv.status.as_deref().unwrap_or("?"),
            srv.version.as_deref().unwrap_or("?"),
            srv.git_revision.as_deref().unwrap_or("?"),
            srv.uptime_s
                .map(crate::monitor::fmt::duration_text)
                .unwrap_or_else(|| "?".into()),
        ));
        if let Some(e) = &srv.error {
            out.push_str(&format!("  note: {e}\n"));
        }
        for p in &srv.problems {
            out.push_str(&format!("  problem: {p}\n"));
        }
        let t = &sample.traffic;
        let rate = if t.requests_total > 0.0 {
            100.0 * t.ok_total / t.requests_total
        } else {
            100.0
        };
        out.push_str(&format!(
            "calls {:.0} (ok {:.0}, errors {:.0}, success {:.2}%); in flight {:.0}, queue {:.0}, shed {:.0}, rate-limited {:.0}, timeouts {:.0}\n",
            t.requests_total, t.ok_total, t.errors_total, rate, t.in_flight, t.queue_depth, t.shed_total, t.rate_limited_total, t.timeouts_total
        ));
        let open: Vec<String> = sample
            .breakers
            .iter()
            .filter(|(_, b)| b.state != "closed")
            .map(|(tool, b)| format!("{tool} {}", b.state))
            .collect();
        out.push_str(&format!(
            "breakers: {} closed{}\n",
            sample.breakers.len() - open.len(),
            if open.is_empty() {
                String::new()
            } else {
                format!(", {}", open.join(", "))
            }
        ));
        let w = &sample.workers;
        out.push_str(&format!(
            "workers: {:.0}/{:.0} up, {:.0} busy, {:.0} restarts, {:.0} kills\n",
            w.up, w.size, w.busy, w.restarts_total, w.kills_total
        ));
        let m = &sample.memory;
        out.push_str(&format!(
            "memory: server {} + workers {} = {} of {} budget ({})\n",
            mb(m.server_bytes),
            mb(m.workers_bytes),
            mb(m.total_bytes),
            mb(m.budget_bytes),
            m.pressure.as_deref().unwrap_or("?")
        ));
        out.push_str(&format!(
            "store: {:.0} scores, {}, {:.0} evictions\n",
            sample.store.scores,
            mb(sample.store.bytes),
            sample.store.evictions_total
        ));
        for (tool, s) in &sample.tools {
            let p = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "  {tool:<24} calls {:>7.0} errors {:>6.0}  p50 {} p95 {} p99 {} ms (lifetime)\n",
                s.requests,
                s.errors,
                p(s.p50_ms),
                p(s.p95_ms),
                p(s.p99_ms)
            ));
        }
    }
    if let Some(sys) = &sample.system {
        out.push_str(&format!(
            "system: {} of {} available, cpu {}\n",
            mb(sys.available_bytes as f64),
            mb(sys.total_bytes as f64),
            sys.cpu_percent
                .map(|c| format!("{c:.0}%"))
                .unwrap_or_else(|| "?".into())
        ));
    }
    if let Some(st) = &sample.stress {
        if !st.reachable {
            out.push_str(&format!(
                "stress {}: UNREACHABLE ({})\n",
                st.source,
                st.error.as_deref().unwrap_or("no answer")
            ));
        } else {
            out.push_str(&format!(
                "stress: {} {:.0}/{:.0} s, faults now: {}, adversaries now: {}\n",
                st.phase,
                st.elapsed_s,
                st.duration_s,
                if st.active_faults.is_empty() {
                    "none".to_string()
                } else {
                    st.active_faults.join(", ")
                },
                if st.active_adversaries.is_empty() {
                    "none".to_string()
                } else {
                    st.active_adversaries.join(", ")
                }
            ));
            for t in &st.thresholds {
                out.push_str(&format!(
                    "  {:<32} {:<10} {:>12} {}\n",
                    t.name,
                    t.expression,
                    t.value
                        .map(|v| format!("{v:.4}"))
                        .unwrap_or_else(|| "pending".into()),
                    match t.pass {
                        Some(true) => "pass",
                        Some(false) => "FAIL",
                        None => "-",
                    }
                ));
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Recorded answers of a real server (and a stress status), under tests/fixtures/monitor.

    use super::*;

    pub const METRICS_A: &str = include_str!("../../tests/fixtures/monitor/metrics_a.txt");
    pub const METRICS_B: &str = include_str!("../../tests/fixtures/monitor/metrics_b.txt");
    pub const METRICS_DEGRADED: &str =
        include_str!("../../tests/fixtures/monitor/metrics_degraded.txt");
    pub const HEALTH_A: &str = include_str!("../../tests/fixtures/monitor/health_a.json");
    pub const HEALTH_B: &str = include_str!("../../tests/fixtures/monitor/health_b.json");
    pub const HEALTH_DEGRADED: &str =
        include_str!("../../tests/fixtures/monitor/health_degraded.json");
    pub const STRESS: &str = include_str!("../../tests/fixtures/monitor/stress_status.json");
    pub const STRESS_DONE: &str =
        include_str!("../../tests/fixtures/monitor/stress_status_done.json");

    pub const URL: &str = "http://127.0.0.1:18099";

    pub fn sample(metrics: &str, health: &str, at_ms: u64) -> ServerSample {
        let health: Health = serde_json::from_str(health).expect("fixture JSON");
        let mut s = ServerSample::from_server(URL, Some(metrics), Some(&health));
        s.taken_unix_ms = at_ms;
        s
    }

    pub fn stress(text: &str) -> StressInfo {
        StressInfo::from_json(
            "http://127.0.0.1:18200/status",
            &serde_json::from_str(text).expect("fixture JSON"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn quantiles_from_cumulative_buckets() {
        // 10 calls <= 10 ms, 10 more <= 20 ms, none above.
        let b = [
            (0.01, 10.0),
            (0.02, 20.0),
            (0.05, 20.0),
            (f64::INFINITY, 20.0),
        ];
        assert!((quantile(&b, 0.5).unwrap() - 0.01).abs() < 1e-9);
        assert!((quantile(&b, 0.75).unwrap() - 0.015).abs() < 1e-9);
        assert!((quantile(&b, 0.25).unwrap() - 0.005).abs() < 1e-9);
        // Everything past the last finite bound: that bound.
        let slow = [(0.01, 0.0), (0.02, 0.0), (f64::INFINITY, 4.0)];
        assert_eq!(quantile(&slow, 0.99), Some(0.02));
        assert_eq!(quantile(&[(0.01, 0.0), (f64::INFINITY, 0.0)], 0.5), None);
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn bucket_deltas_and_resets() {
        let before = [(0.01, 10.0), (f64::INFINITY, 12.0)];
        let now = [(0.01, 15.0), (f64::INFINITY, 20.0)];
        assert_eq!(
            bucket_delta(&now, &before),
            vec![(0.01, 5.0), (f64::INFINITY, 8.0)]
        );
        let restarted = [(0.01, 1.0), (f64::INFINITY, 1.0)];
        assert_eq!(bucket_delta(&restarted, &before), restarted.to_vec());
        assert_eq!(counter_delta(5.0, 3.0), 2.0);
        assert_eq!(counter_delta(2.0, 30.0), 2.0);
    }

    #[test]
    fn builds_from_recorded_metrics_and_health() {
        let s = sample(METRICS_B, HEALTH_B, 0);
        assert!(s.server.reachable);
        assert_eq!(s.server.status.as_deref(), Some("healthy"));
        assert_eq!(s.server.version.as_deref(), Some("0.1.0"));
        assert_eq!(s.breakers.len(), 13);
        assert!(s.breakers.values().all(|b| b.state == "closed"));
        assert_eq!(s.workers.size, 2.0);
        assert_eq!(s.workers.up, 2.0);
        assert_eq!(s.workers.slots.len(), 2);
        assert_eq!(s.traffic.ok_total, 77.0);
        assert_eq!(s.traffic.errors_total, 67.0);
        let key = &s.tools["key_analysis"];
        assert_eq!(key.requests, 70.0);
        assert_eq!(key.latency_count, 70.0);
        assert!(key.p50_ms.unwrap() > 0.0 && key.p50_ms.unwrap() <= key.p99_ms.unwrap());
        assert!(s.memory.budget_bytes > 0.0 && s.memory.soft_limit_bytes.is_some());
        assert_eq!(s.store.max_scores, Some(10000.0));
    }

    #[test]
    fn degraded_state_is_read() {
        let s = sample(METRICS_DEGRADED, HEALTH_DEGRADED, 0);
        assert_eq!(s.breakers["key_analysis"].state, "open");
        assert_eq!(s.breakers["score_info"].state, "half_open");
        assert_eq!(s.workers.up, 1.0);
        assert_eq!(s.workers.slots[1].state, "dead");
        assert_eq!(s.workers.restarts_total, 5.0);
        assert_eq!(s.workers.kills_total, 3.0);
        assert_eq!(s.traffic.shed_total, 13.0);
        assert_eq!(s.traffic.rate_limited_total, 12.0);
        assert_eq!(s.traffic.queue_depth, 3.0);
        assert_eq!(s.memory.pressure.as_deref(), Some("soft"));
    }

    #[test]
    fn metrics_alone_are_enough() {
        let s = ServerSample::from_server(URL, Some(METRICS_DEGRADED), None);
        assert_eq!(s.breakers["key_analysis"].state, "open");
        assert_eq!(s.breakers["score_info"].state, "half_open");
        assert_eq!(s.workers.slots.len(), 2);
        assert!(s.memory.total_bytes > 6e9);
        assert!(s.server.status.is_none());
    }

    #[test]
    fn stress_status_and_thresholds_so_far() {
        let st = stress(STRESS);
        assert!(st.reachable);
        assert_eq!(st.phase, "load");
        assert_eq!(st.active_faults, vec!["latency".to_string()]);
        assert_eq!(st.recent_events.len(), 3);
        assert_eq!(st.recoveries.len(), 1);
        assert_eq!(st.series.len(), 30);
        let by: BTreeMap<_, _> = st
            .thresholds
            .iter()
            .map(|t| (t.name.as_str(), t.pass))
            .collect();
        assert_eq!(by["unexpected"], Some(false));
        assert_eq!(by["recovery_seconds_max"], Some(true));
        assert_eq!(by["lost"], None, "pending until the checker reports");
        let done = stress(STRESS_DONE);
        let by: BTreeMap<_, _> = done
            .thresholds
            .iter()
            .map(|t| (t.name.as_str(), t.pass))
            .collect();
        assert_eq!(by["lost"], Some(true));
    }

    #[test]
    fn once_json_has_the_expected_keys() {
        let mut s = sample(METRICS_B, HEALTH_B, 1);
        s.stress = Some(stress(STRESS));
        let text = serde_json::to_string_pretty(&s).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        for key in [
            "taken_unix_ms",
            "server",
            "traffic",
            "tools",
            "breakers",
            "workers",
            "memory",
            "store",
            "stress",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["server"]["reachable"], true);
        assert_eq!(v["breakers"]["key_analysis"]["state"], "closed");
        assert!(v["tools"]["key_analysis"]["p99_ms"].is_number());
        assert!(v["stress"]["thresholds"].is_array());
        let down =
            serde_json::to_value(ServerSample::unreachable(URL, "connection refused")).unwrap();
        assert_eq!(down["server"]["reachable"], false);
        assert_eq!(down["server"]["error"], "connection refused");
        assert!(
            summary(&ServerSample::unreachable(URL, "connection refused")).contains("UNREACHABLE")
        );
        assert!(summary(&s).contains("breakers: 13 closed"));
    }
}
