//! Replicas of a `--target` deployment agree: a score stored through one is readable,
//! whole, through every other at once (during the run, `cross_replica_every`), and every
//! acknowledged score still there at the end reads back the same through each replica.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::stress::checker::Acked;
use crate::stress::client::{McpClient, Reply};
use crate::stress::ctx::RunCtx;
pub use crate::stress::results::CrossReplica;
use crate::stress::target::Endpoint;

/// Sessions of the harness with each replica, opened again when one breaks.
struct Sessions {
    clients: Vec<Option<McpClient>>,
    timeout: Duration,
}

impl Sessions {
    fn new(count: usize, timeout: Duration) -> Self {
        Self {
            clients: (0..count).map(|_| None).collect(),
            timeout,
        }
    }

    async fn call(
        &mut self,
        replicas: &[Endpoint],
        i: usize,
        tool: &str,
        args: serde_json::Value,
    ) -> Reply {
        if self.clients[i].as_ref().is_none_or(|c| c.is_closed()) {
            match McpClient::connect(&replicas[i].mcp_url, self.timeout).await {
                Ok(c) => self.clients[i] = Some(c),
                Err(reply) => return reply,
            }
        }
        let Some(client) = &self.clients[i] else {
            return Reply::Timeout;
        };
        let reply = client.call(tool, args, self.timeout).await;
        if matches!(reply, Reply::Transport { .. } | Reply::Timeout) {
            if let Some(old) = self.clients[i].take() {
                tokio::spawn(old.close());
            }
        }
        reply
    }

    async fn close(self) {
        for c in self.clients.into_iter().flatten() {
            c.close().await;
        }
    }
}

/// Every `every`, until the load stops: a small score stored through the next replica and
/// read at once through every other; each acknowledged one joins the checker's ledger.
pub async fn probe(
    ctx: std::sync::Arc<RunCtx>,
    every: Duration,
    found: std::sync::Arc<Mutex<CrossReplica>>,
) {
    let Some(remote) = ctx.server.remote.as_ref() else {
        return;
    };
    let replicas = remote.replicas().to_vec();
    if replicas.len() < 2 {
        return;
    }
    let mut sessions = Sessions::new(replicas.len(), ctx.call_timeout);
    let mut round = 0u64;
    while !ctx.sleep_or_stop(every).await {
        round += 1;
        let writer = (round as usize - 1) % replicas.len();
        let id = format!("{}xreplica-{}-{round}", ctx.id_prefix, ctx.config.seed);
        let source = format!(
            "X:1\nT:cross-replica {round}\nM:4/4\nL:1/8\nK:G\nGABc dedB|{}|\n",
            round % 97
        );
        let started = Instant::now();
        let reply = sessions
            .call(
                &replicas,
                writer,
                "import_score",
                json!({"score_id": id, "source": source}),
            )
            .await;
        let Reply::Ok(answer) = reply else {
            // Not stored: nothing to read back (and not acknowledged).
            continue;
        };
        let acked = Acked::from_import(&answer, 8, 1);
        ctx.ledger.ack(&id, acked.clone());
        lock(&found).rounds += 1;
        for reader in (0..replicas.len()).filter(|r| *r != writer) {
            let at = Instant::now();
            let reply = sessions
                .call(&replicas, reader, "score_info", json!({"score_id": id}))
                .await;
            let failed = disagreement(&reply, &acked).map(|why| {
                format!(
                    "{id} stored through replica-{} and read through replica-{}: {why}",
                    writer + 1,
                    reader + 1
                )
            });
            let excused = ctx.windows.overlaps(started, Instant::now())
                || ctx.windows.overlaps(at, Instant::now());
            lock(&found).note(failed, excused);
        }
    }
    sessions.close().await;
}

fn lock(found: &Mutex<CrossReplica>) -> std::sync::MutexGuard<'_, CrossReplica> {
    found.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why `reply` to `score_info` is not the acknowledged score, if it is not.
fn disagreement(reply: &Reply, acked: &Acked) -> Option<String> {
    match reply {
        Reply::Ok(info) => {
            let sha = info.get("sha256").and_then(|v| v.as_str()).unwrap_or("");
            (sha != acked.sha256).then(|| format!("sha256 {sha} instead of {}", acked.sha256))
        }
        other => Some(other.describe()),
    }
}

