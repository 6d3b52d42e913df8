//! One set of configuration types for `serve`, `stress` and `monitor`, read from TOML.
//!
//! Every key has a default, so no file is needed. Validation errors name the file, the key
//! and what is wrong. `MUSIC21_PROD_PORT`, `MUSIC21_PROD_DATA_DIR` and `MUSIC21_PROD_TOKEN`
//! override the file.
//!
//! A leaf of plain data: configuration uses nothing else of the crate, so every other module
//! may use it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod duration;
pub mod shipped;
pub mod stress;

/// The whole configuration. Sections a subcommand does not use are simply ignored by it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub limits: ImportLimits,
    pub corpus: CorpusConfig,
    pub stress: StressConfig,
    pub monitor: MonitorConfig,
}

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
    pub client_tokens: std::collections::BTreeMap<String, String>,
    /// Where the score store and logs live.
    pub data_dir: PathBuf,
    /// Largest HTTP request body accepted, in bytes.
    pub max_body_bytes: u64,
    /// Extra host names accepted in the `Host` header (loopback names always are).
    pub allowed_hosts: Vec<String>,
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
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Worker processes; 0 means one per CPU core.
    pub count: usize,
    /// Address-space cap of each worker (RLIMIT_AS), in MiB; 0 for none.
    pub address_space_mb: u64,
    /// Resident memory at which a busy worker is killed, in MiB; 0 for no watch.
    pub rss_limit_mb: u64,
    /// A worker is replaced after this many tasks.
    pub max_tasks: u64,
    /// Idle workers are pinged this often, in seconds.
    pub ping_secs: f64,
    /// A ping unanswered this long, in seconds, marks the worker dead.
    pub ping_timeout_secs: f64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            count: 0,
            address_space_mb: 6144,
            rss_limit_mb: 2048,
            max_tasks: 1000,
            ping_secs: 5.0,
            ping_timeout_secs: 2.0,
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
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            client_per_second: 100.0,
            client_burst: 200,
            global_per_second: 1000.0,
            global_burst: 2000,
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
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            budget_mb: 8192,
            soft_percent: 75,
            hard_percent: 90,
            sample_ms: 250,
        }
    }
}

/// How long each tool may run before its worker is killed, in seconds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlineConfig {
    pub default_secs: f64,
    /// Per tool, e.g. `import_score = 60`.
    pub tools: std::collections::BTreeMap<String, f64>,
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
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Most scores kept; the least recently used is evicted beyond it.
    pub max_scores: u64,
    /// Most source bytes kept, all scores together; least recently used evicted beyond it.
    pub max_bytes: u64,
    /// Parsed scores kept in memory per process.
    pub parsed_cache_entries: usize,
    /// How long a writer waits for another process's lock, in milliseconds.
    pub busy_timeout_ms: u64,
    /// Space kept in reserve (a file in the data dir), in MiB: when the disk is full it is
    /// given up so that deleting scores, which needs a little room itself, still works.
    pub reserve_mb: u64,
    /// Below this much free disk in the data dir (MiB) the server reports itself not ready.
    pub min_free_mb: u64,
    /// The background scrub re-verifies every record's checksum, starting a new pass this
    /// many seconds after the last one ended; 0 turns it off.
    pub scrub_interval_secs: f64,
    /// How fast the scrub reads, in MiB a second (it yields to real work).
    pub scrub_mb_per_sec: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_scores: 10_000,
            max_bytes: 2 * 1024 * 1024 * 1024,
            parsed_cache_entries: 64,
            busy_timeout_ms: 10_000,
            reserve_mb: 8,
            min_free_mb: 64,
            scrub_interval_secs: 300.0,
            scrub_mb_per_sec: 16,
        }
    }
}

