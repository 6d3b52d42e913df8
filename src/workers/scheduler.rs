//! Who gets the next free worker: a fair queue between clients.
//!
//! Each client may hold at most `quota` workers at once, and may have at most
//! `client_queue_max` calls waiting; all clients together at most `queue_max`. A freed
//! worker goes to the waiting client that has used the workers least lately (worker time,
//! decaying with a half-life of [`USAGE_HALF_LIFE`]), clients within [`USAGE_SLACK`] of
//! each other in turn (round robin), skipping clients at their quota. So one client's queued
//! calls never all run before another client's first, and a client whose calls are long
//! (a greedy one) waits while clients with short calls are waiting: it gets the workers the
//! others leave free, not half of them.
//! A call that is refused, times out or is abandoned (its future dropped) gives back what it
//! held; a worker handed to a caller that has just gone is passed on, never lost.
//!
//! The scheduler knows nothing of processes: `W` is whatever is scheduled (a worker process
//! in the pool, a number in the tests).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How fast a client's past worker time stops counting against it.
pub const USAGE_HALF_LIFE: Duration = Duration::from_secs(10);
/// Clients whose recent worker time differs by less than this are served in turn.
pub const USAGE_SLACK: Duration = Duration::from_millis(50);
/// Usage entries kept; past this the faded ones are dropped (a client may use many names).
const USAGE_ENTRIES_MAX: usize = 4096;

/// A client's worker time, decayed to `at`.
#[derive(Clone, Copy)]
struct Usage {
    seconds: f64,
    at: Instant,
}

impl Usage {
    fn now(self, now: Instant) -> f64 {
        let age = now.saturating_duration_since(self.at).as_secs_f64();
        self.seconds * 0.5f64.powf(age / USAGE_HALF_LIFE.as_secs_f64())
    }
}

/// Why a call got no worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// All clients together have `waiting` calls queued, the most allowed.
    QueueFull { waiting: usize },
    /// This client has `queued` calls queued, the most one client may have.
    ClientQueueFull { queued: usize },
    /// No worker came free within the wait.
    TimedOut { waiting: usize },
    /// The scheduler is closed (the server is shutting down).
    Closed,
}

struct Waiter<W> {
    id: u64,
    tx: oneshot::Sender<W>,
}

struct State<W> {
    /// Idle workers, the longest idle first.
    idle: Vec<W>,
    queues: HashMap<Arc<str>, VecDeque<Waiter<W>>>,
    /// Clients with waiting calls, in the order they are served.
    turn: VecDeque<Arc<str>>,
    /// Workers each client holds now.
    holding: HashMap<Arc<str>, usize>,
    /// Each client's recent worker time.
    usage: HashMap<Arc<str>, Usage>,
    waiting: usize,
    next_id: u64,
    closed: bool,
}

pub struct FairScheduler<W> {
    state: Mutex<State<W>>,
    quota: usize,
    client_queue_max: usize,
    queue_max: usize,
    /// Woken whenever a worker goes to the idle set (see [`Self::wait_for_idle`]).
    freed: tokio::sync::Notify,
}

/// A worker lent to one client; dropping the lease tells the scheduler the client holds one
/// worker fewer (the worker itself goes back with [`FairScheduler::put`], or is replaced).
#[must_use]
pub struct Lease<W: Send + 'static> {
    scheduler: Arc<FairScheduler<W>>,
    client: Arc<str>,
    since: Instant,
}

impl<W: Send + 'static> Drop for Lease<W> {
    fn drop(&mut self) {
        self.scheduler.release(&self.client, self.since.elapsed());
    }
}

