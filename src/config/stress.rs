//! The production test's configuration (`[stress]`): load, mix, chaos schedule, thresholds.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{duration, Invalid};
use crate::wire::FaultKind;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StressConfig {
    /// Run length (load and chaos), as `90s`, `10m`, `1h`.
    #[serde(with = "duration")]
    pub duration: Duration,
    /// Virtual MCP users (closed model), or sessions serving arrivals (open model).
    pub users: u32,
    pub seed: u64,
    /// `closed` (users with think time) or `open` (arrivals at `arrival_rate`).
    pub model: String,
    /// Closed model: pause between one user's calls, in milliseconds (jittered ±50%).
    pub think_time_ms: u64,
    /// Open model: operations started per second, whatever the latency.
    pub arrival_rate: f64,
    /// Users start evenly over this period.
    #[serde(with = "duration")]
    pub ramp_up: Duration,
    /// After the load, the wait for the server to settle before the checker reads back.
    #[serde(with = "duration")]
    pub heal: Duration,
    /// Where runs are written (`OUT`); each run gets a timestamped folder inside.
    pub out_dir: String,
    /// Port of the live status endpoint on 127.0.0.1 (0 picks a free one).
    pub status_port: u16,
    /// Port the server listens on (0 picks a free one).
    pub server_port: u16,
    /// Workers of the server under test.
    pub server_workers: usize,
    /// A call not answered in this long (ms) counts as failed.
    pub call_timeout_ms: u64,
    /// Weights of the scenarios.
    pub mix: Mix,
    /// Sizes of the synthetic scores users import.
    pub synth: SynthSizes,
    /// The chaos schedule.
    pub chaos: Vec<ChaosEvent>,
    /// Hostile clients that run beside the normal users for a window each
    /// (`[[stress.adversaries]]`): the fairness figures say whether anyone noticed.
    pub adversaries: Vec<AdversaryEvent>,
    /// Pass/fail thresholds, k6 style: figure name → `>= 0.999`, `<= 2`, `== 0`.
    pub thresholds: BTreeMap<String, String>,
    /// Overrides applied to the server's own configuration (`[server...]` keys as TOML).
    pub server_overrides: Option<String>,
    /// Share of the users (0 to 1) that speak MCP 2026-07-28 without a session (any
    /// replica answers any of their calls); the rest open a session, as clients of earlier
    /// revisions do.
    pub stateless_users: f64,
    /// A deployment to test instead of starting a server (`[stress.target]`, or
    /// `stress --target URL`).
    pub target: Option<TargetConfig>,
}

/// A deployment the harness did not start: the users, the network faults (the fault proxy
/// sits in front of it), bad input and the checker go through `url`; process and database
/// faults only through the commands the operator gives. A fault whose command is absent is
/// skipped, and the verdict says so.
///
/// Load tests must only target systems you own: traffic goes to loopback unless the address
/// is listed in `allowed_targets`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TargetConfig {
    /// The MCP endpoint, e.g. `http://127.0.0.1:8100/mcp` (a load balancer, or one server).
    pub url: String,
    /// Each replica's own MCP endpoint, in the order the commands number them (`{replica}`
    /// is 1 for the first): for per-replica figures, reads of each score through every
    /// replica, and recovery of a killed replica. May be empty.
    pub replicas: Vec<String>,
    /// Shell commands, run with `sh -c`; `{replica}` becomes the replica's number, `{mode}`
    /// and `{seconds}` the fault's. E.g. `scripts/cluster kill {replica}` or
    /// `systemctl kill -s KILL music21-prod@{replica}`.
    pub kill_command: Option<String>,
    pub term_command: Option<String>,
    /// Brings a replica back when it does not come back by itself after `term_command`.
    pub restart_command: Option<String>,
    /// Restarts the database (`{mode}`: `fast` or `immediate`).
    pub db_restart_command: Option<String>,
    /// Pauses the database for `{seconds}` (SIGSTOP, then SIGCONT) and returns after.
    pub db_pause_command: Option<String>,
    /// Cuts one replica's database connections.
    pub db_cut_command: Option<String>,
    /// Addresses other than loopback that this run may send traffic to (host names or IP
    /// addresses, exactly as in the URLs). Empty: loopback only.
    pub allowed_targets: Vec<String>,
    /// How often a score is imported through one replica and read at once through every
    /// other (needs two replicas or more); absent: not checked during the run.
    #[serde(default, with = "duration::option")]
    pub cross_replica_every: Option<Duration>,
}

