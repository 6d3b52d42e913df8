//! The one test suite both engines pass: what the store promises, checked through `Store`
//! alone. Each engine's test module gives a `Harness` (how to open another handle on the
//! same data, how to corrupt a record behind the store's back) and calls `suite!`.

use std::collections::BTreeSet;

use super::{Eviction, NewScore, Store};
use crate::config::StoreConfig;
use crate::error::ErrorKind;

pub(crate) trait Harness {
    /// A new handle on this harness's data (as another process or replica would have).
    fn open(&self, limits: &StoreConfig) -> Store;
    /// Changes the stored bytes of `id` without the store knowing.
    fn corrupt(&self, id: &str);
}

/// Declares one `#[test]` per case of the suite, each on a fresh harness from `$make()`.
macro_rules! suite {
    ($make:ident) => {
        $crate::store::conformance::suite!(@cases $make,
            round_trip_and_duplicate_refused,
            least_recently_used_is_evicted_and_counted,
            byte_limit_evicts,
            the_eviction_log_is_read_after_what_was_seen,
            a_corrupted_record_is_refused_reported_and_cleared_by_replace,
            a_source_is_confirmed_until_replaced_found_corrupted_or_deleted,
            two_handles_see_each_others_commits,
            list_pages_by_id,
            deletes,
            concurrent_writers_keep_the_limits_and_evict_each_score_once,
            concurrent_replaces_and_deletes_leave_a_readable_record_or_none,
            stats_count_what_is_stored_after_every_kind_of_write,
        );
    };
    (@cases $make:ident, $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                if let Some(harness) = $make() {
                    $crate::store::conformance::$case(&harness);
                }
            }
        )+
    };
}
pub(crate) use suite;

fn limits(max_scores: u64, max_bytes: u64) -> StoreConfig {
    StoreConfig {
        max_scores,
        max_bytes,
        ..StoreConfig::default()
    }
}

fn put(store: &Store, id: &str, source: &[u8]) -> Vec<Eviction> {
    try_put(store, id, source, false).expect("insert")
}

fn try_put(
    store: &Store,
    id: &str,
    source: &[u8],
    replace: bool,
) -> Result<Vec<Eviction>, crate::error::ToolError> {
    let summary = serde_json::json!({"title": id});
    store
        .insert(
            &NewScore {
                info: Some("{\"notes\":3}"),
                ..NewScore::abc_text(id, source, &summary)
            },
            replace,
        )
        .map(|(_, evicted)| evicted)
}

pub(crate) fn round_trip_and_duplicate_refused(h: &impl Harness) {
    let store = h.open(&StoreConfig::default());
    put(&store, "a", b"X:1\nK:C\nC|");
    let got = store.get("a").expect("get");
    assert_eq!(got.source, b"X:1\nK:C\nC|");
    assert_eq!(got.meta.sha256, super::sha256_hex(b"X:1\nK:C\nC|"));
    assert_eq!(got.info.as_deref(), Some("{\"notes\":3}"));
    let dup = try_put(&store, "a", b"x", false).unwrap_err();
    assert_eq!(dup.kind, ErrorKind::AlreadyExists);
    assert!(dup.message.contains("replace"));
    try_put(&store, "a", b"X:1\nK:G\nG|", true).expect("replace");
    assert_eq!(store.get("a").expect("get").source, b"X:1\nK:G\nG|");
    assert_eq!(store.get("missing").unwrap_err().kind, ErrorKind::NotFound);
}

pub(crate) fn least_recently_used_is_evicted_and_counted(h: &impl Harness) {
    let store = h.open(&limits(2, 1 << 20));
    put(&store, "a", b"1");
    put(&store, "b", b"2");
    store.get("a").expect("get"); // a is now more recent than b
    let evicted = put(&store, "c", b"3");
    assert_eq!(evicted.len(), 1);
    assert_eq!(evicted[0].score_id, "b");
    assert_eq!(evicted[0].reason, "max_scores");
    assert!(store.exists("a").expect("exists") && store.exists("c").expect("exists"));
    let stats = store.stats().expect("stats");
    assert_eq!((stats.scores, stats.evictions_total), (2, 1));
    assert_eq!(
        store.recent_evictions(10).expect("evictions")[0].score_id,
        "b"
    );
}

pub(crate) fn the_eviction_log_is_read_after_what_was_seen(h: &impl Harness) {
    let store = h.open(&limits(1, 1 << 20));
    let other = h.open(&limits(1, 1 << 20));
    for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
        // Alternate handles: the log is the store's, whoever evicted.
        put(if i % 2 == 0 { &store } else { &other }, id, b"1");
    }
    let all = store.evictions_after(0, 100).expect("evictions");
    let ids: Vec<&str> = all.iter().map(|l| l.eviction.score_id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"], "oldest first");
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let after_first = other.evictions_after(all[0].seq, 1).expect("evictions");
    assert_eq!(after_first.len(), 1);
    assert_eq!(after_first[0].eviction.score_id, "b");
    assert!(store
        .evictions_after(all[2].seq, 100)
        .expect("evictions")
        .is_empty());
    let newest: Vec<String> = store
        .recent_evictions(2)
        .expect("evictions")
        .into_iter()
        .map(|e| e.score_id)
        .collect();
    assert_eq!(newest, ["c", "b"], "newest first");
}