impl<W: Send + 'static> FairScheduler<W> {
    pub fn new(quota: usize, client_queue_max: usize, queue_max: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                idle: Vec::new(),
                queues: HashMap::new(),
                turn: VecDeque::new(),
                holding: HashMap::new(),
                usage: HashMap::new(),
                waiting: 0,
                next_id: 0,
                closed: false,
            }),
            quota: quota.max(1),
            client_queue_max,
            queue_max,
            freed: tokio::sync::Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<W>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls waiting now, all clients together.
    pub fn waiting(&self) -> usize {
        self.lock().waiting
    }

    /// Workers held by `client` now.
    pub fn holding(&self, client: &str) -> usize {
        self.lock().holding.get(client).copied().unwrap_or(0)
    }

    /// Clients holding workers or waiting for one, with how many of each.
    pub fn clients(&self) -> Vec<(String, usize, usize)> {
        let state = self.lock();
        let mut names: Vec<&Arc<str>> = state.holding.keys().chain(state.queues.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|c| {
                (
                    c.to_string(),
                    state.holding.get(c).copied().unwrap_or(0),
                    state.queues.get(c).map_or(0, VecDeque::len),
                )
            })
            .collect()
    }

    /// Gets a worker for `client`, waiting up to `wait` for one to come free.
    pub async fn acquire(
        self: &Arc<Self>,
        client: &str,
        wait: Duration,
    ) -> Result<(W, Lease<W>), Refusal> {
        self.acquire_preferring(client, wait, |_| false).await
    }

    /// [`Self::acquire`], taking the idle worker `preferred` picks when there is one (the
    /// worker that already holds the call's score parsed); otherwise the worker idle the
    /// longest, so that the one just given back stays free for the follow-up call that is
    /// likely to want it (an import's analyses, on the worker that holds its parse).
    pub async fn acquire_preferring(
        self: &Arc<Self>,
        client: &str,
        wait: Duration,
        preferred: impl Fn(&W) -> bool,
    ) -> Result<(W, Lease<W>), Refusal> {
        let client: Arc<str> = Arc::from(client);
        let (id, rx) = {
            let mut state = self.lock();
            if state.closed {
                return Err(Refusal::Closed);
            }
            let holding = state.holding.get(&client).copied().unwrap_or(0);
            // A client under its quota takes an idle worker at once: if others are waiting
            // while a worker is idle, they are all at their own quota.
            if holding < self.quota {
                let pick = state
                    .idle
                    .iter()
                    .position(&preferred)
                    .or_else(|| (!state.idle.is_empty()).then_some(0));
                // `remove`, not `swap_remove`: the rest stay in the order they went idle.
                if let Some(worker) = pick.map(|i| state.idle.remove(i)) {
                    *state.holding.entry(client.clone()).or_insert(0) += 1;
                    return Ok((worker, self.lease(client)));
                }
            }
            let queued = state.queues.get(&client).map_or(0, VecDeque::len);
            if queued >= self.client_queue_max {
                return Err(Refusal::ClientQueueFull { queued });
            }
            if state.waiting >= self.queue_max {
                return Err(Refusal::QueueFull {
                    waiting: state.waiting,
                });
            }
            let id = state.next_id;
            state.next_id += 1;
            let (tx, rx) = oneshot::channel();
            state.waiting += 1;
            let queue = state.queues.entry(client.clone()).or_default();
            queue.push_back(Waiter { id, tx });
            if queue.len() == 1 {
                state.turn.push_back(client.clone());
            }
            (id, rx)
        };
        let mut waiting = Waiting {
            scheduler: self,
            client: client.clone(),
            id,
            rx: Some(rx),
        };
        let got = match waiting.rx.as_mut() {
            Some(rx) => tokio::time::timeout(wait, rx).await,
            None => return Err(Refusal::Closed),
        };
        match got {
            Ok(Ok(worker)) => {
                waiting.rx = None;
                Ok((worker, self.lease(client)))
            }
            // The sender was dropped: the scheduler closed.
            Ok(Err(_)) => {
                waiting.rx = None;
                Err(Refusal::Closed)
            }
            Err(_) => match waiting.give_up() {
                Some(worker) => Ok((worker, self.lease(client))),
                None => Err(Refusal::TimedOut {
                    waiting: self.waiting(),
                }),
            },
        }
    }

    fn lease(self: &Arc<Self>, client: Arc<str>) -> Lease<W> {
        Lease {
            scheduler: self.clone(),
            client,
            since: Instant::now(),
        }
    }

    /// Gives a worker back: to the next client in turn that may take one, else to the idle
    /// set. After [`close`](Self::close) it still goes to the idle set, for shutdown.
    pub fn put(&self, worker: W) {
        let mut state = self.lock();
        let mut worker = worker;
        loop {
            match Self::next_waiter(&mut state, self.quota) {
                Some((client, waiter)) => match waiter.tx.send(worker) {
                    Ok(()) => {
                        *state.holding.entry(client).or_insert(0) += 1;
                        return;
                    }
                    // That caller is gone; the next one gets it.
                    Err(back) => worker = back,
                },
                None => {
                    state.idle.push(worker);
                    self.freed.notify_waiters();
                    return;
                }
            }
        }
    }

    /// The next waiter: of the clients under their quota, the one that used the workers
    /// least lately; among those within [`USAGE_SLACK`] of it, the first in turn (round
    /// robin).
    fn next_waiter(state: &mut State<W>, quota: usize) -> Option<(Arc<str>, Waiter<W>)> {
        let now = Instant::now();
        let used = |state: &State<W>, client: &Arc<str>| {
            state.usage.get(client).map_or(0.0, |u| u.now(now))
        };
        let eligible = |state: &State<W>, client: &Arc<str>| {
            state.holding.get(client).copied().unwrap_or(0) < quota
                && state.queues.get(client).is_some_and(|q| !q.is_empty())
        };
        let least = state
            .turn
            .iter()
            .filter(|c| eligible(state, c))
            .map(|c| used(state, c))
            .fold(f64::INFINITY, f64::min);
        if !least.is_finite() {
            return None;
        }
        let position = state.turn.iter().position(|c| {
            eligible(state, c) && used(state, c) <= least + USAGE_SLACK.as_secs_f64()
        })?;
        let client = state.turn.remove(position)?;
        let queue = state.queues.get_mut(&client)?;
        let waiter = queue.pop_front()?;
        state.waiting -= 1;
        if queue.is_empty() {
            state.queues.remove(&client);
        } else {
            // Served once: to the back of the line.
            state.turn.push_back(client.clone());
        }
        Some((client, waiter))
    }

    /// A lease ended after `held`: the client holds one worker fewer, which may let its
    /// next call run on a worker that is idle now, and its usage grows by `held`.
    fn release(&self, client: &Arc<str>, held: Duration) {
        let mut state = self.lock();
        Self::add_usage(&mut state, client, held);
        if let Some(n) = state.holding.get_mut(client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.holding.remove(client);
            }
        }
        while let Some(worker) = state.idle.pop() {
            match Self::next_waiter(&mut state, self.quota) {
                Some((client, waiter)) => match waiter.tx.send(worker) {
                    Ok(()) => *state.holding.entry(client).or_insert(0) += 1,
                    Err(back) => state.idle.push(back),
                },
                None => {
                    state.idle.push(worker);
                    break;
                }
            }
        }
    }

    fn add_usage(state: &mut State<W>, client: &Arc<str>, held: Duration) {
        let now = Instant::now();
        if state.usage.len() >= USAGE_ENTRIES_MAX && !state.usage.contains_key(client) {
            // Faded entries say nothing any more; if none has faded, the oldest goes.
            state.usage.retain(|_, u| u.now(now) > 0.001);
            if state.usage.len() >= USAGE_ENTRIES_MAX {
                if let Some(oldest) = state
                    .usage
                    .iter()
                    .min_by_key(|(_, u)| u.at)
                    .map(|(c, _)| c.clone())
                {
                    state.usage.remove(&oldest);
                }
            }
        }
        let before = state.usage.get(client).map_or(0.0, |u| u.now(now));
        state.usage.insert(
            client.clone(),
            Usage {
                seconds: before + held.as_secs_f64(),
                at: now,
            },
        );
    }

    /// Recent worker time of `client`, in seconds (decayed).
    pub fn usage(&self, client: &str) -> f64 {
        let now = Instant::now();
        self.lock().usage.get(client).map_or(0.0, |u| u.now(now))
    }

    /// Waits up to `wait` until a worker `wanted` picks is idle (it is busy now); true when
    /// one is. Only a look: the worker is not reserved, so a call that waited for it still
    /// takes it through [`Self::acquire_preferring`], and may find it taken again.
    pub async fn wait_for_idle(&self, wanted: impl Fn(&W) -> bool, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before the look, so a worker freed in between still wakes it.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.lock().idle.iter().any(&wanted) {
                return true;
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return false;
            }
        }
    }

    /// Takes every idle worker out (to ping them, or to end them).
    pub fn take_idle(&self) -> Vec<W> {
        std::mem::take(&mut self.lock().idle)
    }

    /// Idle workers now.
    pub fn idle(&self) -> usize {
        self.lock().idle.len()
    }

    /// Refuses every waiting call and every new one. Workers still come back with
    /// [`put`](Self::put), to the idle set, for [`take_idle`](Self::take_idle) to end them.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        // Dropping the senders tells each waiter the scheduler closed.
        state.queues.clear();
        state.turn.clear();
        state.waiting = 0;
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

