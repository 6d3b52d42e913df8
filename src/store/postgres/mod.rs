//! The PostgreSQL engine: one database shared by every replica of the server.
//!
//! Each `PgStore` (the server, each worker, the scrub) holds one connection, driven by a
//! small runtime of its own, so that the store stays a plain blocking interface like
//! SQLite's: callers are worker threads and `spawn_blocking` tasks. Every statement runs
//! under `store.op_timeout_ms`: a database that stops answering (paused, partitioned)
//! costs a caller that long at most, never a hung worker.
//!
//! **An unreachable database is a refusal, not an error.** A lost connection, a refused
//! connect or a timeout is `[storage_unavailable]` with a retry hint, the connection is
//! dropped, and for a short, growing while (`CONNECT_BACKOFF`) calls are refused at once
//! instead of each waiting for its own connect to fail: a dead database does not pile up
//! calls. The first call after that tries again. A statement that fails before anything
//! was committed on a connection found dead is retried once on a fresh one.
//!
//! **Replicas write safely together.** An insert takes a transaction-scoped advisory lock
//! (`INSERT_LOCK`), so inserts and their evictions are serialised across replicas as
//! SQLite serialises writers: the limits hold for the whole cluster, and no score is evicted
//! twice. The use counter is a sequence, shared by all. Deletes take the same lock: the
//! store's totals (`score_totals`, kept by a trigger) are one row that every insert,
//! replace and delete updates, so every such transaction must lock it after the insert
//! lock, never in the opposite order to another's.
//!
//! **TLS** only in builds with the `postgres-tls` feature (native-tls, the system's
//! OpenSSL and roots); without it `sslmode=require` is refused, saying so.
//!
//! **Schema.** `migrations/postgres/NNNN_name.sql`, compiled in, applied in order at the
//! first connection of each process under a session advisory lock (`MIGRATION_LOCK`), and
//! recorded in `schema_migrations`. A process never runs against a schema newer than it
//! knows.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

use super::{
    already_exists, corrupted, eviction_reason, no_such_score, now_secs, scrub, Backend, Eviction,
    EvictionLog, LoggedEviction, NewScore, PreparedRecord, RawRecord, ScoreMeta, ScrubStep,
    StoreStats, StoredScore, EVICTION_LOG_KEPT,
};
use crate::config::StoreConfig;
use crate::error::{ErrorKind, ToolError, ToolResult};

/// The schema, in the order it is applied. A new migration is a new file and a new line.
const MIGRATIONS: [(i32, &str, &str); 2] = [
    (
        1,
        "scores",
        include_str!("../../../migrations/postgres/0001_scores.sql"),
    ),
    (
        2,
        "totals",
        include_str!("../../../migrations/postgres/0002_totals.sql"),
    ),
];

/// Advisory lock keys (any 64-bit numbers no one else uses; these spell "m21p" and a tag).
const MIGRATION_LOCK: i64 = 0x6d32_3170_0000_0001;
const INSERT_LOCK: i64 = 0x6d32_3170_0000_0002;

/// How long calls are refused at once after a failed connect: doubling from the first
/// value to the second while the database stays unreachable.
const CONNECT_BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(2));

type PgResult<T> = Result<T, Failure>;

/// Why a statement failed, as the callers need to know it.
#[derive(Debug)]
enum Failure {
    /// The database could not be reached or the connection broke: retryable.
    Unavailable(String),
    /// The database answered with an error.
    Database(tokio_postgres::Error),
    /// A refusal decided here (a duplicate id, a corrupted record, ...).
    Tool(ToolError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        if is_connection_failure(&e) {
            Failure::Unavailable(describe(&e))
        } else {
            Failure::Database(e)
        }
    }
}

impl From<ToolError> for Failure {
    fn from(e: ToolError) -> Self {
        Failure::Tool(e)
    }
}

/// What went wrong, with the server's SQL state and message when it sent one (the driver's
/// own text for those is just "db error").
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({}): {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Whether `e` means the connection is gone or the server is going away, rather than
/// that a statement was wrong.
fn is_connection_failure(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // Class 08 (connection exception), and the server shutting down or starting up.
        Some(code) => {
            code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::IDLE_SESSION_TIMEOUT
        }
        // No SQL state: an I/O error, a refused connect, a broken protocol stream.
        None => true,
    }
}

