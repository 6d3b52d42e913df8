//! The memory guard: the resident memory of the server and its workers against a budget.
//! Above the soft limit heavy tools are refused (and workers asked to drop caches); above
//! the hard limit every new call is refused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
    /// Bytes promised to request bodies being read (not yet in the sampled RSS).
    reserved: AtomicU64,
}

/// Memory promised to a request body; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    guard: Arc<MemoryGuard>,
    bytes: u64,
}

impl Reservation {
    /// Promises `more` bytes to the same body, if the budget allows.
    pub fn grow(&mut self, more: u64) -> bool {
        if self.guard.try_add(more) {
            self.bytes += more;
            true
        } else {
            false
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.guard.reserved.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct MemorySnapshot {
    pub server_bytes: u64,
    pub workers_bytes: u64,
    pub total_bytes: u64,
    /// Promised to request bodies being read (counted in `total_bytes`).
    pub reserved_bytes: u64,
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
            reserved: AtomicU64::new(0),
        }
    }

    /// Promises `bytes` to a request body about to be read, if the sampled memory plus what
    /// is already promised plus this stays under the hard limit.
    pub fn try_reserve(self: &Arc<Self>, bytes: u64) -> Option<Reservation> {
        self.try_add(bytes).then(|| Reservation {
            guard: self.clone(),
            bytes,
        })
    }

    fn try_add(&self, bytes: u64) -> bool {
        if bytes == 0 {
            return true;
        }
        let sampled = self.server.load(Ordering::Relaxed) + self.workers.load(Ordering::Relaxed);
        let mut current = self.reserved.load(Ordering::SeqCst);
        loop {
            if sampled + current + bytes > self.hard {
                return false;
            }
            match self.reserved.compare_exchange(
                current,
                current + bytes,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Bytes promised to bodies being read now.
    pub fn reserved(&self) -> u64 {
        self.reserved.load(Ordering::SeqCst)
    }

    pub fn record(&self, server: u64, workers: u64) {
        self.server.store(server, Ordering::Relaxed);
        self.workers.store(workers, Ordering::Relaxed);
    }

    /// Sampled memory of the server and workers, plus what is promised to bodies being read.
    pub fn total(&self) -> u64 {
        self.server.load(Ordering::Relaxed)
            + self.workers.load(Ordering::Relaxed)
            + self.reserved.load(Ordering::SeqCst)
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
        let reserved = self.reserved();
        MemorySnapshot {
            server_bytes: server,
            workers_bytes: workers,
            total_bytes: server + workers + reserved,
            reserved_bytes: reserved,
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

    #[test]
    fn bodies_reserve_memory_up_to_the_hard_limit() {
        let g = Arc::new(MemoryGuard::new(&MemoryConfig {
            budget_mb: 100,
            soft_percent: 50,
            hard_percent: 80,
            sample_ms: 100,
        }));
        g.record(20 << 20, 20 << 20);
        let mut a = g.try_reserve(30 << 20).expect("70 of 80 MiB");
        assert!(
            g.try_reserve(20 << 20).is_none(),
            "would pass the hard limit"
        );
        assert!(!a.grow(20 << 20));
        assert_eq!(g.pressure(), Pressure::Soft, "promised bytes count");
        drop(a);
        assert_eq!(g.reserved(), 0);
        assert!(g.try_reserve(20 << 20).is_some());
    }
}
