//! One client cannot hurt another: each test plays a hostile, greedy or broken client
//! against the real binary on loopback, beside a well-behaved one, and checks that the
//! well-behaved one is served and that the hostile one got a clear refusal.
//!
//! Clients are told apart by address: every loopback address (127.0.0.0/8) is local, so a
//! test's "other client" simply connects from 127.0.0.2, 127.0.0.3, and so on.

mod common;

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep, timeout};

use common::server::*;

/// A MusicXML score of `measures` measures of eighth notes, about 1.3 kB a measure.
fn long_score(title: &str, measures: usize) -> String {
    let notes: String = ["C", "D", "E", "F", "G", "A", "B", "C"]
        .iter()
        .map(|step| {
            format!("<note><pitch><step>{step}</step><octave>4</octave></pitch><duration>1</duration><type>eighth</type></note>")
        })
        .collect();
    let body: String = (1..=measures)
        .map(|m| {
            let attributes = if m == 1 {
                "<attributes><divisions>2</divisions><key><fifths>0</fifths></key><time><beats>4</beats><beat-type>4</beat-type></time></attributes>"
            } else {
                ""
            };
            format!("<measure number=\"{m}\">{attributes}{notes}</measure>")
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><score-partwise version=\"3.1\"><work><work-title>{title}</work-title></work><part-list><score-part id=\"P1\"><part-name>Voice</part-name></score-part></part-list><part id=\"P1\">{body}</part></score-partwise>"
    )
}

// ------------------------------------------------------------------ 2. breakers and garbage

/// Out-of-range transpositions are refused before the engine (naming the argument and its
/// range), and one client's failures, however many, open no breaker anyone else sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clients_garbage_never_opens_a_breaker_others_see() {
    let toml = config(
        "",
        "",
        &format!(
            "[server.breaker]\nmin_calls = 2\nfailure_ratio = 0.5\nbreak_secs = 30.0\n\n\
             [server.deadlines.tools]\nimport_score = 1.0\n\n{RELAXED_FIFTHS}"
        ),
    );
    let server = Server::start(&toml).await;
    let hostile = connect_from(&server.url, "127.0.0.2").await;
    let victim = connect_from(&server.url, "127.0.0.3").await;
    ok(&import_text(&victim, "tune", TUNE).await);
    ok(&import_text(&hostile, "mine", TUNE).await);
    for (args, named) in [
        (json!({"semitones": i64::MIN}), "semitones"),
        (json!({"semitones": i64::MAX}), "semitones"),
        (json!({"interval": "P99999999999"}), "interval"),
        (json!({"interval": "-dddddd5"}), "interval"),
        (json!({"interval": "M3000"}), "interval"),
    ] {
        for _ in 0..3 {
            let mut call_args = args.clone();
            call_args["score_id"] = json!("mine");
            call_args["new_score_id"] = json!("out");
            let text = error_text(&call(&hostile, "transpose_score", call_args).await);
            assert!(
                text.starts_with("[invalid_argument]")
                    && text.contains(named)
                    && text.contains("four octaves"),
                "{args}: {text}"
            );
        }
    }
    // Failures that do speak of the tool's health (a parse that runs past its deadline),
    // all from the same client: its own breaker opens.
    for i in 0..3 {
        let _ = call(
            &hostile,
            "import_score",
            json!({"score_id": format!("hang-{i}"), "source": hanging_score(), "source_type": "text"}),
        )
        .await;
    }
    let own = error_text(
        &call(
            &hostile,
            "import_score",
            json!({"score_id": "x", "source": TUNE, "source_type": "text"}),
        )
        .await,
    );
    assert!(
        own.starts_with("[breaker_open]") && own.contains("other clients are not affected"),
        "{own}"
    );
    // Nobody else notices.
    let moved = call(
        &victim,
        "transpose_score",
        json!({"score_id": "tune", "interval": "P5", "new_score_id": "tune-up"}),
    )
    .await;
    assert_eq!(ok(&moved)["interval"], "P5", "{moved}");
    ok(&import_text(&victim, "tune2", TUNE).await);
    let m = server.metrics().await;
    for tool in ["transpose_score", "import_score"] {
        assert_eq!(
            metric(&m, "music21_breaker_state", &[("tool", tool)]),
            Some(0.0),
            "{tool}"
        );
        assert_eq!(
            metric(&m, "music21_breaker_opened_total", &[("tool", tool)]),
            None,
            "{tool}"
        );
    }
    let health = server.health().await;
    assert_eq!(
        health["client_breakers_open"],
        json!([["import_score", "127.0.0.2"]]),
        "{health}"
    );
}

