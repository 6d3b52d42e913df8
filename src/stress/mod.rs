//! `music21-prod stress`: the production test. It starts the server under its own
//! supervisor, sends real MCP traffic from many virtual users through a fault proxy, runs a
//! chaos schedule, checks every answer and that nothing acknowledged was lost, and ends with
//! a verdict.

pub mod checker;
pub mod client;
pub mod config;
pub mod recorder;
pub mod results;
pub mod server;
pub mod synth;
