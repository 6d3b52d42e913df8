//! The live status endpoint of a run, on loopback: `GET /status` gives the current figures
//! and recent events as JSON, for `monitor --stress URL` in another terminal.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::stress::ctx::RunCtx;
use crate::wire::status::{RunServer, StressStatus};

/// The run as it stands.
pub fn snapshot(ctx: &RunCtx) -> StressStatus {
    StressStatus {
        phase: ctx.phase().to_string(),
        elapsed_s: ctx.start.elapsed().as_secs_f64(),
        duration_s: ctx.duration.as_secs_f64(),
        users: ctx.config.users,
        server: RunServer {
            url: ctx.server.mcp_url(),
            pid: ctx.server.pid(),
            restarts: ctx.server.restarts(),
        },
        outcomes: ctx
            .recorder
            .counts()
            .into_iter()
            .map(|(k, v)| (k.name().to_string(), v))
            .collect(),
        refusals: ctx.recorder.refusals(),
        active_faults: ctx.windows.active(),
        active_adversaries: ctx.adversary_windows.active(),
        recent_events: ctx.recorder.recent_events(),
        recoveries: ctx.recorder.recoveries(),
        series: ctx.recorder.recent_series(120),
        acknowledged: ctx.ledger.acknowledged_count(),
        checker: ctx.checker_report(),
        thresholds: ctx.config.thresholds.clone(),
    }
}

async fn status(State(ctx): State<Arc<RunCtx>>) -> Json<Value> {
    Json(snapshot(&ctx).to_json())
}

/// Serves `/status` on 127.0.0.1:`port` until the run's cancellation; returns the address.
pub async fn serve(ctx: Arc<RunCtx>, port: u16) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/status", get(status))
        .with_state(ctx.clone());
    let done = ctx.finished.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { done.cancelled().await })
            .await;
    });
    Ok(addr)
}