/// Cheap checks made before the engine sees a score: each guards an input the engine
/// cannot survive (see docs/ENGINE-NOTES.md in the shared docs).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ImportLimits {
    /// Largest source accepted, in bytes (MusicXML; .mxl after inflation).
    pub max_source_bytes: u64,
    /// Largest ABC, Humdrum, tinyNotation or MIDI source, in bytes: the engine's memory grows
    /// far faster than the input for these formats.
    pub max_compact_format_bytes: u64,
    /// Largest inflated size of a compressed .mxl.
    pub max_inflated_bytes: u64,
    /// Largest absolute `<fifths>` (or ABC/Humdrum key) value.
    pub max_fifths: i64,
    /// Most parts in a MusicXML score.
    pub max_parts: usize,
    /// Most `V:` voices in one ABC tune.
    pub max_abc_voices: usize,
    /// Deepest nesting of `(`, `[` or `{` in ABC.
    pub max_abc_nesting: usize,
    /// Most digits in one ABC note-length number.
    pub max_abc_length_digits: usize,
    /// Most Humdrum spines open at once (after splits).
    pub max_humdrum_spines: usize,
    /// Most tracks in a MIDI file.
    pub max_midi_tracks: usize,
    /// Most notes and rests an analysis, export or transposition is asked to walk.
    pub max_analysis_notes: usize,
    /// Most notes a voice-leading analysis walks: it compares every pair of parts at every
    /// moment, so its cost grows much faster than the score (20,000 notes: 0.4 s;
    /// 80,000: 6 s).
    pub max_voice_leading_notes: usize,
    /// Largest export (or stored transformation) in bytes, estimated before it is written
    /// and checked again after: a tiny ABC can unfold into tens of megabytes of MusicXML.
    pub max_export_bytes: u64,
    /// An export may also be at most this many times the size of the score's stored source
    /// (1 MiB is always allowed): MusicXML is verbose, but not without end.
    pub max_export_ratio: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self {
            max_source_bytes: 60 * 1024 * 1024,
            max_compact_format_bytes: 4 * 1024 * 1024,
            max_inflated_bytes: 64 * 1024 * 1024,
            max_fifths: 12,
            max_parts: 128,
            max_abc_voices: 32,
            max_abc_nesting: 16,
            max_abc_length_digits: 3,
            max_humdrum_spines: 64,
            max_midi_tracks: 256,
            max_analysis_notes: 2_000_000,
            max_voice_leading_notes: 100_000,
            max_export_bytes: 64 * 1024 * 1024,
            max_export_ratio: 64,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CorpusConfig {
    /// Directories laid out like music21's corpus (`bach/bwv66.6.mxl`), searched in order
    /// before the built-in corpus. music21's own `music21/corpus` works as one.
    pub dirs: Vec<PathBuf>,
    /// Directories `import_score` may read files from. Empty: no file imports. A file is
    /// opened beneath one of them without following any symlink (nor `..`), and must be a
    /// regular file.
    pub allowed_dirs: Vec<PathBuf>,
    /// Also read files under `allowed_dirs` that have more than one hard link. Off by
    /// default: a hard link in an allowed directory can name a file from anywhere on the
    /// same file system.
    pub allow_hardlinks: bool,
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

pub use stress::StressConfig;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    pub server: String,
    /// Poll interval, as `1s` or `500ms`.
    #[serde(with = "duration")]
    pub interval: std::time::Duration,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            server: "http://127.0.0.1:8021".into(),
            interval: std::time::Duration::from_secs(1),
        }
    }
}

/// The configuration read when no `--config` is given, relative to the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "configs/server.toml";

/// A configuration problem, always naming where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} not found (also looked for configs/{0} and configs/{0}.toml)")]
    NotFound(String),
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{origin}: {key}: {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },
}

/// Finds a config by name: the path itself, then `configs/NAME`, then `configs/NAME.toml`.
/// The name of a shipped config file for a config name (`smoke` → `smoke.toml`).
fn embedded_file_name(name: &str) -> String {
    let base = name.trim_start_matches("configs/");
    if base.ends_with(".toml") {
        base.to_string()
    } else {
        format!("{base}.toml")
    }
}

/// A shipped config by name, as compiled into the binary.
pub fn embedded_config(name: &str) -> Option<&'static str> {
    let file = embedded_file_name(name);
    shipped::DEFAULT_CONFIGS
        .iter()
        .find(|(n, _)| *n == file)
        .map(|(_, text)| *text)
}

pub fn resolve_config_path(name: &str) -> Result<PathBuf, ConfigError> {
    let candidates = [
        PathBuf::from(name),
        Path::new("configs").join(name),
        Path::new("configs").join(format!("{name}.toml")),
    ];
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| ConfigError::NotFound(name.to_string()))
}

