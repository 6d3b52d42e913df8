//! Reading Bach's chorales into the counts of [`super::model`]: each beat's chord, named in
//! the chorale vocabulary of the piece's key, with its bass and the melody above it.
//!
//! A beat's chord is the vocabulary chord that best explains what sounds on it: the four
//! voices at the beat's onset count fully (the bass a little more, since a chorale's bass
//! carries the harmony), notes that start within the beat count less (they are mostly
//! passing and neighbour notes), and a tone outside the chord counts against it. The bass
//! must be a chord member; rarer chords lose ties. Labelling with the search's own
//! vocabulary keeps the model and the search in one language: no figure strings to
//! reconcile, and a chord the search cannot write is never learnt.

use music21_rs::Stream;

use super::model::{MelodyContext, ModeCounts, Place};
use super::theory::{vocabulary, ChordDef, KeyDef, Member, Role, Style};
use crate::music::melody::{melody_of, MelodyItem};
use crate::music::pitch::SpelledPitch;
use crate::music::timeline::{part_name, parts_of};

/// One note of a voice, as the labeller reads it.
#[derive(Clone, Copy, Debug)]
struct VoiceNote {
    offset: f64,
    end: f64,
    pc: i32,
    fermata: bool,
}

/// One beat of a chorale, labelled.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledBeat {
    pub offset: f64,
    /// The chord's root-position figure, when some chord explains the beat.
    pub chord: Option<String>,
    pub bass: Option<Member>,
    /// The soprano's pitch class above the tonic, when the soprano sounds.
    pub melody_pc: Option<i32>,
    /// A fermata in the soprano starts on this beat.
    pub fermata: bool,
}

/// Why a score could not be read as a four-voice chorale.
pub type Skip = String;

/// The four voices, top first: parts named Soprano, Alto, Tenor and Bass, or a score of
/// exactly four parts taken in order.
fn satb(score: &Stream) -> Result<[Vec<VoiceNote>; 4], Skip> {
    let parts = parts_of(score);
    let names: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| part_name(p, i).to_lowercase())
        .collect();
    let find = |voice: &str| names.iter().position(|n| n.contains(voice));
    let chosen: Vec<usize> = match (find("soprano"), find("alto"), find("tenor"), find("bass")) {
        (Some(s), Some(a), Some(t), Some(b)) => vec![s, a, t, b],
        _ if parts.len() == 4 => vec![0, 1, 2, 3],
        _ => {
            return Err(format!(
                "{} parts and no Soprano, Alto, Tenor and Bass among them",
                parts.len()
            ))
        }
    };
    let mut voices: [Vec<VoiceNote>; 4] = Default::default();
    for (slot, &index) in chosen.iter().enumerate() {
        for item in melody_of(parts[index]) {
            if let MelodyItem::Note(note) = item {
                let Some(pitch) = SpelledPitch::from_pitch(&note.pitch) else {
                    continue;
                };
                voices[slot].push(VoiceNote {
                    offset: note.offset,
                    end: note.end(),
                    pc: pitch.midi().rem_euclid(12),
                    fermata: note.fermata,
                });
            }
        }
    }
    if voices.iter().any(Vec::is_empty) {
        return Err("a voice has no notes".into());
    }
    Ok(voices)
}

fn sounding_at(voice: &[VoiceNote], t: f64) -> Option<&VoiceNote> {
    const EPS: f64 = 1e-6;
    voice
        .iter()
        .find(|n| n.offset <= t + EPS && t + EPS < n.end)
}

