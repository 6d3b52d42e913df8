//! The set checker (after Jepsen's): every acknowledged import is recorded; after the final
//! heal, every score acknowledged and not deleted or reported evicted is read back and its
//! content hash compared. Lost and silently corrupted must be zero.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use crate::stress::client::{McpClient, Reply};

/// What the server acknowledged about a score.
#[derive(Clone, Debug, PartialEq)]
pub struct Acked {
    pub sha256: String,
    pub notes: u64,
    pub parts: u64,
}

impl Acked {
    /// What an import's answer acknowledges: the stored bytes' sha256 it reports, and the
    /// counts the score must keep.
    pub fn from_import(answer: &Value, notes: u64, parts: u64) -> Self {
        Self {
            sha256: answer
                .get("sha256")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            notes,
            parts,
        }
    }
}

#[derive(Default)]
struct LedgerState {
    acked: BTreeMap<String, Acked>,
    deleted: BTreeSet<String>,
    /// Deletes whose answer was lost: the score may or may not be gone.
    maybe_deleted: BTreeSet<String>,
    evicted: BTreeSet<String>,
    /// The sequence number of the last eviction read from the store's log.
    eviction_cursor: u64,
    /// Records the nemesis corrupted on disk: they must be detected, never served.
    corrupted_on_disk: BTreeSet<String>,
}

#[derive(Default)]
pub struct Ledger {
    state: Mutex<LedgerState>,
}

/// The checker's report is part of `/status` and `results.json`.
pub use crate::wire::status::CheckerReport;

impl Ledger {
    fn lock(&self) -> std::sync::MutexGuard<'_, LedgerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn ack(&self, id: &str, acked: Acked) {
        let mut s = self.lock();
        s.deleted.remove(id);
        s.maybe_deleted.remove(id);
        s.corrupted_on_disk.remove(id);
        s.acked.insert(id.to_string(), acked);
    }

    pub fn acked(&self, id: &str) -> Option<Acked> {
        self.lock().acked.get(id).cloned()
    }

    pub fn deleted(&self, id: &str) {
        let mut s = self.lock();
        s.maybe_deleted.remove(id);
        s.deleted.insert(id.to_string());
    }

    pub fn maybe_deleted(&self, id: &str) {
        self.lock().maybe_deleted.insert(id.to_string());
    }

    pub fn evicted(&self, id: &str) {
        self.lock().evicted.insert(id.to_string());
    }

    /// An eviction read from the store's log (`seq` its place there).
    pub fn evicted_in_log(&self, seq: u64, id: &str) {
        let mut s = self.lock();
        s.evicted.insert(id.to_string());
        s.eviction_cursor = s.eviction_cursor.max(seq);
    }

    /// Where reading the store's eviction log resumes.
    pub fn eviction_cursor(&self) -> u64 {
        self.lock().eviction_cursor
    }

    pub fn corrupted_on_disk(&self, id: &str) {
        self.lock().corrupted_on_disk.insert(id.to_string());
    }

    pub fn is_corrupted_on_disk(&self, id: &str) -> bool {
        self.lock().corrupted_on_disk.contains(id)
    }

    /// Ids that should be in the store now.
    pub fn live_ids(&self) -> Vec<String> {
        let s = self.lock();
        s.acked
            .keys()
            .filter(|id| !s.deleted.contains(*id) && !s.evicted.contains(*id))
            .cloned()
            .collect()
    }

    pub fn acknowledged_count(&self) -> u64 {
        self.lock().acked.len() as u64
    }

    /// Reads back every live acknowledged score from the server at `url` and classifies it.
    /// Protections (rate limit, overload) are waited out and lost sessions reopened: the
    /// checker must see every score, not race the server's own defences.
    pub async fn check(&self, url: &str, timeout: Duration) -> CheckerReport {
        let (targets, report_base) = {
            let s = self.lock();
            let targets: Vec<(String, Acked, bool, bool)> = s
                .acked
                .iter()
                .filter(|(id, _)| !s.deleted.contains(*id) && !s.evicted.contains(*id))
                .map(|(id, a)| {
                    (
                        id.clone(),
                        a.clone(),
                        s.maybe_deleted.contains(id),
                        s.corrupted_on_disk.contains(id),
                    )
                })
                .collect();
            let base = CheckerReport {
                acknowledged: s.acked.len() as u64,
                deleted: s.deleted.len() as u64,
                maybe_deleted: s.maybe_deleted.len() as u64,
                evicted: s.evicted.len() as u64,
                ..CheckerReport::default()
            };
            (targets, base)
        };
        let mut report = report_base;
        // Several readers, each from an address of its own: the server limits each client's
        // rate, and the checker should not take minutes over a long run's scores.
        let readers = READERS.min(targets.len().max(1));
        let mut chunks: Vec<Vec<(String, Acked, bool, bool)>> = vec![Vec::new(); readers];
        for (i, t) in targets.into_iter().enumerate() {
            chunks[i % readers].push(t);
        }
        let mut tasks = Vec::new();
        for (k, chunk) in chunks.into_iter().enumerate() {
            let url = url.to_string();
            tasks.push(tokio::spawn(async move {
                let source = crate::stress::addresses::checker(k);
                let mut client: Option<McpClient> = None;
                let mut answers = Vec::with_capacity(chunk.len());
                for (id, acked, maybe_deleted, corrupted) in chunk {
                    let reply = read_back(&url, source, timeout, &mut client, &id).await;
                    answers.push((id, acked, maybe_deleted, corrupted, reply));
                }
                if let Some(c) = client {
                    c.close().await;
                }
                answers
            }));
        }
        for task in tasks {
            if let Ok(answers) = task.await {
                for (id, acked, maybe_deleted, corrupted, reply) in answers {
                    classify(&mut report, &id, &acked, maybe_deleted, corrupted, &reply);
                }
            }
        }
        report
    }
}

