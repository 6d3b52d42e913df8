//! The memory guard: the resident memory of the server and its workers against a budget.
//! Above the soft limit heavy tools are refused (and workers asked to drop caches); above
//! the hard limit every new call is refused.
//!
//! A large parse reserves its memory before it starts (a [`ParseHold`], sized by
//! [`crate::resilience::parse_cost`]): it waits while the reservation would pass the hard
//! limit, and each client has at most one large parse reserved or waiting at a time (a
//! second is refused at once: its body is already in memory, and waiting would keep it
//! there for no one's benefit). The held bytes
//! count toward the total until the sampled memory of the workers catches up with them,
//! so a parse under way is not counted twice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// Large parses under way or about to start.
    holds: Mutex<Holds>,
    /// Woken when a hold is given back or memory is sampled.
    changed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Holds {
    next_id: u64,
    /// (id, client, bytes, the workers' sampled memory when it was granted).
    list: Vec<(u64, String, u64, u64)>,
    /// (id, client, bytes) of the large parses waiting for room.
    waiting: Vec<(u64, String, u64)>,
}

impl Holds {
    /// What the client has reserved or is waiting for, if anything.
    fn of_client(&self, client: &str) -> Option<u64> {
        self.list
            .iter()
            .find(|h| h.1 == client)
            .map(|h| h.2)
            .or_else(|| self.waiting.iter().find(|w| w.1 == client).map(|w| w.2))
    }
}

/// A large parse's place among those waiting; it leaves when dropped (granted, refused or
/// cancelled).
struct Waiting<'a> {
    guard: &'a MemoryGuard,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.guard.lock_holds().waiting.retain(|w| w.0 != self.id);
    }
}

/// Memory reserved for one large parse; given back when dropped (the call ended).
#[derive(Debug)]
pub struct ParseHold {
    guard: Arc<MemoryGuard>,
    id: u64,
    bytes: u64,
}

impl ParseHold {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for ParseHold {
    fn drop(&mut self) {
        self.guard.lock_holds().list.retain(|h| h.0 != self.id);
        self.guard.changed.notify_waiters();
    }
}

/// Why a large parse got no reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoldRefusal {
    /// It would not fit even with nothing else running: `needed` over `limit` (bytes).
    NeverFits { needed: u64, limit: u64 },
    /// The client already has a large parse reserved or waiting (`its_other` bytes).
    ClientHasOne { its_other: u64 },
    /// It did not fit within the wait: `in_use` of `limit` bytes, `needed` more.
    NotNow {
        needed: u64,
        in_use: u64,
        limit: u64,
    },
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
            holds: Mutex::new(Holds::default()),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn lock_holds(&self) -> std::sync::MutexGuard<'_, Holds> {
        self.holds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The workers' memory as the guard counts it: the sampled figure, or, while large
    /// parses hold reservations, what the workers had when the first was granted plus all
    /// that is held, whichever is larger.
    fn workers_counted(&self, holds: &Holds) -> u64 {
        let sampled = self.workers.load(Ordering::Relaxed);
        let Some(base) = holds.list.iter().map(|h| h.3).min() else {
            return sampled;
        };
        let held: u64 = holds.list.iter().map(|h| h.2).sum();
        sampled.max(base + held)
    }

    /// Reserves `bytes` for a large parse by `client` if it fits under the hard limit now
    /// and the client holds no other; `Err(true)` if it never can.
    fn try_hold(self: &Arc<Self>, client: &str, bytes: u64) -> Result<ParseHold, bool> {
        if bytes + (crate::config::server::SERVER_SHARE_MB << 20) > self.hard {
            return Err(true);
        }
        let mut holds = self.lock_holds();
        let in_use = self.server.load(Ordering::Relaxed)
            + self.reserved.load(Ordering::SeqCst)
            + self.workers_counted(&holds);
        if in_use + bytes > self.hard || holds.list.iter().any(|h| h.1 == client) {
            return Err(false);
        }
        holds.next_id += 1;
        let id = holds.next_id;
        let base = self.workers.load(Ordering::Relaxed);
        holds.list.push((id, client.to_string(), bytes, base));
        Ok(ParseHold {
            guard: self.clone(),
            id,
            bytes,
        })
    }

    /// Reserves `bytes` for a large parse by `client`, waiting up to `wait` for room (other
    /// large parses ending, memory falling); refused at once while the client has another
    /// large parse reserved or waiting.
    pub async fn hold(
        self: &Arc<Self>,
        client: &str,
        bytes: u64,
        wait: Duration,
    ) -> Result<ParseHold, HoldRefusal> {
        let deadline = Instant::now() + wait;
        let _waiting = {
            let mut holds = self.lock_holds();
            if let Some(its_other) = holds.of_client(client) {
                return Err(HoldRefusal::ClientHasOne { its_other });
            }
            holds.next_id += 1;
            let id = holds.next_id;
            holds.waiting.push((id, client.to_string(), bytes));
            Waiting { guard: self, id }
        };
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.try_hold(client, bytes) {
                Ok(hold) => return Ok(hold),
                Err(true) => {
                    return Err(HoldRefusal::NeverFits {
                        needed: bytes,
                        limit: self.hard,
                    })
                }
                Err(false) if Instant::now() >= deadline => {
                    return Err(HoldRefusal::NotNow {
                        needed: bytes,
                        in_use: self.total(),
                        limit: self.hard,
                    })
                }
                Err(false) => {}
            }
            tokio::select! {
                _ = &mut changed => {}
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
        }
    }

