//! `serve` end to end: the real binary on loopback sockets (and over stdio), each test
//! proving that one protection fires: deadlines, memory caps, worker crashes, the circuit
//! breaker, the rate limit, the body limit, file confinement, the token, the Host check, the
//! drain on SIGTERM, the supervisor and the session cap; plus the MCP surface and the
//! observability endpoints.
//!
//! Every server runs in its own temporary directory with its own config, on a port the kernel
//! picks, and is killed (SIGKILL) when its test ends, pass or fail; its workers die with it
//! (they are started with a parent-death signal). Every wait is bounded.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rmcp::transport::TokioChildProcess;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use tokio::time::{sleep, timeout};

use common::server::*;
use common::Env;
use music21_prod::metrics::parse_text;

// ------------------------------------------------------------------------------ 1. MCP over HTTP

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_http_lists_tools_calls_them_and_reports_errors() {
    let server = Server::start(&config("", "", "")).await;
    let client = server.connect().await;

    let tools = timeout(EXCHANGE, client.list_all_tools())
        .await
        .expect("tools/list in time")
        .expect("tools/list");
    let tools: Vec<Value> = tools
        .iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    for tool in &tools {
        assert!(tool["inputSchema"].is_object(), "no inputSchema: {tool}");
        assert!(tool["outputSchema"].is_object(), "no outputSchema: {tool}");
    }
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    for name in [
        "import_score",
        "key_analysis",
        "voice_leading_analysis",
        "health_check",
    ] {
        assert!(
            names.contains(&name),
            "{name} missing from tools/list: {names:?}"
        );
    }

    let imported = call(
        &client,
        "import_score",
        json!({"score_id": "c", "source": "builtin/chorale-g-major"}),
    )
    .await;
    assert_eq!(ok(&imported)["score_id"], "c", "{imported}");
    let key = call(&client, "key_analysis", json!({"score_id": "c"})).await;
    let key = &ok(&key)["key"];
    assert_eq!(key["name"], "G major", "{key}");
    assert_eq!(
        (key["tonic"].as_str(), key["mode"].as_str()),
        (Some("G"), Some("major"))
    );

    // A tool error is a result with isError, naming what was wrong.
    let missing = call(&client, "score_info", json!({"score_id": "no-such-score"})).await;
    let text = error_text(&missing);
    assert!(text.contains("no-such-score"), "{text}");
    assert!(text.starts_with("[not_found]"), "{text}");

    // An unknown tool is a protocol error, and the session survives it.
    let unknown = try_call(&client, "no_such_tool", json!({})).await;
    let message = unknown.expect_err("an unknown tool must be a protocol error");
    assert!(message.contains("no_such_tool"), "{message}");
    let health = call(&client, "health_check", json!({})).await;
    assert_eq!(ok(&health)["status"], "healthy", "{health}");
    let _ = client.cancel().await;
}

// ------------------------------------------------------------------------------ 2. MCP over stdio

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_over_stdio_lists_tools_and_calls_one() {
    let env = Env::with_config(&config("", "", ""));
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_music21-prod"));
    cmd.arg("serve")
        .arg("--stdio")
        .arg("--data-dir")
        .arg(env.data_dir())
        .arg("--config")
        .arg(env.config.as_ref().unwrap())
        .env_remove("MUSIC21_PROD_DATA_DIR")
        .env_remove("MUSIC21_PROD_TOKEN")
        .kill_on_drop(true);
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve --stdio");
    let pid = transport.id().expect("child pid");
    struct KillOnDrop(u32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = kill(Pid::from_raw(self.0 as i32), Signal::SIGKILL);
        }
    }
    let _guard = KillOnDrop(pid);

    let client = timeout(EXCHANGE, ().serve(transport))
        .await
        .expect("initialize in time")
        .expect("initialize over stdio");
    let tools = timeout(EXCHANGE, client.list_all_tools())
        .await
        .expect("tools/list in time")
        .expect("tools/list");
    assert!(
        tools.iter().any(|t| t.name == "import_score"),
        "tools/list lacks import_score"
    );
    assert!(
        tools.iter().all(|t| t.output_schema.is_some()),
        "every tool has an output schema"
    );
    let imported = import_text(&client, "tune", TUNE).await;
    assert_eq!(ok(&imported)["notes"], 9, "{imported}");
    let listed = call(&client, "list_scores", json!({})).await;
    assert_eq!(ok(&listed)["total"], 1, "{listed}");
    let _ = client.cancel().await;
    // Once the client closes, the server is gone (its stdin ends; the transport also kills it).
    assert!(
        eventually(Duration::from_secs(10), || !alive(pid)).await,
        "serve --stdio still running after its stdin closed"
    );
}

