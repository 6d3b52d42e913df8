//! The nemesis: runs the chaos schedule against the real server. Network faults go through
//! the fault proxy; process faults are real signals; memory pressure is a real ballast
//! process and real huge scores; corruption is real bytes, on the wire and on disk.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{json, Value};

use crate::config::stress::{firing_times, ChaosAction, ChaosEvent};
use crate::stress::checker::Acked;
use crate::stress::client::{McpClient, Reply};
use crate::stress::ctx::RunCtx;
use crate::stress::proxy::Fault;
use crate::stress::recorder::{Call, Outcome, Recovery};
use crate::stress::target::Operation;
use crate::stress::{seeded_rng, synth, target_faults};

/// One scheduled firing of an event.
#[derive(Clone, Debug)]
pub struct Firing {
    pub at: Duration,
    pub duration: Duration,
    pub action: ChaosAction,
}

/// Expands the schedule (with repeats) into firings within `run`, in time order.
pub fn plan(events: &[ChaosEvent], run: Duration) -> Vec<Firing> {
    let mut out: Vec<Firing> = events
        .iter()
        .flat_map(|e| {
            let duration = e.duration.unwrap_or(Duration::from_secs(5));
            firing_times(e.at, e.every, run).map(move |at| Firing {
                at,
                duration,
                action: e.action.clone(),
            })
        })
        .collect();
    out.sort_by_key(|f| f.at);
    out
}

fn proxy_fault(action: &ChaosAction) -> Option<Fault> {
    Some(match *action {
        ChaosAction::Latency { ms, jitter_ms } => Fault::Latency { ms, jitter_ms },
        ChaosAction::Bandwidth { bytes_per_sec } => Fault::Bandwidth { bytes_per_sec },
        ChaosAction::Reset { probability } => Fault::Reset { probability },
        ChaosAction::Blackhole => Fault::Blackhole,
        ChaosAction::Slicer {
            max_segment,
            delay_ms,
        } => Fault::Slicer {
            max_segment,
            delay_ms,
        },
        ChaosAction::HalfClose { after_bytes } => Fault::HalfClose { after_bytes },
        _ => return None,
    })
}

/// Runs every firing at its time; returns when the plan is done or the run stops.
pub async fn run(ctx: Arc<RunCtx>, firings: Vec<Firing>) {
    let mut rng = seeded_rng(ctx.config.seed ^ 0xC4A0_5EED);
    let mut lasting = Vec::new();
    for firing in firings {
        let wait = firing.at.saturating_sub(ctx.start.elapsed());
        if ctx.sleep_or_stop(wait).await {
            break;
        }
        let ctx2 = ctx.clone();
        let seed = rng.next_u64();
        // Lasting faults run beside the schedule; instant ones too, so that a slow recovery
        // does not delay the next firing.
        lasting.push(tokio::spawn(async move { fire(ctx2, firing, seed).await }));
    }
    for task in lasting {
        let _ = task.await;
    }
}

/// How long an action aimed at the server waits for it to be ready.
const SERVER_WAIT: Duration = Duration::from_secs(15);

