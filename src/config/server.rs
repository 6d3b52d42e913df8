//! The `[server]` section: the listener, its limits per client and in all, the workers,
//! memory, breakers and deadlines, and the bearer tokens.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{at_least_one, Invalid};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to bind. Loopback by default; any other address requires `token`.
    pub bind: String,
    pub port: u16,
    /// Bearer token clients must present. Required when `bind` is not loopback, and then it
    /// must carry at least 32 bytes of entropy (`music21-prod setup --new-token` makes one).
    pub token: Option<String>,
    /// Named tokens, one per client (`name = "token"`): a request that presents one is that
    /// client for every per-client limit, whatever its address (e.g. behind a proxy).
    /// Any of them is accepted wherever `token` is.
    pub client_tokens: BTreeMap<String, String>,
    /// Where the score store and logs live.
    pub data_dir: PathBuf,
    /// Largest HTTP request body accepted, in bytes.
    pub max_body_bytes: u64,
    /// Extra host names accepted in the `Host` header (loopback names always are).
    pub allowed_hosts: Vec<String>,
    /// Reverse proxies (addresses or CIDR blocks, e.g. `127.0.0.1/32`) whose
    /// `X-Forwarded-For` names the client: behind a load balancer every connection comes
    /// from the proxy, and per-client limits must see the clients. Connections from a
    /// trusted proxy count against `connections.max` only, not `per_client_max`. Empty: the
    /// header is ignored (anyone could forge it).
    pub trusted_proxies: Vec<String>,
    /// Browser origins accepted in the `Origin` header (empty: any request with an Origin
    /// header from a non-loopback origin is refused).
    pub allowed_origins: Vec<String>,
    /// Live MCP sessions at most; a new session beyond it is refused with 503 unless an idle
    /// session of the client holding the most can be closed to make room.
    pub max_sessions: usize,
    /// Live MCP sessions of one client at most; a new one beyond it closes that client's
    /// least recently used idle session, or is refused with 503 when none is idle.
    pub max_sessions_per_client: usize,
    /// An MCP session idle this long, in seconds, is closed.
    pub session_idle_secs: f64,
    /// `pretty` or `json` log lines (on standard error).
    pub log_format: String,
    /// On SIGTERM, how long in-flight calls may take to finish, in seconds.
    pub drain_secs: f64,
    pub workers: WorkerConfig,
    pub connections: ConnectionConfig,
    pub bodies: BodyConfig,
    pub admission: AdmissionConfig,
    pub rate_limit: RateLimitConfig,
    pub memory: MemoryConfig,
    pub breaker: BreakerConfig,
    pub deadlines: DeadlineConfig,
    pub replay: ReplayConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Worker processes; 0 means one per CPU core.
    pub count: usize,
    /// Address-space cap of each worker (RLIMIT_AS), in MiB; 0 for none. Unset: derived
    /// from the memory budget (`budget_mb + 2048`: virtual memory runs ahead of resident).
    pub address_space_mb: Option<u64>,
    /// Resident memory at which a busy worker is killed, in MiB; 0 for no watch. Unset:
    /// derived from the memory budget (its hard limit, less 256 MiB for the server and
    /// 64 MiB for each other worker), so one worker may take the room the parse admission
    /// gave it, and no more than the budget holds.
    pub rss_limit_mb: Option<u64>,
    /// A worker is replaced after this many tasks.
    pub max_tasks: u64,
    /// Idle workers are pinged this often, in seconds.
    pub ping_secs: f64,
    /// A ping unanswered this long, in seconds, marks the worker dead.
    pub ping_timeout_secs: f64,
    /// A call on a score whose parse a busy worker holds waits this long, in milliseconds,
    /// for that worker before another one takes it (and parses the score again); 0 for
    /// no wait.
    pub affinity_wait_ms: u64,
}

/// Resident memory the server process itself is allowed for, when worker caps are derived.
pub const SERVER_SHARE_MB: u64 = 256;
/// Resident memory of an idle worker, when worker caps are derived.
pub const IDLE_WORKER_MB: u64 = 64;