// ------------------------------------------------------------------------------ 3. deadline

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_kills_the_hanging_worker_and_the_next_call_answers_at_once() {
    let toml = config(
        "",
        "",
        &format!("[server.deadlines.tools]\nimport_score = 1.0\n\n{RELAXED_FIFTHS}"),
    );
    let server = Server::start(&toml).await;
    let client = server.connect().await;
    let before = worker_pids(&server.health().await);

    let started = Instant::now();
    let result = import_text(&client, "hang", &hanging_score()).await;
    let took = started.elapsed();
    let text = error_text(&result);
    assert!(text.starts_with("[timeout]"), "{text}");
    assert!(
        took >= Duration::from_millis(900),
        "answered before the deadline: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "the deadline did not cut the hang short: {took:?}"
    );

    // The work really stopped: the worker that ran it is gone.
    assert!(
        eventually(Duration::from_secs(5), || before.iter().any(|&p| !alive(p))).await,
        "no worker was killed: {before:?} all still alive"
    );
    let started = Instant::now();
    let listed = call(&client, "list_scores", json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "next call took {:?}",
        started.elapsed()
    );
    assert_eq!(
        ok(&listed)["total"],
        0,
        "the timed-out import stored nothing: {listed}"
    );
    let started = Instant::now();
    call(&client, "health_check", json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "health_check took {:?}",
        started.elapsed()
    );

    let m = server.metrics().await;
    assert_eq!(
        metric(&m, "music21_timeouts_total", &[("tool", "import_score")]),
        Some(1.0)
    );
    let kills = metric(&m, "music21_worker_kills_total", &[("reason", "timeout")]).unwrap_or(0.0);
    assert!(
        kills >= 1.0,
        "worker_kills_total{{reason=timeout}} = {kills}"
    );
    assert_eq!(
        metric(
            &m,
            "music21_requests_total",
            &[("tool", "import_score"), ("outcome", "timeout")]
        ),
        Some(1.0)
    );
    wait_pool_whole(&server, HEAL).await;
    let _ = client.cancel().await;
}

// ------------------------------------------------------------------------------ 4. memory cap

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_cap_stops_a_runaway_import_and_the_pool_heals() {
    let toml = config(
        "",
        "rss_limit_mb = 300\naddress_space_mb = 1024\n",
        "[limits]\nmax_abc_nesting = 100000000\nmax_compact_format_bytes = 100000000\n",
    );
    let server = Server::start(&toml).await;
    let client = server.connect().await;
    // Each `(` costs the ABC parser about 540 bytes: 3 MB of them want some 1.6 GB.
    let runaway = format!(
        "X:1\nT:Runaway\nM:4/4\nL:1/4\nK:C\n{}C|\n",
        "(".repeat(3_000_000)
    );
    let result = import_text(&client, "runaway", &runaway).await;
    let text = error_text(&result);
    assert!(
        text.starts_with("[memory_cap]")
            || (text.starts_with("[worker_crashed]") && text.contains("memory")),
        "{text}"
    );

    let listed = call(&client, "list_scores", json!({})).await;
    assert_eq!(ok(&listed)["total"], 0, "{listed}");
    let imported = import_text(&client, "tune", TUNE).await;
    assert_eq!(ok(&imported)["notes"], 9, "{imported}");
    let health = wait_pool_whole(&server, HEAL).await;
    assert_eq!(health["workers"]["size"], 2, "{health}");
    let m = server.metrics().await;
    assert!(
        metric_sum(&m, "music21_worker_restarts_total") >= 1.0,
        "no worker was replaced"
    );
    let _ = client.cancel().await;
}

