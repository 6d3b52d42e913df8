//! Per-tool circuit breaker.
//!
//! Closed: calls pass; outcomes are counted over a sliding window. When the window holds at
//! least `min_calls` outcomes and the failure ratio reaches `failure_ratio`, the breaker opens.
//! Open: calls are refused at once, until `break_duration` has passed; then it half-opens by
//! itself. Half-open: at most `half_open_probes` calls pass; a success closes the breaker, a
//! failure opens it again for another break.
//!
//! Only failures that say something about the tool's health count (engine crash, timeout,
//! internal error); a caller's bad argument does not. And since one client's inputs can
//! crash a tool that serves everyone else well, failures are counted per client: the
//! breaker opens only when at least `min_failing_clients` distinct clients failed in the
//! window. The dispatcher keeps a second breaker per (tool, client) with that number set to
//! one, so a client whose calls keep failing is refused on its own, and nobody else is.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use crate::config::BreakerConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// The value exported as a metric: 0 closed, 1 open, 2 half-open.
    pub fn as_gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
    /// The state a metric value stands for (the inverse of [`Self::as_gauge`]).
    pub fn from_gauge(value: i64) -> Option<Self> {
        [Self::Closed, Self::Open, Self::HalfOpen]
            .into_iter()
            .find(|s| s.as_gauge() == value)
    }

    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// A refusal by an open breaker.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerOpen {
    pub retry_after: Duration,
}

/// Permission to make one call; report its outcome with [`CircuitBreaker::record`].
#[derive(Debug)]
#[must_use]
pub struct Permit {
    probe: bool,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    /// (when, failed, which client) for each call in the window.
    outcomes: VecDeque<(Instant, bool, u64)>,
    opened_at: Option<Instant>,
    probes_in_flight: u32,
    opened_total: u64,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                outcomes: VecDeque::new(),
                opened_at: None,
                probes_in_flight: 0,
                opened_total: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn break_duration(&self) -> Duration {
        Duration::from_secs_f64(self.config.break_secs.max(0.0))
    }

    /// The state now (an open breaker whose break is over reads as half-open).
    pub fn state(&self, now: Instant) -> BreakerState {
        let mut inner = self.lock();
        self.advance(&mut inner, now);
        inner.state
    }

    /// How many times the breaker has opened.
    pub fn opened_total(&self) -> u64 {
        self.lock().opened_total
    }

    fn advance(&self, inner: &mut Inner, now: Instant) {
        if inner.state == BreakerState::Open {
            if let Some(at) = inner.opened_at {
                if now.saturating_duration_since(at) >= self.break_duration() {
                    inner.state = BreakerState::HalfOpen;
                    inner.probes_in_flight = 0;
                }
            }
        }
    }

    /// Asks to make a call.
    pub fn try_acquire(&self, now: Instant) -> Result<Permit, BreakerOpen> {
        let mut inner = self.lock();
        self.advance(&mut inner, now);
        match inner.state {
            BreakerState::Closed => Ok(Permit { probe: false }),
            BreakerState::Open => {
                let since = inner
                    .opened_at
                    .map(|at| now.saturating_duration_since(at))
                    .unwrap_or_default();
                Err(BreakerOpen {
                    retry_after: self.break_duration().saturating_sub(since),
                })
            }
            BreakerState::HalfOpen => {
                if inner.probes_in_flight < self.config.half_open_probes.max(1) {
                    inner.probes_in_flight += 1;
                    Ok(Permit { probe: true })
                } else {
                    Err(BreakerOpen {
                        retry_after: Duration::from_millis(100),
                    })
                }
            }
        }
    }

    /// Records the outcome of a permitted call made for `client`. `failure` is true only for
    /// failures that speak of the tool's health.
    pub fn record(&self, permit: Permit, failure: bool, client: &str, now: Instant) {
        let mut inner = self.lock();
        self.advance(&mut inner, now);
        if permit.probe && inner.state == BreakerState::HalfOpen {
            inner.probes_in_flight = inner.probes_in_flight.saturating_sub(1);
            if failure {
                self.open(&mut inner, now);
            } else {
                inner.state = BreakerState::Closed;
                inner.outcomes.clear();
            }
            return;
        }
        if inner.state != BreakerState::Closed {
            return;
        }
        inner.outcomes.push_back((now, failure, client_key(client)));
        let window = Duration::from_secs_f64(self.config.window_secs.max(0.0));
        while inner
            .outcomes
            .front()
            .is_some_and(|(t, _, _)| now.saturating_duration_since(*t) > window)
        {
            inner.outcomes.pop_front();
        }
        let total = inner.outcomes.len() as u32;
        let failures = inner.outcomes.iter().filter(|(_, f, _)| *f).count() as f64;
        if total >= self.config.min_calls.max(1)
            && failures / total as f64 >= self.config.failure_ratio
            && failing_clients(&inner.outcomes) >= self.config.min_failing_clients.max(1) as usize
        {
            self.open(&mut inner, now);
        }
    }