/// The vocabulary chord that best explains the weighted pitch classes, with the bass a
/// member of it; `None` when fewer than two of the onset's pitch classes fit any chord.
fn best_chord<'a>(
    vocab: &'a [ChordDef],
    weights: &[(i32, f64)],
    onset_pcs: &[i32],
    bass_pc: i32,
    at_fermata: bool,
) -> Option<&'a ChordDef> {
    let mut best: Option<(f64, &ChordDef)> = None;
    for chord in vocab {
        if chord.member_of(bass_pc).is_none() {
            continue;
        }
        let mut distinct: Vec<i32> = onset_pcs
            .iter()
            .copied()
            .filter(|pc| chord.member_of(*pc).is_some())
            .collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 2 {
            continue;
        }
        let mut score = -0.3 * chord.base_cost as f64;
        // A fermata is an arrival: E G# B ending a piece in A minor is its tonic with a
        // Picardy third, not V/iv.
        if at_fermata && matches!(chord.role, Role::Applied { .. }) {
            score -= 3.0;
        }
        for &(pc, w) in weights {
            score += if chord.member_of(pc).is_some() {
                w
            } else {
                -1.2 * w
            };
        }
        // A seventh chord must show its seventh to be read as one.
        if chord.quality.is_seventh() {
            let seventh_heard = chord
                .tones
                .iter()
                .filter(|(_, m)| *m == Member::Seventh)
                .any(|(t, _)| weights.iter().any(|(pc, _)| *pc == t.pc()));
            if !seventh_heard {
                continue;
            }
        }
        if best.is_none_or(|(s, _)| score > s + 1e-9) {
            best = Some((score, chord));
        }
    }
    best.map(|(_, c)| c)
}

/// Every beat of a four-voice chorale, labelled in `key` (the chorale vocabulary's chords).
pub fn label_beats(score: &Stream, key: &KeyDef) -> Result<Vec<LabelledBeat>, Skip> {
    let voices = satb(score)?;
    let vocab = vocabulary(key, Style::Chorale);
    let start = voices[0].first().map_or(0.0, |n| n.offset);
    let end = voices
        .iter()
        .filter_map(|v| v.last())
        .map(|n| n.end)
        .fold(0.0, f64::max);
    let tonic = key.tonic.pc();
    let mut out = Vec::new();
    let mut t = start.floor();
    while t < end - 1e-6 {
        let soprano = sounding_at(&voices[0], t);
        let bass = sounding_at(&voices[3], t);
        let mut weights: Vec<(i32, f64)> = Vec::new();
        let mut onset_pcs = Vec::new();
        for (slot, voice) in voices.iter().enumerate() {
            if let Some(n) = sounding_at(voice, t) {
                weights.push((n.pc, if slot == 3 { 1.5 } else { 1.0 }));
                onset_pcs.push(n.pc);
            }
            for n in voice
                .iter()
                .filter(|n| n.offset > t + 1e-6 && n.offset < t + 1.0)
            {
                weights.push((n.pc, 0.4 * (t + 1.0 - n.offset)));
            }
        }
        let fermata = soprano.is_some_and(|n| n.fermata && (n.offset - t).abs() < 1e-6);
        let chord = bass.and_then(|b| best_chord(&vocab, &weights, &onset_pcs, b.pc, fermata));
        let bass_member = match (chord, bass) {
            (Some(c), Some(b)) => c.member_of(b.pc).map(|(_, m)| m),
            _ => None,
        };
        out.push(LabelledBeat {
            offset: t,
            chord: chord.map(|c| c.figure(0)),
            bass: bass_member,
            melody_pc: soprano.map(|n| (n.pc - tonic).rem_euclid(12)),
            fermata,
        });
        t += 1.0;
    }
    Ok(out)
}

