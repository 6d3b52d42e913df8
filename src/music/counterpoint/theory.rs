//! Intervals and modes for two-voice counterpoint, with musica ficta: the raised leading
//! tone at the cadence (not in phrygian, whose cadence has its half step above the final).
//! The notes themselves are [`SpelledPitch`]es.

use crate::music::pitch::{signature_alters, SpelledPitch, NATURAL_PC};

/// The interval between two simultaneous tones, from the lower to the upper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Harmonic {
    /// Diatonic steps: 0 for a unison, 7 for an octave.
    pub generic: i32,
    pub semis: i32,
}

pub fn harmonic(a: SpelledPitch, b: SpelledPitch) -> Harmonic {
    let (lo, hi) = if (a.dia, a.midi()) <= (b.dia, b.midi()) {
        (a, b)
    } else {
        (b, a)
    };
    Harmonic {
        generic: hi.dia - lo.dia,
        semis: hi.midi() - lo.midi(),
    }
}

/// Semitones beyond the major or perfect interval of the same size: 0 major/perfect,
/// -1 minor (or diminished for perfect sizes), +1 augmented.
fn quality(generic: i32, semis: i32) -> i32 {
    let g = generic.abs();
    semis - (12 * (g / 7) + NATURAL_PC[(g % 7) as usize])
}

/// A name such as `P5`, `m6`, `M10`, `A4`, `d5`.
pub fn interval_name(generic: i32, semis: i32) -> String {
    let g = generic.abs();
    let q = quality(g, semis);
    let perfect_size = matches!(g % 7, 0 | 3 | 4);
    let prefix = match (perfect_size, q) {
        (true, 0) => "P".to_string(),
        (true, q) if q > 0 => "A".repeat(q as usize),
        (true, q) => "d".repeat((-q) as usize),
        (false, 0) => "M".to_string(),
        (false, -1) => "m".to_string(),
        (false, q) if q > 0 => "A".repeat(q as usize),
        (false, q) => "d".repeat((-q - 1) as usize),
    };
    format!("{prefix}{}", g + 1)
}

impl Harmonic {
    pub fn simple(self) -> i32 {
        self.generic % 7
    }

    pub fn quality(self) -> i32 {
        quality(self.generic, self.semis)
    }

    /// Consonant in two voices: unisons, octaves and fifths (perfect), thirds and sixths.
    /// The fourth is a dissonance in two voices.
    pub fn is_consonant(self) -> bool {
        matches!(
            (self.simple(), self.quality()),
            (0, 0) | (4, 0) | (2, -1) | (2, 0) | (5, -1) | (5, 0)
        )
    }

    /// `Some(8)` for a unison or (compound) octave, `Some(5)` for a (compound) perfect fifth.
    pub fn perfect_class(self) -> Option<u8> {
        match (self.simple(), self.quality()) {
            (0, 0) => Some(8),
            (4, 0) => Some(5),
            _ => None,
        }
    }

    pub fn is_unison(self) -> bool {
        self.generic == 0 && self.semis == 0
    }

    pub fn name(self) -> String {
        interval_name(self.generic, self.semis)
    }
}

/// A melodic interval, directed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Melodic {
    /// Diatonic steps, signed: 1 a step up, -2 a third down, 0 the same letter.
    pub steps: i32,
    pub semis: i32,
}

pub fn melodic(from: SpelledPitch, to: SpelledPitch) -> Melodic {
    Melodic {
        steps: to.dia - from.dia,
        semis: to.midi() - from.midi(),
    }
}

impl Melodic {
    /// Diatonic size: 0 repeat, 1 step, 2 third...
    pub fn size(self) -> i32 {
        self.steps.abs()
    }

    pub fn dir(self) -> i32 {
        self.semis.signum()
    }

    fn directed_quality(self) -> i32 {
        let s = if self.steps >= 0 {
            self.semis
        } else {
            -self.semis
        };
        quality(self.steps, s)
    }