// ------------------------------------------------------------------ 3. the worker pool

/// Two long imports from one client leave the second worker, and every light tool, to the
/// others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_take_the_whole_worker_pool() {
    let toml = config(
        "",
        "",
        &format!(
            "[server.admission]\nqueue_wait_ms = 2000\n\n\
             [server.deadlines.tools]\nimport_score = 8.0\n\n{RELAXED_FIFTHS}"
        ),
    );
    let server = Server::start(&toml).await;
    let greedy = connect_from(&server.url, "127.0.0.2").await;
    let other = connect_from(&server.url, "127.0.0.3").await;
    ok(&import_text(&other, "tune", TUNE).await);
    let hang = hanging_score();
    let greedy = std::sync::Arc::new(greedy);
    let mut slow = Vec::new();
    for i in 0..2 {
        let (client, hang) = (greedy.clone(), hang.clone());
        slow.push(tokio::spawn(async move {
            try_call(
                &client,
                "import_score",
                json!({"score_id": format!("slow-{i}"), "source": hang, "source_type": "text"}),
            )
            .await
        }));
    }
    wait_health(&server, HEAL, "one slow import running, one queued", |h| {
        h["in_flight"] == 2 && h["workers"]["waiting"] == 1
    })
    .await;
    for i in 0..8 {
        let started = Instant::now();
        let listed = call(&other, "list_scores", json!({})).await;
        assert_eq!(ok(&listed)["total"], 1, "try {i}: {listed}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "list_scores waited {:?}",
            started.elapsed()
        );
    }
    let info = call(&other, "score_info", json!({"score_id": "tune"})).await;
    assert_eq!(ok(&info)["notes"], 9, "{info}");
    // A heavy call of the other client runs on the worker the greedy one may not take.
    let key = call(&other, "key_analysis", json!({"score_id": "tune"})).await;
    ok(&key);
    let health = server.health().await;
    assert_eq!(health["workers"]["client_quota"], 1, "{health}");
    for t in slow {
        let _ = t.await;
    }
}

/// With one worker, a client's queued calls take turns with another client's: the other's
/// first call runs before the first client's later ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_queued_calls_do_not_all_run_before_another_clients_first() {
    let toml = config(
        "",
        "count = 1",
        &format!("[server.deadlines.tools]\nimport_score = 30.0\n\n{RELAXED_FIFTHS}"),
    );
    let server = Server::start(&toml).await;
    let busy = std::sync::Arc::new(connect_from(&server.url, "127.0.0.2").await);
    let other = connect_from(&server.url, "127.0.0.3").await;
    let done = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    // A parse of about half a second, four times over.
    let slowish = fifths_score(3_000_000);
    for i in 0..4 {
        let (client, score, done) = (busy.clone(), slowish.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let r = call(
                &client,
                "import_score",
                json!({"score_id": format!("b{i}"), "source": score, "source_type": "text"}),
            )
            .await;
            ok(&r);
            done.lock().unwrap().push(format!("busy-{i}"));
        }));
        sleep(Duration::from_millis(20)).await;
    }
    wait_health(&server, HEAL, "the busy client's calls queued", |h| {
        h["workers"]["waiting"].as_u64() >= Some(2)
    })
    .await;
    ok(&call(
        &other,
        "import_score",
        json!({"score_id": "o", "source": TUNE, "source_type": "text"}),
    )
    .await);
    done.lock().unwrap().push("other".into());
    for t in tasks {
        t.await.unwrap();
    }
    let order = done.lock().unwrap().clone();
    let other_at = order.iter().position(|s| s == "other").unwrap();
    assert!(
        other_at <= 2,
        "the other client waited behind the busy one's queue: {order:?}"
    );
}