/// Adds a chorale's labelled beats to the counts of its mode.
pub fn count(beats: &[LabelledBeat], counts: &mut ModeCounts) {
    let mut previous: Option<&str> = None;
    let line: Vec<Option<i32>> = beats.iter().map(|b| b.melody_pc).collect();
    for (i, beat) in beats.iter().enumerate() {
        let before_fermata = beats.get(i + 1).is_some_and(|next| next.fermata);
        let Some(chord) = beat.chord.as_deref() else {
            previous = None;
            continue;
        };
        let place = if beat.fermata {
            Place::Cadence
        } else if before_fermata {
            Place::Approach
        } else {
            Place::Inside
        };
        if let Some(pc) = beat.melody_pc {
            *counts.melody.entry((pc, chord.to_string())).or_default() += 1.0;
        }
        if let Some(member) = beat.bass {
            *counts
                .bass
                .entry((place, chord.to_string(), member))
                .or_default() += 1.0;
            if let Some(context) = MelodyContext::in_line(&line, i, place) {
                for (level, text) in context.levels().into_iter().enumerate() {
                    *counts
                        .context
                        .entry((level, text, chord.to_string(), member))
                        .or_default() += 1.0;
                }
            }
        }
        // Successions are read inside phrases and into fermatas; the approach is a bass place.
        let succession_place = if beat.fermata {
            Place::Cadence
        } else {
            Place::Inside
        };
        match previous {
            Some(prev) if prev != chord => {
                *counts
                    .succession
                    .entry((succession_place, prev.to_string(), chord.to_string()))
                    .or_default() += 1.0;
            }
            // A chord held onto a fermata makes the cadence its own arrival.
            _ => {}
        }
        previous = Some(chord);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::pitch::PitchName;

    fn c_major() -> KeyDef {
        KeyDef {
            tonic: PitchName::new(0, 0),
            minor: false,
        }
    }

    #[test]
    fn a_beat_is_read_as_the_chord_that_explains_it() {
        let vocab = vocabulary(&c_major(), Style::Chorale);
        // G B D F over G: V7.
        let w = [(7, 1.5), (11, 1.0), (2, 1.0), (5, 1.0)];
        let chord = best_chord(&vocab, &w, &[7, 11, 2, 5], 7, false).expect("a chord");
        assert_eq!(chord.figure(0), "V7");
        // G B D G: V, since a seventh chord must show its seventh.
        let w = [(7, 1.5), (11, 1.0), (2, 1.0), (7, 1.0)];
        let chord = best_chord(&vocab, &w, &[7, 11, 2, 7], 7, false).expect("a chord");
        assert_eq!(chord.figure(0), "V");
        // D F# A C: V7/V.
        let w = [(2, 1.5), (6, 1.0), (9, 1.0), (0, 1.0)];
        let chord = best_chord(&vocab, &w, &[2, 6, 9, 0], 2, false).expect("a chord");
        assert_eq!(chord.figure(0), "V7/V");
    }

    #[test]
    fn counts_changes_and_cadences() {
        let beat = |chord: &str, fermata: bool| LabelledBeat {
            offset: 0.0,
            chord: Some(chord.into()),
            bass: Some(Member::Root),
            melody_pc: Some(0),
            fermata,
        };
        let beats = [
            beat("I", false),
            beat("I", false),
            beat("V7", false),
            beat("I", true),
        ];
        let mut counts = ModeCounts::default();
        count(&beats, &mut counts);
        let change = |place, a: &str, b: &str| {
            counts
                .succession
                .get(&(place, a.to_string(), b.to_string()))
                .copied()
        };
        assert_eq!(change(Place::Inside, "I", "V7"), Some(1.0));
        assert_eq!(change(Place::Cadence, "V7", "I"), Some(1.0));
        assert_eq!(change(Place::Inside, "I", "I"), None);
        assert_eq!(counts.melody.get(&(0, "I".to_string())), Some(&3.0));
        // The melody around each beat: the first has nothing before it, the fermata's
        // beat is a cadence.
        let context = |level: usize, text: &str, chord: &str| {
            counts
                .context
                .get(&(level, text.to_string(), chord.to_string(), Member::Root))
                .copied()
        };
        assert_eq!(context(0, "0", "I"), Some(3.0));
        assert_eq!(context(2, "-2 0 0", "I"), Some(1.0));
        assert_eq!(context(3, "0 0 -2 cadence", "I"), Some(1.0));
        assert_eq!(context(3, "0 0 0 approach", "V7"), Some(1.0));
    }
}
