//! The memory guard: the resident memory of the server and its workers against a budget.
//! Above the soft limit heavy tools are refused (and workers asked to drop caches); above
//! the hard limit every new call is refused.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::config::MemoryConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pressure {
    Normal,
    Soft,
    Hard,
}

#[derive(Debug)]
pub struct MemoryGuard {
    budget: u64,
    soft: u64,
    hard: u64,
    server: AtomicU64,
    workers: AtomicU64,
}

#[derive(Clone, Debug, Serialize)]
pub struct MemorySnapshot {
    pub server_bytes: u64,
    pub workers_bytes: u64,
    pub total_bytes: u64,
    pub budget_bytes: u64,
    pub soft_limit_bytes: u64,
    pub hard_limit_bytes: u64,
    pub pressure: Pressure,
}

impl MemoryGuard {
    pub fn new(config: &MemoryConfig) -> Self {
        let budget = config.budget_mb * 1024 * 1024;
        Self {
            budget,
            soft: budget / 100 * config.soft_percent as u64,
            hard: budget / 100 * config.hard_percent as u64,
            server: AtomicU64::new(0),
            workers: AtomicU64::new(0),
        }
    }

    pub fn record(&self, server: u64, workers: u64) {
        self.server.store(server, Ordering::Relaxed);
        self.workers.store(workers, Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.server.load(Ordering::Relaxed) + self.workers.load(Ordering::Relaxed)
    }

    pub fn pressure(&self) -> Pressure {
        let total = self.total();
        if total >= self.hard {
            Pressure::Hard
        } else if total >= self.soft {
            Pressure::Soft
        } else {
            Pressure::Normal
        }
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }

    pub fn snapshot(&self) -> MemorySnapshot {
        let server = self.server.load(Ordering::Relaxed);
        let workers = self.workers.load(Ordering::Relaxed);
        MemorySnapshot {
            server_bytes: server,
            workers_bytes: workers,
            total_bytes: server + workers,
            budget_bytes: self.budget,
            soft_limit_bytes: self.soft,
            hard_limit_bytes: self.hard,
            pressure: self.pressure(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_levels() {
        let g = MemoryGuard::new(&MemoryConfig {
            budget_mb: 100,
            soft_percent: 50,
            hard_percent: 80,
            sample_ms: 100,
        });
        g.record(10 << 20, 10 << 20);
        assert_eq!(g.pressure(), Pressure::Normal);
        g.record(30 << 20, 25 << 20);
        assert_eq!(g.pressure(), Pressure::Soft);
        g.record(30 << 20, 60 << 20);
        assert_eq!(g.pressure(), Pressure::Hard);
    }
}
