//! Admission of a POST to `/mcp`, before rmcp sees it: rate limits, the body, sessions.
//!
//! In order:
//! 1. the rate limit, counted for the client and for the session it names;
//! 2. a declared `Content-Length` over `server.max_body_bytes` is refused at once (413),
//!    unread;
//! 3. a large body (declared or chunked) needs one of few large-body places, globally and
//!    per client (503 with `Retry-After` when none is free);
//! 4. the bytes of the body are promised from the memory budget before they are read, and a
//!    body that would pass the hard limit is refused (503, `Retry-After`);
//! 5. the body is read with an idle deadline (408) and the size cap (413);
//! 6. it must be one JSON-RPC message (`jsonrpc::check`: -32700 parse error, -32600 invalid
//!    request, -32602 for a `tools/call` naming no tool), each answered with HTTP 400; a
//!    request id already in flight in the same session is refused (-32600), since the MCP
//!    layer would answer only one of the two;
//! 7. a request that opens a session makes room under the per-client and global session
//!    caps (closing that client's least recently used idle session first), or is refused;
//! 8. the response is watched to its end: the session counts as busy, the id as in flight,
//!    and the drain on SIGTERM waits for it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{Stream, StreamExt};
use serde_json::{json, Value};

use crate::server::replay::{ClientGone, Listeners, Listening};

use crate::server::clients::{ClientId, SessionRefusal};
use crate::server::guard::refuse;
use crate::server::inflight::OpenResponse;
use crate::server::jsonrpc;
use crate::server::state::AppState;

fn jsonrpc_error(status: StatusCode, id: Option<&Value>, code: i64, message: &str) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id.cloned().unwrap_or(Value::Null),
        "error": {"code": code, "message": message}
    });
    (status, Json(body)).into_response()
}

fn with_retry_after(mut response: Response, secs: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Closes the connection after this response (its body was not read to the end).
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Admission of `/mcp` (every method is rate limited; POST bodies are checked as above).
pub async fn admit_mcp(
    State(state): State<Arc<AppState>>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let client = request
        .extensions()
        .get::<ClientId>()
        .cloned()
        .unwrap_or_else(|| ClientId::from_ip([127, 0, 0, 1].into()));
    let session = request
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let d = &state.dispatcher;
    let session_key = session.as_ref().map(|s| format!("session:{s}"));
    let mut keys = vec![client.as_str()];
    if let Some(k) = &session_key {
        keys.push(k.as_str());
    }
    if let Err(limited) = d.limiter.check_all(&keys, Instant::now()) {
        d.metrics.rate_limited.inc();
        let secs = limited.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        return with_retry_after(
            refuse(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("rate limit exceeded for this client; retry after {secs} s"),
            ),
            secs,
        );
    }
    if request.method() == Method::DELETE {
        return end_session(&state, session.as_deref(), request, next).await;
    }
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let open = OpenResponse::new(&state.open_posts);
    let (parts, body) = request.into_parts();
    let bytes = match read_body(&state, &client, &parts.headers, body).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let envelope = match jsonrpc::check(&bytes) {
        Ok(e) => e,
        Err(refusal) => return (StatusCode::BAD_REQUEST, Json(refusal.to_json())).into_response(),
    };
    let is_request = envelope.is_request();
    let mut guards: Vec<Box<dyn Send>> = Vec::new();
    guards.push(Box::new(open));
    // A request id already in flight in this session: the MCP layer keeps one answer per id
    // and session, so the second caller would wait for nothing.
    if let (true, Some(s), Some(id)) = (is_request, &session, &envelope.id) {
        let key = format!("{s}\u{0}{id}");
        let Some(held) = state.in_flight_ids.try_hold(key) else {
            return jsonrpc_error(
                StatusCode::CONFLICT,
                Some(id),
                -32600,
                &format!(
                    "invalid request: a request with id {} is already in flight in this session; use a new id for each request",
                    crate::error::printable(&id.to_string(), 64)
                ),
            );
        };
        guards.push(Box::new(held));
    }
    let opening = envelope.method.as_deref() == Some("initialize") && session.is_none();
    if opening {
        match state.sessions.open(&client).await {
            Ok(place) => guards.push(Box::new(place)),
            Err(refusal) => {
                d.metrics.shed.with_label_values(&["sessions"]).inc();
                let message = match refusal {
                    SessionRefusal::ClientFull { held, max } => format!(
                        "this client holds {held} MCP sessions, its maximum of {max}, and all are busy; close one (DELETE /mcp) or retry later"
                    ),
                    SessionRefusal::ServerFull { max } => format!(
                        "the server holds its maximum of {max} MCP sessions; retry later"
                    ),
                };
                return with_retry_after(refuse(StatusCode::SERVICE_UNAVAILABLE, &message), 5);
            }
        }
    }
    if let Some(s) = &session {
        guards.push(Box::new(state.sessions.begin(s, &client)));
    }
    let listeners =
        (is_request && envelope.method.as_deref() == Some("tools/call")).then(Listeners::new);
    let mut parts = parts;
    name_subscription(&mut parts.headers, envelope.method.as_deref(), &bytes);
    if let Some(l) = &listeners {
        parts.extensions.insert(ClientGone(l.clone()));
    }
    // The POST's own response is the call's first listener.
    let gone = listeners.as_ref().map(Listeners::listen);
    let request = Request::from_parts(parts, Body::from(bytes));
    let response = next.run(request).await;
    if opening {
        if let Some(id) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            state.sessions.register(id, &client);
        }
    }
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::from_stream(Watched::new(body, guards, gone)))
}