    /// Bytes held for large parses now.
    pub fn held(&self) -> u64 {
        self.lock_holds().list.iter().map(|h| h.2).sum()
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
        let sampled =
            self.server.load(Ordering::Relaxed) + self.workers_counted(&self.lock_holds());
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
        // A waiting parse may fit now.
        self.changed.notify_waiters();
    }

    /// Sampled memory of the server and workers (or what large parses hold, when more),
    /// plus what is promised to bodies being read.
    pub fn total(&self) -> u64 {
        self.server.load(Ordering::Relaxed)
            + self.workers_counted(&self.lock_holds())
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
        let workers = self.workers_counted(&self.lock_holds());
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
            ..MemoryConfig::default()
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
            ..MemoryConfig::default()
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

    fn guard(budget_mb: u64) -> Arc<MemoryGuard> {
        Arc::new(MemoryGuard::new(&MemoryConfig {
            budget_mb,
            soft_percent: 50,
            hard_percent: 80,
            ..MemoryConfig::default()
        }))
    }

    #[tokio::test]
    async fn a_second_large_parse_waits_for_the_first() {
        // Hard limit 800 MiB; 200 MiB in use; each parse needs 400.
        let g = guard(1000);
        g.record(100 << 20, 100 << 20);
        let first = g.hold("a", 400 << 20, Duration::ZERO).await.expect("fits");
        assert_eq!(
            g.total(),
            600 << 20,
            "held bytes count before the parse shows"
        );
        let refused = g.hold("b", 400 << 20, Duration::from_millis(50)).await;
        assert!(
            matches!(refused, Err(HoldRefusal::NotNow { .. })),
            "{refused:?}"
        );
        let g2 = g.clone();
        let waiting =
            tokio::spawn(async move { g2.hold("b", 400 << 20, Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "still waiting for room");
        drop(first);
        let second = waiting
            .await
            .expect("joins")
            .expect("granted once the first ended");
        assert_eq!(second.bytes(), 400 << 20);
    }

    #[tokio::test]
    async fn the_parse_under_way_is_not_counted_twice() {
        let g = guard(1000);
        g.record(100 << 20, 100 << 20);
        let _hold = g.hold("a", 400 << 20, Duration::ZERO).await.expect("fits");
        // The worker has grown by 300 of its 400 MiB: still 600 counted, not 900.
        g.record(100 << 20, 400 << 20);
        assert_eq!(g.total(), 600 << 20);
        // It grew past its estimate: the sampled figure wins.
        g.record(100 << 20, 600 << 20);
        assert_eq!(g.total(), 700 << 20);
    }

    #[tokio::test]
    async fn a_client_waiting_for_room_cannot_queue_a_second_large_parse() {
        // Hard limit 1,600 MiB: b's 1,200 leave no room for a's 500 until b ends.
        let g = guard(2000);
        let _other = g.hold("b", 1200 << 20, Duration::ZERO).await.expect("fits");
        let waiter = {
            let g = g.clone();
            tokio::spawn(async move { g.hold("a", 500 << 20, Duration::from_secs(30)).await })
        };
        // Let the first of client a's parses start waiting.
        while g.lock_holds().waiting.is_empty() {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            g.hold("a", 10 << 20, Duration::from_secs(30)).await,
            Err(HoldRefusal::ClientHasOne { its_other }) if its_other == 500 << 20
        ));
        waiter.abort();
        let _ = waiter.await;
        // The cancelled waiter left the queue: client a may ask again.
        assert!(g.lock_holds().waiting.is_empty());
        assert!(g.hold("a", 10 << 20, Duration::ZERO).await.is_ok());
    }

    #[tokio::test]
    async fn a_client_has_one_large_parse_at_a_time_and_too_large_is_said_at_once() {
        let g = guard(4000);
        let _a = g.hold("a", 100 << 20, Duration::ZERO).await.expect("fits");
        assert_eq!(
            g.hold("a", 100 << 20, Duration::from_secs(60)).await.err(),
            Some(HoldRefusal::ClientHasOne {
                its_other: 100 << 20
            }),
            "refused at once, not after the wait"
        );
        assert!(g.hold("b", 100 << 20, Duration::ZERO).await.is_ok());
        let never = g.hold("c", 4000 << 20, Duration::from_secs(60)).await;
        assert!(
            matches!(never, Err(HoldRefusal::NeverFits { .. })),
            "{never:?}"
        );
    }
}
