//! music21-prod: a production-grade MCP server for music analysis over music21-rs.
//!
//! The binary's subcommands share what is here: configuration, the score store, the music
//! tools and (as later parts land) the server, the stress test, the monitor and the report.

pub mod cli;
pub mod config;
pub mod error;
pub mod logging;
pub mod metrics;
pub mod monitor;
pub mod music;
pub mod report;
pub mod resilience;
pub mod rng;
pub mod server;
pub mod setup;
pub mod store;
pub mod stress;
pub mod sysmem;
pub mod tools;
pub mod wire;
pub mod workers;

/// The git revision the binary was built from (`unknown` outside a checkout).
pub const GIT_REVISION: &str = env!("MUSIC21_PROD_GIT_REVISION");

/// `0.1.0 (rev abc1234)`, for `--version`.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (rev ",
    env!("MUSIC21_PROD_GIT_REVISION"),
    ")"
);