/// The connection and what the last connect attempts taught.
#[derive(Default)]
struct Connection {
    client: Option<Client>,
    /// Refuse at once until then: the last connect failed.
    retry_at: Option<Instant>,
    failures: u32,
    migrated: bool,
}

/// Runs `$body` (an expression using the live client `$client`) on the store's connection,
/// connecting and migrating first when needed, within the operation timeout. When the body
/// fails because a connection it did not open itself had died (the database restarted, or
/// cut it, while it sat idle), it runs once more on a fresh connection if `$retry` (read
/// after the failure) says that is safe: nothing was committed that a repeat could double.
/// A macro rather than a method taking a closure: the body borrows the caller's arguments,
/// and a closure returning a future that borrows both them and the client has no
/// expressible type.
macro_rules! on_database {
    ($store:expr, $what:expr, retry_if_stale = $retry:expr, |$client:ident| $body:expr) => {{
        let store: &PgStore = $store;
        let mut guard = store.lock();
        let connection: &mut Connection = &mut guard;
        let mut answer = None;
        for attempt in 1..=2 {
            let mut fresh = false;
            let result = store.block_on(async {
                let ($client, opened) = store.connected(&mut *connection).await?;
                fresh = opened;
                store.within_timeout(async { $body }).await
            });
            let may_retry = attempt == 1 && !fresh && ($retry);
            answer = store.settle(result, connection, $what, may_retry);
            if answer.is_some() {
                break;
            }
        }
        answer.unwrap_or_else(|| Err(store.unavailable($what, "the connection broke", connection)))
    }};
}

pub struct PgStore {
    runtime: tokio::runtime::Runtime,
    /// How connections are encrypted: `None` for plain TCP.
    tls: Option<Tls>,
    config: Config,
    /// The URL without its password, for messages.
    location: String,
    connection: Mutex<Connection>,
    op_timeout: Duration,
    limits: StoreConfig,
}

