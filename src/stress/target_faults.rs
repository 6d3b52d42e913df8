//! Faults against a deployment the harness did not start (`stress --target`): process
//! faults on its replicas and faults of its database, each only through the command the
//! operator configured in `[stress.target]`, and the recovery measured from outside.
//! Faults that need this harness's own server (its pid, its data dir) are skipped here,
//! and so are faults of a database when the harness runs its own server; each skip is
//! recorded with its reason, and the verdict says it.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::config::stress::ChaosAction;
use crate::stress::client::{McpClient, Reply};
use crate::stress::ctx::RunCtx;
use crate::stress::recorder::Recovery;
use crate::stress::target::{replica_back, Arguments, Operation, Remote};

/// A recovery (or a database's return) not seen within this long counts as never.
const RECOVERY_LIMIT: Duration = Duration::from_secs(60);

/// Why `action` cannot be injected in this run, if it cannot.
pub fn skip_reason(ctx: &RunCtx, action: &ChaosAction) -> Option<String> {
    let remote = ctx.server.remote.as_ref();
    let needs = |op: Operation| match remote {
        Some(r) if r.command(op).is_none() => Some(format!(
            "no [stress.target] {} is configured, so this fault was not injected",
            op.key()
        )),
        _ => None,
    };
    match action {
        ChaosAction::KillServer => needs(Operation::Kill),
        ChaosAction::TermServer => needs(Operation::Term),
        ChaosAction::KillWorker | ChaosAction::CorruptDisk { .. } if remote.is_some() => Some(
            "it needs the server's own processes and data directory, which a --target run does not have".into(),
        ),
        ChaosAction::DbRestart { .. } | ChaosAction::DbPause | ChaosAction::DbCut => {
            match remote {
                None => Some(
                    "the server this run starts keeps its scores in SQLite; database faults need a --target deployment on PostgreSQL".into(),
                ),
                Some(_) => needs(match action {
                    ChaosAction::DbRestart { .. } => Operation::DbRestart,
                    ChaosAction::DbPause => Operation::DbPause,
                    _ => Operation::DbCut,
                }),
            }
        }
        _ => None,
    }
}

/// Notes a fault that was not injected: a `skipped` event on the timeline, and its kind
/// for the verdict.
pub fn record_skip(ctx: &RunCtx, kind: &str, reason: &str) {
    let event = ctx
        .recorder
        .begin_event("skipped", format!("{kind}: {reason}"));
    ctx.recorder.end_event(event);
    ctx.skipped_faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(kind.to_string())
        .or_insert_with(|| reason.to_string());
}

