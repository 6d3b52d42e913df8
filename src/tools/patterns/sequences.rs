//! Melodic sequences: a unit stated at least three times in a row, each statement moved by
//! the same diatonic step from the one before.

use std::ops::RangeInclusive;

use crate::music::melody::{cents_between, generic_directed, pitch_label, MelodyNote, EPS};
use crate::music::timeline::round;

use super::{MelodicSequence, Places, Segment, Statement};

/// The fewest statements a sequence has: the unit and two transpositions of it.
pub(super) const MIN_STATEMENTS: usize = 3;

/// A generic (diatonic) unison: a repeated note (or a chromatic inflection).
const UNISON: i64 = 1;

/// A sequence found: segment, first note, notes per statement, statements.
pub(super) struct SeqFound {
    seg: usize,
    start: usize,
    length: usize,
    statements: usize,
}

/// Whether the generic intervals `span` are one plain run, repeated notes aside: a scale,
/// an arpeggio, a repeated note, or a scale with each note repeated is not a sequence.
fn plain(span: &[i64]) -> bool {
    let mut moves = span.iter().filter(|g| **g != UNISON);
    let first = moves.next();
    moves.all(|g| Some(g) == first)
}

/// Melodic sequences: a window of `length` notes followed at once by windows with the same
/// generic intervals, each starting the same diatonic step (not a unison, and not the same
/// pitch) from the one before, [`MIN_STATEMENTS`] statements at least. The unit must move:
/// some interval of it neither a unison nor zero semitones, so repeated notes are no unit.
/// Overlapping finds keep the one covering most notes.
pub(super) fn find_sequences(
    segs: &[Segment<'_>],
    lengths: RangeInclusive<usize>,
) -> Vec<SeqFound> {
    let mut candidates = Vec::new();
    for (si, seg) in segs.iter().enumerate() {
        let n = seg.notes.len();
        let generic: Vec<i64> = seg
            .notes
            .windows(2)
            .map(|w| generic_directed(&w[0].pitch, &w[1].pitch))
            .collect();
        let cents: Vec<i64> = seg
            .notes
            .windows(2)
            .map(|w| cents_between(&w[0].pitch, &w[1].pitch))
            .collect();
        let step = |a: usize, b: usize| generic_directed(&seg.notes[a].pitch, &seg.notes[b].pitch);
        let moved = |a: usize, b: usize| cents_between(&seg.notes[a].pitch, &seg.notes[b].pitch);
        for length in lengths.clone() {
            let width = length - 1;
            let mut i = 0;
            while i + MIN_STATEMENTS * length <= n {
                let pattern = &generic[i..i + width];
                let moves = (i..i + width).any(|k| generic[k] != UNISON && cents[k] != 0);
                let first_step = step(i, i + length);
                let mut statements = 1;
                if moves && first_step != UNISON {
                    while i + (statements + 1) * length <= n {
                        let at = i + statements * length;
                        if generic[at..at + width] != *pattern
                            || step(at - length, at) != first_step
                            || moved(at - length, at) == 0
                        {
                            break;
                        }
                        statements += 1;
                    }
                }
                let covered = statements * length;
                if statements >= MIN_STATEMENTS && !plain(&generic[i..i + covered - 1]) {
                    candidates.push(SeqFound {
                        seg: si,
                        start: i,
                        length,
                        statements,
                    });
                }
                i += 1;
            }
        }
    }
    candidates.sort_by(|a, b| {
        (b.statements * b.length)
            .cmp(&(a.statements * a.length))
            .then(b.length.cmp(&a.length))
            .then((a.seg, a.start).cmp(&(b.seg, b.start)))
    });
    let mut covered: Vec<Vec<bool>> = segs.iter().map(|s| vec![false; s.notes.len()]).collect();
    let mut taken: Vec<SeqFound> = Vec::new();
    for c in candidates {
        let end = c.start + c.statements * c.length;
        let Some(span) = covered.get_mut(c.seg).and_then(|n| n.get_mut(c.start..end)) else {
            continue;
        };
        if span.iter().any(|taken| *taken) {
            continue;
        }
        span.fill(true);
        taken.push(c);
    }
    taken
}

pub(super) fn melodic_sequence(
    c: &SeqFound,
    segs: &[Segment<'_>],
    places: &Places,
) -> MelodicSequence {
    let grid = &places.grid;
    let seg = &segs[c.seg];
    let statement = |k: usize| &seg.notes[c.start + k * c.length..c.start + (k + 1) * c.length];
    let cents = |notes: &[&MelodyNote]| -> Vec<i64> {
        notes
            .windows(2)
            .map(|w| cents_between(&w[0].pitch, &w[1].pitch))
            .collect()
    };
    let first = statement(0);
    let steps: Vec<f64> = (1..c.statements)
        .map(|k| round(statement(k)[0].pitch.ps() - statement(k - 1)[0].pitch.ps()))
        .collect();
    let real = (1..c.statements).all(|k| cents(statement(k)) == cents(first))
        && steps.iter().all(|s| (s - steps[0]).abs() < EPS);
    let last = c.start + c.statements * c.length - 1;
    MelodicSequence {
        part: places.parts.part_ref(seg.part),
        length: c.length,
        statements: c.statements,
        notes: c.statements * c.length,
        generic: first
            .windows(2)
            .map(|w| generic_directed(&w[0].pitch, &w[1].pitch))
            .collect(),
        intervals_semitones: first
            .windows(2)
            .map(|w| round(w[1].pitch.ps() - w[0].pitch.ps()))
            .collect(),
        step_generic: generic_directed(&statement(0)[0].pitch, &statement(1)[0].pitch),
        step_semitones: steps,
        real,
        start: grid.position(first[0].offset),
        end: grid.position(seg.notes[last].offset),
        statements_at: (0..c.statements)
            .map(|k| {
                let notes = statement(k);
                let pos = grid.position(notes[0].offset);
                Statement {
                    measure: pos.measure,
                    beat: pos.beat,
                    offset: pos.offset,
                    pitches: notes.iter().map(|n| pitch_label(&n.pitch)).collect(),
                }
            })
            .collect(),
    }
}
