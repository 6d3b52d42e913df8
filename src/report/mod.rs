//! `music21-prod report`: results.json to text, Markdown or HTML (being written, issue #6).

use crate::cli::ReportArgs;

pub fn run(_args: ReportArgs) -> i32 {
    eprintln!("music21-prod report: not built yet (issue #6)");
    2
}
