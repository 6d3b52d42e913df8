//! The set checker against a real server whose store the test tampers with behind its
//! back: a deleted record must be reported lost, a record with a flipped byte must be
//! reported (the server detects it), and a record rewritten consistently (new bytes, new
//! checksums) must be reported as silently corrupted.

mod common;

use std::time::Duration;

use common::ServerProc;
use music21_prod::stress::checker::{Acked, Ledger};
use music21_prod::stress::client::{McpClient, Reply};
use music21_prod::stress::evictions::EvictionWatch;
use serde_json::json;

const TUNE: &str = "X:1\nT:Checker\nM:4/4\nL:1/4\nK:C\nCDEF|GABc|]\n";

/// Imports the test tune under `id`, panicking if the server refuses; its answer.
async fn import(client: &McpClient, id: &str) -> serde_json::Value {
    let reply = client
        .call(
            "import_score",
            json!({"score_id": id, "source": TUNE.replace("Checker", id)}),
            Duration::from_secs(20),
        )
        .await;
    let Reply::Ok(v) = reply else {
        panic!("import {id}: {}", reply.describe())
    };
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checker_reports_what_was_done_behind_its_back() {
    let server = ServerProc::start("[server.workers]\ncount = 1\n");
    let client = McpClient::connect(&server.url, Duration::from_secs(10))
        .await
        .expect("session");
    let ledger = Ledger::default();
    for id in ["kept", "deleted", "flipped", "rewritten"] {
        let v = import(&client, id).await;
        ledger.ack(
            id,
            Acked {
                sha256: v["sha256"].as_str().unwrap().to_string(),
                notes: v["notes"].as_u64().unwrap(),
                parts: v["parts"].as_u64().unwrap(),
            },
        );
    }
    {
        let conn = rusqlite::Connection::open(server.store_path()).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.execute("DELETE FROM scores WHERE id = 'deleted'", [])
            .unwrap();
        let mut source: Vec<u8> = conn
            .query_row("SELECT source FROM scores WHERE id = 'flipped'", [], |r| {
                r.get(0)
            })
            .unwrap();
        source[20] ^= 0x02;
        conn.execute(
            "UPDATE scores SET source = ?1 WHERE id = 'flipped'",
            [source],
        )
        .unwrap();
        // A consistent rewrite: new content with matching checksums, as a buggy writer would leave it.
        let (format, summary): (String, String) = conn
            .query_row(
                "SELECT format, summary FROM scores WHERE id = 'rewritten'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let new_source = TUNE
            .replace("CDEF", "CDEE")
            .replace("Checker", "rewritten")
            .into_bytes();
        let sha = music21_prod::store::sha256_hex(&new_source);
        let checksum =
            music21_prod::store::record_checksum("rewritten", &format, &summary, &new_source);
        conn.execute(
            "UPDATE scores SET source = ?1, source_sha256 = ?2, checksum = ?3 WHERE id = 'rewritten'",
            rusqlite::params![new_source, sha, checksum],
        )
        .unwrap();
    }
    client.close().await;
    let report = ledger.check(&server.url, Duration::from_secs(20)).await;
    assert_eq!(report.acknowledged, 4);
    assert_eq!(report.ok, 1, "{report:?}");
    assert_eq!(report.lost, 1, "{report:?}");
    assert_eq!(report.silently_corrupted, 1, "{report:?}");
    assert_eq!(
        report.unreadable, 1,
        "the flipped record is reported, by the server's checksum: {report:?}"
    );
    let problems = report.problems.join("\n");
    assert!(
        problems.contains("deleted: acknowledged but not found"),
        "{problems}"
    );
    assert!(
        problems.contains("flipped: reported corrupted"),
        "{problems}"
    );
    assert!(
        problems.contains("rewritten: served with sha256"),
        "{problems}"
    );
}

/// Scores evicted by imports whose answers the harness never saw (another client's, or
/// one a fault cut off) are read from the store's eviction log and not counted as lost;
/// a score that is simply gone still is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evictions_the_harness_never_saw_are_not_losses() {
    let server = ServerProc::start("[server.workers]\ncount = 1\n[store]\nmax_scores = 3\n");
    let client = McpClient::connect(&server.url, Duration::from_secs(10))
        .await
        .expect("session");
    let ledger = Ledger::default();
    for id in ["a", "b", "c"] {
        ledger.ack(id, Acked::from_import(&import(&client, id).await, 8, 1));
    }
    // Someone else's imports evict a and b; their answers never reach the ledger.
    for id in ["x", "y"] {
        import(&client, id).await;
    }
    let before = ledger.check(&server.url, Duration::from_secs(20)).await;
    assert_eq!(before.lost, 2, "without the log they look lost: {before:?}");

    let mut watch = EvictionWatch::new(server.url.clone(), Duration::from_secs(10));
    watch.catch_up(&ledger).await.expect("the eviction log");
    let seen = ledger.eviction_cursor();
    assert!(seen >= 2, "cursor {seen}");
    // One more eviction: read from where the last read stopped.
    import(&client, "z").await;
    watch.catch_up(&ledger).await.expect("the eviction log");
    assert!(ledger.eviction_cursor() > seen);
    watch.close().await;
    client.close().await;
    let after = ledger.check(&server.url, Duration::from_secs(20)).await;
    // The first check read c, so z evicted x (not acknowledged here), and c is still there.
    assert_eq!((after.lost, after.ok), (0, 1), "{after:?}");
}
