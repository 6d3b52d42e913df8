//! `music21-prod stress`: the production test. It starts the server under its own
//! supervisor, sends real MCP traffic from many virtual users through a fault proxy, runs a
//! chaos schedule, checks every answer and that nothing acknowledged was lost, and ends with
//! a verdict.
//!
//! ```text
//! stress ─┬─ ServerUnderTest (supervisor) ── serve ── workers
//!         ├─ FaultProxy: users → proxy → server
//!         ├─ users (closed or open model), every answer checked
//!         ├─ nemesis (chaos schedule), recorder (HDR, 1 s series), status endpoint
//!         └─ checker (Jepsen's set checker) → results.json, verdict, exit code
//! ```

pub mod addresses;
pub mod adversary;
pub mod checker;
pub mod client;
pub mod ctx;
pub mod nemesis;
pub mod proxy;
pub mod recorder;
pub mod results;
pub mod run;
pub mod server;
pub mod status;
pub mod synth;
pub mod users;