async fn fire(ctx: Arc<RunCtx>, firing: Firing, seed: u64) {
    let name = firing.action.name();
    if let Some(fault) = proxy_fault(&firing.action) {
        let event = ctx.recorder.begin_event(
            name,
            format!("{fault} for {:.1} s", firing.duration.as_secs_f64()),
        );
        let window = ctx.windows.open(name);
        ctx.proxy.set_fault(fault);
        ctx.sleep_or_stop(firing.duration).await;
        ctx.proxy.clear();
        ctx.windows.close(window, Duration::from_secs(1));
        ctx.recorder.end_event(event);
        return;
    }
    if let Some(reason) = target_faults::skip_reason(&ctx, &firing.action) {
        target_faults::record_skip(&ctx, name, &reason);
        return;
    }
    // Two firings can meet (a worker kill while corrupt_disk holds the server down, corrupt
    // scores during a restart): actions aimed at the server take turns, and each waits for
    // it to be ready, so that every fault is really injected rather than spent on a server
    // that is not there.
    let needs_server = !matches!(firing.action, ChaosAction::MemoryBallast { .. });
    let _turn = if needs_server {
        Some(ctx.server_chaos.lock().await)
    } else {
        None
    };
    if needs_server && !ctx.server.wait_ready(SERVER_WAIT).await {
        // Its own kind, so that a skipped fault never counts as injected.
        let event = ctx.recorder.begin_event(
            "skipped",
            format!(
                "{name}: the server was not ready within {} s",
                SERVER_WAIT.as_secs()
            ),
        );
        ctx.recorder.end_event(event);
        return;
    }
    if let Some(remote) = ctx.server.remote.as_ref() {
        match &firing.action {
            ChaosAction::KillServer => {
                return target_faults::replica_fault(&ctx, remote, Operation::Kill, name).await
            }
            ChaosAction::TermServer => {
                return target_faults::replica_fault(&ctx, remote, Operation::Term, name).await
            }
            ChaosAction::DbRestart { .. } | ChaosAction::DbPause | ChaosAction::DbCut => {
                return target_faults::database_fault(&ctx, remote, &firing.action, firing.duration)
                    .await
            }
            _ => {}
        }
    }
    match firing.action {
        ChaosAction::KillServer => kill_server(&ctx, Signal::SIGKILL, "kill_server").await,
        ChaosAction::TermServer => kill_server(&ctx, Signal::SIGTERM, "term_server").await,
        ChaosAction::KillWorker => kill_worker(&ctx).await,
        ChaosAction::MemoryBallast { mb } => ballast(&ctx, mb, firing.duration).await,
        ChaosAction::HugeScores { count, mb } => huge_scores(&ctx, count, mb, seed).await,
        ChaosAction::CorruptScores { count } => corrupt_scores(&ctx, count, seed).await,
        ChaosAction::MalformedRequests { count } => malformed(&ctx, count).await,
        ChaosAction::CorruptDisk { records } => corrupt_disk(&ctx, records, seed).await,
        _ => {}
    }
}

