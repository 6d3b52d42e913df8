//! The store's eviction log, followed through the run: every score the store evicted is
//! known to the checker as evicted, whichever import evicted it — one whose answer a fault
//! cut off, another replica's, or the harness's own probes. Without it the checker can
//! tell an eviction from a loss only by the `evicted` lists of the answers it received.
//!
//! It reads `list_scores` with `evictions_after` (the sequence number of the last eviction
//! seen) every second; the store keeps the last 1,000 evictions, far more than a second's
//! worth, so nothing is missed while the server answers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::stress::checker::Ledger;
use crate::stress::client::{McpClient, Reply};
use crate::stress::ctx::RunCtx;

/// How often the log is read during the load.
const EVERY: Duration = Duration::from_secs(1);
/// Evictions one `list_scores` call returns at most (the server's page).
const PAGE: usize = 1000;

/// A session with the server for reading its eviction log, opened again when one breaks.
pub struct EvictionWatch {
    url: String,
    timeout: Duration,
    client: Option<McpClient>,
}

impl EvictionWatch {
    pub fn new(url: String, timeout: Duration) -> Self {
        Self {
            url,
            timeout,
            client: None,
        }
    }

    /// Reads the log from the ledger's cursor to its end, marking each evicted score in
    /// the ledger. `Err` says why the server could not be read now (a later call resumes
    /// from the same cursor).
    pub async fn catch_up(&mut self, ledger: &Ledger) -> Result<(), String> {
        loop {
            if self.client.as_ref().is_none_or(McpClient::is_closed) {
                self.client = Some(
                    McpClient::connect(&self.url, self.timeout)
                        .await
                        .map_err(|r| r.describe())?,
                );
            }
            let Some(client) = &self.client else {
                return Err("no session".into());
            };
            let args = json!({"limit": 1, "evictions_after": ledger.eviction_cursor()});
            let page = match client.call("list_scores", args, self.timeout).await {
                Reply::Ok(answer) => read_page(&answer)?,
                other => {
                    if let Some(old) = self.client.take() {
                        tokio::spawn(old.close());
                    }
                    return Err(other.describe());
                }
            };
            let full = page.len() >= PAGE;
            for (seq, id) in page {
                ledger.evicted_in_log(seq, &id);
            }
            if !full {
                return Ok(());
            }
        }
    }

    pub async fn close(self) {
        if let Some(client) = self.client {
            client.close().await;
        }
    }
}

/// The `(seq, score_id)` of each eviction in a `list_scores` answer.
fn read_page(answer: &Value) -> Result<Vec<(u64, String)>, String> {
    let Some(evictions) = answer.get("evictions").and_then(Value::as_array) else {
        return Err(
            "list_scores answered without `evictions`: a server older than this harness".into(),
        );
    };
    evictions
        .iter()
        .map(|e| {
            let seq = e.get("seq").and_then(Value::as_u64);
            let id = e.get("score_id").and_then(Value::as_str);
            match (seq, id) {
                (Some(seq), Some(id)) => Ok((seq, id.to_string())),
                _ => Err(format!("an eviction without seq or score_id: {e}")),
            }
        })
        .collect()
}

/// Follows the log every second until the load stops.
pub async fn follow(ctx: Arc<RunCtx>) {
    let mut watch = EvictionWatch::new(ctx.server.mcp_url(), ctx.call_timeout);
    while !ctx.sleep_or_stop(EVERY).await {
        // A fault or a restart: the next round resumes from the same place.
        let _ = watch.catch_up(&ctx.ledger).await;
    }
    watch.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_read_in_order_and_a_bad_one_is_refused() {
        let answer = json!({"evictions": [
            {"seq": 4, "score_id": "a", "evicted_at": 1, "reason": "max_scores", "bytes": 3},
            {"seq": 9, "score_id": "b", "evicted_at": 1, "reason": "max_bytes", "bytes": 3},
        ]});
        assert_eq!(
            read_page(&answer).unwrap(),
            [(4, "a".to_string()), (9, "b".to_string())]
        );
        assert!(read_page(&json!({"scores": []})).is_err());
        assert!(read_page(&json!({"evictions": [{"score_id": "a"}]})).is_err());
    }
}