/// A queued call; dropped before it got its worker, it leaves the queue (and passes on a
/// worker that was handed to it in the meantime).
struct Waiting<'a, W: Send + 'static> {
    scheduler: &'a Arc<FairScheduler<W>>,
    client: Arc<str>,
    id: u64,
    rx: Option<oneshot::Receiver<W>>,
}

impl<W: Send + 'static> Waiting<'_, W> {
    /// Leaves the queue; returns the worker if one was handed over meanwhile (it then counts
    /// as held by the client).
    fn give_up(&mut self) -> Option<W> {
        let mut rx = self.rx.take()?;
        {
            let mut guard = self.scheduler.lock();
            let state = &mut *guard;
            if let Some(queue) = state.queues.get_mut(&self.client) {
                if let Some(i) = queue.iter().position(|w| w.id == self.id) {
                    queue.remove(i);
                    state.waiting -= 1;
                    if queue.is_empty() {
                        state.queues.remove(&self.client);
                        let client = self.client.clone();
                        state.turn.retain(|c| *c != client);
                    }
                    return None;
                }
            }
        }
        // Not in the queue: it was handed a worker (under the lock, so it is there now).
        rx.try_recv().ok()
    }
}

impl<W: Send + 'static> Drop for Waiting<'_, W> {
    fn drop(&mut self) {
        if let Some(worker) = self.give_up() {
            // Abandoned with a worker in hand: the client no longer holds it.
            let client = self.client.clone();
            self.scheduler.release(&client, Duration::ZERO);
            self.scheduler.put(worker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn the_preferred_idle_worker_is_taken() {
        let s = FairScheduler::new(2, 8, 64);
        for w in [1u32, 2, 3] {
            s.put(w);
        }
        let (w, _lease) = s.acquire_preferring("a", WAIT, |w| *w == 1).await.unwrap();
        assert_eq!(w, 1, "worker 1 holds the score");
        let (w, _lease2) = s.acquire_preferring("a", WAIT, |w| *w == 1).await.unwrap();
        assert_ne!(w, 1, "busy: another worker serves");
    }

    #[tokio::test]
    async fn without_a_preference_the_longest_idle_worker_is_taken() {
        let s = FairScheduler::new(4, 8, 64);
        for w in [1u32, 2, 3] {
            s.put(w);
        }
        let (w, _a) = s.acquire("a", WAIT).await.unwrap();
        assert_eq!(w, 1, "1 went idle first");
        s.put(4);
        let (w, _b) = s.acquire("a", WAIT).await.unwrap();
        assert_eq!(w, 2, "then 2; 4, just given back, stays free");
        let (w, _c) = s.acquire("a", WAIT).await.unwrap();
        assert_eq!(w, 3);
    }

    #[tokio::test]
    async fn waiting_for_a_busy_worker_ends_when_it_is_given_back_or_at_the_deadline() {
        let s = FairScheduler::new(2, 8, 64);
        s.put(2u32);
        assert!(
            !s.wait_for_idle(|w| *w == 1, Duration::from_millis(20))
                .await,
            "worker 1 never comes back: the wait ends at its deadline"
        );
        let giver = s.clone();
        let back = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            giver.put(1);
        });
        assert!(
            s.wait_for_idle(|w| *w == 1, WAIT).await,
            "worker 1 given back during the wait"
        );
        back.await.unwrap();
        let (w, _lease) = s.acquire_preferring("a", WAIT, |w| *w == 1).await.unwrap();
        assert_eq!(w, 1);
    }

    #[tokio::test]
    async fn a_client_at_its_quota_waits_while_others_take_idle_workers() {
        let s = FairScheduler::new(1, 8, 64);
        s.put(1);
        s.put(2);
        let (w, lease_a) = s.acquire("a", WAIT).await.unwrap();
        // a holds one worker: its second call must wait even though one is idle.
        let second_a = tokio::time::timeout(Duration::from_millis(50), s.acquire("a", WAIT)).await;
        assert!(second_a.is_err(), "a is at its quota");
        let (_w2, _lease_b) = s.acquire("b", WAIT).await.unwrap();
        drop(lease_a);
        s.put(w);
        let (_again, _lease) = s.acquire("a", WAIT).await.unwrap();
    }

    /// Queues one call per entry of `clients`, in that order, while no worker is free; then
    /// gives the scheduler `worker` and returns the order the calls were served in.
    async fn served_in_order(
        s: &Arc<FairScheduler<u32>>,
        clients: &[&'static str],
        worker: u32,
    ) -> Vec<&'static str> {
        let served = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, &client) in clients.iter().enumerate() {
            let sched = s.clone();
            let served = served.clone();
            tasks.push(tokio::spawn(async move {
                let (w, lease) = sched.acquire(client, WAIT).await.unwrap();
                served.lock().unwrap().push(client);
                drop(lease);
                sched.put(w);
            }));
            // Keep the arrival order.
            while s.waiting() < i + 1 {
                tokio::task::yield_now().await;
            }
        }
        s.put(worker);
        for t in tasks {
            t.await.unwrap();
        }
        let order = served.lock().unwrap().clone();
        order
    }

