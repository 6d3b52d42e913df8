//! A source score read as the style model's lines: the melodic line of its top part, each
//! note as a [`Token`] of scale-degree step, duration and metric position.

use music21_rs::{Stream, StreamElement};

use super::model::{Line, Token};
use super::TICKS_PER_QUARTER;
use crate::music::melody::{melody_of, segments};
use crate::music::pitch::SpelledPitch;
use crate::music::timeline::{parts_of, MeasureGrid};

/// What one source contributes.
pub struct SourceLines {
    pub lines: Vec<Line>,
    pub minor: bool,
    pub meter: Option<String>,
    /// The MIDI pitch of every note of the lines.
    pub median_midi: Vec<i32>,
}

/// Quarter notes to ticks, to the nearest.
pub fn quantise(quarters: f64) -> i64 {
    (quarters * f64::from(TICKS_PER_QUARTER)).round() as i64
}

/// The melodic lines of a score's top part (ties joined, chords by their top note, split at
/// rests), in a key whose tonic has letter `tonic` (0 for C).
pub fn source_lines(score: &Stream, tonic: i32, minor: bool) -> SourceLines {
    let grid = MeasureGrid::of(score);
    let meter = score.recurse().into_iter().find_map(|(_, e)| match e {
        StreamElement::TimeSignature(ts) => Some(ts.ratio_string()),
        _ => None,
    });
    let parts = parts_of(score);
    let top = parts.first().copied().unwrap_or(score);
    let items = melody_of(top);
    let mut lines = Vec::new();
    let mut midis_all = Vec::new();
    for segment in segments(&items) {
        let mut notes: Vec<(i64, i64, i32, i32)> = Vec::new(); // start, end ticks, dia, midi
        for n in segment {
            let Some(t) = SpelledPitch::from_pitch(&n.pitch) else {
                continue;
            };
            let (start, end) = (quantise(n.offset), quantise(n.end()));
            if end <= start {
                continue;
            }
            notes.push((start, end, t.dia, t.midi()));
        }
        if notes.len() < 2 {
            continue;
        }
        let line = line_of(&notes, &grid, tonic);
        midis_all.extend(notes.iter().map(|n| n.3));
        lines.push(line);
    }
    SourceLines {
        lines,
        minor,
        meter,
        median_midi: midis_all,
    }
}

/// One phrase as the model reads it: (start, end ticks, staff position, midi) per note,
/// to tokens of scale-degree step, duration and metric position.
fn line_of(notes: &[(i64, i64, i32, i32)], grid: &MeasureGrid, tonic: i32) -> Line {
    let mut dias: Vec<i32> = notes.iter().map(|n| n.2).collect();
    dias.sort_unstable();
    let median = dias[dias.len() / 2];
    // The tonic at or below the line's median.
    let reference = (median - 7..=median)
        .rev()
        .find(|d| d.rem_euclid(7) == tonic)
        .unwrap_or(median);
    let mut tokens = Vec::with_capacity(notes.len());
    let mut positions = Vec::with_capacity(notes.len());
    for (i, &(start, end, dia, _)) in notes.iter().enumerate() {
        let offset = start as f64 / f64::from(TICKS_PER_QUARTER);
        let idx = grid
            .slots
            .partition_point(|s| s.start <= offset + 1e-9)
            .saturating_sub(1);
        let within = grid
            .slots
            .get(idx)
            .map(|s| offset - s.start + s.padding)
            .unwrap_or(offset);
        let pos = quantise(within).max(0);
        let step = if i == 0 {
            Token::FIRST
        } else {
            (dia - notes[i - 1].2).clamp(-14, 14) as i8
        };
        tokens.push(Token {
            step,
            dur: (end - start).min(i64::from(u16::MAX)) as u16,
            pos: pos.min(i64::from(u16::MAX)) as u16,
        });
        positions.push(dia - reference);
    }
    let midis: Vec<i32> = notes.iter().map(|n| n.3).collect();
    let (lowest, highest) = (
        *midis.iter().min().expect("notes"),
        *midis.iter().max().expect("notes"),
    );
    Line {
        tokens,
        positions,
        span: highest - lowest,
        lowest_midi: lowest,
        highest_midi: highest,
    }
}