impl WorkerConfig {
    /// This configuration with the unset caps derived from `memory` for `workers` workers.
    pub fn resolved(&self, memory: &MemoryConfig, workers: usize) -> Self {
        let hard_mb = memory.budget_mb * memory.hard_percent as u64 / 100;
        let others = IDLE_WORKER_MB * workers.saturating_sub(1) as u64;
        Self {
            address_space_mb: Some(self.address_space_mb.unwrap_or(memory.budget_mb + 2048)),
            rss_limit_mb: Some(
                self.rss_limit_mb
                    .unwrap_or_else(|| hard_mb.saturating_sub(SERVER_SHARE_MB + others).max(256)),
            ),
            ..self.clone()
        }
    }

    /// The address-space cap in MiB (0: none), once [`Self::resolved`].
    pub fn address_space_cap_mb(&self) -> u64 {
        self.address_space_mb.unwrap_or(0)
    }

    /// The resident-memory cap in MiB (0: none), once [`Self::resolved`].
    pub fn rss_cap_mb(&self) -> u64 {
        self.rss_limit_mb.unwrap_or(0)
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            count: 0,
            address_space_mb: None,
            rss_limit_mb: None,
            max_tasks: 1000,
            ping_secs: 5.0,
            ping_timeout_secs: 2.0,
            affinity_wait_ms: 50,
        }
    }
}

/// TCP connections: how many, and how long each may sit without doing its part.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionConfig {
    /// Open connections at most, all clients together (also capped by the open-file limit).
    pub max: usize,
    /// Open connections of one client address at most (an IPv4 address, an IPv6 /64).
    pub per_client_max: usize,
    /// Connections kept beyond those caps for the probes alone: over a cap, a connection
    /// may still ask /livez, /readyz, /health or /metrics once; anything else gets 503.
    pub probe_reserve: usize,
    /// A request's headers must arrive within this many seconds; it also bounds how long
    /// an idle keep-alive connection waits for its next request.
    pub header_timeout_secs: f64,
    /// A response the client stops reading for this many seconds ends its connection.
    pub write_stall_secs: f64,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            max: 1024,
            per_client_max: 128,
            probe_reserve: 32,
            header_timeout_secs: 10.0,
            write_stall_secs: 30.0,
        }
    }
}

/// Request bodies while they are read (before the MCP layer sees them).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BodyConfig {
    /// A body that sends nothing for this many seconds is refused (408).
    pub idle_secs: f64,
    /// A body at least this large (bytes) is "large": few may be read at once.
    pub large_bytes: u64,
    /// Large bodies read at once, all clients together ...
    pub max_large: usize,
    /// ... and of one client.
    pub client_max_large: usize,
}

impl Default for BodyConfig {
    fn default() -> Self {
        Self {
            idle_secs: 10.0,
            large_bytes: 1024 * 1024,
            max_large: 4,
            client_max_large: 1,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Calls waiting for a free worker at most; beyond it calls are shed (overload).
    pub queue_max: usize,
    /// How long a call may wait for a worker, in milliseconds, before it is shed.
    pub queue_wait_ms: u64,
    /// Workers one client may hold at once; 0 means half of them (at least one). Over
    /// stdio (one local client) the whole pool is the client's.
    pub client_max_workers: usize,
    /// Calls of one client waiting for a worker at most; beyond it that client's calls are
    /// shed (overloaded), and no one else's.
    pub client_queue_max: usize,
    /// Light tools (list_scores, delete_score, health_check, score_info of a stored
    /// summary) run in the server process, never behind heavy parses, this many at once.
    pub light_concurrency: usize,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            queue_max: 64,
            queue_wait_ms: 10_000,
            client_max_workers: 0,
            client_queue_max: 8,
            light_concurrency: 4,
        }
    }
}