/// Eight sessions of one client share that client's rate; another client is not limited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_counts_every_session_of_a_client() {
    let toml = config(
        "",
        "",
        "[server.rate_limit]\nclient_per_second = 2.0\nclient_burst = 10\nglobal_per_second = 1000.0\nglobal_burst = 1000\n",
    );
    let server = Server::start(&toml).await;
    let mut sessions = Vec::new();
    for _ in 0..8 {
        // Opening a session is three requests (initialize, initialized, the event stream);
        // past the client's burst some of them are refused.
        if let Ok(c) = try_connect_from(&server.url, "127.0.0.2").await {
            sessions.push(c);
        }
    }
    for client in &sessions {
        for _ in 0..3 {
            let _ = try_call(client, "list_scores", json!({})).await;
        }
    }
    // Eight sessions' worth of requests against one client's burst of 10.
    let m = server.metrics().await;
    let refused = metric(&m, "music21_rate_limited_total", &[]).unwrap_or(0.0);
    assert!(
        refused >= 10.0,
        "only {refused} refusals: the sessions were limited one by one"
    );
    let other = connect_from(&server.url, "127.0.0.3").await;
    ok(&call(&other, "list_scores", json!({})).await);
}

// ------------------------------------------------------------------ 4. connections

/// Thousands of connections and slowloris headers from one client: the extra connections
/// are closed at once, the slow ones at the header deadline, and the probes and another
/// client keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_floods_and_slowloris_leave_probes_and_others_served() {
    let toml = config(
        "",
        "",
        // The header deadline outlasts the flood's making (seconds on a busy machine), so no
        // kept connection times out and frees its place for a later one while it is made.
        "[server.connections]\nmax = 300\nper_client_max = 50\nprobe_reserve = 8\nheader_timeout_secs = 4.0\n",
    );
    let server = Server::start(&toml).await;
    let mut flood = Vec::new();
    for _ in 0..2000 {
        match tcp_from("127.0.0.5", server.addr).await {
            Ok(mut s) => {
                let _ = s.write_all(b"P").await;
                flood.push(s);
            }
            Err(e) => panic!("connect: {e}"),
        }
    }
    // Probes and another client are served while the flood holds its connections.
    let started = Instant::now();
    let live = raw(server.addr, "GET", "/livez", &[], b"").await;
    assert_eq!(live.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "/livez took {:?}",
        started.elapsed()
    );
    let other = connect_from(&server.url, "127.0.0.6").await;
    ok(&call(&other, "list_scores", json!({})).await);
    // Connections past the client's cap (and the small probe reserve) were closed at once;
    // the ones it kept are closed at the header deadline.
    sleep(Duration::from_millis(4500)).await;
    let mut closed = 0;
    for s in flood.iter_mut() {
        let mut byte = [0u8; 1];
        match timeout(Duration::from_millis(5), s.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            // A 408 or 503 answer counts as closed too: the server ended the exchange.
            Ok(Ok(_)) => closed += 1,
            Err(_) => {}
        }
    }
    assert_eq!(
        closed,
        flood.len(),
        "{} of {} flood connections still open",
        flood.len() - closed,
        flood.len()
    );
    let health = server.health().await;
    assert!(
        health["connections"]["open"].as_u64() < Some(10),
        "{health}"
    );
    let m = server.metrics().await;
    let limited = metric_sum(&m, "music21_connections_limited_total");
    assert!(limited >= 1900.0, "only {limited} connections were limited");
    drop(flood);
    // A slowloris that keeps sending one header byte a second is cut off as well.
    let mut slow = tcp_from("127.0.0.7", server.addr).await.expect("connect");
    let started = Instant::now();
    let mut cut = false;
    for b in b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa" {
        if slow.write_all(&[*b]).await.is_err() {
            cut = true;
            break;
        }
        let mut byte = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) = timeout(Duration::from_millis(300), slow.read(&mut byte)).await
        {
            cut = true;
            break;
        }
    }
    // Uncut, the loop sends its 70 bytes over about 21 s.
    assert!(
        cut && started.elapsed() < Duration::from_secs(15),
        "the slow headers were never cut off"
    );
}

