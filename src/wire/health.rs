//! The server's `GET /health`: what the server writes (`server::http`) and what the
//! dashboard and the stress run read back (`monitor::sample`, `stress::{run, nemesis,
//! adversary}`). Fields a reader may meet missing, in an older or a failing server's
//! answer, are `Option`s, so that the reader can keep what `/metrics` said; the parts only
//! people read (`limits`, `connections`, the store's extras) stay free-form JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `/health`'s body.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Health {
    /// `healthy`, `degraded` or `unhealthy` (answered with 503).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<f64>,
    /// Why the server is not healthy, one sentence each.
    pub problems: Vec<String>,
    /// The shared breaker of each tool.
    pub breakers: BTreeMap<String, BreakerHealth>,
    /// Per-client breakers open now: `[client, tool]` pairs.
    pub client_breakers_open: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<WorkersHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<u64>,
    /// The clients holding the most sessions.
    pub sessions_by_client: Vec<ClientSessions>,
    /// Open connections (`open`, `probe_only`, `max`).
    pub connections: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub large_bodies_reading: Option<u64>,
    /// The limits the server enforces, as configured.
    pub limits: Value,
}

/// A tool's shared breaker.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BreakerHealth {
    /// `closed`, `open` or `half_open`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_total: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct WorkersHealth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_quota: Option<u64>,
    pub clients: Vec<ClientWorkers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots: Option<Vec<SlotHealth>>,
}

/// What one client holds of the pool and how many of its calls wait.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ClientWorkers {
    pub client: String,
    pub holding: u64,
    pub waiting: u64,
}

/// One worker slot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SlotHealth {
    pub slot: u64,
    pub pid: Option<u32>,
    /// `starting`, `idle`, `busy` or `dead`.
    pub state: String,
    pub tool: Option<String>,
    pub tasks: u64,
    pub rss_bytes: u64,
    pub restarts: u64,
    pub uptime_secs: f64,
}

impl Default for SlotHealth {
    fn default() -> Self {
        SlotHealth {
            slot: 0,
            pid: None,
            state: "?".into(),
            tool: None,
            tasks: 0,
            rss_bytes: 0,
            restarts: 0,
            uptime_secs: 0.0,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct MemoryHealth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
    /// Promised to request bodies being read (counted in `total_bytes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soft_limit_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hard_limit_bytes: Option<u64>,
    /// `normal`, `soft` or `hard`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressure: Option<String>,
}

/// The store's figures; when the store cannot be read, only `error` (in `extra`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StoreHealth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scores: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evictions_total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_scores: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Everything else: `corrupted`, `free_disk_bytes`, `writable`, `scrub`, ... or `error`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How many sessions one client holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ClientSessions {
    pub client: String,
    pub sessions: u64,
}

impl Health {
    /// The body as `/health` writes it: through a JSON value, whose keys are sorted, so
    /// that the text on the wire stays what the hand-built `json!` gave.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Every shared breaker reports `closed`.
    pub fn breakers_closed(&self) -> bool {
        self.breakers
            .values()
            .all(|b| b.state.as_deref() == Some("closed"))
    }

    /// The sum of the shared breakers' `opened_total`.
    pub fn breaker_opens(&self) -> u64 {
        self.breakers.values().filter_map(|b| b.opened_total).sum()
    }

    /// The first worker with a process, by slot.
    pub fn first_worker_pid(&self) -> Option<u32> {
        self.workers
            .as_ref()?
            .slots
            .as_ref()?
            .iter()
            .find_map(|s| s.pid)
    }

    /// Sessions held by `client`.
    pub fn sessions_of(&self, client: &str) -> Option<u64> {
        self.sessions_by_client
            .iter()
            .find(|c| c.client == client)
            .map(|c| c.sessions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_answers_read_and_write_back() {
        for text in [
            include_str!("../../tests/fixtures/monitor/health_a.json"),
            include_str!("../../tests/fixtures/monitor/health_b.json"),
            include_str!("../../tests/fixtures/monitor/health_degraded.json"),
        ] {
            let raw: Value = serde_json::from_str(text).unwrap();
            let health: Health = serde_json::from_value(raw.clone()).unwrap();
            assert!(health.status.is_some() && health.workers.is_some());
            let back = health.to_json();
            for key in [
                "status",
                "version",
                "git_revision",
                "uptime_seconds",
                "problems",
                "breakers",
                "memory",
                "store",
                "in_flight",
                "sessions",
                "limits",
            ] {
                assert_eq!(back[key], raw[key], "{key} is kept as it was");
            }
            assert_eq!(back["workers"]["slots"], raw["workers"]["slots"]);
            let again: Health = serde_json::from_value(health.to_json()).unwrap();
            assert_eq!(again, health);
        }
    }

    #[test]
    fn a_store_that_cannot_be_read_is_only_its_error() {
        let raw = serde_json::json!({"error": "disk I/O error"});
        let store: StoreHealth = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(store.scores, None);
        assert_eq!(serde_json::to_value(&store).unwrap(), raw);
    }
}
