//! A deployment the harness did not start (`stress --target URL`, `[stress.target]`): where
//! it is, its replicas, and the operator's commands that are the only way this harness
//! touches its processes and its database. A fault without a command is skipped, and said.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};

use crate::config::stress::TargetConfig;

/// How long an operator's command may take before the harness gives up on it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// One endpoint of the deployment: the whole (its load balancer) or one replica.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub mcp_url: String,
    pub base_url: String,
    pub address: SocketAddr,
}

impl Endpoint {
    async fn resolve(mcp_url: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(mcp_url).with_context(|| format!("`{mcp_url}` is not a URL"))?;
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| anyhow!("`{mcp_url}` names no port"))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let address = tokio::net::lookup_host((bare, port))
            .await
            .with_context(|| format!("cannot resolve {host}"))?
            .next()
            .ok_or_else(|| anyhow!("{host} resolves to no address"))?;
        Ok(Self {
            mcp_url: mcp_url.to_string(),
            base_url: format!("http://{host}:{port}"),
            address,
        })
    }
}

/// A process or database fault the operator's commands carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Kill,
    Term,
    Restart,
    DbRestart,
    DbPause,
    DbCut,
}

impl Operation {
    /// The `[stress.target]` key of its command.
    pub fn key(self) -> &'static str {
        match self {
            Operation::Kill => "kill_command",
            Operation::Term => "term_command",
            Operation::Restart => "restart_command",
            Operation::DbRestart => "db_restart_command",
            Operation::DbPause => "db_pause_command",
            Operation::DbCut => "db_cut_command",
        }
    }
}

/// What `{…}` in a command becomes.
#[derive(Clone, Debug, Default)]
pub struct Arguments {
    pub replica: Option<usize>,
    pub mode: Option<String>,
    pub seconds: Option<f64>,
}

pub struct Remote {
    pub config: TargetConfig,
    whole: Endpoint,
    replicas: Vec<Endpoint>,
    next: AtomicUsize,
}

