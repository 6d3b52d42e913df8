use super::*;
use crate::store::conformance::{self, Harness};
use crate::store::Store;
use std::sync::atomic::{AtomicU32, Ordering};

/// The database server the tests use (see `store::test_database`).
fn server_url() -> Option<String> {
    crate::store::test_database::url()
}

/// A database of its own for each test, dropped at the end.
struct Postgres {
    url: String,
    admin: String,
    name: String,
}

fn sql(url: &str, statement: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, driver) = tokio_postgres::connect(url, NoTls).await.expect("connect");
        tokio::spawn(driver);
        client.batch_execute(statement).await.expect(statement);
    });
}

fn harness() -> Option<Postgres> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let admin = server_url()?;
    let name = format!(
        "m21_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    sql(&admin, &format!("CREATE DATABASE {name}"));
    let mut url = url::Url::parse(&admin).expect("the server URL");
    url.set_path(&name);
    Some(Postgres {
        url: url.to_string(),
        admin,
        name,
    })
}

impl Drop for Postgres {
    fn drop(&mut self) {
        sql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

impl Harness for Postgres {
    fn open(&self, limits: &StoreConfig) -> Store {
        let limits = StoreConfig {
            backend: crate::config::StoreBackend::Postgres,
            url: self.url.clone(),
            ..limits.clone()
        };
        Store::open(std::path::Path::new("/nonexistent"), &limits).expect("open")
    }
    fn corrupt(&self, id: &str) {
        sql(
            &self.url,
            &format!("UPDATE scores SET source = source || '\\x00'::bytea WHERE id = '{id}'"),
        );
    }
}

conformance::suite!(harness);

#[test]
fn passwords_are_not_shown() {
    assert_eq!(
        redacted("postgres://m21:secret@127.0.0.1:5432/music21"),
        "postgres://m21:***@127.0.0.1:5432/music21"
    );
    assert!(!redacted("host=x password=secret").contains("secret"));
}

#[test]
fn a_missing_or_bad_url_says_how_to_write_one() {
    let mut limits = StoreConfig::default();
    let e = PgStore::open(&limits)
        .err()
        .map(|e| e.message)
        .unwrap_or_default();
    assert!(e.contains("store.url is empty"), "{e}");
    limits.url = "postgres://x@127.0.0.1:5432/db?sslmode=require".into();
    let opened = PgStore::open(&limits);
    if cfg!(feature = "postgres-tls") {
        // Connections are made on first use; the TLS connector is built here.
        assert!(opened.is_ok(), "{:?}", opened.err().map(|e| e.message));
    } else {
        let e = opened.err().map(|e| e.message).unwrap_or_default();
        assert!(
            e.contains("sslmode=require") && e.contains("postgres-tls"),
            "{e}"
        );
    }
}

#[test]
fn an_unreachable_database_is_refused_fast_and_retryable() {
    // A port nothing listens on: refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    let limits = StoreConfig {
        url: format!("postgres://nobody@127.0.0.1:{port}/none"),
        ..StoreConfig::default()
    };
    let store = PgStore::open(&limits).expect("a well-formed URL opens without connecting");
    let first = store.exists("x").unwrap_err();
    assert_eq!(first.kind, ErrorKind::StorageUnavailable);
    assert!(first.message.contains("Retry in"), "{}", first.message);
    // Within the backoff the refusal comes without another connect.
    let second = store.exists("x").unwrap_err();
    assert_eq!(second.kind, ErrorKind::StorageUnavailable);
    assert!(second.message.contains("moments ago"), "{}", second.message);
}

/// A database made by the build before the totals (schema version 1, scores in it) gets
/// them counted by migration 2 when a newer process connects.
#[test]
fn the_totals_migration_counts_the_scores_already_stored() {
    let Some(db) = harness() else {
        return;
    };
    let (_, _, first) = MIGRATIONS[0];
    sql(&db.url, first);
    sql(
        &db.url,
        "CREATE TABLE schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );
         INSERT INTO schema_migrations (version, name) VALUES (1, 'scores');
         INSERT INTO scores (id, format, origin, source, source_sha256, bytes, summary,
                             checksum, created_at, last_used_at, use_seq)
         SELECT 'old-' || n, 'abc', 'text', '\\x00', '', n * 10, '{}', '', 0, 0, n
           FROM generate_series(1, 3) AS n;",
    );
    let store = db.open(&StoreConfig::default());
    let stats = store.stats().expect("stats");
    assert_eq!((stats.scores, stats.bytes), (3, 60));
    let summary = serde_json::json!({});
    store
        .insert(&NewScore::abc_text("new", b"12345", &summary), false)
        .expect("insert");
    assert!(store.delete("old-1").expect("delete"));
    let stats = store.stats().expect("stats");
    assert_eq!((stats.scores, stats.bytes), (3, 55));
}
