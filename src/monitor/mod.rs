//! `music21-prod monitor`: the live dashboard (being written, issue #6).

use crate::cli::MonitorArgs;

pub fn run(_args: MonitorArgs) -> i32 {
    eprintln!("music21-prod monitor: not built yet (issue #6)");
    2
}
