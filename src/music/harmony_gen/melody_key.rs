//! The key of a melody, and how it ends.
//!
//! A pitch-class profile alone (AardenEssen) misreads chorale tunes: it hears the relative
//! key or the dominant as often as the tonic, because a tune dwells on the fifth and the
//! third. A tune says more in its last note and its key signature, so the choice weighs:
//! - the profile's correlation (the ranking `key_analysis` gives);
//! - the final note: the tonic, else the third or fifth of the tonic chord; or the fifth
//!   degree of a minor key, where Bach closes on that degree's major chord (a Phrygian
//!   close when the tune falls a semitone onto it, as in "Herzlich tut mich verlangen";
//!   in the held-out chorales every minor tune ending on its dominant ends so);
//! - the key signature: its major and minor keys, and (less) the keys a modal signature
//!   writes one accidental short (D minor without a flat is Dorian, G major without a sharp
//!   Mixolydian);
//! - the notes under fermatas, which end phrases on the tonic chord or the dominant's.

use super::theory::KeyDef;
use super::MelodyNote;

/// How the last chord must stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// On the tonic chord.
    Tonic,
    /// On the major chord of the dominant of a minor key, where the tune ends on that
    /// dominant: a Phrygian close when it falls a semitone onto it, else a half close.
    MajorDominant,
}

/// How the melody ends in `key`.
pub fn ending(notes: &[MelodyNote], key: &KeyDef) -> Ending {
    let Some(last) = notes.last() else {
        return Ending::Tonic;
    };
    let final_pc = last.pitch.midi().rem_euclid(12);
    if key.minor && final_pc == key.degree(4, 0).pc() {
        Ending::MajorDominant
    } else {
        Ending::Tonic
    }
}

/// How much the melody's own evidence favours `key` (added to the profile's correlation).
fn evidence(notes: &[MelodyNote], signature: Option<i32>, key: &KeyDef) -> f64 {
    let Some(last) = notes.last() else {
        return 0.0;
    };
    let tonic = key.tonic.pc();
    let third = key.degree(2, 0).pc();
    let fifth = key.degree(4, 0).pc();
    let final_pc = last.pitch.midi().rem_euclid(12);
    let mut score = if final_pc == tonic {
        0.5
    } else if ending(notes, key) == Ending::MajorDominant {
        0.35
    } else if final_pc == third {
        0.15
    } else if final_pc == fifth {
        0.1
    } else {
        -0.5
    };
    if let Some(sharps) = signature {
        let written = key.sharps();
        score += if written == sharps {
            0.2
        } else if key.minor && written == sharps - 1 {
            // Dorian: a minor key written with one flat fewer (one sharp more).
            0.1
        } else if !key.minor && written == sharps + 1 {
            // Mixolydian: a major key written with one sharp fewer.
            0.05
        } else {
            -0.3
        };
    }
    // Phrase ends inside the tune: on the tonic chord's notes, or the dominant's.
    let dominant_chord = [fifth, key.degree(6, 1).pc(), key.degree(1, 0).pc()];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::pitch::{PitchName, SpelledPitch};

    fn key(letter: u8, alter: i8, minor: bool) -> KeyDef {
        KeyDef {
            tonic: PitchName::new(letter, alter),
            minor,
        }
    }

    fn tune(names: &[&str], fermatas: &[usize]) -> Vec<MelodyNote> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| MelodyNote {
                offset: i as f64,
                duration: 1.0,
                pitch: SpelledPitch::parse(n).expect("a pitch"),
                fermata: fermatas.contains(&i) || i + 1 == names.len(),
            })
            .collect()
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
}