    /// Whether nothing in the window speaks against the tool (a per-client breaker in this
    /// state can be forgotten).
    pub fn is_quiet(&self, now: Instant) -> bool {
        let mut inner = self.lock();
        self.advance(&mut inner, now);
        let window = Duration::from_secs_f64(self.config.window_secs.max(0.0));
        inner.state == BreakerState::Closed
            && inner
                .outcomes
                .iter()
                .all(|(t, f, _)| !*f || now.saturating_duration_since(*t) > window)
    }

    fn open(&self, inner: &mut Inner, now: Instant) {
        inner.state = BreakerState::Open;
        inner.opened_at = Some(now);
        inner.outcomes.clear();
        inner.probes_in_flight = 0;
        inner.opened_total += 1;
    }
}

fn client_key(client: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    client.hash(&mut h);
    h.finish()
}

fn failing_clients(outcomes: &VecDeque<(Instant, bool, u64)>) -> usize {
    let mut clients: Vec<u64> = outcomes
        .iter()
        .filter(|(_, f, _)| *f)
        .map(|(_, _, c)| *c)
        .collect();
    clients.sort_unstable();
    clients.dedup();
    clients.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            window_secs: 10.0,
            min_calls: 4,
            failure_ratio: 0.5,
            break_secs: 2.0,
            half_open_probes: 1,
            min_failing_clients: 1,
        })
    }

    #[test]
    fn one_client_alone_cannot_open_a_shared_breaker() {
        let b = CircuitBreaker::new(BreakerConfig {
            min_failing_clients: 3,
            ..breaker().config
        });
        let t0 = Instant::now();
        for _ in 0..50 {
            let p = b.try_acquire(t0).unwrap();
            b.record(p, true, "hostile", t0);
        }
        assert_eq!(b.state(t0), BreakerState::Closed);
        for client in ["a", "b"] {
            let p = b.try_acquire(t0).unwrap();
            b.record(p, true, client, t0);
        }
        assert_eq!(
            b.state(t0),
            BreakerState::Open,
            "three distinct clients failing is the tool's problem"
        );
    }

    #[test]
    fn opens_after_failures_and_refuses_at_once() {
        let b = breaker();
        let t0 = Instant::now();
        for i in 0..4 {
            let p = b.try_acquire(t0).unwrap();
            b.record(p, i % 2 == 0, "c", t0);
        }
        assert_eq!(b.state(t0), BreakerState::Open);
        let refused = b.try_acquire(t0 + Duration::from_millis(500)).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_millis(1500));
        assert_eq!(b.opened_total(), 1);
    }

    #[test]
    fn half_opens_by_itself_and_closes_on_success() {
        let b = breaker();
        let t0 = Instant::now();
        for _ in 0..4 {
            let p = b.try_acquire(t0).unwrap();
            b.record(p, true, "c", t0);
        }
        let later = t0 + Duration::from_secs(2);
        assert_eq!(b.state(later), BreakerState::HalfOpen);
        let probe = b.try_acquire(later).unwrap();
        assert!(b.try_acquire(later).is_err(), "only one probe at a time");
        b.record(probe, false, "c", later);
        assert_eq!(b.state(later), BreakerState::Closed);
    }

    #[test]
    fn failed_probe_opens_again() {
        let b = breaker();
        let t0 = Instant::now();
        for _ in 0..4 {
            let p = b.try_acquire(t0).unwrap();
            b.record(p, true, "c", t0);
        }
        let later = t0 + Duration::from_secs(3);
        let probe = b.try_acquire(later).unwrap();
        b.record(probe, true, "c", later);
        assert_eq!(b.state(later), BreakerState::Open);
        assert_eq!(b.opened_total(), 2);
    }

    #[test]
    fn old_failures_leave_the_window() {
        let b = breaker();
        let t0 = Instant::now();
        for _ in 0..3 {
            let p = b.try_acquire(t0).unwrap();
            b.record(p, true, "c", t0);
        }
        let later = t0 + Duration::from_secs(11);
        let p = b.try_acquire(later).unwrap();
        b.record(p, true, "c", later);
        assert_eq!(
            b.state(later),
            BreakerState::Closed,
            "three failures expired"
        );
    }
}
