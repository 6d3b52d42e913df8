//! Requests/s and latency of the MCP server at 1, 10 and 50 concurrent MCP clients, for
//! `key_analysis` on a stored chorale and for a mixed import/analyse/delete workload, with
//! the server's peak RSS (server + workers).
//!
//! Run: `scripts/bench-serve` (release build). `BENCH_SECS` sets the seconds per row (5).
//! `BENCH_URL=http://127.0.0.1:PORT/mcp` measures a server (or load balancer) already
//! running instead of starting one (`scripts/bench-cluster` does that); it must be on
//! loopback. `BENCH_CLIENTS=1,10,50` sets the rows. Traffic goes only to loopback and stops
//! by itself.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};

struct Server {
    /// None for a server this benchmark did not start (`BENCH_URL`).
    child: Option<Child>,
    url: String,
    _data: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The server named by `BENCH_URL`, which must be on loopback.
fn given_server() -> Option<Server> {
    let url = std::env::var("BENCH_URL").ok()?;
    let host = url::Url::parse(&url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    assert!(loopback, "BENCH_URL must be a loopback address (got {url})");
    Some(Server {
        child: None,
        url,
        _data: None,
    })
}

fn start_server() -> Server {
    let data = tempfile::tempdir().expect("tempdir");
    let config = data.path().join("bench.toml");
    // Generous limits: the benchmark measures throughput, not the protections.
    std::fs::write(
        &config,
        "[server.rate_limit]\nclient_per_second = 100000.0\nclient_burst = 100000\nglobal_per_second = 100000.0\nglobal_burst = 100000\n[server.admission]\nqueue_max = 1000\n",
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_music21-prod"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(data.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read url");
    let url = line
        .split_whitespace()
        .last()
        .expect("url on the first line")
        .to_string();
    Server {
        child: Some(child),
        url,
        _data: Some(data),
    }
}

fn tree_pids(root: u32) -> Vec<u32> {
    let mut pids = vec![root];
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(root) {
                pids.push(pid);
            }
        }
    }
    pids
}

fn peak_rss_mb(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .sum::<f64>()
        / 1024.0
}

async fn call(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    tool: &str,
    args: Value,
) -> bool {
    let params = CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    matches!(client.call_tool(params).await, Ok(r) if r.is_error != Some(true))
}

async fn run_level(
    url: &str,
    clients: usize,
    secs: f64,
    mixed: bool,
) -> (usize, usize, Vec<Duration>) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let url: Arc<str> = url.into();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            // Each client from its own loopback address: the server keys its per-client
            // quotas (workers, rate) by address, as it would for clients on other hosts.
            let source = std::net::IpAddr::from([127, 10, (c / 250) as u8, (c % 250 + 1) as u8]);
            let http = reqwest::Client::builder()
                .local_address(source)
                .build()
                .expect("http client");
            let transport = StreamableHttpClientTransport::with_client(
                http,
                rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                    url.to_string(),
                ),
            );
            let client = ().serve(transport).await.expect("initialize");
            let (mut ok, mut failed, mut latencies) = (0usize, 0usize, Vec::new());
            let mut n = 0u64;
            while Instant::now() < deadline {
                let started = Instant::now();
                let success = if mixed {
                    // A store that outlives runs (BENCH_URL) must not meet a past run's ids.
                    let id = format!("m{}-{c}-{n}", std::process::id());
                    n += 1;
                    call(
                        &client,
                        "import_score",
                        json!({"score_id": id, "source": "builtin/twinkle"}),
                    )
                    .await
                        && call(&client, "key_analysis", json!({"score_id": id})).await
                        && call(&client, "delete_score", json!({"score_id": id})).await
                } else {
                    call(&client, "key_analysis", json!({"score_id": "chorale"})).await
                };
                latencies.push(started.elapsed());
                if success {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            let _ = client.cancel().await;
            (ok, failed, latencies)
        }));
    }
    let mut all = Vec::new();
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        if let Ok((o, f, l)) = t.await {
            ok += o;
            failed += f;
            all.extend(l);
        }
    }
    all.sort();
    (ok, failed, all)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

fn main() {
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let server = given_server().unwrap_or_else(start_server);
    let levels: Vec<usize> = std::env::var("BENCH_CLIENTS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 10, 50]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let transport = StreamableHttpClientTransport::from_uri(server.url.as_str());
        let client = ().serve(transport).await.expect("initialize");
        assert!(
            call(
                &client,
                "import_score",
                json!({"score_id": "chorale", "source": "builtin/chorale-g-major", "replace": true})
            )
            .await
        );
        let _ = client.cancel().await;
    });
    println!(
        "music21-prod serve benchmark: {secs} s per row, server at {}",
        server.url
    );
    println!(
        "{:<34} {:>8} {:>10} {:>9} {:>9} {:>8}",
        "workload", "clients", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for mixed in [false, true] {
        for &clients in &levels {
            let (ok, failed, lat) = runtime.block_on(run_level(&server.url, clients, secs, mixed));
            let name = if mixed {
                "import + key_analysis + delete"
            } else {
                "key_analysis (stored chorale)"
            };
            println!(
                "{name:<34} {clients:>8} {:>10.1} {:>9.2} {:>9.2} {:>8}",
                ok as f64 / secs,
                pct(&lat, 0.5),
                pct(&lat, 0.99),
                failed
            );
        }
    }
    if let Some(child) = &server.child {
        let pids = tree_pids(child.id());
        println!(
            "peak RSS, server + {} workers: {:.1} MB",
            pids.len().saturating_sub(1),
            peak_rss_mb(&pids)
        );
    }
}
