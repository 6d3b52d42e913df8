//! The HTTP face: `/mcp` (rmcp's Streamable HTTP service) behind the guard (Host, Origin,
//! token) and admission (rate limits, body, sessions); the probes `/livez`, `/readyz`,
//! `/health`; and `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub use crate::server::state::AppState;
use crate::store::ScrubReport;
use crate::wire::health::{
    BreakerHealth, ClientSessions, ClientWorkers, Health, MemoryHealth, SlotHealth, StoreHealth,
    WorkersHealth,
};

pub use crate::server::guard::{allowed_hosts, constant_time_eq};

async fn count_http(
    State(state): State<Arc<AppState>>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let path = match request.uri().path() {
        p @ ("/mcp" | "/livez" | "/readyz" | "/health" | "/metrics") => p,
        _ => "other",
    }
    .to_string();
    let response = next.run(request).await;
    let class = format!("{}xx", response.status().as_u16() / 100);
    state
        .dispatcher
        .metrics
        .http_requests
        .with_label_values(&[&path, &class])
        .inc();
    response
}

async fn livez() -> &'static str {
    "ok\n"
}

/// The store's state as the probes see it: one read of its figures, the free disk, and
/// whether writes have been failing.
struct StoreView {
    stats: crate::error::ToolResult<crate::store::StoreStats>,
    free_bytes: Option<u64>,
    write_failure: Option<String>,
}

/// On a blocking thread: with PostgreSQL, reading the figures is a network round trip
/// that may take up to `store.op_timeout_ms` while the database is down.
async fn store_view(state: &Arc<AppState>) -> StoreView {
    let state = state.clone();
    let read = tokio::task::spawn_blocking(move || StoreView {
        stats: state.store.stats(),
        free_bytes: state.store.free_bytes(),
        write_failure: state.dispatcher.store_health.failing(),
    });
    read.await.unwrap_or_else(|e| StoreView {
        stats: Err(crate::error::ToolError::internal(format!(
            "reading the store's figures failed: {e}"
        ))),
        free_bytes: None,
        write_failure: None,
    })
}