// ------------------------------------------------------------------------------ 5. worker SIGKILL

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_idle_worker_is_replaced_and_no_call_fails() {
    let server = Server::start(&config("", "", "")).await;
    let client = server.connect().await;
    import_text(&client, "tune", TUNE).await;
    let restarts_before = metric_sum(&server.metrics().await, "music21_worker_restarts_total");
    let health = wait_pool_whole(&server, HEAL).await;
    let victim = health["workers"]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "idle")
        .and_then(|s| s["pid"].as_u64())
        .unwrap_or_else(|| panic!("no idle worker: {health}")) as u32;
    kill(Pid::from_raw(victim as i32), Signal::SIGKILL).expect("kill the worker");
    assert!(
        eventually(Duration::from_secs(5), || !alive(victim)).await,
        "worker survived SIGKILL"
    );

    for i in 0..6 {
        let result = call(&client, "key_analysis", json!({"score_id": "tune"})).await;
        assert_eq!(ok(&result)["key"]["name"], "G major", "call {i}: {result}");
    }
    let deadline = Instant::now() + HEAL;
    loop {
        let health = server.health().await;
        let restarts = metric_sum(&server.metrics().await, "music21_worker_restarts_total");
        let whole = health["workers"]["up"] == health["workers"]["size"];
        if whole && restarts > restarts_before {
            assert!(!worker_pids(&health).contains(&victim), "{health}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pool not healed: {health}; restarts {restarts_before} -> {restarts}"
        );
        sleep(Duration::from_millis(50)).await;
    }
    let _ = client.cancel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scores_calls_run_on_the_worker_that_parsed_it() {
    // No pings during the test: a worker being pinged is neither idle nor busy.
    let server = Server::start(&config("", "ping_secs = 60", "")).await;
    let client = server.connect().await;
    for id in ["one", "two"] {
        let imported = import_text(&client, id, TUNE).await;
        assert_eq!(ok(&imported)["notes"], 9, "{imported}");
        for tool in [
            "key_analysis",
            "chord_analysis",
            "score_info",
            "key_analysis",
        ] {
            ok(&call(&client, tool, json!({ "score_id": id })).await);
        }
    }
    let m = server.metrics().await;
    let kept = |outcome| {
        metric(&m, "music21_worker_affinity_total", &[("outcome", outcome)]).unwrap_or(0.0)
    };
    // score_info is answered by the server from the stored description: 3 calls per score
    // go to a worker, each while the worker holding the score is idle.
    assert_eq!(kept("kept"), 6.0, "calls run where the score is parsed");
    assert_eq!(kept("moved"), 0.0, "no call parsed a score again elsewhere");
    let _ = client.cancel().await;
}

// ------------------------------------------------------------------------------ 6. breaker

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_after_timeouts_then_half_opens_and_closes() {
    let toml = config(
        "",
        "",
        &format!(
            "[server.breaker]\nwindow_secs = 30.0\nmin_calls = 2\nfailure_ratio = 0.5\nbreak_secs = 1.0\nhalf_open_probes = 1\n\n\
             [server.deadlines.tools]\nimport_score = 1.0\n\n{RELAXED_FIFTHS}"
        ),
    );
    let server = Server::start(&toml).await;
    let client = server.connect().await;
    for i in 0..2 {
        let result = import_text(&client, &format!("hang-{i}"), &hanging_score()).await;
        let text = error_text(&result);
        assert!(text.starts_with("[timeout]"), "hang {i}: {text}");
    }
    let opened = Instant::now();

    // Both timeouts were this client's: its own breaker opened, the shared one did not.
    let started = Instant::now();
    let refused = call(
        &client,
        "import_score",
        json!({"score_id": "good", "source": "builtin/chorale-g-major"}),
    )
    .await;
    let text = error_text(&refused);
    assert!(text.starts_with("[breaker_open]"), "{text}");
    assert!(
        text.contains("retry after") && text.contains("other clients are not affected"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "refusal took {:?}",
        started.elapsed()
    );
    let m = server.metrics().await;
    assert_eq!(
        metric(&m, "music21_breaker_state", &[("tool", "import_score")]),
        Some(0.0),
        "the shared breaker stays closed"
    );
    assert_eq!(
        metric(
            &m,
            "music21_client_breaker_opened_total",
            &[("tool", "import_score")]
        ),
        Some(1.0)
    );
    // Other tools are not affected by import_score's breaker, and another client imports.
    let listed = call(&client, "list_scores", json!({})).await;
    assert_eq!(ok(&listed)["total"], 0, "{listed}");
    let other = connect_from(&server.url, "127.0.0.2").await;
    let theirs = import_text(&other, "theirs", TUNE).await;
    ok(&theirs);

    // After the break, a probe goes through; its success closes the breaker.
    let wait = Duration::from_millis(1200).saturating_sub(opened.elapsed());
    sleep(wait).await;
    let probe = call(
        &client,
        "import_score",
        json!({"score_id": "good", "source": "builtin/chorale-g-major"}),
    )
    .await;
    assert_eq!(ok(&probe)["score_id"], "good", "{probe}");
    let again = import_text(&client, "tune", TUNE).await;
    ok(&again);
    let _ = client.cancel().await;
    let _ = other.cancel().await;
}

// ------------------------------------------------------------------------------ 7. rate limit

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after() {
    let toml = config(
        "",
        "",
        "[server.rate_limit]\nclient_per_second = 1.0\nclient_burst = 2\n",
    );
    let server = Server::start(&toml).await;
    let mut statuses = Vec::new();
    let mut third = None;
    for _ in 0..3 {
        let r = post_mcp(server.addr, &[], &initialize_body(0)).await;
        statuses.push(r.status);
        third = Some(r);
    }
    let third = third.unwrap();
    assert!(
        statuses[..2].iter().all(|&s| s != 429),
        "burst of 2 refused: {statuses:?}"
    );
    assert_eq!(third.status, 429, "third quick request: {statuses:?}");
    let retry: u64 = third
        .header("Retry-After")
        .expect("Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry), "Retry-After: {retry}");
    // The probes are not rate limited.
    assert_eq!(server.get("/readyz").await.status, 200);
    // After the advised wait, the client is admitted again.
    sleep(Duration::from_secs(retry) + Duration::from_millis(100)).await;
    let later = post_mcp(server.addr, &[], &initialize_body(0)).await;
    assert_ne!(later.status, 429, "still limited after Retry-After");
    let m = server.metrics().await;
    assert!(metric(&m, "music21_rate_limited_total", &[]).unwrap_or(0.0) >= 1.0);
}

// ------------------------------------------------------------------------------ 8. body limit

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_refused_with_413() {
    let server = Server::start(&config("max_body_bytes = 2000", "", "")).await;
    let big = initialize_body(10_000);
    assert!(big.len() > 10_000);
    let r = post_mcp(server.addr, &[], &big).await;
    assert_eq!(r.status, 413, "{r:?}");
    let small = post_mcp(server.addr, &[], &initialize_body(0)).await;
    assert_eq!(
        small.status, 200,
        "a small initialize is accepted: {small:?}"
    );
}

// ------------------------------------------------------------------------------ 9. file confinement

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_imports_outside_the_allowed_directories_are_refused() {
    let dirs = tempfile::tempdir().unwrap();
    let allowed = dirs.path().join("allowed");
    let outside = dirs.path().join("outside");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(allowed.join("in.abc"), TUNE).unwrap();
    std::fs::write(outside.join("secret.abc"), TUNE).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.abc"), allowed.join("link.abc")).unwrap();
    let toml = config(
        "",
        "",
        &format!("[corpus]\nallowed_dirs = ['{}']\n", allowed.display()),
    );
    let server = Server::start(&toml).await;
    let client = server.connect().await;

    let inside = call(
        &client,
        "import_score",
        json!({"score_id": "in", "source": allowed.join("in.abc"), "source_type": "file"}),
    )
    .await;
    assert_eq!(ok(&inside)["notes"], 9, "{inside}");
    for source in [
        outside.join("secret.abc").display().to_string(),
        "../outside/secret.abc".to_string(),
        "link.abc".to_string(),
    ] {
        let result = call(
            &client,
            "import_score",
            json!({"score_id": "escaped", "source": source, "source_type": "file"}),
        )
        .await;
        let text = error_text(&result);
        assert_eq!(
            text,
            "[invalid_argument] source: not an allowed file (file imports read regular files under corpus.allowed_dirs)",
            "{source}"
        );
    }
    let listed = call(&client, "list_scores", json!({})).await;
    assert_eq!(ok(&listed)["total"], 1, "{listed}");
    let _ = client.cancel().await;
}

// ------------------------------------------------------------------------------ 10. token

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_is_required_except_for_the_probes() {
    let mut server = Server::start(&config("token = \"s3cret\"", "", "")).await;
    let none = post_mcp(server.addr, &[], &initialize_body(0)).await;
    assert_eq!(none.status, 401, "{none:?}");
    assert_eq!(none.header("WWW-Authenticate"), Some("Bearer"));
    let wrong = post_mcp(
        server.addr,
        &[("Authorization", "Bearer s3creT")],
        &initialize_body(0),
    )
    .await;
    assert_eq!(wrong.status, 401, "{wrong:?}");
    for path in ["/health", "/metrics"] {
        assert_eq!(
            server.get(path).await.status,
            401,
            "{path} without the token"
        );
    }
    for path in ["/livez", "/readyz"] {
        assert_eq!(server.get(path).await.status, 200, "{path} needs no token");
    }
    assert!(
        try_connect(&server.url, None).await.is_err(),
        "a client without the token got in"
    );
    assert!(
        try_connect(&server.url, Some("wrong")).await.is_err(),
        "a wrong token got in"
    );

    let client = connect(&server.url, Some("s3cret")).await;
    let health = call(&client, "health_check", json!({})).await;
    assert_eq!(ok(&health)["status"], "healthy", "{health}");
    server.token = Some("s3cret".into());
    assert_eq!(server.get("/health").await.status, 200);
    let _ = client.cancel().await;
}

// ------------------------------------------------------------------------------ 11. Host and Origin

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_host_and_origin_are_refused() {
    let server = Server::start(&config("", "", "")).await;
    let evil = raw(
        server.addr,
        "GET",
        "/health",
        &[("Host", "evil.example")],
        b"",
    )
    .await;
    assert_eq!(evil.status, 403, "{evil:?}");
    assert!(evil.body.contains("evil.example"), "{}", evil.body);
    let evil_port = format!("evil.example:{}", server.addr.port());
    let evil_mcp = post_mcp(
        server.addr,
        &[("Host", evil_port.as_str())],
        &initialize_body(0),
    )
    .await;
    assert_eq!(evil_mcp.status, 403, "{evil_mcp:?}");
    let origin = post_mcp(
        server.addr,
        &[("Origin", "http://evil.example")],
        &initialize_body(0),
    )
    .await;
    assert_eq!(origin.status, 403, "{origin:?}");
    // Loopback names pass.
    let local = format!("localhost:{}", server.addr.port());
    let fine = raw(
        server.addr,
        "GET",
        "/health",
        &[("Host", local.as_str())],
        b"",
    )
    .await;
    assert_eq!(fine.status, 200, "{fine:?}");
}

// ------------------------------------------------------------------------------ 12. SIGTERM drain

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_call_in_flight_then_exits_cleanly() {
    let toml = config("drain_secs = 10.0", "", RELAXED_FIFTHS);
    let mut server = Server::start(&toml).await;
    let workers = worker_pids(&server.health().await);
    assert_eq!(workers.len(), 2);
    let client = std::sync::Arc::new(server.connect().await);

    // About 1.5 s of parsing here (linear in the key signature), then a successful import.
    let slow = fifths_score(10_000_000);
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = import_text(&client, "slow", &slow).await;
            (result, started.elapsed())
        })
    };
    // The slow call is in flight and has reached a worker.
    wait_health(
        &server,
        Duration::from_secs(10),
        "the slow import on a worker",
        |h| {
            h["in_flight"] == 1
                && h["workers"]["slots"].as_array().is_some_and(|slots| {
                    slots
                        .iter()
                        .any(|s| s["state"] == "busy" && s["tool"] == "import_score")
                })
        },
    )
    .await;
    let sent = Instant::now();
    server.signal(Signal::SIGTERM);

    // Draining: not ready, and new calls are turned away while the old one finishes.
    let mut saw_draining = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !in_flight.is_finished() {
        if let Ok(r) = try_raw(server.addr, "GET", "/readyz", &[], b"", false).await {
            if r.status == 503 && r.body.contains("draining") {
                saw_draining = true;
                break;
            }
        }
        sleep(Duration::from_millis(10)).await;
    }
    assert!(saw_draining, "/readyz never said 503 draining");
    let refused = call(&client, "list_scores", json!({})).await;
    assert!(
        error_text(&refused).starts_with("[shutting_down]"),
        "{refused}"
    );

    let (result, took) = timeout(Duration::from_secs(15), in_flight)
        .await
        .expect("the in-flight call finished")
        .expect("the call task");
    assert_eq!(ok(&result)["score_id"], "slow", "{result}");
    assert!(
        took >= Duration::from_millis(300),
        "the call was too quick ({took:?}) to prove a drain"
    );
    drop(client);
    let status = server
        .wait_exit(Duration::from_secs(10).saturating_sub(sent.elapsed()))
        .unwrap_or_else(|| panic!("still running {:?} after SIGTERM", sent.elapsed()));
    assert!(status.success(), "exit status {status}");
    assert!(
        eventually(Duration::from_secs(3), || workers
            .iter()
            .all(|&p| !alive(p)))
        .await,
        "workers outlived the server: {workers:?}"
    );
}