// ------------------------------------------------------------------ 6. bodies

/// A body declaring more than the limit is refused unread; large bodies take turns; a body
/// that would pass the memory budget is refused before it is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_refused_before_they_are_read() {
    let server = Server::start(&config(
        "max_body_bytes = 10000000",
        "",
        "[server.bodies]\nclient_max_large = 1\nmax_large = 4\nidle_secs = 1.0\n",
    ))
    .await;
    // Declared over the limit: 413 at once, without a byte of the body.
    let started = Instant::now();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 10000001\r\n\r\n",
        server.addr
    );
    assert_eq!(raw_bytes(server.addr, head.as_bytes()).await, Some(413));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    // One large body at a time per client: while one is being sent, a second gets 503.
    let mut first = tcp_from("127.0.0.2", server.addr).await.expect("connect");
    let big_head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 5000000\r\n\r\n{{\"jsonrpc\":",
        server.addr
    );
    first.write_all(big_head.as_bytes()).await.unwrap();
    sleep(Duration::from_millis(200)).await;
    let mut second = tcp_from("127.0.0.2", server.addr).await.expect("connect");
    second.write_all(big_head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 2048];
    let n = timeout(EXCHANGE, second.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(
        text.starts_with("HTTP/1.1 503")
            && text.contains("retry-after")
            && text.contains("large bodies"),
        "{text}"
    );
    // Another client's large body is not held up by that.
    let mut third = tcp_from("127.0.0.3", server.addr).await.expect("connect");
    third.write_all(big_head.as_bytes()).await.unwrap();
    // The first body stalls: refused at the idle deadline (408), its place given back.
    let n = timeout(EXCHANGE, first.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    drop(third);
    let m = server.metrics().await;
    assert!(metric(
        &m,
        "music21_bodies_refused_total",
        &[("reason", "large_busy")]
    )
    .is_some_and(|v| v >= 1.0));
    assert!(metric(
        &m,
        "music21_bodies_refused_total",
        &[("reason", "too_large")]
    )
    .is_some_and(|v| v >= 1.0));

    // A budget the server already fills: a large body is refused before it is read.
    let tight = Server::start(&config(
        "",
        "",
        "[server.memory]\nbudget_mb = 40\nsoft_percent = 90\nhard_percent = 100\nsample_ms = 50\n",
    ))
    .await;
    wait_health(&tight, HEAL, "memory sampled", |h| {
        h["memory"]["total_bytes"].as_u64() > Some(0)
    })
    .await;
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 60000000\r\n\r\n",
        tight.addr
    );
    let mut s = tokio::net::TcpStream::connect(tight.addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let n = timeout(EXCHANGE, s.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(
        text.starts_with("HTTP/1.1 503")
            && text.contains("memory limit")
            && text.contains("retry-after"),
        "{text}"
    );
    // Small calls still get through.
    let client = tight.connect().await;
    ok(&call(&client, "health_check", json!({})).await);
}

// ------------------------------------------------------------------ 7. sessions

/// One client opening sessions without end keeps only its cap's worth (its oldest idle ones
/// are closed), and the server always has room for another client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_hold_every_session() {
    let server = Server::start(&config(
        "max_sessions = 10\nmax_sessions_per_client = 3",
        "",
        "",
    ))
    .await;
    let mut hog = Vec::new();
    for _ in 0..12 {
        hog.push(connect_from(&server.url, "127.0.0.2").await);
    }
    let other = connect_from(&server.url, "127.0.0.3").await;
    ok(&call(&other, "list_scores", json!({})).await);
    let health = server.health().await;
    assert_eq!(
        health["sessions_by_client"][0],
        json!({"client": "127.0.0.2", "sessions": 3}),
        "{health}"
    );
    // The newest of the hog's sessions still work.
    ok(&call(hog.last().unwrap(), "list_scores", json!({})).await);
    let m = server.metrics().await;
    assert_eq!(
        metric(&m, "music21_sessions_evicted_total", &[("cap", "client")]),
        Some(9.0)
    );
}

// ------------------------------------------------------------------ 8. duplicate ids

/// Two calls with one JSON-RPC id in one session: the second gets a clear error at once, the
/// first its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_already_in_flight_gets_an_error_not_silence() {
    let server = Server::start(&config(
        "",
        "",
        &format!("[server.deadlines.tools]\nimport_score = 2.0\n\n{RELAXED_FIFTHS}"),
    ))
    .await;
    let init = post_mcp(server.addr, &[], &initialize_body(0)).await;
    let session = init.header("mcp-session-id").expect("session").to_string();
    let headers = [
        ("mcp-session-id", session.as_str()),
        ("MCP-Protocol-Version", "2025-06-18"),
    ];
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    assert!(
        post_mcp(server.addr, &headers, initialized.as_bytes())
            .await
            .status
            < 300
    );
    let slow = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "import_score", "arguments": {"score_id": "h", "source": hanging_score(), "source_type": "text"}}}).to_string();
    let addr = server.addr;
    let h2 = headers.map(|(k, v)| (k.to_string(), v.to_string()));
    let first = tokio::spawn(async move {
        let hs: Vec<(&str, &str)> = h2.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut all = MCP_HEADERS.to_vec();
        all.extend(hs);
        try_raw(addr, "POST", "/mcp", &all, slow.as_bytes(), false).await
    });
    wait_health(&server, HEAL, "the first call in flight", |h| {
        h["in_flight"] == 1
    })
    .await;
    let same_id = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "list_scores", "arguments": {}}}).to_string();
    let second = post_mcp(server.addr, &headers, same_id.as_bytes()).await;
    assert_eq!(second.status, 409, "{second:?}");
    let mut all = MCP_HEADERS.to_vec();
    all.extend(headers);
    let body = try_raw(server.addr, "POST", "/mcp", &all, same_id.as_bytes(), false)
        .await
        .unwrap();
    assert!(
        body.body.contains("-32600") && body.body.contains("already in flight"),
        "{body:?}"
    );
    let first = first.await.unwrap().expect("first answer");
    assert!(
        first.body.contains("\"id\":7") && first.body.contains("[timeout]"),
        "{first:?}"
    );
}

