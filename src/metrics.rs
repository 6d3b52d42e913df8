//! The metrics every part of the binary shares: one Prometheus registry, names with the
//! `music21_` prefix. `serve` records into it and exposes it at `/metrics`; `stress` and
//! `monitor` read the same names back.

use crate::wire::metric;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets, in seconds: 1 ms to 60 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Outcome classes of a tool call, as label values.
pub mod outcome {
    pub const OK: &str = "ok";
    pub const TOOL_ERROR: &str = "tool_error";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const MEMORY_SHED: &str = "memory_shed";
    pub const BREAKER_OPEN: &str = "breaker_open";
    pub const OVERLOADED: &str = "overloaded";
    pub const TIMEOUT: &str = "timeout";
    pub const WORKER_CRASHED: &str = "worker_crashed";
    pub const MEMORY_CAP: &str = "memory_cap";
    pub const DRAINING: &str = "draining";
    pub const CANCELLED: &str = "cancelled";
}

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub in_flight: IntGauge,
    pub queue_depth: IntGauge,
    pub breaker_state: IntGaugeVec,
    pub breaker_opened: IntCounterVec,
    pub rate_limited: IntCounter,
    pub shed: IntCounterVec,
    pub timeouts: IntCounterVec,
    pub worker_restarts: IntCounterVec,
    pub worker_affinity: IntCounterVec,
    pub worker_kills: IntCounterVec,
    pub workers_up: IntGauge,
    pub workers_busy: IntGauge,
    pub worker_tasks: IntCounter,
    pub cache_shrinks: IntCounter,
    pub replay_bytes: IntGauge,
    pub replay_streams: IntGauge,
    pub replay_evicted: IntCounter,
    pub replays: IntCounter,
    pub memory_bytes: IntGaugeVec,
    pub memory_budget_bytes: IntGauge,
    pub worker_rss_bytes: IntGaugeVec,
    pub store_scores: IntGauge,
    pub store_bytes: IntGauge,
    pub store_evictions: IntGauge,
    pub sessions: IntGauge,
    pub http_requests: IntCounterVec,
    pub process_rss: IntGauge,
    pub process_cpu_seconds: prometheus::Gauge,
    pub process_open_fds: IntGauge,
    pub process_start_time: IntGauge,
    pub queue_wait: Histogram,
    pub connections: IntGauge,
    pub connections_limited: IntCounterVec,
    pub bodies_refused: IntCounterVec,
    pub client_breaker_opened: IntCounterVec,
    pub store_corrupted: IntGauge,
    pub store_write_failures: IntCounter,
    /// Large parses that waited for their memory reservation.
    pub parse_waits: IntCounter,
    pub sessions_evicted: IntCounterVec,
}

/// A metric as registered: its name (from `wire::metric`, which the dashboard reads), its
/// help text and its labels.
struct Def {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
}

