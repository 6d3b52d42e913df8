//! The melodic line of a part: what a listener hears as its tune.
//!
//! A tied note sounds once (its continuations lengthen it), a chord is heard by its top
//! note, grace notes are left out, and where a part has several voices the highest note
//! starting at each moment is the line (a "skyline"). Rests are kept, so that callers can
//! split a line into phrases or stop a motif at a silence.

use music21_rs::expressions::Expression;
use music21_rs::notation::TieType;
use music21_rs::{Pitch, Stream, StreamElement};

use crate::music::timeline::part_events;

/// Offsets closer than this are the same moment.
pub const EPS: f64 = 1e-6;

/// One note of a melodic line.
#[derive(Clone, Debug)]
pub struct MelodyNote {
    /// Where it starts, in quarter notes from the start of the score.
    pub offset: f64,
    /// How long it sounds, ties included.
    pub duration: f64,
    /// The pitch heard (a chord's top note).
    pub pitch: Pitch,
    /// Whether a fermata is written on it (or on the last note of its tie).
    pub fermata: bool,
}

impl MelodyNote {
    pub fn end(&self) -> f64 {
        self.offset + self.duration
    }
}

/// A note or a silence of a melodic line.
#[derive(Clone, Debug)]
pub enum MelodyItem {
    Note(MelodyNote),
    Rest { offset: f64, duration: f64 },
}

/// Whether a tie makes this note a continuation of the one before.
fn is_continuation(tie: Option<TieType>) -> bool {
    matches!(
        tie,
        Some(TieType::Stop | TieType::Continue | TieType::ContinueLetRing)
    )
}

fn has_fermata(expressions: &[Expression]) -> bool {
    expressions
        .iter()
        .any(|e| matches!(e, Expression::Fermata(_)))
}

/// A note or chord as the line sees it: its top pitch, length, tie and fermata.
struct Sounding {
    pitch: Pitch,
    duration: f64,
    continuation: bool,
    fermata: bool,
}

fn sounding(element: &StreamElement) -> Option<Sounding> {
    let duration = element.quarter_length();
    if duration.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return None; // grace notes and broken durations
    }
    match element {
        StreamElement::Note(note) => Some(Sounding {
            pitch: note.pitch().clone(),
            duration,
            continuation: is_continuation(note.tie().map(|t| t.tie_type())),
            fermata: has_fermata(note.expressions()),
        }),
        StreamElement::Chord(chord) => {
            let top = chord
                .pitches()
                .into_iter()
                .max_by(|a, b| a.ps().total_cmp(&b.ps()))?;
            Some(Sounding {
                pitch: top,
                duration,
                continuation: is_continuation(chord.tie().map(|t| t.tie_type())),
                fermata: has_fermata(chord.expressions()),
            })
        }
        _ => None,
    }
}

/// The melodic line of one part.
pub fn melody_of(part: &Stream) -> Vec<MelodyItem> {
    let events = part_events(part);
    let mut items: Vec<MelodyItem> = Vec::new();
    // Index in `items` of the last note, and when the line is next free.
    let mut last_note: Option<usize> = None;
    let mut start = 0;
    while start < events.len() {
        let onset = events[start].offset;
        let stop = start
            + events[start..]
                .iter()
                .take_while(|e| (e.offset - onset).abs() < EPS)
                .count();
        let group = &events[start..stop];
        start = stop;

        let mut best_new: Option<Sounding> = None;
        let mut continued_top: Option<f64> = None;
        let mut rest_len: Option<f64> = None;
        for event in group {
            if let StreamElement::Rest(_) = event.element {
                let len = event.element.quarter_length();
                rest_len = Some(rest_len.map_or(len, |r: f64| r.max(len)));
                continue;
            }
            let Some(s) = sounding(event.element) else {
                continue;
            };
            if s.continuation {
                // Lengthens the line's last note when it is that note, tied over.
                if let Some(MelodyItem::Note(prev)) = last_note.and_then(|i| items.get_mut(i)) {
                    if (prev.pitch.ps() - s.pitch.ps()).abs() < EPS
                        && (prev.end() - onset).abs() < EPS
                    {
                        prev.duration += s.duration;
                        prev.fermata |= s.fermata;
                        continued_top =
                            Some(continued_top.map_or(s.pitch.ps(), |c: f64| c.max(s.pitch.ps())));
                    }
                }
                continue;
            }
            let higher = best_new
                .as_ref()
                .is_none_or(|b| s.pitch.ps() > b.pitch.ps());
            if higher {
                best_new = Some(s);
            }
        }

        match best_new {
            // A new note under a held top note is an inner voice, not the tune.
            Some(s) if continued_top.is_none_or(|top| s.pitch.ps() > top) => {
                items.push(MelodyItem::Note(MelodyNote {
                    offset: onset,
                    duration: s.duration,
                    pitch: s.pitch,
                    fermata: s.fermata,
                }));
                last_note = Some(items.len() - 1);
            }
            Some(_) => {}
            None => {
                let Some(len) = rest_len else { continue };
                if continued_top.is_some() {
                    continue;
                }
                // A rest in one voice while another still sounds is no silence.
                let sounding_on =
                    last_note
                        .and_then(|i| items.get(i))
                        .is_some_and(|item| match item {
                            MelodyItem::Note(n) => n.end() > onset + EPS,
                            MelodyItem::Rest { .. } => false,
                        });
                if sounding_on {
                    continue;
                }
                match items.last_mut() {
                    Some(MelodyItem::Rest { offset, duration })
                        if (*offset + *duration - onset).abs() < EPS
                            || *offset + *duration > onset =>
                    {
                        *duration = (*duration).max(onset + len - *offset);
                    }
                    _ => items.push(MelodyItem::Rest {
                        offset: onset,
                        duration: len,
                    }),
                }
            }
        }
    }
    items
}