/// Why the server is not ready (none: ready). The first three make it unhealthy; the
/// store's write problems make it degraded (reads and analyses still work) but not ready,
/// so a load balancer sends new imports elsewhere.
fn readiness(state: &AppState, store: &StoreView) -> (Vec<String>, Vec<String>) {
    let mut fatal = Vec::new();
    let mut degraded = Vec::new();
    if state.dispatcher.is_draining() {
        fatal.push("draining: the server is shutting down".to_string());
    }
    if state.dispatcher.pool.up() == 0 {
        fatal.push("no worker process is up".to_string());
    }
    if let Err(e) = &store.stats {
        fatal.push(format!("store unavailable: {e}"));
    }
    if let Some(failure) = &store.write_failure {
        degraded.push(format!("store writes are failing: {failure}"));
    }
    let min_free = state.dispatcher.config.store.min_free_mb * 1024 * 1024;
    if let Some(free) = store.free_bytes.filter(|f| *f < min_free) {
        degraded.push(format!(
            "the disk holding the store has {} MiB free, under store.min_free_mb = {}",
            free >> 20,
            min_free >> 20
        ));
    }
    (fatal, degraded)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let view = store_view(&state).await;
    let (fatal, degraded) = readiness(&state, &view);
    let reasons: Vec<String> = fatal.into_iter().chain(degraded).collect();
    if reasons.is_empty() {
        (StatusCode::OK, Json(json!({"ready": true}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reasons": reasons})),
        )
            .into_response()
    }
}

fn slot_health(s: &crate::workers::pool::SlotInfo) -> SlotHealth {
    SlotHealth {
        slot: s.slot as u64,
        pid: s.pid,
        state: s.state.to_string(),
        tool: s.tool.clone(),
        tasks: s.tasks,
        rss_bytes: s.rss_bytes,
        restarts: s.restarts,
        uptime_secs: s.uptime_secs,
    }
}

/// The store's part of `/health`: its figures and the state of its disk, writes and scrub.
fn store_health(state: &AppState, view: &StoreView, scrub: ScrubReport) -> StoreHealth {
    let s = match &view.stats {
        Ok(s) => s,
        Err(e) => {
            let mut extra = serde_json::Map::new();
            extra.insert("error".into(), json!(e.message));
            return StoreHealth {
                extra,
                ..Default::default()
            };
        }
    };
    let mut extra = serde_json::Map::new();
    extra.insert("corrupted".into(), json!(s.corrupted));
    extra.insert("free_disk_bytes".into(), json!(view.free_bytes));
    extra.insert("writable".into(), json!(view.write_failure.is_none()));
    extra.insert("write_failure".into(), json!(view.write_failure));
    extra.insert(
        "corrupted_ids".into(),
        json!(state
            .store
            .corrupted_records(20)
            .map(|(_, ids)| ids)
            .unwrap_or_default()),
    );
    extra.insert("scrub".into(), json!(scrub));
    StoreHealth {
        scores: Some(s.scores),
        bytes: Some(s.bytes),
        evictions_total: Some(s.evictions_total),
        max_scores: Some(s.max_scores),
        max_bytes: Some(s.max_bytes),
        extra,
    }
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let d = &state.dispatcher;
    let now = Instant::now();
    let breakers: BTreeMap<String, BreakerHealth> = d
        .breakers
        .iter()
        .map(|(tool, b)| {
            (
                tool.to_string(),
                BreakerHealth {
                    state: Some(b.state(now).name().to_string()),
                    opened_total: Some(b.opened_total()),
                },
            )
        })
        .collect();
    let workers = d.pool.slot_info();
    let up = d.pool.up();
    let view = store_view(&state).await;
    let memory = d.memory.snapshot();
    let (fatal, degraded) = readiness(&state, &view);
    let scrub = state
        .scrub
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let any_open = d
        .breakers
        .values()
        .any(|b| b.state(now) != crate::resilience::breaker::BreakerState::Closed);
    let corrupted = view.stats.as_ref().map(|s| s.corrupted).unwrap_or(0);
    let status = if !fatal.is_empty() {
        "unhealthy"
    } else if any_open
        || !degraded.is_empty()
        || corrupted > 0
        || up < workers.len()
        || memory.pressure != crate::resilience::memory::Pressure::Normal
    {
        "degraded"
    } else {
        "healthy"
    };
    let mut problems: Vec<String> = fatal.into_iter().chain(degraded).collect();
    if corrupted > 0 {
        problems.push(format!(
            "{corrupted} stored records fail their checksum (store.corrupted_ids); delete and import them again"
        ));
    }
    let c = &d.config.server;
    let (open_full, open_probe) = state.connections.open();
    let body = Health {
        status: Some(status.to_string()),
        version: Some(env!("CARGO_PKG_VERSION").to_string()),
        git_revision: Some(crate::GIT_REVISION.to_string()),
        uptime_seconds: Some(d.started.elapsed().as_secs_f64()),
        problems,
        breakers,
        client_breakers_open: d.client_breakers_open(now),
        workers: Some(WorkersHealth {
            size: Some(workers.len() as u64),
            up: Some(up as u64),
            waiting: Some(d.pool.waiting() as u64),
            client_quota: Some(d.pool.client_quota() as u64),
            clients: d
                .pool
                .clients()
                .into_iter()
                .map(|(client, holding, waiting)| ClientWorkers {
                    client,
                    holding: holding as u64,
                    waiting: waiting as u64,
                })
                .collect(),
            slots: Some(workers.iter().map(slot_health).collect()),
        }),
        memory: Some(MemoryHealth {
            server_bytes: Some(memory.server_bytes),
            workers_bytes: Some(memory.workers_bytes),
            total_bytes: Some(memory.total_bytes),
            reserved_bytes: Some(memory.reserved_bytes),
            budget_bytes: Some(memory.budget_bytes),
            soft_limit_bytes: Some(memory.soft_limit_bytes),
            hard_limit_bytes: Some(memory.hard_limit_bytes),
            pressure: json!(memory.pressure).as_str().map(str::to_string),
        }),
        store: Some(store_health(&state, &view, scrub)),
        in_flight: Some(d.in_flight.load(Ordering::SeqCst) as u64),
        sessions: Some(state.sessions.live().await as u64),
        sessions_by_client: state
            .sessions
            .per_client()
            .into_iter()
            .take(10)
            .map(|(client, n)| ClientSessions {
                client,
                sessions: n as u64,
            })
            .collect(),
        connections: json!({"open": open_full, "probe_only": open_probe, "max": state.connections.max()}),
        large_bodies_reading: Some(state.large.reading() as u64),
        limits: json!({
            "max_sessions": c.max_sessions,
            "max_sessions_per_client": c.max_sessions_per_client,
            "max_body_bytes": c.max_body_bytes,
            "connections": c.connections,
            "bodies": c.bodies,
            "queue_max": c.admission.queue_max,
            "queue_wait_ms": c.admission.queue_wait_ms,
            "client_queue_max": c.admission.client_queue_max,
            "rate_limit": c.rate_limit,
            "deadlines": c.deadlines,
            "max_export_bytes": d.config.limits.max_export_bytes,
        }),
    };
    let code = if status == "unhealthy" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body.to_json())).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let d = &state.dispatcher;
    d.export_breakers();
    d.metrics.sample_process();
    d.metrics.sessions.set(state.sessions.live().await as i64);
    if let Ok(s) = store_view(&state).await.stats {
        d.metrics.store_scores.set(s.scores as i64);
        d.metrics.store_bytes.set(s.bytes as i64);
        d.metrics.store_evictions.set(s.evictions_total as i64);
        d.metrics.store_corrupted.set(s.corrupted as i64);
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    (StatusCode::OK, headers, d.metrics.render()).into_response()
}

/// Builds the router around an rmcp service.
pub fn router<S>(state: Arc<AppState>, mcp: S) -> Router
where
    S: tower_service::Service<Request<Body>, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    let mcp_routes =
        Router::new()
            .route_service("/mcp", mcp)
            .layer(middleware::from_fn_with_state(
                state.clone(),
                crate::server::admit::admit_mcp,
            ));
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(mcp_routes)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::server::guard::guard,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), count_http))
        .with_state(state)
}

/// How long to wait for in-flight calls before giving up, in the shutdown path.
pub fn drain_deadline(state: &AppState) -> Duration {
    Duration::from_secs_f64(state.dispatcher.config.server.drain_secs.max(0.0))
}
