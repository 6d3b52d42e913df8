//! The durable score store: SQLite in WAL mode with `synchronous=FULL`, so a score whose
//! import was acknowledged survives `kill -9` and power loss.
//!
//! Each record keeps the source bytes as received, their SHA-256, and a checksum over the
//! whole record (id, format, summary, source) that is verified on every read: a mismatch is
//! reported as corruption naming the id, and the record is never served. Capacity limits
//! evict the least recently used scores inside the same transaction that inserts, and every
//! eviction is counted and logged in the store itself, so `list_scores` can report it.
//!
//! Several processes (the server and its workers) may open the same file: SQLite's locking
//! and `busy_timeout` serialise writers.
//!
//! A full disk must not lock the store up: reads never need to write, a reserve file
//! (`space.rs`) is given up so that deletes can run, and freed pages go back to the file
//! system. A background scrub (`scrub.rs`) re-verifies every record, so corruption shows in
//! `/health` and `list_scores` before anyone reads the record.

mod scrub;
mod space;

pub use scrub::{spawn_scrub, ScrubReport};
pub use space::{free_bytes, RESERVE_FILE};

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::StoreConfig;
use crate::error::{ErrorKind, ToolError, ToolResult};

pub const STORE_FILE: &str = "scores.sqlite3";

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

pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    pub(crate) limits: StoreConfig,
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

pub(crate) fn storage_err(context: &str) -> impl Fn(rusqlite::Error) -> ToolError + '_ {
    move |e| {
        if space::is_disk_full(&e) {
            ToolError::storage(format!(
                "score store: {context}: the disk holding the store is full; delete scores (delete_score) or free disk space, then retry"
            ))
        } else {
            ToolError::storage(format!("score store: {context}: {e}"))
        }
    }
}