impl Config {
    /// Reads the configuration: `name` (a path, or a name under `configs/`, or one of the
    /// shipped configs compiled in), else `configs/server.toml` when present, else defaults;
    /// then the `MUSIC21_PROD_*` environment overrides.
    pub fn load(name: Option<&str>) -> Result<Self, ConfigError> {
        let (mut config, origin) = match name {
            Some(name) if resolve_config_path(name).is_err() && embedded_config(name).is_some() => {
                // The shipped configs are compiled in, so `--config smoke` works anywhere.
                let text = embedded_config(name).unwrap_or_default();
                let origin = format!(
                    "{name} (built-in copy of configs/{})",
                    embedded_file_name(name)
                );
                (Self::from_toml(text, Path::new(&origin))?, origin)
            }
            Some(name) => Self::read_file(resolve_config_path(name)?)?,
            // With no --config, ./configs/server.toml is the configuration when it exists
            // (`setup --fix` writes it there and `setup --fetch-corpus` records the corpus
            // in it); otherwise the defaults.
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                Self::read_file(PathBuf::from(DEFAULT_CONFIG_FILE))?
            }
            None => (Self::default(), "defaults".to_string()),
        };
        config.apply_env(|key| std::env::var(key).ok(), &origin)?;
        config.validate(&origin)?;
        Ok(config)
    }

    /// Reads and parses one file; returns the config and the file's name for messages.
    fn read_file(path: PathBuf) -> Result<(Self, String), ConfigError> {
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let config = Self::from_toml(&text, &path)?;
        Ok((config, path.display().to_string()))
    }

    /// Parses TOML text; `path` only names the source in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| parse_error(describe_toml_error(&e, text)))?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let message = describe_toml_error(e.inner(), text);
            if key.is_empty() || key == "." {
                parse_error(message)
            } else {
                parse_error(format!("key `{key}`: {message}"))
            }
        })
    }

    /// Applies `MUSIC21_PROD_PORT`, `MUSIC21_PROD_DATA_DIR` and `MUSIC21_PROD_TOKEN`.
    pub fn apply_env(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
        origin: &str,
    ) -> Result<(), ConfigError> {
        if let Some(port) = get("MUSIC21_PROD_PORT") {
            self.server.port = port.trim().parse().map_err(|_| ConfigError::Invalid {
                origin: format!("{origin} (environment MUSIC21_PROD_PORT)"),
                key: "server.port".into(),
                message: format!("`{port}` is not a port number (0-65535)"),
            })?;
        }
        if let Some(dir) = get("MUSIC21_PROD_DATA_DIR") {
            self.server.data_dir = PathBuf::from(dir);
        }
        if let Some(token) = get("MUSIC21_PROD_TOKEN") {
            self.server.token = (!token.is_empty()).then_some(token);
        }
        Ok(())
    }

    /// Checks what serde cannot: ranges and combinations.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            message,
        };
        let ip: std::net::IpAddr = self.server.bind.parse().map_err(|_| {
            invalid(
                "server.bind",
                format!("`{}` is not an IP address", self.server.bind),
            )
        })?;
        let has_token = self.server.token.as_deref().is_some_and(|t| !t.is_empty())
            || !self.server.client_tokens.is_empty();
        if !ip.is_loopback() && !has_token {
            return Err(invalid(
                "server.token",
                format!(
                    "binding to {ip} (not loopback) requires a token: set server.token or MUSIC21_PROD_TOKEN (make one with `music21-prod setup --new-token`)"
                ),
            ));
        }
        for (name, token) in &self.server.client_tokens {
            let key = format!("server.client_tokens.{name}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(invalid(
                    &key,
                    "a client name is letters, digits, '.', '_' or '-'".into(),
                ));
            }
            if token.is_empty() {
                return Err(invalid(&key, "must not be empty".into()));
            }
            if Some(token.as_str()) == self.server.token.as_deref() {
                return Err(invalid(&key, "must differ from server.token".into()));
            }
        }
        if !ip.is_loopback() {
            let tokens = self
                .server
                .token
                .iter()
                .map(|t| ("server.token".to_string(), t))
                .chain(
                    self.server
                        .client_tokens
                        .iter()
                        .map(|(n, t)| (format!("server.client_tokens.{n}"), t)),
                );
            for (key, token) in tokens {
                let bits = token_entropy_bits(token);
                if bits < MIN_TOKEN_BITS {
                    return Err(invalid(
                        &key,
                        format!(
                            "a token for a server bound to {ip} needs at least {} bytes of entropy; this one carries about {} bits. Make one with `music21-prod setup --new-token` (or `openssl rand -hex 32`)",
                            MIN_TOKEN_BITS as u32 / 8,
                            bits as u32
                        ),
                    ));
                }
            }
        }
        if self.server.data_dir.as_os_str().is_empty() {
            return Err(invalid("server.data_dir", "must not be empty".into()));
        }
        let positive: [(&str, u64); 6] = [
            ("server.max_body_bytes", self.server.max_body_bytes),
            ("store.max_scores", self.store.max_scores),
            ("store.max_bytes", self.store.max_bytes),
            ("limits.max_source_bytes", self.limits.max_source_bytes),
            ("limits.max_inflated_bytes", self.limits.max_inflated_bytes),
            (
                "limits.max_compact_format_bytes",
                self.limits.max_compact_format_bytes,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        if self.limits.max_fifths < 0 {
            return Err(invalid("limits.max_fifths", "must not be negative".into()));
        }
        for (key, value) in [
            ("limits.max_parts", self.limits.max_parts),
            ("limits.max_abc_voices", self.limits.max_abc_voices),
            ("limits.max_abc_nesting", self.limits.max_abc_nesting),
            (
                "limits.max_abc_length_digits",
                self.limits.max_abc_length_digits,
            ),
            ("limits.max_humdrum_spines", self.limits.max_humdrum_spines),
            ("limits.max_midi_tracks", self.limits.max_midi_tracks),
            ("limits.max_analysis_notes", self.limits.max_analysis_notes),
            (
                "limits.max_voice_leading_notes",
                self.limits.max_voice_leading_notes,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        if !matches!(self.server.log_format.as_str(), "pretty" | "json") {
            return Err(invalid(
                "server.log_format",
                format!("`{}` is not pretty or json", self.server.log_format),
            ));
        }
        for (key, value) in [
            ("server.max_sessions", self.server.max_sessions),
            (
                "server.max_sessions_per_client",
                self.server.max_sessions_per_client,
            ),
            ("server.connections.max", self.server.connections.max),
            (
                "server.connections.per_client_max",
                self.server.connections.per_client_max,
            ),
            ("server.bodies.max_large", self.server.bodies.max_large),
            (
                "server.bodies.client_max_large",
                self.server.bodies.client_max_large,
            ),
            (
                "server.admission.client_queue_max",
                self.server.admission.client_queue_max,
            ),
            (
                "server.admission.light_concurrency",
                self.server.admission.light_concurrency,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        for (key, value) in [
            (
                "server.connections.header_timeout_secs",
                self.server.connections.header_timeout_secs,
            ),
            (
                "server.connections.write_stall_secs",
                self.server.connections.write_stall_secs,
            ),
            ("server.bodies.idle_secs", self.server.bodies.idle_secs),
        ] {
            if !(value > 0.0 && value.is_finite()) {
                return Err(invalid(key, "must be a positive number of seconds".into()));
            }
        }
        if self.server.breaker.min_failing_clients == 0 {
            return Err(invalid(
                "server.breaker.min_failing_clients",
                "must be at least 1".into(),
            ));
        }
        if self.limits.max_export_bytes == 0 {
            return Err(invalid(
                "limits.max_export_bytes",
                "must be at least 1".into(),
            ));
        }
        if self.limits.max_export_ratio == 0 {
            return Err(invalid(
                "limits.max_export_ratio",
                "must be at least 1".into(),
            ));
        }
        let m = &self.server.memory;
        if m.budget_mb == 0
            || m.soft_percent == 0
            || m.soft_percent > m.hard_percent
            || m.hard_percent > 100
        {
            return Err(invalid(
                "server.memory",
                "budget_mb must be positive and 0 < soft_percent <= hard_percent <= 100".into(),
            ));
        }
        let b = &self.server.breaker;
        if !(b.failure_ratio > 0.0 && b.failure_ratio <= 1.0) {
            return Err(invalid(
                "server.breaker.failure_ratio",
                "must be in (0, 1]".into(),
            ));
        }
        let r = &self.server.rate_limit;
        if r.client_per_second <= 0.0 || r.global_per_second <= 0.0 {
            return Err(invalid(
                "server.rate_limit",
                "rates must be positive".into(),
            ));
        }
        for (tool, secs) in &self.server.deadlines.tools {
            if *secs <= 0.0 {
                return Err(invalid(
                    &format!("server.deadlines.tools.{tool}"),
                    "must be positive".into(),
                ));
            }
        }
        self.stress
            .validate()
            .map_err(|(key, message)| invalid(&key, message))?;
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

/// Turns toml's error into one line with the key path and the line number.
fn describe_toml_error(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().trim().to_string();
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate("defaults").unwrap();
    }

    #[test]
    fn shipped_server_config_parses_and_equals_defaults_where_documented() {
        let text = include_str!("../../configs/server.toml");
        let config = Config::from_toml(text, Path::new("configs/server.toml")).unwrap();
        config.validate("configs/server.toml").unwrap();
        assert_eq!(
            config,
            Config::default(),
            "configs/server.toml must show every default"
        );
    }

    #[test]
    fn shipped_configs_load_by_name_without_the_files() {
        let config = Config::load(Some("smoke")).unwrap();
        assert_eq!(config.stress.users, 100);
        assert!(embedded_config("quick_test_config.toml").is_some());
        assert!(embedded_config("nonsense").is_none());
    }

    #[test]
    fn every_shipped_config_is_valid() {
        for name in [
            "server",
            "smoke",
            "quick_test_config",
            "moderate_test_config",
            "full_test_config",
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("configs")
                .join(format!("{name}.toml"));
            let text = std::fs::read_to_string(&path).unwrap();
            let config = Config::from_toml(&text, &path).unwrap_or_else(|e| panic!("{e}"));
            config.validate(name).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = Config::from_toml("[store]\nmax_scorez = 3\n", Path::new("x.toml")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("x.toml"), "{text}");
        assert!(text.contains("max_scorez"), "{text}");
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err =
            Config::from_toml("[server]\nport = \"high\"\n", Path::new("x.toml")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("port"), "{text}");
    }

    #[test]
    fn non_loopback_bind_needs_a_token_with_32_bytes_of_entropy() {
        let mut config = Config::default();
        config.server.bind = "0.0.0.0".into();
        let err = config.validate("x.toml").unwrap_err().to_string();
        assert!(err.contains("server.token"), "{err}");
        for weak in [
            "s",
            "secret",
            &"a".repeat(80),
            &"0123456789abcdef".repeat(4),
            &"ab".repeat(40),
        ] {
            config.server.token = Some(weak.to_string());
            let err = config.validate("x.toml").unwrap_err().to_string();
            assert!(
                err.contains("32 bytes of entropy") && err.contains("--new-token"),
                "{weak}: {err}"
            );
        }
        config.server.token = Some(new_token().unwrap());
        config.validate("x.toml").unwrap();
        config
            .server
            .client_tokens
            .insert("alice".into(), "short".into());
        let err = config.validate("x.toml").unwrap_err().to_string();
        assert!(err.contains("server.client_tokens.alice"), "{err}");
        // On loopback any token will do: nobody else can reach the port.
        config.server.bind = "127.0.0.1".into();
        config.validate("x.toml").unwrap();
    }

    #[test]
    fn fresh_tokens_pass_the_entropy_estimate() {
        for _ in 0..50 {
            let token = new_token().unwrap();
            assert_eq!(token.len(), 64);
            assert!(token_entropy_bits(&token) >= MIN_TOKEN_BITS, "{token}");
        }
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(hex::decode(new_token().unwrap()).unwrap());
        assert!(token_entropy_bits(&b64) >= MIN_TOKEN_BITS, "{b64}");
    }

    #[test]
    fn environment_overrides_port_dir_and_token() {
        let mut config = Config::default();
        let env = |k: &str| match k {
            "MUSIC21_PROD_PORT" => Some("9999".to_string()),
            "MUSIC21_PROD_DATA_DIR" => Some("/tmp/m21".to_string()),
            "MUSIC21_PROD_TOKEN" => Some("t0k".to_string()),
            _ => None,
        };
        config.apply_env(env, "defaults").unwrap();
        assert_eq!(config.server.port, 9999);
        assert_eq!(config.server.data_dir, PathBuf::from("/tmp/m21"));
        assert_eq!(config.server.token.as_deref(), Some("t0k"));
        let bad = |k: &str| (k == "MUSIC21_PROD_PORT").then(|| "eighty".to_string());
        let err = config.apply_env(bad, "defaults").unwrap_err().to_string();
        assert!(
            err.contains("server.port") && err.contains("eighty"),
            "{err}"
        );
    }

    #[test]
    fn zero_limits_are_refused_by_key() {
        let mut config = Config::default();
        config.limits.max_parts = 0;
        let err = config.validate("f.toml").unwrap_err().to_string();
        assert_eq!(err, "f.toml: limits.max_parts: must be at least 1");
    }

    #[test]
    fn a_bad_duration_is_refused_at_load_naming_its_key() {
        let text = "[stress]\nheal = \"3s\"\n[[stress.chaos]]\nat = \"10 parsecs\"\naction = { kind = \"kill_server\" }\n";
        let err = Config::from_toml(text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("stress.chaos[0].at"), "{err}");
        assert!(
            err.contains("10 parsecs") && err.contains("line 4"),
            "{err}"
        );
    }

    #[test]
    fn every_shipped_config_writes_out_and_reads_back_the_same() {
        for (name, text) in shipped::DEFAULT_CONFIGS {
            let config = Config::from_toml(text, Path::new(name)).unwrap();
            let written = toml::to_string(&config).unwrap();
            let again = Config::from_toml(&written, Path::new(name)).unwrap();
            assert_eq!(again, config, "{name}");
            let json = serde_json::to_string(&config).unwrap();
            let again: Config = serde_json::from_str(&json).unwrap();
            assert_eq!(again, config, "{name}");
        }
    }
}