    #[tokio::test]
    async fn freed_workers_go_round_robin_between_clients() {
        let s = FairScheduler::new(1, 16, 64);
        // a queues five calls, then b and c one each.
        let order = served_in_order(&s, &["a", "a", "a", "a", "a", "b", "c"], 0).await;
        assert_eq!(order[..3], ["a", "b", "c"], "{order:?}");
    }

    #[tokio::test]
    async fn a_client_that_held_workers_long_waits_while_light_clients_wait() {
        let s = FairScheduler::new(1, 16, 64);
        s.put(0);
        // greedy held the worker for a long call; light made a short one.
        let (w, lease) = s.acquire("greedy", WAIT).await.unwrap();
        // Its lease ends as after 200 ms of work (recorded, not waited for).
        std::mem::forget(lease);
        s.release(&Arc::from("greedy"), Duration::from_millis(200));
        s.put(w);
        // light's short call; the worker stays out (busy) while the next two queue.
        let (busy, lease) = s.acquire("light", WAIT).await.unwrap();
        drop(lease);
        assert!(s.usage("greedy") > s.usage("light") + USAGE_SLACK.as_secs_f64());
        // greedy queues first, light after it; light is served first.
        let order = served_in_order(&s, &["greedy", "light"], busy).await;
        assert_eq!(order, ["light", "greedy"]);
    }

