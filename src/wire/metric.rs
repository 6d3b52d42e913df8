//! The names of the server's Prometheus metrics: `metrics.rs` registers them under these
//! names and the dashboard (`monitor::sample`) reads them back by them. A new metric is
//! named here first.

pub const REQUEST_DURATION_SECONDS: &str = "music21_request_duration_seconds";
pub const QUEUE_WAIT_SECONDS: &str = "music21_queue_wait_seconds";
pub const PROCESS_CPU_SECONDS_TOTAL: &str = "process_cpu_seconds_total";
pub const CONNECTIONS: &str = "music21_connections";
pub const CONNECTIONS_LIMITED_TOTAL: &str = "music21_connections_limited_total";
pub const BODIES_REFUSED_TOTAL: &str = "music21_bodies_refused_total";
pub const CLIENT_BREAKER_OPENED_TOTAL: &str = "music21_client_breaker_opened_total";
pub const STORE_CORRUPTED: &str = "music21_store_corrupted";
pub const STORE_WRITE_FAILURES_TOTAL: &str = "music21_store_write_failures_total";
pub const SESSIONS_EVICTED_TOTAL: &str = "music21_sessions_evicted_total";
pub const REQUESTS_TOTAL: &str = "music21_requests_total";
pub const IN_FLIGHT: &str = "music21_in_flight";
pub const QUEUE_DEPTH: &str = "music21_queue_depth";
pub const BREAKER_STATE: &str = "music21_breaker_state";
pub const BREAKER_OPENED_TOTAL: &str = "music21_breaker_opened_total";
pub const RATE_LIMITED_TOTAL: &str = "music21_rate_limited_total";
pub const SHED_TOTAL: &str = "music21_shed_total";
pub const TIMEOUTS_TOTAL: &str = "music21_timeouts_total";
pub const WORKER_RESTARTS_TOTAL: &str = "music21_worker_restarts_total";
pub const WORKER_AFFINITY_TOTAL: &str = "music21_worker_affinity_total";
pub const WORKER_KILLS_TOTAL: &str = "music21_worker_kills_total";
pub const WORKERS_UP: &str = "music21_workers_up";
pub const WORKERS_BUSY: &str = "music21_workers_busy";
pub const WORKER_TASKS_TOTAL: &str = "music21_worker_tasks_total";
pub const CACHE_SHRINKS_TOTAL: &str = "music21_cache_shrinks_total";
pub const REPLAY_BYTES: &str = "music21_replay_bytes";
pub const REPLAY_STREAMS: &str = "music21_replay_streams";
pub const REPLAY_EVICTED_TOTAL: &str = "music21_replay_evicted_events_total";
pub const REPLAYS_TOTAL: &str = "music21_replays_total";
pub const MEMORY_BYTES: &str = "music21_memory_bytes";
pub const PARSE_WAITS_TOTAL: &str = "music21_parse_waits_total";
pub const MEMORY_BUDGET_BYTES: &str = "music21_memory_budget_bytes";
pub const WORKER_RSS_BYTES: &str = "music21_worker_rss_bytes";
pub const STORE_SCORES: &str = "music21_store_scores";
pub const STORE_BYTES: &str = "music21_store_bytes";
pub const STORE_EVICTIONS_TOTAL: &str = "music21_store_evictions_total";
pub const SESSIONS: &str = "music21_sessions";
pub const HTTP_REQUESTS_TOTAL: &str = "music21_http_requests_total";
pub const PROCESS_RESIDENT_MEMORY_BYTES: &str = "process_resident_memory_bytes";
pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
pub const PROCESS_START_TIME_SECONDS: &str = "process_start_time_seconds";

/// The series Prometheus writes for the request-latency histogram.
pub const REQUEST_DURATION_SECONDS_BUCKET: &str = "music21_request_duration_seconds_bucket";
pub const REQUEST_DURATION_SECONDS_COUNT: &str = "music21_request_duration_seconds_count";
pub const REQUEST_DURATION_SECONDS_SUM: &str = "music21_request_duration_seconds_sum";