pub fn corrupted(id: &str, detail: &str) -> ToolError {
    ToolError::new(
        ErrorKind::Corrupted,
        format!(
            "score '{id}' is corrupted ({detail}); it will not be served. Delete it with delete_score and import it again"
        ),
    )
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS scores (
    id            TEXT PRIMARY KEY,
    format        TEXT NOT NULL,
    origin        TEXT NOT NULL,
    source        BLOB NOT NULL,
    source_sha256 TEXT NOT NULL,
    bytes         INTEGER NOT NULL,
    summary       TEXT NOT NULL,
    checksum      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL,
    use_seq       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS scores_lru ON scores(use_seq);
CREATE TABLE IF NOT EXISTS evictions (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL,
    evicted_at INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    bytes      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS corrupt_records (
    id       TEXT PRIMARY KEY,
    found_at INTEGER NOT NULL,
    detail   TEXT NOT NULL
);
";

/// Columns added since the first schema, with their types: added on open where missing.
const ADDED_COLUMNS: [(&str, &str); 2] = [("info", "TEXT"), ("info_sha256", "TEXT")];

impl Store {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path, limits: &StoreConfig) -> ToolResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            ToolError::storage(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(STORE_FILE);
        let conn = Connection::open(&path).map_err(|e| {
            ToolError::storage(format!("cannot open score store {}: {e}", path.display()))
        })?;
        conn.busy_timeout(std::time::Duration::from_millis(limits.busy_timeout_ms))
            .map_err(storage_err("setting busy timeout"))?;
        // Before the first table (and before WAL), so that a new store gets it for free:
        // deleted scores give their pages back to the file system (see space.rs).
        space::enable_incremental_vacuum(&conn, &path)?;
        // WAL lets readers proceed while a writer commits; FULL syncs the WAL on every commit,
        // which is what makes an acknowledged import durable.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(storage_err("enabling WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(storage_err("setting synchronous=FULL"))?;
        conn.execute_batch(SCHEMA)
            .map_err(storage_err("creating tables"))?;
        add_missing_columns(&conn)?;
        let store = Self {
            conn: Mutex::new(conn),
            path,
            limits: limits.clone(),
        };
        store.keep_reserve();
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back on
        // drop), so a poisoned lock is safe to take over.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
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
        let summary_text = serde_json::to_string(new.summary)
            .map_err(|e| ToolError::internal(format!("summary not serialisable: {e}")))?;
        let sha = sha256_hex(new.source);
        let checksum = record_checksum(new.score_id, new.format, &summary_text, new.source);
        let info_sha = new.info.map(|i| sha256_hex(i.as_bytes()));
        let now = now_secs();
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage_err("starting a write"))?;
        let exists: bool = tx
            .query_row("SELECT 1 FROM scores WHERE id = ?1", [new.score_id], |_| {
                Ok(())
            })
            .optional()
            .map_err(storage_err("looking up id"))?
            .is_some();
        if exists && !replace {
            return Err(ToolError::new(
                ErrorKind::AlreadyExists,
                format!(
                    "score_id '{}' already exists; choose another id or pass \"replace\": true",
                    new.score_id
                ),
            ));
        }
        let seq = next_seq(&tx)?;
        tx.execute(
            "INSERT OR REPLACE INTO scores
             (id, format, origin, source, source_sha256, bytes, summary, checksum, created_at, last_used_at, use_seq, info, info_sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12)",
            params![
                new.score_id,
                new.format,
                new.origin,
                new.source,
                sha,
                bytes as i64,
                summary_text,
                checksum,
                now as i64,
                seq,
                new.info,
                info_sha
            ],
        )
        .map_err(storage_err("writing the score"))?;
        // A replaced record is a new record: whatever was found wrong with the old one is
        // no longer true.
        tx.execute("DELETE FROM corrupt_records WHERE id = ?1", [new.score_id])
            .map_err(storage_err("writing the score"))?;
        let evicted = evict_beyond_limits(&tx, &self.limits, new.score_id, now)?;
        tx.commit().map_err(storage_err("committing the score"))?;
        let meta = ScoreMeta {
            score_id: new.score_id.to_string(),
            format: new.format.to_string(),
            sha256: sha,
            bytes,
            origin: new.origin.to_string(),
            created_at: now,
            last_used_at: now,
            summary: new.summary.clone(),
            corrupted: false,
        };
        Ok((meta, evicted))
    }

    /// Reads a score, verifying its checksum, and marks it used (best effort: a read never
    /// fails because the store cannot be written, e.g. on a full disk).
    pub fn get(&self, id: &str) -> ToolResult<StoredScore> {
        let conn = self.conn();
        let result = read_verified(&conn, id);
        match &result {
            Ok(_) => {
                if let Ok(seq) = next_seq(&conn) {
                    let _ = conn.execute(
                        "UPDATE scores SET last_used_at = ?1, use_seq = ?2 WHERE id = ?3",
                        params![now_secs() as i64, seq, id],
                    );
                }
            }
            Err(e) if e.kind == ErrorKind::Corrupted => {
                scrub::record_finding(&conn, id, &e.message);
            }
            Err(_) => {}
        }
        result
    }

    pub fn exists(&self, id: &str) -> ToolResult<bool> {
        Ok(self
            .conn()
            .query_row("SELECT 1 FROM scores WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .map_err(storage_err("looking up id"))?
            .is_some())
    }

    /// Lists scores by id, `limit` of them after `cursor` (an id), without their bytes.
    /// A record whose summary is unreadable is listed with a null summary, never dropped.
    pub fn list(&self, limit: usize, cursor: Option<&str>) -> ToolResult<Vec<ScoreMeta>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT s.id, s.format, s.origin, s.source_sha256, s.bytes, s.summary, s.created_at,
                        s.last_used_at, c.id IS NOT NULL
                 FROM scores s LEFT JOIN corrupt_records c ON c.id = s.id
                 WHERE s.id > ?1 ORDER BY s.id LIMIT ?2",
            )
            .map_err(storage_err("listing"))?;
        let rows = stmt
            .query_map(params![cursor.unwrap_or(""), limit as i64], |r| {
                Ok(ScoreMeta {
                    score_id: r.get(0)?,
                    format: r.get(1)?,
                    origin: r.get(2)?,
                    sha256: r.get(3)?,
                    bytes: r.get::<_, i64>(4)? as u64,
                    summary: serde_json::from_str(&r.get::<_, String>(5)?)
                        .unwrap_or(serde_json::Value::Null),
                    created_at: r.get::<_, i64>(6)? as u64,
                    last_used_at: r.get::<_, i64>(7)? as u64,
                    corrupted: r.get::<_, bool>(8).unwrap_or(false),
                })
            })
            .map_err(storage_err("listing"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(storage_err("listing"))
    }

    pub fn stats(&self) -> ToolResult<StoreStats> {
        let conn = self.conn();
        let (scores, bytes): (i64, i64) = conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM scores",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(storage_err("counting"))?;
        Ok(StoreStats {
            scores: scores as u64,
            bytes: bytes as u64,
            evictions_total: counter(&conn, "evictions")?,
            max_scores: self.limits.max_scores,
            max_bytes: self.limits.max_bytes,
            corrupted: conn
                .query_row(
                    "SELECT COUNT(*) FROM corrupt_records c JOIN scores s ON s.id = c.id",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(storage_err("counting corrupted records"))? as u64,
        })
    }

    /// The most recent evictions, newest first.
    pub fn recent_evictions(&self, limit: usize) -> ToolResult<Vec<Eviction>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, evicted_at, reason, bytes FROM evictions ORDER BY seq DESC LIMIT ?1",
            )
            .map_err(storage_err("reading evictions"))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(Eviction {
                    score_id: r.get(0)?,
                    evicted_at: r.get::<_, i64>(1)? as u64,
                    reason: r.get(2)?,
                    bytes: r.get::<_, i64>(3)? as u64,
                })
            })
            .map_err(storage_err("reading evictions"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(storage_err("reading evictions"))
    }

    /// Deletes one score; `Ok(false)` when there was none. Works on a full disk: the
    /// reserve is given up for it when needed, and the freed pages go back to the disk.
    pub fn delete(&self, id: &str) -> ToolResult<bool> {
        let run = |conn: &Connection| -> rusqlite::Result<usize> {
            let tx = conn.unchecked_transaction()?;
            let n = tx.execute("DELETE FROM scores WHERE id = ?1", [id])?;
            tx.execute("DELETE FROM corrupt_records WHERE id = ?1", [id])?;
            tx.commit()?;
            Ok(n)
        };
        let n = self
            .write_making_room(run)
            .map_err(storage_err("deleting"))?;
        if n > 0 {
            self.reclaim();
        }
        Ok(n > 0)
    }

    /// Deletes every score, returning their ids. On a full disk it deletes in batches (each
    /// needs only a little room), so it still empties the store.
    pub fn delete_all(&self) -> ToolResult<Vec<String>> {
        let ids = first_column(
            &self.conn(),
            "SELECT id FROM scores ORDER BY id",
            "deleting",
        )?;
        let mut deleted = Vec::with_capacity(ids.len());
        for batch in ids.chunks(64) {
            let run = |conn: &Connection| -> rusqlite::Result<Vec<String>> {
                let tx = conn.unchecked_transaction()?;
                let mut gone = Vec::new();
                for id in batch {
                    if tx.execute("DELETE FROM scores WHERE id = ?1", [id])? > 0 {
                        gone.push(id.clone());
                    }
                    tx.execute("DELETE FROM corrupt_records WHERE id = ?1", [id])?;
                }
                tx.commit()?;
                Ok(gone)
            };
            deleted.extend(
                self.write_making_room(run)
                    .map_err(storage_err("deleting"))?,
            );
            // Each batch's pages go back before the next needs room.
            self.reclaim();
        }
        Ok(deleted)
    }

    /// Runs SQLite's integrity check; `Ok(())` when it reports "ok".
    pub fn integrity_check(&self) -> ToolResult<()> {
        let result: String = self
            .conn()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(storage_err("integrity check"))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(ToolError::storage(format!(
                "score store {} failed its integrity check: {result}",
                self.path.display()
            )))
        }
    }
}