impl PgStore {
    /// Checks the URL and prepares the connection; connects at the first call, so that a
    /// server can start (and say it is not ready) while its database is down.
    pub fn open(limits: &StoreConfig) -> ToolResult<Self> {
        let url = limits.url.trim();
        if url.is_empty() {
            return Err(ToolError::storage(
                "store.backend is \"postgres\" but store.url is empty: set it (or MUSIC21_PROD_STORE_URL) to postgres://USER:PASSWORD@HOST:PORT/DATABASE",
            ));
        }
        let mut config: Config = url.parse().map_err(|e| {
            ToolError::storage(format!(
                "store.url is not a PostgreSQL URL ({e}); write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE"
            ))
        })?;
        let tls = tls_connector(&config)?;
        if config.get_application_name().is_none() {
            config.application_name("music21-prod");
        }
        let op_timeout = Duration::from_millis(limits.op_timeout_ms.max(1));
        config
            .connect_timeout(op_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10));
        // A worker killed inside a transaction must not hold its locks for long.
        config.options("-c idle_in_transaction_session_timeout=30000");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| ToolError::storage(format!("cannot start the database client: {e}")))?;
        Ok(Self {
            runtime,
            tls,
            location: redacted(url),
            config,
            connection: Mutex::new(Connection::default()),
            op_timeout,
            limits: limits.clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves at worst a connection mid-statement, which
        // the next call's liveness check or the database's own timeouts clear up.
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `op` within the operation timeout.
    async fn within_timeout<T>(&self, op: impl Future<Output = PgResult<T>>) -> PgResult<T> {
        match tokio::time::timeout(self.op_timeout, op).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Unavailable(format!(
                "no answer within store.op_timeout_ms = {}",
                self.op_timeout.as_millis()
            ))),
        }
    }

    /// Turns one attempt's result into the caller's answer, or `None` when the attempt
    /// should be made again on a fresh connection (it found the connection dead, the call
    /// is safe to repeat, and this was not the last attempt).
    fn settle<T>(
        &self,
        result: PgResult<T>,
        connection: &mut Connection,
        what: &str,
        may_retry: bool,
    ) -> Option<ToolResult<T>> {
        match result {
            Ok(value) => Some(Ok(value)),
            Err(Failure::Unavailable(detail)) => {
                // Whatever state the connection is in, it cannot be trusted now.
                connection.client = None;
                // A failed connect is not retried at once: that is what the backoff is for.
                if may_retry && connection.retry_at.is_none() {
                    None
                } else {
                    Some(Err(self.unavailable(what, &detail, connection)))
                }
            }
            Err(Failure::Database(e)) => Some(Err(ToolError::storage(format!(
                "score database: {what}: {}",
                describe(&e)
            )))),
            Err(Failure::Tool(e)) => Some(Err(e)),
        }
    }

    /// Blocks on `future` with this store's runtime. Callers are plain threads; should one
    /// be a runtime's thread, the future runs on a scoped thread instead of panicking.
    fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| self.runtime.block_on(future))
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
        } else {
            self.runtime.block_on(future)
        }
    }

    /// The live client, connecting (and migrating) if there is none, and whether it was
    /// opened just now. Refuses at once while the last failed connect's backoff lasts.
    async fn connected<'c>(
        &self,
        connection: &'c mut Connection,
    ) -> PgResult<(&'c mut Client, bool)> {
        if connection.client.as_ref().is_some_and(Client::is_closed) {
            connection.client = None;
        }
        let opened = connection.client.is_none();
        if connection.client.is_none() {
            if let Some(at) = connection.retry_at {
                if Instant::now() < at {
                    return Err(Failure::Unavailable(
                        "the last attempt to connect failed moments ago".into(),
                    ));
                }
            }
            match self.connect(!connection.migrated).await {
                Ok(client) => {
                    connection.client = Some(client);
                    connection.retry_at = None;
                    connection.failures = 0;
                    connection.migrated = true;
                }
                Err(e) => {
                    let wait = CONNECT_BACKOFF
                        .0
                        .saturating_mul(1 << connection.failures.min(8))
                        .min(CONNECT_BACKOFF.1);
                    connection.failures += 1;
                    connection.retry_at = Some(Instant::now() + wait);
                    return Err(match e {
                        Failure::Database(e) => Failure::Unavailable(describe(&e)),
                        other => other,
                    });
                }
            }
        }
        let client = connection
            .client
            .as_mut()
            .ok_or_else(|| Failure::Unavailable("not connected".into()))?;
        Ok((client, opened))
    }

    async fn connect(&self, migrate: bool) -> PgResult<Client> {
        let late = || {
            Failure::Unavailable(format!(
                "no connection within store.op_timeout_ms = {}",
                self.op_timeout.as_millis()
            ))
        };
        let timeout = self.op_timeout;
        let mut client = match &self.tls {
            None => {
                let (client, driver) = tokio::time::timeout(timeout, self.config.connect(NoTls))
                    .await
                    .map_err(|_| late())??;
                tokio::spawn(drive(driver));
                client
            }
            #[cfg(feature = "postgres-tls")]
            Some(Tls(connector)) => {
                let (client, driver) =
                    tokio::time::timeout(timeout, self.config.connect(connector.clone()))
                        .await
                        .map_err(|_| late())??;
                tokio::spawn(drive(driver));
                client
            }
            #[cfg(not(feature = "postgres-tls"))]
            Some(never) => match *never {},
        };
        if migrate {
            match tokio::time::timeout(self.op_timeout * 4, migrate_schema(&mut client)).await {
                Ok(result) => result?,
                Err(_) => {
                    return Err(Failure::Unavailable(
                        "the schema migration did not finish in time".into(),
                    ))
                }
            }
        }
        Ok(client)
    }

    fn unavailable(&self, what: &str, detail: &str, connection: &Connection) -> ToolError {
        let retry = connection
            .retry_at
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or(CONNECT_BACKOFF.0)
            .as_secs_f64()
            .max(0.2);
        ToolError::new(
            ErrorKind::StorageUnavailable,
            format!(
                "score database {} is unreachable ({what}: {detail}); nothing was changed by this call unless it said so. Retry in {retry:.1} s",
                self.location
            ),
        )
    }
}

