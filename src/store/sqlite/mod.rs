//! The SQLite engine: one file in the data dir, in WAL mode with `synchronous=FULL`, so a
//! score whose import was acknowledged survives `kill -9` and power loss.
//!
//! Several processes (the server and its workers) open the same file: SQLite's locking and
//! `busy_timeout` serialise writers. A full disk must not lock the store up: reads never
//! need to write, a reserve file (`space.rs`) is given up so that deletes can run, and freed
//! pages go back to the file system.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

pub(super) mod space;

use super::{
    already_exists, corrupted, eviction_reason, no_such_score, now_secs, scrub, Backend, Eviction,
    EvictionLog, LoggedEviction, NewScore, PreparedRecord, RawRecord, ScoreMeta, ScrubStep,
    StoreStats, StoredScore, EVICTION_LOG_KEPT,
};
use crate::config::StoreConfig;
use crate::error::{ErrorKind, ToolError, ToolResult};

pub const STORE_FILE: &str = "scores.sqlite3";

pub struct SqliteStore {
    pub(super) conn: Mutex<Connection>,
    /// Writes that only order evictions (a score marked used): see `mark_used`.
    hints: Mutex<Connection>,
    pub(super) path: PathBuf,
    pub(crate) limits: StoreConfig,
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

/// How many scores are stored and their sources' bytes, kept by triggers on `scores`, so
/// that an import checks the store's limits in constant time: counting them was a scan of
/// every row inside the import's write transaction (13 ms at the default 10,000 scores, with
/// the write lock held). Triggers rather than the store's own code, so that every write
/// counts, a repair done by hand with `sqlite3` included. The insert's `INSERT OR REPLACE`
/// deletes the row it replaces without firing delete triggers (SQLite does only with
/// `recursive_triggers`, which nothing here turns on), so the row about to be replaced is
/// taken off before the insert. Created in one transaction with the first count, for stores
/// made before the totals existed.
const TOTALS: &str = "
CREATE TABLE IF NOT EXISTS totals (
    one    INTEGER PRIMARY KEY CHECK (one = 1),
    scores INTEGER NOT NULL,
    bytes  INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS totals_before_insert BEFORE INSERT ON scores BEGIN
    UPDATE totals SET
        scores = scores - (SELECT COUNT(*) FROM scores WHERE id = NEW.id),
        bytes = bytes - COALESCE((SELECT length(source) FROM scores WHERE id = NEW.id), 0);
END;
CREATE TRIGGER IF NOT EXISTS totals_after_insert AFTER INSERT ON scores BEGIN
    UPDATE totals SET scores = scores + 1, bytes = bytes + length(NEW.source);
END;
CREATE TRIGGER IF NOT EXISTS totals_after_delete AFTER DELETE ON scores BEGIN
    UPDATE totals SET scores = scores - 1, bytes = bytes - length(OLD.source);
END;
CREATE TRIGGER IF NOT EXISTS totals_after_update AFTER UPDATE OF source ON scores BEGIN
    UPDATE totals SET bytes = bytes - length(OLD.source) + length(NEW.source);
END;
INSERT OR IGNORE INTO totals(one, scores, bytes)
    SELECT 1, COUNT(*), COALESCE(SUM(length(source)), 0) FROM scores;
";

/// Columns added since the first schema, with their types: added on open where missing.
const ADDED_COLUMNS: [(&str, &str); 2] = [("info", "TEXT"), ("info_sha256", "TEXT")];

impl SqliteStore {
    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path, limits: &StoreConfig) -> ToolResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            ToolError::storage(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(STORE_FILE);
        let mut conn = Connection::open(&path).map_err(|e| {
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
        keep_totals(&mut conn)?;
        let hints = open_hint_connection(&path)?;
        let store = Self {
            conn: Mutex::new(conn),
            hints: Mutex::new(hints),
            path,
            limits: limits.clone(),
        };
        store.keep_reserve();
        Ok(store)
    }

    /// Moves `id` to the recent end of the eviction order. Best effort and not durable: it
    /// is committed on the hint connection (`synchronous=NORMAL`, so no WAL sync of its
    /// own; the next durable commit syncs it along) and skipped when another process holds
    /// the write lock, so a read never waits for an import's sync nor pays for one. A power
    /// cut can forget the last few uses, which only makes an eviction slightly less apt.
    /// Two autocommit statements, not one transaction: on a full disk, a write failing
    /// inside an explicit transaction left this connection holding the write lock, and a
    /// delete (the way out of a full disk) waited on it (tests/isolation.rs).
    fn mark_used(&self, id: &str) {
        let hints = self.hints.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(seq) = next_seq(&hints) {
            let _ = execute_cached(
                &hints,
                "UPDATE scores SET last_used_at = ?1, use_seq = ?2 WHERE id = ?3",
                params![now_secs() as i64, seq, id],
            );
        }
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back on
        // drop), so a poisoned lock is safe to take over.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Backend for SqliteStore {
    fn insert(&self, new: &NewScore<'_>, replace: bool) -> ToolResult<(ScoreMeta, Vec<Eviction>)> {
        let record = PreparedRecord::of(new)?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage_err("starting a write"))?;
        let exists: bool = query_row_cached(
            &tx,
            "SELECT 1 FROM scores WHERE id = ?1",
            [new.score_id],
            |_| Ok(()),
        )
        .optional()
        .map_err(storage_err("looking up id"))?
        .is_some();
        if exists && !replace {
            return Err(already_exists(new.score_id));
        }
        let seq = next_seq(&tx)?;
        execute_cached(
            &tx,
            "INSERT OR REPLACE INTO scores
             (id, format, origin, source, source_sha256, bytes, summary, checksum, created_at, last_used_at, use_seq, info, info_sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?11, ?12)",
            params![
                new.score_id,
                new.format,
                new.origin,
                new.source,
                record.sha256,
                new.source.len() as i64,
                record.summary_text,
                record.checksum,
                record.now as i64,
                seq,
                new.info,
                record.info_sha256
            ],
        )
        .map_err(storage_err("writing the score"))?;
        // A replaced record is a new record: whatever was found wrong with the old one is
        // no longer true.
        execute_cached(
            &tx,
            "DELETE FROM corrupt_records WHERE id = ?1",
            [new.score_id],
        )
        .map_err(storage_err("writing the score"))?;
        let evicted = evict_beyond_limits(&tx, &self.limits, new.score_id, record.now)?;
        tx.commit().map_err(storage_err("committing the score"))?;
        Ok((record.meta(new), evicted))
    }

    fn get(&self, id: &str) -> ToolResult<StoredScore> {
        let result = read_verified(&self.conn(), id);
        match &result {
            Ok(_) => self.mark_used(id),
            Err(e) if e.kind == ErrorKind::Corrupted => {
                record_finding(&self.conn(), id, &e.message);
            }
            Err(_) => {}
        }
        result
    }

    fn current_sha256(&self, id: &str) -> ToolResult<Option<String>> {
        let found: Option<(String, bool)> = query_row_cached(
            &self.conn(),
            "SELECT s.source_sha256, c.id IS NOT NULL
             FROM scores s LEFT JOIN corrupt_records c ON c.id = s.id WHERE s.id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(storage_err("looking up a checksum"))?;
        Ok(match found {
            Some((sha256, false)) => {
                self.mark_used(id);
                Some(sha256)
            }
            _ => None,
        })
    }

    fn exists(&self, id: &str) -> ToolResult<bool> {
        Ok(self
            .conn()
            .query_row("SELECT 1 FROM scores WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .map_err(storage_err("looking up id"))?
            .is_some())
    }

    fn list(&self, limit: usize, cursor: Option<&str>) -> ToolResult<Vec<ScoreMeta>> {
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

    fn stats(&self) -> ToolResult<StoreStats> {
        let conn = self.conn();
        let (scores, bytes) = totals(&conn).map_err(storage_err("counting"))?;
        Ok(StoreStats {
            scores,
            bytes,
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

    fn evictions(&self, which: EvictionLog) -> ToolResult<Vec<LoggedEviction>> {
        let (sql, after, limit) = which.query();
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&sql.replace('$', "?"))
            .map_err(storage_err("reading evictions"))?;
        let rows = stmt
            .query_map([after, limit], |r| {
                Ok(LoggedEviction {
                    seq: r.get::<_, i64>(0)? as u64,
                    eviction: Eviction::at(
                        r.get::<_, i64>(2)? as u64,
                        r.get(1)?,
                        &r.get::<_, String>(3)?,
                        r.get(4)?,
                    ),
                })
            })
            .map_err(storage_err("reading evictions"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(storage_err("reading evictions"))
    }

    /// Works on a full disk: the reserve is given up for it when needed, and the freed
    /// pages go back to the disk.
    fn delete(&self, id: &str) -> ToolResult<bool> {
        let n = self
            .write_making_room(|conn| delete_ids(conn, std::slice::from_ref(&id.to_string())))
            .map_err(storage_err("deleting"))?
            .len();
        if n > 0 {
            self.reclaim();
        }
        Ok(n > 0)
    }

    /// On a full disk it deletes in batches (each needs only a little room), so it still
    /// empties the store.
    fn delete_all(&self) -> ToolResult<Vec<String>> {
        let ids = first_column(
            &self.conn(),
            "SELECT id FROM scores ORDER BY id",
            "deleting",
        )?;
        let mut deleted = Vec::with_capacity(ids.len());
        for batch in ids.chunks(64) {
            deleted.extend(
                self.write_making_room(|conn| delete_ids(conn, batch))
                    .map_err(storage_err("deleting"))?,
            );
            // Each batch's pages go back before the next needs room.
            self.reclaim();
        }
        Ok(deleted)
    }

    fn integrity_check(&self) -> ToolResult<()> {
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

    fn scrub_step(&self, cursor: Option<&str>, budget: u64) -> ToolResult<ScrubStep> {
        scrub::step(cursor, budget, |at| {
            let conn = self.conn();
            let next: Option<String> = conn
                .query_row(
                    "SELECT id FROM scores WHERE id > ?1 ORDER BY id LIMIT 1",
                    [at],
                    |r| r.get(0),
                )
                .optional()
                .map_err(storage_err("scrubbing"))?;
            Ok(next.map(|id| {
                let verdict = read_verified(&conn, &id);
                if let Err(e) = &verdict {
                    if e.kind == ErrorKind::Corrupted {
                        record_finding(&conn, &id, &e.message);
                    }
                }
                (id, verdict)
            }))
        })
    }

    fn corrupted_records(&self, limit: usize) -> ToolResult<(u64, Vec<String>)> {
        let conn = self.conn();
        let total: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM corrupt_records c JOIN scores s ON s.id = c.id",
                [],
                |r| r.get(0),
            )
            .map_err(storage_err("reading corrupted records"))?;
        let mut stmt = conn
            .prepare(
                "SELECT c.id FROM corrupt_records c JOIN scores s ON s.id = c.id
                 ORDER BY c.found_at, c.id LIMIT ?1",
            )
            .map_err(storage_err("reading corrupted records"))?;
        let ids = stmt
            .query_map([limit as i64], |r| r.get::<_, String>(0))
            .map_err(storage_err("reading corrupted records"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage_err("reading corrupted records"))?;
        Ok((total as u64, ids))
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn free_bytes(&self) -> Option<u64> {
        self.path.parent().and_then(space::free_bytes)
    }
}

/// Notes that `id` failed its checksum (best effort: on a full disk this may not be kept,
/// and the next read finds it again).
fn record_finding(conn: &Connection, id: &str, detail: &str) {
    let _ = conn.execute(
        "INSERT INTO corrupt_records(id, found_at, detail) VALUES (?1, ?2, ?3)
         ON CONFLICT(id) DO NOTHING",
        params![id, now_secs() as i64, detail],
    );
}

/// Deletes these ids (and what was found wrong with them) in one transaction; returns the
/// ids that were there.
fn delete_ids(conn: &Connection, ids: &[String]) -> rusqlite::Result<Vec<String>> {
    let tx = conn.unchecked_transaction()?;
    let mut gone = Vec::new();
    for id in ids {
        if tx.execute("DELETE FROM scores WHERE id = ?1", [id])? > 0 {
            gone.push(id.clone());
        }
        tx.execute("DELETE FROM corrupt_records WHERE id = ?1", [id])?;
    }
    tx.commit()?;
    Ok(gone)
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
                Ok(RawRecord {
                    format: r.get(0)?,
                    origin: r.get(1)?,
                    source: r.get(2)?,
                    sha256: r.get(3)?,
                    bytes: r.get(4)?,
                    summary: r.get(5)?,
                    checksum: r.get(6)?,
                    created_at: r.get(7)?,
                    last_used_at: r.get(8)?,
                    info: r.get(9)?,
                    info_sha256: r.get(10)?,
                })
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
    row.ok_or_else(|| no_such_score(id))?.verify(id)
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

/// What `TOTALS` creates besides the table.
const TOTALS_TRIGGERS: [&str; 4] = [
    "totals_before_insert",
    "totals_after_insert",
    "totals_after_delete",
    "totals_after_update",
];

/// Creates the totals and their triggers if this store has none yet, counting what it
/// holds, in one write transaction: a score another process stores meanwhile is counted
/// once, by the first count or by a trigger. A store that has them is only looked at: the
/// first count scans every row with the write lock held, which every worker start would
/// otherwise pay (12.7 ms at 10,000 scores, `scripts/bench-store`).
fn keep_totals(conn: &mut Connection) -> ToolResult<()> {
    let triggers: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name IN (?1, ?2, ?3, ?4)",
            TOTALS_TRIGGERS,
            |r| r.get(0),
        )
        .map_err(storage_err("reading the schema"))?;
    if triggers == TOTALS_TRIGGERS.len() as i64 && totals(conn).is_ok() {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(storage_err("starting the totals"))?;
    tx.execute_batch(TOTALS)
        .map_err(storage_err("creating the totals"))?;
    tx.commit().map_err(storage_err("creating the totals"))
}

/// The number of stored scores and their sources' bytes (see `TOTALS`).
fn totals(conn: &Connection) -> rusqlite::Result<(u64, u64)> {
    query_row_cached(
        conn,
        "SELECT scores, bytes FROM totals WHERE one = 1",
        [],
        |r| {
            Ok((
                r.get::<_, i64>(0)?.max(0) as u64,
                r.get::<_, i64>(1)?.max(0) as u64,
            ))
        },
    )
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

/// The second connection of `SqliteStore::open`, for `mark_used`: WAL with
/// `synchronous=NORMAL` (consistent after a power cut, though its last commits may be lost)
/// and no busy wait.
fn open_hint_connection(path: &Path) -> ToolResult<Connection> {
    let conn = Connection::open(path).map_err(|e| {
        ToolError::storage(format!("cannot open score store {}: {e}", path.display()))
    })?;
    conn.busy_timeout(std::time::Duration::ZERO)
        .map_err(storage_err("setting busy timeout"))?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(storage_err(
            "setting synchronous=NORMAL on the hint connection",
        ))?;
    Ok(conn)
}

/// `Connection::execute` through the connection's prepared-statement cache: the statements
/// run on every import and read are compiled once per connection, not once per call.
fn execute_cached(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// `Connection::query_row` through the prepared-statement cache (see [`execute_cached`]).
fn query_row_cached<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, row)
}

/// A store-wide, monotonically increasing use counter: timestamps have one-second
/// resolution, and LRU order must not depend on the clock.
fn next_seq(conn: &Connection) -> ToolResult<i64> {
    query_row_cached(
        conn,
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
        let (count, bytes) = totals(tx).map_err(storage_err("counting"))?;
        let Some(reason) = eviction_reason(limits, count, bytes) else {
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
            "DELETE FROM evictions WHERE seq <= (SELECT MAX(seq) FROM evictions) - ?1",
            [EVICTION_LOG_KEPT],
        )
        .map_err(storage_err("trimming the eviction log"))?;
        evicted.push(Eviction::at(now, id, reason, size));
    }
    Ok(evicted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{self, Harness};
    use crate::store::Store;

    /// A store in a temporary directory; corrupting a record rewrites it behind the store's
    /// back with SQLite itself.
    struct Sqlite(tempfile::TempDir);

    impl Harness for Sqlite {
        fn open(&self, limits: &StoreConfig) -> Store {
            Store::open(self.0.path(), limits).expect("open the SQLite store")
        }
        fn corrupt(&self, id: &str) {
            let conn = Connection::open(self.0.path().join(STORE_FILE)).expect("open");
            conn.execute(
                "UPDATE scores SET source = CAST(source || X'00' AS BLOB) WHERE id = ?1",
                [id],
            )
            .expect("corrupt");
        }
    }

    fn harness() -> Option<Sqlite> {
        Some(Sqlite(tempfile::tempdir().expect("tempdir")))
    }

    /// What a scan of the table says, to hold the totals to.
    fn counted(conn: &Connection) -> (u64, u64) {
        conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(length(source)), 0) FROM scores",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )
        .expect("count")
    }

    /// Random inserts, replacements, deletes, evictions and writes behind the store's back:
    /// after each, the totals equal a count of the table.
    #[test]
    fn totals_follow_every_write() {
        use proptest::prelude::*;
        proptest!(ProptestConfig::with_cases(24), |(ops in proptest::collection::vec((0u8..5, 0usize..6, 1usize..300), 1..40))| {
            let dir = tempfile::tempdir().expect("tempdir");
            let limits = StoreConfig { max_scores: 4, max_bytes: 900, ..StoreConfig::default() };
            let store = SqliteStore::open(dir.path(), &limits).expect("open");
            let summary = serde_json::json!({});
            let raw = Connection::open(dir.path().join(STORE_FILE)).expect("open");
            for (op, id, len) in ops {
                let id = format!("s{id}");
                let source = vec![b'x'; len];
                match op {
                    0 | 1 => { let _ = store.insert(&NewScore::abc_text(&id, &source, &summary), op == 1); }
                    2 => { let _ = store.delete(&id); }
                    3 => { raw.execute("UPDATE scores SET source = CAST(source || X'00' AS BLOB) WHERE id = ?1", [&id]).expect("behind its back"); }
                    _ => { let _ = store.delete_all(); }
                }
                let stats = store.stats().expect("stats");
                prop_assert_eq!((stats.scores, stats.bytes), counted(&raw));
            }
        });
    }

    /// A store made before the totals existed gets them on open, counted from its rows.
    #[test]
    fn an_older_store_is_counted_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let summary = serde_json::json!({});
        {
            let store = SqliteStore::open(dir.path(), &StoreConfig::default()).expect("open");
            for (id, len) in [("a", 10), ("b", 25), ("c", 7)] {
                store
                    .insert(&NewScore::abc_text(id, &vec![b'x'; len], &summary), false)
                    .expect("insert");
            }
        }
        let raw = Connection::open(dir.path().join(STORE_FILE)).expect("open");
        for trigger in TOTALS_TRIGGERS {
            raw.execute_batch(&format!("DROP TRIGGER {trigger}"))
                .expect("make it an older store");
        }
        raw.execute_batch("DROP TABLE totals")
            .expect("make it an older store");
        let store = SqliteStore::open(dir.path(), &StoreConfig::default()).expect("reopen");
        let stats = store.stats().expect("stats");
        assert_eq!((stats.scores, stats.bytes), (3, 42));
        store
            .insert(&NewScore::abc_text("d", b"12345", &summary), false)
            .expect("insert");
        assert_eq!(store.stats().expect("stats").bytes, 47);
        assert_eq!(counted(&raw), (4, 47));
    }

    conformance::suite!(harness);
}
