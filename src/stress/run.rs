//! The orchestrator of a production test run: preflight, the server under its supervisor,
//! the fault proxy, the users, the nemesis, healing, the checker, results and verdict.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicU8};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::config::stress::StressConfig;
use crate::config::{Config, ConfigError, Invalid};
use crate::stress::checker::{CheckerReport, Ledger};
use crate::stress::client::{McpClient, Reply};
use crate::stress::ctx::{FaultWindows, KnownPiece, RunCtx};
use crate::stress::leaks::ProcessCounts;
use crate::stress::nemesis;
use crate::stress::proxy::{FaultProxy, ProxyHandle};
use crate::stress::recorder::Recorder;
use crate::stress::results::{judge_with_skips, verdict_table, Results, SCHEMA_VERSION};
use crate::stress::server::{free_port, ServerUnderTest};
use crate::stress::users::User;
use crate::stress::verdict::{figures, AtEnd};

/// What `stress` is asked to do: `main` builds it from the command line, whose flags
/// override the config.
#[derive(Clone, Debug, Default)]
pub struct StressOptions {
    pub config: Option<String>,
    pub duration: Option<Duration>,
    pub users: Option<u32>,
    pub out: Option<PathBuf>,
    pub seed: Option<u64>,
    pub monitor: bool,
    /// A deployment to test instead of starting a server (its MCP URL).
    pub target: Option<String>,
    /// The schedule this many times faster (`--time-scale`).
    pub time_scale: Option<f64>,
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
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

fn preflight(config: &StressConfig, out: &Path) -> anyhow::Result<()> {
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
    if !ok {
        bail!("preflight failed (see the ✗ lines above)");
    }
    Ok(())
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
fn server_config(base: &Config, data_dir: &Path) -> anyhow::Result<String> {
    let mut config = base.clone();
    config.server.data_dir = data_dir.to_path_buf();
    config.server.workers.count = base.stress.server_workers;
    config.server.bind = "127.0.0.1".into();
    let mut table = toml::Table::try_from(&config).context("cannot write the server config")?;
    if let Some(overrides) = &base.stress.server_overrides {
        let extra: toml::Table = overrides
            .parse()
            .map_err(|e: toml::de::Error| anyhow!("stress.server_overrides: {}", e.message()))?;
        merge(&mut table, extra);
    }
    toml::to_string(&table).context("cannot write the server config")
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
            let pids = ctx.server.server_pids();
            let (server_rss, workers_rss, cpu) = match pids.is_empty() {
                false => {
                    let mb =
                        |pid: u32| crate::sysmem::rss_bytes(pid).unwrap_or(0) as f64 / 1048576.0;
                    let server: f64 = pids.iter().map(|p| mb(*p)).sum();
                    let workers: f64 = pids.iter().flat_map(|p| children(*p)).map(mb).sum();
                    let cpu_now: f64 = pids
                        .iter()
                        .filter_map(|p| crate::sysmem::cpu_seconds(*p))
                        .sum();
                    let percent = match last_cpu {
                        Some((prev, at)) if cpu_now >= prev => {
                            100.0 * (cpu_now - prev) / at.elapsed().as_secs_f64().max(0.001)
                        }
                        _ => 0.0,
                    };
                    last_cpu = Some((cpu_now, Instant::now()));
                    (server, workers, percent)
                }
                true => {
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

/// Runs the whole production test. The exit code is the verdict's (0 pass, 1 fail, 2
/// broken or interrupted); an error is a run that could not start or be recorded, which
/// `main` prints and ends with 2.
pub fn run(options: StressOptions) -> anyhow::Result<ExitCode> {
    // The harness's own MCP clients meet resets and blackholes on purpose; every call's
    // outcome is recorded and classified, so their transport errors are not news.
    crate::logging::init_with("pretty", "info,rmcp=off");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start")?;
    let exit_code = runtime.block_on(run_async(options))?;
    Ok(ExitCode::from(exit_code.clamp(0, 255) as u8))
}

/// The configuration with the command line's overrides, checked again.
fn configure(options: &StressOptions) -> anyhow::Result<Config> {
    let mut base = Config::load(options.config.as_deref())?;
    if let Some(n) = options.time_scale {
        if !(n.is_finite() && n >= 1.0) {
            bail!("--time-scale must be a number of at least 1 (the schedule runs N times faster), not {n}");
        }
        base.stress.compress(n);
    }
    if let Some(d) = options.duration {
        base.stress.duration = d;
    }
    if let Some(u) = options.users {
        base.stress.users = u;
    }
    if let Some(s) = options.seed {
        base.stress.seed = s;
    }
    if let Some(url) = &options.target {
        base.stress.target.get_or_insert_with(Default::default).url = url.clone();
    }
    base.stress
        .validate()
        .map_err(|Invalid { key, message }| ConfigError::Invalid {
            origin: "command line".into(),
            key,
            message,
        })?;
    Ok(base)
}

async fn run_async(options: StressOptions) -> anyhow::Result<i32> {
    let base = configure(&options)?;
    let config = base.stress.clone();
    let out = match &options.out {
        Some(out) => out.clone(),
        None => {
            PathBuf::from(&config.out_dir).join(format!("run-{}-seed{}", now_secs(), config.seed))
        }
    };
    preflight(&config, &out)?;
    let data_dir = out.join("data");
    let server_config_path = out.join("server.toml");
    if config.target.is_none() {
        std::fs::write(&server_config_path, server_config(&base, &data_dir)?)
            .with_context(|| format!("cannot write {}", server_config_path.display()))?;
    }
    let started_at = now_secs();
    let (ctx_tx, ctx_rx) = tokio::sync::oneshot::channel::<Arc<RunCtx>>();
    let dashboard = options.monitor.then(|| spawn_dashboard(&base, ctx_rx));
    let outcome = drive(
        &base,
        config.clone(),
        config.duration,
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
    let text = serde_json::to_string_pretty(&results).context("cannot serialise the results")?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    print_summary(&results, &path);
    Ok(results.exit_code)
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
    crate::stress::replicas::print_summary(r);
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
    let started = start(&config, out, server_config_path, &data_dir)
        .await
        .map_err(|e| (empty_results(&config), e))?;
    let memory_budget_mb = match &started.server_config {
        Some(c) => Some(c.server.memory.budget_mb as f64),
        // A target's own budget, as its /health says, once for each of its servers here.
        None => started.server.health().await.and_then(|h| {
            let budget = h.memory?.budget_bytes? as f64 / 1048576.0;
            Some(budget * started.server.server_pids().len().max(1) as f64)
        }),
    };
    let ctx = run_ctx(base, config, duration, data_dir, started);
    match crate::stress::status::serve(ctx.clone(), ctx.config.status_port).await {
        Ok(addr) => eprintln!("live status: http://{addr}/status (music21-prod monitor --stress http://{addr}/status)"),
        Err(e) => eprintln!("live status endpoint not available: {e}"),
    }
    spawn_sampler(ctx.clone());
    // Nobody listening (no --monitor) is fine.
    let _ = publish_ctx.send(ctx.clone());
    *ctx.resources_at_start
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(ProcessCounts::now(ctx.server.pid()));
    let interrupted = load(&ctx).await;
    let ready = heal(&ctx).await;
    *ctx.resources_at_end
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(ProcessCounts::now(ctx.server.pid()));
    let checked = check(&ctx).await;
    let at_end = AtEnd {
        ready,
        breakers_closed: checked.breakers_closed,
        memory_budget_mb,
    };
    let mut figures = figures(&ctx, &checked.checker, &at_end);
    crate::stress::replicas::figures(&ctx, &checked.everywhere, &mut figures);
    ctx.finished.cancel();
    let mut results = results(&ctx, figures, checked.checker, interrupted);
    results.replicas = checked.replicas;
    results
        .cross_replica_samples
        .extend(checked.everywhere.samples);
    Ok(results)
}

/// What the run has once its server is up behind the fault proxy.
struct Started {
    exe: PathBuf,
    server: Arc<ServerUnderTest>,
    proxy: ProxyHandle,
    proxy_url: String,
    /// The configuration the server runs with, as written to `OUT/server.toml`.
    server_config: Option<Config>,
    known: Vec<KnownPiece>,
    generation_tools: Vec<String>,
    replicas_at_start: Vec<crate::stress::target::ReplicaReport>,
}

/// Phase `starting`: the server under its supervisor, ready, behind the fault proxy.
async fn start(
    config: &StressConfig,
    out: &Path,
    server_config_path: PathBuf,
    data_dir: &Path,
) -> Result<Started, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let known = tokio::task::spawn_blocking(known_pieces)
        .await
        .unwrap_or_default();
    let port = if config.server_port == 0 {
        free_port().map_err(|e| format!("no free port: {e}"))?
    } else {
        config.server_port
    };
    let (server, server_config) = match &config.target {
        Some(target) => {
            let remote = crate::stress::target::Remote::new(target)
                .await
                .map_err(|e| format!("the target: {e:#}"))?;
            let server = ServerUnderTest::remote(remote)
                .map_err(|e| format!("cannot make the probes' HTTP client: {e}"))?;
            if !server.wait_ready(Duration::from_secs(30)).await {
                return Err(format!(
                    "the target {} is not ready (GET {}/readyz does not answer 200 within 30 s)",
                    server.mcp_url(),
                    server.base_url()
                ));
            }
            (Arc::new(server), None)
        }
        None => {
            let server_config = std::fs::read_to_string(&server_config_path)
                .ok()
                .and_then(|text| toml::from_str::<Config>(&text).ok());
            let server = ServerUnderTest::new(
                exe.clone(),
                port,
                data_dir.to_path_buf(),
                server_config_path,
                out.join("server.log"),
            )
            .map_err(|e| format!("cannot make the probes' HTTP client: {e}"))?;
            let server = Arc::new(server);
            server.start().await.map_err(|e| format!("{e:#}"))?;
            if !server.wait_ready(Duration::from_secs(30)).await {
                server.stop(Duration::from_secs(2)).await;
                return Err(format!(
                    "the server never became ready; see {}",
                    out.join("server.log").display()
                ));
            }
            server.supervise();
            (server, server_config)
        }
    };
    let upstream = server.address();
    let proxy = FaultProxy::start(([127, 0, 0, 1], 0).into(), upstream)
        .await
        .map_err(|e| format!("cannot start the fault proxy: {e}"))?;
    let proxy_url = format!("http://{}/mcp", proxy.addr());
    let generation_tools = match generation_tools(&server).await {
        Ok(tools) => tools,
        Err(e) => {
            server.stop(Duration::from_secs(2)).await;
            return Err(e);
        }
    };
    let replicas_at_start = match &server.remote {
        Some(remote) => crate::stress::target::replica_reports(remote, &[]).await,
        None => Vec::new(),
    };
    Ok(Started {
        replicas_at_start,
        exe,
        server,
        proxy,
        proxy_url,
        server_config,
        known,
        generation_tools,
    })
}

/// Which generation tools the server offers (they arrived with their own issue): a call
/// without arguments that fails on them means the tool exists.
async fn generation_tools(server: &ServerUnderTest) -> Result<Vec<String>, String> {
    let client = McpClient::connect(&server.mcp_url(), Duration::from_secs(10))
        .await
        .map_err(|e| format!("cannot open an MCP session: {}", e.describe()))?;
    let mut found = Vec::new();
    for tool in ["harmonize_melody", "generate_counterpoint", "imitate_style"] {
        if let Reply::ToolError { code, .. } =
            client.call(tool, json!({}), Duration::from_secs(5)).await
        {
            if code == "invalid_argument" {
                found.push(tool.to_string());
            }
        }
    }
    client.close().await;
    Ok(found)
}

fn run_ctx(
    base: &Config,
    config: StressConfig,
    duration: Duration,
    data_dir: PathBuf,
    started: Started,
) -> Arc<RunCtx> {
    let id_prefix = match &started.server.remote {
        Some(_) => format!("r{:x}-", now_nanos() & 0xff_ffff_ffff),
        None => String::new(),
    };
    Arc::new(RunCtx {
        ramp_up: config.ramp_up,
        call_timeout: Duration::from_millis(config.call_timeout_ms.max(100)),
        config,
        start: Instant::now(),
        duration,
        proxy_url: started.proxy_url,
        proxy: started.proxy,
        server: started.server,
        recorder: Recorder::new(Instant::now()),
        ledger: Ledger::default(),
        windows: FaultWindows::default(),
        adversary_windows: FaultWindows::default(),
        adversary_reports: Mutex::new(Vec::new()),
        breakers_opened_by_garbage: AtomicU64::new(0),
        server_config: started.server_config.unwrap_or_else(|| base.clone()),
        known: started.known,
        generation_tools: started.generation_tools,
        exe: started.exe,
        data_dir,
        kills: AtomicU64::new(0),
        huge: Default::default(),
        resources_at_start: Default::default(),
        resources_at_end: Default::default(),
        id_prefix,
        skipped_faults: Mutex::new(Default::default()),
        replica_faults: Mutex::new(Vec::new()),
        cross_replica: Default::default(),
        replicas_at_start: started.replicas_at_start,
        server_chaos: tokio::sync::Mutex::new(()),
        stop: CancellationToken::new(),
        finished: CancellationToken::new(),
        phase: AtomicU8::new(0),
        checker: Mutex::new(None),
    })
}

/// Phase `load`: the users, the nemesis and the adversaries for the run's duration (or
/// until Ctrl-C, which returns `true`), then everything stopped.
async fn load(ctx: &Arc<RunCtx>) -> bool {
    ctx.set_phase("load");
    let config = &ctx.config;
    let firings = nemesis::plan(&config.chaos, ctx.duration);
    eprintln!(
        "load: {} users ({} model) for {} s against {}, {} chaos firings",
        config.users,
        config.model,
        ctx.duration.as_secs(),
        ctx.server.mcp_url(),
        firings.len()
    );
    let users = spawn_users(ctx);
    let cross_replica = config
        .target
        .as_ref()
        .and_then(|t| t.cross_replica_every)
        .map(|every| {
            tokio::spawn(crate::stress::replicas::probe(
                ctx.clone(),
                every,
                ctx.cross_replica.clone(),
            ))
        });
    let evictions = tokio::spawn(crate::stress::evictions::follow(ctx.clone()));
    let chaos = tokio::spawn(nemesis::run(ctx.clone(), firings));
    let adversaries = tokio::spawn(crate::stress::adversary::run(
        ctx.clone(),
        crate::stress::adversary::plan(&config.adversaries, ctx.duration),
    ));
    let interrupted = tokio::select! {
        _ = tokio::time::sleep(ctx.duration) => false,
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
    if let Some(task) = cross_replica {
        let _ = tokio::time::timeout(ctx.call_timeout * 4, task).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(90), adversaries).await;
    let _ = tokio::time::timeout(ctx.call_timeout * 2, evictions).await;
    interrupted
}

/// The users' tasks: closed (each waits its think time) or open (a ticker of arrivals
/// that the users take, so latency is charged from the intended start).
fn spawn_users(ctx: &Arc<RunCtx>) -> Vec<tokio::task::JoinHandle<()>> {
    let config = &ctx.config;
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
    users
}

/// Phase `heal`: no faults, restarts allowed, `stress.heal` to settle; whether the server
/// is ready after it.
async fn heal(ctx: &RunCtx) -> bool {
    ctx.set_phase("heal");
    ctx.proxy.clear();
    ctx.server.hold_restarts(false);
    tokio::time::sleep(ctx.config.heal).await;
    ctx.server.wait_ready(Duration::from_secs(30)).await
}

/// The store's eviction log read to its end, so that no eviction counts as a loss.
async fn read_evictions_to_the_end(ctx: &RunCtx) {
    let mut watch =
        crate::stress::evictions::EvictionWatch::new(ctx.server.mcp_url(), Duration::from_secs(30));
    let mut read = Ok(());
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        read = watch.catch_up(&ctx.ledger).await;
        if read.is_ok() {
            break;
        }
    }
    if let Err(e) = read {
        eprintln!(
            "check: the store's eviction log could not be read ({e}); a score it evicted since the last read counts as lost"
        );
    }
    watch.close().await;
}

/// Phase `check`: every acknowledged score read back (and, for a deployment with
/// replicas, a sample read through each replica), the breakers looked at, and the server
/// stopped.
async fn check(ctx: &RunCtx) -> Checked {
    ctx.set_phase("check");
    read_evictions_to_the_end(ctx).await;
    let checker = ctx
        .ledger
        .check(&ctx.server.mcp_url(), Duration::from_secs(30))
        .await;
    *ctx.checker.lock().unwrap_or_else(|p| p.into_inner()) = Some(checker.clone());
    let everywhere = crate::stress::replicas::read_everywhere(ctx, REPLICA_READBACK_SAMPLE).await;
    let replicas = match &ctx.server.remote {
        Some(remote) => {
            let faults = ctx
                .replica_faults
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let end = crate::stress::target::replica_reports(remote, &faults).await;
            crate::stress::target::since_start(
                end,
                &ctx.replicas_at_start,
                ctx.start.elapsed().as_secs_f64(),
            )
        }
        None => Vec::new(),
    };
    let health = ctx.server.health().await;
    let breakers_closed = health.as_ref().is_some_and(|h| h.breakers_closed());
    ctx.server.stop(Duration::from_secs(15)).await;
    ctx.proxy.shutdown().await;
    ctx.set_phase("done");
    Checked {
        checker,
        breakers_closed,
        everywhere,
        replicas,
    }
}

/// Acknowledged scores read through every replica at the end, at most.
const REPLICA_READBACK_SAMPLE: usize = 200;

/// What the check phase found.
struct Checked {
    checker: CheckerReport,
    breakers_closed: bool,
    /// The sample read through every replica.
    everywhere: crate::stress::replicas::CrossReplica,
    replicas: Vec<crate::stress::target::ReplicaReport>,
}

/// Phase `done`: the thresholds judged, the verdict and everything recorded.
fn results(
    ctx: &RunCtx,
    figures: BTreeMap<String, f64>,
    checker: CheckerReport,
    interrupted: bool,
) -> Results {
    let r = &ctx.recorder;
    let skipped = ctx
        .skipped_faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let thresholds = judge_with_skips(&ctx.config.thresholds, &figures, &skipped);
    let (verdict, exit_code) = if interrupted {
        ("interrupted", 2)
    } else if thresholds.iter().all(|t| t.pass) {
        ("pass", 0)
    } else {
        ("fail", 1)
    };
    Results {
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
        config: ctx.config.clone(),
        figures,
        thresholds,
        outcomes: r
            .counts()
            .iter()
            .map(|(k, v)| (k.name().to_string(), *v))
            .collect(),
        refusals: r.refusals(),
        latency: r.latency(),
        timeline: r.timeline(),
        recoveries: r.recoveries(),
        series: r.series(),
        checker,
        unexpected_samples: r.samples(),
        adversaries: ctx.adversary_reports(),
        fairness: r.fairness(),
        skipped_faults: skipped,
        replicas: Vec::new(),
        cross_replica_samples: {
            let during = ctx.cross_replica.lock().unwrap_or_else(|p| p.into_inner());
            during.samples.clone()
        },
    }
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
