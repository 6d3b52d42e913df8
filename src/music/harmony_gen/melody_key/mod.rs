//! The key of a melody, and how it ends.
//!
//! A pitch-class profile alone (AardenEssen) misreads chorale tunes: it hears the relative
//! key or the dominant as often as the tonic, because a tune dwells on the fifth and the
//! third. A tune says more in its last note and its key signature, so the choice weighs:
//! - the profile's correlation (the ranking `key_analysis` gives);
//! - how the tune closes in the key ([`close`]): on the tonic; in minor, on the fifth or
//!   (fallen to from the minor third) the second degree, over the dominant's major chord;
//!   never on the third or fifth of a major key, and never falling a semitone onto a tonic,
//!   which makes the final a Phrygian one;
//! - the key signature: its major and minor keys, and (less) the keys a modal signature
//!   writes one accidental short (D minor without a flat is Dorian, G major without a sharp
//!   Mixolydian);
//! - the notes under fermatas, which end phrases on the tonic chord or the dominant's.

mod close;

pub use close::{close, Close};

use super::theory::KeyDef;
use super::MelodyNote;

/// How the last chord must stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// On the tonic chord.
    Tonic,
    /// On the major chord of the dominant of a minor key, where the tune ends on its fifth
    /// or second degree ([`Close::on_major_dominant`]): a Phrygian close when it falls a
    /// semitone onto it, else a half close.
    MajorDominant,
}

/// How the melody ends in `key`.
pub fn ending(notes: &[MelodyNote], key: &KeyDef) -> Ending {
    match close(notes, key) {
        Some(c) if c.on_major_dominant() => Ending::MajorDominant,
        _ => Ending::Tonic,
    }
}

/// What the tune's close says for a key (see [`close`] for the corpus behind the order).
fn close_evidence(close: Close) -> f64 {
    match close {
        Close::Tonic => 0.5,
        // The Phrygian fall onto the fifth of a minor key is its most telling close.
        Close::Dominant { phrygian: true } => 0.45,
        Close::Dominant { phrygian: false } => 0.35,
        Close::SupertonicOverDominant => 0.3,
        Close::PhrygianTonic | Close::PicardyThird => 0.2,
        Close::Elsewhere => -0.4,
    }
}

/// What the key signature (`sharps`; flats negative) says for a key.
fn signature_evidence(sharps: i32, key: &KeyDef) -> f64 {
    let written = key.sharps();
    if written == sharps {
        0.2
    } else if key.minor && written == sharps - 1 {
        // Dorian: a minor key written with one flat fewer (one sharp more), as Bach writes
        // G minor with one flat.
        0.1
    } else if !key.minor && written == sharps + 1 {
        // Mixolydian: a major key written with one sharp fewer.
        0.05
    } else if (written - sharps).abs() == 1 {
        // Another modal signature (F# minor under two sharps, Phrygian): one accidental off
        // is far likelier than a key the signature does not write at all.
        -0.1
    } else {
        -0.3
    }
}

/// How much the melody's own evidence favours `key` (added to the profile's correlation).
fn evidence(notes: &[MelodyNote], signature: Option<i32>, key: &KeyDef) -> f64 {
    let Some(closing) = close(notes, key) else {
        return 0.0;
    };
    let mut score = close_evidence(closing);
    if let Some(sharps) = signature {
        score += signature_evidence(sharps, key);
    }
    let tonic = key.tonic.pc();
    let third = key.degree(2, 0).pc();
    let fifth = key.degree(4, 0).pc();
    // Phrase ends inside the tune: on the tonic chord's notes, or the dominant's (with the
    // leading tone: the seventh degree raised in minor, as it stands in major).
    let leading_tone = key.degree(6, i32::from(key.minor)).pc();
    let dominant_chord = [fifth, leading_tone, key.degree(1, 0).pc()];
    for note in notes.iter().filter(|n| n.fermata).rev().skip(1) {
        let pc = note.pitch.midi().rem_euclid(12);
        if [tonic, third, fifth].contains(&pc) {
            score += 0.03;
        } else if dominant_chord.contains(&pc) {
            score += 0.01;
        } else {
            score -= 0.02;
        }
    }
    score
}

/// The key of a melody: the best of the profile's candidates, each with its correlation,
/// once the melody's final note, fermatas and signature are weighed. `None` without
/// candidates.
pub fn choose(
    notes: &[MelodyNote],
    signature: Option<i32>,
    ranked: &[(KeyDef, f64)],
) -> Option<(KeyDef, f64)> {
    ranked
        .iter()
        .map(|(key, correlation)| {
            (
                *key,
                *correlation,
                correlation + evidence(notes, signature, key),
            )
        })
        .max_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(key, correlation, _)| (key, correlation))
}