/// At the end: up to `sample` acknowledged scores still stored, each read through every
/// replica; (reads, failures, first failures).
pub async fn read_everywhere(ctx: &RunCtx, sample: usize) -> CrossReplica {
    let mut found = CrossReplica::default();
    let Some(remote) = ctx.server.remote.as_ref() else {
        return found;
    };
    let replicas = remote.replicas().to_vec();
    if replicas.is_empty() {
        return found;
    }
    let ids: Vec<String> = ctx.ledger.live_ids();
    let step = (ids.len() / sample.max(1)).max(1);
    let mut sessions = Sessions::new(replicas.len(), Duration::from_secs(30));
    for id in ids.iter().step_by(step).take(sample) {
        let Some(acked) = ctx.ledger.acked(id) else {
            continue;
        };
        if ctx.ledger.is_corrupted_on_disk(id) {
            continue;
        }
        let mut answers = Vec::with_capacity(replicas.len());
        for r in 0..replicas.len() {
            let reply = sessions
                .call(&replicas, r, "score_info", json!({"score_id": id}))
                .await;
            answers.push(reply);
        }
        // All agree it is gone (the checker judges that on its own), or each has it whole.
        let all_gone = answers
            .iter()
            .all(|a| matches!(a, Reply::ToolError { code, .. } if code == "not_found"));
        for (r, reply) in answers.iter().enumerate() {
            let failed = if all_gone {
                None
            } else {
                disagreement(reply, &acked)
                    .map(|why| format!("{id} through replica-{}: {why}", r + 1))
            };
            found.note(failed, false);
        }
    }
    sessions.close().await;
    found
}

/// The figures of a deployment with replicas and a database: reads across replicas, during
/// the run and at the end, and how long the database took to come back after a restart.
pub fn figures(ctx: &RunCtx, everywhere: &CrossReplica, figures: &mut BTreeMap<String, f64>) {
    let mut put = |k: &str, v: f64| {
        figures.insert(k.to_string(), v);
    };
    let skipped = ctx
        .skipped_faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .len();
    put("fault_kinds_skipped", skipped as f64);
    let Some(remote) = &ctx.server.remote else {
        return;
    };
    put("replicas", remote.replicas().len() as f64);
    let during = ctx
        .cross_replica
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if during.rounds > 0 {
        put("cross_replica_reads", during.reads as f64);
        put("cross_replica_failures", during.failures as f64);
    }
    if everywhere.reads > 0 {
        put("replica_readback_reads", everywhere.reads as f64);
        put("replica_readback_failures", everywhere.failures as f64);
    }
    let db: Vec<f64> = ctx
        .recorder
        .recoveries()
        .iter()
        .filter(|r| r.kind == "db_restart")
        .map(|r| {
            r.first_success_after_s
                .unwrap_or(crate::wire::figures::RECOVERY_LIMIT_S)
        })
        .collect();
    if !db.is_empty() {
        put(
            "db_recovery_seconds_max",
            db.iter().cloned().fold(0.0, f64::max),
        );
    }
}

/// The replicas' lines of the run's summary, and the faults that were skipped.
pub fn print_summary(r: &crate::stress::results::Results) {
    for replica in &r.replicas {
        println!(
            "  {}: {} calls answered, {} kills, {} terms, {} database cuts, up {:.0} s, {}",
            replica.name,
            replica
                .requests
                .map(|n| format!("{n:.0}"))
                .unwrap_or_else(|| "?".into()),
            replica.kills,
            replica.terms,
            replica.db_cuts,
            replica.uptime_s.unwrap_or(f64::NAN),
            if replica.ready_at_end {
                "ready"
            } else {
                "NOT READY"
            }
        );
    }
    if r.figures.contains_key("cross_replica_reads")
        || r.figures.contains_key("replica_readback_reads")
    {
        println!(
            "  across replicas: {:.0} reads during the run ({:.0} failed outside faults), {:.0} at the end ({:.0} failed)",
            r.figures.get("cross_replica_reads").copied().unwrap_or(0.0),
            r.figures.get("cross_replica_failures").copied().unwrap_or(0.0),
            r.figures.get("replica_readback_reads").copied().unwrap_or(0.0),
            r.figures.get("replica_readback_failures").copied().unwrap_or(0.0),
        );
    }
    for (kind, why) in &r.skipped_faults {
        println!("  skipped: {kind}: {why}");
    }
}
