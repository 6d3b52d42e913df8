//! The worker pool: N `music21-prod worker` processes, each running one task at a time.
//!
//! A task past its deadline gets its worker killed (so the work really stops) and replaced;
//! a worker whose resident memory passes its cap is killed; a worker that dies fails only the
//! task it was running and is replaced with backoff. Idle workers are pinged, and a worker
//! is recycled after a number of tasks. Every such event is counted in the metrics and
//! logged.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{Config, WorkerConfig};
use crate::error::ErrorKind;
use crate::metrics::Metrics;
use crate::workers::protocol::{read_frame, write_frame, Request, Response};

/// Where a call's progress reports go (`notifications/progress` to its client).
pub type ProgressSink = std::sync::Arc<dyn Fn(crate::tools::progress::Step) + Send + Sync>;
use crate::workers::scheduler::{FairScheduler, Refusal};
use serde::Serialize;
use serde_json::Value;
use tokio::io::BufReader;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio_util::sync::CancellationToken;

/// The environment variable that hands a worker its configuration (JSON).
pub const WORKER_CONFIG_ENV: &str = "MUSIC21_PROD_WORKER_CONFIG";

/// Why a task did not produce a tool result.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolError {
    /// The tool ran and refused (bad argument, not found, ...).
    Tool { kind: ErrorKind, message: String },
    /// No worker became free within the wait, or the queue was full.
    Overloaded {
        waiting: usize,
        retry_after: Duration,
    },
    /// This client already has as many calls waiting as one client may (others are not
    /// affected).
    ClientQueueFull {
        queued: usize,
        quota: usize,
        retry_after: Duration,
    },
    /// The task passed its deadline; its worker was killed.
    Timeout { deadline: Duration },
    /// The worker passed its memory cap and was killed.
    MemoryCap { rss_mb: u64, limit_mb: u64 },
    /// The worker died while running the task.
    Crashed { detail: String },
    /// The pool is shutting down.
    ShuttingDown,
    /// The caller cancelled the call (`notifications/cancelled`): a queued call never
    /// started, a running one had its worker killed.
    Cancelled { running: bool },
}

