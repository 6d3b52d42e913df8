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
    pub worker_kills: IntCounterVec,
    pub workers_up: IntGauge,
    pub workers_busy: IntGauge,
    pub worker_tasks: IntCounter,
    pub cache_shrinks: IntCounter,
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
    pub sessions_evicted: IntCounterVec,
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let duration = HistogramVec::new(
            HistogramOpts::new(
                metric::REQUEST_DURATION_SECONDS,
                "Tool call latency, admission included.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["tool"],
        )
        .expect("valid metric");
        r.register(Box::new(duration.clone()))
            .expect("unique metric");
        let queue_wait = Histogram::with_opts(
            HistogramOpts::new(
                metric::QUEUE_WAIT_SECONDS,
                "Time a call waited for a free worker.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        r.register(Box::new(queue_wait.clone()))
            .expect("unique metric");
        let process_cpu_seconds = prometheus::Gauge::new(
            metric::PROCESS_CPU_SECONDS_TOTAL,
            "CPU time of the server process.",
        )
        .expect("valid metric");
        r.register(Box::new(process_cpu_seconds.clone()))
            .expect("unique metric");
        Self {
            connections: gauge(&r, metric::CONNECTIONS, "Open TCP connections."),
            connections_limited: counter_vec(
                &r,
                metric::CONNECTIONS_LIMITED_TOTAL,
                "Connections over a cap: by which cap (total, per_client, reserve) and what became of them (probe_only, closed).",
                &["cap", "action"],
            ),
            bodies_refused: counter_vec(
                &r,
                metric::BODIES_REFUSED_TOTAL,
                "Request bodies refused before or while being read, by reason.",
                &["reason"],
            ),
            client_breaker_opened: counter_vec(
                &r,
                metric::CLIENT_BREAKER_OPENED_TOTAL,
                "Times one client's own breaker for a tool opened (its calls kept failing; nobody else was refused).",
                &["tool"],
            ),
            store_corrupted: gauge(
                &r,
                metric::STORE_CORRUPTED,
                "Stored records known to fail their checksum (found by the scrub or a read).",
            ),
            store_write_failures: counter(
                &r,
                metric::STORE_WRITE_FAILURES_TOTAL,
                "Tool calls that could not write to the store (e.g. a full disk).",
            ),
            sessions_evicted: counter_vec(
                &r,
                metric::SESSIONS_EVICTED_TOTAL,
                "Idle MCP sessions closed to make room for a new one, by cap (client, server).",
                &["cap"],
            ),
            requests: counter_vec(
                &r,
                metric::REQUESTS_TOTAL,
                "Tool calls by tool and outcome.",
                &["tool", "outcome"],
            ),
            duration,
            in_flight: gauge(&r, metric::IN_FLIGHT, "Tool calls in progress."),
            queue_depth: gauge(
                &r,
                metric::QUEUE_DEPTH,
                "Tool calls waiting for a worker.",
            ),
            breaker_state: gauge_vec(
                &r,
                metric::BREAKER_STATE,
                "Circuit breaker per tool: 0 closed, 1 open, 2 half-open.",
                &["tool"],
            ),
            breaker_opened: counter_vec(
                &r,
                metric::BREAKER_OPENED_TOTAL,
                "Times a tool's breaker opened.",
                &["tool"],
            ),
            rate_limited: counter(
                &r,
                metric::RATE_LIMITED_TOTAL,
                "Requests refused by the rate limiter (429).",
            ),
            shed: counter_vec(
                &r,
                metric::SHED_TOTAL,
                "Calls refused to protect the server, by reason.",
                &["reason"],
            ),
            timeouts: counter_vec(
                &r,
                metric::TIMEOUTS_TOTAL,
                "Calls past their deadline (worker killed).",
                &["tool"],
            ),
            worker_restarts: counter_vec(
                &r,
                metric::WORKER_RESTARTS_TOTAL,
                "Workers started to replace another, by reason.",
                &["reason"],
            ),
            worker_kills: counter_vec(
                &r,
                metric::WORKER_KILLS_TOTAL,
                "Workers killed by the server, by reason.",
                &["reason"],
            ),
            workers_up: gauge(&r, metric::WORKERS_UP, "Worker processes alive."),
            workers_busy: gauge(
                &r,
                metric::WORKERS_BUSY,
                "Worker processes running a task.",
            ),
            worker_tasks: counter(&r, metric::WORKER_TASKS_TOTAL, "Tasks sent to workers."),
            cache_shrinks: counter(
                &r,
                metric::CACHE_SHRINKS_TOTAL,
                "Workers asked to drop their parsed-score caches under memory pressure.",
            ),
            memory_bytes: gauge_vec(
                &r,
                metric::MEMORY_BYTES,
                "Resident memory, by component (server, workers).",
                &["component"],
            ),
            memory_budget_bytes: gauge(
                &r,
                metric::MEMORY_BUDGET_BYTES,
                "Memory budget of server and workers together.",
            ),
            worker_rss_bytes: gauge_vec(
                &r,
                metric::WORKER_RSS_BYTES,
                "Resident memory of each worker slot.",
                &["slot"],
            ),
            store_scores: gauge(&r, metric::STORE_SCORES, "Scores in the store."),
            store_bytes: gauge(&r, metric::STORE_BYTES, "Source bytes in the store."),
            store_evictions: gauge(
                &r,
                metric::STORE_EVICTIONS_TOTAL,
                "Scores evicted by the store's limits since it was created.",
            ),
            sessions: gauge(&r, metric::SESSIONS, "Live MCP sessions."),
            http_requests: counter_vec(
                &r,
                metric::HTTP_REQUESTS_TOTAL,
                "HTTP requests by path and status class.",
                &["path", "status"],
            ),
            process_rss: gauge(
                &r,
                metric::PROCESS_RESIDENT_MEMORY_BYTES,
                "Resident memory of the server process.",
            ),
            process_cpu_seconds,
            process_open_fds: gauge(
                &r,
                metric::PROCESS_OPEN_FDS,
                "Open file descriptors of the server process.",
            ),
            process_start_time: gauge(
                &r,
                metric::PROCESS_START_TIME_SECONDS,
                "Start time of the server process since the epoch.",
            ),
            queue_wait,
            registry: r,
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
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            self.process_open_fds.set(entries.count() as i64);
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