impl TargetConfig {
    /// Every address this target makes the harness talk to, each checked: loopback, or
    /// listed in `allowed_targets`.
    pub fn validate(&self) -> Result<(), Invalid> {
        check_target_url("stress.target.url", &self.url, &self.allowed_targets)?;
        for (i, replica) in self.replicas.iter().enumerate() {
            check_target_url(
                &format!("stress.target.replicas[{i}]"),
                replica,
                &self.allowed_targets,
            )?;
        }
        if self.cross_replica_every.is_some_and(|d| d.is_zero()) {
            return Err(Invalid::new(
                "stress.target.cross_replica_every",
                "must be positive",
            ));
        }
        Ok(())
    }
}

fn check_target_url(key: &str, text: &str, allowed: &[String]) -> Result<(), Invalid> {
    let url = url::Url::parse(text).map_err(|e| {
        Invalid::new(
            key,
            format!("`{text}` is not a URL ({e}); write it as http://HOST:PORT/mcp"),
        )
    })?;
    if url.scheme() != "http" {
        return Err(Invalid::new(
            key,
            format!("`{text}`: only http:// targets are supported (put TLS in front of the harness's target, or test the plain listener behind it)"),
        ));
    }
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback || allowed.iter().any(|a| a == host || a == bare) {
        Ok(())
    } else {
        Err(Invalid::new(
            key,
            format!("`{host}` is not loopback: load tests must only target systems you own; list it in stress.target.allowed_targets to send traffic there"),
        ))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Mix {
    pub import: u32,
    pub analyse: u32,
    pub generate: u32,
    pub transpose: u32,
    pub export: u32,
    pub info: u32,
    pub list: u32,
    pub delete: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            import: 20,
            analyse: 35,
            generate: 3,
            transpose: 7,
            export: 10,
            info: 12,
            list: 6,
            delete: 7,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SynthSizes {
    /// Everyday synthetic scores: measures per part, at most.
    pub max_measures: usize,
    /// Parts of everyday synthetic scores, at most.
    pub max_parts: usize,
}

impl Default for SynthSizes {
    fn default() -> Self {
        Self {
            max_measures: 32,
            max_parts: 4,
        }
    }
}

/// One entry of the chaos schedule.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChaosEvent {
    /// First start, from the start of the run (`30s`, `15m`).
    #[serde(with = "duration")]
    pub at: Duration,
    /// How long a lasting fault lasts (network faults, ballast). Instant actions ignore it.
    #[serde(default, with = "duration::option")]
    pub duration: Option<Duration>,
    /// Repeat every this long; absent: once.
    #[serde(default, with = "duration::option")]
    pub every: Option<Duration>,
    pub action: ChaosAction,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChaosAction {
    /// Network, through the fault proxy.
    Latency {
        ms: u64,
        jitter_ms: u64,
    },
    Bandwidth {
        bytes_per_sec: u64,
    },
    Reset {
        probability: f64,
    },
    Blackhole,
    Slicer {
        max_segment: usize,
        delay_ms: u64,
    },
    HalfClose {
        after_bytes: u64,
    },
    /// Processes.
    KillServer,
    TermServer,
    KillWorker,
    /// Memory pressure: a ballast process that allocates and touches this much, for the
    /// event's duration.
    MemoryBallast {
        mb: u64,
    },
    /// A burst of the largest synthetic scores.
    HugeScores {
        count: u32,
        mb: u64,
    },
    /// Scores with flipped, truncated or duplicated bytes; they must be refused cleanly.
    CorruptScores {
        count: u32,
    },
    /// Malformed JSON-RPC, bad UTF-8, wrong content types, huge declared lengths.
    MalformedRequests {
        count: u32,
    },
    /// Kill the server, flip bytes inside stored records on disk, restart: the server must
    /// detect them by checksum.
    CorruptDisk {
        records: u32,
    },
    /// The shared database (a `--target` deployment on PostgreSQL): restarted in `mode`
    /// (`fast` or `immediate`), paused for the event's duration, or one replica's
    /// connections cut.
    DbRestart {
        mode: String,
    },
    DbPause,
    DbCut,
}

impl ChaosAction {
    /// Its kind, which knows the wire name and how the run treats it.
    pub fn kind(&self) -> FaultKind {
        match self {
            ChaosAction::Latency { .. } => FaultKind::Latency,
            ChaosAction::Bandwidth { .. } => FaultKind::Bandwidth,
            ChaosAction::Reset { .. } => FaultKind::Reset,
            ChaosAction::Blackhole => FaultKind::Blackhole,
            ChaosAction::Slicer { .. } => FaultKind::Slicer,
            ChaosAction::HalfClose { .. } => FaultKind::HalfClose,
            ChaosAction::KillServer => FaultKind::KillServer,
            ChaosAction::TermServer => FaultKind::TermServer,
            ChaosAction::KillWorker => FaultKind::KillWorker,
            ChaosAction::MemoryBallast { .. } => FaultKind::MemoryBallast,
            ChaosAction::HugeScores { .. } => FaultKind::HugeScores,
            ChaosAction::CorruptScores { .. } => FaultKind::CorruptScores,
            ChaosAction::MalformedRequests { .. } => FaultKind::MalformedRequests,
            ChaosAction::CorruptDisk { .. } => FaultKind::CorruptDisk,
            ChaosAction::DbRestart { .. } => FaultKind::DbRestart,
            ChaosAction::DbPause => FaultKind::DbPause,
            ChaosAction::DbCut => FaultKind::DbCut,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Whether calls failing during this fault are fault-induced rather than unexpected.
    pub fn is_disruptive(&self) -> bool {
        self.kind().opens_window()
    }

    pub fn is_network(&self) -> bool {
        self.kind().is_network()
    }
}

/// One hostile client's window.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdversaryEvent {
    /// When it starts, from the start of the run.
    #[serde(with = "duration")]
    pub at: Duration,
    /// How long it keeps at it.
    #[serde(with = "duration")]
    pub duration: Duration,
    /// Repeat every this long; absent: once.
    #[serde(default, with = "duration::option")]
    pub every: Option<Duration>,
    pub action: AdversaryAction,
}

/// What a hostile client does. Each speaks from an address of its own, straight to the
/// server (the fault proxy is for the normal users' network).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdversaryAction {
    /// Holds `connections` connections, each sending its request headers a byte a second.
    Slowloris { connections: u32 },
    /// Opens `connections` connections as fast as it can, sends one byte on each, holds them.
    ConnectionFlood { connections: u32 },
    /// Opens `sessions` MCP sessions and leaves them idle.
    SessionHog { sessions: u32 },
    /// `concurrent` calls of a heavy `tool` at a time, back to back, as fast as it is let.
    Greedy { concurrent: u32, tool: String },
    /// `rate` malformed or hostile requests a second: broken JSON-RPC, out-of-range
    /// arguments, guard-bypass variants of hostile scores, forged ids.
    Garbage { rate: f64 },
    /// `count` request bodies of `mb` MB each at once.
    BigBodies { count: u32, mb: u64 },
    /// `rate` exports a second of a tiny score that would unfold into megabytes.
    ExportBomb { rate: f64 },
}

/// The heavy tools a greedy adversary may call.
pub const GREEDY_TOOLS: [&str; 6] = [
    "import_score",
    "key_analysis",
    "chord_analysis",
    "harmony_analysis",
    "voice_leading_analysis",
    "pattern_recognition",
];

impl AdversaryAction {
    pub fn name(&self) -> &'static str {
        match self {
            AdversaryAction::Slowloris { .. } => "slowloris",
            AdversaryAction::ConnectionFlood { .. } => "connection_flood",
            AdversaryAction::SessionHog { .. } => "session_hog",
            AdversaryAction::Greedy { .. } => "greedy",
            AdversaryAction::Garbage { .. } => "garbage",
            AdversaryAction::BigBodies { .. } => "big_bodies",
            AdversaryAction::ExportBomb { .. } => "export_bomb",
        }
    }

    /// Every kind, in the order the docs list them.
    pub const KINDS: [&'static str; 7] = [
        "slowloris",
        "connection_flood",
        "session_hog",
        "greedy",
        "garbage",
        "big_bodies",
        "export_bomb",
    ];

    /// Checks the numbers are within what a test run should send (all traffic stays on
    /// loopback, bounded in count and time).
    fn validate(&self) -> Result<(), String> {
        let within = |what: &str, v: u64, max: u64| {
            if v == 0 || v > max {
                Err(format!("{what} must be 1..={max}, got {v}"))
            } else {
                Ok(())
            }
        };
        match self {
            AdversaryAction::Slowloris { connections }
            | AdversaryAction::ConnectionFlood { connections } => {
                within("connections", *connections as u64, 20_000)
            }
            AdversaryAction::SessionHog { sessions } => {
                within("sessions", *sessions as u64, 10_000)
            }
            AdversaryAction::Greedy { concurrent, tool } => {
                within("concurrent", *concurrent as u64, 64)?;
                if GREEDY_TOOLS.contains(&tool.as_str()) {
                    Ok(())
                } else {
                    Err(format!(
                        "tool `{tool}` is not one of {}",
                        GREEDY_TOOLS.join(", ")
                    ))
                }
            }
            AdversaryAction::Garbage { rate } | AdversaryAction::ExportBomb { rate } => {
                if *rate > 0.0 && *rate <= 1000.0 {
                    Ok(())
                } else {
                    Err(format!("rate must be in (0, 1000], got {rate}"))
                }
            }
            AdversaryAction::BigBodies { count, mb } => {
                within("count", *count as u64, 64)?;
                within("mb", *mb, 512)
            }
        }
    }
}

impl Default for StressConfig {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(60),
            users: 10,
            seed: 1,
            model: "closed".into(),
            think_time_ms: 500,
            arrival_rate: 20.0,
            ramp_up: Duration::from_secs(5),
            heal: Duration::from_secs(5),
            out_dir: "stress-runs".into(),
            status_port: 0,
            server_port: 0,
            server_workers: 2,
            call_timeout_ms: 30_000,
            mix: Mix::default(),
            synth: SynthSizes::default(),
            chaos: Vec::new(),
            adversaries: Vec::new(),
            thresholds: default_thresholds(),
            server_overrides: None,
            stateless_users: 0.0,
            target: None,
        }
    }
}