impl AdmissionConfig {
    /// The workers one client may hold in a pool of `workers`.
    pub fn client_workers(&self, workers: usize) -> usize {
        if self.client_max_workers == 0 {
            (workers / 2).max(1)
        } else {
            self.client_max_workers.min(workers.max(1))
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests a second per client: counted for its address (or named token)
    /// and, separately, for each of its MCP sessions; either over it is refused.
    pub client_per_second: f64,
    pub client_burst: u32,
    /// Sustained requests a second for all clients together.
    pub global_per_second: f64,
    pub global_burst: u32,
    /// Over stdio (`serve --stdio`): tool calls a second from its one local client; 0 for
    /// no limit. The per-client and global limits above are for HTTP, where clients share
    /// the server.
    pub stdio_per_second: f64,
    pub stdio_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            client_per_second: 100.0,
            client_burst: 200,
            global_per_second: 1000.0,
            global_burst: 2000,
            stdio_per_second: 0.0,
            stdio_burst: 1000,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// Memory budget of the server and its workers together (resident), in MiB.
    pub budget_mb: u64,
    /// Above this share of the budget, heavy tools are refused and caches shrink.
    pub soft_percent: u8,
    /// Above this share of the budget, every new call is refused.
    pub hard_percent: u8,
    /// How often memory is sampled, in milliseconds.
    pub sample_ms: u64,
    /// A parse estimated to need at least this many MiB (see `server::memory_cost`)
    /// reserves its memory before it starts; smaller ones are covered by the sampled
    /// memory and the soft and hard limits.
    pub reserve_from_mb: u64,
    /// How long a parse may wait for its reservation (another large parse finishing)
    /// before it is refused with `memory_pressure`, in seconds.
    pub admission_wait_secs: f64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            budget_mb: 4096,
            soft_percent: 75,
            hard_percent: 90,
            sample_ms: 250,
            reserve_from_mb: 64,
            admission_wait_secs: 30.0,
        }
    }
}

/// Resumable answers over Streamable HTTP: the events of each SSE stream are kept so a
/// client whose stream dropped reconnects with `Last-Event-ID` and gets what it missed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayConfig {
    /// How long a finished stream's events are kept for a reconnect, in seconds. 0 turns
    /// replay off: streams then carry no event ids and no `retry` invitation.
    pub retention_secs: f64,
    /// A `tools/call` whose client went away (no stream open for its answer, neither the
    /// POST's nor a resumed one) is stopped after this many seconds, unless the client
    /// reconnects to it first. Without replay it is stopped at once.
    pub hangup_grace_secs: f64,
    /// Events kept per stream (the oldest progress notifications go first; an answer is
    /// the last event of its stream and is kept).
    pub max_events_per_stream: usize,
    /// Bytes of kept events per MCP session; beyond it the session's oldest streams go.
    pub max_session_bytes: u64,
    /// Bytes of kept events in all; beyond it the oldest streams of all go.
    pub max_bytes: u64,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            retention_secs: 60.0,
            hangup_grace_secs: 10.0,
            max_events_per_stream: 256,
            max_session_bytes: 8 << 20,
            max_bytes: 64 << 20,
        }
    }
}

impl ReplayConfig {
    pub fn enabled(&self) -> bool {
        self.retention_secs > 0.0
    }
}

/// How long each tool may run before its worker is killed, in seconds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlineConfig {
    pub default_secs: f64,
    /// Per tool, e.g. `import_score = 60`.
    pub tools: BTreeMap<String, f64>,
}

impl Default for DeadlineConfig {
    fn default() -> Self {
        let tools = [
            ("import_score", 60.0),
            ("export_score", 60.0),
            ("transpose_score", 60.0),
            ("harmonize_melody", 60.0),
            ("generate_counterpoint", 60.0),
            ("imitate_style", 60.0),
            ("list_scores", 10.0),
            ("delete_score", 10.0),
            ("health_check", 5.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Self {
            default_secs: 30.0,
            tools,
        }
    }
}

impl DeadlineConfig {
    pub fn for_tool(&self, tool: &str) -> std::time::Duration {
        let secs = self.tools.get(tool).copied().unwrap_or(self.default_secs);
        std::time::Duration::from_secs_f64(secs.max(0.001))
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1".into(),
            port: 8021,
            token: None,
            data_dir: PathBuf::from("data"),
            // A 50 MB score as base64 (4/3 of it) inside a JSON-RPC envelope.
            max_body_bytes: 72 * 1024 * 1024,
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            allowed_origins: Vec::new(),
            client_tokens: Default::default(),
            max_sessions: 256,
            max_sessions_per_client: 32,
            session_idle_secs: 300.0,
            log_format: "pretty".into(),
            drain_secs: 10.0,
            workers: WorkerConfig::default(),
            connections: ConnectionConfig::default(),
            bodies: BodyConfig::default(),
            admission: AdmissionConfig::default(),
            rate_limit: RateLimitConfig::default(),
            memory: MemoryConfig::default(),
            breaker: BreakerConfig::default(),
            deadlines: DeadlineConfig::default(),
            replay: ReplayConfig::default(),
        }
    }
}

/// A circuit breaker's settings (see [`crate::resilience::breaker`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Sliding window over which failures are counted, in seconds.
    pub window_secs: f64,
    /// Fewest outcomes in the window before the breaker may open.
    pub min_calls: u32,
    /// Failure ratio (0-1] in the window that opens the breaker.
    pub failure_ratio: f64,
    /// How long the breaker stays open before half-opening by itself, in seconds.
    pub break_secs: f64,
    /// Calls let through while half-open.
    pub half_open_probes: u32,
    /// Distinct clients whose calls failed in the window, at least, before the breaker
    /// opens for everyone (a client's own failures open its own breaker only).
    pub min_failing_clients: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window_secs: 30.0,
            min_calls: 5,
            failure_ratio: 0.5,
            break_secs: 5.0,
            half_open_probes: 2,
            min_failing_clients: 3,
        }
    }
}