// ------------------------------------------------------------------------------ 13. supervisor

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisor_restarts_a_killed_server_quickly_and_keeps_every_acknowledged_score() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let port_arg = port.to_string();
    let mut supervisor =
        Server::start_with(&config("", "", ""), &["--supervise", "--port", &port_arg]).await;
    let client = supervisor.connect().await;
    let ids: Vec<String> = (0..4).map(|i| format!("acked-{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let tune = TUNE.replace("Serve Test Tune", &format!("Tune {i}"));
        let result = import_text(&client, id, &tune).await;
        assert_eq!(ok(&result)["score_id"], id.as_str(), "{result}");
    }
    let _ = client.cancel().await;

    let children = children_of(supervisor.pid());
    assert_eq!(
        children.len(),
        1,
        "the supervisor runs one server: {children:?}"
    );
    let first = children[0];
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).expect("kill the server");
    let killed = Instant::now();

    let (client, listed) = loop {
        if let Ok(client) = try_connect(&supervisor.url, None).await {
            if let Ok(listed) = try_call(&client, "list_scores", json!({})).await {
                if listed["isError"] != json!(true) {
                    break (client, listed);
                }
            }
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "no successful call within 10 s of the kill"
        );
        sleep(Duration::from_millis(20)).await;
    };
    let recovery = killed.elapsed();
    assert!(
        recovery < Duration::from_secs(2),
        "recovery took {recovery:?}"
    );
    let stored: Vec<&str> = ok(&listed)["scores"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["score_id"].as_str())
        .collect();
    for id in &ids {
        assert!(stored.contains(&id.as_str()), "{id} lost: {stored:?}");
    }
    let _ = client.cancel().await;

    let second = children_of(supervisor.pid());
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second[0], first);
    supervisor.signal(Signal::SIGTERM);
    let status = supervisor
        .wait_exit(Duration::from_secs(15))
        .expect("the supervisor exits after SIGTERM");
    assert!(status.success(), "supervisor exit status {status}");
    assert!(!alive(second[0]), "the server outlived its supervisor");
}

