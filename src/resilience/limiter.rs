//! GCRA rate limiting (the generic cell rate algorithm): per client and global.
//!
//! Each key keeps one number, its theoretical arrival time (TAT). A request at `now` is
//! allowed when `TAT - burst_tolerance <= now`; then TAT advances by the emission interval.
//! Memory is one entry per recently seen client, swept when idle.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A refusal, with when to retry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimited {
    pub retry_after: Duration,
}

#[derive(Debug)]
pub struct Gcra {
    /// Time between requests at the sustained rate.
    emission: Duration,
    /// How far ahead of schedule a burst may run.
    tolerance: Duration,
}

impl Gcra {
    /// `per_second` sustained requests a second, bursts of up to `burst` requests.
    pub fn new(per_second: f64, burst: u32) -> Self {
        let emission = Duration::from_secs_f64(1.0 / per_second.max(1e-9));
        let tolerance = emission * burst.max(1).saturating_sub(1);
        Self {
            emission,
            tolerance,
        }
    }

    /// Checks one request against `tat` (updated when allowed).
    pub fn check(&self, tat: &mut Option<Instant>, now: Instant) -> Result<(), RateLimited> {
        let current = tat.unwrap_or(now).max(now);
        let allowed_at = current.checked_sub(self.tolerance).unwrap_or(now);
        if allowed_at > now {
            return Err(RateLimited {
                retry_after: allowed_at - now,
            });
        }
        *tat = Some(current + self.emission);
        Ok(())
    }
}

/// A GCRA per key (client), plus one for everyone.
#[derive(Debug)]
pub struct RateLimiter {
    per_client: Gcra,
    global: Gcra,
    state: Mutex<(HashMap<String, Instant>, Option<Instant>, Instant)>,
}

impl RateLimiter {
    pub fn new(
        client_per_second: f64,
        client_burst: u32,
        global_per_second: f64,
        global_burst: u32,
    ) -> Self {
        Self {
            per_client: Gcra::new(client_per_second, client_burst),
            global: Gcra::new(global_per_second, global_burst),
            state: Mutex::new((HashMap::new(), None, Instant::now())),
        }
    }

    /// Admits one request from `client` at `now`, or says when to retry.
    pub fn check(&self, client: &str, now: Instant) -> Result<(), RateLimited> {
        self.check_all(&[client], now)
    }

    /// Admits one request that counts against every key in `keys` (a client's address and
    /// its session, say) and the global limit; a refusal by any consumes nothing.
    pub fn check_all(&self, keys: &[&str], now: Instant) -> Result<(), RateLimited> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (clients, global_tat, last_sweep) = &mut *guard;
        // Forget clients whose schedule is in the past: they are back to a full burst anyway.
        if now.saturating_duration_since(*last_sweep) > Duration::from_secs(10) {
            clients.retain(|_, tat| *tat > now);
            *last_sweep = now;
        }
        let mut updated = Vec::with_capacity(keys.len());
        for key in keys {
            let mut tat = clients.get(*key).copied();
            self.per_client.check(&mut tat, now)?;
            updated.push((*key, tat));
        }
        let mut g = *global_tat;
        self.global.check(&mut g, now)?;
        *global_tat = g;
        for (key, tat) in updated {
            if let Some(t) = tat {
                clients.insert(key.to_string(), t);
            }
        }
        Ok(())
    }

    pub fn tracked_clients(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let gcra = Gcra::new(10.0, 3);
        let mut tat = None;
        let t0 = Instant::now();
        for _ in 0..3 {
            gcra.check(&mut tat, t0).unwrap();
        }
        let refused = gcra.check(&mut tat, t0).unwrap_err();
        assert!(
            refused.retry_after <= Duration::from_millis(100)
                && refused.retry_after > Duration::ZERO
        );
        gcra.check(&mut tat, t0 + Duration::from_millis(100))
            .unwrap();
        assert!(gcra
            .check(&mut tat, t0 + Duration::from_millis(110))
            .is_err());
    }

    #[test]
    fn clients_are_limited_separately_and_globally() {
        let limiter = RateLimiter::new(1.0, 2, 100.0, 3);
        let t0 = Instant::now();
        limiter.check("a", t0).unwrap();
        limiter.check("a", t0).unwrap();
        assert!(limiter.check("a", t0).is_err(), "a's burst is spent");
        limiter.check("b", t0).unwrap();
        assert!(
            limiter.check("c", t0).is_err(),
            "the global burst of 3 is spent"
        );
        assert_eq!(limiter.tracked_clients(), 2);
    }

    #[test]
    fn sessions_of_one_client_share_its_quota() {
        let limiter = RateLimiter::new(1.0, 4, 1000.0, 1000);
        let t0 = Instant::now();
        for s in 0..4 {
            let session = format!("session:{s}");
            limiter.check_all(&["ip:10.0.0.1", &session], t0).unwrap();
        }
        assert!(
            limiter
                .check_all(&["ip:10.0.0.1", "session:new"], t0)
                .is_err(),
            "a fifth session does not bring a fresh burst"
        );
        limiter
            .check_all(&["ip:10.0.0.2", "session:x"], t0)
            .unwrap();
    }

    #[test]
    fn refused_requests_do_not_consume_quota() {
        let limiter = RateLimiter::new(1.0, 1, 1000.0, 1000);
        let t0 = Instant::now();
        limiter.check("a", t0).unwrap();
        for _ in 0..10 {
            assert!(limiter.check("a", t0 + Duration::from_millis(10)).is_err());
        }
        limiter.check("a", t0 + Duration::from_secs(1)).unwrap();
    }
}