/// Protocol 2026-07-28 asks clients to mirror a request's target in an `Mcp-Name` header
/// (SEP-2243), and rmcp refuses `resources/subscribe` and `resources/unsubscribe` without
/// it, but clients disagree on those two: the official Python SDK (2.3) names only
/// tools/call, prompts/get and resources/read, so its subscriptions failed with
/// "missing required Mcp-Name header". The header carries nothing the body does not, so
/// when it is absent it is written here from the body; a header that is present is left
/// for rmcp to check against the body.
fn name_subscription(headers: &mut axum::http::HeaderMap, method: Option<&str>, body: &[u8]) {
    if !matches!(
        method,
        Some("resources/subscribe" | "resources/unsubscribe")
    ) || headers.contains_key("mcp-name")
    {
        return;
    }
    #[derive(serde::Deserialize)]
    struct Subscription {
        params: Params,
    }
    #[derive(serde::Deserialize)]
    struct Params {
        uri: String,
    }
    let Ok(sub) = serde_json::from_slice::<Subscription>(body) else {
        return;
    };
    let uri = sub.params.uri;
    // SEP-2243's encoding: printable ASCII as it is, anything else as a base64 sentinel.
    let plain = uri.bytes().all(|b| (0x20..0x7f).contains(&b))
        && uri.trim() == uri
        && !uri.starts_with("=?base64?");
    let value = if plain {
        uri
    } else {
        use base64::Engine;
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(uri.as_bytes())
        )
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert("mcp-name", value);
    }
}

/// `DELETE /mcp`: ends the session it names with 204 No Content (rmcp answers 202, which
/// clients read as a failure), or 404 when there is no such session (never opened, or
/// ended already: a second DELETE is 404 too).
async fn end_session(
    state: &AppState,
    session: Option<&str>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let Some(id) = session else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "DELETE /mcp needs the Mcp-Session-Id header of the session to end",
        );
    };
    if !state.sessions.exists(id).await {
        return refuse(
            StatusCode::NOT_FOUND,
            "no such MCP session: it ended, expired or never existed; open a new one with initialize",
        );
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::ACCEPTED {
        return StatusCode::NO_CONTENT.into_response();
    }
    response
}