/// Reads one record and verifies it, without writing anything.
pub(crate) fn read_verified(conn: &Connection, id: &str) -> ToolResult<StoredScore> {
    let row = conn
        .query_row(
            "SELECT format, origin, source, source_sha256, bytes, summary, checksum, created_at,
                    last_used_at, info, info_sha256
             FROM scores WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    (
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                    ),
                    (
                        r.get::<_, String>(6)?,
                        r.get::<_, i64>(7)?,
                        r.get::<_, i64>(8)?,
                        r.get::<_, Option<String>>(9)?,
                        r.get::<_, Option<String>>(10)?,
                    ),
                ))
            },
        )
        .optional()
        .map_err(|e| match e {
            // A flipped byte can also turn a column into the wrong type.
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::Utf8Error(..) => corrupted(id, "a field has the wrong type"),
            e => ToolError::storage(format!("score store: reading '{id}': {e}")),
        })?;
    let Some((
        (format, origin, source, sha, bytes, summary_text),
        (checksum, created, used, info, info_sha),
    )) = row
    else {
        return Err(ToolError::not_found(format!(
            "no score with score_id '{id}'; list_scores shows the stored ids"
        )));
    };
    if record_checksum(id, &format, &summary_text, &source) != checksum
        || sha256_hex(&source) != sha
        || bytes != source.len() as i64
    {
        return Err(corrupted(id, "its checksum does not match its contents"));
    }
    let info_ok = match (&info, &info_sha) {
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
    let summary = serde_json::from_str(&summary_text)
        .map_err(|_| corrupted(id, "its summary is not valid JSON"))?;
    Ok(StoredScore {
        meta: ScoreMeta {
            score_id: id.to_string(),
            format,
            sha256: sha,
            bytes: bytes as u64,
            origin,
            created_at: created as u64,
            last_used_at: used as u64,
            summary,
            corrupted: false,
        },
        source,
        info,
    })
}