// ------------------------------------------------------------------ 9. SIGTERM

/// On SIGTERM a running call finishes and is answered; a queued one is refused with
/// `[shutting_down]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_the_running_call_and_refuses_the_queued_one() {
    let toml = config(
        "drain_secs = 20.0",
        "count = 1",
        &format!("[server.deadlines.tools]\nimport_score = 30.0\n\n{RELAXED_FIFTHS}"),
    );
    let mut server = Server::start(&toml).await;
    let client = std::sync::Arc::new(server.connect().await);
    let slowish = fifths_score(10_000_000);
    let (c1, c2) = (client.clone(), client.clone());
    let (s1, s2) = (slowish.clone(), slowish);
    let running = tokio::spawn(async move {
        try_call(
            &c1,
            "import_score",
            json!({"score_id": "a", "source": s1, "source_type": "text"}),
        )
        .await
    });
    wait_health(&server, HEAL, "the first call running", |h| {
        h["in_flight"] == 1
    })
    .await;
    let queued = tokio::spawn(async move {
        try_call(
            &c2,
            "import_score",
            json!({"score_id": "b", "source": s2, "source_type": "text"}),
        )
        .await
    });
    wait_health(&server, HEAL, "the second call queued", |h| {
        h["workers"]["waiting"] == 1
    })
    .await;
    server.signal(Signal::SIGTERM);
    let queued = timeout(EXCHANGE, queued)
        .await
        .unwrap()
        .unwrap()
        .expect("an answer");
    let text = error_text(&queued);
    assert!(text.starts_with("[shutting_down]"), "{text}");
    let running = timeout(EXCHANGE, running)
        .await
        .unwrap()
        .unwrap()
        .expect("an answer");
    assert_eq!(ok(&running)["score_id"], "a", "{running}");
    let status = server.wait_exit(Duration::from_secs(20)).expect("exited");
    assert!(status.success(), "{status}");
}

