//! `monitor::run_embedded`, the dashboard of `stress --monitor`, from outside the crate.
//!
//! Without a terminal it must refuse at once (not hang, not touch the terminal). With one it
//! is exercised by hand, in tmux:
//!
//! ```text
//! M21_MONITOR_SERVER=http://127.0.0.1:PORT cargo test --test monitor -- --ignored --nocapture
//! ```
//!
//! (the dashboard shows for a few seconds with an in-process stress status whose clock moves,
//! then closes; what the test printed meanwhile is replayed after it).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

fn status(tick: u64) -> Value {
    json!({
        "phase": "load",
        "elapsed_s": tick as f64,
        "duration_s": 30.0,
        "users": 4,
        "server": {"url": "http://127.0.0.1:1/mcp", "pid": 1, "restarts": 0},
        "outcomes": {"success": tick * 40, "expected_refusal": tick, "fault_induced": 0, "unexpected": 0},
        "refusals": {},
        "active_faults": if tick % 4 < 2 { vec!["latency"] } else { vec![] },
        "recent_events": [{"kind": "latency", "start_s": 1.0, "end_s": null, "detail": "in-process test"}],
        "recoveries": [],
        "series": [],
        "acknowledged": tick,
        "checker": null,
        "thresholds": {"unexpected": "== 0", "lost": "== 0"},
    })
}

#[tokio::test]
async fn embedded_refuses_without_a_terminal() {
    if std::io::stdout().is_terminal() {
        eprintln!("standard output is a terminal here: nothing to check");
        return;
    }
    let started = std::time::Instant::now();
    let result = music21_prod::monitor::run_embedded(
        "http://127.0.0.1:1".into(),
        Arc::new(|| serde_json::from_value(status(0)).expect("a status")),
        Duration::from_secs(1),
        CancellationToken::new(),
    )
    .await;
    assert!(result.is_err(), "no terminal: the dashboard must refuse");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a terminal and a running server (M21_MONITOR_SERVER)"]
async fn embedded_dashboard_in_a_terminal() {
    let server =
        std::env::var("M21_MONITOR_SERVER").unwrap_or_else(|_| "http://127.0.0.1:8021".into());
    let ticks = Arc::new(AtomicU64::new(0));
    let stop = CancellationToken::new();
    let noise = {
        let (ticks, stop) = (ticks.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let t = ticks.fetch_add(1, Ordering::SeqCst);
                println!("stdout line {t} printed while the dashboard was up");
                eprintln!("stderr line {t} printed while the dashboard was up");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let closer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(8)).await;
            stop.cancel();
        })
    };
    let source = ticks.clone();
    let result = music21_prod::monitor::run_embedded(
        server,
        Arc::new(move || {
            serde_json::from_value(status(source.load(Ordering::SeqCst))).expect("a status")
        }),
        Duration::from_secs(1),
        stop.clone(),
    )
    .await;
    stop.cancel();
    let _ = noise.await;
    closer.abort();
    println!("run_embedded returned {result:?}");
    assert!(result.is_ok(), "{result:?}");
}