// ------------------------------------------------------------------------------ 14. session cap

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_beyond_the_cap_close_the_oldest_idle_one_or_are_refused_with_503() {
    let server = Server::start(&config("max_sessions = 2", "", "")).await;
    let mut sessions = Vec::new();
    for i in 0..2 {
        let r = post_mcp(server.addr, &[], &initialize_body(0)).await;
        assert_eq!(r.status, 200, "initialize {i}: {r:?}");
        let id = r
            .header("mcp-session-id")
            .unwrap_or_else(|| panic!("no session id: {r:?}"));
        sessions.push(id.to_string());
    }
    // A third session: the least recently used idle one is closed to make room.
    let third = post_mcp(server.addr, &[], &initialize_body(0)).await;
    assert_eq!(third.status, 200, "{third:?}");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let notify = |id: String| {
        let body = initialized.clone();
        async move {
            post_mcp(
                server.addr,
                &[
                    ("mcp-session-id", id.as_str()),
                    ("MCP-Protocol-Version", "2025-06-18"),
                ],
                body.as_bytes(),
            )
            .await
        }
    };
    assert_eq!(
        notify(sessions[0].clone()).await.status,
        404,
        "the oldest session was closed"
    );
    assert!(
        notify(sessions[1].clone()).await.status < 300,
        "the newer one lives"
    );
    let health = server.health().await;
    assert_eq!(health["sessions"], 2, "{health}");
    let m = server.metrics().await;
    assert_eq!(
        metric(&m, "music21_sessions_evicted_total", &[("cap", "server")]),
        Some(1.0)
    );
    // When every session is busy, a new one is refused with 503 and Retry-After: two
    // sessions each with a slow call in flight.
    let busy = Server::start(&config(
        "max_sessions = 2",
        "",
        &format!("[server.deadlines.tools]\nimport_score = 20.0\n\n{RELAXED_FIFTHS}"),
    ))
    .await;
    let a = busy.connect().await;
    let b = connect_from(&busy.url, "127.0.0.3").await;
    let hang = hanging_score();
    let (ha, hb) = (hang.clone(), hang.clone());
    let _slow_a = tokio::spawn(async move {
        let _ = try_call(
            &a,
            "import_score",
            json!({"score_id": "x", "source": ha, "source_type": "text"}),
        )
        .await;
        a
    });
    let _slow_b = tokio::spawn(async move {
        let _ = try_call(
            &b,
            "import_score",
            json!({"score_id": "y", "source": hb, "source_type": "text"}),
        )
        .await;
        b
    });
    wait_health(&busy, HEAL, "two calls in flight", |h| {
        h["in_flight"].as_u64() == Some(2)
    })
    .await;
    let refused = post_mcp(busy.addr, &[], &initialize_body(0)).await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(refused.header("Retry-After").is_some(), "{refused:?}");
}