/// Runs a connection's I/O until it ends.
async fn drive<S, T>(driver: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio_postgres::tls::TlsStream + Unpin,
{
    if let Err(e) = driver.await {
        tracing::debug!(error = %e, "score database connection ended");
    }
}

/// A TLS connector for the database (only in builds with the `postgres-tls` feature).
#[cfg(feature = "postgres-tls")]
struct Tls(postgres_native_tls::MakeTlsConnector);

/// Builds without TLS have none: the type has no values.
#[cfg(not(feature = "postgres-tls"))]
enum Tls {}

/// The TLS connector `config`'s `sslmode` asks for: none for `disable`; for `prefer` (the
/// default) and `require`, one that verifies the server against the system's roots, when
/// this build has TLS. Without it, `require` is refused with what to do, and `prefer`
/// connects in plain TCP.
fn tls_connector(config: &Config) -> ToolResult<Option<Tls>> {
    use tokio_postgres::config::SslMode;
    let mode = config.get_ssl_mode();
    #[cfg(feature = "postgres-tls")]
    {
        if mode == SslMode::Disable {
            return Ok(None);
        }
        let connector = native_tls::TlsConnector::new().map_err(|e| {
            ToolError::storage(format!("cannot set up TLS for the score database: {e}"))
        })?;
        Ok(Some(Tls(postgres_native_tls::MakeTlsConnector::new(
            connector,
        ))))
    }
    #[cfg(not(feature = "postgres-tls"))]
    {
        if mode == SslMode::Require {
            return Err(ToolError::storage(
                "store.url asks for TLS (sslmode=require), and this build has no TLS: rebuild with `cargo build --release --features postgres-tls`, or keep the database on a network you trust (loopback, a private network) with sslmode=disable",
            ));
        }
        Ok(None)
    }
}

/// Applies the migrations this build knows and the database has not seen, one at a time
/// under a session advisory lock, so two replicas starting together do not race.
async fn migrate_schema(client: &mut Client) -> PgResult<()> {
    // The lock first, so that two first connections never race on creating the table (a
    // concurrent CREATE TABLE IF NOT EXISTS can still fail on the catalog).
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = apply_missing(client).await;
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    result?;
    unlock?;
    Ok(())
}

async fn apply_missing(client: &mut Client) -> PgResult<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let newest: Option<i32> = client
        .query_one("SELECT MAX(version) FROM schema_migrations", &[])
        .await?
        .get(0);
    let newest = newest.unwrap_or(0);
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if newest > known {
        return Err(Failure::Tool(ToolError::storage(format!(
            "the score database's schema is at version {newest}, newer than this build knows ({known}): run the newer music21-prod, or restore a database of this version"
        ))));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > newest) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "score database: migration applied");
    }
    Ok(())
}

/// The URL as it may be shown: without its password.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        // Key-value form ("host=... password=..."): say only that it is one.
        Err(_) => "(the database named by store.url)".into(),
    }
}

fn raw_record(row: &tokio_postgres::Row) -> Result<RawRecord, tokio_postgres::Error> {
    Ok(RawRecord {
        format: row.try_get(0)?,
        origin: row.try_get(1)?,
        source: row.try_get(2)?,
        sha256: row.try_get(3)?,
        bytes: row.try_get(4)?,
        summary: row.try_get(5)?,
        checksum: row.try_get(6)?,
        created_at: row.try_get(7)?,
        last_used_at: row.try_get(8)?,
        info: row.try_get(9)?,
        info_sha256: row.try_get(10)?,
    })
}

const SELECT_RECORD: &str =
    "SELECT format, origin, source, source_sha256, bytes, summary, checksum,
        created_at, last_used_at, info, info_sha256
 FROM scores WHERE id = $1";

/// Marks a score used: best effort (a read never fails for it), and it only orders
/// evictions, so its commit does not wait for the WAL to reach the disk.
async fn mark_used(client: &mut Client, id: &str) {
    let marked: Result<(), tokio_postgres::Error> = async {
        let tx = client.transaction().await?;
        tx.batch_execute("SET LOCAL synchronous_commit TO OFF")
            .await?;
        tx.execute(
            "UPDATE scores SET last_used_at = $1, use_seq = nextval('score_use_seq')
                 WHERE id = $2",
            &[&(now_secs() as i64), &id],
        )
        .await?;
        tx.commit().await
    }
    .await;
    drop(marked);
}

