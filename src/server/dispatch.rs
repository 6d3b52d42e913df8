//! Admission and dispatch of one tool call, in the order the architecture fixes:
//! (auth and the HTTP rate limit sit in front, in `guard` and `admit`) → rate limit (stdio)
//! → memory guard → the tool's circuit breakers (shared, and this client's own) → a light
//! tool runs here, in the server process; any other waits for a worker in the fair queue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::{printable, ErrorKind, ToolError, ToolResult};
use crate::metrics::{outcome, Metrics};
use crate::resilience::breaker::{BreakerConfig, BreakerState, CircuitBreaker};
use crate::resilience::limiter::RateLimiter;
use crate::resilience::memory::{HoldRefusal, MemoryGuard, ParseHold, Pressure};
use crate::resilience::parse_cost;
use crate::server::clients::ClientId;
use crate::tools::{Registry, ToolContext};
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
    /// Answer with a JSON-RPC error rather than a tool result (a call stopped by shutdown).
    pub protocol: bool,
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
            protocol: false,
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

/// Who made a call, and how it is called off.
#[derive(Clone)]
pub struct Caller {
    pub client: ClientId,
    pub session: Option<String>,
    /// Fired when the client cancels the request (`notifications/cancelled`).
    pub cancel: CancellationToken,
    /// Where the call's progress goes, when its client asked for it (a `progressToken`).
    pub progress: Option<crate::workers::pool::ProgressSink>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("client", &self.client)
            .field("session", &self.session)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Caller {
    pub fn new(client: ClientId, session: Option<String>) -> Self {
        Self {
            client,
            session,
            cancel: CancellationToken::new(),
            progress: None,
        }
    }

    pub fn stdio() -> Self {
        Self::new(ClientId::stdio(), None)
    }
}

/// Tools that write to the store: their storage errors mean the store cannot be written.
const WRITING_TOOLS: [&str; 6] = [
    "import_score",
    "transpose_score",
    "harmonize_melody",
    "generate_counterpoint",
    "imitate_style",
    "delete_score",
];

/// How long a failed write keeps the store reported as not writable, unless a write
/// succeeds first.
const WRITE_FAILURE_MEMORY: Duration = Duration::from_secs(60);

/// Whether writes to the store have been failing (a full disk, a read-only file system).
#[derive(Default)]
pub struct StoreHealth {
    failure: Mutex<Option<(Instant, String)>>,
    /// The database was unreachable: calls are refused at once until then, so a dead
    /// database does not tie up every worker in its own connect timeout (a breaker for the
    /// store: after the pause, the next calls go through and find out again).
    unreachable_until: Mutex<Option<Instant>>,
}

/// How long calls are refused at once after the database was found unreachable.
const STORE_UNREACHABLE_PAUSE: Duration = Duration::from_millis(500);

impl StoreHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, String)>> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn write_failed(&self, message: &str) {
        *self.lock() = Some((Instant::now(), message.to_string()));
    }

    pub fn write_ok(&self) {
        *self.lock() = None;
    }

    fn unreachable(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.unreachable_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that a call found the database unreachable.
    pub fn found_unreachable(&self) {
        *self.unreachable() = Some(Instant::now() + STORE_UNREACHABLE_PAUSE);
    }

    /// Notes that a call reached the database.
    pub fn reached(&self) {
        *self.unreachable() = None;
    }

    /// How long calls are still to be refused, while the database is taken to be down.
    pub fn refusing_for(&self, now: Instant) -> Option<Duration> {
        self.unreachable()
            .and_then(|until| until.checked_duration_since(now))
    }

    /// The last write failure, while it is recent and no write has succeeded since.
    pub fn failing(&self) -> Option<String> {
        let mut failure = self.lock();
        match &*failure {
            Some((at, _)) if at.elapsed() > WRITE_FAILURE_MEMORY => {
                *failure = None;
                None
            }
            Some((_, message)) => Some(message.clone()),
            None => None,
        }
    }
}

/// Light tools run in the server process, on connections of their own: they read and write
/// the store but never run the music engine, so nothing a client sends can hang or crash
/// them, and they never wait behind a heavy parse.
struct LocalTools {
    config: Config,
    contexts: Mutex<Vec<ToolContext>>,
    permits: tokio::sync::Semaphore,
}

impl LocalTools {
    fn open(config: &Config) -> ToolResult<Self> {
        let n = config.server.admission.light_concurrency.max(1);
        let contexts = (0..n)
            .map(|_| ToolContext::open(config.clone()))
            .collect::<ToolResult<Vec<_>>>()?;
        Ok(Self {
            config: config.clone(),
            contexts: Mutex::new(contexts),
            permits: tokio::sync::Semaphore::new(n),
        })
    }