    pub fn is_repeat(self) -> bool {
        self.semis == 0
    }

    /// A diatonic half or whole step.
    pub fn is_step(self) -> bool {
        self.size() == 1 && matches!(self.semis.abs(), 1 | 2) && self.steps.signum() == self.dir()
    }

    pub fn is_tritone(self) -> bool {
        self.semis.abs() == 6
    }

    /// More than a whole step: a third or more, or an augmented second.
    pub fn is_leap(self) -> bool {
        self.size() >= 2 || self.semis.abs() > 2
    }

    /// Augmented or diminished, of any size (A4, d5, A5, d4, d7, A2, A1...), by its
    /// spelling: C-G# is an augmented fifth, C-Ab a minor sixth.
    pub fn is_augmented_or_diminished(self) -> bool {
        let q = self.directed_quality();
        if matches!(self.size() % 7, 0 | 3 | 4) {
            q != 0
        } else {
            !matches!(q, 0 | -1)
        }
    }

    /// The leaps Fux allows: thirds, perfect fourths, fifths and octaves, the minor sixth
    /// upwards only.
    pub fn is_allowed_leap(self) -> bool {
        if self.steps.signum() != self.dir() {
            return false;
        }
        matches!(
            (self.size(), self.directed_quality()),
            (2, -1) | (2, 0) | (3, 0) | (4, 0) | (7, 0)
        ) || (self.size() == 5 && self.directed_quality() == -1 && self.dir() > 0)
    }

    pub fn name(self) -> String {
        let base = interval_name(
            self.steps,
            if self.steps >= 0 {
                self.semis
            } else {
                -self.semis
            },
        );
        match self.dir() {
            1 => format!("{base} up"),
            -1 => format!("{base} down"),
            _ => base,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModeKind {
    Ionian,
    Dorian,
    Phrygian,
    Lydian,
    Mixolydian,
    Aeolian,
}

impl ModeKind {
    /// In the order a tie between equally fitting modes is broken.
    pub const PREFERENCE: [ModeKind; 6] = [
        ModeKind::Ionian,
        ModeKind::Aeolian,
        ModeKind::Dorian,
        ModeKind::Mixolydian,
        ModeKind::Phrygian,
        ModeKind::Lydian,
    ];

    pub(super) fn pattern(self) -> [i32; 7] {
        match self {
            ModeKind::Ionian => [0, 2, 4, 5, 7, 9, 11],
            ModeKind::Dorian => [0, 2, 3, 5, 7, 9, 10],
            ModeKind::Phrygian => [0, 1, 3, 5, 7, 8, 10],
            ModeKind::Lydian => [0, 2, 4, 6, 7, 9, 11],
            ModeKind::Mixolydian => [0, 2, 4, 5, 7, 9, 10],
            ModeKind::Aeolian => [0, 2, 3, 5, 7, 8, 10],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ModeKind::Ionian => "ionian",
            ModeKind::Dorian => "dorian",
            ModeKind::Phrygian => "phrygian",
            ModeKind::Lydian => "lydian",
            ModeKind::Mixolydian => "mixolydian",
            ModeKind::Aeolian => "aeolian",
        }
    }
}

/// The names the `mode` argument takes; `major` is ionian, `minor` aeolian.
pub const MODE_NAMES: [&str; 8] = [
    "ionian",
    "dorian",
    "phrygian",
    "lydian",
    "mixolydian",
    "aeolian",
    "major",
    "minor",
];

/// Reads a mode name (case-insensitive); the second value keeps `major`/`minor` for labels.
pub fn parse_mode_name(text: &str) -> Option<(ModeKind, Option<&'static str>)> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "ionian" => (ModeKind::Ionian, None),
        "dorian" => (ModeKind::Dorian, None),
        "phrygian" => (ModeKind::Phrygian, None),
        "lydian" => (ModeKind::Lydian, None),
        "mixolydian" => (ModeKind::Mixolydian, None),
        "aeolian" => (ModeKind::Aeolian, None),
        "major" => (ModeKind::Ionian, Some("major")),
        "minor" => (ModeKind::Aeolian, Some("minor")),
        _ => return None,
    })
}

/// A mode on a final: the seven letters with their alterations.
#[derive(Clone, Debug, PartialEq)]
pub struct Mode {
    pub kind: ModeKind,
    pub final_letter: usize,
    pub final_alter: i32,
    alters: [i32; 7],
    tonal_name: Option<&'static str>,
}

impl Mode {
    pub fn new(kind: ModeKind, final_tone: SpelledPitch, tonal_name: Option<&'static str>) -> Self {
        let final_letter = final_tone.letter();
        let final_pc = NATURAL_PC[final_letter] + final_tone.alter;
        let mut alters = [0; 7];
        for (i, semis) in kind.pattern().iter().enumerate() {
            let letter = (final_letter + i) % 7;
            let target = (final_pc + semis).rem_euclid(12);
            alters[letter] = (target - NATURAL_PC[letter] + 6).rem_euclid(12) - 6;
        }
        Self {
            kind,
            final_letter,
            final_alter: final_tone.alter,
            alters,
            tonal_name,
        }
    }

