//! Disk space: a full disk must not lock the store up.
//!
//! Deleting a score writes to SQLite's write-ahead log, so on a full disk even deletes fail
//! and nothing can be freed. The store therefore keeps a reserve file of `store.reserve_mb`
//! in the data dir; a delete that fails for want of space gives the reserve up and runs
//! again. New stores use `auto_vacuum = INCREMENTAL`, so the pages of deleted scores are
//! handed back to the file system (`reclaim`) when space is short, and the reserve is
//! re-made once there is room.

use std::path::Path;

use rusqlite::Connection;

use super::{storage_err, SqliteStore};
use crate::error::ToolResult;

/// The reserve file, in the data dir beside the store.
pub const RESERVE_FILE: &str = "scores.reserve";

/// Stores at most this large are converted to incremental vacuum on open (a `VACUUM`
/// rewrites the file, and needs as much space again); larger ones are left as they are.
const CONVERT_LIMIT: u64 = 256 * 1024 * 1024;

/// Whether SQLite failed for want of disk space.
pub(crate) fn is_disk_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// Free bytes for an unprivileged writer on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(stat.blocks_available() as u64 * stat.fragment_size() as u64)
}

/// Turns on incremental vacuum: at once for a new store (before its first table), by one
/// `VACUUM` for a small existing one.
pub(crate) fn enable_incremental_vacuum(conn: &Connection, path: &Path) -> ToolResult<()> {
    let mode: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .map_err(storage_err("reading auto_vacuum"))?;
    if mode == 2 {
        return Ok(());
    }
    let tables: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(storage_err("reading the schema"))?;
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
        .map_err(storage_err("setting auto_vacuum"))?;
    if tables == 0 {
        return Ok(());
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(u64::MAX);
    if size <= CONVERT_LIMIT {
        conn.execute_batch("VACUUM")
            .map_err(storage_err("converting the store to incremental vacuum"))?;
    } else {
        tracing::warn!(
            path = %path.display(),
            size,
            "this store predates incremental vacuum; deleted scores free pages inside it but not on disk (run `sqlite3 FILE 'PRAGMA auto_vacuum=INCREMENTAL; VACUUM'` while the server is stopped to change that)"
        );
    }
    Ok(())
}

impl SqliteStore {
    fn reserve_path(&self) -> std::path::PathBuf {
        self.path.with_file_name(RESERVE_FILE)
    }

    /// Makes the reserve file when it is missing and the disk has room for it and as much
    /// again (best effort: a store without a reserve still works).
    pub(crate) fn keep_reserve(&self) {
        let size = self.limits.reserve_mb * 1024 * 1024;
        if size == 0 {
            return;
        }
        let path = self.reserve_path();
        if std::fs::metadata(&path).is_ok_and(|m| m.len() >= size) {
            return;
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        if free_bytes(dir).is_none_or(|free| free < 2 * size) {
            return;
        }
        let made = std::fs::File::create(&path).and_then(|f| {
            nix::fcntl::posix_fallocate(&f, 0, size as i64).map_err(std::io::Error::from)?;
            f.sync_all()
        });
        if let Err(e) = made {
            let _ = std::fs::remove_file(&path);
            tracing::debug!(error = %e, "cannot make the store's reserve file");
        }
    }

    /// Gives the reserve up; true when there was one.
    fn release_reserve(&self) -> bool {
        let released = std::fs::remove_file(self.reserve_path()).is_ok();
        if released {
            tracing::warn!(
                "the disk is full: the store's reserve was given up so that scores can be deleted"
            );
        }
        released
    }

    /// Whether free space in the data dir is short: less than the reserve four times over,
    /// or the reserve has been given up.
    fn space_is_short(&self) -> bool {
        let reserve = self.limits.reserve_mb * 1024 * 1024;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let free = free_bytes(dir).unwrap_or(u64::MAX);
        free < (4 * reserve).max(self.limits.min_free_mb * 1024 * 1024)
            || (reserve > 0 && !self.reserve_path().exists())
    }

    /// Runs a write; when it fails for want of space, gives up the reserve and runs it once
    /// more.
    pub(crate) fn write_making_room<T>(
        &self,
        run: impl Fn(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let conn = self.conn();
        match run(&conn) {
            Err(e) if is_disk_full(&e) && self.release_reserve() => {
                // The log may hold what the failed attempt wrote; checkpoint it back first.
                let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
                run(&conn)
            }
            other => other,
        }
    }

    /// When space is short, hands the pages of deleted scores back to the file system (in
    /// small steps: each step needs log space of its own), shrinks the log, and re-makes the
    /// reserve if there is room for it now.
    pub(crate) fn reclaim(&self) {
        if !self.space_is_short() {
            return;
        }
        let free_pages = || {
            self.conn()
                .query_row("PRAGMA freelist_count", [], |r| r.get::<_, i64>(0))
                .unwrap_or(0)
        };
        let mut before = free_pages();
        while before > 0 {
            // Giving pages back is a write too: with no room for its log it gives up the
            // reserve, as a delete does.
            if self
                .write_making_room(|conn| incremental_vacuum(conn, 256))
                .is_err()
            {
                break;
            }
            let _ = self.conn().execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
            // A step that gave nothing back would give nothing back the next time either.
            let after = free_pages();
            if after >= before {
                break;
            }
            before = after;
        }
        let _ = self.conn().execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
        self.keep_reserve();
    }
}

/// `PRAGMA incremental_vacuum(pages)`, run to its end: the pragma frees one page per step
/// (each step returns a row), so a single step, as `execute_batch` makes, freed one page.
fn incremental_vacuum(conn: &Connection, pages: u32) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(&format!("PRAGMA incremental_vacuum({pages})"))?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}