/// A call still running at the drain deadline is stopped and answered with a JSON-RPC error
/// that says the server is shutting down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_call_past_the_drain_deadline_with_a_clear_error() {
    let toml = config(
        "drain_secs = 1.0",
        "",
        &format!("[server.deadlines.tools]\nimport_score = 60.0\n\n{RELAXED_FIFTHS}"),
    );
    let mut server = Server::start(&toml).await;
    let client = std::sync::Arc::new(server.connect().await);
    let c = client.clone();
    let running = tokio::spawn(async move {
        try_call(
            &c,
            "import_score",
            json!({"score_id": "h", "source": hanging_score(), "source_type": "text"}),
        )
        .await
    });
    wait_health(&server, HEAL, "the call running", |h| h["in_flight"] == 1).await;
    server.signal(Signal::SIGTERM);
    let answer = timeout(EXCHANGE, running).await.unwrap().unwrap();
    let error = answer.expect_err("a JSON-RPC error, not a tool result");
    assert!(
        error.contains("shutting down") && error.contains("drain deadline"),
        "{error}"
    );
    let status = server.wait_exit(Duration::from_secs(20)).expect("exited");
    assert!(status.success(), "{status}");
}

// ------------------------------------------------------------------ 10. a full disk

/// On a full disk imports fail cleanly, readiness and health say why, deletes still work
/// (and give the space back), and imports work again afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_reported_and_deletes_still_free_space() {
    let toml = config(
        "",
        "",
        "[store]\nreserve_mb = 2\nmin_free_mb = 1\nscrub_interval_secs = 0.0\n",
    );
    let Some(server) = Server::start_on_small_disk(&toml, 24).await else {
        eprintln!("skipped: this machine cannot make a user and mount namespace (unshare -Urm), so no small disk can be filled");
        return;
    };
    let client = server.connect().await;
    let score = long_score("filler", 800);
    let mut stored = 0;
    let mut failure = None;
    for i in 0..40 {
        let r = call(
            &client,
            "import_score",
            json!({"score_id": format!("fill-{i}"), "source": score, "source_type": "text"}),
        )
        .await;
        if r["isError"] == json!(true) {
            failure = Some(error_text(&r));
            break;
        }
        stored += 1;
    }
    let failure = failure.expect("the disk never filled");
    assert!(stored >= 2, "only {stored} imports fitted");
    assert!(
        failure.starts_with("[storage_error]") && failure.contains("full"),
        "{failure}"
    );
    let ready = raw(server.addr, "GET", "/readyz", &[], b"").await;
    assert_eq!(ready.status, 503, "{ready:?}");
    assert!(ready.body.contains("store writes are failing"), "{ready:?}");
    let health = server.health().await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["store"]["writable"], false, "{health}");
    // Reads still work on a full disk.
    ok(&call(&client, "score_info", json!({"score_id": "fill-0"})).await);
    let deleted = call(&client, "delete_score", json!({"score_id": "*"})).await;
    assert_eq!(ok(&deleted)["count"], stored, "{deleted}");
    ok(&call(
        &client,
        "import_score",
        json!({"score_id": "again", "source": score, "source_type": "text"}),
    )
    .await);
    let ready = raw(server.addr, "GET", "/readyz", &[], b"").await;
    assert_eq!(ready.status, 200, "{ready:?}");
}

// ------------------------------------------------------------------ 11. export bombs

