//! The contracts between the parts of the binary that talk to each other over the wire or
//! through files: the server and the dashboard (`/health`, the `/metrics` names), the stress run and the
//! dashboard or the report (fault kinds, `/status`, the run figures and thresholds). Both ends use these, so a name
//! or a rule changes in one place.
//!
//! This module depends on nothing else in the crate: the server, `stress`, `monitor` and
//! `report` may all use it without depending on each other.

pub mod fault;
pub mod figures;
pub mod health;
pub mod metric;
pub mod status;
pub mod threshold;

pub use fault::FaultKind;
pub use figures::{figures, CheckerFigures, RunSoFar};
pub use health::Health;
pub use status::StressStatus;
pub use threshold::Threshold;