    /// Runs `f` on a context of its own, off the async threads.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ToolContext) -> ToolResult<T> + Send + 'static,
    ) -> ToolResult<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ToolError::internal("the server is shutting down"))?;
        let taken = self
            .contexts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let ctx = match taken {
            Some(ctx) => ctx,
            None => ToolContext::open(self.config.clone())?,
        };
        let joined = tokio::task::spawn_blocking(move || {
            let result = f(&ctx);
            (ctx, result)
        })
        .await;
        match joined {
            Ok((ctx, result)) => {
                self.contexts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(ctx);
                result
            }
            Err(e) => Err(ToolError::internal(format!(
                "the tool failed unexpectedly: {e}"
            ))),
        }
    }
}

pub struct Dispatcher {
    pub config: Arc<Config>,
    pub registry: &'static Registry,
    pub pool: Arc<Pool>,
    pub metrics: Arc<Metrics>,
    pub memory: Arc<MemoryGuard>,
    /// HTTP's per-client and global limits (checked in `admit_mcp`).
    pub limiter: RateLimiter,
    /// The stdio client's limit, when `rate_limit.stdio_per_second` sets one.
    stdio_limiter: Option<RateLimiter>,
    /// One per tool, shared: opens only when several clients' calls fail.
    pub breakers: HashMap<&'static str, CircuitBreaker>,
    /// One per (tool, client) that has failed lately: a client whose calls keep failing is
    /// refused on its own.
    client_breakers: Mutex<HashMap<(&'static str, ClientId), Arc<CircuitBreaker>>>,
    client_breaker_config: BreakerConfig,
    local: LocalTools,
    pub store_health: StoreHealth,
    pub draining: AtomicBool,
    pub in_flight: AtomicUsize,
    /// Cancelled when the drain deadline has passed: calls still running are stopped and
    /// answered with a JSON-RPC error.
    pub abort_running: CancellationToken,
    pub started: Instant,
}

/// Per-client breakers kept at most; quiet ones are forgotten beyond it.
const CLIENT_BREAKERS_KEPT: usize = 4096;

impl Dispatcher {
    pub fn new(
        config: Arc<Config>,
        pool: Arc<Pool>,
        metrics: Arc<Metrics>,
        memory: Arc<MemoryGuard>,
    ) -> ToolResult<Self> {
        let registry = Registry::shared();
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
        let stdio_limiter = (r.stdio_per_second > 0.0).then(|| {
            RateLimiter::new(
                r.stdio_per_second,
                r.stdio_burst,
                r.stdio_per_second,
                r.stdio_burst,
            )
        });
        metrics.memory_budget_bytes.set(memory.budget() as i64);
        let client_breaker_config = BreakerConfig {
            min_failing_clients: 1,
            ..config.server.breaker.clone()
        };
        Ok(Self {
            stdio_limiter,
            local: LocalTools::open(&config)?,
            config,
            registry,
            pool,
            metrics,
            memory,
            limiter,
            breakers,
            client_breakers: Mutex::new(HashMap::new()),
            client_breaker_config,
            store_health: StoreHealth::default(),
            draining: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            abort_running: CancellationToken::new(),
            started: Instant::now(),
        })
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Starts the drain: no new calls, and the calls waiting for a worker are refused.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.pool.stop_taking_work();
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

    /// Per-client breakers open now: (tool, client).
    pub fn client_breakers_open(&self, now: Instant) -> Vec<(String, String)> {
        let map = self
            .client_breakers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut open: Vec<(String, String)> = map
            .iter()
            .filter(|(_, b)| b.state(now) != BreakerState::Closed)
            .map(|((tool, client), _)| (tool.to_string(), client.to_string()))
            .collect();
        open.sort();
        open
    }

    fn client_breaker(&self, tool: &'static str, client: &ClientId) -> Arc<CircuitBreaker> {
        let mut map = self
            .client_breakers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if map.len() >= CLIENT_BREAKERS_KEPT {
            let now = Instant::now();
            map.retain(|_, b| !b.is_quiet(now));
        }
        map.entry((tool, client.clone()))
            .or_insert_with(|| Arc::new(CircuitBreaker::new(self.client_breaker_config.clone())))
            .clone()
    }

    /// Admits and runs one call. `rate_limit` is true where no HTTP layer limited it already.
    pub async fn call(
        &self,
        tool: &str,
        args: Value,
        caller: &Caller,
        rate_limit: bool,
    ) -> Result<Value, CallError> {
        let started = Instant::now();
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.metrics.in_flight.inc();
        let result = self.admit_and_run(tool, args, caller, rate_limit).await;
        self.metrics.in_flight.dec();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let elapsed = started.elapsed();
        let outcome = match &result {
            Ok(_) => outcome::OK,
            Err(e) => e.outcome,
        };
        let tool_label = if self.registry.get(tool).is_some() {
            tool
        } else {
            "unknown"
        };
        self.metrics
            .requests
            .with_label_values(&[tool_label, outcome])
            .inc();
        self.metrics
            .duration
            .with_label_values(&[tool_label])
            .observe(elapsed.as_secs_f64());
        let client = caller.client.as_str();
        let tool = printable(tool, 64);
        // Messages quote what clients sent: escaped, so no one can forge a log line.
        let error = result.as_ref().err().map(|e| printable(&e.message, 300));
        tracing::info!(
            tool,
            outcome,
            client,
            duration_ms = elapsed.as_secs_f64() * 1e3,
            error = error.as_deref().map(tracing::field::display),
            "tool call"
        );
        result
    }

    async fn admit_and_run(
        &self,
        tool: &str,
        args: Value,
        caller: &Caller,
        rate_limit: bool,
    ) -> Result<Value, CallError> {
        let Some(def) = self.registry.get(tool) else {
            return Err(CallError::new(
                outcome::TOOL_ERROR,
                "not_found",
                format!("unknown tool '{}'", printable(tool, 64)),
                None,
            ));
        };
        let tool = def.name;
        if self.is_draining() {
            return Err(shutting_down());
        }
        if let (true, Some(limiter)) = (rate_limit, &self.stdio_limiter) {
            if let Err(limited) = limiter.check(caller.client.as_str(), Instant::now()) {
                self.metrics.rate_limited.inc();
                return Err(CallError::new(
                    outcome::RATE_LIMITED,
                    "rate_limited",
                    "too many requests from this client".into(),
                    Some(limited.retry_after),
                ));
            }
        }
        self.refuse_under_memory_pressure(tool, def.heavy)?;
        // Held until the call ends: the parse's memory is promised to it.
        let _parse_memory = self.reserve_parse_memory(tool, &args, caller).await?;
        if tool != "health_check" {
            self.refuse_while_store_down()?;
        }
        let shared = self.breakers.get(tool);
        let own = self.client_breaker(tool, &caller.client);
        let now = Instant::now();
        let shared_permit = match shared.map(|b| b.try_acquire(now)) {
            Some(Err(open)) => {
                self.metrics.shed.with_label_values(&["breaker_open"]).inc();
                return Err(CallError::new(
                    outcome::BREAKER_OPEN,
                    "breaker_open",
                    format!("{tool} is failing for several clients, so its circuit breaker is open; calls are refused until it recovers"),
                    Some(open.retry_after),
                ));
            }
            Some(Ok(p)) => Some(p),
            None => None,
        };
        let own_permit = match own.try_acquire(now) {
            Ok(p) => p,
            Err(open) => {
                // The shared permit was taken but no call is made: count it as a success so
                // it cannot hold a half-open probe slot.
                if let (Some(b), Some(p)) = (shared, shared_permit) {
                    b.record(p, false, caller.client.as_str(), now);
                }
                self.metrics
                    .shed
                    .with_label_values(&["client_breaker_open"])
                    .inc();
                return Err(CallError::new(
                    outcome::BREAKER_OPEN,
                    "breaker_open",
                    format!("your calls to {tool} keep failing (timeouts, crashes or engine errors), so they are refused for a while; other clients are not affected"),
                    Some(open.retry_after),
                ));
            }
        };
        let result = self.run(def.name, def.heavy, args, caller).await;
        let failed = matches!(&result, Err(e) if e.is_tool_health_failure());
        let now = Instant::now();
        if let (Some(b), Some(p)) = (shared, shared_permit) {
            let before = b.opened_total();
            b.record(p, failed, caller.client.as_str(), now);
            if b.opened_total() > before {
                self.metrics.breaker_opened.with_label_values(&[tool]).inc();
                tracing::warn!(
                    tool,
                    "circuit breaker opened (failures from several clients)"
                );
            }
        }
        let before = own.opened_total();
        own.record(own_permit, failed, caller.client.as_str(), now);
        if own.opened_total() > before {
            self.metrics
                .client_breaker_opened
                .with_label_values(&[tool])
                .inc();
            tracing::warn!(
                tool,
                client = caller.client.as_str(),
                "a client's own breaker opened"
            );
        }
        match &result {
            Err(PoolError::Tool {
                kind: ErrorKind::StorageUnavailable,
                ..
            }) => self.store_health.found_unreachable(),
            Ok(_) => self.store_health.reached(),
            Err(_) => {}
        }
        if WRITING_TOOLS.contains(&tool) {
            match &result {
                Ok(_) => self.store_health.write_ok(),
                Err(PoolError::Tool {
                    kind: ErrorKind::Storage,
                    message,
                }) => {
                    self.metrics.store_write_failures.inc();
                    self.store_health.write_failed(message);
                }
                Err(_) => {}
            }
        }
        result.map_err(|e| self.pool_error(tool, e))
    }

    /// The memory guard: over the hard limit only `health_check` runs; over the soft limit
    /// heavy tools wait and light ones still run.
    fn refuse_under_memory_pressure(&self, tool: &str, heavy: bool) -> Result<(), CallError> {
        let memory_shed = |limit: &str, message: String| {
            self.metrics
                .shed
                .with_label_values(&[&format!("memory_{limit}")])
                .inc();
            CallError::new(
                outcome::MEMORY_SHED,
                "memory_pressure",
                message,
                Some(Duration::from_secs(2)),
            )
        };
        let in_use = (self.memory.total() >> 20, self.memory.budget() >> 20);
        match self.memory.pressure() {
            Pressure::Hard if tool != "health_check" => Err(memory_shed(
                    "hard",
                    format!(
                        "the server is over its hard memory limit ({} of {} MiB in use) and takes no new work",
                        in_use.0, in_use.1
                    ),
                )),
            Pressure::Soft if heavy => Err(memory_shed(
                    "soft",
                    format!(
                        "the server is over its soft memory limit ({} of {} MiB in use); {tool} is refused until memory falls, light tools still work",
                        in_use.0, in_use.1
                    ),
                )),
            _ => Ok(()),
        }
    }

    /// A call that parses a large inline source waits for memory to be free for it (up to
    /// `server.memory.admission_wait_secs`), so two large parses never start together when
    /// the budget holds one; it is refused with `memory_pressure` if the room does not come,
    /// and with `limit_exceeded` if the budget could never hold it.
    async fn reserve_parse_memory(
        &self,
        tool: &str,
        args: &Value,
        caller: &Caller,
    ) -> Result<Option<ParseHold>, CallError> {
        let settings = &self.config.server.memory;
        let Some(cost) = parse_cost::of_call(args, &self.config.limits) else {
            return Ok(None);
        };
        if cost < settings.reserve_from_mb << 20 {
            return Ok(None);
        }
        let wait = Duration::from_secs_f64(settings.admission_wait_secs.max(0.0));
        let client = caller.client.as_str();
        let held = match self.memory.hold(client, cost, Duration::ZERO).await {
            Err(HoldRefusal::NotNow { .. }) if !wait.is_zero() => {
                self.metrics.parse_waits.inc();
                tracing::info!(client, mib = cost >> 20, "a large parse waits for memory");
                None
            }
            other => Some(other),
        };
        let held = tokio::select! {
            held = async {
                match held {
                    Some(now) => now,
                    None => self.memory.hold(client, cost, wait).await,
                }
            } => held,
            _ = caller.cancel.cancelled() => return Err(CallError::new(
                outcome::TOOL_ERROR,
                "cancelled",
                "the call was cancelled while it waited for memory; nothing was stored".into(),
                None,
            )),
        };
        let mib = |b: u64| b >> 20;
        match held {
            Ok(hold) => Ok(Some(hold)),
            Err(HoldRefusal::ClientHasOne { its_other }) => {
                self.metrics
                    .shed
                    .with_label_values(&["client_large_parse"])
                    .inc();
                Err(CallError::new(
                    outcome::RATE_LIMITED,
                    "rate_limited",
                    format!(
                        "{tool}: you already have a large parse under way or waiting for memory (about {} MiB); each client may have one at a time (this one needs about {} MiB). Nothing was stored: send it again when the other has finished",
                        mib(its_other),
                        mib(cost)
                    ),
                    Some(Duration::from_secs(5)),
                ))
            }
            Err(HoldRefusal::NeverFits { needed, limit }) => {
                self.metrics
                    .shed
                    .with_label_values(&["memory_never_fits"])
                    .inc();
                Err(CallError::new(
                    outcome::TOOL_ERROR,
                    "limit_exceeded",
                    format!(
                        "{tool}: this source would need about {} MiB to parse, more than the server's memory budget can ever give one parse ({} MiB under its hard limit, server.memory.budget_mb); nothing was stored. Send a smaller score, or raise the budget",
                        mib(needed),
                        mib(limit)
                    ),
                    None,
                ))
            }
            Err(HoldRefusal::NotNow {
                needed,
                in_use,
                limit,
            }) => {
                self.metrics
                    .shed
                    .with_label_values(&["memory_reservation"])
                    .inc();
                Err(CallError::new(
                    outcome::MEMORY_SHED,
                    "memory_pressure",
                    format!(
                        "{tool}: this source needs about {} MiB to parse and the server has {} of its {} MiB in use or promised to other parses; waited {:.0} s for room, nothing was stored. Retry later",
                        mib(needed),
                        mib(in_use),
                        mib(limit),
                        wait.as_secs_f64()
                    ),
                    Some(Duration::from_secs(5)),
                ))
            }
        }
    }

    /// The store's breaker: right after a call found the database unreachable, calls are
    /// refused at once instead of each taking a worker to find the same.
    fn refuse_while_store_down(&self) -> Result<(), CallError> {
        let Some(wait) = self.store_health.refusing_for(Instant::now()) else {
            return Ok(());
        };
        self.metrics
            .shed
            .with_label_values(&["storage_unavailable"])
            .inc();
        Err(CallError::new(
            outcome::TOOL_ERROR,
            "storage_unavailable",
            "the score database is unreachable (the last call found it down); nothing was changed. Retry shortly".into(),
            Some(wait.max(Duration::from_millis(100))),
        ))
    }

    /// Runs an admitted call: light tools here, the rest on a worker; a call still running
    /// when the drain deadline passes is stopped.
    async fn run(
        &self,
        tool: &'static str,
        heavy: bool,
        args: Value,
        caller: &Caller,
    ) -> Result<Value, PoolError> {
        let to_pool_error = |e: ToolError| PoolError::Tool {
            kind: e.kind,
            message: e.message,
        };
        let registry = self.registry;
        let work = async move {
            if !heavy {
                return self
                    .local
                    .run(move |ctx| registry.call(ctx, tool, args))
                    .await
                    .map_err(to_pool_error);
            }
            if tool == "score_info" {
                let asked = args.clone();
                match self
                    .local
                    .run(move |ctx| crate::tools::scores::score_info_stored(ctx, asked))
                    .await
                {
                    Ok(Some(answer)) => return Ok(answer),
                    // Stored before descriptions were kept: a worker parses it.
                    Ok(None) => {}
                    Err(e) => return Err(to_pool_error(e)),
                }
            }
            let deadline = self.config.server.deadlines.for_tool(tool);
            self.pool
                .call(
                    tool,
                    args,
                    deadline,
                    caller.client.as_str(),
                    &caller.cancel,
                    caller.progress.as_ref(),
                )
                .await
        };
        tokio::select! {
            result = work => result,
            _ = self.abort_running.cancelled() => Err(PoolError::ShuttingDown),
        }
    }

    fn pool_error(&self, tool: &str, e: PoolError) -> CallError {
        match e {
            PoolError::Tool { kind, message } => {
                let code = ToolError::new(kind, String::new()).code();
                // The one tool error worth retrying as it is: the database comes back.
                let retry = (kind == ErrorKind::StorageUnavailable).then_some(Duration::from_secs(1));
                CallError::new(outcome::TOOL_ERROR, code, message, retry)
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
            PoolError::ClientQueueFull {
                queued,
                quota,
                retry_after,
            } => {
                self.metrics
                    .shed
                    .with_label_values(&["client_queue"])
                    .inc();
                CallError::new(
                    outcome::OVERLOADED,
                    "overloaded",
                    format!("this client already has {quota} calls running and {queued} waiting, the most one client may have (server.admission.client_max_workers, client_queue_max); other clients are served"),
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
            PoolError::ShuttingDown if self.abort_running.is_cancelled() => CallError {
                protocol: true,
                ..CallError::new(
                    outcome::DRAINING,
                    "shutting_down",
                    format!("the server is shutting down and {tool} did not finish within the drain deadline (server.drain_secs); its work was stopped. Retry after the restart"),
                    Some(Duration::from_secs(1)),
                )
            },
            PoolError::ShuttingDown => shutting_down(),
            PoolError::Cancelled { running } => CallError::new(
                outcome::CANCELLED,
                "cancelled",
                if running {
                    format!("{tool}: cancelled by the client; its worker was stopped")
                } else {
                    format!("{tool}: cancelled by the client before it started")
                },
                None,
            ),
        }
    }
}

fn shutting_down() -> CallError {
    CallError::new(
        outcome::DRAINING,
        "shutting_down",
        "the server is shutting down and takes no new work; retry on another instance or after the restart".into(),
        Some(Duration::from_secs(1)),
    )
}