impl ServerConfig {
    /// Checks what serde cannot: the address and its tokens, then ranges and combinations.
    pub fn validate(&self) -> Result<(), Invalid> {
        let ip: IpAddr = self.bind.parse().map_err(|_| {
            Invalid::new(
                "server.bind",
                format!("`{}` is not an IP address", self.bind),
            )
        })?;
        self.validate_tokens(ip)?;
        for block in &self.trusted_proxies {
            super::net::IpBlock::parse(block)
                .map_err(|m| Invalid::new("server.trusted_proxies", m))?;
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(Invalid::new("server.data_dir", "must not be empty"));
        }
        at_least_one([("server.max_body_bytes", self.max_body_bytes)])?;
        if !matches!(self.log_format.as_str(), "pretty" | "json") {
            return Err(Invalid::new(
                "server.log_format",
                format!("`{}` is not pretty or json", self.log_format),
            ));
        }
        at_least_one([
            ("server.max_sessions", self.max_sessions),
            (
                "server.max_sessions_per_client",
                self.max_sessions_per_client,
            ),
            ("server.connections.max", self.connections.max),
            (
                "server.connections.per_client_max",
                self.connections.per_client_max,
            ),
            ("server.bodies.max_large", self.bodies.max_large),
            (
                "server.bodies.client_max_large",
                self.bodies.client_max_large,
            ),
            (
                "server.admission.client_queue_max",
                self.admission.client_queue_max,
            ),
            (
                "server.admission.light_concurrency",
                self.admission.light_concurrency,
            ),
        ])?;
        for (key, value) in [
            (
                "server.connections.header_timeout_secs",
                self.connections.header_timeout_secs,
            ),
            (
                "server.connections.write_stall_secs",
                self.connections.write_stall_secs,
            ),
            ("server.bodies.idle_secs", self.bodies.idle_secs),
        ] {
            if !(value > 0.0 && value.is_finite()) {
                return Err(Invalid::new(key, "must be a positive number of seconds"));
            }
        }
        for (key, value) in [
            ("server.replay.retention_secs", self.replay.retention_secs),
            (
                "server.replay.hangup_grace_secs",
                self.replay.hangup_grace_secs,
            ),
        ] {
            if !(value >= 0.0 && value.is_finite()) {
                return Err(Invalid::new(
                    key,
                    "must be 0 or a positive number of seconds",
                ));
            }
        }
        if self.replay.enabled() {
            at_least_one([
                (
                    "server.replay.max_events_per_stream",
                    self.replay.max_events_per_stream as u64,
                ),
                (
                    "server.replay.max_session_bytes",
                    self.replay.max_session_bytes,
                ),
                ("server.replay.max_bytes", self.replay.max_bytes),
            ])?;
        }
        self.validate_resilience()
    }

