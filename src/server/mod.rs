//! `music21-prod serve`: the hardened MCP server.
//!
//! ```text
//! client ─TCP─▶ listener (connection caps, header and stall deadlines)
//!                 └─HTTP─▶ guard (Host/Origin, token → client) ── /mcp: admit (rate, body,
//!                           │                                      sessions) ─▶ rmcp ─▶ McpHandler
//!                           ├─ /livez /readyz /health /metrics                              │
//!                           ▼                                                               ▼
//!     Dispatcher: memory guard → breakers (shared, per client) → light tools here, or the
//!                 fair queue ─▶ worker pool (N processes, a quota per client)
//! ```

pub mod admit;
pub mod clients;
pub mod completions;
pub mod dispatch;
pub mod guard;
pub mod http;
pub mod inflight;
pub mod jsonrpc;
pub mod listener;
pub mod logging;
pub mod mcp;
pub mod notify;
pub mod prompts;
pub mod replay;
pub mod resources;
pub mod state;
pub mod stdio;
pub mod supervise;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use anyhow::Context;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::resilience::memory::{MemoryGuard, Pressure};
use crate::store::Store;
use crate::workers::pool::Pool;
use dispatch::Dispatcher;
use mcp::McpHandler;

/// Runs the server until SIGTERM or SIGINT; exit 0 after a clean drain. An error is a
/// server that could not start or serve (`main` prints it and exits 1).
pub fn run(config: Config, stdio: bool) -> anyhow::Result<ExitCode> {
    crate::logging::init(&config.server.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime
        .block_on(serve(config, stdio))
        .map_err(anyhow::Error::msg)?;
    Ok(ExitCode::SUCCESS)
}

/// Samples the memory of the server and its workers into the guard and the metrics.
fn spawn_memory_sampler(
    pool: Arc<Pool>,
    memory: Arc<MemoryGuard>,
    metrics: Arc<Metrics>,
    every: Duration,
) {
    tokio::spawn(async move {
        let pid = std::process::id();
        let mut was_under_soft = true;
        loop {
            let server = crate::sysmem::rss_bytes(pid).unwrap_or(0);
            let workers = pool.sample_memory();
            memory.record(server, workers);
            // Crossing the soft limit: the workers' caches are the memory we can give back.
            let under_soft = memory.pressure() == Pressure::Normal;
            if was_under_soft && !under_soft {
                pool.request_shrink();
            }
            was_under_soft = under_soft;
            metrics
                .memory_bytes
                .with_label_values(&["server"])
                .set(server as i64);
            metrics
                .memory_bytes
                .with_label_values(&["held"])
                .set(memory.held() as i64);
            tokio::time::sleep(every).await;
        }
    });
}

async fn shutdown_signal() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

async fn serve(config: Config, stdio: bool) -> Result<(), String> {
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::new());
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    metrics.process_start_time.set(now_secs as i64);
    let store = Store::open(&config.server.data_dir, &config.store).map_err(|e| e.message)?;
    let scrub =
        crate::store::spawn_scrub(&config.server.data_dir, &config.store).map_err(|e| e.message)?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let pool = Pool::start(&config, exe, metrics.clone(), stdio)
        .await
        .map_err(|e| format!("cannot start worker processes: {e}"))?;
    let memory = Arc::new(MemoryGuard::new(&config.server.memory));
    spawn_memory_sampler(
        pool.clone(),
        memory.clone(),
        metrics.clone(),
        Duration::from_millis(config.server.memory.sample_ms.max(10)),
    );
    let dispatcher = Arc::new(
        Dispatcher::new(config.clone(), pool.clone(), metrics.clone(), memory)
            .map_err(|e| e.message)?,
    );

    if stdio {
        return stdio::serve(dispatcher, pool).await;
    }

    let cancel = tokio_util::sync::CancellationToken::new();
    let (sessions, resumable, sse_retry) = replay::session_managers(&config, &metrics);
    let allowed_hosts = http::allowed_hosts(&config.server.bind, &config.server.allowed_hosts);
    let mut http_config = StreamableHttpServerConfig::default();
    http_config.allowed_hosts = allowed_hosts.clone();
    // Origins are checked by `guard` (parsed as URLs, loopback pages allowed); rmcp's own
    // check would refuse loopback pages as soon as the list is not empty.
    http_config.allowed_origins = Vec::new();
    http_config.max_request_body_bytes = config.server.max_body_bytes as usize;
    http_config.cancellation_token = cancel.child_token();
    http_config.sse_retry = sse_retry;
    let handler = McpHandler::new(dispatcher.clone(), false, Default::default());
    let mcp = StreamableHttpService::new(move || Ok(handler.clone()), resumable, http_config);
    let connections = listener::Connections::new(
        &config.server.connections,
        &config.server.trusted_proxies,
        metrics.clone(),
    );
    let state = Arc::new(http::AppState {
        dispatcher: dispatcher.clone(),
        store,
        sessions: clients::Sessions::new(
            sessions,
            config.server.max_sessions_per_client,
            config.server.max_sessions,
            metrics.clone(),
        ),
        allowed_hosts,
        connections: connections.clone(),
        large: Default::default(),
        in_flight_ids: Default::default(),
        open_posts: Default::default(),
        scrub,
    });
    let app = http::router(state.clone(), mcp);
    let addr = format!("{}:{}", config.server.bind, config.server.port);
    let tcp = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
        format!("cannot listen on {addr}: {e}; choose another port with --port or server.port")
    })?;
    let local = tcp
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    // One line on stdout says where to connect (tests and scripts read it; port 0 picks one).
    println!("music21-prod serve: listening on http://{local}/mcp");
    tracing::info!(%local, workers = pool.size(), max_connections = connections.max(), "serving");
    notify::notify("READY=1");
    if let Some(every) = notify::watchdog_interval() {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                notify::notify("WATCHDOG=1");
            }
        });
    }

    let stop_listening = tokio_util::sync::CancellationToken::new();
    let drain_state = state.clone();
    let stop = stop_listening.clone();
    tokio::spawn(async move {
        let signal = shutdown_signal().await;
        tracing::info!(signal, "draining");
        notify::notify("STOPPING=1");
        let d = &drain_state.dispatcher;
        d.start_draining();
        // Calls running finish; their answers are sent in full before anything is closed.
        let busy = || {
            d.in_flight.load(Ordering::SeqCst) > 0
                || drain_state.open_posts.load(Ordering::SeqCst) > 0
        };
        let deadline = Instant::now() + http::drain_deadline(&drain_state);
        while busy() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = d.in_flight.load(Ordering::SeqCst);
        if left > 0 {
            // Past the deadline: the calls still running are stopped and answered with a
            // JSON-RPC error that says so, and those answers get a moment to go out.
            tracing::warn!(
                left,
                "drain deadline passed with calls still in flight; stopping them"
            );
            d.abort_running.cancel();
            let flush = Instant::now() + Duration::from_secs(1);
            while busy() && Instant::now() < flush {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        cancel.cancel();
        stop.cancel();
    });
    // After the drain no call is in flight; idle keep-alive and SSE connections get a short
    // grace to close, then the process ends (a restart should not wait on idle clients).
    listener::serve(
        tcp,
        app,
        connections,
        stop_listening,
        Duration::from_millis(300),
    )
    .await;
    pool.shutdown(Duration::from_secs(2)).await;
    tracing::info!("stopped");
    Ok(())
}