/// The first column of every row `sql` selects, as text.
fn first_column(conn: &Connection, sql: &str, doing: &'static str) -> ToolResult<Vec<String>> {
    let mut stmt = conn.prepare(sql).map_err(storage_err(doing))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(storage_err(doing))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(storage_err(doing))
}

fn add_missing_columns(conn: &Connection) -> ToolResult<()> {
    let existing = first_column(
        conn,
        "SELECT name FROM pragma_table_info('scores')",
        "reading the schema",
    )?;
    for (column, kind) in ADDED_COLUMNS {
        if !existing.iter().any(|c| c == column) {
            // Two processes opening an old store at once: the loser's ALTER fails with
            // "duplicate column", which is the state it wanted.
            if let Err(e) =
                conn.execute_batch(&format!("ALTER TABLE scores ADD COLUMN {column} {kind}"))
            {
                if !e.to_string().contains("duplicate column") {
                    return Err(storage_err("upgrading the schema")(e));
                }
            }
        }
    }
    Ok(())
}

fn counter(conn: &Connection, name: &str) -> ToolResult<u64> {
    let v: Option<i64> = conn
        .query_row("SELECT value FROM counters WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()
        .map_err(storage_err("reading a counter"))?;
    Ok(v.unwrap_or(0) as u64)
}

/// A store-wide, monotonically increasing use counter: timestamps have one-second
/// resolution, and LRU order must not depend on the clock.
fn next_seq(conn: &Connection) -> ToolResult<i64> {
    conn.query_row(
        "INSERT INTO counters(name, value) VALUES('use_seq', 1)
         ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
        [],
        |r| r.get(0),
    )
    .map_err(storage_err("advancing the use counter"))
}

fn evict_beyond_limits(
    tx: &Connection,
    limits: &StoreConfig,
    keep: &str,
    now: u64,
) -> ToolResult<Vec<Eviction>> {
    let mut evicted = Vec::new();
    loop {
        let (count, bytes): (i64, i64) = tx
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM scores",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(storage_err("counting"))?;
        let reason = if count as u64 > limits.max_scores {
            "max_scores"
        } else if bytes as u64 > limits.max_bytes {
            "max_bytes"
        } else {
            break;
        };
        let victim: Option<(String, i64)> = tx
            .query_row(
                "SELECT id, bytes FROM scores WHERE id != ?1 ORDER BY use_seq LIMIT 1",
                [keep],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(storage_err("choosing a score to evict"))?;
        let Some((id, size)) = victim else { break };
        tx.execute("DELETE FROM scores WHERE id = ?1", [&id])
            .map_err(storage_err("evicting"))?;
        tx.execute(
            "INSERT INTO evictions(id, evicted_at, reason, bytes) VALUES (?1, ?2, ?3, ?4)",
            params![id, now as i64, reason, size],
        )
        .map_err(storage_err("logging an eviction"))?;
        tx.execute(
            "INSERT INTO counters(name, value) VALUES('evictions', 1)
             ON CONFLICT(name) DO UPDATE SET value = value + 1",
            [],
        )
        .map_err(storage_err("counting an eviction"))?;
        // Keep the log bounded; the counter keeps the total.
        tx.execute(
            "DELETE FROM evictions WHERE seq <= (SELECT MAX(seq) FROM evictions) - 1000",
            [],
        )
        .map_err(storage_err("trimming the eviction log"))?;
        evicted.push(Eviction {
            score_id: id,
            evicted_at: now,
            reason: reason.to_string(),
            bytes: size as u64,
        });
    }
    Ok(evicted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_scores: u64, max_bytes: u64) -> StoreConfig {
        StoreConfig {
            max_scores,
            max_bytes,
            ..StoreConfig::default()
        }
    }

    fn put(store: &Store, id: &str, source: &[u8]) -> Vec<Eviction> {
        let summary = serde_json::json!({"title": id});
        store
            .insert(
                &NewScore {
                    score_id: id,
                    format: "abc",
                    origin: "text",
                    source,
                    summary: &summary,
                    info: None,
                },
                false,
            )
            .unwrap()
            .1
    }

    #[test]
    fn round_trip_and_duplicate_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        put(&store, "a", b"X:1\nK:C\nC|");
        let got = store.get("a").unwrap();
        assert_eq!(got.source, b"X:1\nK:C\nC|");
        assert_eq!(got.meta.sha256, sha256_hex(b"X:1\nK:C\nC|"));
        let summary = serde_json::json!({});
        let dup = store
            .insert(
                &NewScore {
                    score_id: "a",
                    format: "abc",
                    origin: "text",
                    source: b"x",
                    summary: &summary,
                    info: None,
                },
                false,
            )
            .unwrap_err();
        assert_eq!(dup.kind, ErrorKind::AlreadyExists);
        assert!(dup.message.contains("replace"));
    }

    #[test]
    fn least_recently_used_is_evicted_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &limits(2, 1 << 20)).unwrap();
        put(&store, "a", b"1");
        put(&store, "b", b"2");
        store.get("a").unwrap(); // a is now more recent than b
        let evicted = put(&store, "c", b"3");
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].score_id, "b");
        assert_eq!(evicted[0].reason, "max_scores");
        assert!(store.exists("a").unwrap() && store.exists("c").unwrap());
        let stats = store.stats().unwrap();
        assert_eq!((stats.scores, stats.evictions_total), (2, 1));
        assert_eq!(store.recent_evictions(10).unwrap()[0].score_id, "b");
    }

    #[test]
    fn byte_limit_evicts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &limits(100, 10)).unwrap();
        put(&store, "a", b"123456");
        let evicted = put(&store, "b", b"123456");
        assert_eq!(evicted[0].reason, "max_bytes");
        assert!(!store.exists("a").unwrap());
    }

    #[test]
    fn flipped_byte_on_disk_is_reported_as_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        put(&store, "a", b"X:1\nK:C\nCDEF|");
        // Flip one byte of the stored source behind the store's back.
        {
            let conn = Connection::open(dir.path().join(STORE_FILE)).unwrap();
            conn.execute(
                "UPDATE scores SET source = ?1 WHERE id = 'a'",
                [b"X:1\nK:C\nCDEG|".to_vec()],
            )
            .unwrap();
        }
        let err = store.get("a").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Corrupted);
        assert!(err.message.contains("'a' is corrupted"), "{}", err.message);
    }

    #[test]
    fn two_connections_see_each_others_commits() {
        let dir = tempfile::tempdir().unwrap();
        let one = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let two = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        put(&one, "a", b"1");
        assert!(two.exists("a").unwrap());
        assert_eq!(two.delete_all().unwrap(), vec!["a".to_string()]);
        assert!(!one.exists("a").unwrap());
    }
}