/// A 50-byte ABC of long notes in a tiny meter would export to tens of megabytes; it is
/// refused before anything is written, naming the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_bomb_is_refused_naming_the_key() {
    let server = Server::start(&config("", "", "")).await;
    let client = server.connect().await;
    let bomb = "X:1\nM:1/16\nL:1/1\nK:C\nc999 d999 e999|\n";
    let imported = import_text(&client, "bomb", bomb).await;
    ok(&imported);
    for format in ["musicxml", "mxl", "abc", "lilypond"] {
        let started = Instant::now();
        let r = call(
            &client,
            "export_score",
            json!({"score_id": "bomb", "format": format}),
        )
        .await;
        let text = error_text(&r);
        assert!(
            text.starts_with("[limit_exceeded]") && text.contains("limits.max_export_ratio"),
            "{format}: {text}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{format} took {:?}",
            started.elapsed()
        );
    }
    // MIDI knows no measures: three long notes are three notes.
    let midi = call(
        &client,
        "export_score",
        json!({"score_id": "bomb", "format": "midi"}),
    )
    .await;
    assert!(ok(&midi)["bytes"].as_u64() < Some(1000), "{midi}");
    let moved = call(
        &client,
        "transpose_score",
        json!({"score_id": "bomb", "interval": "P5", "new_score_id": "b2"}),
    )
    .await;
    assert!(
        error_text(&moved).starts_with("[limit_exceeded]"),
        "{moved}"
    );
    // An ordinary score still exports.
    ok(&import_text(&client, "tune", TUNE).await);
    ok(&call(
        &client,
        "export_score",
        json!({"score_id": "tune", "format": "musicxml"}),
    )
    .await);
}

// ------------------------------------------------------------------ 12. ids and logs

/// Newlines, NULs and escape sequences in client strings are refused where they are ids and
/// escaped wherever they are logged: no client can forge a log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_cannot_forge_log_lines() {
    let server = Server::start(&config("", "", "")).await;
    let client = server.connect().await;
    let forged = "x\n2026-01-01T00:00:00Z  INFO FORGED tool call outcome=ok\0\u{1b}[2J";
    for (tool, args) in [
        ("score_info", json!({"score_id": forged})),
        (
            "import_score",
            json!({"score_id": forged, "source": TUNE, "source_type": "text"}),
        ),
        ("delete_score", json!({"score_id": forged})),
        ("export_score", json!({"score_id": "a", "format": forged})),
        (
            "transpose_score",
            json!({"score_id": "a", "interval": forged, "new_score_id": "b"}),
        ),
        ("list_scores", json!({"cursor": forged, "bogus\nFORGED": 1})),
    ] {
        let r = call(&client, tool, args).await;
        let text = error_text(&r);
        assert!(
            text.starts_with("[invalid_argument]") || text.starts_with("[not_found]"),
            "{tool}: {text}"
        );
        assert!(
            !text.contains('\n') && !text.contains('\0') && !text.contains('\u{1b}'),
            "{tool}: {text:?}"
        );
    }
    sleep(Duration::from_millis(200)).await;
    let log = server.log();
    assert!(log.contains("FORGED"), "the calls were logged");
    for line in log.lines() {
        // The forged text may appear only inside the real line that quotes it, escaped.
        assert!(
            !line.starts_with("2026-01-01T00:00:00Z"),
            "forged line: {line:?}"
        );
        if line.contains("FORGED") {
            assert!(line.contains("\\n"), "unescaped: {line:?}");
        }
        assert!(
            !line.contains('\u{1b}') && !line.contains('\0'),
            "raw control character: {line:?}"
        );
    }
}

// ------------------------------------------------------------------ 13. Host, Origin, token