pub(crate) fn byte_limit_evicts(h: &impl Harness) {
    let store = h.open(&limits(100, 10));
    put(&store, "a", b"123456");
    let evicted = put(&store, "b", b"123456");
    assert_eq!(evicted[0].reason, "max_bytes");
    assert!(!store.exists("a").expect("exists"));
    let too_big = try_put(&store, "c", b"12345678901", false).unwrap_err();
    assert_eq!(too_big.kind, ErrorKind::LimitExceeded);
}

/// Runs the scrub over the whole store, returning the ids it found corrupted.
fn scrub_all(store: &Store) -> Vec<String> {
    let mut cursor: Option<String> = None;
    let mut found = Vec::new();
    loop {
        let step = store.scrub_step(cursor.as_deref(), 1).expect("scrub");
        found.extend(step.found);
        cursor = step.cursor;
        if cursor.is_none() {
            return found;
        }
    }
}

pub(crate) fn a_source_is_confirmed_until_replaced_found_corrupted_or_deleted(h: &impl Harness) {
    let store = h.open(&StoreConfig::default());
    put(&store, "a", b"X:1\nK:C\nCDEF|");
    put(&store, "b", b"X:1\nK:C\nGABc|");
    let first = store.get("a").expect("read").meta.sha256;
    assert!(store.still_holds("a", &first).expect("asked"));
    assert!(!store.still_holds("a", "not-its-checksum").expect("asked"));
    assert!(!store.still_holds("nobody", &first).expect("asked"));
    // Another handle (another worker, another replica) replaces it.
    let other = h.open(&StoreConfig::default());
    try_put(&other, "a", b"X:1\nK:C\nc2B2|", true).expect("replace");
    assert!(!store.still_holds("a", &first).expect("asked"));
    let second = store.get("a").expect("read").meta.sha256;
    assert!(store.still_holds("a", &second).expect("asked"));
    // Listed as corrupted by the scrub: no longer confirmed, and the full read says why.
    h.corrupt("a");
    assert_eq!(scrub_all(&store), vec!["a".to_string()]);
    assert!(!store.still_holds("a", &second).expect("asked"));
    assert_eq!(store.get("a").unwrap_err().kind, ErrorKind::Corrupted);
    let b = store.get("b").expect("read").meta.sha256;
    assert!(store.delete("b").expect("delete"));
    assert!(!store.still_holds("b", &b).expect("asked"));
}

pub(crate) fn a_corrupted_record_is_refused_reported_and_cleared_by_replace(h: &impl Harness) {
    let store = h.open(&StoreConfig::default());
    put(&store, "a", b"X:1\nK:C\nCDEF|");
    put(&store, "b", b"X:1\nK:C\nGABc|");
    h.corrupt("a");
    // The scrub finds it before anyone reads it.
    assert_eq!(scrub_all(&store), vec!["a".to_string()]);
    assert_eq!(
        store.corrupted_records(10).expect("corrupted"),
        (1, vec!["a".into()])
    );
    assert_eq!(store.stats().expect("stats").corrupted, 1);
    let listed = store.list(10, None).expect("list");
    assert!(listed.iter().any(|m| m.score_id == "a" && m.corrupted));
    let err = store.get("a").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Corrupted);
    assert!(err.message.contains("'a' is corrupted"), "{}", err.message);
    assert!(store.get("b").is_ok(), "a neighbour is unaffected");
    try_put(&store, "a", b"X:1\nK:C\nCDEF|", true).expect("replace");
    assert!(store.get("a").is_ok());
    assert_eq!(store.corrupted_records(10).expect("corrupted").0, 0);
}

pub(crate) fn two_handles_see_each_others_commits(h: &impl Harness) {
    let one = h.open(&StoreConfig::default());
    let two = h.open(&StoreConfig::default());
    put(&one, "a", b"1");
    assert!(two.exists("a").expect("exists"));
    assert_eq!(two.get("a").expect("get").source, b"1");
    assert_eq!(two.delete_all().expect("delete all"), vec!["a".to_string()]);
    assert!(!one.exists("a").expect("exists"));
}

