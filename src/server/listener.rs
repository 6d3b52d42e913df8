//! The accept loop: every TCP connection is admitted (or not) before HTTP is spoken on it.
//!
//! axum's own `serve` gives a connection no deadline at all: a client that opens thousands
//! of connections, or sends its headers one byte a minute (slowloris), holds file
//! descriptors until the server can accept no one. Here:
//!
//! - connections are capped in total (`server.connections.max`, also kept under the
//!   open-file limit) and per client address (`per_client_max`);
//! - over a cap, up to `probe_reserve` more connections are served in probe-only mode (one
//!   request, a short header deadline, and only `/livez`, `/readyz`, `/health`, `/metrics`),
//!   so orchestrators still see the server; past that a connection is closed at once;
//! - a request's headers must arrive within `header_timeout_secs` (hyper's header-read
//!   timeout, which also ends keep-alive connections idle that long);
//! - a response the client stops reading for `write_stall_secs` ends the connection.
//!
//! Accepting never stops (a refused connection is closed right away), so the kernel's
//! backlog never fills and probes always get through to this loop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use crate::config::ConnectionConfig;
use crate::metrics::Metrics;
use crate::server::clients::ClientId;

/// Probe-only connections get this long for their one request's headers.
const PROBE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// How a connection was admitted; the router sees it as a request extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnMode {
    Full,
    /// Over a cap: probes only, one request.
    ProbeOnly,
}

/// Paths a probe-only connection may ask for.
pub fn is_probe_path(path: &str) -> bool {
    matches!(path, "/livez" | "/readyz" | "/health" | "/metrics")
}

/// Open connections, in total and per client.
pub struct Connections {
    limits: ConnectionConfig,
    /// `server.trusted_proxies`: their connections carry many clients, so they count
    /// against the total only, and their `X-Forwarded-For` names the client (`guard`).
    pub trusted_proxies: Vec<crate::config::net::IpBlock>,
    /// The total cap in force (the configured one, lowered to fit the open-file limit).
    max: usize,
    state: Mutex<ConnState>,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct ConnState {
    full: usize,
    probe_only: usize,
    per_client: HashMap<ClientId, usize>,
}

/// Releases a connection's place when the connection ends.
struct Place {
    connections: Arc<Connections>,
    client: ClientId,
    mode: ConnMode,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut state = self.connections.lock();
        match self.mode {
            ConnMode::Full => {
                state.full = state.full.saturating_sub(1);
                if let Some(n) = state.per_client.get_mut(&self.client) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        state.per_client.remove(&self.client);
                    }
                }
            }
            ConnMode::ProbeOnly => state.probe_only = state.probe_only.saturating_sub(1),
        }
        self.connections
            .metrics
            .connections
            .set((state.full + state.probe_only) as i64);
    }
}

