//! The durable score store, behind one interface with two engines: SQLite (embedded, the
//! default: one file in the data dir) and PostgreSQL (shared by replicas of the server).
//!
//! Both keep the same promises. An import is acknowledged only after its commit. Each
//! record keeps the source bytes as received, their SHA-256, and a checksum over the whole
//! record (id, format, summary, source) that is verified on every read: a mismatch is
//! reported as corruption naming the id, and the record is never served. Capacity limits
//! evict the least recently used scores inside the same transaction that inserts, and every
//! eviction is counted and logged in the store itself, so `list_scores` can report it. A
//! background scrub (`scrub.rs`) re-verifies every record, so corruption shows in `/health`
//! and `list_scores` before anyone reads the record.
//!
//! What differs is where the data lives and how the engines fail: a full disk for SQLite
//! (`sqlite/space.rs`), an unreachable database server for PostgreSQL (`postgres/`), which is a
//! retryable `[storage_unavailable]` refusal rather than an error.

mod postgres;
mod scrub;
mod sqlite;
/// For tests only: the PostgreSQL server they share.
#[doc(hidden)]
pub mod test_database;

pub use scrub::{spawn_scrub, ScrubReport, ScrubStep};
pub use sqlite::space::{free_bytes, RESERVE_FILE};
pub use sqlite::STORE_FILE;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{StoreBackend, StoreConfig};
use crate::error::{ErrorKind, ToolError, ToolResult};

/// A score as the store holds it.
#[derive(Clone, Debug)]
pub struct StoredScore {
    pub meta: ScoreMeta,
    pub source: Vec<u8>,
    /// What `score_info` answers about it, worked out when it was stored (JSON), so that
    /// question needs no parse; absent for records stored before there was one.
    pub info: Option<String>,
}

/// Everything about a stored score but its bytes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ScoreMeta {
    pub score_id: String,
    /// Source format: musicxml, mxl, midi, abc, humdrum, tinynotation.
    pub format: String,
    /// SHA-256 of the source bytes, hex.
    pub sha256: String,
    /// Size of the source as stored, in bytes.
    pub bytes: u64,
    /// Where it came from: `corpus:bach/bwv66.6`, `file:...`, `text`, `base64`, `tool:...`.
    pub origin: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    pub last_used_at: u64,
    /// What the import found: title, composer, parts, measures, notes, duration.
    pub summary: serde_json::Value,
    /// The background scrub (or a read) found this record corrupted: it is never served.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub corrupted: bool,
}

/// One eviction, as `list_scores` reports it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Eviction {
    pub score_id: String,
    pub evicted_at: u64,
    /// `max_scores` or `max_bytes`: the limit that forced it.
    pub reason: String,
    pub bytes: u64,
}

/// An eviction with its place in the store's eviction log (`seq` grows with each one), so
/// that a reader can ask for what came after what it has seen (`list_scores`'
/// `evictions_after`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct LoggedEviction {
    pub seq: u64,
    #[serde(flatten)]
    pub eviction: Eviction,
}

/// Which part of the eviction log to read.
#[derive(Clone, Copy, Debug)]
pub enum EvictionLog {
    /// The newest `limit`, newest first.
    Newest(usize),
    /// Up to `limit` after `seq`, oldest first.
    After { seq: u64, limit: usize },
}

impl EvictionLog {
    /// The statement (with `$1` the seq to read after, `$2` the limit) and its arguments,
    /// the same for both engines.
    fn query(self) -> (&'static str, i64, i64) {
        match self {
            EvictionLog::Newest(limit) => (
                "SELECT seq, id, evicted_at, reason, bytes FROM evictions WHERE seq > $1 ORDER BY seq DESC LIMIT $2",
                0,
                limit as i64,
            ),
            EvictionLog::After { seq, limit } => (
                "SELECT seq, id, evicted_at, reason, bytes FROM evictions WHERE seq > $1 ORDER BY seq LIMIT $2",
                seq.min(i64::MAX as u64) as i64,
                limit as i64,
            ),
        }
    }
}

