//! The server under test, run by the stress harness's own supervisor: started on a fixed
//! loopback port in the run's data directory, restarted whenever it dies (unless a nemesis
//! action holds restarts), its pid known so that faults can be real signals.
//!
//! Or a deployment the harness did not start (`stress --target`): the same probes over its
//! URL, and process faults only through the operator's commands (`target.rs`).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct ServerUnderTest {
    exe: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    pub port: u16,
    pid: AtomicU32,
    /// Bumped at every (re)start: a session opened before it is stale.
    generation: AtomicU64,
    restarts: AtomicU64,
    hold_restarts: AtomicBool,
    stopping: AtomicBool,
    child: tokio::sync::Mutex<Option<Child>>,
    last_exit: Mutex<Option<String>>,
    /// The client of the harness's probes (`/readyz`, `/health`).
    probe: reqwest::Client,
    /// A deployment this harness did not start; `None` for its own server.
    pub remote: Option<crate::stress::target::Remote>,
}

/// A free port on 127.0.0.1 (bound then released; the server binds it with SO_REUSEADDR).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl ServerUnderTest {
    pub fn new(
        exe: PathBuf,
        port: u16,
        data_dir: PathBuf,
        config: PathBuf,
        log: PathBuf,
    ) -> reqwest::Result<Self> {
        let args = vec![
            "serve".to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--config".into(),
            config.display().to_string(),
        ];
        // No proxy from the environment (this is loopback), nothing pooled (the server is
        // killed and restarted under the harness), and a probe never waits long.
        let probe = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            exe,
            args,
            log,
            port,
            pid: AtomicU32::new(0),
            generation: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            hold_restarts: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            child: tokio::sync::Mutex::new(None),
            last_exit: Mutex::new(None),
            probe,
            remote: None,
        })
    }

    /// A deployment already running at `remote`'s URL: nothing to start, supervise or stop.
    pub fn remote(remote: crate::stress::target::Remote) -> reqwest::Result<Self> {
        let mut me = Self::new(
            PathBuf::new(),
            remote.address().port(),
            PathBuf::new(),
            PathBuf::new(),
            PathBuf::new(),
        )?;
        me.remote = Some(remote);
        Ok(me)
    }

    pub fn base_url(&self) -> String {
        match &self.remote {
            Some(r) => r.base_url().to_string(),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    pub fn mcp_url(&self) -> String {
        match &self.remote {
            Some(r) => r.mcp_url().to_string(),
            None => format!("{}/mcp", self.base_url()),
        }
    }

    /// Where raw requests go: the server's listening address.
    pub fn address(&self) -> std::net::SocketAddr {
        match &self.remote {
            Some(r) => r.address(),
            None => ([127, 0, 0, 1], self.port).into(),
        }
    }

    pub fn pid(&self) -> Option<u32> {
        match self.pid.load(Ordering::SeqCst) {
            0 => None,
            p => Some(p),
        }
    }

    /// The server processes whose memory the run watches: its own server, or for a target
    /// the processes listening on its replicas' (or its own) ports, when they run here.
    pub fn server_pids(&self) -> Vec<u32> {
        match &self.remote {
            Some(r) => r.local_pids(),
            None => self.pid().into_iter().collect(),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::SeqCst)
    }

    /// A target's server restarted (the harness killed or terminated a replica): sessions
    /// opened before may be gone, so users open new ones, as a client does after a 404.
    pub fn note_restart(&self) {
        self.restarts.fetch_add(1, Ordering::SeqCst);
        self.renew_sessions();
    }

    /// Users open new sessions before their next call.
    pub fn renew_sessions(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn last_exit(&self) -> Option<String> {
        self.last_exit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Starts the server and waits until it says where it listens.
    pub async fn start(&self) -> anyhow::Result<()> {
        if self.remote.is_some() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let mut child = Command::new(&self.exe)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the server")?;
        let stdout = child.stdout.take().context("the server has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        match first {
            Ok(Ok(Some(line))) if line.contains("listening on") => {}
            other => {
                let _ = child.start_kill();
                bail!(
                    "the server did not start (first output: {other:?}); see {}",
                    self.log.display()
                );
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.pid.store(child.id().unwrap_or(0), Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        *self.child.lock().await = Some(child);
        Ok(())
    }

    /// A GET of one of the server's probes, or None when nothing answers.
    async fn get(&self, path: &str) -> Option<reqwest::Response> {
        let url = format!("{}{path}", self.base_url());
        self.probe.get(url).send().await.ok()
    }

    /// The server's /health, when it answers.
    pub async fn health(&self) -> Option<crate::wire::Health> {
        let body = self.get("/health").await?.text().await.ok()?;
        serde_json::from_str(&body).ok()
    }

    /// Polls `/readyz` until it answers 200, up to `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self
                .get("/readyz")
                .await
                .is_some_and(|r| r.status() == reqwest::StatusCode::OK)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }

    /// Restarts the server whenever it exits, until [`ServerUnderTest::stop`]. A target
    /// restarts itself (its supervisor, systemd, or the operator's restart command).
    pub fn supervise(self: &Arc<Self>) {
        if self.remote.is_some() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                if me.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let exited = {
                    let mut guard = me.child.lock().await;
                    match guard.as_mut() {
                        Some(child) => match child.try_wait() {
                            Ok(Some(status)) => {
                                *me.last_exit.lock().unwrap_or_else(|p| p.into_inner()) =
                                    Some(status.to_string());
                                *guard = None;
                                true
                            }
                            Ok(None) => false,
                            Err(_) => false,
                        },
                        None => true,
                    }
                };
                if exited {
                    me.pid.store(0, Ordering::SeqCst);
                    if !me.hold_restarts.load(Ordering::SeqCst)
                        && !me.stopping.load(Ordering::SeqCst)
                    {
                        me.restarts.fetch_add(1, Ordering::SeqCst);
                        if let Err(e) = me.start().await {
                            tracing::error!(error = %format!("{e:#}"), "restart failed; trying again");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        continue;
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }

    /// Holds (or releases) automatic restarts, for actions that need the server down.
    pub fn hold_restarts(&self, hold: bool) {
        self.hold_restarts.store(hold, Ordering::SeqCst);
    }

    /// Sends a real signal to the server process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) -> anyhow::Result<u32> {
        let pid = self.pid().context("the server is not running")?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal)
            .with_context(|| format!("cannot signal the server (pid {pid})"))?;
        Ok(pid)
    }

    /// Waits until the current process has exited (restarts held), up to `timeout`.
    pub async fn wait_down(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.pid().is_none() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// Stops the server for good: SIGTERM, then SIGKILL after `grace`. A target is left
    /// running.
    pub async fn stop(&self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        if self.remote.is_some() {
            return;
        }
        let mut guard = self.child.lock().await;
        if let Some(child) = guard.as_mut() {
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            if tokio::time::timeout(grace, child.wait()).await.is_err() {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
        *guard = None;
        self.pid.store(0, Ordering::SeqCst);
    }
}