/// Over the soft limit: heavy tools are refused with a clear reason, light ones still answer,
/// and the workers are asked to drop their caches. A budget of 2000 MiB with a soft limit at
/// 1 % (20 MiB) and a hard one at 99 % puts any real server between the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_memory_limit_refuses_heavy_tools_and_shrinks_worker_caches() {
    let server = Server::start(&config(
        "",
        "",
        "[server.memory]\nbudget_mb = 2000\nsoft_percent = 1\nhard_percent = 99\nsample_ms = 50\n",
    ))
    .await;
    let client = server.connect().await;
    wait_memory_pressure(&server, "soft").await;
    let listed = call(&client, "list_scores", json!({})).await;
    ok(&listed);
    let refused = call(&client, "key_analysis", json!({"score_id": "anything"})).await;
    let text = error_text(&refused);
    assert!(
        text.starts_with("[memory_pressure]") && text.contains("soft memory limit"),
        "{text}"
    );
    let deadline = Instant::now() + HEAL;
    let m = loop {
        let m = server.metrics().await;
        if metric_sum(&m, "music21_cache_shrinks_total") >= 1.0 || Instant::now() >= deadline {
            break m;
        }
        sleep(Duration::from_millis(100)).await;
    };
    assert!(
        metric_sum(&m, "music21_cache_shrinks_total") >= 1.0,
        "no worker was asked to drop its cache"
    );
    assert!(
        metric(&m, "music21_shed_total", &[("reason", "memory_soft")]).is_some_and(|v| v >= 1.0)
    );
}