impl Eviction {
    /// `id` evicted at `now` for `reason`, `bytes` freed (a size from the database).
    pub(crate) fn at(now: u64, id: String, reason: &str, bytes: i64) -> Self {
        Self {
            score_id: id,
            evicted_at: now,
            reason: reason.to_string(),
            bytes: bytes as u64,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StoreStats {
    pub scores: u64,
    pub bytes: u64,
    pub evictions_total: u64,
    pub max_scores: u64,
    pub max_bytes: u64,
    /// Records known to be corrupted (found by the scrub or by a read), still stored.
    pub corrupted: u64,
}

/// What a new record is, before it is stored.
pub struct NewScore<'a> {
    pub score_id: &'a str,
    pub format: &'a str,
    pub origin: &'a str,
    pub source: &'a [u8],
    pub summary: &'a serde_json::Value,
    /// `score_info`'s answer, as JSON text (see [`StoredScore::info`]).
    pub info: Option<&'a str>,
}

impl<'a> NewScore<'a> {
    /// ABC text with no `score_info` answer: what the store's tests and benchmarks store
    /// (the store does not parse what it keeps).
    pub fn abc_text(score_id: &'a str, source: &'a [u8], summary: &'a serde_json::Value) -> Self {
        NewScore {
            score_id,
            format: "abc",
            origin: "text",
            source,
            summary,
            info: None,
        }
    }
}

/// What each engine does. Every method commits before it returns `Ok`.
trait Backend: Send + Sync {
    /// Stores a new score, replacing one with the same id only when `replace` is set, and
    /// evicts least-recently-used scores beyond the limits, in one transaction.
    fn insert(&self, new: &NewScore<'_>, replace: bool) -> ToolResult<(ScoreMeta, Vec<Eviction>)>;
    /// Reads a score, verifying it, and marks it used (best effort).
    fn get(&self, id: &str) -> ToolResult<StoredScore>;
    /// The source checksum of `id`'s record, without reading the record, when it exists and
    /// is not listed as corrupted; marks it used then (best effort).
    fn current_sha256(&self, id: &str) -> ToolResult<Option<String>>;
    fn exists(&self, id: &str) -> ToolResult<bool>;
    fn list(&self, limit: usize, cursor: Option<&str>) -> ToolResult<Vec<ScoreMeta>>;
    fn stats(&self) -> ToolResult<StoreStats>;
    fn evictions(&self, which: EvictionLog) -> ToolResult<Vec<LoggedEviction>>;
    fn delete(&self, id: &str) -> ToolResult<bool>;
    fn delete_all(&self) -> ToolResult<Vec<String>>;
    /// The engine's own consistency check (SQLite's integrity check; for PostgreSQL, that
    /// the server answers and the schema is current).
    fn integrity_check(&self) -> ToolResult<()>;
    fn scrub_step(&self, cursor: Option<&str>, budget: u64) -> ToolResult<ScrubStep>;
    fn corrupted_records(&self, limit: usize) -> ToolResult<(u64, Vec<String>)>;
    /// Where the data lives, for messages (a path, or a URL without its password).
    fn location(&self) -> String;
    /// Free bytes where the data lives, when this process can know it (not for a database
    /// on another machine).
    fn free_bytes(&self) -> Option<u64>;
}

/// The score store of one process (or thread): the server, each worker and the scrub open
/// their own, on the same data.
pub struct Store {
    backend: Box<dyn Backend>,
    pub(crate) limits: StoreConfig,
}

impl Store {
    /// Opens the store the config names: the SQLite file in `data_dir` (created if needed),
    /// or the PostgreSQL database at `store.url` (its schema migrated at first use).
    pub fn open(data_dir: &Path, limits: &StoreConfig) -> ToolResult<Self> {
        let backend: Box<dyn Backend> = match limits.backend {
            StoreBackend::Sqlite => Box::new(sqlite::SqliteStore::open(data_dir, limits)?),
            StoreBackend::Postgres => Box::new(postgres::PgStore::open(limits)?),
        };
        Ok(Self {
            backend,
            limits: limits.clone(),
        })
    }

    pub fn backend_kind(&self) -> StoreBackend {
        self.limits.backend
    }

    /// Where the data lives: the SQLite file, or the database URL without its password.
    pub fn location(&self) -> String {
        self.backend.location()
    }

    /// Free disk where the data lives, when this process can see it.
    pub fn free_bytes(&self) -> Option<u64> {
        self.backend.free_bytes()
    }

    /// Stores a new score, replacing one with the same id only when `replace` is set, and
    /// evicts least-recently-used scores beyond the limits. Returns only after the commit.
    pub fn insert(
        &self,
        new: &NewScore<'_>,
        replace: bool,
    ) -> ToolResult<(ScoreMeta, Vec<Eviction>)> {
        let bytes = new.source.len() as u64;
        if bytes > self.limits.max_bytes {
            return Err(ToolError::limit(format!(
                "score '{}' is {bytes} bytes, more than the whole store may hold (store.max_bytes = {})",
                new.score_id, self.limits.max_bytes
            )));
        }
        self.backend.insert(new, replace)
    }

    /// Reads a score, verifying its checksum, and marks it used (best effort: a read never
    /// fails because the store cannot be written, e.g. on a full disk).
    pub fn get(&self, id: &str) -> ToolResult<StoredScore> {
        self.backend.get(id)
    }

    /// Whether `id` still holds the source whose checksum is `sha256`, asked without
    /// reading or verifying the record: for a parse made from that source, already
    /// verified. Marks the score used when it does. `Ok(false)` when the record is gone,
    /// replaced, or listed as corrupted (a full `get` then says which).
    pub fn still_holds(&self, id: &str, sha256: &str) -> ToolResult<bool> {
        Ok(self.backend.current_sha256(id)?.as_deref() == Some(sha256))
    }

    pub fn exists(&self, id: &str) -> ToolResult<bool> {
        self.backend.exists(id)
    }

    /// Lists scores by id, `limit` of them after `cursor` (an id), without their bytes.
    /// A record whose summary is unreadable is listed with a null summary, never dropped.
    pub fn list(&self, limit: usize, cursor: Option<&str>) -> ToolResult<Vec<ScoreMeta>> {
        self.backend.list(limit, cursor)
    }

    pub fn stats(&self) -> ToolResult<StoreStats> {
        self.backend.stats()
    }

    /// The most recent evictions, newest first.
    pub fn recent_evictions(&self, limit: usize) -> ToolResult<Vec<Eviction>> {
        let logged = self.backend.evictions(EvictionLog::Newest(limit))?;
        Ok(logged.into_iter().map(|l| l.eviction).collect())
    }

    /// Up to `limit` evictions logged after `seq`, oldest first. The log keeps the last
    /// `EVICTION_LOG_KEPT`; a reader that polls more often than that many evictions happen
    /// sees every one.
    pub fn evictions_after(&self, seq: u64, limit: usize) -> ToolResult<Vec<LoggedEviction>> {
        self.backend.evictions(EvictionLog::After { seq, limit })
    }

    /// Deletes one score; `Ok(false)` when there was none. With SQLite this works on a
    /// full disk (see `space.rs`).
    pub fn delete(&self, id: &str) -> ToolResult<bool> {
        self.backend.delete(id)
    }

    /// Deletes every score, returning their ids.
    pub fn delete_all(&self) -> ToolResult<Vec<String>> {
        self.backend.delete_all()
    }

    /// The engine's consistency check; `Ok(())` when it passes.
    pub fn integrity_check(&self) -> ToolResult<()> {
        self.backend.integrity_check()
    }

    /// Verifies the records after `cursor` (by id) until `budget` bytes were read.
    pub fn scrub_step(&self, cursor: Option<&str>, budget: u64) -> ToolResult<ScrubStep> {
        self.backend.scrub_step(cursor, budget)
    }

    /// The corrupted records known now: how many, and the first `limit` ids.
    pub fn corrupted_records(&self, limit: usize) -> ToolResult<(u64, Vec<String>)> {
        self.backend.corrupted_records(limit)
    }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The checksum over a whole record: a flipped byte anywhere in it changes this.
pub fn record_checksum(id: &str, format: &str, summary: &str, source: &[u8]) -> String {
    let mut h = Sha256::new();
    for field in [id.as_bytes(), format.as_bytes(), summary.as_bytes()] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field);
    }
    h.update((source.len() as u64).to_le_bytes());
    h.update(source);
    hex::encode(h.finalize())
}

pub fn corrupted(id: &str, detail: &str) -> ToolError {
    ToolError::new(
        ErrorKind::Corrupted,
        format!(
            "score '{id}' is corrupted ({detail}); it will not be served. Delete it with delete_score and import it again"
        ),
    )
}

pub(crate) fn no_such_score(id: &str) -> ToolError {
    ToolError::not_found(format!(
        "no score with score_id '{id}'; list_scores shows the stored ids"
    ))
}

pub(crate) fn already_exists(id: &str) -> ToolError {
    ToolError::new(
        ErrorKind::AlreadyExists,
        format!("score_id '{id}' already exists; choose another id or pass \"replace\": true"),
    )
}

/// The columns of one record as either engine reads them, before they are trusted.
pub(crate) struct RawRecord {
    pub format: String,
    pub origin: String,
    pub source: Vec<u8>,
    pub sha256: String,
    pub bytes: i64,
    pub summary: String,
    pub checksum: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub info: Option<String>,
    pub info_sha256: Option<String>,
}

impl RawRecord {
    /// Checks the record against its checksums; only a record that passes is served.
    pub(crate) fn verify(self, id: &str) -> ToolResult<StoredScore> {
        if record_checksum(id, &self.format, &self.summary, &self.source) != self.checksum
            || sha256_hex(&self.source) != self.sha256
            || self.bytes != self.source.len() as i64
        {
            return Err(corrupted(id, "its checksum does not match its contents"));
        }
        let info_ok = match (&self.info, &self.info_sha256) {
            (Some(i), Some(s)) => sha256_hex(i.as_bytes()) == *s,
            (None, None) => true,
            _ => false,
        };
        if !info_ok {
            return Err(corrupted(
                id,
                "its stored description does not match its checksum",
            ));
        }
        let summary = serde_json::from_str(&self.summary)
            .map_err(|_| corrupted(id, "its summary is not valid JSON"))?;
        Ok(StoredScore {
            meta: ScoreMeta {
                score_id: id.to_string(),
                format: self.format,
                sha256: self.sha256,
                bytes: self.bytes as u64,
                origin: self.origin,
                created_at: self.created_at as u64,
                last_used_at: self.last_used_at as u64,
                summary,
                corrupted: false,
            },
            source: self.source,
            info: self.info,
        })
    }
}

/// What an insert writes besides the caller's fields: computed once, the same for both
/// engines.
pub(crate) struct PreparedRecord {
    pub summary_text: String,
    pub sha256: String,
    pub checksum: String,
    pub info_sha256: Option<String>,
    pub now: u64,
}

impl PreparedRecord {
    pub(crate) fn of(new: &NewScore<'_>) -> ToolResult<Self> {
        let summary_text = serde_json::to_string(new.summary)
            .map_err(|e| ToolError::internal(format!("summary not serialisable: {e}")))?;
        Ok(Self {
            sha256: sha256_hex(new.source),
            checksum: record_checksum(new.score_id, new.format, &summary_text, new.source),
            info_sha256: new.info.map(|i| sha256_hex(i.as_bytes())),
            summary_text,
            now: now_secs(),
        })
    }

    pub(crate) fn meta(&self, new: &NewScore<'_>) -> ScoreMeta {
        ScoreMeta {
            score_id: new.score_id.to_string(),
            format: new.format.to_string(),
            sha256: self.sha256.clone(),
            bytes: new.source.len() as u64,
            origin: new.origin.to_string(),
            created_at: self.now,
            last_used_at: self.now,
            summary: new.summary.clone(),
            corrupted: false,
        }
    }
}

/// Which limit forces an eviction at this count and size, if any.
pub(crate) fn eviction_reason(
    limits: &StoreConfig,
    count: u64,
    bytes: u64,
) -> Option<&'static str> {
    if count > limits.max_scores {
        Some("max_scores")
    } else if bytes > limits.max_bytes {
        Some("max_bytes")
    } else {
        None
    }
}

/// How many evictions the log keeps (the counter keeps the total).
pub(crate) const EVICTION_LOG_KEPT: i64 = 1000;

#[cfg(test)]
pub(crate) mod conformance;
