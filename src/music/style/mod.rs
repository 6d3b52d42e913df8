//! Imitating a style: the melodic lines of some sources learned as a Markov chain, and a new
//! melody drawn from it.
//!
//! - `voice`: which part of a source carries its melody (the soprano, else the highest
//!   voice, else the highest part that does not double another);
//! - `sources`: that part's line read as tokens (scale-degree step, semitone interval,
//!   duration, metric position);
//! - `model`: the back-off Markov chain over those tokens;
//! - `draw`: the draw that fills every bar exactly from tonic to tonic, in the key and in
//!   the register the sources keep;
//! - `score`: the drawn melody spelled in its key and written as a one-part score;
//! - `stats`: its interval and rhythm histograms against the sources' and a random walk's.

use crate::rng::SplitMix64;

pub mod draw;
pub mod model;
pub mod score;
pub mod sources;
pub mod stats;
pub mod voice;

/// Time is counted in ticks of a 32nd note: eight to the quarter.
pub const TICKS_PER_QUARTER: u32 = 8;

/// Salts every seed of the style model, so that its draws differ from other uses of the
/// same seed (the counterpoint's, the stress run's).
const SEED_SALT: u64 = 0x05EE_D0F5_717E;

/// The generator every draw of the style model starts from.
fn generator(seed: u64) -> SplitMix64 {
    SplitMix64::new(seed ^ SEED_SALT)
}
