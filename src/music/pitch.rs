//! Spelled pitches, as music21 spells them: a pitch name is a letter and an alteration
//! (`F#`, `B-`), a spelled pitch adds its place on the staff (`F#4`). The counterpoint, the
//! harmoniser and the style imitator write every note through these, so a note keeps the
//! letter its key gives it (`G#`, not `A-`, as the leading tone of A minor), and two tools
//! never spell the same note two ways.

use std::fmt;

/// The letters, from C.
pub const LETTERS: [char; 7] = ['C', 'D', 'E', 'F', 'G', 'A', 'B'];
/// Semitones above C of the natural letters C D E F G A B.
pub const NATURAL_PC: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];

/// `#` per sharp, `-` per flat: music21's accidentals.
fn accidental(alter: i32) -> String {
    if alter >= 0 {
        "#".repeat(alter as usize)
    } else {
        "-".repeat(alter.unsigned_abs() as usize)
    }
}

/// A pitch class with its spelling: a letter (0 = C .. 6 = B) and an alteration in
/// semitones. What a chord member or a key's tonic is, before it has an octave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PitchName {
    pub letter: u8,
    pub alter: i8,
}

impl PitchName {
    #[inline]
    pub fn new(letter: u8, alter: i8) -> Self {
        Self {
            letter: letter % 7,
            alter,
        }
    }

    /// Pitch class 0..11.
    #[inline]
    pub fn pc(self) -> i32 {
        (NATURAL_PC[self.letter as usize] + i32::from(self.alter)).rem_euclid(12)
    }

    /// The name `steps` letters and `semitones` semitones above this one.
    pub fn up(self, steps: u8, semitones: i32) -> PitchName {
        let letter = (self.letter + steps) % 7;
        let target = (self.pc() + semitones).rem_euclid(12);
        let mut alter = (target - NATURAL_PC[letter as usize]).rem_euclid(12);
        if alter > 6 {
            alter -= 12;
        }
        PitchName {
            letter,
            alter: alter as i8,
        }
    }

    /// The name as music21 writes it: `F#`, `B-`, `E--`.
    pub fn music21_name(self) -> String {
        format!(
            "{}{}",
            LETTERS[self.letter as usize],
            accidental(i32::from(self.alter))
        )
    }

    /// This name sounding at MIDI number `midi` (which must have this name's pitch class):
    /// the octave follows from the spelling, so B#3 and C4 are both MIDI 60.
    pub fn at(self, midi: i32) -> SpelledPitch {
        let base = NATURAL_PC[self.letter as usize] + i32::from(self.alter);
        let octave = (midi - base).div_euclid(12) - 1;
        SpelledPitch::new(octave * 7 + i32::from(self.letter), i32::from(self.alter))
    }
}

impl fmt::Display for PitchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.music21_name())
    }
}

/// A spelled pitch: a staff position (diatonic steps from C0, so C4 is 28) and an
/// alteration in semitones. Ordered by staff position first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpelledPitch {
    pub dia: i32,
    pub alter: i32,
}

impl SpelledPitch {
    #[inline]
    pub fn new(dia: i32, alter: i32) -> Self {
        Self { dia, alter }
    }

    /// The letter, 0 (C) to 6 (B).
    #[inline]
    pub fn letter(self) -> usize {
        self.dia.rem_euclid(7) as usize
    }

    #[inline]
    pub fn octave(self) -> i32 {
        self.dia.div_euclid(7)
    }

    #[inline]
    pub fn midi(self) -> i32 {
        12 * (self.octave() + 1) + NATURAL_PC[self.letter()] + self.alter
    }

    /// The letter and alteration without the octave.
    pub fn pitch_name(self) -> PitchName {
        PitchName::new(self.letter() as u8, self.alter as i8)
    }

    /// The name as music21 writes it (`nameWithOctave`): `F#4`, `B-3`.
    pub fn name(self) -> String {
        format!(
            "{}{}{}",
            LETTERS[self.letter()],
            accidental(self.alter),
            self.octave()
        )
    }

    /// Reads `D4`, `F#4`, `B-3` or `Bb3`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut chars = text.trim().chars();
        let first = chars.next()?.to_ascii_uppercase();
        let letter = LETTERS.iter().position(|l| *l == first)?;
        let rest: String = chars.collect();
        let digits = rest.trim_start_matches(['#', '-', 'b']);
        let accidentals = &rest[..rest.len() - digits.len()];
        let alter = accidentals
            .chars()
            .map(|c| if c == '#' { 1 } else { -1 })
            .sum::<i32>();
        let octave: i32 = digits.parse().ok()?;
        if !(0..=9).contains(&octave) || alter.abs() > 2 {
            return None;
        }
        Some(Self::new(octave * 7 + letter as i32, alter))
    }

    /// From an engine pitch; nothing for microtones or pitches without a place on the staff.
    pub fn from_pitch(pitch: &music21_rs::Pitch) -> Option<Self> {
        let alter = pitch.alter();
        if alter.fract() != 0.0 || alter.abs() > 3.0 {
            return None;
        }
        Some(Self::new(pitch.diatonic_note_number() - 1, alter as i32))
    }
}

/// The alteration of each letter (C first) under a key signature of `sharps` (flats
/// negative): sharps come in the order F C G D A E B, flats in the reverse order.
pub fn signature_alters(sharps: i32) -> [i32; 7] {
    const SHARP_ORDER: [usize; 7] = [3, 0, 4, 1, 5, 2, 6];
    const FLAT_ORDER: [usize; 7] = [6, 2, 5, 1, 4, 0, 3];
    let mut alters = [0; 7];
    let n = sharps.unsigned_abs().min(7) as usize;
    for &letter in if sharps >= 0 {
        &SHARP_ORDER[..n]
    } else {
        &FLAT_ORDER[..n]
    } {
        alters[letter] = sharps.signum();
    }
    alters
}

/// The name a MIDI number is given where no key spells it (black keys as music21's
/// defaults: C#, E-, F#, G#, B-), with its octave.
pub fn midi_name(midi: i32) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B",
    ];
    format!(
        "{}{}",
        NAMES[midi.rem_euclid(12) as usize],
        midi.div_euclid(12) - 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelled_pitches_read_and_write_as_music21_does() {
        let t = SpelledPitch::parse("F#4").unwrap();
        assert_eq!((t.midi(), t.name()), (66, "F#4".to_string()));
        assert_eq!(SpelledPitch::parse("B-3").unwrap().midi(), 58);
        assert_eq!(SpelledPitch::parse("Bb3").unwrap().name(), "B-3");
        assert_eq!(t.pitch_name().music21_name(), "F#");
        assert_eq!(midi_name(63), "E-4");
        assert_eq!(signature_alters(-2), [0, 0, -1, 0, 0, 0, -1]);
    }

    #[test]
    fn a_pitch_name_at_a_midi_number_takes_its_octave_from_its_spelling() {
        let p = PitchName::new(1, 1).at(63); // D#
        assert_eq!(p.name(), "D#4");
        assert_eq!(p.midi(), 63);
        assert_eq!(PitchName::new(1, -1).at(61).name(), "D-4");
        assert_eq!(PitchName::new(6, 1).at(60).name(), "B#3");
        assert_eq!(PitchName::new(0, -1).at(59).name(), "C-4");
    }
}