const DURATION: Def = Def {
    name: metric::REQUEST_DURATION_SECONDS,
    help: "Tool call latency, admission included.",
    labels: &["tool"],
};
const QUEUE_WAIT: Def = Def {
    name: metric::QUEUE_WAIT_SECONDS,
    help: "Time a call waited for a free worker.",
    labels: &[],
};
const PROCESS_CPU_SECONDS: Def = Def {
    name: metric::PROCESS_CPU_SECONDS_TOTAL,
    help: "CPU time of the server process.",
    labels: &[],
};
const CONNECTIONS: Def = Def {
    name: metric::CONNECTIONS,
    help: "Open TCP connections.",
    labels: &[],
};
const CONNECTIONS_LIMITED: Def = Def {
    name: metric::CONNECTIONS_LIMITED_TOTAL,
    help: "Connections over a cap: by which cap (total, per_client, reserve) and what became of them (probe_only, closed).",
    labels: &["cap", "action"],
};
const BODIES_REFUSED: Def = Def {
    name: metric::BODIES_REFUSED_TOTAL,
    help: "Request bodies refused before or while being read, by reason.",
    labels: &["reason"],
};
const CLIENT_BREAKER_OPENED: Def = Def {
    name: metric::CLIENT_BREAKER_OPENED_TOTAL,
    help: "Times one client's own breaker for a tool opened (its calls kept failing; nobody else was refused).",
    labels: &["tool"],
};
const STORE_CORRUPTED: Def = Def {
    name: metric::STORE_CORRUPTED,
    help: "Stored records known to fail their checksum (found by the scrub or a read).",
    labels: &[],
};
const PARSE_WAITS: Def = Def {
    name: metric::PARSE_WAITS_TOTAL,
    help: "Large parses that waited for memory (another large parse held the room they need).",
    labels: &[],
};
const STORE_WRITE_FAILURES: Def = Def {
    name: metric::STORE_WRITE_FAILURES_TOTAL,
    help: "Tool calls that could not write to the store (e.g. a full disk).",
    labels: &[],
};
const SESSIONS_EVICTED: Def = Def {
    name: metric::SESSIONS_EVICTED_TOTAL,
    help: "Idle MCP sessions closed to make room for a new one, by cap (client, server).",
    labels: &["cap"],
};
const REQUESTS: Def = Def {
    name: metric::REQUESTS_TOTAL,
    help: "Tool calls by tool and outcome.",
    labels: &["tool", "outcome"],
};
const IN_FLIGHT: Def = Def {
    name: metric::IN_FLIGHT,
    help: "Tool calls in progress.",
    labels: &[],
};
const QUEUE_DEPTH: Def = Def {
    name: metric::QUEUE_DEPTH,
    help: "Tool calls waiting for a worker.",
    labels: &[],
};
const BREAKER_STATE: Def = Def {
    name: metric::BREAKER_STATE,
    help: "Circuit breaker per tool: 0 closed, 1 open, 2 half-open.",
    labels: &["tool"],
};
const BREAKER_OPENED: Def = Def {
    name: metric::BREAKER_OPENED_TOTAL,
    help: "Times a tool's breaker opened.",
    labels: &["tool"],
};
const RATE_LIMITED: Def = Def {
    name: metric::RATE_LIMITED_TOTAL,
    help: "Requests refused by the rate limiter (429).",
    labels: &[],
};
const SHED: Def = Def {
    name: metric::SHED_TOTAL,
    help: "Calls refused to protect the server, by reason.",
    labels: &["reason"],
};
const TIMEOUTS: Def = Def {
    name: metric::TIMEOUTS_TOTAL,
    help: "Calls past their deadline (worker killed).",
    labels: &["tool"],
};
const WORKER_AFFINITY: Def = Def {
    name: metric::WORKER_AFFINITY_TOTAL,
    help: "Calls on a score some worker holds parsed: kept (run on that worker) or moved (another worker, which parses it again).",
    labels: &["outcome"],
};
const WORKER_RESTARTS: Def = Def {
    name: metric::WORKER_RESTARTS_TOTAL,
    help: "Workers started to replace another, by reason.",
    labels: &["reason"],
};
const WORKER_KILLS: Def = Def {
    name: metric::WORKER_KILLS_TOTAL,
    help: "Workers killed by the server, by reason.",
    labels: &["reason"],
};
const WORKERS_UP: Def = Def {
    name: metric::WORKERS_UP,
    help: "Worker processes alive.",
    labels: &[],
};
const WORKERS_BUSY: Def = Def {
    name: metric::WORKERS_BUSY,
    help: "Worker processes running a task.",
    labels: &[],
};
const WORKER_TASKS: Def = Def {
    name: metric::WORKER_TASKS_TOTAL,
    help: "Tasks sent to workers.",
    labels: &[],
};
const CACHE_SHRINKS: Def = Def {
    name: metric::CACHE_SHRINKS_TOTAL,
    help: "Workers asked to drop their parsed-score caches under memory pressure.",
    labels: &[],
};
const REPLAY_BYTES: Def = Def {
    name: metric::REPLAY_BYTES,
    help: "Bytes of SSE events kept for clients that reconnect with Last-Event-ID.",
    labels: &[],
};
const REPLAY_STREAMS: Def = Def {
    name: metric::REPLAY_STREAMS,
    help: "SSE streams whose events are kept for a reconnect.",
    labels: &[],
};
const REPLAY_EVICTED: Def = Def {
    name: metric::REPLAY_EVICTED_TOTAL,
    help: "Kept SSE events dropped by the replay limits (per stream, per session, in all) before they expired.",
    labels: &[],
};
const REPLAYS: Def = Def {
    name: metric::REPLAYS_TOTAL,
    help: "Reconnects with Last-Event-ID answered from the kept events.",
    labels: &[],
};
const MEMORY_BYTES: Def = Def {
    name: metric::MEMORY_BYTES,
    help: "Resident memory, by component (server, workers; held: reserved for large parses).",
    labels: &["component"],
};
const MEMORY_BUDGET_BYTES: Def = Def {
    name: metric::MEMORY_BUDGET_BYTES,
    help: "Memory budget of server and workers together.",
    labels: &[],
};
const WORKER_RSS_BYTES: Def = Def {
    name: metric::WORKER_RSS_BYTES,
    help: "Resident memory of each worker slot.",
    labels: &["slot"],
};
const STORE_SCORES: Def = Def {
    name: metric::STORE_SCORES,
    help: "Scores in the store.",
    labels: &[],
};
const STORE_BYTES: Def = Def {
    name: metric::STORE_BYTES,
    help: "Source bytes in the store.",
    labels: &[],
};
const STORE_EVICTIONS: Def = Def {
    name: metric::STORE_EVICTIONS_TOTAL,
    help: "Scores evicted by the store's limits since it was created.",
    labels: &[],
};
const SESSIONS: Def = Def {
    name: metric::SESSIONS,
    help: "Live MCP sessions.",
    labels: &[],
};
const HTTP_REQUESTS: Def = Def {
    name: metric::HTTP_REQUESTS_TOTAL,
    help: "HTTP requests by path and status class.",
    labels: &["path", "status"],
};
const PROCESS_RSS: Def = Def {
    name: metric::PROCESS_RESIDENT_MEMORY_BYTES,
    help: "Resident memory of the server process.",
    labels: &[],
};
const PROCESS_OPEN_FDS: Def = Def {
    name: metric::PROCESS_OPEN_FDS,
    help: "Open file descriptors of the server process.",
    labels: &[],
};
const PROCESS_START_TIME: Def = Def {
    name: metric::PROCESS_START_TIME_SECONDS,
    help: "Start time of the server process since the epoch.",
    labels: &[],
};

