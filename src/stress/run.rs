//! The orchestrator of a production test run: preflight, the server under its supervisor,
//! the fault proxy, the users, the nemesis, healing, the checker, results and verdict.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::config::stress::StressConfig;
use crate::config::Config;
use crate::stress::checker::Ledger;
use crate::stress::client::{McpClient, Reply};
use crate::stress::ctx::{FaultWindows, KnownPiece, RunCtx};
use crate::stress::nemesis;
use crate::stress::proxy::FaultProxy;
use crate::stress::recorder::{Outcome, Recorder};
use crate::stress::results::{judge, verdict_table, Results, SCHEMA_VERSION};
use crate::stress::server::{free_port, ServerUnderTest};
use crate::stress::users::User;

/// What the command line may override.
#[derive(Clone, Debug, Default)]
pub struct StressArgs {
    pub config: Option<String>,
    pub duration: Option<Duration>,
    pub users: Option<u32>,
    pub out: Option<PathBuf>,
    pub seed: Option<u64>,
    pub monitor: bool,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One preflight line: ✓ or ✗ with a reason.
fn check_line(ok: bool, what: &str, detail: &str) -> bool {
    eprintln!("  {} {what}: {detail}", if ok { "✓" } else { "✗" });
    ok
}

fn preflight(config: &StressConfig, out: &Path) -> Result<(), String> {
    eprintln!("preflight:");
    let mut ok = true;
    let writable =
        std::fs::create_dir_all(out).is_ok() && std::fs::write(out.join(".probe"), b"ok").is_ok();
    let _ = std::fs::remove_file(out.join(".probe"));
    ok &= check_line(writable, "output directory", &out.display().to_string());
    let need_mb = 512 + config.users as u64 * 2;
    let available_mb = crate::sysmem::available_bytes().unwrap_or(0) / (1024 * 1024);
    ok &= check_line(
        available_mb >= need_mb,
        "memory",
        &format!("{available_mb} MiB available, {need_mb} MiB needed"),
    );
    let fds = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(0);
    let need_fds = 64 + config.users as u64 * 6;
    ok &= check_line(
        fds >= need_fds,
        "open files",
        &format!("limit {fds}, {need_fds} needed"),
    );
    let exe = std::env::current_exe().is_ok();
    ok &= check_line(exe, "own executable", "found");
    if ok {
        Ok(())
    } else {
        Err("preflight failed (see the ✗ lines above)".into())
    }
}

/// The engine's own answers on the built-in pieces, to check the server's against.
fn known_pieces() -> Vec<KnownPiece> {
    let Ok(dir) = tempfile::tempdir() else {
        return Vec::new();
    };
    let mut config = Config::default();
    config.server.data_dir = dir.path().to_path_buf();
    let Ok(ctx) = crate::tools::ToolContext::open(config) else {
        return Vec::new();
    };
    let registry = crate::tools::Registry::new();
    let mut out = Vec::new();
    for (i, piece) in crate::music::corpus::BUILTIN.iter().enumerate() {
        let id = format!("k{i}");
        let Ok(imported) = registry.call(
            &ctx,
            "import_score",
            json!({"score_id": id, "source": piece.name}),
        ) else {
            continue;
        };
        let key = registry
            .call(&ctx, "key_analysis", json!({"score_id": id}))
            .ok()
            .and_then(|v| {
                v.pointer("/key/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let chords = registry
            .call(&ctx, "chord_analysis", json!({"score_id": id, "limit": 1}))
            .ok()
            .and_then(|v| v.get("total").and_then(Value::as_u64))
            .unwrap_or(0);
        out.push(KnownPiece {
            name: piece.name.to_string(),
            notes: imported.get("notes").and_then(Value::as_u64).unwrap_or(0),
            parts: imported.get("parts").and_then(Value::as_u64).unwrap_or(0),
            key,
            chords,
            musicxml: piece.format == crate::music::Format::Musicxml,
        });
    }
    out
}

/// The server's configuration for the run: the loaded config, the run's data dir and
/// worker count, then `stress.server_overrides`.
fn server_config(base: &Config, data_dir: &Path) -> Result<String, String> {
    let mut config = base.clone();
    config.server.data_dir = data_dir.to_path_buf();
    config.server.workers.count = base.stress.server_workers;
    config.server.bind = "127.0.0.1".into();
    let mut table: toml::Table = toml::Table::try_from(&config)
        .map_err(|e| format!("cannot write the server config: {e}"))?;
    if let Some(overrides) = &base.stress.server_overrides {
        let extra: toml::Table = overrides
            .parse()
            .map_err(|e: toml::de::Error| format!("stress.server_overrides: {}", e.message()))?;
        merge(&mut table, extra);
    }
    toml::to_string(&table).map_err(|e| format!("cannot write the server config: {e}"))
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// Samples the server's and workers' memory and CPU into the series once a second.
fn spawn_sampler(ctx: Arc<RunCtx>) {
    tokio::spawn(async move {
        let mut last_cpu: Option<(f64, Instant)> = None;
        while !ctx.finished.is_cancelled() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (server_rss, workers_rss, cpu) = match ctx.server.pid() {
                Some(pid) => {
                    let server = crate::sysmem::rss_bytes(pid).unwrap_or(0) as f64 / 1048576.0;
                    let workers: f64 = children(pid)
                        .into_iter()
                        .filter_map(crate::sysmem::rss_bytes)
                        .map(|b| b as f64 / 1048576.0)
                        .sum();
                    let cpu_now = crate::sysmem::cpu_seconds(pid).unwrap_or(0.0);
                    let percent = match last_cpu {
                        Some((prev, at)) if cpu_now >= prev => {
                            100.0 * (cpu_now - prev) / at.elapsed().as_secs_f64().max(0.001)
                        }
                        _ => 0.0,
                    };
                    last_cpu = Some((cpu_now, Instant::now()));
                    (server, workers, percent)
                }
                None => {
                    last_cpu = None;
                    (0.0, 0.0, 0.0)
                }
            };
            ctx.recorder
                .tick(server_rss, workers_rss, cpu, ctx.windows.active());
        }
    });
}

/// Child processes of `pid` (the server's workers).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|p| crate::sysmem::parent_pid(*p) == Some(pid))
        .collect()
}

/// Runs the whole production test; returns the exit code (0 pass, 1 fail, 2 broken).
pub fn run(args: StressArgs) -> i32 {
    // The harness's own MCP clients meet resets and blackholes on purpose; every call's
    // outcome is recorded and classified, so their transport errors are not news.
    crate::logging::init_with("pretty", "info,rmcp=off");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("music21-prod stress: cannot start: {e}");
            return 2;
        }
    };
    runtime.block_on(run_async(args))
}

async fn run_async(args: StressArgs) -> i32 {
    let mut base = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("music21-prod stress: {e}");
            return 2;
        }
    };
    if let Some(d) = args.duration {
        base.stress.duration = d;
    }
    if let Some(u) = args.users {
        base.stress.users = u;
    }
    if let Some(s) = args.seed {
        base.stress.seed = s;
    }
    if let Err(invalid) = base.stress.validate() {
        eprintln!("music21-prod stress: command line: {invalid}");
        return 2;
    }
    let config = base.stress.clone();
    let duration = config.duration;
    let out_root = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(&config.out_dir));
    let out = if args.out.is_some() {
        out_root
    } else {
        out_root.join(format!("run-{}-seed{}", now_secs(), config.seed))
    };
    if let Err(e) = preflight(&config, &out) {
        eprintln!("music21-prod stress: {e}");
        return 2;
    }
    let data_dir = out.join("data");
    let server_toml = match server_config(&base, &data_dir) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("music21-prod stress: {e}");
            return 2;
        }
    };
    let server_config_path = out.join("server.toml");
    if let Err(e) = std::fs::write(&server_config_path, server_toml) {
        eprintln!(
            "music21-prod stress: cannot write {}: {e}",
            server_config_path.display()
        );
        return 2;
    }
    let started_at = now_secs();
    let (ctx_tx, ctx_rx) = tokio::sync::oneshot::channel::<Arc<RunCtx>>();
    let dashboard = args.monitor.then(|| spawn_dashboard(&base, ctx_rx));
    let outcome = drive(
        &base,
        config,
        duration,
        &out,
        data_dir,
        server_config_path,
        ctx_tx,
    )
    .await;
    if let Some((stop, handle)) = dashboard {
        // The terminal must be ours again before the summary is printed.
        stop.cancel();
        let _ = handle.await;
    }
    let (mut results, error) = match outcome {
        Ok(r) => (r, None),
        Err((partial, e)) => (partial, Some(e)),
    };
    results.started_at = started_at;
    results.finished_at = now_secs();
    if let Some(e) = &error {
        results.error = Some(e.clone());
        results.verdict = "broken".into();
        results.exit_code = 2;
        eprintln!("music21-prod stress: the run broke: {e}");
    }
    let path = out.join("results.json");
    match serde_json::to_string_pretty(&results) {
        Ok(text) => {
            if let Err(e) = std::fs::write(&path, text) {
                eprintln!("music21-prod stress: cannot write {}: {e}", path.display());
                return 2;
            }
        }
        Err(e) => {
            eprintln!("music21-prod stress: cannot serialise the results: {e}");
            return 2;
        }
    }
    print_summary(&results, &path);
    results.exit_code
}

