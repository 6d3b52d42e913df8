//! How a tune closes in a key: its last note, and the step that reaches it.
//!
//! Every one of the 159 chorales of the corpus (bach/ and bach-train/) ends its tune on the
//! tonic of its key, except in minor: on the fifth degree over the dominant's major chord (19,
//! ten of them falling a semitone onto it, the Phrygian close), on the second degree fallen to
//! from the minor third, again over the major dominant (2: bwv153.1 and bwv77.6, whose B over
//! E major closes A minor), and once on the raised third of a Picardy close (bwv313). No tune
//! ends on the third or fifth of a major key, nor on the minor third, and none falls a semitone
//! onto its tonic: that fall makes the final a Phrygian one, the dominant of the key below.

use super::super::theory::KeyDef;
use super::super::MelodyNote;

/// Where the last note stands in a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// On the tonic, reached otherwise than by a semitone fall.
    Tonic,
    /// On the tonic fallen to by a semitone: the lowered second of a Phrygian final, which a
    /// tonal key never writes (the tonic is reached from the leading tone below or the whole
    /// tone above).
    PhrygianTonic,
    /// In minor, on the fifth degree, closing on the dominant's major chord; `phrygian` when
    /// it falls a semitone onto it (the sixth degree falling to the fifth over a Phrygian
    /// cadence, as "Herzlich tut mich verlangen" ends).
    Dominant { phrygian: bool },
    /// In minor, on the second degree fallen to from the minor third: the fifth of the
    /// dominant's major chord.
    SupertonicOverDominant,
    /// In minor, on the raised third: the tune sings the Picardy third itself.
    PicardyThird,
    /// Anywhere else: the third or fifth of a major key, the minor third, a note off the
    /// tonic and dominant chords.
    Elsewhere,
}

impl Close {
    /// The last chord stands on the dominant's major chord, not on the tonic.
    pub fn on_major_dominant(self) -> bool {
        matches!(self, Close::Dominant { .. } | Close::SupertonicOverDominant)
    }
}

/// How the melody's last note closes in `key`; `None` without notes.
pub fn close(notes: &[MelodyNote], key: &KeyDef) -> Option<Close> {
    let last = notes.last()?;
    let final_midi = last.pitch.midi();
    let final_pc = final_midi.rem_euclid(12);
    // The note the tune reaches its last one from: repeated notes leave the step before them.
    let approach = notes
        .iter()
        .rev()
        .skip(1)
        .map(|n| n.pitch.midi())
        .find(|&m| m != final_midi);
    let semitone_fall = approach == Some(final_midi + 1);
    let pc = |degree: u8, alter: i32| key.degree(degree, alter).pc();
    Some(if final_pc == pc(0, 0) {
        if semitone_fall {
            Close::PhrygianTonic
        } else {
            Close::Tonic
        }
    } else if !key.minor {
        Close::Elsewhere
    } else if final_pc == pc(4, 0) {
        Close::Dominant {
            phrygian: semitone_fall,
        }
    } else if final_pc == pc(1, 0) && semitone_fall {
        // A semitone above the second degree of a minor key is its minor third.
        Close::SupertonicOverDominant
    } else if final_pc == pc(2, 1) {
        Close::PicardyThird
    } else {
        Close::Elsewhere
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(letter: u8, alter: i8, minor: bool) -> KeyDef {
        KeyDef::of(letter, alter, minor)
    }

    fn tune(names: &[&str]) -> Vec<MelodyNote> {
        super::super::test_tune(names, &[])
    }

    const A_MINOR: (u8, i8, bool) = (5, 0, true);
    const C_MAJOR: (u8, i8, bool) = (0, 0, false);
    const E_MINOR: (u8, i8, bool) = (2, 0, true);

    fn close_in(names: &[&str], (letter, alter, minor): (u8, i8, bool)) -> Option<Close> {
        close(&tune(names), &key(letter, alter, minor))
    }

    #[test]
    fn a_tune_falling_a_tone_or_rising_a_semitone_to_its_final_ends_on_the_tonic() {
        assert_eq!(close_in(&["E4", "D4", "C4"], C_MAJOR), Some(Close::Tonic));
        assert_eq!(close_in(&["B3", "C4"], C_MAJOR), Some(Close::Tonic));
        assert_eq!(close_in(&["G#4", "A4", "A4"], A_MINOR), Some(Close::Tonic));
    }

    #[test]
    fn a_semitone_fall_onto_the_final_is_phrygian() {
        // F-E: no tonic of E minor, but the fifth of A minor reached from its sixth.
        let notes = ["G4", "F4", "E4"];
        assert_eq!(close_in(&notes, E_MINOR), Some(Close::PhrygianTonic));
        assert_eq!(
            close_in(&notes, A_MINOR),
            Some(Close::Dominant { phrygian: true })
        );
        // Repeated finals look past the repetition to the step that reached them.
        assert_eq!(
            close_in(&["F4", "E4", "E4"], A_MINOR),
            Some(Close::Dominant { phrygian: true })
        );
    }

    #[test]
    fn the_second_degree_fallen_to_from_the_minor_third_closes_on_the_major_dominant() {
        // bwv153.1's close: C-B in A minor, over E major.
        let close = close_in(&["E5", "D5", "C5", "B4"], A_MINOR).expect("a close");
        assert_eq!(close, Close::SupertonicOverDominant);
        assert!(close.on_major_dominant());
        // Reached from the third below, the second degree is no close at all.
        assert_eq!(
            close_in(&["G4", "A4", "B4"], A_MINOR),
            Some(Close::Elsewhere)
        );
    }

    #[test]
    fn thirds_and_fifths_of_a_major_key_and_the_minor_third_are_no_close() {
        assert_eq!(close_in(&["D4", "E4"], C_MAJOR), Some(Close::Elsewhere));
        assert_eq!(close_in(&["A4", "G4"], C_MAJOR), Some(Close::Elsewhere));
        assert_eq!(close_in(&["B4", "C5"], A_MINOR), Some(Close::Elsewhere));
        assert_eq!(close_in(&["B4", "C#5"], A_MINOR), Some(Close::PicardyThird));
        assert_eq!(close_in(&[], A_MINOR), None);
    }
}
