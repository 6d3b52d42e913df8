//! MCP logging for a session's own calls: after `logging/setLevel`, each of its tool calls
//! is told back as `notifications/message` (info when it answered, warning when it failed)
//! at or above the level asked for. rmcp marks MCP logging deprecated (SEP-2577, for a
//! later protocol version); clients of the versions this server speaks still use it.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam, SetLevelRequestParams};
use rmcp::service::Peer;
use rmcp::RoleServer;
use serde_json::json;

/// Sessions whose level is kept at most.
const SESSIONS_MAX: usize = 4096;

#[derive(Default)]
pub struct SessionLogs {
    levels: Mutex<HashMap<String, LoggingLevel>>,
}

/// The level's rank, lowest (debug) first.
fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

impl SessionLogs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LoggingLevel>> {
        self.levels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `logging/setLevel` for `session`.
    pub fn set(&self, session: &str, request: &SetLevelRequestParams) {
        let mut levels = self.lock();
        if levels.len() >= SESSIONS_MAX && !levels.contains_key(session) {
            // Ended sessions are not told apart from live ones here; starting over costs
            // the live ones only their log messages until they set a level again.
            levels.clear();
        }
        levels.insert(session.to_string(), request.level);
    }

    /// Tells `session` how its call of `tool` went, if it asked for messages at that level.
    pub fn call_done(
        &self,
        session: &str,
        peer: &Peer<RoleServer>,
        tool: &str,
        started: Instant,
        error: Option<&str>,
    ) {
        let Some(wanted) = self.lock().get(session).copied() else {
            return;
        };
        let level = if error.is_some() {
            LoggingLevel::Warning
        } else {
            LoggingLevel::Info
        };
        if rank(level) < rank(wanted) {
            return;
        }
        let ms = (started.elapsed().as_secs_f64() * 1000.0).round();
        let data = match error {
            None => json!({"tool": tool, "outcome": "ok", "ms": ms}),
            Some(e) => json!({"tool": tool, "outcome": "error", "ms": ms, "error": e}),
        };
        let mut param = LoggingMessageNotificationParam::new(level, data);
        param.logger = Some("music21-prod".into());
        let peer = peer.clone();
        tokio::spawn(async move {
            let _ = peer.notify_logging_message(param).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_rank_from_debug_to_emergency() {
        assert!(rank(LoggingLevel::Debug) < rank(LoggingLevel::Info));
        assert!(rank(LoggingLevel::Warning) < rank(LoggingLevel::Error));
        assert_eq!(rank(LoggingLevel::Emergency), 7);
    }
}