/// Registers each metric in the one registry as it is made.
struct Registrar(Registry);

impl Registrar {
    fn register<M: prometheus::core::Collector + Clone + 'static>(&self, metric: M) -> M {
        // Names are constants of this file: a clash is a bug caught by the tests.
        self.0
            .register(Box::new(metric.clone()))
            .expect("unique metric");
        metric
    }

    fn opts(def: &Def) -> Opts {
        Opts::new(def.name, def.help)
    }

    fn counter(&self, def: Def) -> IntCounter {
        self.register(IntCounter::with_opts(Self::opts(&def)).expect("valid metric"))
    }

    fn counter_vec(&self, def: Def) -> IntCounterVec {
        self.register(IntCounterVec::new(Self::opts(&def), def.labels).expect("valid metric"))
    }

    fn gauge(&self, def: Def) -> IntGauge {
        self.register(IntGauge::with_opts(Self::opts(&def)).expect("valid metric"))
    }

    fn gauge_vec(&self, def: Def) -> IntGaugeVec {
        self.register(IntGaugeVec::new(Self::opts(&def), def.labels).expect("valid metric"))
    }

    fn float_gauge(&self, def: Def) -> prometheus::Gauge {
        self.register(prometheus::Gauge::with_opts(Self::opts(&def)).expect("valid metric"))
    }

    fn latency(def: &Def) -> HistogramOpts {
        HistogramOpts::new(def.name, def.help).buckets(LATENCY_BUCKETS.to_vec())
    }

    fn histogram(&self, def: Def) -> Histogram {
        self.register(Histogram::with_opts(Self::latency(&def)).expect("valid metric"))
    }

    fn histogram_vec(&self, def: Def) -> HistogramVec {
        self.register(HistogramVec::new(Self::latency(&def), def.labels).expect("valid metric"))
    }
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registrar(Registry::new());
        Self {
            duration: r.histogram_vec(DURATION),
            queue_wait: r.histogram(QUEUE_WAIT),
            process_cpu_seconds: r.float_gauge(PROCESS_CPU_SECONDS),
            connections: r.gauge(CONNECTIONS),
            connections_limited: r.counter_vec(CONNECTIONS_LIMITED),
            bodies_refused: r.counter_vec(BODIES_REFUSED),
            client_breaker_opened: r.counter_vec(CLIENT_BREAKER_OPENED),
            store_corrupted: r.gauge(STORE_CORRUPTED),
            store_write_failures: r.counter(STORE_WRITE_FAILURES),
            parse_waits: r.counter(PARSE_WAITS),
            sessions_evicted: r.counter_vec(SESSIONS_EVICTED),
            requests: r.counter_vec(REQUESTS),
            in_flight: r.gauge(IN_FLIGHT),
            queue_depth: r.gauge(QUEUE_DEPTH),
            breaker_state: r.gauge_vec(BREAKER_STATE),
            breaker_opened: r.counter_vec(BREAKER_OPENED),
            rate_limited: r.counter(RATE_LIMITED),
            shed: r.counter_vec(SHED),
            timeouts: r.counter_vec(TIMEOUTS),
            worker_restarts: r.counter_vec(WORKER_RESTARTS),
            worker_affinity: r.counter_vec(WORKER_AFFINITY),
            worker_kills: r.counter_vec(WORKER_KILLS),
            workers_up: r.gauge(WORKERS_UP),
            workers_busy: r.gauge(WORKERS_BUSY),
            worker_tasks: r.counter(WORKER_TASKS),
            cache_shrinks: r.counter(CACHE_SHRINKS),
            replay_bytes: r.gauge(REPLAY_BYTES),
            replay_streams: r.gauge(REPLAY_STREAMS),
            replay_evicted: r.counter(REPLAY_EVICTED),
            replays: r.counter(REPLAYS),
            memory_bytes: r.gauge_vec(MEMORY_BYTES),
            memory_budget_bytes: r.gauge(MEMORY_BUDGET_BYTES),
            worker_rss_bytes: r.gauge_vec(WORKER_RSS_BYTES),
            store_scores: r.gauge(STORE_SCORES),
            store_bytes: r.gauge(STORE_BYTES),
            store_evictions: r.gauge(STORE_EVICTIONS),
            sessions: r.gauge(SESSIONS),
            http_requests: r.counter_vec(HTTP_REQUESTS),
            process_rss: r.gauge(PROCESS_RSS),
            process_open_fds: r.gauge(PROCESS_OPEN_FDS),
            process_start_time: r.gauge(PROCESS_START_TIME),
            registry: r.0,
        }
    }

    /// Prometheus text exposition of everything registered.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Refreshes the `process_*` metrics from /proc.
    pub fn sample_process(&self) {
        let pid = std::process::id();
        if let Some(rss) = crate::sysmem::rss_bytes(pid) {
            self.process_rss.set(rss as i64);
        }
        if let Some(cpu) = crate::sysmem::cpu_seconds(pid) {
            self.process_cpu_seconds.set(cpu);
        }
        if let Some(fds) = crate::sysmem::open_fds(pid) {
            self.process_open_fds.set(fds as i64);
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// One sample of Prometheus text: metric name, labels, value.
pub type Sample = (String, Vec<(String, String)>, f64);

/// Parses Prometheus text exposition into samples. For `monitor` and `stress`.
pub fn parse_text(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = match line.rsplit_once(' ') {
            Some(p) => p,
            None => continue,
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.trim_end_matches('}');
                let labels = body
                    .split("\",")
                    .filter_map(|kv| {
                        let (k, v) = kv.split_once('=')?;
                        Some((k.trim().to_string(), v.trim_matches('"').to_string()))
                    })
                    .collect();
                (name.to_string(), labels)
            }
            None => (series.to_string(), Vec::new()),
        };
        out.push((name, labels, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_parses_back() {
        let m = Metrics::new();
        m.requests
            .with_label_values(&["key_analysis", outcome::OK])
            .inc_by(3);
        m.breaker_state.with_label_values(&["key_analysis"]).set(1);
        m.duration
            .with_label_values(&["key_analysis"])
            .observe(0.02);
        let text = m.render();
        assert!(
            text.contains("music21_requests_total{outcome=\"ok\",tool=\"key_analysis\"} 3"),
            "{text}"
        );
        let parsed = parse_text(&text);
        let breaker = parsed
            .iter()
            .find(|(n, l, _)| {
                n == "music21_breaker_state"
                    && l.iter().any(|(k, v)| k == "tool" && v == "key_analysis")
            })
            .unwrap();
        assert_eq!(breaker.2, 1.0);
        assert!(parsed
            .iter()
            .any(|(n, _, _)| n == "music21_request_duration_seconds_bucket"));
    }
}
