//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "music21-prod",
    version = crate::LONG_VERSION,
    about = "A production-grade MCP server for music analysis, and the chaos test that proves it",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Preflight checks (✓/✗ with what to do), --fix, and --fetch-corpus
    Setup(SetupArgs),
    /// Run the MCP server (Streamable HTTP at /mcp, or stdio)
    Serve(ServeArgs),
    /// Run the production test: a server, many MCP users, a chaos schedule, a verdict
    Stress(StressArgs),
    /// Live terminal dashboard of a server and a stress run
    Monitor(MonitorArgs),
    /// Turn a stress run's results.json into a text, Markdown or HTML report
    Report(ReportArgs),
    /// Call one tool in-process on the configured store and print its JSON result
    Tool(ToolArgs),
    /// Worker process of the server (internal: spawned by `serve`)
    #[command(hide = true)]
    Worker,
    /// Memory ballast for the stress test (internal): allocate, touch, hold, exit
    #[command(hide = true)]
    Ballast(BallastArgs),
}

#[derive(Debug, Args)]
pub struct ToolArgs {
    /// Tool name, e.g. import_score, key_analysis (see --list)
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// Arguments as a JSON object
    #[arg(long, default_value = "{}", conflicts_with = "args_file")]
    pub args: String,
    /// Read the JSON arguments from a file (`-` for standard input)
    #[arg(long, value_name = "FILE")]
    pub args_file: Option<PathBuf>,
    /// Data directory holding the score store (overrides the config)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Config file, or a name under configs/ (e.g. server)
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// List the tools with their descriptions
    #[arg(long)]
    pub list: bool,
    /// Print the tool's input and output JSON Schemas instead of calling it
    #[arg(long)]
    pub schema: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Config file, or a name under configs/ (e.g. server)
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// Address to bind (overrides server.bind)
    #[arg(long)]
    pub bind: Option<String>,
    /// Port to listen on; 0 picks a free one (overrides server.port)
    #[arg(long)]
    pub port: Option<u16>,
    /// Data directory holding the score store (overrides server.data_dir)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Worker processes (overrides server.workers.count; 0 = one per core)
    #[arg(long)]
    pub workers: Option<usize>,
    /// Serve MCP over standard input and output instead of HTTP (for desktop clients)
    #[arg(long, conflicts_with = "supervise")]
    pub stdio: bool,
    /// Run under a supervisor that restarts the server when it dies
    #[arg(long)]
    pub supervise: bool,
}

#[derive(Debug, Args, Clone)]
pub struct StressArgs {
    /// Config file, or a name under configs/ (e.g. smoke, quick_test_config)
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// Run length, e.g. 90s, 10m (overrides stress.duration)
    #[arg(long, value_parser = crate::config::duration::parse)]
    pub duration: Option<std::time::Duration>,
    /// Virtual users (overrides stress.users)
    #[arg(long)]
    pub users: Option<u32>,
    /// Output folder for results.json, the server log and the store (default: a new folder under stress.out_dir)
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
    /// Show the live dashboard while the run goes
    #[arg(long)]
    pub monitor: bool,
    /// Test this deployment (its MCP URL, e.g. http://127.0.0.1:8100/mcp) instead of
    /// starting a server; [stress.target] says how to inject process faults into it
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Seed for every random choice of the run (overrides stress.seed)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run the config's schedule N times faster: its duration and every chaos and adversary
    /// time (first firing, repeat, how long a fault lasts; at least 1 s) divided by N, so
    /// `--config full_test_config --time-scale 12` is its day in 2 hours (see
    /// docs/operations.md: soak_test_config is the tuned compression)
    #[arg(long, value_name = "N")]
    pub time_scale: Option<f64>,
}

#[derive(Debug, Args, Clone)]
pub struct BallastArgs {
    /// Megabytes to allocate and touch (at most 16384)
    #[arg(long)]
    pub mb: u64,
    /// Seconds to hold them
    #[arg(long)]
    pub seconds: f64,
}

#[derive(Debug, Args, Clone)]
pub struct MonitorArgs {
    /// Base URL of the server to watch (its /metrics and /health)
    #[arg(long, default_value = "http://127.0.0.1:8021")]
    pub server: String,
    /// Live status URL of a running stress test (printed by `stress`, ends in /status)
    #[arg(long)]
    pub stress: Option<String>,
    /// Poll interval, e.g. 1s or 500ms
    #[arg(long, default_value = "1s")]
    pub interval: String,
    /// Bearer token for the server's /metrics and /health (or MUSIC21_PROD_TOKEN)
    #[arg(long, env = "MUSIC21_PROD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Take one sample and print it, then exit (no dashboard)
    #[arg(long)]
    pub once: bool,
    /// With --once: print the sample as JSON
    #[arg(long, requires = "once")]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// The results.json of a stress run
    pub results: std::path::PathBuf,
    /// text (default), markdown or html
    #[arg(long, default_value = "text", ignore_case = true)]
    pub format: crate::report::Format,
    /// Write the report here instead of standard output
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

impl From<MonitorArgs> for crate::monitor::Options {
    fn from(a: MonitorArgs) -> Self {
        crate::monitor::Options {
            server: a.server,
            stress: a.stress,
            interval: a.interval,
            token: a.token,
            once: a.once,
            json: a.json,
        }
    }
}

impl From<ReportArgs> for crate::report::Options {
    fn from(a: ReportArgs) -> Self {
        crate::report::Options {
            results: a.results,
            format: a.format,
            out: a.out,
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct SetupArgs {
    /// Config file, or a name under configs/ (e.g. server)
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// Create missing directories and write the default configs into configs/ when absent (never overwriting a changed file)
    #[arg(long)]
    pub fix: bool,
    /// Print the checks as JSON
    #[arg(long)]
    pub json: bool,
    /// Download music21's corpus from PyPI into DIR (default ./music21-corpus) and record it in the config
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub fetch_corpus: Option<Option<std::path::PathBuf>>,
    /// Print a fresh bearer token (32 random bytes as hex) for server.token or MUSIC21_PROD_TOKEN
    #[arg(long)]
    pub new_token: bool,
}
