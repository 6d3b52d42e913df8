//! A source score read as the style model's lines: the melodic line of its melodic voice
//! (see [`super::voice`]), each note as a [`Token`] of scale-degree step, semitone
//! interval, duration and metric position.

use music21_rs::{Stream, StreamElement};

use super::model::{Line, Token};
use super::voice::{melodic_voice, VoiceReason};
use super::TICKS_PER_QUARTER;
use crate::music::melody::segments;
use crate::music::pitch::SpelledPitch;
use crate::music::timeline::MeasureGrid;

/// What one source contributes.
pub struct SourceLines {
    pub lines: Vec<Line>,
    pub minor: bool,
    pub meter: Option<String>,
    /// Every note of the lines.
    pub pitches: Vec<SpelledPitch>,
    /// The part the lines were read from: its name and why it was chosen (nothing when no
    /// part has two notes).
    pub voice: Option<(String, VoiceReason)>,
}

/// Quarter notes to ticks, to the nearest.
pub fn quantise(quarters: f64) -> i64 {
    (quarters * f64::from(TICKS_PER_QUARTER)).round() as i64
}

/// The melodic lines of a score's melodic voice (ties joined, chords by their top note,
/// split at rests), in a key whose tonic has letter `tonic` (0 for C).
pub fn source_lines(score: &Stream, tonic: i32, minor: bool) -> SourceLines {
    let grid = MeasureGrid::of(score);
    let meter = score.recurse().into_iter().find_map(|(_, e)| match e {
        StreamElement::TimeSignature(ts) => Some(ts.ratio_string()),
        _ => None,
    });
    let voice = melodic_voice(score);
    let items = voice.as_ref().map(|v| v.items.as_slice()).unwrap_or(&[]);
    let mut lines = Vec::new();
    let mut pitches = Vec::new();
    for segment in segments(items) {
        let mut notes: Vec<(i64, i64, SpelledPitch)> = Vec::new(); // start, end ticks, pitch
        for n in segment {
            let Some(t) = SpelledPitch::from_pitch(&n.pitch) else {
                continue;
            };
            let (start, end) = (quantise(n.offset), quantise(n.end()));
            if end <= start {
                continue;
            }
            notes.push((start, end, t));
        }
        if notes.len() < 2 {
            continue;
        }
        let line = line_of(&notes, &grid, tonic);
        pitches.extend(notes.iter().map(|n| n.2));
        lines.push(line);
    }
    SourceLines {
        lines,
        minor,
        meter,
        pitches,
        voice: voice.map(|v| (v.name, v.reason)),
    }
}

/// One phrase as the model reads it: (start, end ticks, pitch) per note, to tokens of
/// scale-degree step, semitone interval, duration and metric position.
fn line_of(notes: &[(i64, i64, SpelledPitch)], grid: &MeasureGrid, tonic: i32) -> Line {
    let mut dias: Vec<i32> = notes.iter().map(|n| n.2.dia).collect();
    dias.sort_unstable();
    let median = dias[dias.len() / 2];
    // The tonic at or below the line's median.
    let reference = (median - 7..=median)
        .rev()
        .find(|d| d.rem_euclid(7) == tonic)
        .unwrap_or(median);
    let mut tokens = Vec::with_capacity(notes.len());
    let mut positions = Vec::with_capacity(notes.len());
    for (i, &(start, end, pitch)) in notes.iter().enumerate() {
        let dia = pitch.dia;
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
        let (step, semis) = match i.checked_sub(1).and_then(|j| notes.get(j)) {
            None => (Token::FIRST, 0),
            Some(before) => (
                (dia - before.2.dia).clamp(-14, 14) as i8,
                (pitch.midi() - before.2.midi()).clamp(-24, 24) as i8,
            ),
        };
        tokens.push(Token {
            step,
            semis,
            dur: (end - start).min(i64::from(u16::MAX)) as u16,
            pos: pos.min(i64::from(u16::MAX)) as u16,
        });
        positions.push(dia - reference);
    }
    let midis: Vec<i32> = notes.iter().map(|n| n.2.midi()).collect();
    let (lowest, highest) = (
        midis.iter().min().copied().unwrap_or(0),
        midis.iter().max().copied().unwrap_or(0),
    );
    Line {
        tokens,
        positions,
        span: highest - lowest,
        lowest_midi: lowest,
        highest_midi: highest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ImportLimits;
    use crate::music::format::Format;
    use crate::music::parse::parse_score;

    #[test]
    fn a_perfect_fourth_and_a_tritone_are_different_tokens() {
        // C4 F4 B4 C5 | G4 C5 F5 E5: up a fourth, up a tritone, then fourths again.
        let abc = "X:1\nM:4/4\nL:1/4\nK:C\nC F B c|G c f e|]\n";
        let score =
            parse_score(abc.as_bytes(), Format::Abc, None, &ImportLimits::default()).unwrap();
        let read = source_lines(&score, 0, false);
        assert_eq!(read.lines.len(), 1);
        let tokens = &read.lines[0].tokens;
        let intervals: Vec<(i8, i8)> = tokens.iter().map(|t| (t.step, t.semis)).collect();
        assert_eq!(
            intervals,
            [
                (Token::FIRST, 0),
                (3, 5),
                (3, 6),
                (1, 1),
                (-3, -5),
                (3, 5),
                (3, 5),
                (-1, -1)
            ]
        );
        let (fourth, tritone) = (tokens[1], tokens[2]);
        assert_eq!((fourth.step, fourth.dur, tritone.dur), (tritone.step, 8, 8));
        assert_ne!(fourth, tritone, "same steps, different semitones");
        assert_eq!(
            read.voice,
            Some((
                "Part 1".to_string(),
                crate::music::style::voice::VoiceReason::OnlyPart
            ))
        );
        assert_eq!(read.pitches.len(), 8);
    }
}
