//! The parse admission on the real binary: two 50 MB imports at once, from two clients,
//! under a memory budget that holds one of them. One waits for the other (or is refused
//! with `memory_pressure`), no worker is killed, and the resident memory of the server and
//! its workers, sampled from /proc throughout, stays under the budget.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::server::{config, connect_from, metric, metric_sum, Server};
use music21_prod::stress::synth;
use rmcp::model::CallToolRequestParams;
use serde_json::{json, Value};

/// Budget of the test server: its hard limit (90%) holds one 50 MB parse (about 1.4 GiB
/// estimated) beside the server and an idle worker, never two.
const BUDGET_MB: u64 = 2560;

/// Resident memory of `pid` and all its descendants, in bytes.
fn tree_rss(pid: u32) -> u64 {
    let mut total = music21_prod::sysmem::rss_bytes(pid).unwrap_or(0);
    for child in children(pid) {
        total += tree_rss(child);
    }
    total
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_huge_imports_under_a_budget_for_one_take_turns() {
    let toml = config(
        "",
        "",
        &format!("[server.memory]\nbudget_mb = {BUDGET_MB}\nadmission_wait_secs = 300\n"),
    );
    let server = Server::start(&toml).await;
    let pid = server.pid();
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::SeqCst) {
                peak.fetch_max(tree_rss(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let import = |source: &'static str, seed: u64| {
        let url = server.url.clone();
        tokio::spawn(async move {
            let (text, spec) = synth::musicxml_of_size(50 * 1024 * 1024, seed);
            let client = connect_from(&url, source).await;
            let params = CallToolRequestParams::new("import_score").with_arguments(
                json!({"score_id": format!("huge-{seed}"), "source": text, "source_type": "text", "format": "musicxml"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            );
            let result = tokio::time::timeout(Duration::from_secs(600), client.call_tool(params))
                .await
                .expect("an answer within 10 minutes")
                .expect("no protocol error");
            (
                serde_json::to_value(result).expect("JSON"),
                synth::expected_notes(&spec),
            )
        })
    };
    let (a, b) = (import("127.0.0.1", 1), import("127.0.0.2", 2));
    let (a, b) = (a.await.expect("joins"), b.await.expect("joins"));
    sampling.store(false, Ordering::SeqCst);
    sampler.join().expect("sampler");

    let mut stored = 0;
    for (result, notes) in [&a, &b] {
        if result["isError"] == json!(true) {
            let text = result["content"][0]["text"].as_str().unwrap_or_default();
            assert!(
                text.contains("[memory_pressure]") || text.contains("memory"),
                "a refusal must say it is memory: {text}"
            );
        } else {
            let answer = &result["structuredContent"];
            assert_eq!(
                answer["notes"].as_u64(),
                Some(*notes as u64),
                "stored whole: {answer}"
            );
            stored += 1;
        }
    }
    assert!(
        stored >= 1,
        "at least one huge import is stored: {}\n{}",
        a.0,
        b.0
    );
    let metrics = server.metrics().await;
    let waits = metric(&metrics, "music21_parse_waits_total", &[]).unwrap_or(0.0);
    let refused = metric(
        &metrics,
        "music21_shed_total",
        &[("reason", "memory_reservation")],
    )
    .unwrap_or(0.0);
    assert!(
        waits + refused >= 1.0,
        "the second import waited or was refused (waits {waits}, refused {refused})"
    );
    assert_eq!(
        metric_sum(&metrics, "music21_worker_kills_total"),
        0.0,
        "no worker was killed"
    );
    let peak_mb = peak.load(Ordering::SeqCst) >> 20;
    assert!(
        peak_mb <= BUDGET_MB,
        "server and workers peaked at {peak_mb} MiB, over the {BUDGET_MB} MiB budget"
    );
    // Both are readable afterwards (the stored ones) and the server still answers.
    let client = server.connect().await;
    let listed = common::server::call(&client, "list_scores", json!({})).await;
    let listed: &Value = &listed["structuredContent"];
    assert_eq!(listed["scores"].as_array().map(Vec::len), Some(stored));
}
