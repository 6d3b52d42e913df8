//! The statistics `imitate_style` reports: interval and rhythm histograms of the melody
//! against its sources' and random walks', its range and register, and tritone leaps.

use super::output::*;
use crate::music::pitch::{midi_name, SpelledPitch};
use crate::music::style::draw::{is_tritone, Melody};
use crate::music::style::model::Line;
use crate::music::style::stats::{
    align, duration_label, interval_histogram, jensen_shannon, l1, label_histogram, percentile,
    random_walk_steps, uniform_histogram, MAX_STEP,
};
use crate::music::timeline::round;

fn distance(p: &[f64], q: &[f64]) -> Distance {
    Distance {
        jensen_shannon: round(jensen_shannon(p, q)),
        l1: round(l1(p, q)),
    }
}

/// The melody's statistics against the sources' and the random baselines'. `degrees` is
/// the scale-step register it was kept in, `register` the same in pitches.
pub(super) fn statistics(
    lines: &[Line],
    melody: &Melody,
    tones: &[SpelledPitch],
    seed: u64,
    degrees: (i32, i32),
    register: Register,
) -> Statistics {
    let source_steps: Vec<i32> = lines
        .iter()
        .flat_map(|l| l.tokens.iter().skip(1).map(|t| i32::from(t.step)))
        .collect();
    let result_steps: Vec<i32> = melody
        .notes
        .windows(2)
        .map(|w| w[1].pos - w[0].pos)
        .collect();
    let (src_h, res_h, uni_h) = (
        interval_histogram(&source_steps),
        interval_histogram(&result_steps),
        uniform_histogram(),
    );
    let walk_h = interval_histogram(&random_walk_steps(result_steps.len().max(1), seed));
    let interval_bins = (-MAX_STEP..=MAX_STEP)
        .enumerate()
        .map(|(i, steps)| IntervalBin {
            steps,
            result: round(res_h[i]),
            source: round(src_h[i]),
            uniform: round(uni_h[i]),
            random_walk: round(walk_h[i]),
        })
        .collect();
    let result_to_source = distance(&res_h, &src_h);
    let uniform_to_source = distance(&uni_h, &src_h);
    let random_walk_to_source = distance(&walk_h, &src_h);
    let result_to_uniform = distance(&res_h, &uni_h);
    let closer_than_random = result_to_source.jensen_shannon < result_to_uniform.jensen_shannon
        && result_to_source.jensen_shannon < uniform_to_source.jensen_shannon
        && result_to_source.jensen_shannon < random_walk_to_source.jensen_shannon;
    let (rhythm_histogram, rhythm_distance) = rhythm_statistics(lines, melody);
    let mut spans: Vec<i32> = lines.iter().map(|l| l.span).collect();
    spans.sort_unstable();
    Statistics {
        interval_histogram: interval_bins,
        interval_distances: IntervalDistances {
            result_to_source,
            uniform_to_source,
            random_walk_to_source,
            result_to_uniform,
            closer_than_random,
        },
        rhythm_histogram,
        rhythm_distance,
        result_range: result_range(tones),
        source_range: SourceRange {
            median_span: percentile(&spans, 0.5),
            max_span: spans.last().copied().unwrap_or(0),
            degree_low: degrees.0,
            degree_high: degrees.1,
        },
        register,
        tritone_leaps: tritone_leaps(lines, tones),
    }
}

fn rhythm_statistics(lines: &[Line], melody: &Melody) -> (Vec<RhythmBin>, Distance) {
    let src_rhythm = label_histogram(
        lines
            .iter()
            .flat_map(|l| l.tokens.iter().map(|t| duration_label(u32::from(t.dur)))),
    );
    let res_rhythm = label_histogram(melody.notes.iter().map(|n| duration_label(n.dur)));
    let (rr, rs) = align(&res_rhythm, &src_rhythm);
    let mut labels: Vec<&String> = res_rhythm.keys().chain(src_rhythm.keys()).collect();
    labels.sort_by(|a, b| {
        a.parse::<f64>()
            .unwrap_or(0.0)
            .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
    });
    labels.dedup();
    let bins = labels
        .iter()
        .map(|l| RhythmBin {
            quarters: (*l).clone(),
            result: round(res_rhythm.get(*l).copied().unwrap_or(0.0)),
            source: round(src_rhythm.get(*l).copied().unwrap_or(0.0)),
        })
        .collect();
    (bins, distance(&rr, &rs))
}

fn result_range(tones: &[SpelledPitch]) -> RangeStats {
    let (low_i, high_i) = (
        (0..tones.len())
            .min_by_key(|i| tones[*i].midi())
            .unwrap_or(0),
        (0..tones.len())
            .max_by_key(|i| tones[*i].midi())
            .unwrap_or(0),
    );
    RangeStats {
        lowest: tones.get(low_i).map(|t| t.name()).unwrap_or_default(),
        highest: tones.get(high_i).map(|t| t.name()).unwrap_or_default(),
        span: tones.get(high_i).map(|t| t.midi()).unwrap_or(0)
            - tones.get(low_i).map(|t| t.midi()).unwrap_or(0),
        lowest_midi: tones.get(low_i).map(|t| t.midi()).unwrap_or(0),
        highest_midi: tones.get(high_i).map(|t| t.midi()).unwrap_or(0),
    }
}

/// Tritone leaps per melodic interval: the sources' (from their tokens) and the melody's
/// (as written).
fn tritone_leaps(lines: &[Line], tones: &[SpelledPitch]) -> TritoneLeaps {
    let source: Vec<i32> = lines
        .iter()
        .flat_map(|l| l.tokens.iter().skip(1).map(|t| i32::from(t.semis)))
        .collect();
    let result: Vec<i32> = tones
        .windows(2)
        .map(|w| w[1].midi() - w[0].midi())
        .collect();
    let (source_tritones, result_tritones) = (
        source.iter().filter(|s| is_tritone(**s)).count(),
        result.iter().filter(|s| is_tritone(**s)).count(),
    );
    TritoneLeaps {
        source_intervals: source.len(),
        source_tritones,
        source_rate: rate(source_tritones, source.len()),
        result_intervals: result.len(),
        result_tritones,
        result_rate: rate(result_tritones, result.len()),
    }
}

fn rate(count: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        round(count as f64 / of as f64)
    }
}

/// The sources' register (the 5th and 95th percentile of `sorted`, their melodic voices'
/// pitches sorted by MIDI number) and the bounds kept, `kept` (MIDI numbers).
pub(super) fn register(sorted: &[SpelledPitch], kept: (i32, i32)) -> Register {
    let at = |fraction: f64| -> NamedPitch {
        let i = ((sorted.len().saturating_sub(1)) as f64 * fraction).round() as usize;
        sorted
            .get(i)
            .map(|p| NamedPitch {
                name: p.name(),
                midi: p.midi(),
            })
            .unwrap_or(NamedPitch {
                name: midi_name(kept.0),
                midi: kept.0,
            })
    };
    let (source_low, source_high) = (at(0.05), at(0.95));
    let named = |midi: i32, source: &NamedPitch| {
        if midi == source.midi {
            source.clone()
        } else {
            NamedPitch {
                name: midi_name(midi),
                midi,
            }
        }
    };
    Register {
        kept_low: named(kept.0, &source_low),
        kept_high: named(kept.1, &source_high),
        widened: kept.0 < source_low.midi || kept.1 > source_high.midi,
        source_low,
        source_high,
    }
}
