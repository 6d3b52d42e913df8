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
pub mod evictions;
pub mod leaks;
pub mod nemesis;
pub mod proxy;
pub mod recorder;
pub mod replicas;
pub mod results;
pub mod run;
pub mod server;
pub mod status;
pub mod synth;
pub mod target;
pub mod target_faults;
pub mod users;
mod verdict;

/// The generator of a user's, the nemesis's or a corruption's choices. The salt is the one
/// these seeds have always had (`stress --seed N` must mean the same run as before).
pub fn seeded_rng(seed: u64) -> crate::rng::SplitMix64 {
    crate::rng::SplitMix64::new(seed ^ 0x9E37_79B9_7F4A_7C15)
}