/// Kills (or terminates) the server and measures the recovery: kill → ready → first
/// successful tool call.
async fn kill_server(ctx: &RunCtx, signal: Signal, kind: &str) {
    let event = ctx.recorder.begin_event(kind, String::new());
    let window = ctx.windows.open(kind);
    let at = Instant::now();
    match ctx.server.signal(signal) {
        Ok(pid) => ctx
            .recorder
            .add_detail(event, &format!("{signal:?} to pid {pid}")),
        Err(e) => {
            ctx.recorder.add_detail(event, &format!("{e:#}"));
            ctx.windows.close(window, Duration::ZERO);
            ctx.recorder.end_event(event);
            return;
        }
    }
    if signal == Signal::SIGKILL {
        ctx.kills.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    let recovery = measure_recovery(ctx, at, kind).await;
    ctx.recorder.add_detail(
        event,
        &format!(
            "ready after {:.3} s, first success after {:.3} s",
            recovery.ready_after_s.unwrap_or(f64::NAN),
            recovery.first_success_after_s.unwrap_or(f64::NAN)
        ),
    );
    ctx.recorder.record_recovery(recovery);
    ctx.windows.close(window, Duration::from_secs(1));
    ctx.recorder.end_event(event);
}

async fn measure_recovery(ctx: &RunCtx, at: Instant, kind: &str) -> Recovery {
    let limit = Duration::from_secs(60);
    let generation = ctx.server.generation();
    // Wait for the new process (the old one may still be draining after SIGTERM).
    let mut ready_after = None;
    let deadline = at + limit;
    while Instant::now() < deadline {
        if ctx.server.generation() != generation
            && ctx.server.wait_ready(Duration::from_millis(50)).await
        {
            ready_after = Some(at.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut first_success = None;
    while ready_after.is_some() && Instant::now() < deadline {
        if let Ok(client) = McpClient::connect(&ctx.server.mcp_url(), Duration::from_secs(2)).await
        {
            let reply = client
                .call("list_scores", json!({"limit": 1}), Duration::from_secs(2))
                .await;
            client.close().await;
            if matches!(reply, Reply::Ok(_)) {
                first_success = Some(at.elapsed().as_secs_f64());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Recovery {
        kind: kind.to_string(),
        at_s: ctx.recorder.at_s(at),
        ready_after_s: ready_after,
        first_success_after_s: first_success,
    }
}

async fn kill_worker(ctx: &RunCtx) {
    let event = ctx.recorder.begin_event("kill_worker", String::new());
    let window = ctx.windows.open("kill_worker");
    let pid = ctx.server.health().await.and_then(|h| h.first_worker_pid());
    match pid {
        Some(pid) => {
            let detail = match nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                Signal::SIGKILL,
            ) {
                Ok(()) => format!("SIGKILL to worker pid {pid}"),
                Err(e) => format!("SIGKILL to worker pid {pid} failed: {e}"),
            };
            ctx.recorder.add_detail(event, &detail);
        }
        None => ctx
            .recorder
            .add_detail(event, "no worker pid found in /health"),
    }
    ctx.sleep_or_stop(Duration::from_secs(1)).await;
    ctx.windows.close(window, Duration::from_secs(1));
    ctx.recorder.end_event(event);
}

async fn ballast(ctx: &RunCtx, mb: u64, duration: Duration) {
    let event = ctx.recorder.begin_event(
        "memory_ballast",
        format!("{mb} MB for {:.1} s", duration.as_secs_f64()),
    );
    let window = ctx.windows.open("memory_ballast");
    let child = tokio::process::Command::new(&ctx.exe)
        .args([
            "ballast",
            "--mb",
            &mb.to_string(),
            "--seconds",
            &format!("{:.3}", duration.as_secs_f64()),
        ])
        .kill_on_drop(true)
        .spawn();
    match child {
        Ok(mut child) => {
            tokio::select! {
                _ = child.wait() => {}
                _ = ctx.stopped() => { let _ = child.start_kill(); let _ = child.wait().await; }
            }
        }
        Err(e) => ctx
            .recorder
            .add_detail(event, &format!("cannot start the ballast: {e}")),
    }
    ctx.windows.close(window, Duration::from_secs(1));
    ctx.recorder.end_event(event);
}

/// Imports `count` synthetic scores of about `mb` MB each, checking what comes back. Each
/// must be stored (the checker reads it back at the end) or refused by a protection with a
/// clear code; a failure is excused only by another fault overlapping it, never by this
/// action's own window.
async fn huge_scores(ctx: &RunCtx, count: u32, mb: u64, seed: u64) {
    let event = ctx
        .recorder
        .begin_event("huge_scores", format!("{count} x {mb} MB"));
    let window = ctx.windows.open("huge_scores");
    let (mut stored, mut refused, mut failed) = (0, 0, 0);
    for i in 0..count {
        if ctx.stopping() {
            break;
        }
        let (text, spec) =
            synth::musicxml_of_size((mb * 1024 * 1024) as usize, seed.wrapping_add(i as u64));
        let id = format!("{}huge-{seed:x}-{i}", ctx.id_prefix);
        ctx.huge.sent.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let timeout = huge_import_timeout(ctx.call_timeout, text.len());
        let args =
            json!({"score_id": id, "source": text, "source_type": "text", "format": "musicxml"});
        drop(text);
        let (reply, retries) = import_retrying(ctx, args, started + timeout).await;
        if retries > 0 {
            ctx.recorder.add_detail(
                event,
                &format!("{id}: sent again {retries} time(s) after a busy refusal"),
            );
        }
        let expected = synth::expected_notes(&spec) as u64;
        let other_faults: Vec<String> = ctx
            .windows
            .overlapping(started, Instant::now())
            .into_iter()
            .filter(|k| k != "huge_scores")
            .collect();
        let outcome = match &reply {
            Reply::Ok(v) => {
                match crate::stress::users::check_counts(v, expected, spec.parts as u64) {
                    Ok(()) => {
                        stored += 1;
                        ctx.huge.stored.fetch_add(1, Ordering::SeqCst);
                        ctx.ledger
                            .ack(&id, Acked::from_import(v, expected, spec.parts as u64));
                        Outcome::Success
                    }
                    Err(_) => Outcome::Unexpected,
                }
            }
            r if r.is_size_or_memory_refusal() => {
                refused += 1;
                ctx.huge.refused.fetch_add(1, Ordering::SeqCst);
                Outcome::ExpectedRefusal
            }
            _ if !other_faults.is_empty() => {
                ctx.huge.excused.fetch_add(1, Ordering::SeqCst);
                Outcome::FaultInduced
            }
            _ => {
                failed += 1;
                ctx.huge.failed.fetch_add(1, Ordering::SeqCst);
                Outcome::Unexpected
            }
        };
        ctx.recorder.record(Call {
            tool: "import_score(huge)",
            outcome,
            latency: started.elapsed(),
            code: reply.code().as_deref(),
            detail: Some(reply.describe()),
        });
    }
    ctx.recorder.add_detail(
        event,
        &format!("{stored} stored, {refused} refused, {failed} failed"),
    );
    // The scores and their JSON were hundreds of MB of heap: give it back, so the harness's
    // own memory does not climb a step after every burst.
    crate::sysmem::give_back_free_memory();
    ctx.windows.close(window, Duration::from_secs(1));
    ctx.recorder.end_event(event);
}

/// Imports like a well-behaved client: a refusal that says "busy, retry" (`overloaded`,
/// `rate_limited`, HTTP 429/503) is retried a second later until `deadline`; anything else
/// is the answer. Returns it and how many times the import was sent again.
async fn import_retrying(ctx: &RunCtx, args: Value, deadline: Instant) -> (Reply, u32) {
    let mut retries = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let reply = match McpClient::connect(&ctx.proxy_url, ctx.call_timeout).await {
            Ok(client) => {
                let r = client.call("import_score", args.clone(), left).await;
                client.close().await;
                r
            }
            Err(r) => r,
        };
        let busy = reply.is_busy();
        let left = deadline.saturating_duration_since(Instant::now());
        if !busy || left < Duration::from_secs(5) || ctx.stopping() {
            return (reply, retries);
        }
        retries += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A huge import may wait for another to finish (the server parses one at a time when only
/// one fits its memory budget): it gets the call timeout plus 4 s a megabyte, at least 120 s.
fn huge_import_timeout(call_timeout: Duration, bytes: usize) -> Duration {
    let per_mb = Duration::from_secs(4) * (bytes / (1024 * 1024)) as u32;
    (call_timeout + per_mb).max(Duration::from_secs(120))
}

/// Corrupted scores (flipped, truncated or duplicated bytes): refused cleanly or, if still
/// valid music, stored; the server must stay up either way.
async fn corrupt_scores(ctx: &RunCtx, count: u32, seed: u64) {
    let event = ctx
        .recorder
        .begin_event("corrupt_scores", format!("{count} scores"));
    let mut rng = seeded_rng(seed);
    let base = synth::musicxml(&synth::SynthSpec {
        parts: 2,
        measures: 8,
        seed,
        ..synth::SynthSpec::default()
    });
    let client = McpClient::connect(&ctx.server.mcp_url(), ctx.call_timeout).await;
    let (mut refused, mut stored) = (0, 0);
    if let Ok(client) = client {
        for i in 0..count {
            let mut bytes = base.clone().into_bytes();
            match i % 3 {
                0 => {
                    for _ in 0..1 + rng.below(8) {
                        let at = rng.below(bytes.len() as u64) as usize;
                        bytes[at] ^= 1 << rng.below(8);
                    }
                }
                1 => bytes.truncate(rng.below(bytes.len() as u64) as usize),
                _ => {
                    let from = rng.below(bytes.len() as u64) as usize;
                    let to = (from + 1 + rng.below(2000) as usize).min(bytes.len());
                    let chunk = bytes[from..to].to_vec();
                    bytes.splice(to..to, chunk);
                }
            }
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let id = format!("{}corrupt-{seed:x}-{i}", ctx.id_prefix);
            let started = Instant::now();
            let reply = client
                .call("import_score", json!({"score_id": id, "source": b64, "source_type": "base64", "format": "musicxml"}), ctx.call_timeout)
                .await;
            let outcome = match &reply {
                Reply::Ok(v) => {
                    stored += 1;
                    let count = |key: &str| v.get(key).and_then(Value::as_u64).unwrap_or(0);
                    let acked = Acked::from_import(v, count("notes"), count("parts"));
                    ctx.ledger.ack(&id, acked);
                    Outcome::Success
                }
                Reply::ToolError { code, .. }
                    if matches!(
                        code.as_str(),
                        "parse_error" | "invalid_argument" | "limit_exceeded" | "unsupported"
                    ) =>
                {
                    refused += 1;
                    Outcome::ExpectedRefusal
                }
                r if r.is_expected_refusal() => Outcome::ExpectedRefusal,
                _ if ctx.windows.overlaps(started, Instant::now()) => Outcome::FaultInduced,
                _ => Outcome::Unexpected,
            };
            ctx.recorder.record(Call {
                tool: "import_score(corrupt)",
                outcome,
                latency: started.elapsed(),
                code: reply.code().as_deref(),
                detail: Some(reply.describe()),
            });
        }
        client.close().await;
    }
    ctx.recorder.add_detail(
        event,
        &format!("{refused} refused cleanly, {stored} still valid and stored"),
    );
    ctx.recorder.end_event(event);
}

/// Malformed HTTP and JSON-RPC straight at the server: each must get a 4xx (or a JSON-RPC
/// error), never a crash or a 5xx.
async fn malformed(ctx: &RunCtx, count: u32) {
    let event = ctx
        .recorder
        .begin_event("malformed_requests", format!("{count} requests"));
    let cases: [(&str, &str, Vec<u8>); 6] = [
        (
            "bad json",
            "application/json",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":".to_vec(),
        ),
        (
            "bad utf-8",
            "application/json",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}".to_vec(),
        ),
        ("wrong content type", "text/plain", b"hello".to_vec()),
        ("not json-rpc", "application/json", b"[1,2,3]".to_vec()),
        (
            "unknown method",
            "application/json",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no/such\"}".to_vec(),
        ),
        ("huge declared length", "application/json", Vec::new()),
    ];
    let (mut clean, mut bad) = (0, 0);
    for i in 0..count as usize {
        let (name, content_type, body) = &cases[i % cases.len()];
        let started = Instant::now();
        let declared = if body.is_empty() {
            Some(u64::MAX / 4)
        } else {
            None
        };
        let status = raw_post(ctx.server.address(), content_type, body, declared).await;
        let ok = match status {
            Some(s) => (400..500).contains(&s) || s == 200,
            // Refusing a body that claims exabytes by closing the connection is fine too.
            None => declared.is_some(),
        };
        let outcome = if ok {
            clean += 1;
            Outcome::ExpectedRefusal
        } else if ctx.windows.overlaps(started, Instant::now()) {
            Outcome::FaultInduced
        } else {
            bad += 1;
            Outcome::Unexpected
        };
        ctx.recorder.record(Call {
            tool: "http(malformed)",
            outcome,
            latency: started.elapsed(),
            code: Some(&format!("http_{}", status.unwrap_or(0))),
            detail: Some(match status {
                Some(code) => format!("{name}: HTTP {code}"),
                None => format!("{name}: no HTTP answer"),
            }),
        });
    }
    ctx.recorder
        .add_detail(event, &format!("{clean} answered cleanly, {bad} not"));
    ctx.recorder.end_event(event);
}

async fn raw_post(
    address: std::net::SocketAddr,
    content_type: &str,
    body: &[u8],
    declared: Option<u64>,
) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(address).await.ok()?;
        let length = declared.unwrap_or(body.len() as u64);
        let head = format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nAccept: application/json, text/event-stream\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.ok()?;
        s.write_all(body).await.ok()?;
        let mut buf = vec![0u8; 1024];
        let n = s.read(&mut buf).await.ok()?;
        String::from_utf8_lossy(&buf[..n])
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}

/// Kills the server, flips bytes inside stored records on disk, restarts it: the server
/// must report those records as corrupted, never serve them.
async fn corrupt_disk(ctx: &RunCtx, records: u32, seed: u64) {
    let event = ctx
        .recorder
        .begin_event("corrupt_disk", format!("{records} records"));
    let window = ctx.windows.open("corrupt_disk");
    let at = Instant::now();
    ctx.server.hold_restarts(true);
    let killed = ctx.server.signal(Signal::SIGKILL).is_ok();
    if killed {
        ctx.kills.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    ctx.server.wait_down(Duration::from_secs(10)).await;
    let mut rng = seeded_rng(seed);
    let candidates = ctx.ledger.live_ids();
    let mut flipped = Vec::new();
    match rusqlite::Connection::open(ctx.data_dir.join(crate::store::STORE_FILE)) {
        Ok(conn) => {
            for _ in 0..records {
                if candidates.is_empty() {
                    break;
                }
                let id = &candidates[rng.below(candidates.len() as u64) as usize];
                let source: Option<Vec<u8>> = conn
                    .query_row("SELECT source FROM scores WHERE id = ?1", [id], |r| {
                        r.get(0)
                    })
                    .ok();
                let Some(mut bytes) = source.filter(|b| !b.is_empty()) else {
                    continue;
                };
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] ^= 0x01;
                if conn
                    .execute(
                        "UPDATE scores SET source = ?1 WHERE id = ?2",
                        rusqlite::params![bytes, id],
                    )
                    .is_ok()
                {
                    ctx.ledger.corrupted_on_disk(id);
                    flipped.push(id.clone());
                }
            }
        }
        Err(e) => ctx
            .recorder
            .add_detail(event, &format!("cannot open the store: {e}")),
    }
    ctx.recorder
        .add_detail(event, &format!("flipped a byte in {}", flipped.join(", ")));
    ctx.server.hold_restarts(false);
    let recovery = measure_recovery(ctx, at, "corrupt_disk").await;
    ctx.recorder.record_recovery(recovery);
    // Right away, each corrupted record must be reported as corrupted.
    if let Ok(client) = McpClient::connect(&ctx.server.mcp_url(), ctx.call_timeout).await {
        for id in &flipped {
            let started = Instant::now();
            let reply = client
                .call("score_info", json!({"score_id": id}), ctx.call_timeout)
                .await;
            let outcome = match &reply {
                Reply::ToolError { code, .. } if code == "corrupted" => Outcome::ExpectedRefusal,
                _ => Outcome::Unexpected,
            };
            ctx.recorder.record(Call {
                tool: "score_info(corrupted)",
                outcome,
                latency: started.elapsed(),
                code: reply.code().as_deref(),
                detail: Some(reply.describe()),
            });
        }
        client.close().await;
    }
    ctx.windows.close(window, Duration::from_secs(1));
    ctx.recorder.end_event(event);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_expands_repeats_within_the_run() {
        let events = vec![
            ChaosEvent {
                at: Duration::from_secs(10),
                duration: Some(Duration::from_secs(2)),
                every: Some(Duration::from_secs(30)),
                action: ChaosAction::KillServer,
            },
            ChaosEvent {
                at: Duration::from_secs(5),
                duration: None,
                every: None,
                action: ChaosAction::Blackhole,
            },
        ];
        let p = plan(&events, Duration::from_secs(75));
        let times: Vec<u64> = p.iter().map(|f| f.at.as_secs()).collect();
        assert_eq!(times, vec![5, 10, 40, 70]);
        assert_eq!(p[0].duration, Duration::from_secs(5));
    }
}
