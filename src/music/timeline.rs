//! Where things are: absolute offsets, measure numbers and beats.
//!
//! Engine streams know no context (no music21 "sites"), so the measure grid is read once
//! from the first part and every offset is placed on it.

use music21_rs::{Stream, StreamElement, StreamKind, TimeSignature};
use serde::Serialize;

/// One measure of the grid: where it starts, its number, its length, its meter.
#[derive(Clone, Debug)]
pub struct MeasureSlot {
    pub start: f64,
    pub number: i64,
    pub length: f64,
    /// Quarter notes per beat under the meter in force (1.0 when none is known).
    pub beat_length: f64,
    /// How far a pickup (short first measure) starts into its bar, in quarter notes.
    pub padding: f64,
}

/// The measure grid of a score, taken from its first part.
#[derive(Clone, Debug, Default)]
pub struct MeasureGrid {
    pub slots: Vec<MeasureSlot>,
}

/// A position in the music, as people say it.
#[derive(Clone, Copy, Debug, Serialize, schemars::JsonSchema, PartialEq)]
pub struct Position {
    /// Offset from the start of the score, in quarter notes.
    pub offset: f64,
    /// Measure number as written (a pickup is usually 0).
    pub measure: i64,
    /// Beat within the measure, counted from 1 (fractions for off-beats).
    pub beat: f64,
}

fn beat_length(ts: Option<&TimeSignature>) -> f64 {
    ts.and_then(|t| t.beat_duration().ok())
        .map(|d| d.quarter_length())
        .filter(|l| *l > 0.0)
        .unwrap_or(1.0)
}

fn bar_length(ts: Option<&TimeSignature>) -> Option<f64> {
    ts.map(|t| t.bar_duration().quarter_length())
        .filter(|l| *l > 0.0)
}

impl MeasureGrid {
    pub fn of(score: &Stream) -> Self {
        let parts = score.parts();
        let first: &Stream = parts.first().copied().unwrap_or(score);
        let mut slots = Vec::new();
        let mut meter: Option<TimeSignature> = None;
        for event in first.events() {
            let StreamElement::Stream(measure) = event.element() else {
                continue;
            };
            if measure.kind() != StreamKind::Measure {
                continue;
            }
            if let Some(ts) = measure.events().iter().find_map(|e| match e.element() {
                StreamElement::TimeSignature(ts) => Some(ts.clone()),
                _ => None,
            }) {
                meter = Some(ts);
            }
            let length = measure.end_offset();
            let full = bar_length(meter.as_ref());
            // A pickup's beats count from the end of its bar: music21 records the missing
            // part as paddingLeft; where a reader left it unset, a short first measure is one.
            let padding = match full {
                _ if measure.padding_left() > 0.0 => measure.padding_left(),
                Some(full) if slots.is_empty() && length > 0.0 && length < full => full - length,
                _ => 0.0,
            };
            slots.push(MeasureSlot {
                start: event.offset(),
                number: measure.number() as i64,
                length,
                beat_length: beat_length(meter.as_ref()),
                padding,
            });
        }
        Self { slots }
    }

    /// The measure and beat of an absolute offset.
    pub fn position(&self, offset: f64) -> Position {
        let idx = self
            .slots
            .partition_point(|s| s.start <= offset + 1e-9)
            .saturating_sub(1);
        match self.slots.get(idx) {
            Some(slot) => {
                let within = offset - slot.start + slot.padding;
                Position {
                    offset: round(offset),
                    measure: slot.number,
                    beat: round(1.0 + within / slot.beat_length),
                }
            }
            None => Position {
                offset: round(offset),
                measure: 1,
                beat: round(1.0 + offset),
            },
        }
    }

    /// Quarter notes per beat under the meter in force at `offset` (1.0 when none is known).
    pub fn beat_length_at(&self, offset: f64) -> f64 {
        let idx = self
            .slots
            .partition_point(|s| s.start <= offset + 1e-9)
            .saturating_sub(1);
        self.slots.get(idx).map_or(1.0, |slot| slot.beat_length)
    }

    pub fn count(&self) -> usize {
        self.slots.len()
    }
}

pub fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// A note, chord or rest of one part, at its absolute offset.
#[derive(Clone, Debug)]
pub struct PartEvent<'a> {
    pub offset: f64,
    pub element: &'a StreamElement,
}

/// The notes, chords and rests of a part (voices included), in time order.
pub fn part_events(part: &Stream) -> Vec<PartEvent<'_>> {
    let mut out: Vec<PartEvent<'_>> = part
        .recurse()
        .into_iter()
        .filter(|(_, e)| {
            matches!(
                e,
                StreamElement::Note(_) | StreamElement::Chord(_) | StreamElement::Rest(_)
            )
        })
        .map(|(offset, element)| PartEvent { offset, element })
        .collect();
    out.sort_by(|a, b| a.offset.total_cmp(&b.offset));
    out
}

/// The parts of a score; a score with notes but no parts is one part.
pub fn parts_of(score: &Stream) -> Vec<&Stream> {
    let parts = score.parts();
    if parts.is_empty() {
        vec![score]
    } else {
        parts
    }
}

/// A part's display name: its name, else its id, else `Part N`.
pub fn part_name(part: &Stream, index: usize) -> String {
    part.name()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| part.id())
        .map(str::to_string)
        .unwrap_or_else(|| format!("Part {}", index + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ImportLimits;
    use crate::music::format::Format;
    use crate::music::parse::parse_score;

    #[test]
    fn a_pickup_starts_on_its_last_beats() {
        let abc = "X:1\nM:4/4\nL:1/4\nK:C\nG|c2 d2|e4|]\n";
        let score =
            parse_score(abc.as_bytes(), Format::Abc, None, &ImportLimits::default()).unwrap();
        let grid = MeasureGrid::of(&score);
        let pickup = grid.position(0.0);
        assert_eq!((pickup.measure, pickup.beat), (0, 4.0));
        let next = grid.position(1.0);
        assert_eq!((next.measure, next.beat), (1, 1.0));
        assert_eq!(grid.position(3.0).beat, 3.0);
    }
}