/// `stress --monitor`: the dashboard in this terminal, fed by the run's own status (no HTTP
/// round trip) and the server's `/metrics` and `/health`. It comes up once the run has a
/// server and goes when `stop` is cancelled (the run is over) or the user presses `q`.
fn spawn_dashboard(
    base: &Config,
    ctx_rx: tokio::sync::oneshot::Receiver<Arc<RunCtx>>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let interval = base.monitor.interval;
    let dashboard_stop = stop.clone();
    let handle = tokio::spawn(async move {
        let ctx = tokio::select! {
            ctx = ctx_rx => match ctx {
                Ok(ctx) => ctx,
                // The run broke before it had a server: nothing to show.
                Err(_) => return,
            },
            _ = dashboard_stop.cancelled() => return,
        };
        let server_base = ctx.server.base_url();
        let status_ctx = ctx.clone();
        let status: Arc<dyn Fn() -> crate::wire::StressStatus + Send + Sync> =
            Arc::new(move || crate::stress::status::snapshot(&status_ctx));
        drop(ctx);
        if let Err(e) =
            crate::monitor::run_embedded(server_base, status, interval, dashboard_stop).await
        {
            eprintln!("music21-prod stress: --monitor: {e}; the run goes on without the dashboard");
        }
    });
    (stop, handle)
}

