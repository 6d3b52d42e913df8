//! The background scrub: re-verifies every record's checksum at a low, bounded rate, so a
//! record corrupted on disk shows in `/health`, `/metrics` and `list_scores` before anyone
//! asks for it. What it (or any read) finds is kept in the `corrupt_records` table until the
//! record is deleted or replaced.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::StoreConfig;
use crate::error::{ErrorKind, ToolResult};
use crate::store::{now_secs, Store, StoredScore};

/// What the scrub has done so far, for `/health`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScrubReport {
    /// Full passes over the store finished.
    pub passes: u64,
    /// Records verified since the server started.
    pub verified: u64,
    /// Corrupted records known now (found by the scrub or by reads), with the first few ids.
    pub corrupted: u64,
    pub corrupted_ids: Vec<String>,
    /// Seconds since the Unix epoch when the last pass ended.
    pub last_pass_at: Option<u64>,
    pub last_error: Option<String>,
}

/// One step of the scrub over any engine: `next(after)` gives the record after the id
/// `after` and what verifying it found (the engine notes a corruption it finds); the step
/// ends once `budget` bytes were read or the records run out.
pub(crate) fn step(
    cursor: Option<&str>,
    budget: u64,
    mut next: impl FnMut(&str) -> ToolResult<Option<(String, ToolResult<StoredScore>)>>,
) -> ToolResult<ScrubStep> {
    let mut step = ScrubStep::default();
    let mut at = cursor.unwrap_or("").to_string();
    loop {
        let Some((id, verdict)) = next(&at)? else {
            step.cursor = None;
            return Ok(step);
        };
        match verdict {
            Ok(record) => step.bytes += record.meta.bytes,
            Err(e) if e.kind == ErrorKind::Corrupted => step.found.push(id.clone()),
            // Gone meanwhile, or the store is busy: the next pass sees it again.
            Err(_) => {}
        }
        step.records += 1;
        at = id;
        step.cursor = Some(at.clone());
        if step.bytes >= budget {
            return Ok(step);
        }
    }
}

/// One step of the scrub.
#[derive(Debug, Default)]
pub struct ScrubStep {
    /// Where the next step starts; None when the pass is over.
    pub cursor: Option<String>,
    pub records: u64,
    pub bytes: u64,
    /// Ids found corrupted in this step.
    pub found: Vec<String>,
}

/// Starts the scrub on a thread of its own at the lowest CPU priority, with its own
/// connection; it reads at most `scrub_mb_per_sec`. Returns the report it keeps current.
pub fn spawn_scrub(
    data_dir: &std::path::Path,
    config: &StoreConfig,
) -> ToolResult<Arc<Mutex<ScrubReport>>> {
    let report = Arc::new(Mutex::new(ScrubReport::default()));
    if config.scrub_interval_secs <= 0.0 {
        return Ok(report);
    }
    let store = Store::open(data_dir, config)?;
    let interval = Duration::from_secs_f64(config.scrub_interval_secs);
    let rate = (config.scrub_mb_per_sec.max(1) * 1024 * 1024) as f64;
    let shared = report.clone();
    std::thread::Builder::new()
        .name("store-scrub".into())
        .spawn(move || {
            lower_priority();
            let set = |f: &dyn Fn(&mut ScrubReport)| {
                f(&mut shared.lock().unwrap_or_else(|p| p.into_inner()));
            };
            // The first pass waits a little: startup has better things to do.
            std::thread::sleep(Duration::from_secs(2).min(interval));
            let mut cursor: Option<String> = None;
            loop {
                let started = Instant::now();
                // Steps of about a tenth of a second's reading.
                match store.scrub_step(cursor.as_deref(), (rate / 10.0) as u64) {
                    Ok(step) => {
                        set(&|r| r.verified += step.records);
                        for id in &step.found {
                            tracing::error!(score_id = %crate::logging::log_safe(id), "scrub: record failed its checksum");
                        }
                        let elapsed = started.elapsed().as_secs_f64();
                        let owed = step.bytes as f64 / rate;
                        let pause = Duration::from_secs_f64((owed - elapsed).max(0.005));
                        cursor = step.cursor;
                        if cursor.is_none() {
                            set(&|r| {
                                r.passes += 1;
                                r.last_pass_at = Some(now_secs());
                            });
                            std::thread::sleep(interval);
                        } else {
                            std::thread::sleep(pause);
                        }
                    }
                    Err(e) => {
                        let message = e.message.clone();
                        set(&|r| r.last_error = Some(message.clone()));
                        std::thread::sleep(Duration::from_secs(5));
                    }
                }
                if let Ok((n, ids)) = store.corrupted_records(20) {
                    set(&|r| {
                        r.corrupted = n;
                        r.corrupted_ids = ids.clone();
                    });
                }
            }
        })
        .map_err(|e| crate::error::ToolError::internal(format!("cannot start the scrub: {e}")))?;
    Ok(report)
}

/// The scrub thread runs at nice 19, behind every request.
fn lower_priority() {
    let tid = nix::unistd::gettid().as_raw();
    // SAFETY: setpriority has no memory effects; on Linux PRIO_PROCESS with a thread id
    // applies to that thread alone.
    unsafe {
        nix::libc::setpriority(nix::libc::PRIO_PROCESS, tid as nix::libc::id_t, 19);
    }
}