/// Over the hard limit: no new work at all, but health_check still answers so that an
/// operator can see why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_memory_limit_refuses_all_new_work_but_health() {
    let server = Server::start(&config(
        "",
        "",
        "[server.memory]\nbudget_mb = 1\nsample_ms = 50\n",
    ))
    .await;
    let client = server.connect().await;
    wait_memory_pressure(&server, "hard").await;
    let refused = call(&client, "list_scores", json!({})).await;
    let text = error_text(&refused);
    assert!(
        text.starts_with("[memory_pressure]") && text.contains("hard memory limit"),
        "{text}"
    );
    let health = call(&client, "health_check", json!({})).await;
    ok(&health);
    let m = server.metrics().await;
    assert!(
        metric(&m, "music21_shed_total", &[("reason", "memory_hard")]).is_some_and(|v| v >= 1.0)
    );
}

// ------------------------------------------------------------------------------ 15. observability

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_expose_the_documented_fields() {
    let server = Server::start(&config("", "", "")).await;
    let client = server.connect().await;
    import_text(&client, "tune", TUNE).await;
    call(&client, "key_analysis", json!({"score_id": "tune"})).await;
    call(&client, "list_scores", json!({})).await;
    wait_memory_pressure(&server, "normal").await;

    let text = server.get("/metrics").await;
    assert_eq!(text.status, 200);
    assert!(
        text.header("Content-Type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{:?}",
        text.headers
    );
    let m = parse_text(&text.body);
    for name in [
        "music21_requests_total",
        "music21_request_duration_seconds_bucket",
        "music21_in_flight",
        "music21_queue_depth",
        "music21_breaker_state",
        "music21_workers_up",
        "music21_memory_bytes",
        "music21_store_scores",
        "process_resident_memory_bytes",
    ] {
        assert!(m.iter().any(|(n, _, _)| n == name), "/metrics lacks {name}");
    }
    assert_eq!(
        metric(
            &m,
            "music21_requests_total",
            &[("tool", "key_analysis"), ("outcome", "ok")]
        ),
        Some(1.0)
    );
    assert_eq!(metric(&m, "music21_store_scores", &[]), Some(1.0));
    assert_eq!(metric(&m, "music21_workers_up", &[]), Some(2.0));
    assert_eq!(metric(&m, "music21_in_flight", &[]), Some(0.0));
    assert!(metric(&m, "process_resident_memory_bytes", &[]).unwrap_or(0.0) > 0.0);
    assert!(metric(&m, "music21_memory_bytes", &[("component", "workers")]).unwrap_or(0.0) > 0.0);

    let health = server.health().await;
    for key in [
        "status",
        "uptime_seconds",
        "version",
        "breakers",
        "workers",
        "memory",
        "store",
        "in_flight",
        "limits",
    ] {
        assert!(health.get(key).is_some(), "/health lacks {key}: {health}");
    }
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["workers"]["size"], 2);
    assert_eq!(health["store"]["scores"], 1, "{health}");
    assert!(
        health["breakers"]["import_score"]["state"] == "closed",
        "{health}"
    );
    assert!(health["uptime_seconds"].as_f64().unwrap_or(0.0) > 0.0);
    let _ = client.cancel().await;
}

