//! Which chords each phrase of the local reading covers, and which of them its cadence ends
//! on.
//!
//! A phrase end is the chord sounding where a fermata's note starts, but the phrase goes on
//! while that note is held: a suspension struck with the fermata resolves under it, a bass
//! passes on, and another part's fermata may start on that later chord. All of that is the
//! one close the fermata marks, so:
//! - a stop that starts while an earlier stop's note is still held belongs to that stop's
//!   phrase (the same close, read once);
//! - a phrase covers the chords from the one after the previous phrase's to the last that
//!   starts before its held note is released, so the key is read from what the phrase
//!   sounds, up to its release;
//! - the harmony the cadence ends on is the chord sounding longest under the held note (the
//!   earlier of equals): a 4-3 suspension struck with the fermata gives way to the triad it
//!   resolves to when that is held longer.

use std::ops::{Range, RangeInclusive};

use crate::tools::analysis_common::ChordEntry;

/// Where a phrase stops: the chord its end falls on, and until when its last note is held
/// (a fermata's end; the chord's own end when nothing is held over it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct PhraseStop {
    pub end: usize,
    pub held_until: f64,
}

/// One phrase of the local reading.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct PhraseSpan {
    /// The chords it covers; the spans partition the chords in order.
    pub chords: RangeInclusive<usize>,
    /// The chord its end falls on (its first stop's).
    pub end: usize,
    /// The chord its cadence ends on.
    pub final_harmony: usize,
    /// The stops it stands for (indices into the stops given), in order.
    pub stops: Range<usize>,
}

/// The phrases the `stops` (in order, each at or after the one before) make of `entries`.
pub(super) fn phrase_spans(entries: &[ChordEntry], stops: &[PhraseStop]) -> Vec<PhraseSpan> {
    // Stops starting under an earlier stop's held note join it: (first stop, held until, stops).
    let mut groups: Vec<(PhraseStop, Range<usize>)> = Vec::new();
    for (number, stop) in stops.iter().enumerate() {
        let onset = entries.get(stop.end).map_or(f64::INFINITY, |e| e.offset);
        match groups.last_mut() {
            Some((first, members)) if onset < first.held_until - 1e-9 => {
                first.held_until = first.held_until.max(stop.held_until);
                members.end = number + 1;
            }
            _ => groups.push((*stop, number..number + 1)),
        }
    }
    let mut spans = Vec::with_capacity(groups.len());
    let mut start = 0;
    for (number, (stop, members)) in groups.iter().enumerate() {
        let next_end = groups
            .get(number + 1)
            .map_or(entries.len(), |(next, _)| next.end);
        let held = entries
            .get(stop.end..next_end)
            .unwrap_or_default()
            .iter()
            .take_while(|e| e.offset < stop.held_until - 1e-9)
            .count();
        let last = (stop.end + held.saturating_sub(1)).max(start);
        spans.push(PhraseSpan {
            chords: start..=last,
            end: stop.end,
            final_harmony: held_longest(entries, stop, last),
            stops: members.clone(),
        });
        start = last + 1;
    }
    spans
}

/// The chord from `stop.end` to `last` sounding longest before `stop.held_until`, the
/// earlier of equals.
fn held_longest(entries: &[ChordEntry], stop: &PhraseStop, last: usize) -> usize {
    let Some(onset) = entries.get(stop.end).map(|e| e.offset) else {
        return stop.end;
    };
    let held = |i: usize| {
        entries
            .get(i)
            .map_or(0.0, |e| e.end().min(stop.held_until) - e.offset.max(onset))
    };
    (stop.end..=last).fold(
        stop.end,
        |best, i| {
            if held(i) > held(best) + 1e-9 {
                i
            } else {
                best
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use music21_rs::Chord;

    use super::{phrase_spans, PhraseSpan, PhraseStop};
    use crate::tools::analysis_common::ChordEntry;

    /// Chords of the given lengths in a row, each a C major triad (only time matters here).
    fn chords(lengths: &[f64]) -> Vec<ChordEntry> {
        let mut offset = 0.0;
        lengths
            .iter()
            .enumerate()
            .map(|(index, &duration)| {
                let entry = ChordEntry {
                    index,
                    offset,
                    duration,
                    measure: 1 + (offset / 4.0) as i64,
                    beat: 1.0 + offset % 4.0,
                    chord: Chord::new(&["C3", "E4", "G4"][..]).expect("chord"),
                };
                offset += duration;
                entry
            })
            .collect()
    }

    fn stop(end: usize, held_until: f64) -> PhraseStop {
        PhraseStop { end, held_until }
    }

    #[test]
    fn a_suspension_resolving_under_the_fermata_ends_on_its_resolution() {
        // Three beats, then a fermata held two beats over a 4-3 struck with it (half a
        // beat) and its resolution (a beat and a half); then a last phrase of two chords.
        let music = chords(&[1.0, 1.0, 1.0, 0.5, 1.5, 1.0, 2.0]);
        let spans = phrase_spans(&music, &[stop(3, 5.0), stop(6, 8.0)]);
        assert_eq!(
            spans[0],
            PhraseSpan {
                chords: 0..=4,
                end: 3,
                final_harmony: 4,
                stops: 0..1,
            }
        );
        assert_eq!(spans[1].chords, 5..=6);
        assert_eq!(spans[1].final_harmony, 6);
    }

    #[test]
    fn of_equal_chords_under_the_fermata_the_earlier_is_the_final() {
        let music = chords(&[1.0, 1.0, 1.0, 1.0]);
        let spans = phrase_spans(&music, &[stop(2, 4.0), stop(3, 4.0)]);
        assert_eq!(spans.len(), 1, "the last chord starts under the fermata");
        assert_eq!(spans[0].final_harmony, 2);
        assert_eq!(spans[0].stops, 0..2);
        assert_eq!(spans[0].chords, 0..=3);
    }

    #[test]
    fn a_fermata_begun_under_another_is_the_same_close() {
        // The soprano's fermata at 2 is held to 4; the bass moves at 3 with a fermata of
        // its own there. One phrase, ending on the longer chord; the piece goes on after.
        let music = chords(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        let spans = phrase_spans(&music, &[stop(2, 4.0), stop(3, 4.0), stop(5, 6.0)]);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].stops, 0..2);
        assert_eq!(spans[0].chords, 0..=3);
        assert_eq!(spans[0].end, 2);
        assert_eq!(spans[1].stops, 2..3);
        assert_eq!(spans[1].chords, 4..=5);
    }

    #[test]
    fn a_stop_held_no_longer_than_its_chord_covers_only_up_to_it() {
        let music = chords(&[1.0, 1.0, 2.0, 1.0]);
        let spans = phrase_spans(&music, &[stop(2, 4.0), stop(3, 5.0)]);
        assert_eq!(spans[0].chords, 0..=2);
        assert_eq!(spans[1].chords, 3..=3);
    }
}