impl Connections {
    pub fn new(
        limits: &ConnectionConfig,
        trusted_proxies: &[String],
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let fd_room = raise_fd_limit().saturating_sub(FD_HEADROOM) as usize;
        let wanted = limits.max + limits.probe_reserve;
        let max = if wanted > fd_room {
            let max = fd_room.saturating_sub(limits.probe_reserve).max(1);
            tracing::warn!(
                configured = limits.max,
                max,
                "server.connections.max lowered to fit the open-file limit (raise `ulimit -n` to allow more)"
            );
            max
        } else {
            limits.max
        };
        Arc::new(Self {
            limits: limits.clone(),
            // Validated with the config; an entry that still fails to parse trusts no one.
            trusted_proxies: trusted_proxies
                .iter()
                .filter_map(|b| crate::config::net::IpBlock::parse(b).ok())
                .collect(),
            max,
            state: Mutex::new(ConnState::default()),
            metrics,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The total cap in force.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Open connections now: (full, probe-only).
    pub fn open(&self) -> (usize, usize) {
        let state = self.lock();
        (state.full, state.probe_only)
    }

    /// Decides how to take a new connection from `client`; None: close it now.
    fn admit(self: &Arc<Self>, client: ClientId, proxy: bool) -> Option<Place> {
        let mut state = self.lock();
        let of_client = state.per_client.get(&client).copied().unwrap_or(0);
        let under_client_cap = proxy || of_client < self.limits.per_client_max;
        let mode = if state.full < self.max && under_client_cap {
            state.full += 1;
            *state.per_client.entry(client.clone()).or_insert(0) += 1;
            ConnMode::Full
        } else if state.probe_only < self.limits.probe_reserve {
            state.probe_only += 1;
            let reason = if of_client >= self.limits.per_client_max {
                "per_client"
            } else {
                "total"
            };
            self.metrics
                .connections_limited
                .with_label_values(&[reason, "probe_only"])
                .inc();
            ConnMode::ProbeOnly
        } else {
            self.metrics
                .connections_limited
                .with_label_values(&["reserve", "closed"])
                .inc();
            return None;
        };
        self.metrics
            .connections
            .set((state.full + state.probe_only) as i64);
        Some(Place {
            connections: self.clone(),
            client,
            mode,
        })
    }
}

/// File descriptors kept for everything that is not a client connection: the store, worker
/// pipes, the log, the scrub.
const FD_HEADROOM: u64 = 256;

/// Raises the soft open-file limit to the hard one; returns the soft limit in force.
fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled; then stops accepting, asks
/// every connection to finish its current request, and returns once they have (or after
/// `grace`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let header_timeout = Duration::from_secs_f64(connections.limits.header_timeout_secs);
    let write_stall = Duration::from_secs_f64(connections.limits.write_stall_secs);
    let tracker = tokio_util::task::TaskTracker::new();
    let mut accept_errors = 0u64;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors (EMFILE) or a connection reset before accept:
                // back off briefly instead of spinning; connections already open finish.
                accept_errors += 1;
                if accept_errors.is_power_of_two() {
                    tracing::warn!(error = %e, count = accept_errors, "accept failed");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let client = ClientId::from_ip(peer.ip());
        let proxy =
            crate::server::clients::is_trusted_proxy(peer.ip(), &connections.trusted_proxies);
        let Some(place) = connections.admit(client, proxy) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            serve_connection(
                stream,
                peer,
                app,
                place,
                header_timeout,
                write_stall,
                shutdown,
            )
            .await
        });
    }
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::info!("closing connections still open after the drain");
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    place: Place,
    header_timeout: Duration,
    write_stall: Duration,
    shutdown: CancellationToken,
) {
    let mode = place.mode;
    let io = TokioIo::new(StallGuard::new(stream, write_stall));
    let service = hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(mode);
        let mut app = app.clone();
        async move {
            if mode == ConnMode::ProbeOnly && !is_probe_path(request.uri().path()) {
                return Ok::<_, std::convert::Infallible>(over_capacity());
            }
            app.call(request.map(Body::new)).await
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(match mode {
            ConnMode::Full => header_timeout,
            ConnMode::ProbeOnly => PROBE_HEADER_TIMEOUT.min(header_timeout),
        })
        .keep_alive(mode == ConnMode::Full);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
    drop(place);
}

fn over_capacity() -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32000, "message": "too many open connections from this client (or in all); only the probes are answered on this one. Close idle connections and retry"}
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A TCP stream whose writes fail once they have made no progress for `limit`: a client
/// that stops reading its response cannot hold the connection (and the response's memory)
/// forever.
struct StallGuard {
    inner: TcpStream,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl StallGuard {
    fn new(inner: TcpStream, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled: None,
        }
    }

    /// Called when a write could not proceed: starts the stall clock, or ends the write once
    /// it has run out.
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let limit = self.limit;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading the response",
            )),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A write's outcome: progress (or its error) stops the stall clock; a write that cannot
    /// proceed runs it, and fails once it has run out.
    fn after_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => self.poll_stall(cx).map(Err),
        }
    }
}

use std::future::Future as _;

impl AsyncRead for StallGuard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.after_write(cx, polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.after_write(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
