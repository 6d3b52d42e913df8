//! MusicXML of a wanted size: the `huge_scores` fault and the size-bound tests.

use super::{musicxml, Mode, SynthSpec};
use crate::rng::SplitMix64;

/// MusicXML of about `target_bytes` (within ±15% from 1 KB up; below the smallest score,
/// the smallest score), and the spec that made it. Parts grow with the size (1 to 8), the
/// measures fill the rest; key, mode and meter come from the seed, but small targets may
/// take a shorter meter when the seed's own cannot come close enough with whole measures.
pub fn musicxml_of_size(target_bytes: usize, seed: u64) -> (String, SynthSpec) {
    let base = sized_base(target_bytes, seed);
    let mut meters = vec![(base.beats, base.beat_type)];
    meters.extend(
        SIZED_METERS
            .iter()
            .filter(|&&m| m != (base.beats, base.beat_type)),
    );
    let mut best: Option<(String, SynthSpec)> = None;
    for (beats, beat_type) in meters {
        let (text, spec) = fit_measures(
            target_bytes,
            SynthSpec {
                beats,
                beat_type,
                ..base.clone()
            },
        );
        let miss = |len: usize| (len as f64 / target_bytes.max(1) as f64 - 1.0).abs();
        let close = miss(text.len()) <= 0.1;
        if best
            .as_ref()
            .is_none_or(|(b, _)| miss(text.len()) < miss(b.len()))
        {
            best = Some((text, spec));
        }
        // Large targets nearly always end here, at the first meter: one generation.
        if close {
            break;
        }
    }
    best.unwrap_or_else(|| {
        let spec = SynthSpec {
            measures: 1,
            ..base
        };
        (musicxml(&spec), spec)
    })
}

/// Meters tried for sized scores, longest first; 1/4 lets a 1 KB score hold one beat.
const SIZED_METERS: [(u8, u8); 7] = [(4, 4), (3, 4), (2, 2), (6, 8), (2, 4), (3, 8), (1, 4)];

/// The measure count that brings `spec` (parts, meter, key: all but its measures) nearest
/// `target_bytes`, and its MusicXML.
fn fit_measures(target_bytes: usize, mut spec: SynthSpec) -> (String, SynthSpec) {
    // Bytes per measure (all parts), measured on a sample: its average over a few dozen
    // measures is within a few per cent of that of any longer piece from the same seed.
    let sample_measures = 24;
    let fixed = musicxml(&SynthSpec {
        measures: 1,
        ..spec.clone()
    })
    .len();
    let sample = musicxml(&SynthSpec {
        measures: sample_measures,
        ..spec.clone()
    })
    .len();
    let per_measure = (sample.saturating_sub(fixed) as f64 / (sample_measures - 1) as f64).max(1.0);
    let wanted = 1.0 + (target_bytes as f64 - fixed as f64) / per_measure;
    spec.measures = wanted.round().max(1.0) as usize;
    // The estimate is nearly always close enough; correct it a bounded number of times.
    let mut text = musicxml(&spec);
    for _ in 0..3 {
        let ratio = text.len() as f64 / target_bytes.max(1) as f64;
        if (0.95..=1.05).contains(&ratio) {
            break;
        }
        let corrected = (spec.measures as f64 / ratio).round().max(1.0) as usize;
        if corrected == spec.measures {
            break;
        }
        spec.measures = corrected;
        text = musicxml(&spec);
    }
    (text, spec)
}

fn sized_base(target_bytes: usize, seed: u64) -> SynthSpec {
    let parts = match target_bytes {
        0..=4_095 => 1,
        4_096..=32_767 => 2,
        32_768..=2_097_151 => 4,
        _ => 8,
    };
    let mut rng = SplitMix64::new(seed ^ 0x5157_E0F5);
    // The seed picks among the common meters (the first four).
    let (beats, beat_type) = SIZED_METERS[rng.below(4) as usize];
    SynthSpec {
        parts,
        measures: 1,
        seed,
        key_fifths: rng.below(11) as i8 - 5,
        mode: if rng.one_in(3) {
            Mode::Minor
        } else {
            Mode::Major
        },
        beats,
        beat_type,
    }
}