/// Readers the checker runs at once.
const READERS: usize = 8;

/// Reads one score back, waiting out protections and reopening lost sessions.
async fn read_back(
    url: &str,
    source: std::net::IpAddr,
    timeout: Duration,
    client: &mut Option<McpClient>,
    id: &str,
) -> Reply {
    let mut reply = Reply::Timeout;
    for _attempt in 0..40 {
        if client.is_none() {
            *client = McpClient::connect_from(url, source, timeout).await.ok();
        }
        reply = match client.as_ref() {
            Some(c) => c.call("score_info", json!({"score_id": id}), timeout).await,
            None => Reply::Timeout,
        };
        let transient = reply.is_expected_refusal()
            || matches!(reply, Reply::Transport { .. } | Reply::Timeout);
        if !transient {
            break;
        }
        if matches!(reply, Reply::Transport { .. } | Reply::Timeout) {
            if let Some(c) = client.take() {
                c.close().await;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    reply
}

/// One read-back into the report.
pub fn classify(
    report: &mut CheckerReport,
    id: &str,
    acked: &Acked,
    maybe_deleted: bool,
    corrupted: bool,
    reply: &Reply,
) {
    report.checked += 1;
    let problem = |report: &mut CheckerReport, text: String| {
        if report.problems.len() < 100 {
            report.problems.push(text);
        }
    };
    match reply {
        Reply::Ok(info) => {
            let sha = info.get("sha256").and_then(|v| v.as_str()).unwrap_or("");
            let notes = info
                .get("notes")
                .and_then(|v| v.as_u64())
                .unwrap_or(u64::MAX);
            if sha == acked.sha256 && notes == acked.notes && !corrupted {
                report.ok += 1;
            } else {
                report.silently_corrupted += 1;
                problem(
                    report,
                    format!(
                        "{id}: served with sha256 {sha} and {notes} notes; acknowledged {} and {}{}",
                        acked.sha256,
                        acked.notes,
                        if corrupted { " (its record had been corrupted on disk)" } else { "" }
                    ),
                );
            }
        }
        Reply::ToolError { code, message } if code == "corrupted" => {
            if corrupted {
                report.corrupted_detected += 1;
            } else {
                // Detected, so not silent, but nothing corrupted it on purpose.
                report.unreadable += 1;
                problem(
                    report,
                    format!("{id}: reported corrupted without injected corruption: {message}"),
                );
            }
        }
        Reply::ToolError { code, .. } if code == "not_found" => {
            if maybe_deleted {
                report.ok += 1;
            } else {
                report.lost += 1;
                problem(report, format!("{id}: acknowledged but not found"));
            }
        }
        other => {
            report.unreadable += 1;
            problem(
                report,
                format!("{id}: could not be read back: {}", other.describe()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked() -> Acked {
        Acked {
            sha256: "abc".into(),
            notes: 10,
            parts: 1,
        }
    }

    #[test]
    fn classifies_every_case() {
        let mut r = CheckerReport::default();
        let good = Reply::Ok(json!({"sha256": "abc", "notes": 10}));
        classify(&mut r, "a", &acked(), false, false, &good);
        let changed = Reply::Ok(json!({"sha256": "abd", "notes": 10}));
        classify(&mut r, "b", &acked(), false, false, &changed);
        let missing = Reply::ToolError {
            code: "not_found".into(),
            message: "no score".into(),
        };
        classify(&mut r, "c", &acked(), false, false, &missing);
        classify(&mut r, "d", &acked(), true, false, &missing);
        let detected = Reply::ToolError {
            code: "corrupted".into(),
            message: "score 'e' is corrupted".into(),
        };
        classify(&mut r, "e", &acked(), false, true, &detected);
        classify(&mut r, "f", &acked(), false, true, &good);
        assert_eq!(
            (r.ok, r.silently_corrupted, r.lost, r.corrupted_detected),
            (2, 2, 1, 1)
        );
        assert_eq!(r.checked, 6);
        assert_eq!(r.problems.len(), 3);
    }

    #[test]
    fn ledger_tracks_deletes_and_evictions() {
        let l = Ledger::default();
        l.ack("a", acked());
        l.ack("b", acked());
        l.ack("c", acked());
        l.deleted("a");
        l.evicted("b");
        assert_eq!(l.live_ids(), vec!["c".to_string()]);
        l.ack("a", acked());
        assert_eq!(l.live_ids().len(), 2, "re-imported after delete");
    }
}