    /// A server off loopback needs a token, and every token enough entropy; client names
    /// must be plain and their tokens distinct from the shared one.
    fn validate_tokens(&self, ip: IpAddr) -> Result<(), Invalid> {
        let has_token =
            self.token.as_deref().is_some_and(|t| !t.is_empty()) || !self.client_tokens.is_empty();
        if !ip.is_loopback() && !has_token {
            return Err(Invalid::new(
                "server.token",
                format!(
                    "binding to {ip} (not loopback) requires a token: set server.token or MUSIC21_PROD_TOKEN (make one with `music21-prod setup --new-token`)"
                ),
            ));
        }
        for (name, token) in &self.client_tokens {
            let key = format!("server.client_tokens.{name}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(Invalid::new(
                    key,
                    "a client name is letters, digits, '.', '_' or '-'",
                ));
            }
            if token.is_empty() {
                return Err(Invalid::new(key, "must not be empty"));
            }
            if Some(token.as_str()) == self.token.as_deref() {
                return Err(Invalid::new(key, "must differ from server.token"));
            }
        }
        if ip.is_loopback() {
            // Nobody else can reach the port: any token will do.
            return Ok(());
        }
        let tokens = self
            .token
            .iter()
            .map(|t| ("server.token".to_string(), t))
            .chain(
                self.client_tokens
                    .iter()
                    .map(|(n, t)| (format!("server.client_tokens.{n}"), t)),
            );
        for (key, token) in tokens {
            let bits = token_entropy_bits(token);
            if bits < MIN_TOKEN_BITS {
                return Err(Invalid::new(
                    key,
                    format!(
                        "a token for a server bound to {ip} needs at least {} bytes of entropy; this one carries about {} bits. Make one with `music21-prod setup --new-token` (or `openssl rand -hex 32`)",
                        MIN_TOKEN_BITS as u32 / 8,
                        bits as u32
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The breakers, the memory budget, the rate limits and the deadlines.
    fn validate_resilience(&self) -> Result<(), Invalid> {
        at_least_one([(
            "server.breaker.min_failing_clients",
            self.breaker.min_failing_clients,
        )])?;
        let m = &self.memory;
        if m.budget_mb == 0
            || m.soft_percent == 0
            || m.soft_percent > m.hard_percent
            || m.hard_percent > 100
        {
            return Err(Invalid::new(
                "server.memory",
                "budget_mb must be positive and 0 < soft_percent <= hard_percent <= 100",
            ));
        }
        let b = &self.breaker;
        if !(b.failure_ratio > 0.0 && b.failure_ratio <= 1.0) {
            return Err(Invalid::new(
                "server.breaker.failure_ratio",
                "must be in (0, 1]",
            ));
        }
        let r = &self.rate_limit;
        if r.client_per_second <= 0.0 || r.global_per_second <= 0.0 {
            return Err(Invalid::new("server.rate_limit", "rates must be positive"));
        }
        for (tool, secs) in &self.deadlines.tools {
            if *secs <= 0.0 {
                return Err(Invalid::new(
                    format!("server.deadlines.tools.{tool}"),
                    "must be positive",
                ));
            }
        }
        Ok(())
    }
}

/// The entropy a token for a non-loopback server must carry, in bits (32 bytes).
pub const MIN_TOKEN_BITS: f64 = 256.0;

/// A cautious estimate of a token's entropy in bits: its length times the bits of the
/// smallest common alphabet it fits (hex 4, base64 6, printable ASCII 6.5), and nothing for
/// a token that repeats a shorter pattern or uses too few distinct characters to be random.
pub fn token_entropy_bits(token: &str) -> f64 {
    let chars: Vec<char> = token.chars().collect();
    let n = chars.len();
    if n == 0 || !chars.iter().all(|c| c.is_ascii_graphic()) {
        return 0.0;
    }
    let per_char = if chars.iter().all(char::is_ascii_hexdigit) {
        4.0
    } else if chars
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(*c))
    {
        6.0
    } else {
        6.5
    };
    let mut distinct = chars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let alphabet = if per_char == 4.0 { 16 } else { 64 };
    if distinct.len() < (n / 2).min(alphabet / 2) {
        return 0.0;
    }
    let periodic =
        (1..=n / 2).any(|p| n.is_multiple_of(p) && chars.chunks(p).all(|c| c == &chars[..p]));
    if periodic {
        return 0.0;
    }
    per_char * n as f64
}

/// A fresh token of 32 random bytes from the kernel, as 64 hex digits.
pub fn new_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}
