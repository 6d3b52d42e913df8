//! Where a rule is broken, as the checker and the species' rhythm both report it: kept
//! apart from both so that neither has to reach into the other.

use super::{position, BAR};
use crate::music::pitch::SpelledPitch;

/// Where a rule is broken.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub measure: usize,
    pub beat: f64,
    /// The notes involved: `CP D5`, `CF E4`.
    pub notes: Vec<String>,
    pub detail: String,
}

impl Violation {
    /// The time, in eighths, of the downbeat of the measure it is in.
    pub(super) fn measure_start(&self) -> u32 {
        (self.measure as u32 - 1) * BAR
    }
}

pub(super) fn cp_label(t: SpelledPitch) -> String {
    format!("CP {}", t.name())
}

pub(super) fn cf_label(t: SpelledPitch) -> String {
    format!("CF {}", t.name())
}

/// A violation at time `t` (in eighths from the start), placed in its measure and beat.
pub(super) fn violation(t: u32, notes: Vec<String>, detail: impl Into<String>) -> Violation {
    let (measure, beat) = position(t);
    Violation {
        measure,
        beat,
        notes,
        detail: detail.into(),
    }
}