    #[tokio::test]
    async fn queue_limits_refuse_per_client_then_for_everyone() {
        let s: Arc<FairScheduler<u32>> = FairScheduler::new(1, 2, 3);
        let mut pending = Vec::new();
        for _ in 0..2 {
            let s2 = s.clone();
            pending.push(tokio::spawn(
                async move { s2.acquire("a", WAIT).await.is_ok() },
            ));
        }
        while s.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            s.acquire("a", WAIT).await.err(),
            Some(Refusal::ClientQueueFull { queued: 2 })
        );
        let s2 = s.clone();
        pending.push(tokio::spawn(
            async move { s2.acquire("b", WAIT).await.is_ok() },
        ));
        while s.waiting() < 3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            s.acquire("c", WAIT).await.err(),
            Some(Refusal::QueueFull { waiting: 3 })
        );
        s.close();
        for p in pending {
            assert!(!p.await.unwrap(), "closing refuses the waiting calls");
        }
        assert_eq!(s.acquire("d", WAIT).await.err(), Some(Refusal::Closed));
    }

    #[tokio::test]
    async fn a_timed_out_or_abandoned_call_loses_no_worker() {
        let s: Arc<FairScheduler<u32>> = FairScheduler::new(1, 8, 64);
        assert!(matches!(
            s.acquire("a", Duration::from_millis(10)).await,
            Err(Refusal::TimedOut { .. })
        ));
        assert_eq!(s.waiting(), 0);
        // An abandoned waiter: the future is dropped before a worker arrives.
        let s2 = s.clone();
        let abandoned = tokio::spawn(async move { s2.acquire("a", WAIT).await.map(|(w, _)| w) });
        while s.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        abandoned.abort();
        let _ = abandoned.await;
        assert_eq!(s.waiting(), 0);
        s.put(7);
        assert_eq!(
            s.idle(),
            1,
            "the worker went to the idle set, not to the gone caller"
        );
        let (w, _lease) = s.acquire("b", WAIT).await.unwrap();
        assert_eq!(w, 7);
        assert_eq!(s.holding("a"), 0);
    }
}
