//! Admission and dispatch of one tool call, in the order the architecture fixes:
//! (auth and the HTTP rate limit sit in front, in `http`) → rate limit (stdio) → memory
//! guard → the tool's circuit breaker → bulkhead (the pool's bounded queue) → a worker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::Config;
use crate::metrics::{outcome, Metrics};
use crate::resilience::breaker::CircuitBreaker;
use crate::resilience::limiter::RateLimiter;
use crate::resilience::memory::{MemoryGuard, Pressure};
use crate::tools::Registry;
use crate::workers::pool::{Pool, PoolError};

/// A refusal or failure, as the caller sees it.
#[derive(Debug, Clone)]
pub struct CallError {
    /// The metrics outcome class (`tool_error`, `rate_limited`, `timeout`, ...).
    pub outcome: &'static str,
    /// A stable code: the tool's error kind or the protection that refused.
    pub code: String,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl CallError {
    fn new(
        outcome: &'static str,
        code: &str,
        message: String,
        retry_after: Option<Duration>,
    ) -> Self {
        Self {
            outcome,
            code: code.into(),
            message,
            retry_after,
        }
    }

    /// One line for the caller: code, message and when to retry.
    pub fn describe(&self) -> String {
        match self.retry_after {
            Some(after) => format!(
                "[{}] {} (retry after {:.1} s)",
                self.code,
                self.message,
                after.as_secs_f64().max(0.1)
            ),
            None => format!("[{}] {}", self.code, self.message),
        }
    }
}

pub struct Dispatcher {
    pub config: Arc<Config>,
    pub registry: Registry,
    pub pool: Arc<Pool>,
    pub metrics: Arc<Metrics>,
    pub memory: Arc<MemoryGuard>,
    pub limiter: RateLimiter,
    pub breakers: HashMap<&'static str, CircuitBreaker>,
    pub draining: AtomicBool,
    pub in_flight: AtomicUsize,
    pub started: Instant,
}

impl Dispatcher {
    pub fn new(
        config: Arc<Config>,
        pool: Arc<Pool>,
        metrics: Arc<Metrics>,
        memory: Arc<MemoryGuard>,
    ) -> Self {
        let registry = Registry::new();
        let breakers = registry
            .tools()
            .iter()
            .map(|t| (t.name, CircuitBreaker::new(config.server.breaker.clone())))
            .collect();
        let r = &config.server.rate_limit;
        let limiter = RateLimiter::new(
            r.client_per_second,
            r.client_burst,
            r.global_per_second,
            r.global_burst,
        );
        metrics.memory_budget_bytes.set(memory.budget() as i64);
        Self {
            config,
            registry,
            pool,
            metrics,
            memory,
            limiter,
            breakers,
            draining: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            started: Instant::now(),
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Refreshes the breaker-state gauges (called before each scrape).
    pub fn export_breakers(&self) {
        let now = Instant::now();
        for (tool, breaker) in &self.breakers {
            self.metrics
                .breaker_state
                .with_label_values(&[tool])
                .set(breaker.state(now).as_gauge());
        }
    }

    /// Admits and runs one call. `rate_limit` is true where no HTTP layer limited it already.
    pub async fn call(
        &self,
        tool: &str,
        args: Value,
        client: &str,
        rate_limit: bool,
    ) -> Result<Value, CallError> {
        let started = Instant::now();
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.metrics.in_flight.inc();
        let result = self.admit_and_run(tool, args, client, rate_limit).await;
        self.metrics.in_flight.dec();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok(_) => outcome::OK,
            Err(e) => e.outcome,
        };
        self.metrics
            .requests
            .with_label_values(&[tool, outcome])
            .inc();
        self.metrics
            .duration
            .with_label_values(&[tool])
            .observe(elapsed.as_secs_f64());
        match &result {
            Ok(_) => tracing::info!(
                tool,
                outcome,
                client,
                duration_ms = elapsed.as_secs_f64() * 1e3,
                "tool call"
            ),
            Err(e) => {
                tracing::info!(tool, outcome, client, duration_ms = elapsed.as_secs_f64() * 1e3, error = %e.message, "tool call")
            }
        }
        result
    }

    async fn admit_and_run(
        &self,
        tool: &str,
        args: Value,
        client: &str,
        rate_limit: bool,
    ) -> Result<Value, CallError> {
        let Some(def) = self.registry.get(tool) else {
            return Err(CallError::new(
                outcome::TOOL_ERROR,
                "not_found",
                format!("unknown tool '{tool}'"),
                None,
            ));
        };
        if self.is_draining() {
            return Err(CallError::new(
                outcome::DRAINING,
                "shutting_down",
                "the server is shutting down and takes no new work; retry on another instance or after the restart".into(),
                Some(Duration::from_secs(1)),
            ));
        }
        if rate_limit {
            if let Err(limited) = self.limiter.check(client, Instant::now()) {
                self.metrics.rate_limited.inc();
                return Err(CallError::new(
                    outcome::RATE_LIMITED,
                    "rate_limited",
                    "too many requests from this client".into(),
                    Some(limited.retry_after),
                ));
            }
        }
        match self.memory.pressure() {
            Pressure::Hard if tool != "health_check" => {
                self.metrics.shed.with_label_values(&["memory_hard"]).inc();
                return Err(CallError::new(
                    outcome::MEMORY_SHED,
                    "memory_pressure",
                    format!(
                        "the server is over its hard memory limit ({} of {} MiB in use) and takes no new work",
                        self.memory.total() >> 20,
                        self.memory.budget() >> 20
                    ),
                    Some(Duration::from_secs(2)),
                ));
            }
            Pressure::Soft if def.heavy => {
                self.metrics.shed.with_label_values(&["memory_soft"]).inc();
                return Err(CallError::new(
                    outcome::MEMORY_SHED,
                    "memory_pressure",
                    format!(
                        "the server is over its soft memory limit ({} of {} MiB in use); {tool} is refused until memory falls, light tools still work",
                        self.memory.total() >> 20,
                        self.memory.budget() >> 20
                    ),
                    Some(Duration::from_secs(2)),
                ));
            }
            _ => {}
        }
        let breaker = self.breakers.get(def.name);
        let permit = match breaker.map(|b| b.try_acquire(Instant::now())) {
            Some(Err(open)) => {
                self.metrics.shed.with_label_values(&["breaker_open"]).inc();
                return Err(CallError::new(
                    outcome::BREAKER_OPEN,
                    "breaker_open",
                    format!("{tool} is failing repeatedly, so its circuit breaker is open; calls are refused until it recovers"),
                    Some(open.retry_after),
                ));
            }
            Some(Ok(p)) => Some(p),
            None => None,
        };
        let deadline = self.config.server.deadlines.for_tool(tool);
        let result = self.pool.call(tool, args, deadline).await;
        if let (Some(b), Some(p)) = (breaker, permit) {
            let failed = matches!(&result, Err(e) if e.is_tool_health_failure());
            let before = b.opened_total();
            b.record(p, failed, Instant::now());
            if b.opened_total() > before {
                self.metrics.breaker_opened.with_label_values(&[tool]).inc();
                tracing::warn!(tool, "circuit breaker opened");
            }
        }
        result.map_err(|e| self.pool_error(tool, e))
    }

    fn pool_error(&self, tool: &str, e: PoolError) -> CallError {
        match e {
            PoolError::Tool { kind, message } => {
                let code = crate::error::ToolError::new(kind, String::new()).code();
                CallError::new(outcome::TOOL_ERROR, code, message, None)
            }
            PoolError::Overloaded { waiting, retry_after } => {
                self.metrics.shed.with_label_values(&["overloaded"]).inc();
                CallError::new(
                    outcome::OVERLOADED,
                    "overloaded",
                    format!("the server is overloaded: all workers are busy and {waiting} calls are waiting"),
                    Some(retry_after),
                )
            }
            PoolError::Timeout { deadline } => {
                self.metrics.timeouts.with_label_values(&[tool]).inc();
                CallError::new(
                    outcome::TIMEOUT,
                    "timeout",
                    format!(
                        "{tool} did not finish within its deadline of {:.1} s; its work was stopped (the worker was killed). A smaller score, or a higher server.deadlines setting, may help",
                        deadline.as_secs_f64()
                    ),
                    None,
                )
            }
            PoolError::MemoryCap { rss_mb, limit_mb } => CallError::new(
                outcome::MEMORY_CAP,
                "memory_cap",
                format!("{tool} used {rss_mb} MiB, over the per-worker cap of {limit_mb} MiB; its worker was stopped"),
                None,
            ),
            PoolError::Crashed { detail } => CallError::new(
                outcome::WORKER_CRASHED,
                "worker_crashed",
                format!("{tool} failed: {detail}; the worker is being replaced"),
                None,
            ),
            PoolError::ShuttingDown => CallError::new(
                outcome::DRAINING,
                "shutting_down",
                "the server is shutting down".into(),
                Some(Duration::from_secs(1)),
            ),
        }
    }
}
