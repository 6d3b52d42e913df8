//! Species counterpoint after Fux's *Gradus ad Parnassum* (1725), for two voices.
//!
//! Three parts, kept apart on purpose so that the checker judges the generator rather than
//! sharing its mistakes:
//! - `theory`: intervals and modes, with musica ficta (the notes are
//!   [`SpelledPitch`]es);
//! - `check` (with `rhythm`, the species' rhythm and its licences, and `violation`, what
//!   both report): the rule checker, one function per rule;
//! - `generate` (with `figures`, the rhythms a bar may take): a beam search, bar by bar,
//!   with Fux's rules as hard constraints and his preferences as costs.
//!
//! Time is counted in eighth notes from the start; every cantus firmus note fills one bar of
//! 4/4 ([`BAR`] eighths), as Fux writes it in whole notes.

mod check;
mod figures;
mod generate;
mod rhythm;
mod score;
mod theory;
mod violation;

pub use check::{check, compliance, strict_compliance, RuleResult, RULES};
pub use generate::{generate, Generated};
pub use rhythm::allowed_breaks;
pub use score::two_part_score;
pub use theory::*;
pub use violation::Violation;

use crate::music::pitch::SpelledPitch;

/// Eighth notes in a bar of 4/4.
pub const BAR: u32 = 8;
/// The fewest and most cantus firmus notes accepted.
pub const MIN_CF_NOTES: usize = 3;
pub const MAX_CF_NOTES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Voice {
    Above,
    Below,
}

impl Voice {
    /// `above` or `below` (the cantus firmus).
    pub fn name(self) -> &'static str {
        match self {
            Voice::Above => "above",
            Voice::Below => "below",
        }
    }
}

/// One sounding note of the counterpoint (a syncope tied over the barline is one note).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpNote {
    /// Onset in eighth notes from the start.
    pub start: u32,
    /// Length in eighth notes.
    pub dur: u32,
    pub tone: SpelledPitch,
}

impl CpNote {
    pub fn end(&self) -> u32 {
        self.start + self.dur
    }
}

/// Measure (from 1) and beat (from 1, in quarter notes) of a time in eighths.
pub fn position(t: u32) -> (usize, f64) {
    ((t / BAR) as usize + 1, 1.0 + f64::from(t % BAR) / 2.0)
}

#[cfg(test)]
fn tones(names: &str) -> Vec<SpelledPitch> {
    names
        .split_whitespace()
        .map(|n| SpelledPitch::parse(n).expect("tone"))
        .collect()
}