    /// The tone of the mode at a staff position.
    pub fn tone(&self, dia: i32) -> SpelledPitch {
        SpelledPitch::new(dia, self.alters[dia.rem_euclid(7) as usize])
    }

    pub fn contains(&self, tone: SpelledPitch) -> bool {
        self.alters[tone.letter()] == tone.alter
    }

    /// Degree from 0 (the final) to 6.
    pub fn degree(&self, tone: SpelledPitch) -> usize {
        (tone.letter() + 7 - self.final_letter) % 7
    }

    /// Whether the seventh degree is raised to a leading tone at the cadence (musica ficta):
    /// where it lies a whole step below the final, except in phrygian, whose cadence has
    /// its half step above the final.
    pub fn raises_leading_tone(&self) -> bool {
        self.kind != ModeKind::Phrygian && self.kind.pattern()[6] == 10
    }

    /// The key signature of the mode's collection: sharps positive, flats negative.
    pub fn sharps(&self) -> i32 {
        (-7..=7)
            .find(|s| signature_alters(*s) == self.alters)
            .unwrap_or(0)
    }

    pub fn final_name(&self) -> String {
        SpelledPitch::new(self.final_letter as i32, self.final_alter)
            .pitch_name()
            .music21_name()
    }

    /// `D dorian`, `G major`.
    pub fn label(&self) -> String {
        format!(
            "{} {}",
            self.final_name(),
            self.tonal_name.unwrap_or(self.kind.name())
        )
    }
}

/// The mode of a cantus firmus: its last note is the final; the mode is the one on that
/// final that contains the most of its notes (a raised leading tone before the final does
/// not count against a mode), the key signature's own mode first among equals.
pub fn detect_mode(cf: &[SpelledPitch], sharps: Option<i32>) -> Mode {
    let final_tone = *cf.last().expect("a cantus firmus has notes");
    let signature = signature_alters(sharps.unwrap_or(0));
    let misfits = |mode: &Mode| {
        cf.iter()
            .enumerate()
            .filter(|(i, t)| {
                let leading = *i + 2 == cf.len()
                    && mode.raises_leading_tone()
                    && mode.degree(**t) == 6
                    && t.alter == mode.alters[t.letter()] + 1;
                !mode.contains(**t) && !leading
            })
            .count()
    };
    let candidates: Vec<(Mode, usize)> = ModeKind::PREFERENCE
        .iter()
        .map(|k| {
            let m = Mode::new(*k, final_tone, None);
            let bad = misfits(&m);
            (m, bad)
        })
        .collect();
    let fewest = candidates.iter().map(|c| c.1).min().unwrap_or(0);
    candidates
        .iter()
        .find(|(m, bad)| *bad == fewest && m.alters == signature)
        .or_else(|| candidates.iter().find(|(_, bad)| *bad == fewest))
        .map(|(m, _)| m.clone())
        .unwrap_or_else(|| Mode::new(ModeKind::Ionian, final_tone, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::counterpoint::tones;

    fn pitch(name: &str) -> SpelledPitch {
        SpelledPitch::parse(name).expect("a pitch name")
    }

    #[test]
    fn intervals() {
        let h = harmonic(pitch("E4"), pitch("C#5"));
        assert_eq!(h.name(), "M6");
        assert!(h.is_consonant());
        assert_eq!(harmonic(pitch("D4"), pitch("A5")).perfect_class(), Some(5));
        assert!(!harmonic(pitch("F4"), pitch("B4")).is_consonant());
        assert!(!harmonic(pitch("C4"), pitch("F4")).is_consonant());
        assert!(melodic(pitch("F4"), pitch("B4")).is_tritone());
        assert!(!melodic(pitch("F4"), pitch("G#4")).is_step());
        assert!(melodic(pitch("E4"), pitch("C5")).is_allowed_leap());
        assert!(!melodic(pitch("C5"), pitch("E4")).is_allowed_leap());
        assert!(!melodic(pitch("C4"), pitch("A4")).is_allowed_leap());
        assert_eq!(interval_name(3, 6), "A4");
        assert_eq!(interval_name(4, 6), "d5");
        assert_eq!(interval_name(9, 15), "m10");
        let altered = |a: &str, b: &str| melodic(pitch(a), pitch(b)).is_augmented_or_diminished();
        assert!(
            altered("C4", "G#4") && altered("G#4", "C4"),
            "A5 up and down"
        );
        assert!(
            !altered("C4", "Ab4") && !altered("Ab4", "C4"),
            "m6 up and down"
        );
        assert!(altered("F4", "B4") && altered("B4", "F5") && altered("C#5", "F5"));
        assert!(altered("G#4", "F5") && altered("C4", "C#4") && altered("F4", "G#4"));
        assert!(!altered("D4", "A4") && !altered("E4", "C5") && !altered("B3", "D4"));
        assert!(!altered("C4", "C5") && !altered("A4", "G4") && !altered("C#4", "D4"));
        assert!(melodic(pitch("F4"), pitch("G#4")).is_leap());
        assert!(!melodic(pitch("F4"), pitch("G4")).is_leap());
    }

    #[test]
    fn modes_come_from_the_final_and_the_signature() {
        let dorian = detect_mode(&tones("D4 F4 E4 D4 G4 F4 A4 G4 F4 E4 D4"), None);
        assert_eq!(dorian.label(), "D dorian");
        assert!(dorian.raises_leading_tone());
        assert_eq!(dorian.sharps(), 0);
        let phrygian = detect_mode(&tones("E4 C4 D4 C4 A3 A4 G4 E4 F4 E4"), None);
        assert_eq!(phrygian.kind, ModeKind::Phrygian);
        assert!(!phrygian.raises_leading_tone());
        let g = detect_mode(&tones("G4 F#4 G4 A4 B4 C5 D5 A4 G4"), Some(0));
        assert_eq!(g.label(), "G ionian");
        let cadence_only = detect_mode(&tones("G4 A4 B4 C5 D5 F#4 G4"), Some(0));
        assert_eq!(
            cadence_only.label(),
            "G mixolydian",
            "a raised leading tone is ficta"
        );
        assert_eq!(g.sharps(), 1);
        let minor = detect_mode(&tones("A4 C5 B4 D5 C5 B4 G#4 A4"), Some(0));
        assert_eq!(minor.kind, ModeKind::Aeolian);
        let d_minor = Mode::new(ModeKind::Aeolian, pitch("D4"), Some("minor"));
        assert_eq!(
            (d_minor.label(), d_minor.sharps()),
            ("D minor".to_string(), -1)
        );
        assert_eq!(parse_mode_name(" Dorian "), Some((ModeKind::Dorian, None)));
        assert!(parse_mode_name("locrian").is_none());
    }
}
