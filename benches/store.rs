//! An import's store write when the store is full: `scripts/bench-store` or
//! `cargo bench --bench store`. Fills a SQLite store to its default `max_scores` (10,000)
//! with small scores, then times inserts that each evict one, and prints what the scan
//! that used to check the limits costs on the same store.

use std::time::{Duration, Instant};

use music21_prod::config::StoreConfig;
use music21_prod::store::{NewScore, Store};

const FILL: usize = 10_000;
const TIMED: usize = 300;

fn insert(store: &Store, id: &str, source: &[u8], summary: &serde_json::Value) {
    store
        .insert(&NewScore::abc_text(id, source, summary), false)
        .expect("insert");
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e3
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = StoreConfig::default();
    let store = Store::open(dir.path(), &limits).expect("open");
    let summary = serde_json::json!({"title": "bench"});
    // A chorale's MusicXML is 8-40 KB; 2 KB keeps the fill quick, and the scan's cost is
    // per row, not per byte.
    let source = vec![b'x'; 2048];
    let start = Instant::now();
    for i in 0..FILL {
        insert(&store, &format!("fill-{i}"), &source, &summary);
    }
    println!(
        "== store with {} scores (filled in {:.1} s)",
        store.stats().expect("stats").scores,
        start.elapsed().as_secs_f64()
    );
    let mut timed = Vec::with_capacity(TIMED);
    for i in 0..TIMED {
        let t = Instant::now();
        insert(&store, &format!("timed-{i}"), &source, &summary);
        timed.push(t.elapsed());
    }
    println!(
        "insert into a full store (evicts one), durable commit included: median {:.3} ms over {TIMED}",
        median(timed)
    );
    // What a worker pays for its store at start (workers restart after 1,000 tasks, and
    // whenever one is killed).
    let opens: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            drop(Store::open(dir.path(), &limits).expect("reopen"));
            t.elapsed()
        })
        .collect();
    println!("opening the full store: median {:.3} ms", median(opens));
    let conn = rusqlite::Connection::open(dir.path().join("scores.sqlite3")).expect("open");
    let scan: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            let _: (i64, i64) = conn
                .query_row(
                    "SELECT COUNT(*), COALESCE(SUM(length(source)), 0) FROM scores",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .expect("scan");
            t.elapsed()
        })
        .collect();
    println!(
        "the count an insert made before the totals (a scan of every row): median {:.3} ms",
        median(scan)
    );
}