/// Kills or terminates one replica with the operator's command and measures its recovery:
/// command → that replica ready in a new process → its first successful call.
pub async fn replica_fault(ctx: &RunCtx, remote: &Remote, op: Operation, kind: &str) {
    let replica = remote.next_replica();
    let event = ctx.recorder.begin_event(kind, format!("replica-{replica}"));
    let window = ctx.windows.open(kind);
    let at = Instant::now();
    let args = Arguments {
        replica: Some(replica),
        ..Arguments::default()
    };
    let outcome = remote
        .run(op, &args)
        .await
        .unwrap_or_else(|| Err(format!("no [stress.target] {}", op.key())));
    match outcome {
        Ok(output) => ctx.recorder.add_detail(event, &output),
        Err(e) => {
            ctx.recorder.add_detail(event, &e);
            ctx.windows.close(window, Duration::ZERO);
            ctx.recorder.end_event(event);
            return;
        }
    }
    ctx.note_replica_fault(replica, op);
    ctx.server.note_restart();
    if op == Operation::Kill {
        ctx.kills.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    let endpoint = remote.replica(replica).cloned();
    let mut ready_after = match &endpoint {
        Some(e) => replica_back(e, at, Duration::from_secs(20)).await,
        None => ctx
            .server
            .wait_ready(RECOVERY_LIMIT)
            .await
            .then(|| at.elapsed().as_secs_f64()),
    };
    if ready_after.is_none() {
        // It did not come back by itself: the operator's restart command, if there is one.
        if let Some(result) = remote.run(Operation::Restart, &args).await {
            ctx.recorder.add_detail(
                event,
                &format!("restart_command: {}", result.unwrap_or_else(|e| e)),
            );
            if let Some(e) = &endpoint {
                ready_after = replica_back(e, at, RECOVERY_LIMIT).await;
            }
        }
    }
    if ready_after.is_some() {
        // Sessions that landed on the old process meanwhile are gone too.
        ctx.server.renew_sessions();
    }
    let url = endpoint
        .as_ref()
        .map(|e| e.mcp_url.clone())
        .unwrap_or_else(|| remote.mcp_url().to_string());
    let first_success = match ready_after {
        Some(_) => first_success(&url, at, "list_scores").await,
        None => None,
    };
    let detail = format!(
        "replica-{replica} ready after {:.3} s, first success after {:.3} s",
        ready_after.unwrap_or(f64::NAN),
        first_success.unwrap_or(f64::NAN)
    );
    note_recovery(ctx, event, kind, at, (ready_after, first_success), &detail);
    ctx.windows.close(window, Duration::from_secs(1));
    ctx.recorder.end_event(event);
}

/// A fault of the shared database: restart (then the time until an import through the
/// deployment succeeds again), a pause for `duration`, or one replica's connections cut.
pub async fn database_fault(
    ctx: &RunCtx,
    remote: &Remote,
    action: &ChaosAction,
    duration: Duration,
) {
    let kind = action.name();
    let (op, args) = match action {
        ChaosAction::DbRestart { mode } => (
            Operation::DbRestart,
            Arguments {
                mode: Some(mode.clone()),
                ..Arguments::default()
            },
        ),
        ChaosAction::DbPause => (
            Operation::DbPause,
            Arguments {
                seconds: Some(duration.as_secs_f64()),
                ..Arguments::default()
            },
        ),
        _ => (
            Operation::DbCut,
            Arguments {
                replica: Some(remote.next_replica()),
                ..Arguments::default()
            },
        ),
    };
    let what = match (&args.mode, args.seconds, args.replica) {
        (Some(mode), _, _) => format!("{mode} shutdown"),
        (_, Some(s), _) => format!("for {s:.1} s"),
        (_, _, Some(r)) => format!("replica-{r}'s connections"),
        _ => String::new(),
    };
    let event = ctx.recorder.begin_event(kind, what);
    let window = ctx.windows.open(kind);
    let at = Instant::now();
    let result = remote.run(op, &args).await;
    match result {
        Some(Ok(output)) => ctx.recorder.add_detail(event, &output),
        Some(Err(e)) => {
            ctx.recorder.add_detail(event, &e);
            ctx.windows.close(window, Duration::ZERO);
            ctx.recorder.end_event(event);
            return;
        }
        None => {}
    }
    if let Some(replica) = args.replica {
        ctx.note_replica_fault(replica, op);
    }
    if op == Operation::DbRestart {
        // Recovery counts from the database being back (the command returns then): how long
        // until the deployment stores a score again.
        let back = Instant::now();
        let stored = first_success(remote.mcp_url(), back, "import_score").await;
        let detail = format!(
            "command took {:.3} s; an import succeeded {:.3} s after it",
            back.duration_since(at).as_secs_f64(),
            stored.unwrap_or(f64::NAN)
        );
        note_recovery(ctx, event, kind, back, (stored, stored), &detail);
    }
    ctx.windows.close(window, Duration::from_secs(2));
    ctx.recorder.end_event(event);
}

/// Notes how a fault starting (or ending) at `at` was recovered from, as the seconds until
/// the target was ready and until its first successful call, in the event and the run.
fn note_recovery(
    ctx: &RunCtx,
    event: usize,
    kind: &str,
    at: Instant,
    (ready_after_s, first_success_after_s): (Option<f64>, Option<f64>),
    detail: &str,
) {
    ctx.recorder.add_detail(event, detail);
    ctx.recorder.record_recovery(Recovery {
        kind: kind.to_string(),
        at_s: ctx.recorder.at_s(at),
        ready_after_s,
        first_success_after_s,
    });
}

/// Seconds from `at` to the first successful `tool` call at `url` (a tiny import, or
/// `list_scores`), or `None` within the recovery limit.
async fn first_success(url: &str, at: Instant, tool: &str) -> Option<f64> {
    let deadline = at + RECOVERY_LIMIT;
    let mut n = 0u32;
    while Instant::now() < deadline {
        n += 1;
        if let Ok(client) = McpClient::connect(url, Duration::from_secs(2)).await {
            let args = if tool == "import_score" {
                json!({
                    "score_id": format!("recovery-{}-{n}", std::process::id()),
                    "source": "X:1\nT:recovery\nM:4/4\nL:1/4\nK:C\nCDEF|",
                    "replace": true
                })
            } else {
                json!({"limit": 1})
            };
            let reply = client.call(tool, args, Duration::from_secs(5)).await;
            client.close().await;
            if matches!(reply, Reply::Ok(_)) {
                return Some(at.elapsed().as_secs_f64());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