pub fn default_thresholds() -> BTreeMap<String, String> {
    [
        ("success_rate_excluding_faults", ">= 0.999"),
        ("recovery_seconds_max", "<= 2"),
        ("lost", "== 0"),
        ("silently_corrupted", "== 0"),
        ("unexpected", "== 0"),
        ("breakers_closed_at_end", "== 1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// When an event of the schedule fires within a run of `run`: at `at`, then every `every`
/// (once when absent). Chaos events and adversary windows repeat alike.
pub fn firing_times(
    at: Duration,
    every: Option<Duration>,
    run: Duration,
) -> impl Iterator<Item = Duration> {
    let step = every.filter(|step| !step.is_zero());
    std::iter::successors(Some(at), move |t| step.map(|s| *t + s)).take_while(move |t| *t < run)
}

/// Thresholds are read by the verdict and the dashboard alike.
pub use crate::wire::threshold::Threshold;

impl StressConfig {
    /// The schedule `n` times faster: the run's duration and every chaos and adversary time
    /// (first firing, repeat, length) divided by `n`; a lasting fault or adversary keeps at
    /// least a second, so it still happens. Ramp-up, heal and timeouts are not scaled.
    pub fn compress(&mut self, n: f64) {
        let scale = |d: Duration| Duration::from_secs_f64(d.as_secs_f64() / n);
        let lasting = |d: Duration| scale(d).max(Duration::from_secs(1).min(d));
        self.duration = scale(self.duration);
        for event in &mut self.chaos {
            event.at = scale(event.at);
            event.every = event.every.map(lasting);
            event.duration = event.duration.map(lasting);
        }
        for adversary in &mut self.adversaries {
            adversary.at = scale(adversary.at);
            adversary.every = adversary.every.map(lasting);
            adversary.duration = lasting(adversary.duration);
        }
    }
}

impl StressConfig {
    pub fn validate(&self) -> Result<(), Invalid> {
        let bad = |k: &str, m: String| Err(Invalid::new(k, m));
        if self.users == 0 {
            return bad("stress.users", "must be at least 1".into());
        }
        if !matches!(self.model.as_str(), "closed" | "open") {
            return bad(
                "stress.model",
                format!("`{}` is not closed or open", self.model),
            );
        }
        if self.model == "open" && self.arrival_rate <= 0.0 {
            return bad(
                "stress.arrival_rate",
                "must be positive in the open model".into(),
            );
        }
        let m = &self.mix;
        if m.import + m.analyse + m.generate + m.transpose + m.export + m.info + m.list + m.delete
            == 0
        {
            return bad("stress.mix", "at least one weight must be positive".into());
        }
        for (i, event) in self.chaos.iter().enumerate() {
            let key = format!("stress.chaos[{i}]");
            if event.every.is_some_and(|d| d.as_millis() == 0) {
                return bad(&format!("{key}.every"), "must be positive".into());
            }
            if let ChaosAction::Reset { probability } = event.action {
                if !(0.0..=1.0).contains(&probability) {
                    return bad(
                        &format!("{key}.action.probability"),
                        "must be within 0..1".into(),
                    );
                }
            }
            if let ChaosAction::DbRestart { mode } = &event.action {
                if !matches!(mode.as_str(), "fast" | "immediate") {
                    return bad(
                        &format!("{key}.action.mode"),
                        format!("`{mode}` is not fast or immediate"),
                    );
                }
            }
            if matches!(event.action, ChaosAction::DbPause) && event.duration.is_none() {
                return bad(
                    &format!("{key}.duration"),
                    "db_pause needs a duration (how long the database stays paused)".into(),
                );
            }
        }
        for (i, event) in self.adversaries.iter().enumerate() {
            let key = format!("stress.adversaries[{i}]");
            for (field, value) in [("duration", Some(event.duration)), ("every", event.every)] {
                if value.is_some_and(|d| d.as_millis() == 0) {
                    return bad(&format!("{key}.{field}"), "must be positive".into());
                }
            }
            if let Err(m) = event.action.validate() {
                return bad(&format!("{key}.action"), m);
            }
        }
        for (name, expr) in &self.thresholds {
            if let Err(m) = Threshold::parse(expr) {
                return bad(&format!("stress.thresholds.{name}"), m);
            }
        }
        if !(0.0..=1.0).contains(&self.stateless_users) {
            return bad("stress.stateless_users", "must be within 0..1".into());
        }
        if let Some(target) = &self.target {
            target.validate()?;
        }
        if let Some(text) = &self.server_overrides {
            if let Err(e) = text.parse::<toml::Table>() {
                return bad(
                    "stress.server_overrides",
                    format!("not valid TOML: {}", e.message()),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compressed_day_keeps_its_shape() {
        let mut config = crate::config::Config::load(Some("full_test_config"))
            .expect("shipped")
            .stress;
        let kill = |c: &StressConfig| {
            c.chaos
                .iter()
                .find(|e| matches!(e.action, ChaosAction::KillServer))
                .cloned()
                .expect("a kill")
        };
        assert_eq!(kill(&config).every, Some(Duration::from_secs(3600)));
        config.compress(12.0);
        assert_eq!(config.duration, Duration::from_secs(7200));
        assert_eq!(kill(&config).every, Some(Duration::from_secs(300)));
        assert_eq!(kill(&config).at, Duration::from_secs(295));
        // A 5 s blackhole every 10 minutes becomes 1 s (its floor) every 50 s.
        let blackhole = config
            .chaos
            .iter()
            .find(|e| matches!(e.action, ChaosAction::Blackhole))
            .expect("a blackhole");
        assert_eq!(blackhole.duration, Some(Duration::from_secs(1)));
        assert_eq!(blackhole.every, Some(Duration::from_secs(50)));
        config.validate().expect("still a valid config");
    }

    #[test]
    fn thresholds_parse_and_hold() {
        let t = Threshold::parse(">= 0.999").unwrap();
        assert!(t.holds(1.0) && !t.holds(0.99));
        assert!(Threshold::parse("== 0").unwrap().holds(0.0));
        assert!(Threshold::parse("about 3").is_err());
    }

    #[test]
    fn adversaries_read_from_toml_and_are_bounded() {
        let text = r#"
            [[adversaries]]
            at = "5s"
            duration = "8s"
            action = { kind = "greedy", concurrent = 4, tool = "import_score" }
            [[adversaries]]
            at = "20s"
            duration = "5s"
            action = { kind = "slowloris", connections = 200 }
        "#;
        let c: StressConfig = toml::from_str(text).unwrap();
        assert_eq!(c.adversaries[0].action.name(), "greedy");
        c.validate().unwrap();
        let mut bad = c.clone();
        bad.adversaries[1].action = AdversaryAction::ConnectionFlood {
            connections: 1_000_000,
        };
        let Invalid { key, message } = bad.validate().unwrap_err();
        assert_eq!(key, "stress.adversaries[1].action");
        assert!(message.contains("20000"), "{message}");
        let mut bad = c;
        bad.adversaries[0].action = AdversaryAction::Greedy {
            concurrent: 2,
            tool: "delete_score".into(),
        };
        assert!(bad.validate().unwrap_err().message.contains("import_score"));
    }

    #[test]
    fn chaos_events_read_from_toml() {
        let text = r#"
            duration = "30s"
            [[chaos]]
            at = "5s"
            duration = "3s"
            action = { kind = "latency", ms = 50, jitter_ms = 10 }
            [[chaos]]
            at = "10s"
            every = "15m"
            action = { kind = "kill_server" }
        "#;
        let c: StressConfig = toml::from_str(text).unwrap();
        assert_eq!(c.chaos.len(), 2);
        assert_eq!(c.chaos[1].action, ChaosAction::KillServer);
        c.validate().unwrap();
    }
}