fn print_summary(r: &Results, path: &Path) {
    let f = |k: &str| r.figures.get(k).copied().unwrap_or(f64::NAN);
    println!(
        "music21-prod stress: {} s, {} users, seed {}",
        r.duration_s.round(),
        r.config.users,
        r.config.seed
    );
    println!(
        "  calls {:.0}: success {:.0}, expected refusals {:.0}, fault-induced {:.0}, unexpected {:.0}",
        f("calls"),
        f("success"),
        f("expected_refusal"),
        f("fault_induced"),
        f("unexpected")
    );
    println!(
        "  server kills {:.0}, recovery max {:.3} s; fault kinds injected {:.0}",
        f("server_kills"),
        f("recovery_seconds_max"),
        f("fault_kinds_injected")
    );
    println!(
        "  checker: {} acknowledged, {} checked, {} ok, {} lost, {} corrupted and detected, {} silently corrupted",
        r.checker.acknowledged, r.checker.checked, r.checker.ok, r.checker.lost, r.checker.corrupted_detected, r.checker.silently_corrupted
    );
    println!();
    print!("{}", verdict_table(&r.thresholds));
    println!(
        "\nverdict: {} (results: {})",
        r.verdict.to_uppercase(),
        path.display()
    );
}

type Partial = (Results, String);