/// Reads a request body within the limits; the refusal is the response to send.
async fn read_body(
    state: &Arc<AppState>,
    client: &ClientId,
    headers: &axum::http::HeaderMap,
    body: Body,
) -> Result<Bytes, Response> {
    let d = &state.dispatcher;
    let config = &d.config.server;
    let max = config.max_body_bytes;
    let refused = |reason: &str| d.metrics.bodies_refused.with_label_values(&[reason]).inc();
    let declared: Option<u64> = match headers.get(header::CONTENT_LENGTH) {
        Some(v) => match v.to_str().ok().and_then(|v| v.trim().parse().ok()) {
            Some(n) => Some(n),
            None => {
                refused("bad_length");
                return Err(closing(refuse(
                    StatusCode::BAD_REQUEST,
                    "Content-Length is not a number",
                )));
            }
        },
        None => None,
    };
    if let Some(n) = declared.filter(|n| *n > max) {
        refused("too_large");
        return Err(closing(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body declares {n} bytes, over the limit server.max_body_bytes = {max}"),
        )));
    }
    let bodies = &config.bodies;
    let large = declared.is_none_or(|n| n >= bodies.large_bytes);
    let _place = if large {
        match state
            .large
            .try_take(client, bodies.max_large, bodies.client_max_large)
        {
            Ok(place) => Some(place),
            Err(of_client) => {
                refused("large_busy");
                let who = if of_client >= bodies.client_max_large {
                    format!("this client is already sending {of_client} large bodies (server.bodies.client_max_large = {})", bodies.client_max_large)
                } else {
                    format!(
                        "{} large bodies are being read (server.bodies.max_large)",
                        bodies.max_large
                    )
                };
                return Err(closing(with_retry_after(
                    refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &format!("{who}; retry shortly"),
                    ),
                    2,
                )));
            }
        }
    } else {
        None
    };
    let memory_refusal = |bytes: u64| {
        d.metrics.shed.with_label_values(&["memory_body"]).inc();
        closing(with_retry_after(
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "a body of {bytes} bytes would take the server past its memory limit ({} of {} MiB in use); retry later",
                    d.memory.total() >> 20,
                    d.memory.budget() >> 20
                ),
            ),
            2,
        ))
    };
    // What a chunked body is first promised; it grows by this much at a time.
    const STEP: u64 = 1024 * 1024;
    // Small declared bodies need no promise: connections are capped, so they can hold at
    // most `connections.max` × SMALL_BODY together, and a server over its memory limit must
    // still hear health_check and list_scores.
    const SMALL_BODY: u64 = 64 * 1024;
    let small = declared.is_some_and(|n| n <= SMALL_BODY);
    let first = if small {
        0
    } else {
        declared.unwrap_or(STEP).min(max)
    };
    let Some(mut reservation) = d.memory.try_reserve(first) else {
        refused("memory");
        return Err(memory_refusal(first));
    };
    let mut promised = if small { SMALL_BODY } else { first };
    let idle = Duration::from_secs_f64(bodies.idle_secs);
    let mut buf: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0).min(max) as usize);
    let mut stream = body.into_data_stream();
    loop {
        let next = match tokio::time::timeout(idle, stream.next()).await {
            Ok(n) => n,
            Err(_) => {
                refused("idle");
                return Err(closing(refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    &format!(
                        "the body sent nothing for {:.0} s (server.bodies.idle_secs)",
                        bodies.idle_secs
                    ),
                )));
            }
        };
        let Some(chunk) = next else { break };
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                refused("broken");
                return Err(closing(refuse(
                    StatusCode::BAD_REQUEST,
                    &format!("the body could not be read: {e}"),
                )));
            }
        };
        if buf.len() as u64 + chunk.len() as u64 > max {
            refused("too_large");
            return Err(closing(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the body is over the limit server.max_body_bytes = {max}"),
            )));
        }
        let needed = buf.len() as u64 + chunk.len() as u64;
        while needed > promised {
            if !reservation.grow(STEP) {
                refused("memory");
                return Err(memory_refusal(needed));
            }
            promised += STEP;
        }
        buf.extend_from_slice(&chunk);
    }
    if declared.is_some_and(|n| n != buf.len() as u64) {
        refused("broken");
        return Err(closing(refuse(
            StatusCode::BAD_REQUEST,
            "the body is shorter than its Content-Length",
        )));
    }
    // The promise ends here: from now on the bytes are in the sampled memory.
    drop(reservation);
    Ok(Bytes::from(buf))
}

/// A response body stream holding `guards` until it ends or is dropped.
struct Watched<S> {
    inner: S,
    guards: Vec<Box<dyn Send>>,
    /// Let go when the response ends or is dropped: if nobody else listens (a resumed
    /// stream), the call is abandoned after the grace (`McpHandler::call_tool`).
    gone: Option<Listening>,
}

impl Watched<axum::body::BodyDataStream> {
    fn new(body: Body, guards: Vec<Box<dyn Send>>, gone: Option<Listening>) -> Self {
        Self {
            inner: body.into_data_stream(),
            guards,
            gone,
        }
    }
}

impl<S: Stream + Unpin> Stream for Watched<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(None) = item {
            // Ended: let go of the session, the id and the drain's count now, not when the
            // connection is done with the body. The answer went out: nothing to cancel.
            self.guards.clear();
            self.gone = None;
        }
        item
    }
}