/// The notes of a line in runs unbroken by rests.
pub fn segments(items: &[MelodyItem]) -> Vec<Vec<&MelodyNote>> {
    let mut out: Vec<Vec<&MelodyNote>> = Vec::new();
    let mut current: Vec<&MelodyNote> = Vec::new();
    for item in items {
        match item {
            MelodyItem::Note(n) => current.push(n),
            MelodyItem::Rest { .. } => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A pitch as music21 writes it, with its octave (`F#4`, `B-3`): the engine writes a flat
/// as `b` (`Bb3`), music21 as `-`.
pub fn pitch_label(pitch: &Pitch) -> String {
    let name = pitch.name();
    let modifier = pitch.accidental().modifier();
    let name = match name.strip_suffix(modifier) {
        Some(step) if modifier.contains('b') => format!("{step}{}", modifier.replace('b', "-")),
        _ => name,
    };
    let octave = pitch.octave().unwrap_or_else(|| pitch.implicit_octave());
    format!("{name}{octave}")
}

/// music21's directed generic interval between two pitches: 1 for a unison, 2 for a
/// second up, -2 for a second down, and so on.
pub fn generic_directed(from: &Pitch, to: &Pitch) -> i64 {
    let d = i64::from(to.diatonic_note_number()) - i64::from(from.diatonic_note_number());
    match d.cmp(&0) {
        std::cmp::Ordering::Equal => 1,
        std::cmp::Ordering::Greater => d + 1,
        std::cmp::Ordering::Less => d - 1,
    }
}

/// The semitones between two pitches in hundredths (cents), exact for microtones too.
pub fn cents_between(from: &Pitch, to: &Pitch) -> i64 {
    ((to.ps() - from.ps()) * 100.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    use music21_rs::notation::Tie;
    use music21_rs::{Chord, Duration, Note, Rest, StreamKind};

    fn note(name: &str, length: f64) -> Note {
        Note::from_name(name)
            .expect("note")
            .with_duration(Duration::new(length).expect("duration"))
    }

    fn names(items: &[MelodyItem]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                MelodyItem::Note(n) => {
                    format!("{}@{}:{}", pitch_label(&n.pitch), n.offset, n.duration)
                }
                MelodyItem::Rest { offset, duration } => format!("r@{offset}:{duration}"),
            })
            .collect()
    }

    #[test]
    fn ties_sound_once_chords_give_their_top_and_rests_are_kept() {
        let mut part = Stream::with_kind(StreamKind::Part);
        part.push(note("C4", 1.0));
        let mut tied = note("D4", 1.0);
        tied.set_tie(Some(Tie::new(TieType::Start)));
        part.push(tied);
        let mut end = note("D4", 2.0);
        end.set_tie(Some(Tie::new(TieType::Stop)));
        part.push(end);
        part.push(Rest::new(Duration::new(1.0).expect("duration")));
        let pitches: Vec<Pitch> = ["E4", "G4", "C5"]
            .iter()
            .map(|n| Pitch::from_name(n).expect("pitch"))
            .collect();
        let mut chord = Chord::new(pitches.as_slice()).expect("chord");
        chord.set_duration(Duration::new(1.0).expect("duration"));
        part.push(chord);
        part.push(note("F4", 2.0));
        let items = melody_of(&part);
        assert_eq!(
            names(&items),
            ["C4@0:1", "D4@1:3", "r@4:1", "C5@5:1", "F4@6:2"]
        );
        assert_eq!(segments(&items).len(), 2);
    }

    #[test]
    fn generic_intervals_follow_music21() {
        let p = |n: &str| Pitch::from_name(n).expect("pitch");
        assert_eq!(generic_directed(&p("C4"), &p("D4")), 2);
        assert_eq!(generic_directed(&p("C4"), &p("C4")), 1);
        assert_eq!(generic_directed(&p("C4"), &p("A3")), -3);
        assert_eq!(generic_directed(&p("C4"), &p("C5")), 8);
        assert_eq!(cents_between(&p("C4"), &p("E-4")), 300);
    }

    #[test]
    fn pitches_are_named_as_music21_names_them() {
        let p = |n: &str| Pitch::from_name(n).expect("pitch");
        assert_eq!(pitch_label(&p("F#4")), "F#4");
        assert_eq!(pitch_label(&p("B-3")), "B-3");
        assert_eq!(pitch_label(&p("E--5")), "E--5");
        assert_eq!(pitch_label(&p("Bb3")), "B-3");
        assert_eq!(pitch_label(&p("C")), "C4");
    }
}
