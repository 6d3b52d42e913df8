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
pub mod net;
pub mod server;
pub mod shipped;
pub mod stress;

pub use server::{
    new_token, token_entropy_bits, AdmissionConfig, BodyConfig, BreakerConfig, ConnectionConfig,
    DeadlineConfig, MemoryConfig, RateLimitConfig, ReplayConfig, ServerConfig, WorkerConfig,
    MIN_TOKEN_BITS,
};

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

/// The engine behind the score store.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Where scores live: `sqlite` (a file in the data dir; one server) or `postgres` (a
    /// database that replicas share, at `url`).
    pub backend: StoreBackend,
    /// The PostgreSQL database, as `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (only for
    /// `backend = "postgres"`; `MUSIC21_PROD_STORE_URL` overrides it).
    pub url: String,
    /// Longest a database statement (or connect) may take before the call is refused as
    /// `storage_unavailable`, in milliseconds (PostgreSQL only).
    pub op_timeout_ms: u64,
    /// Most scores kept; the least recently used is evicted beyond it.
    pub max_scores: u64,
    /// Most source bytes kept, all scores together; least recently used evicted beyond it.
    pub max_bytes: u64,
    /// Parsed scores kept in memory per process.
    pub parsed_cache_entries: usize,
    /// Memory the parsed scores kept per process may take together, in MiB, as estimated
    /// from their sources (`resilience::parse_cost`): a score over it is not kept at all.
    pub parsed_cache_mb: u64,
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
            backend: StoreBackend::Sqlite,
            url: String::new(),
            op_timeout_ms: 5_000,
            max_scores: 10_000,
            max_bytes: 2 * 1024 * 1024 * 1024,
            parsed_cache_entries: 64,
            parsed_cache_mb: 256,
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

    /// Applies `MUSIC21_PROD_PORT`, `MUSIC21_PROD_DATA_DIR`, `MUSIC21_PROD_TOKEN` and
    /// `MUSIC21_PROD_STORE_URL` (which also selects the PostgreSQL store).
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
        if let Some(url) = get("MUSIC21_PROD_STORE_URL").filter(|u| !u.trim().is_empty()) {
            self.store.url = url;
            self.store.backend = StoreBackend::Postgres;
        }
        Ok(())
    }

    /// Checks what serde cannot: ranges and combinations, section by section.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        self.server
            .validate()
            .and_then(|()| self.store.validate())
            .and_then(|()| self.limits.validate())
            .and_then(|()| self.stress.validate())
            .map_err(|Invalid { key, message }| ConfigError::Invalid {
                origin: origin.to_string(),
                key,
                message,
            })
    }
}

/// A value serde accepted that the configuration cannot use: its key and what is wrong.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

impl Invalid {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Refuses the first of `values` (key, value) that is zero.
fn at_least_one<T: Default + PartialEq>(
    values: impl IntoIterator<Item = (&'static str, T)>,
) -> Result<(), Invalid> {
    match values.into_iter().find(|(_, v)| *v == T::default()) {
        Some((key, _)) => Err(Invalid::new(key, "must be at least 1")),
        None => Ok(()),
    }
}

impl StoreConfig {
    fn validate(&self) -> Result<(), Invalid> {
        if self.backend == StoreBackend::Postgres && self.url.trim().is_empty() {
            return Err(Invalid::new(
                "store.url",
                "store.backend is \"postgres\" and needs the database: postgres://USER:PASSWORD@HOST:PORT/DATABASE (or set MUSIC21_PROD_STORE_URL)",
            ));
        }
        at_least_one([
            ("store.max_scores", self.max_scores),
            ("store.max_bytes", self.max_bytes),
            ("store.op_timeout_ms", self.op_timeout_ms),
        ])
    }
}

impl ImportLimits {
    fn validate(&self) -> Result<(), Invalid> {
        at_least_one([
            ("limits.max_source_bytes", self.max_source_bytes),
            ("limits.max_inflated_bytes", self.max_inflated_bytes),
            (
                "limits.max_compact_format_bytes",
                self.max_compact_format_bytes,
            ),
            ("limits.max_export_bytes", self.max_export_bytes),
            ("limits.max_export_ratio", self.max_export_ratio),
        ])?;
        if self.max_fifths < 0 {
            return Err(Invalid::new("limits.max_fifths", "must not be negative"));
        }
        at_least_one([
            ("limits.max_parts", self.max_parts),
            ("limits.max_abc_voices", self.max_abc_voices),
            ("limits.max_abc_nesting", self.max_abc_nesting),
            ("limits.max_abc_length_digits", self.max_abc_length_digits),
            ("limits.max_humdrum_spines", self.max_humdrum_spines),
            ("limits.max_midi_tracks", self.max_midi_tracks),
            ("limits.max_analysis_notes", self.max_analysis_notes),
            (
                "limits.max_voice_leading_notes",
                self.max_voice_leading_notes,
            ),
        ])
    }
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
            "soak_test_config",
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