/// A melody for tests: one note a beat, spelled as `names`, with fermatas on the notes at
/// `fermatas` and on the last.
#[cfg(test)]
pub(super) fn test_tune(names: &[&str], fermatas: &[usize]) -> Vec<MelodyNote> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| MelodyNote {
            offset: i as f64,
            duration: 1.0,
            pitch: crate::music::pitch::SpelledPitch::parse(n).expect("a pitch"),
            fermata: fermatas.contains(&i) || i + 1 == names.len(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tune(names: &[&str], fermatas: &[usize]) -> Vec<MelodyNote> {
        test_tune(names, fermatas)
    }

    fn key(letter: u8, alter: i8, minor: bool) -> KeyDef {
        KeyDef::of(letter, alter, minor)
    }

    #[test]
    fn the_final_and_the_signature_outweigh_a_profile_that_hears_the_relative_key() {
        // A tune in G major ending on G, which a profile reads as E minor by a hair.
        let notes = tune(&["B4", "A4", "G4", "E4", "F#4", "G4"], &[2]);
        let ranked = [(key(2, 0, true), 0.80), (key(4, 0, false), 0.78)];
        let (chosen, correlation) = choose(&notes, Some(1), &ranked).expect("a key");
        assert_eq!(chosen, key(4, 0, false));
        assert_eq!(correlation, 0.78);
    }

    #[test]
    fn a_semitone_fall_to_the_fifth_of_a_minor_key_is_a_phrygian_ending() {
        // A minor, no signature: ... G A F E. E is no tonic of C major or A minor, and it is
        // reached from F: the Phrygian close on E major.
        let notes = tune(&["A4", "C5", "B4", "A4", "G4", "A4", "F4", "E4"], &[3]);
        let ranked = [
            (key(2, 0, true), 0.75),  // E minor: a sharp the signature lacks
            (key(5, 0, true), 0.74),  // A minor
            (key(0, 0, false), 0.72), // C major
        ];
        let (chosen, _) = choose(&notes, Some(0), &ranked).expect("a key");
        assert_eq!(chosen, key(5, 0, true));
        assert_eq!(ending(&notes, &chosen), Ending::MajorDominant);
        assert_eq!(ending(&notes, &key(2, 0, true)), Ending::Tonic);
    }

    #[test]
    fn a_dorian_signature_is_read_as_the_minor_key() {
        // D minor written without a flat, ending on D.
        let notes = tune(
            &["D4", "F4", "E4", "D4", "A4", "G4", "F4", "E4", "D4"],
            &[3],
        );
        let ranked = [(key(5, 0, true), 0.70), (key(1, 0, true), 0.69)];
        let (chosen, _) = choose(&notes, Some(0), &ranked).expect("a key");
        assert_eq!(chosen, key(1, 0, true));
    }

    #[test]
    fn a_tune_ending_on_the_third_of_a_major_key_is_read_in_the_key_of_its_final() {
        // Ending on C: C major, though the profile hears A minor (bwv365, bwv426 end so):
        // no chorale tune ends on the third of its key.
        let notes = tune(&["E5", "D5", "C5", "B4", "A4", "B4", "C5"], &[3]);
        let ranked = [(key(5, 0, true), 0.86), (key(0, 0, false), 0.58)];
        let (chosen, _) = choose(&notes, Some(0), &ranked).expect("a key");
        assert_eq!(chosen, key(0, 0, false));
    }

    #[test]
    fn a_minor_third_falling_to_the_second_degree_closes_a_minor_key_on_its_dominant() {
        // bwv153.1: one sharp, ... E D C B. B over E major closes A minor; E minor (the
        // signature's key, hearing B as its fifth) would end on B major.
        let notes = tune(
            &["B4", "C5", "B4", "A4", "G#4", "A4", "E5", "D5", "C5", "B4"],
            &[3, 5],
        );
        let ranked = [(key(5, 0, true), 0.84), (key(2, 0, true), 0.63)];
        let (chosen, _) = choose(&notes, Some(1), &ranked).expect("a key");
        assert_eq!(chosen, key(5, 0, true));
        assert_eq!(ending(&notes, &chosen), Ending::MajorDominant);
    }

    #[test]
    fn a_signature_one_accidental_off_costs_less_than_one_that_is_not_the_keys() {
        // F# minor under two sharps (bwv145.5), ending B A G# F#: the profile's F# minor,
        // not B minor closing on its dominant.
        let notes = tune(&["F#4", "A4", "C#5", "B4", "A4", "G#4", "F#4"], &[2]);
        let ranked = [(key(3, 1, true), 0.81), (key(6, 0, true), 0.65)];
        let (chosen, _) = choose(&notes, Some(2), &ranked).expect("a key");
        assert_eq!(chosen, key(3, 1, true));
        assert_eq!(ending(&notes, &chosen), Ending::Tonic);
    }
}