/// Reads one record and verifies it; a corrupted one is noted in `corrupt_records`.
async fn read_verified(client: &Client, id: &str) -> PgResult<StoredScore> {
    let Some(row) = client.query_opt(SELECT_RECORD, &[&id]).await? else {
        return Err(no_such_score(id).into());
    };
    let verdict = match raw_record(&row) {
        Ok(raw) => raw.verify(id),
        Err(_) => Err(corrupted(id, "a field has the wrong type")),
    };
    if let Err(e) = &verdict {
        if e.kind == ErrorKind::Corrupted {
            client
                .execute(
                    "INSERT INTO corrupt_records (id, found_at, detail) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO NOTHING",
                    &[&id, &(now_secs() as i64), &e.message],
                )
                .await?;
        }
    }
    Ok(verdict?)
}

impl Backend for PgStore {
    fn insert(&self, new: &NewScore<'_>, replace: bool) -> ToolResult<(ScoreMeta, Vec<Eviction>)> {
        let record = PreparedRecord::of(new)?;
        let limits = &self.limits;
        // Once COMMIT is sent its outcome is unknown if the connection dies: never repeated.
        let commit_sent = std::sync::atomic::AtomicBool::new(false);
        let evicted = on_database!(
            self,
            "storing the score",
            retry_if_stale = !commit_sent.load(std::sync::atomic::Ordering::SeqCst),
            |client| {
                let tx = client.transaction().await?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INSERT_LOCK])
                    .await?;
                let exists = tx
                    .query_opt("SELECT 1 FROM scores WHERE id = $1", &[&new.score_id])
                    .await?
                    .is_some();
                if exists && !replace {
                    return Err(already_exists(new.score_id).into());
                }
                tx.execute(
                    "INSERT INTO scores (id, format, origin, source, source_sha256, bytes, summary,
                                         checksum, created_at, last_used_at, use_seq, info, info_sha256)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, nextval('score_use_seq'), $10, $11)
                     ON CONFLICT (id) DO UPDATE SET
                         format = EXCLUDED.format, origin = EXCLUDED.origin,
                         source = EXCLUDED.source, source_sha256 = EXCLUDED.source_sha256,
                         bytes = EXCLUDED.bytes, summary = EXCLUDED.summary,
                         checksum = EXCLUDED.checksum, created_at = EXCLUDED.created_at,
                         last_used_at = EXCLUDED.last_used_at, use_seq = EXCLUDED.use_seq,
                         info = EXCLUDED.info, info_sha256 = EXCLUDED.info_sha256",
                    &[
                        &new.score_id,
                        &new.format,
                        &new.origin,
                        &new.source,
                        &record.sha256,
                        &(new.source.len() as i64),
                        &record.summary_text,
                        &record.checksum,
                        &(record.now as i64),
                        &new.info,
                        &record.info_sha256,
                    ],
                )
                .await?;
                // A replaced record is a new record: whatever was found wrong with the old
                // one is no longer true.
                tx.execute(
                    "DELETE FROM corrupt_records WHERE id = $1",
                    &[&new.score_id],
                )
                .await?;
                let evicted = evict_beyond_limits(&tx, limits, new.score_id, record.now).await?;
                commit_sent.store(true, std::sync::atomic::Ordering::SeqCst);
                tx.commit().await?;
                Ok(evicted)
            }
        )?;
        Ok((record.meta(new), evicted))
    }

    fn get(&self, id: &str) -> ToolResult<StoredScore> {
        on_database!(self, "reading a score", retry_if_stale = true, |client| {
            let score = read_verified(client, id).await?;
            mark_used(client, id).await;
            Ok(score)
        })
    }

    fn current_sha256(&self, id: &str) -> ToolResult<Option<String>> {
        on_database!(
            self,
            "looking up a checksum",
            retry_if_stale = true,
            |client| {
                let row = client
                    .query_opt(
                        "SELECT s.source_sha256, c.id IS NOT NULL
                     FROM scores s LEFT JOIN corrupt_records c ON c.id = s.id WHERE s.id = $1",
                        &[&id],
                    )
                    .await?;
                let sound = match row {
                    Some(row) if !row.try_get::<_, bool>(1)? => Some(row.try_get::<_, String>(0)?),
                    _ => None,
                };
                if sound.is_some() {
                    mark_used(client, id).await;
                }
                Ok(sound)
            }
        )
    }

    fn exists(&self, id: &str) -> ToolResult<bool> {
        on_database!(self, "looking up an id", retry_if_stale = true, |client| {
            Ok(client
                .query_opt("SELECT 1 FROM scores WHERE id = $1", &[&id])
                .await?
                .is_some())
        })
    }

    fn list(&self, limit: usize, cursor: Option<&str>) -> ToolResult<Vec<ScoreMeta>> {
        let after = cursor.unwrap_or("");
        on_database!(self, "listing", retry_if_stale = true, |client| {
            let rows = client
                .query(
                    "SELECT s.id, s.format, s.origin, s.source_sha256, s.bytes, s.summary,
                                s.created_at, s.last_used_at, c.id IS NOT NULL
                         FROM scores s LEFT JOIN corrupt_records c ON c.id = s.id
                         WHERE s.id > $1 ORDER BY s.id LIMIT $2",
                    &[&after, &(limit as i64)],
                )
                .await?;
            let mut listed = Vec::with_capacity(rows.len());
            for r in rows {
                listed.push(ScoreMeta {
                    score_id: r.try_get(0)?,
                    format: r.try_get(1)?,
                    origin: r.try_get(2)?,
                    sha256: r.try_get(3)?,
                    bytes: r.try_get::<_, i64>(4)? as u64,
                    summary: serde_json::from_str(&r.try_get::<_, String>(5)?)
                        .unwrap_or(serde_json::Value::Null),
                    created_at: r.try_get::<_, i64>(6)? as u64,
                    last_used_at: r.try_get::<_, i64>(7)? as u64,
                    corrupted: r.try_get::<_, bool>(8).unwrap_or(false),
                });
            }
            Ok(listed)
        })
    }

    fn stats(&self) -> ToolResult<StoreStats> {
        let limits = &self.limits;
        on_database!(self, "counting", retry_if_stale = true, |client| {
            let row = client
                    .query_one(
                        "SELECT (SELECT scores FROM score_totals),
                                (SELECT bytes FROM score_totals),
                                (SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = 'evictions'),
                                (SELECT COUNT(*) FROM corrupt_records c JOIN scores s ON s.id = c.id)",
                        &[],
                    )
                    .await?;
            Ok(StoreStats {
                scores: row.try_get::<_, i64>(0)? as u64,
                bytes: row.try_get::<_, i64>(1)? as u64,
                evictions_total: row.try_get::<_, i64>(2)? as u64,
                max_scores: limits.max_scores,
                max_bytes: limits.max_bytes,
                corrupted: row.try_get::<_, i64>(3)? as u64,
            })
        })
    }

    fn evictions(&self, which: EvictionLog) -> ToolResult<Vec<LoggedEviction>> {
        let (sql, after, limit) = which.query();
        on_database!(self, "reading evictions", retry_if_stale = true, |client| {
            let rows = client.query(sql, &[&after, &limit]).await?;
            let mut evictions = Vec::with_capacity(rows.len());
            for r in rows {
                evictions.push(LoggedEviction {
                    seq: r.try_get::<_, i64>(0)? as u64,
                    eviction: Eviction::at(
                        r.try_get::<_, i64>(2)? as u64,
                        r.try_get(1)?,
                        r.try_get(3)?,
                        r.try_get(4)?,
                    ),
                });
            }
            Ok(evictions)
        })
    }

    fn delete(&self, id: &str) -> ToolResult<bool> {
        // Deleting twice is deleting once: safe to retry on a fresh connection.
        on_database!(self, "deleting", retry_if_stale = true, |client| {
            let tx = client.transaction().await?;
            // The insert lock first, as every write that changes the totals takes it
            // (migrations/postgres/0002_totals.sql): an insert evicting this very score
            // would otherwise lock the totals and this row in the opposite order.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INSERT_LOCK])
                .await?;
            let n = tx
                .execute("DELETE FROM scores WHERE id = $1", &[&id])
                .await?;
            tx.execute("DELETE FROM corrupt_records WHERE id = $1", &[&id])
                .await?;
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    fn delete_all(&self) -> ToolResult<Vec<String>> {
        on_database!(self, "deleting", retry_if_stale = true, |client| {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INSERT_LOCK])
                .await?;
            let rows = tx.query("DELETE FROM scores RETURNING id", &[]).await?;
            tx.execute("DELETE FROM corrupt_records", &[]).await?;
            tx.commit().await?;
            let mut ids = rows
                .iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<Result<Vec<_>, _>>()?;
            ids.sort();
            Ok(ids)
        })
    }

    fn integrity_check(&self) -> ToolResult<()> {
        on_database!(
            self,
            "checking the schema",
            retry_if_stale = true,
            |client| {
                let version: Option<i32> = client
                    .query_one("SELECT MAX(version) FROM schema_migrations", &[])
                    .await?
                    .get(0);
                let known = MIGRATIONS.last().map(|m| m.0);
                if version != known {
                    return Err(ToolError::storage(format!(
                        "the score database's schema is at version {version:?}, this build expects {known:?}"
                    ))
                    .into());
                }
                Ok(())
            }
        )
    }

    fn scrub_step(&self, cursor: Option<&str>, budget: u64) -> ToolResult<ScrubStep> {
        scrub::step(cursor, budget, |at| {
            let at = at.to_string();
            on_database!(self, "scrubbing", retry_if_stale = true, |client| {
                let next: Option<String> = client
                    .query_opt(
                        "SELECT id FROM scores WHERE id > $1 ORDER BY id LIMIT 1",
                        &[&at],
                    )
                    .await?
                    .map(|r| r.try_get(0))
                    .transpose()?;
                let Some(id) = next else { return Ok(None) };
                let verdict = match read_verified(client, &id).await {
                    Ok(score) => Ok(score),
                    Err(Failure::Tool(e)) => Err(e),
                    Err(other) => return Err(other),
                };
                Ok(Some((id, verdict)))
            })
        })
    }

    fn corrupted_records(&self, limit: usize) -> ToolResult<(u64, Vec<String>)> {
        on_database!(
            self,
            "reading corrupted records",
            retry_if_stale = true,
            |client| {
                let total: i64 = client
                    .query_one(
                        "SELECT COUNT(*) FROM corrupt_records c JOIN scores s ON s.id = c.id",
                        &[],
                    )
                    .await?
                    .try_get(0)?;
                let rows = client
                    .query(
                        "SELECT c.id FROM corrupt_records c JOIN scores s ON s.id = c.id
                         ORDER BY c.found_at, c.id LIMIT $1",
                        &[&(limit as i64)],
                    )
                    .await?;
                let ids = rows
                    .iter()
                    .map(|r| r.try_get::<_, String>(0))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((total as u64, ids))
            }
        )
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn free_bytes(&self) -> Option<u64> {
        None
    }
}

/// Evicts the least recently used scores (never `keep`, the one being stored) until the
/// limits hold, logging and counting each. Runs inside the insert's transaction, under its
/// lock, so two replicas never evict the same score or overshoot a limit together.
async fn evict_beyond_limits(
    tx: &tokio_postgres::Transaction<'_>,
    limits: &StoreConfig,
    keep: &str,
    now: u64,
) -> PgResult<Vec<Eviction>> {
    let mut evicted = Vec::new();
    loop {
        let row = tx
            .query_one("SELECT scores, bytes FROM score_totals", &[])
            .await?;
        let (count, bytes): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        let Some(reason) = eviction_reason(limits, count as u64, bytes as u64) else {
            break;
        };
        let Some(victim) = tx
            .query_opt(
                "DELETE FROM scores WHERE id = (
                     SELECT id FROM scores WHERE id <> $1 ORDER BY use_seq LIMIT 1
                 ) RETURNING id, bytes",
                &[&keep],
            )
            .await?
        else {
            break;
        };
        let (id, size): (String, i64) = (victim.try_get(0)?, victim.try_get(1)?);
        tx.execute("DELETE FROM corrupt_records WHERE id = $1", &[&id])
            .await?;
        tx.execute(
            "INSERT INTO evictions (id, evicted_at, reason, bytes) VALUES ($1, $2, $3, $4)",
            &[&id, &(now as i64), &reason, &size],
        )
        .await?;
        tx.execute(
            "INSERT INTO counters (name, value) VALUES ('evictions', 1)
             ON CONFLICT (name) DO UPDATE SET value = counters.value + 1",
            &[],
        )
        .await?;
        // Keep the log bounded; the counter keeps the total.
        tx.execute(
            "DELETE FROM evictions WHERE seq <= (SELECT MAX(seq) FROM evictions) - $1",
            &[&EVICTION_LOG_KEPT],
        )
        .await?;
        evicted.push(Eviction::at(now, id, reason, size));
    }
    Ok(evicted)
}

#[cfg(test)]
mod tests;
