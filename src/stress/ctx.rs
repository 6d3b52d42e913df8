//! What a run's tasks share: the [`RunCtx`] that the users, the nemesis, the adversaries
//! and the status endpoint read and record into, and the fault windows that excuse a
//! failure. It lives apart from `run.rs` so that those tasks depend on it and not on the
//! orchestrator that starts them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::stress::StressConfig;
use crate::config::Config;
use crate::stress::checker::{CheckerReport, Ledger};
use crate::stress::proxy::ProxyHandle;
use crate::stress::recorder::Recorder;
use crate::stress::results::AdversaryReport;
use crate::stress::server::ServerUnderTest;

/// What the engine itself says about a built-in piece, worked out before the run.
#[derive(Clone, Debug)]
pub struct KnownPiece {
    pub name: String,
    pub notes: u64,
    pub parts: u64,
    pub key: String,
    pub chords: u64,
    pub musicxml: bool,
}

/// Windows of injected faults: a failure overlapping one is fault-induced.
#[derive(Default)]
pub struct FaultWindows {
    windows: Mutex<Vec<(String, Instant, Option<Instant>)>>,
}

impl FaultWindows {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Instant, Option<Instant>)>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn open(&self, kind: &str) -> usize {
        let mut w = self.lock();
        w.push((kind.to_string(), Instant::now(), None));
        w.len() - 1
    }

    /// Closes a window, `grace` after now (answers in flight when a fault ends still count).
    pub fn close(&self, index: usize, grace: Duration) {
        if let Some(w) = self.lock().get_mut(index) {
            w.2 = Some(Instant::now() + grace);
        }
    }

    pub fn overlaps(&self, start: Instant, end: Instant) -> bool {
        !self.overlapping(start, end).is_empty()
    }

    /// The kinds of the windows overlapping `start..=end`, sorted, each once.
    pub fn overlapping(&self, start: Instant, end: Instant) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, s, e)| *s <= end && e.is_none_or(|e| e >= start))
            .map(|(k, _, _)| k.clone())
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// Kinds active now.
    pub fn active(&self) -> Vec<String> {
        let now = Instant::now();
        let mut kinds: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, s, e)| *s <= now && e.is_none_or(|e| e >= now))
            .map(|(k, _, _)| k.clone())
            .collect();
        kinds.dedup();
        kinds
    }

    pub fn kinds_injected(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.lock().iter().map(|(k, _, _)| k.clone()).collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

/// What became of the huge-score imports: each is stored (and read back by the checker),
/// refused by a protection with a clear code, excused by another fault overlapping it, or
/// failed (which fails the run).
#[derive(Default)]
pub struct HugeTally {
    pub sent: AtomicU64,
    pub stored: AtomicU64,
    pub refused: AtomicU64,
    pub excused: AtomicU64,
    pub failed: AtomicU64,
}

impl HugeTally {
    pub fn figures(&self) -> [(&'static str, f64); 5] {
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst) as f64;
        [
            ("huge_scores_sent", get(&self.sent)),
            ("huge_scores_stored", get(&self.stored)),
            ("huge_scores_refused", get(&self.refused)),
            ("huge_scores_excused", get(&self.excused)),
            ("huge_scores_failed", get(&self.failed)),
        ]
    }
}

/// Everything the users, the nemesis and the status endpoint share.
pub struct RunCtx {
    pub config: StressConfig,
    pub start: Instant,
    pub duration: Duration,
    pub ramp_up: Duration,
    pub call_timeout: Duration,
    pub proxy_url: String,
    pub proxy: ProxyHandle,
    pub server: Arc<ServerUnderTest>,
    pub recorder: Recorder,
    pub ledger: Ledger,
    pub windows: FaultWindows,
    /// Windows of the adversaries (kept apart from the faults: a normal user's failure in
    /// one is not excused, it is a victim's).
    pub adversary_windows: FaultWindows,
    pub adversary_reports: Mutex<Vec<AdversaryReport>>,
    /// Shared breakers that opened while garbage flowed.
    pub breakers_opened_by_garbage: AtomicU64,
    /// The configuration the server under test runs with.
    pub server_config: Config,
    pub known: Vec<KnownPiece>,
    pub generation_tools: Vec<String>,
    pub exe: PathBuf,
    pub data_dir: PathBuf,
    pub kills: AtomicU64,
    /// What became of the huge-score imports (`huge_scores` chaos).
    pub huge: HugeTally,
    /// Open fds and threads of the harness and the server when the load started, and once
    /// it has stopped and the server has healed (before the checker's reads).
    pub resources_at_start: Mutex<Option<crate::stress::leaks::ProcessCounts>>,
    pub resources_at_end: Mutex<Option<crate::stress::leaks::ProcessCounts>>,
    /// Put before every score id this run makes: empty for a run's own fresh server; for a
    /// `--target` deployment, whose store outlives runs, a tag of this run, so that ids of
    /// two runs with one seed do not meet.
    pub id_prefix: String,
    /// Fault kinds not injected, with why (a `--target` run without the command for it).
    pub skipped_faults: Mutex<std::collections::BTreeMap<String, String>>,
    /// Faults sent to each replica of a `--target` deployment: (replica from 1, what).
    pub replica_faults: Mutex<Vec<(usize, crate::stress::target::Operation)>>,
    /// Each replica of a `--target` deployment as the run found it at its start.
    pub replicas_at_start: Vec<crate::stress::target::ReplicaReport>,
    /// What the reads of each score through other replicas found during the run.
    pub cross_replica: Arc<Mutex<crate::stress::results::CrossReplica>>,
    /// Chaos actions aimed at the server take turns: two firings due at the same second (a
    /// worker kill and `corrupt_disk`, corrupt scores and a SIGTERM) each meet a ready server.
    pub server_chaos: tokio::sync::Mutex<()>,
    /// Cancelled when the load stops (duration over or Ctrl-C).
    pub stop: CancellationToken,
    /// Cancelled when the run is completely over.
    pub finished: CancellationToken,
    pub(super) phase: AtomicU8,
    pub(super) checker: Mutex<Option<CheckerReport>>,
}

impl RunCtx {
    pub fn note_replica_fault(&self, replica: usize, op: crate::stress::target::Operation) {
        self.replica_faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((replica, op));
    }
}

const PHASES: [&str; 5] = ["starting", "load", "heal", "check", "done"];

impl RunCtx {
    pub fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    pub async fn stopped(&self) {
        self.stop.cancelled().await
    }

    /// Sleeps, or returns `true` early when the run stops.
    pub async fn sleep_or_stop(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => self.stopping(),
            _ = self.stop.cancelled() => true,
        }
    }

    pub fn phase(&self) -> &'static str {
        PHASES[self.phase.load(Ordering::SeqCst) as usize % PHASES.len()]
    }

    pub(super) fn set_phase(&self, phase: &str) {
        let i = PHASES.iter().position(|p| *p == phase).unwrap_or(0);
        self.phase.store(i as u8, Ordering::SeqCst);
    }

    /// What each adversary window did so far.
    pub fn adversary_reports(&self) -> Vec<AdversaryReport> {
        self.adversary_reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn checker_report(&self) -> Option<CheckerReport> {
        self.checker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_overlap_and_grace() {
        let w = FaultWindows::default();
        let before = Instant::now();
        let i = w.open("latency");
        assert!(w.overlaps(before, Instant::now()));
        assert_eq!(w.active(), vec!["latency".to_string()]);
        w.close(i, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        let later = Instant::now();
        assert!(!w.overlaps(later, later));
        assert_eq!(w.kinds_injected(), vec!["latency".to_string()]);
    }
}