/// Origins are compared as URLs; broken or doubled headers and requests for other hosts are
/// refused; a non-loopback bind needs a token with 32 bytes of entropy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_host_and_token_tricks_are_refused() {
    let server = Server::start(&config("", "", "")).await;
    let init = initialize_body(0);
    for origin in [
        "http://localhost:80@evil.example",
        "http://localhost@evil.example",
        "null",
        "http://localhost.evil.example",
    ] {
        let r = post_mcp(server.addr, &[("Origin", origin)], &init).await;
        assert_eq!(r.status, 403, "{origin}: {r:?}");
    }
    assert_eq!(
        post_mcp(server.addr, &[("Origin", "http://localhost:3000")], &init)
            .await
            .status,
        200
    );
    let a = server.addr;
    let with = |extra: &str, target: &str| {
        let body = String::from_utf8(init.clone()).unwrap();
        format!(
            "POST {target} HTTP/1.1\r\nHost: {a}\r\n{extra}Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let mut bad_origin = with("Origin: http://localhost", "/mcp");
    let at = bad_origin
        .windows(16)
        .position(|w| w == b"http://localhost")
        .unwrap();
    bad_origin[at + 7] = 0xff;
    assert_eq!(
        raw_bytes(a, &bad_origin).await,
        Some(403),
        "a non-UTF-8 Origin"
    );
    assert_eq!(
        raw_bytes(a, &with("Host: evil.example\r\n", "/mcp")).await,
        Some(400),
        "two Host headers"
    );
    assert_eq!(
        raw_bytes(a, &with("", "http://evil.example/mcp")).await,
        Some(400),
        "absolute-form for another host"
    );
    assert_eq!(
        raw_bytes(a, &with("", &format!("http://{a}/mcp"))).await,
        Some(200),
        "absolute-form for this host"
    );

    for token in [
        "x",
        "secret",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        let out = common::bin()
            .args(["serve", "--bind", "0.0.0.0", "--port", "0", "--data-dir"])
            .arg(server.env.dir.path().join("other"))
            .env("MUSIC21_PROD_TOKEN", token)
            .output()
            .expect("run serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{token}: started");
        assert!(
            stderr.contains("32 bytes of entropy") && stderr.contains("--new-token"),
            "{token}: {stderr}"
        );
    }
    let made = common::bin()
        .args(["setup", "--new-token"])
        .output()
        .unwrap();
    let token = String::from_utf8(made.stdout).unwrap();
    assert_eq!(token.trim().len(), 64, "{token}");
    assert!(music21_prod::config::token_entropy_bits(token.trim()) >= 256.0);
}

// ------------------------------------------------------------------ 14. the scrub

/// A record corrupted on disk is found by the background scrub and shown in /health,
/// /metrics and list_scores before anyone reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrub_reports_a_corrupted_record_before_anyone_reads_it() {
    let server = Server::start(&config("", "", "[store]\nscrub_interval_secs = 0.2\n")).await;
    let client = server.connect().await;
    for id in ["a", "b"] {
        ok(&import_text(&client, id, TUNE).await);
    }
    assert_eq!(server.health().await["status"], "healthy");
    {
        let conn =
            rusqlite::Connection::open(server.env.data_dir().join("scores.sqlite3")).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let source: Vec<u8> = conn
            .query_row("SELECT source FROM scores WHERE id = 'b'", [], |r| r.get(0))
            .unwrap();
        let mut flipped = source.clone();
        flipped[20] ^= 0x01;
        conn.execute("UPDATE scores SET source = ?1 WHERE id = 'b'", [flipped])
            .unwrap();
    }
    let health = wait_health(&server, HEAL, "the scrub found it", |h| {
        h["store"]["corrupted"] == 1
    })
    .await;
    assert_eq!(health["store"]["corrupted_ids"], json!(["b"]), "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["problems"].to_string().contains("checksum"),
        "{health}"
    );
    let m = server.metrics().await;
    assert_eq!(metric(&m, "music21_store_corrupted", &[]), Some(1.0));
    let listed = call(&client, "list_scores", json!({})).await;
    let scores = ok(&listed)["scores"].as_array().unwrap().clone();
    let flag = |id: &str| {
        scores
            .iter()
            .find(|s| s["score_id"] == id)
            .map(|s| s["corrupted"].clone())
    };
    assert_eq!(flag("b"), Some(Value::Bool(true)), "{listed}");
    assert_eq!(flag("a"), Some(Value::Null), "{listed}");
    assert_eq!(ok(&listed)["corrupted_total"], 1, "{listed}");
    // Deleting it clears the report.
    ok(&call(&client, "delete_score", json!({"score_id": "b"})).await);
    wait_health(&server, HEAL, "the report cleared", |h| {
        h["store"]["corrupted"] == 0
    })
    .await;
}
