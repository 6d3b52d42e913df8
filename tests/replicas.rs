//! Past one machine, on the real binary: servers sharing one PostgreSQL store, a server
//! whose database is down, and the production test against a server it did not start.
//!
//! The PostgreSQL tests use the server `scripts/cluster db-up` starts (installing
//! PostgreSQL with apt-get when run as root), or `MUSIC21_PROD_TEST_PG_URL`; they are
//! skipped, with a line saying why, only when neither can be had.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::time::sleep;

use common::server::*;

/// The database server's URL (its `music21` database), or `None` with the reason printed.
fn database_url() -> Option<String> {
    music21_prod::store::test_database::url()
}

/// An id no other test or run uses: the tests share the database, and clean up after
/// themselves.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn postgres_config(url: &str) -> String {
    config(
        "",
        "",
        &format!("[store]\nbackend = \"postgres\"\nurl = \"{url}\"\nop_timeout_ms = 3000\n"),
    )
}

#[tokio::test]
async fn two_servers_on_one_database_see_each_others_scores_at_once() {
    let Some(url) = database_url() else { return };
    let one = Server::start(&postgres_config(&url)).await;
    let two = Server::start(&postgres_config(&url)).await;
    let a = one.connect().await;
    let b = two.connect().await;
    let id = unique("two-servers");
    let stored = ok(&import_text(&a, &id, TUNE).await).clone();
    // Read through the other server at once: no cache, no replication lag.
    let info = call(&b, "score_info", json!({"score_id": id})).await;
    assert_eq!(ok(&info)["sha256"], stored["sha256"]);
    assert_eq!(ok(&info)["notes"], stored["notes"]);
    // Analysed on the other server (its worker parses what the first stored).
    let key = call(&b, "key_analysis", json!({"score_id": id})).await;
    assert!(
        ok(&key)["key"].is_object() || ok(&key)["key"].is_string(),
        "{key}"
    );
    // Deleted through the second, gone for the first.
    let deleted = call(&b, "delete_score", json!({"score_id": id})).await;
    assert!(deleted["isError"] != json!(true), "{deleted}");
    let gone = call(&a, "score_info", json!({"score_id": id})).await;
    assert!(error_text(&gone).starts_with("[not_found]"), "{gone}");
    let _ = a.cancel().await;
    let _ = b.cancel().await;
}

#[tokio::test]
async fn the_same_id_imported_through_two_servers_at_once_is_stored_once() {
    let Some(url) = database_url() else { return };
    let one = Server::start(&postgres_config(&url)).await;
    let two = Server::start(&postgres_config(&url)).await;
    let a = one.connect().await;
    let b = two.connect().await;
    let id = unique("race");
    let (ra, rb) = tokio::join!(import_text(&a, &id, TUNE), import_text(&b, &id, TUNE));
    let outcomes: Vec<bool> = [&ra, &rb]
        .iter()
        .map(|r| r["isError"] != json!(true))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|ok| **ok).count(),
        1,
        "exactly one import wins: {ra} {rb}"
    );
    let loser = if outcomes[0] { &rb } else { &ra };
    assert!(error_text(loser).starts_with("[already_exists]"), "{loser}");
    call(&a, "delete_score", json!({"score_id": id})).await;
    let _ = a.cancel().await;
    let _ = b.cancel().await;
}

#[tokio::test]
async fn an_unreachable_database_is_not_ready_and_a_retryable_refusal() {
    // A port nothing listens on: the database is "down" from the start.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let dead = format!("postgres://music21:x@127.0.0.1:{port}/music21");
    let server = Server::start_unready(&postgres_config(&dead)).await;
    // It starts and listens, and says it is not ready, naming the store.
    let deadline = Instant::now() + Duration::from_secs(10);
    let ready = loop {
        let r = server.get("/readyz").await;
        if r.status == 503 || Instant::now() > deadline {
            break r;
        }
        sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("store unavailable"), "{}", ready.body);
    assert!(
        !ready.body.contains(":x@"),
        "the password is not shown: {}",
        ready.body
    );
    let client = server.connect().await;
    let started = Instant::now();
    let refused = call(&client, "list_scores", json!({})).await;
    let text = error_text(&refused);
    assert!(text.starts_with("[storage_unavailable]"), "{text}");
    assert!(text.contains("retry after"), "a retry hint: {text}");
    // Refused quickly (a connect refused at once), not after a hang.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // Calls after it are refused at once by the store's breaker, without a worker.
    let again = call(&client, "key_analysis", json!({"score_id": "x"})).await;
    assert!(
        error_text(&again).starts_with("[storage_unavailable]"),
        "{again}"
    );
    // Liveness is not readiness: the process is up.
    assert_eq!(server.get("/livez").await.status, 200);
    let _ = client.cancel().await;
}

/// The production test pointed at a server it did not start: users, network faults and the
/// checker go through the URL; the process and database faults have no command, so they are
/// skipped and said so, and the server is left running.
#[test]
fn stress_tests_a_server_it_did_not_start_and_skips_what_it_cannot_inject() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(Server::start(&config("", "", "")));
    let pid = server.pid();
    let dir = tempfile::tempdir().expect("tempdir");
    let stress = dir.path().join("target.toml");
    std::fs::write(
        &stress,
        r#"
[stress]
duration = "12s"
users = 6
seed = 3
think_time_ms = 300
ramp_up = "1s"
heal = "1s"
call_timeout_ms = 15000

[stress.thresholds]
unexpected = "== 0"
lost = "== 0"
silently_corrupted = "== 0"
server_kills = ">= 1"
fault_kinds_injected = ">= 4"

[[stress.chaos]]
at = "2s"
duration = "2s"
action = { kind = "latency", ms = 30, jitter_ms = 10 }

[[stress.chaos]]
at = "5s"
action = { kind = "kill_server" }

[[stress.chaos]]
at = "6s"
action = { kind = "db_restart", mode = "fast" }

[[stress.chaos]]
at = "7s"
action = { kind = "corrupt_disk", records = 1 }
"#,
    )
    .expect("write the stress config");
    let out = dir.path().join("run");
    let run = Command::new(env!("CARGO_BIN_EXE_music21-prod"))
        .args(["stress", "--config"])
        .arg(&stress)
        .args(["--target", &server.url, "--out"])
        .arg(&out)
        .output()
        .expect("run stress");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "stress --target failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("skipped: kill_server: no [stress.target] kill_command"),
        "{stdout}"
    );
    assert!(stdout.contains("skipped: corrupt_disk"), "{stdout}");
    assert!(stdout.contains("skipped: db_restart"), "{stdout}");
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
    let results: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("results.json")).expect("results.json"),
    )
    .expect("results.json is JSON");
    assert_eq!(results["figures"]["fault_kinds_skipped"], json!(3.0));
    assert!(results["checker"]["acknowledged"].as_u64().unwrap_or(0) > 0);
    // Nothing of the harness's own: no server.toml, no data dir; the server was not killed.
    assert!(!out.join("server.toml").exists());
    assert!(!out.join("data").exists());
    assert_eq!(server.pid(), pid);
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok(),
        "the server under test is still running"
    );
}

#[test]
fn a_target_off_loopback_is_refused_unless_allowed() {
    let run = Command::new(env!("CARGO_BIN_EXE_music21-prod"))
        .args([
            "stress",
            "--config",
            "smoke",
            "--target",
            "http://192.0.2.7:8100/mcp",
        ])
        .output()
        .expect("run stress");
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("allowed_targets"), "{stderr}");
    assert!(stderr.contains("systems you own"), "{stderr}");
}
