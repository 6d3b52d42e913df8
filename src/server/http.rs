//! The HTTP face: `/mcp` (rmcp's Streamable HTTP service) behind auth, Host/Origin checks,
//! the rate limiter and the session cap; the probes `/livez`, `/readyz`, `/health`; and
//! `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use serde_json::json;

use crate::server::dispatch::Dispatcher;
use crate::store::Store;

pub struct AppState {
    pub dispatcher: Arc<Dispatcher>,
    pub store: Store,
    pub sessions: Arc<LocalSessionManager>,
    pub allowed_hosts: Vec<String>,
}

/// Host names accepted in `Host`: loopback names, the bind address, and configured extras.
pub fn allowed_hosts(bind: &str, extra: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1", "[::1]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    hosts.push(bind.to_string());
    if bind.contains(':') {
        hosts.push(format!("[{bind}]"));
    }
    hosts.extend(extra.iter().cloned());
    hosts
}

fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest
            .split(']')
            .next()
            .map(|h| &authority[..h.len() + 2])
            .unwrap_or(authority);
    }
    authority
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(authority)
}

/// Constant-time comparison of two byte strings (length is not hidden).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32000, "message": message}
    });
    (status, Json(body)).into_response()
}

/// Host and Origin checks (DNS rebinding), then the bearer token.
async fn guard(State(state): State<Arc<AppState>>, request: Request<Body>, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(host_of)
        .unwrap_or("");
    if !state
        .allowed_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host))
    {
        return refuse(
            StatusCode::FORBIDDEN,
            &format!("Host '{host}' is not allowed (DNS rebinding protection); add it to server.allowed_hosts"),
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let config = &state.dispatcher.config.server;
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| host_of(rest.split('/').next().unwrap_or("")))
            .unwrap_or("");
        let loopback = ["localhost", "127.0.0.1", "[::1]"].contains(&origin_host);
        if !loopback && !config.allowed_origins.iter().any(|o| o == origin) {
            return refuse(
                StatusCode::FORBIDDEN,
                &format!("Origin '{origin}' is not allowed; add it to server.allowed_origins"),
            );
        }
    }
    let path = request.uri().path();
    let needs_token = !matches!(path, "/livez" | "/readyz");
    if let (true, Some(token)) = (needs_token, state.dispatcher.config.server.token.as_deref()) {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(presented.as_bytes(), token.as_bytes()) {
            let mut response = refuse(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (send Authorization: Bearer <token>)",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

/// Rate limit and session cap, for `/mcp` only.
async fn admit_mcp(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
    next: Next,
) -> Response {
    if request.method() == Method::POST {
        let session = request
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let client = session
            .as_ref()
            .map(|s| format!("session:{s}"))
            .unwrap_or_else(|| peer.ip().to_string());
        if let Err(limited) = state.dispatcher.limiter.check(&client, Instant::now()) {
            state.dispatcher.metrics.rate_limited.inc();
            let secs = limited.retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let mut response = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("rate limit exceeded for this client; retry after {secs} s"),
            );
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
        if session.is_none() {
            let live = state.sessions.sessions.read().await.len();
            let max = state.dispatcher.config.server.max_sessions;
            if live >= max {
                state
                    .dispatcher
                    .metrics
                    .shed
                    .with_label_values(&["sessions"])
                    .inc();
                let mut response = refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("the server holds its maximum of {max} MCP sessions; retry later"),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                return response;
            }
        }
    }
    next.run(request).await
}

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

/// Why the server is not ready (none: ready). `store` is the caller's one read of the
/// store's figures, shared with what /health shows.
fn readiness(
    state: &AppState,
    store: &crate::error::ToolResult<crate::store::StoreStats>,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if state.dispatcher.is_draining() {
        reasons.push("draining: the server is shutting down".to_string());
    }
    if state.dispatcher.pool.up() == 0 {
        reasons.push("no worker process is up".to_string());
    }
    if let Err(e) = store {
        reasons.push(format!("store unavailable: {e}"));
    }
    reasons
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let reasons = readiness(&state, &state.store.stats());
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

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let d = &state.dispatcher;
    let now = Instant::now();
    let breakers: serde_json::Map<String, serde_json::Value> = d
        .breakers
        .iter()
        .map(|(tool, b)| {
            (
                tool.to_string(),
                json!({"state": b.state(now).name(), "opened_total": b.opened_total()}),
            )
        })
        .collect();
    let workers = d.pool.slot_info();
    let up = d.pool.up();
    let store = state.store.stats();
    let memory = d.memory.snapshot();
    let reasons = readiness(&state, &store);
    let any_open = d
        .breakers
        .values()
        .any(|b| b.state(now) != crate::resilience::breaker::BreakerState::Closed);
    let status = if !reasons.is_empty() {
        "unhealthy"
    } else if any_open
        || up < workers.len()
        || memory.pressure != crate::resilience::memory::Pressure::Normal
    {
        "degraded"
    } else {
        "healthy"
    };
    let c = &d.config.server;
    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "git_revision": crate::GIT_REVISION,
        "uptime_seconds": d.started.elapsed().as_secs_f64(),
        "problems": reasons,
        "breakers": breakers,
        "workers": {"size": workers.len(), "up": up, "waiting": d.pool.waiting(), "slots": workers},
        "memory": memory,
        "store": match store {
            Ok(s) => json!(s),
            Err(e) => json!({"error": e.message}),
        },
        "in_flight": d.in_flight.load(std::sync::atomic::Ordering::SeqCst),
        "sessions": state.sessions.sessions.read().await.len(),
        "limits": {
            "max_sessions": c.max_sessions,
            "max_body_bytes": c.max_body_bytes,
            "queue_max": c.admission.queue_max,
            "queue_wait_ms": c.admission.queue_wait_ms,
            "rate_limit": c.rate_limit,
            "deadlines": c.deadlines,
        },
    });
    let code = if status == "unhealthy" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body)).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let d = &state.dispatcher;
    d.export_breakers();
    d.metrics.sample_process();
    d.metrics
        .sessions
        .set(state.sessions.sessions.read().await.len() as i64);
    if let Ok(s) = state.store.stats() {
        d.metrics.store_scores.set(s.scores as i64);
        d.metrics.store_bytes.set(s.bytes as i64);
        d.metrics.store_evictions.set(s.evictions_total as i64);
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
    let mcp_routes = Router::new()
        .route_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(state.clone(), admit_mcp));
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(mcp_routes)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(middleware::from_fn_with_state(state.clone(), count_http))
        .with_state(state)
}

/// How long to wait for in-flight calls before giving up, in the shutdown path.
pub fn drain_deadline(state: &AppState) -> Duration {
    Duration::from_secs_f64(state.dispatcher.config.server.drain_secs.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_parsing_and_comparison() {
        assert_eq!(host_of("127.0.0.1:8021"), "127.0.0.1");
        assert_eq!(host_of("[::1]:8021"), "[::1]");
        assert_eq!(host_of("localhost"), "localhost");
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