impl PoolError {
    /// Whether the failure speaks of the tool's health (the breaker counts these).
    pub fn is_tool_health_failure(&self) -> bool {
        match self {
            PoolError::Timeout { .. } | PoolError::MemoryCap { .. } | PoolError::Crashed { .. } => {
                true
            }
            PoolError::Tool { kind, .. } => *kind == ErrorKind::Internal,
            _ => false,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SlotInfo {
    pub slot: usize,
    pub pid: Option<u32>,
    /// starting, idle, busy or dead
    pub state: &'static str,
    pub tool: Option<String>,
    pub tasks: u64,
    pub rss_bytes: u64,
    pub restarts: u64,
    pub uptime_secs: f64,
}

struct Worker {
    slot: usize,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pid: u32,
    tasks: u64,
}

struct SlotState {
    pid: Option<u32>,
    state: &'static str,
    tool: Option<String>,
    tasks: u64,
    rss_bytes: u64,
    restarts: u64,
    started: Instant,
    /// Consecutive failed starts or crashes, for the backoff.
    failures: u32,
}

pub struct Pool {
    config: WorkerConfig,
    exe: PathBuf,
    worker_env: String,
    metrics: Arc<Metrics>,
    /// Idle workers and the calls waiting for one, fairly between clients.
    sched: Arc<FairScheduler<Worker>>,
    slots: Mutex<Vec<SlotState>>,
    next_id: AtomicU64,
    shutting_down: AtomicBool,
    /// Set by the memory guard: the next round of the pinger asks for a cache drop.
    shrink_pending: AtomicBool,
    shrink_now: tokio::sync::Notify,
    queue_wait: Duration,
    client_quota: usize,
    /// Which worker last parsed each score (its cache holds it).
    affinity: Affinity,
}

/// The scores a call reads and writes, by its arguments.
struct ScoreIds {
    /// `score_id`: the score the call reads (or, for an import, stores).
    read: Option<String>,
    /// `new_score_id`: a score the call stores (a transposition, a harmonisation).
    written: Option<String>,
}

impl ScoreIds {
    fn of(args: &Value) -> Self {
        let get = |key: &str| args.get(key).and_then(Value::as_str).map(str::to_string);
        Self {
            read: get("score_id"),
            written: get("new_score_id"),
        }
    }
}

/// Score id -> the pid of the worker whose cache holds its parse, so a score's calls go to
/// the worker that parsed it (an analysis right after an import does not parse again). Only
/// a preference: a busy worker is waited for `workers.affinity_wait_ms` at most, a replaced
/// one not at all. Bounded: past
/// [`AFFINITY_ENTRIES`] the least recently noted half is forgotten.
#[derive(Default)]
struct Affinity {
    map: Mutex<(u64, AffinityMap)>,
}

/// Score id -> (worker pid, when it was noted: a running count).
type AffinityMap = HashMap<String, (u32, u64)>;

const AFFINITY_ENTRIES: usize = 8192;

impl Affinity {
    fn worker_of(&self, score_id: &str) -> Option<u32> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.1.get(score_id).map(|(pid, _)| *pid)
    }

    fn note(&self, tool: &str, ids: &ScoreIds, pid: u32) {
        let mut guard = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let (tick, map) = &mut *guard;
        if tool == "delete_score" {
            if let Some(id) = &ids.read {
                map.remove(id);
            }
            return;
        }
        for id in ids.read.iter().chain(ids.written.iter()) {
            *tick += 1;
            map.insert(id.clone(), (pid, *tick));
        }
        if map.len() > AFFINITY_ENTRIES {
            let mut ticks: Vec<u64> = map.values().map(|(_, t)| *t).collect();
            ticks.sort_unstable();
            let cut = ticks[ticks.len() / 2];
            map.retain(|_, (_, t)| *t > cut);
        }
    }
}

fn worker_count(config: &WorkerConfig) -> usize {
    if config.count > 0 {
        config.count
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    }
}

impl Pool {
    /// Starts the pool and its workers; returns once every worker has been spawned.
    /// `one_client` gives the whole pool to a single client (stdio), else each client may
    /// hold `server.admission.client_max_workers` of them.
    pub async fn start(
        config: &Config,
        exe: PathBuf,
        metrics: Arc<Metrics>,
        one_client: bool,
    ) -> std::io::Result<Arc<Self>> {
        let count = worker_count(&config.server.workers);
        let worker_env = serde_json::to_string(config).map_err(std::io::Error::other)?;
        let admission = &config.server.admission;
        // Over stdio the one client may use the whole pool and the whole queue: there is
        // no one else to keep room for.
        let (client_quota, client_queue_max) = if one_client {
            (count, admission.queue_max)
        } else {
            (admission.client_workers(count), admission.client_queue_max)
        };
        let sched = FairScheduler::new(client_quota, client_queue_max, admission.queue_max);
        let pool = Arc::new(Self {
            config: config.server.workers.resolved(&config.server.memory, count),
            exe,
            worker_env,
            metrics,
            sched,
            slots: Mutex::new(
                (0..count)
                    .map(|_| SlotState {
                        pid: None,
                        state: "starting",
                        tool: None,
                        tasks: 0,
                        rss_bytes: 0,
                        restarts: 0,
                        started: Instant::now(),
                        failures: 0,
                    })
                    .collect(),
            ),
            next_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            shrink_pending: AtomicBool::new(false),
            shrink_now: tokio::sync::Notify::new(),
            queue_wait: Duration::from_millis(admission.queue_wait_ms),
            client_quota,
            affinity: Affinity::default(),
        });
        for slot in 0..count {
            let worker = pool.spawn_worker(slot)?;
            pool.make_idle(worker);
        }
        tokio::spawn(pool.clone().pinger());
        Ok(pool)
    }

    pub fn size(&self) -> usize {
        self.lock_slots().len()
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, Vec<SlotState>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Workers alive (idle or busy).
    pub fn up(&self) -> usize {
        self.lock_slots()
            .iter()
            .filter(|s| matches!(s.state, "idle" | "busy"))
            .count()
    }

    pub fn waiting(&self) -> usize {
        self.sched.waiting()
    }

    /// Workers one client may hold at once.
    pub fn client_quota(&self) -> usize {
        self.client_quota
    }

    /// Clients holding or waiting for workers now: (client, holding, waiting).
    pub fn clients(&self) -> Vec<(String, usize, usize)> {
        self.sched.clients()
    }

    pub fn slot_info(&self) -> Vec<SlotInfo> {
        self.lock_slots()
            .iter()
            .enumerate()
            .map(|(slot, s)| SlotInfo {
                slot,
                pid: s.pid,
                state: s.state,
                tool: s.tool.clone(),
                tasks: s.tasks,
                rss_bytes: s.rss_bytes,
                restarts: s.restarts,
                uptime_secs: s.started.elapsed().as_secs_f64(),
            })
            .collect()
    }

    /// Resident memory of every worker now, refreshing the metrics; the sum in bytes.
    pub fn sample_memory(&self) -> u64 {
        let mut slots = self.lock_slots();
        let mut total = 0;
        for (i, s) in slots.iter_mut().enumerate() {
            s.rss_bytes = s.pid.and_then(crate::sysmem::rss_bytes).unwrap_or(0);
            total += s.rss_bytes;
            self.metrics
                .worker_rss_bytes
                .with_label_values(&[&i.to_string()])
                .set(s.rss_bytes as i64);
        }
        self.metrics
            .memory_bytes
            .with_label_values(&["workers"])
            .set(total as i64);
        total
    }

    pub fn worker_pids(&self) -> Vec<u32> {
        self.lock_slots().iter().filter_map(|s| s.pid).collect()
    }

    /// The program a worker is started from: the server's own file while it still holds the
    /// running build, else `/proc/self/exe` (the file was replaced or removed since the server
    /// started: an upgrade in place, a rebuild). Workers must run the server's build (they
    /// speak its protocol), and a removed file cannot be started at all.
    fn worker_program(&self) -> PathBuf {
        use std::os::unix::fs::MetadataExt;
        let running = PathBuf::from("/proc/self/exe");
        match (std::fs::metadata(&running), std::fs::metadata(&self.exe)) {
            (Ok(r), Ok(f)) if (r.dev(), r.ino()) == (f.dev(), f.ino()) => self.exe.clone(),
            (Ok(_), _) => running,
            _ => self.exe.clone(),
        }
    }

    fn spawn_worker(&self, slot: usize) -> std::io::Result<Worker> {
        let mut cmd = Command::new(self.worker_program());
        cmd.arg0(&self.exe)
            .arg("worker")
            .env(WORKER_CONFIG_ENV, &self.worker_env)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        let address_space = self.config.address_space_cap_mb() * 1024 * 1024;
        // SAFETY: between fork and exec only async-signal-safe calls (prctl, setrlimit).
        unsafe {
            cmd.pre_exec(move || {
                // A worker must not outlive a server killed with SIGKILL.
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)?;
                if address_space > 0 {
                    nix::sys::resource::setrlimit(
                        nix::sys::resource::Resource::RLIMIT_AS,
                        address_space,
                        address_space,
                    )
                    .map_err(std::io::Error::from)?;
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let pid = child.id().unwrap_or(0);
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("worker has no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("worker has no stdout"))?;
        {
            let mut slots = self.lock_slots();
            if let Some(s) = slots.get_mut(slot) {
                s.pid = Some(pid);
                s.state = "idle";
                s.tasks = 0;
                s.tool = None;
                s.started = Instant::now();
            }
        }
        tracing::debug!(slot, pid, "worker started");
        Ok(Worker {
            slot,
            child,
            stdin,
            stdout: BufReader::new(stdout),
            pid,
            tasks: 0,
        })
    }

    /// Whether the worker `pid` is running a call now (not idle, not gone).
    fn is_busy(&self, pid: u32) -> bool {
        self.lock_slots()
            .iter()
            .any(|s| s.pid == Some(pid) && s.state == "busy")
    }

    fn set_state(&self, slot: usize, state: &'static str, tool: Option<&str>) {
        if let Some(s) = self.lock_slots().get_mut(slot) {
            s.state = state;
            s.tool = tool.map(str::to_string);
            if state == "dead" {
                s.pid = None;
            }
        }
        let busy = self
            .lock_slots()
            .iter()
            .filter(|s| s.state == "busy")
            .count();
        self.metrics.workers_busy.set(busy as i64);
        self.metrics.workers_up.set(self.up() as i64);
    }

    fn make_idle(&self, worker: Worker) {
        self.set_state(worker.slot, "idle", None);
        if self.shutting_down.load(Ordering::SeqCst) {
            return; // dropping the worker kills it
        }
        self.sched.put(worker);
        self.metrics.queue_depth.set(self.sched.waiting() as i64);
    }

    /// Kills a worker (if alive) and starts a replacement in the background, after a backoff
    /// that grows with consecutive failures of the slot.
    fn replace(self: &Arc<Self>, worker: Worker, reason: &'static str, kill: bool) {
        let Worker {
            slot,
            mut child,
            stdin,
            pid,
            ..
        } = worker;
        // Closing stdin ends a healthy worker cleanly.
        drop(stdin);
        if kill {
            let _ = child.start_kill();
            self.metrics.worker_kills.with_label_values(&[reason]).inc();
        }
        self.set_state(slot, "dead", None);
        let failures = {
            let mut slots = self.lock_slots();
            match slots.get_mut(slot) {
                Some(s) => {
                    if reason != "recycled" {
                        s.failures += 1;
                    }
                    s.restarts += 1;
                    s.failures
                }
                None => 0,
            }
        };
        if reason == "recycled" {
            tracing::debug!(slot, pid, reason, "worker replaced");
        } else {
            tracing::warn!(slot, pid, reason, "worker replaced");
        }
        let pool = self.clone();
        tokio::spawn(async move {
            // Reap the old process so it leaves no zombie.
            if tokio::time::timeout(Duration::from_secs(5), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
            let mut attempt = failures;
            loop {
                if pool.shutting_down.load(Ordering::SeqCst) {
                    return;
                }
                let backoff = if attempt <= 1 {
                    Duration::ZERO
                } else {
                    Duration::from_millis((50u64 << attempt.min(7)).min(5_000))
                };
                tokio::time::sleep(backoff).await;
                match pool.spawn_worker(slot) {
                    Ok(w) => {
                        pool.metrics
                            .worker_restarts
                            .with_label_values(&[reason])
                            .inc();
                        pool.make_idle(w);
                        return;
                    }
                    Err(e) => {
                        tracing::error!(slot, error = %e, "cannot start a worker; retrying");
                        attempt += 1;
                    }
                }
            }
        });
    }

    /// Takes a worker for `client`, fairly between clients, waiting up to the queue wait;
    /// sheds when the queue (all clients', or this client's) is full.
    async fn checkout(
        &self,
        client: &str,
        preferred_pid: Option<u32>,
    ) -> Result<(Worker, crate::workers::scheduler::Lease<Worker>), PoolError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(PoolError::ShuttingDown);
        }
        let started = Instant::now();
        if let Some(pid) = preferred_pid {
            let wait = Duration::from_millis(self.config.affinity_wait_ms);
            if !wait.is_zero() && self.is_busy(pid) {
                self.sched
                    .wait_for_idle(|w: &Worker| w.pid == pid, wait)
                    .await;
            }
        }
        self.metrics
            .queue_depth
            .set((self.sched.waiting() + 1) as i64);
        let got = self
            .sched
            .acquire_preferring(client, self.queue_wait, |w: &Worker| {
                Some(w.pid) == preferred_pid
            })
            .await;
        self.metrics
            .queue_wait
            .observe(started.elapsed().as_secs_f64());
        self.metrics.queue_depth.set(self.sched.waiting() as i64);
        if let (Some(pid), Ok((worker, _))) = (preferred_pid, &got) {
            let outcome = if worker.pid == pid { "kept" } else { "moved" };
            self.metrics
                .worker_affinity
                .with_label_values(&[outcome])
                .inc();
        }
        got.map_err(|refusal| match refusal {
            Refusal::QueueFull { waiting } | Refusal::TimedOut { waiting } => {
                PoolError::Overloaded {
                    waiting,
                    retry_after: Duration::from_secs(1),
                }
            }
            Refusal::ClientQueueFull { queued } => PoolError::ClientQueueFull {
                queued,
                quota: self.client_quota,
                retry_after: Duration::from_secs(1),
            },
            Refusal::Closed => PoolError::ShuttingDown,
        })
    }

    /// Refuses the calls waiting for a worker, and every new one, with `ShuttingDown`; calls
    /// already running finish (the drain on SIGTERM).
    pub fn stop_taking_work(&self) {
        self.sched.close();
        self.metrics.queue_depth.set(0);
    }

    /// Runs `tool` on a worker for `client`. When `cancel` fires, a call still queued leaves
    /// the queue (it never starts) and a running one has its worker killed and replaced (the
    /// work really stops, counted in `music21_worker_kills_total{reason="cancelled"}`).
    /// The worker's progress reports go to `progress` as they come.
    pub async fn call(
        self: &Arc<Self>,
        tool: &str,
        args: Value,
        deadline: Duration,
        client: &str,
        cancel: &CancellationToken,
        progress: Option<&ProgressSink>,
    ) -> Result<Value, PoolError> {
        let score_ids = ScoreIds::of(&args);
        let preferred_pid = score_ids
            .read
            .as_deref()
            .and_then(|id| self.affinity.worker_of(id));
        // Built once: a 50 MB source is not copied for each attempt.
        let mut request = Request::Call {
            id: 0,
            tool: tool.to_string(),
            args,
            progress: progress.is_some(),
        };
        // A request that never reached a worker (its pipe was already broken) is safe to
        // send to another one; a request that did reach one is not retried.
        for _attempt in 0..3 {
            // The lease says this client holds a worker; it ends with this iteration, after
            // the worker went back (or was replaced).
            let (mut worker, _lease) = tokio::select! {
                got = self.checkout(client, preferred_pid) => got?,
                _ = cancel.cancelled() => return Err(PoolError::Cancelled { running: false }),
            };
            if let Ok(Some(status)) = worker.child.try_wait() {
                tracing::warn!(slot = worker.slot, %status, "idle worker found dead");
                self.replace(worker, "died_idle", false);
                continue;
            }
            // Not reaped yet but dying (killed while idle): its pipe may still take the
            // request, which it would never answer. Another worker gets the task instead.
            if crate::sysmem::is_gone(worker.pid) {
                tracing::warn!(
                    slot = worker.slot,
                    pid = worker.pid,
                    "idle worker found exiting"
                );
                self.replace(worker, "died_idle", true);
                continue;
            }
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            if let Request::Call { id: of, .. } = &mut request {
                *of = id;
            }
            self.set_state(worker.slot, "busy", Some(tool));
            self.metrics.worker_tasks.inc();
            if write_frame(&mut worker.stdin, &request).await.is_err() {
                self.replace(worker, "died_idle", true);
                continue;
            }
            drop(request);
            let pid = worker.pid;
            let answer = self
                .await_answer(worker, id, deadline, cancel, progress)
                .await;
            if answer.is_ok() {
                self.affinity.note(tool, &score_ids, pid);
            }
            return answer;
        }
        Err(PoolError::Crashed {
            detail: "no worker could take the task: each one was found dead".into(),
        })
    }

    async fn await_answer(
        self: &Arc<Self>,
        mut worker: Worker,
        id: u64,
        deadline: Duration,
        cancel: &CancellationToken,
        progress: Option<&ProgressSink>,
    ) -> Result<Value, PoolError> {
        let rss_limit = self.config.rss_cap_mb() * 1024 * 1024;
        let pid = worker.pid;
        let watch_rss = async move {
            if rss_limit == 0 {
                return std::future::pending::<u64>().await;
            }
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Some(rss) = crate::sysmem::rss_bytes(pid) {
                    if rss > rss_limit {
                        return rss;
                    }
                }
            }
        };
        let expiry = tokio::time::sleep(deadline);
        tokio::pin!(expiry, watch_rss);
        let outcome = loop {
            tokio::select! {
                frame = read_frame::<_, Response>(&mut worker.stdout) => match frame {
                    // Progress of this call: passed on, and the answer is still to come.
                    Ok(Some(Response::Progress { id: of, step })) if of == id => {
                        if let Some(progress) = progress {
                            progress(step);
                        }
                    }
                    frame => break Some(frame),
                },
                _ = &mut expiry => break None,
                rss = &mut watch_rss => {
                    self.replace(worker, "memory_cap", true);
                    return Err(PoolError::MemoryCap {
                        rss_mb: rss / (1024 * 1024),
                        limit_mb: self.config.rss_cap_mb(),
                    });
                }
                _ = cancel.cancelled() => {
                    self.replace(worker, "cancelled", true);
                    return Err(PoolError::Cancelled { running: true });
                }
            }
        };
        match outcome {
            None => {
                self.replace(worker, "timeout", true);
                Err(PoolError::Timeout { deadline })
            }
            Some(Ok(Some(response))) if response.id() == id => {
                worker.tasks += 1;
                if let Some(s) = self.lock_slots().get_mut(worker.slot) {
                    s.tasks = worker.tasks;
                    s.failures = 0;
                }
                let result = match response {
                    Response::Ok { result, .. } => Ok(result),
                    Response::Err { kind, message, .. } => Err(PoolError::Tool { kind, message }),
                    Response::Pong { .. } | Response::Progress { .. } => Err(PoolError::Crashed {
                        detail: "the worker answered out of turn".into(),
                    }),
                };
                if worker.tasks >= self.config.max_tasks.max(1) {
                    tracing::info!(
                        slot = worker.slot,
                        pid = worker.pid,
                        "worker recycled after its task limit"
                    );
                    self.replace(worker, "recycled", false);
                } else {
                    self.make_idle(worker);
                }
                result
            }
            Some(Ok(Some(_))) => {
                self.replace(worker, "protocol_error", true);
                Err(PoolError::Crashed {
                    detail: "the worker answered a different request".into(),
                })
            }
            Some(Ok(None)) | Some(Err(_)) => {
                let status =
                    tokio::time::timeout(Duration::from_secs(2), worker.child.wait()).await;
                let detail = describe_exit(
                    status.ok().and_then(Result::ok),
                    self.config.address_space_cap_mb(),
                );
                self.replace(worker, "crashed", false);
                Err(PoolError::Crashed { detail })
            }
        }
    }

    /// Asks the idle workers, at once, to drop their parsed-score caches (the memory guard
    /// calls this when memory crosses the soft limit). Workers busy at that moment keep
    /// theirs; when none is idle, the request waits for the next round of the pinger.
    pub fn request_shrink(&self) {
        self.shrink_pending.store(true, Ordering::SeqCst);
        self.shrink_now.notify_one();
    }

    /// Pings idle workers now and then (or asks them to shrink their caches when the memory
    /// guard requested it); replaces those that do not answer.
    async fn pinger(self: Arc<Self>) {
        let every = Duration::from_secs_f64(self.config.ping_secs.max(0.05));
        let timeout = Duration::from_secs_f64(self.config.ping_timeout_secs.max(0.05));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.shrink_now.notified() => {}
            }
            if self.shutting_down.load(Ordering::SeqCst) {
                return;
            }
            let shrink = self.shrink_pending.swap(false, Ordering::SeqCst);
            let idle = self.sched.take_idle();
            if shrink && idle.is_empty() {
                self.shrink_pending.store(true, Ordering::SeqCst);
            } else if shrink {
                tracing::info!(
                    workers = idle.len(),
                    "memory above the soft limit: idle workers asked to drop their caches"
                );
                self.metrics.cache_shrinks.inc_by(idle.len() as u64);
            }
            for mut worker in idle {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let request = if shrink {
                    Request::Shrink { id }
                } else {
                    Request::Ping { id }
                };
                let alive = async {
                    write_frame(&mut worker.stdin, &request).await.ok()?;
                    let frame = read_frame::<_, Response>(&mut worker.stdout).await.ok()??;
                    (frame.id() == id).then_some(())
                };
                match tokio::time::timeout(timeout, alive).await {
                    Ok(Some(())) => self.make_idle(worker),
                    _ => self.replace(worker, "ping_failed", true),
                }
            }
        }
    }

    /// Stops taking work and ends every idle worker (closing its stdin ends it cleanly).
    pub async fn shutdown(&self, grace: Duration) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.sched.close();
        for mut w in self.sched.take_idle() {
            drop(w.stdin);
            if tokio::time::timeout(grace, w.child.wait()).await.is_err() {
                let _ = w.child.start_kill();
            }
        }
    }
}

fn describe_exit(status: Option<std::process::ExitStatus>, address_space_mb: u64) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) => match s.signal() {
            // An allocation past RLIMIT_AS aborts the process.
            Some(6) => format!(
                "the worker ran out of memory (its address-space cap is {address_space_mb} MiB) and was stopped"
            ),
            Some(9) => "the worker was killed (SIGKILL) while running the task".into(),
            Some(sig) => format!("the worker died from signal {sig} while running the task"),
            None => format!("the worker exited with status {} while running the task", s.code().unwrap_or(-1)),
        },
        None => "the worker stopped answering while running the task".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids(args: Value) -> ScoreIds {
        ScoreIds::of(&args)
    }

    #[test]
    fn a_score_goes_back_to_the_worker_that_parsed_it() {
        let a = Affinity::default();
        a.note("import_score", &ids(json!({"score_id": "s"})), 11);
        assert_eq!(a.worker_of("s"), Some(11));
        a.note(
            "transpose_score",
            &ids(json!({"score_id": "s", "new_score_id": "t"})),
            12,
        );
        assert_eq!((a.worker_of("s"), a.worker_of("t")), (Some(12), Some(12)));
        a.note("delete_score", &ids(json!({"score_id": "s"})), 12);
        assert_eq!(a.worker_of("s"), None);
        assert_eq!(a.worker_of("never"), None);
    }

    #[test]
    fn the_affinity_map_is_bounded() {
        let a = Affinity::default();
        for i in 0..AFFINITY_ENTRIES + 1 {
            a.note(
                "import_score",
                &ids(json!({"score_id": format!("s{i}")})),
                1,
            );
        }
        let len = a.map.lock().map(|m| m.1.len()).unwrap_or(0);
        assert!(len <= AFFINITY_ENTRIES / 2 + 1, "{len}");
        assert_eq!(
            a.worker_of(&format!("s{AFFINITY_ENTRIES}")),
            Some(1),
            "the newest stays"
        );
    }
}