// ------------------------------------------------------------------------------ 16. upgrade in place

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_are_replaced_from_the_running_build_after_its_file_is_removed() {
    // The server runs from a link to the binary that is then removed, as an upgrade in place
    // (or a rebuild) removes the file a running server was started from.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let program = dir.path().join("music21-prod");
    let original = env!("CARGO_BIN_EXE_music21-prod");
    if std::fs::hard_link(original, &program).is_err() {
        std::fs::copy(original, &program).expect("copy the binary");
    }
    let server = Server::start_program(&program, &config("", "", ""), &["--port", "0"]).await;
    std::fs::remove_file(&program).expect("remove the server's file");
    let client = server.connect().await;
    let health = wait_pool_whole(&server, HEAL).await;
    let victim = worker_pids(&health)[0];
    kill(Pid::from_raw(victim as i32), Signal::SIGKILL).expect("kill a worker");
    assert!(
        eventually(Duration::from_secs(5), || !alive(victim)).await,
        "worker survived SIGKILL"
    );
    for _ in 0..3 {
        let result = call(&client, "health_check", json!({})).await;
        ok(&result);
    }
    let deadline = Instant::now() + HEAL;
    loop {
        let health = server.health().await;
        if health["workers"]["up"] == 2 && !worker_pids(&health).contains(&victim) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed worker was not replaced: {health}"
        );
        sleep(Duration::from_millis(50)).await;
    }
    let imported = import_text(&client, "tune", TUNE).await;
    assert_eq!(
        ok(&imported)["notes"],
        9,
        "a replacement worker runs tools: {imported}"
    );
    let _ = client.cancel().await;
}