pub(crate) fn list_pages_by_id(h: &impl Harness) {
    let store = h.open(&StoreConfig::default());
    for id in ["b", "a", "d", "c", "B"] {
        put(&store, id, id.as_bytes());
    }
    let first = store.list(2, None).expect("list");
    let ids: Vec<_> = first.iter().map(|m| m.score_id.as_str()).collect();
    // Byte order, the same for both engines whatever the database's collation.
    assert_eq!(ids, ["B", "a"]);
    let rest = store.list(10, Some("a")).expect("list");
    let ids: Vec<_> = rest.iter().map(|m| m.score_id.as_str()).collect();
    assert_eq!(ids, ["b", "c", "d"]);
    assert_eq!(rest[0].summary["title"], "b");
}

pub(crate) fn deletes(h: &impl Harness) {
    let store = h.open(&StoreConfig::default());
    put(&store, "a", b"1");
    put(&store, "b", b"2");
    assert!(store.delete("a").expect("delete"));
    assert!(!store.delete("a").expect("delete again"));
    assert_eq!(
        store.delete_all().expect("delete all"),
        vec!["b".to_string()]
    );
    assert_eq!(store.stats().expect("stats").scores, 0);
}

/// Four writers (as four replicas' workers would be) insert at once into a store that
/// holds ten: the limit holds at the end, every eviction is of a distinct score, and every
/// score is either stored or was evicted, never both or neither.
pub(crate) fn concurrent_writers_keep_the_limits_and_evict_each_score_once(h: &impl Harness) {
    const WRITERS: usize = 4;
    const EACH: usize = 15;
    let handles: Vec<Store> = (0..WRITERS).map(|_| h.open(&limits(10, 1 << 20))).collect();
    std::thread::scope(|s| {
        for (w, store) in handles.iter().enumerate() {
            s.spawn(move || {
                for i in 0..EACH {
                    put(
                        store,
                        &format!("w{w}-{i:02}"),
                        format!("{w}/{i}").as_bytes(),
                    );
                }
            });
        }
    });
    let store = &handles[0];
    let stats = store.stats().expect("stats");
    assert_eq!(stats.scores, 10);
    let total = (WRITERS * EACH) as u64;
    assert_eq!(stats.evictions_total, total - 10);
    let evicted: Vec<String> = store
        .recent_evictions(1000)
        .expect("evictions")
        .into_iter()
        .map(|e| e.score_id)
        .collect();
    let distinct: BTreeSet<_> = evicted.iter().cloned().collect();
    assert_eq!(distinct.len(), evicted.len(), "a score was evicted twice");
    let stored: BTreeSet<String> = store
        .list(100, None)
        .expect("list")
        .into_iter()
        .map(|m| m.score_id)
        .collect();
    assert!(stored.is_disjoint(&distinct));
    assert_eq!(stored.len() + distinct.len(), WRITERS * EACH);
}

/// Replacing and deleting one id from several handles at once never leaves a half-written
/// record: at the end it is absent or it reads back whole.
pub(crate) fn concurrent_replaces_and_deletes_leave_a_readable_record_or_none(h: &impl Harness) {
    let handles: Vec<Store> = (0..3).map(|_| h.open(&StoreConfig::default())).collect();
    std::thread::scope(|s| {
        for (w, store) in handles.iter().enumerate() {
            s.spawn(move || {
                for i in 0..20 {
                    if (w + i) % 3 == 0 {
                        store.delete("shared").expect("delete");
                    } else {
                        try_put(store, "shared", format!("{w}:{i}").as_bytes(), true)
                            .expect("replace");
                    }
                }
            });
        }
    });
    match handles[0].get("shared") {
        Ok(score) => assert!(std::str::from_utf8(&score.source).is_ok_and(|s| s.contains(':'))),
        Err(e) => assert_eq!(e.kind, ErrorKind::NotFound, "{}", e.message),
    }
}

/// Inserts, a replacement by a larger source, evictions by both limits, a delete and a
/// delete of everything: after each, the store's count and bytes are those of what it lists.
pub(crate) fn stats_count_what_is_stored_after_every_kind_of_write(h: &impl Harness) {
    let store = h.open(&limits(3, 100));
    let agree = |step: &str| {
        let listed = store.list(100, None).expect("list");
        let stats = store.stats().expect("stats");
        let bytes: u64 = listed.iter().map(|m| m.bytes).sum();
        assert_eq!(
            (stats.scores, stats.bytes),
            (listed.len() as u64, bytes),
            "after {step}"
        );
    };
    put(&store, "a", &[b'a'; 10]);
    put(&store, "b", &[b'b'; 20]);
    agree("two inserts");
    try_put(&store, "a", &[b'A'; 30], true).expect("replace");
    agree("a replacement");
    put(&store, "c", &[b'c'; 5]);
    put(&store, "d", &[b'd'; 5]);
    agree("an eviction by count");
    put(&store, "e", &[b'e'; 90]);
    agree("evictions by bytes");
    assert!(store.delete("e").expect("delete"));
    agree("a delete");
    put(&store, "f", &[b'f'; 1]);
    store.delete_all().expect("delete all");
    agree("deleting everything");
}