fn empty_results(config: &StressConfig) -> Results {
    Results {
        tool: "music21-prod stress".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_revision: crate::GIT_REVISION.into(),
        verdict: "broken".into(),
        exit_code: 2,
        ..Results::blank(config.clone())
    }
}

async fn drive(
    base: &Config,
    config: StressConfig,
    duration: Duration,
    out: &Path,
    data_dir: PathBuf,
    server_config_path: PathBuf,
    publish_ctx: tokio::sync::oneshot::Sender<Arc<RunCtx>>,
) -> Result<Results, Partial> {
    let broken = |e: String| (empty_results(&config), e);
    let exe =
        std::env::current_exe().map_err(|e| broken(format!("cannot find own executable: {e}")))?;
    let known = tokio::task::spawn_blocking(known_pieces)
        .await
        .unwrap_or_default();
    let port = if config.server_port == 0 {
        free_port().map_err(|e| broken(format!("no free port: {e}")))?
    } else {
        config.server_port
    };
    let server_config_parsed = std::fs::read_to_string(&server_config_path)
        .ok()
        .and_then(|text| toml::from_str::<Config>(&text).ok());
    let memory_budget_mb = server_config_parsed
        .as_ref()
        .map(|c| c.server.memory.budget_mb as f64);
    let server = Arc::new(ServerUnderTest::new(
        exe.clone(),
        port,
        data_dir.clone(),
        server_config_path,
        out.join("server.log"),
    ));
    server.start().await.map_err(broken)?;
    if !server.wait_ready(Duration::from_secs(30)).await {
        server.stop(Duration::from_secs(2)).await;
        return Err(broken(format!(
            "the server never became ready; see {}",
            out.join("server.log").display()
        )));
    }
    server.supervise();
    let upstream: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let proxy = FaultProxy::start(([127, 0, 0, 1], 0).into(), upstream)
        .await
        .map_err(|e| broken(format!("cannot start the fault proxy: {e}")))?;
    let proxy_url = format!("http://{}/mcp", proxy.addr());
    // Which generation tools the server offers (they arrive with their own issue).
    let generation_tools =
        match McpClient::connect(&server.mcp_url(), Duration::from_secs(10)).await {
            Ok(client) => {
                let mut found = Vec::new();
                for tool in ["harmonize_melody", "generate_counterpoint", "imitate_style"] {
                    if let Reply::ToolError { code, .. } =
                        client.call(tool, json!({}), Duration::from_secs(5)).await
                    {
                        // An argument error means the tool exists.
                        if code == "invalid_argument" {
                            found.push(tool.to_string());
                        }
                    }
                }
                client.close().await;
                found
            }
            Err(e) => {
                server.stop(Duration::from_secs(2)).await;
                return Err(broken(format!(
                    "cannot open an MCP session: {}",
                    e.describe()
                )));
            }
        };
    let ctx = Arc::new(RunCtx {
        ramp_up: config.ramp_up,
        call_timeout: Duration::from_millis(config.call_timeout_ms.max(100)),
        config: config.clone(),
        start: Instant::now(),
        duration,
        proxy_url,
        proxy,
        server: server.clone(),
        recorder: Recorder::new(Instant::now()),
        ledger: Ledger::default(),
        windows: FaultWindows::default(),
        adversary_windows: FaultWindows::default(),
        adversary_reports: Mutex::new(Vec::new()),
        breakers_opened_by_garbage: AtomicU64::new(0),
        server_config: server_config_parsed.unwrap_or_else(|| base.clone()),
        known,
        generation_tools,
        exe,
        data_dir,
        kills: AtomicU64::new(0),
        server_chaos: tokio::sync::Mutex::new(()),
        stop: CancellationToken::new(),
        finished: CancellationToken::new(),
        phase: AtomicU8::new(0),
        checker: Mutex::new(None),
    });
    match crate::stress::status::serve(ctx.clone(), config.status_port).await {
        Ok(addr) => eprintln!("live status: http://{addr}/status (music21-prod monitor --stress http://{addr}/status)"),
        Err(e) => eprintln!("live status endpoint not available: {e}"),
    }
    spawn_sampler(ctx.clone());
    // Nobody listening (no --monitor) is fine.
    let _ = publish_ctx.send(ctx.clone());
    ctx.set_phase("load");
    eprintln!(
        "load: {} users ({} model) for {} s against {}, {} chaos firings",
        config.users,
        config.model,
        duration.as_secs(),
        server.mcp_url(),
        nemesis::plan(&config.chaos, duration).len()
    );

    let mut users = Vec::new();
    let arrivals = if config.model == "open" {
        let (tx, rx) = tokio::sync::mpsc::channel::<Instant>(config.users as usize * 4);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let c = ctx.clone();
        users.push(tokio::spawn(async move {
            let every = Duration::from_secs_f64(1.0 / c.config.arrival_rate);
            let mut next = Instant::now();
            while !c.stopping() {
                // Latency is charged from here: a stalled server cannot hide its stalls.
                let _ = tx.try_send(next);
                next += every;
                if c.sleep_or_stop(next.saturating_duration_since(Instant::now()))
                    .await
                {
                    break;
                }
            }
        }));
        Some(rx)
    } else {
        None
    };
    for i in 0..config.users as usize {
        let user = User::new(i, ctx.clone());
        users.push(match &arrivals {
            Some(rx) => tokio::spawn(user.run_open(rx.clone())),
            None => tokio::spawn(user.run_closed()),
        });
    }
    let chaos = tokio::spawn(nemesis::run(
        ctx.clone(),
        nemesis::plan(&config.chaos, duration),
    ));
    let adversaries = tokio::spawn(crate::stress::adversary::run(
        ctx.clone(),
        crate::stress::adversary::plan(&config.adversaries, duration),
    ));

    let interrupted = tokio::select! {
        _ = tokio::time::sleep(duration) => false,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: stopping the load, then healing and checking what was acknowledged");
            true
        }
    };
    ctx.stop.cancel();
    for u in users {
        let _ = tokio::time::timeout(ctx.call_timeout + Duration::from_secs(5), u).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(90), chaos).await;
    let _ = tokio::time::timeout(Duration::from_secs(90), adversaries).await;

    // Heal: no faults, the server up and ready.
    ctx.set_phase("heal");
    ctx.proxy.clear();
    server.hold_restarts(false);
    tokio::time::sleep(config.heal).await;
    let ready = server.wait_ready(Duration::from_secs(30)).await;

    ctx.set_phase("check");
    let checker = ctx
        .ledger
        .check(&server.mcp_url(), Duration::from_secs(30))
        .await;
    *ctx.checker.lock().unwrap_or_else(|p| p.into_inner()) = Some(checker.clone());
    let health = server.health().await;
    let breakers_closed = health.as_ref().is_some_and(|h| h.breakers_closed());

    server.stop(Duration::from_secs(15)).await;
    ctx.proxy.shutdown().await;
    ctx.set_phase("done");

    let r = &ctx.recorder;
    let counts = r.counts();
    let get = |o: Outcome| counts.get(&o).copied().unwrap_or(0) as f64;
    let (success, refused, fault, unexpected) = (
        get(Outcome::Success),
        get(Outcome::ExpectedRefusal),
        get(Outcome::FaultInduced),
        get(Outcome::Unexpected),
    );
    let recoveries = r.recoveries();
    let (peak_server, peak_total) = r.peak_rss_mb();
    let success_lat = r.success_latency();
    let mut figures = crate::wire::figures(&crate::wire::RunSoFar {
        success,
        expected_refusal: refused,
        fault_induced: fault,
        unexpected,
        recoveries: recoveries
            .iter()
            .map(|rec| rec.first_success_after_s)
            .collect(),
        server_restarts: server.restarts() as f64,
        users: config.users as f64,
        elapsed_s: ctx.start.elapsed().as_secs_f64(),
        checker: Some(checker.figures()),
    });
    let mut put = |k: &str, v: f64| {
        figures.insert(k.to_string(), v);
    };
    put("server_kills", ctx.kills.load(Ordering::SeqCst) as f64);
    put("server_rss_mb_max", peak_server);
    put("server_and_workers_rss_mb_max", peak_total);
    put("harness_rss_mb_max", r.peak_harness_rss_mb());
    // The budget the server under test enforces (its effective config), for the memory chart.
    if let Some(mb) = memory_budget_mb {
        put("memory_budget_mb", mb);
    }
    put(
        "breakers_closed_at_end",
        if breakers_closed { 1.0 } else { 0.0 },
    );
    put("ready_at_end", if ready { 1.0 } else { 0.0 });
    put(
        "fault_kinds_injected",
        crate::wire::fault::kinds_injected(
            ctx.windows.kinds_injected().iter().map(String::as_str),
            r.timeline().iter().map(|e| e.kind.as_str()),
        ) as f64,
    );
    let fairness = r.fairness();
    let adversary_reports = ctx
        .adversary_reports
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if !config.adversaries.is_empty() {
        put("victim_calls", fairness.victim_calls as f64);
        put(
            "victim_unexpected",
            (fairness.victim_calls - fairness.victim_success) as f64,
        );
        if fairness.victim_calls > 0 {
            put(
                "victim_success_rate",
                fairness.victim_success as f64 / fairness.victim_calls as f64,
            );
        }
        if fairness.inside.count > 0 && fairness.outside.count > 0 {
            put("victim_p99_ms", fairness.inside.p99_ms);
            put("outside_p99_ms", fairness.outside.p99_ms);
            put(
                "victim_p99_ratio",
                fairness.inside.p99_ms / fairness.outside.p99_ms.max(0.001),
            );
        }
        if config.adversaries.iter().any(|a| {
            matches!(
                a.action,
                crate::config::stress::AdversaryAction::Garbage { .. }
            )
        }) {
            put(
                "breakers_opened_by_garbage",
                ctx.breakers_opened_by_garbage.load(Ordering::SeqCst) as f64,
            );
        }
        let mut kinds: Vec<&str> = adversary_reports.iter().map(|a| a.kind.as_str()).collect();
        kinds.sort();
        kinds.dedup();
        put("adversary_kinds", kinds.len() as f64);
        put(
            "adversary_misbehaved",
            adversary_reports.iter().map(|a| a.misbehaved).sum::<u64>() as f64,
        );
    }
    if let Some(budget) = memory_budget_mb {
        put(
            "rss_within_budget",
            if peak_total <= budget { 1.0 } else { 0.0 },
        );
    }
    put("p50_ms", success_lat.p50_ms);
    put("p99_ms", success_lat.p99_ms);
    let thresholds = judge(&config.thresholds, &figures);
    let pass = thresholds.iter().all(|t| t.pass);
    let (verdict, exit_code) = if interrupted {
        ("interrupted", 2)
    } else if pass {
        ("pass", 0)
    } else {
        ("fail", 1)
    };
    ctx.finished.cancel();
    let _ = base;
    Ok(Results {
        schema_version: SCHEMA_VERSION,
        tool: "music21-prod stress".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_revision: crate::GIT_REVISION.into(),
        started_at: 0,
        finished_at: 0,
        duration_s: ctx.start.elapsed().as_secs_f64(),
        interrupted,
        verdict: verdict.into(),
        exit_code,
        error: None,
        config,
        figures,
        thresholds,
        outcomes: counts
            .iter()
            .map(|(k, v)| (k.name().to_string(), *v))
            .collect(),
        refusals: r.refusals(),
        latency: r.latency(),
        timeline: r.timeline(),
        recoveries,
        series: r.series(),
        checker,
        unexpected_samples: r.samples(),
        adversaries: adversary_reports,
        fairness,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_merge_into_the_server_config() {
        let mut base = Config::default();
        base.stress.server_overrides = Some("[server.rate_limit]\nclient_burst = 7\n".into());
        let text = server_config(&base, Path::new("/tmp/x")).unwrap();
        let parsed = Config::from_toml(&text, Path::new("server.toml")).unwrap();
        assert_eq!(parsed.server.rate_limit.client_burst, 7);
        assert_eq!(parsed.server.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(parsed.server.workers.count, base.stress.server_workers);
    }
}