impl Remote {
    /// Resolves the target's and its replicas' addresses (validated by the config already:
    /// loopback, or listed in `allowed_targets`).
    pub async fn new(config: &TargetConfig) -> anyhow::Result<Self> {
        let whole = Endpoint::resolve(&config.url).await?;
        let mut replicas = Vec::new();
        for url in &config.replicas {
            replicas.push(Endpoint::resolve(url).await?);
        }
        Ok(Self {
            config: config.clone(),
            whole,
            replicas,
            next: AtomicUsize::new(0),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.whole.base_url
    }

    pub fn mcp_url(&self) -> &str {
        &self.whole.mcp_url
    }

    pub fn address(&self) -> SocketAddr {
        self.whole.address
    }

    pub fn replicas(&self) -> &[Endpoint] {
        &self.replicas
    }

    /// Replica `n` (from 1), as the commands number them.
    pub fn replica(&self, n: usize) -> Option<&Endpoint> {
        n.checked_sub(1).and_then(|i| self.replicas.get(i))
    }

    /// The next replica a fault goes to, round robin from 1 (1 when none are listed).
    pub fn next_replica(&self) -> usize {
        let count = self.replicas.len().max(1);
        self.next.fetch_add(1, Ordering::SeqCst) % count + 1
    }

    /// The server processes of this deployment that run on this machine: those listening
    /// on each replica's port (or the target's, when no replica is listed).
    pub fn local_pids(&self) -> Vec<u32> {
        let endpoints: Vec<&Endpoint> = if self.replicas.is_empty() {
            vec![&self.whole]
        } else {
            self.replicas.iter().collect()
        };
        endpoints
            .into_iter()
            .filter(|e| e.address.ip().is_loopback())
            .flat_map(|e| crate::sysmem::listening_pids(e.address.port()))
            .collect()
    }

    pub fn command(&self, op: Operation) -> Option<&str> {
        let c = &self.config;
        match op {
            Operation::Kill => c.kill_command.as_deref(),
            Operation::Term => c.term_command.as_deref(),
            Operation::Restart => c.restart_command.as_deref(),
            Operation::DbRestart => c.db_restart_command.as_deref(),
            Operation::DbPause => c.db_pause_command.as_deref(),
            Operation::DbCut => c.db_cut_command.as_deref(),
        }
        .filter(|c| !c.trim().is_empty())
    }

    /// Runs the operator's command for `op`, with `{replica}`, `{mode}` and `{seconds}`
    /// filled in; its output (or why it failed). `None` when no command is configured.
    pub async fn run(&self, op: Operation, args: &Arguments) -> Option<Result<String, String>> {
        let template = self.command(op)?;
        let command = fill(template, args);
        Some(run_shell(&command).await)
    }
}

/// `template` with its placeholders filled in.
pub fn fill(template: &str, args: &Arguments) -> String {
    let mut command = template.to_string();
    if let Some(n) = args.replica {
        command = command.replace("{replica}", &n.to_string());
    }
    if let Some(mode) = &args.mode {
        command = command.replace("{mode}", mode);
    }
    if let Some(seconds) = args.seconds {
        command = command.replace("{seconds}", &format!("{seconds}"));
    }
    command
}

async fn run_shell(command: &str) -> Result<String, String> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(COMMAND_TIMEOUT, child).await {
        Err(_) => Err(format!(
            "`{command}` did not finish within {} s",
            COMMAND_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(format!("cannot run `{command}`: {e}")),
        Ok(Ok(out)) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        Ok(Ok(out)) => Err(format!(
            "`{command}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// One replica at the end of a run, for `results.json` and the report.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ReplicaReport {
    /// `replica-N`, as the commands number it.
    pub name: String,
    pub url: String,
    /// Tool calls it answered during the run (its `music21_requests_total`; since its last
    /// start when it `restarted`).
    pub requests: Option<f64>,
    /// It restarted during the run (a fault, or on its own).
    #[serde(default)]
    pub restarted: bool,
    /// Process faults sent to it by this run.
    pub kills: u64,
    pub terms: u64,
    pub db_cuts: u64,
    /// Seconds it had been up at the end (a restart resets it).
    pub uptime_s: Option<f64>,
    pub ready_at_end: bool,
}

/// Reads each replica's `/metrics` and `/readyz`.
pub async fn replica_reports(remote: &Remote, faults: &[(usize, Operation)]) -> Vec<ReplicaReport> {
    let client = match probe_client() {
        Ok(c) => c,
        Err(_) => return Vec::new(),
    };
    let mut out = Vec::new();
    for (i, replica) in remote.replicas().iter().enumerate() {
        let n = i + 1;
        let count =
            |op: Operation| faults.iter().filter(|(r, o)| *r == n && *o == op).count() as u64;
        let metrics = get_text(&client, &format!("{}/metrics", replica.base_url)).await;
        let samples = metrics
            .as_deref()
            .map(crate::metrics::parse_text)
            .unwrap_or_default();
        let sum = |name: &str| {
            let values: Vec<f64> = samples
                .iter()
                .filter(|(n, _, _)| n == name)
                .map(|(_, _, v)| *v)
                .collect();
            (!values.is_empty()).then(|| values.iter().sum())
        };
        let ready = client
            .get(format!("{}/readyz", replica.base_url))
            .send()
            .await
            .is_ok_and(|r| r.status() == reqwest::StatusCode::OK);
        let started = sum("process_start_time_seconds");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        out.push(ReplicaReport {
            name: format!("replica-{n}"),
            url: replica.mcp_url.clone(),
            requests: sum(crate::wire::metric::REQUESTS_TOTAL),
            kills: count(Operation::Kill),
            terms: count(Operation::Term),
            db_cuts: count(Operation::DbCut),
            uptime_s: started.map(|s| (now - s).max(0.0)),
            ready_at_end: ready,
            restarted: false,
        });
    }
    out
}

/// `end` against the same replicas at the run's start: calls answered during the run, and
/// whether each restarted meanwhile (its counter then starts again from zero).
pub fn since_start(
    mut end: Vec<ReplicaReport>,
    start: &[ReplicaReport],
    run_s: f64,
) -> Vec<ReplicaReport> {
    for (now, then) in end.iter_mut().zip(start) {
        now.restarted = now.uptime_s.is_some_and(|up| up < run_s);
        if !now.restarted {
            if let (Some(n), Some(t)) = (now.requests, then.requests) {
                now.requests = Some((n - t).max(0.0));
            }
        }
    }
    end
}

pub fn probe_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
}

async fn get_text(client: &reqwest::Client, url: &str) -> Option<String> {
    let response = client.get(url).send().await.ok()?;
    response.text().await.ok()
}

/// Waits for replica `replica` to come back after a kill: a new process (its uptime shorter
/// than the time since `at`) that is ready. Seconds from `at`, or `None` after `limit`.
pub async fn replica_back(replica: &Endpoint, at: Instant, limit: Duration) -> Option<f64> {
    let client = probe_client().ok()?;
    let deadline = at + limit;
    while Instant::now() < deadline {
        let health: Option<crate::wire::Health> =
            get_text(&client, &format!("{}/health", replica.base_url))
                .await
                .and_then(|t| serde_json::from_str(&t).ok());
        let restarted = health
            .and_then(|h| h.uptime_seconds)
            .is_some_and(|up| up <= at.elapsed().as_secs_f64() + 0.5);
        if restarted
            && client
                .get(format!("{}/readyz", replica.base_url))
                .send()
                .await
                .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
        {
            return Some(at.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled() {
        let args = Arguments {
            replica: Some(2),
            mode: Some("fast".into()),
            seconds: Some(3.5),
        };
        assert_eq!(
            fill("scripts/cluster kill {replica}", &args),
            "scripts/cluster kill 2"
        );
        assert_eq!(fill("db {mode} {seconds}", &args), "db fast 3.5");
    }

    #[tokio::test]
    async fn commands_report_their_output_and_failures() {
        assert_eq!(run_shell("echo hello").await, Ok("hello".into()));
        let e = run_shell("echo oops >&2; exit 3").await.unwrap_err();
        assert!(e.contains("oops") && e.contains('3'), "{e}");
    }

    #[tokio::test]
    async fn replicas_are_taken_in_turn() {
        let config = TargetConfig {
            url: "http://127.0.0.1:9/mcp".into(),
            replicas: vec![
                "http://127.0.0.1:10/mcp".into(),
                "http://127.0.0.1:11/mcp".into(),
            ],
            ..TargetConfig::default()
        };
        let remote = Remote::new(&config).await.unwrap();
        let turns: Vec<usize> = (0..4).map(|_| remote.next_replica()).collect();
        assert_eq!(turns, [1, 2, 1, 2]);
        assert_eq!(remote.replica(2).unwrap().address.port(), 11);
        assert!(remote.command(Operation::Kill).is_none());
    }
}
