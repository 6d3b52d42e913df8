//! Species counterpoint after Fux's *Gradus ad Parnassum* (1725), for two voices.
//!
//! Three parts, kept apart on purpose:
//! - tones, intervals and modes, with musica ficta: the raised leading tone at the cadence
//!   (not in phrygian, whose cadence has its half step above the final);
//! - a generator: a beam search, bar by bar, over the counterpoint's notes, with Fux's rules
//!   as hard constraints and his preferences (contrary motion, steps, imperfect consonances,
//!   one climax, a compact range) as costs, ties broken by a noise drawn from the seed;
//! - a rule checker, written apart from the generator, that takes any cantus firmus and
//!   counterpoint and says for each rule whether it holds and, where it does not, at which
//!   measure and beat, between which notes. Two licences are listed rather than counted as
//!   faults: breaking the syncopation of 4th species where it cannot go on (Fux allows it;
//!   at most once in four bars), and a 5th-species cadence without suspension where none
//!   can be prepared.
//!
//! Time is counted in eighth notes from the start; every cantus firmus note fills one bar of
//! 4/4 ([`BAR`] eighths), as Fux writes it in whole notes.

use std::collections::HashSet;

/// Eighth notes in a bar of 4/4.
pub const BAR: u32 = 8;
/// The fewest and most cantus firmus notes accepted.
pub const MIN_CF_NOTES: usize = 3;
pub const MAX_CF_NOTES: usize = 64;

const STEP_SEMIS: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
const LETTERS: [char; 7] = ['C', 'D', 'E', 'F', 'G', 'A', 'B'];

// ---------------------------------------------------------------- tones and intervals

/// A spelled pitch: a staff position (diatonic steps from C0, so C4 is 28) and an
/// alteration in semitones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tone {
    pub dia: i32,
    pub alter: i32,
}

impl Tone {
    pub fn new(dia: i32, alter: i32) -> Self {
        Self { dia, alter }
    }

    /// The letter, 0 (C) to 6 (B).
    pub fn letter(self) -> usize {
        self.dia.rem_euclid(7) as usize
    }

    pub fn octave(self) -> i32 {
        self.dia.div_euclid(7)
    }

    pub fn midi(self) -> i32 {
        12 * (self.octave() + 1) + STEP_SEMIS[self.letter()] + self.alter
    }

    /// The name as music21 writes it: `F#4`, `B-3`.
    pub fn name(self) -> String {
        let accidental = if self.alter >= 0 {
            "#".repeat(self.alter as usize)
        } else {
            "-".repeat((-self.alter) as usize)
        };
        format!("{}{accidental}{}", LETTERS[self.letter()], self.octave())
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

/// The interval between two simultaneous tones, from the lower to the upper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Harmonic {
    /// Diatonic steps: 0 for a unison, 7 for an octave.
    pub generic: i32,
    pub semis: i32,
}

pub fn harmonic(a: Tone, b: Tone) -> Harmonic {
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
    semis - (12 * (g / 7) + STEP_SEMIS[(g % 7) as usize])
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

pub fn melodic(from: Tone, to: Tone) -> Melodic {
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

// ---------------------------------------------------------------- modes

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

    fn pattern(self) -> [i32; 7] {
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
    pub fn new(kind: ModeKind, final_tone: Tone, tonal_name: Option<&'static str>) -> Self {
        let final_letter = final_tone.letter();
        let final_pc = STEP_SEMIS[final_letter] + final_tone.alter;
        let mut alters = [0; 7];
        for (i, semis) in kind.pattern().iter().enumerate() {
            let letter = (final_letter + i) % 7;
            let target = (final_pc + semis).rem_euclid(12);
            alters[letter] = (target - STEP_SEMIS[letter] + 6).rem_euclid(12) - 6;
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
    pub fn tone(&self, dia: i32) -> Tone {
        Tone::new(dia, self.alters[dia.rem_euclid(7) as usize])
    }

    pub fn contains(&self, tone: Tone) -> bool {
        self.alters[tone.letter()] == tone.alter
    }

    /// Degree from 0 (the final) to 6.
    pub fn degree(&self, tone: Tone) -> usize {
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
        let t = Tone::new(self.final_letter as i32, self.final_alter).name();
        t.trim_end_matches(|c: char| c.is_ascii_digit()).to_string()
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

/// The alteration of each letter under a key signature.
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

/// The mode of a cantus firmus: its last note is the final; the mode is the one on that
/// final that contains the most of its notes (a raised leading tone before the final does
/// not count against a mode), the key signature's own mode first among equals.
pub fn detect_mode(cf: &[Tone], sharps: Option<i32>) -> Mode {
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

// ---------------------------------------------------------------- the counterpoint

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Voice {
    Above,
    Below,
}

/// One sounding note of the counterpoint (a syncope tied over the barline is one note).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpNote {
    /// Onset in eighth notes from the start.
    pub start: u32,
    /// Length in eighth notes.
    pub dur: u32,
    pub tone: Tone,
}

impl CpNote {
    pub fn end(&self) -> u32 {
        self.start + self.dur
    }
}

impl Violation {
    fn measure_start(&self) -> u32 {
        (self.measure as u32 - 1) * BAR
    }
}

/// Measure (from 1) and beat (from 1, in quarter notes) of a time in eighths.
pub fn position(t: u32) -> (usize, f64) {
    ((t / BAR) as usize + 1, 1.0 + f64::from(t % BAR) / 2.0)
}

// ---------------------------------------------------------------- the rule checker

/// Where a rule is broken.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub measure: usize,
    pub beat: f64,
    /// The notes involved: `CP D5`, `CF E4`.
    pub notes: Vec<String>,
    pub detail: String,
}

/// One rule and how it fared.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleResult {
    pub id: &'static str,
    pub description: &'static str,
    pub passed: bool,
    pub violations: Vec<Violation>,
    /// Places where a licence was taken (the rule still holds): the broken syncopations of
    /// 4th species, a 5th-species cadence without its suspension.
    pub licences: Vec<Violation>,
}

/// The rules, in the order they are reported.
pub const RULES: [(&str, &str); 15] = [
    ("species_rhythm", "The rhythm of the species: 1st whole notes; 2nd two halves; 3rd four quarters; 4th a half rest, then halves tied over every barline (breaking the species, a bar of two halves, is a licence taken only where the syncopation cannot go on, at most once in four bars, and listed); 5th a mix of halves, quarters, tied syncopes and eighth pairs on weak beats, with no gaps and a suspension at the cadence (listed as a licence where none can be prepared); the last note a whole note."),
    ("consonant_strong_beats", "Every downbeat is consonant (unison, third, fifth, sixth, octave or compound), except a prepared suspension in 4th and 5th species."),
    ("dissonance_treatment", "A dissonance is a passing or neighbour tone on a weak beat, approached and left by step, or (4th and 5th species) a suspension: prepared by a consonance, held over the barline, resolving down by step to a consonance (7-6 or 4-3 above, 2-3 or 4-5 below)."),
    ("no_parallel_perfects", "No parallel (or antiparallel) fifths, octaves or unisons between neighbouring notes, nor on successive downbeats (2nd, 3rd, 5th species) or successive syncopations (4th species)."),
    ("no_direct_perfects", "No direct (hidden) fifths or octaves: a perfect consonance is not reached by similar motion."),
    ("no_inner_unisons", "Unisons only on the first and the last note."),
    ("contrary_motion_preferred", "Contrary motion prevails: at least 40% of the moves between downbeats in which both voices move are contrary (not asked of 4th species, whose chains of suspensions move with the cantus firmus), and no more than three parallel thirds or sixths in a row."),
    ("leaps_limited", "Melodic intervals are steps, thirds, perfect fourths, fifths, octaves or an ascending minor sixth; a leap of a fourth or more is recovered by a step in the opposite direction; no two leaps in a row in one direction unless both are thirds, never three."),
    ("single_climax", "The counterpoint's highest note is reached once."),
    ("no_tritone_leaps", "No melodic tritone (augmented fourth or diminished fifth)."),
    ("perfect_beginning_and_end", "The first note makes a perfect consonance with the cantus firmus (unison, fifth or octave above; unison or octave below), the last a unison or octave."),
    ("cadence", "The cadence (clausula vera): both voices reach the final unison or octave by step in contrary motion, one of them by a half step (the leading tone; in phrygian the half step above)."),
    ("no_voice_crossing", "The counterpoint stays on its side of the cantus firmus; no voice overlaps the other's previous note."),
    ("no_repeated_notes", "No note is repeated (the ties of a syncopation are one note)."),
    ("range", "The counterpoint spans at most a twelfth, and the voices are never more than a twelfth apart."),
];

struct Vertical {
    t: u32,
    cf: Tone,
    cp: Tone,
    idx: usize,
    onset: bool,
}

fn cp_label(t: Tone) -> String {
    format!("CP {}", t.name())
}

fn cf_label(t: Tone) -> String {
    format!("CF {}", t.name())
}

fn violation(t: u32, notes: Vec<String>, detail: impl Into<String>) -> Violation {
    let (measure, beat) = position(t);
    Violation {
        measure,
        beat,
        notes,
        detail: detail.into(),
    }
}

/// Judges a counterpoint against its cantus firmus (one cantus firmus note per bar of
/// [`BAR`] eighths), rule by rule. Written apart from the generator: it knows only the
/// notes.
pub fn check(cf: &[Tone], cp: &[CpNote], species: u8, voice: Voice) -> Vec<RuleResult> {
    let mut notes = cp.to_vec();
    notes.sort_by_key(|n| n.start);
    let n = cf.len();
    let end = n as u32 * BAR;
    let mut found: Vec<Vec<Violation>> = vec![Vec::new(); RULES.len()];
    let rule = |id: &str| RULES.iter().position(|r| r.0 == id).expect("known rule");

    // The verticals: every onset of the counterpoint and every barline under a held note.
    let mut verts: Vec<Vertical> = Vec::new();
    for (idx, note) in notes.iter().enumerate() {
        let mut t = note.start;
        while t < note.end().min(end) {
            let onset = t == note.start;
            if onset || t % BAR == 0 {
                verts.push(Vertical {
                    t,
                    cf: cf[(t / BAR) as usize],
                    cp: note.tone,
                    idx,
                    onset,
                });
            }
            t += 1;
        }
    }

    if notes.is_empty() {
        for (i, v) in found.iter_mut().enumerate() {
            if i == 0 || i == rule("perfect_beginning_and_end") || i == rule("cadence") {
                v.push(violation(0, vec![], "the counterpoint has no notes"));
            }
        }
        return finish(found, Vec::new());
    }

    let licences = check_rhythm(&notes, n, species, &mut found[rule("species_rhythm")]);

    // Consonance on downbeats and the treatment of dissonances.
    for v in &verts {
        let h = harmonic(v.cp, v.cf);
        if h.is_consonant() {
            continue;
        }
        let pair = vec![cp_label(v.cp), cf_label(v.cf)];
        if v.t % BAR == 0 && (v.onset || !matches!(species, 4 | 5)) {
            found[rule("consonant_strong_beats")].push(violation(
                v.t,
                pair,
                format!("dissonant {} on the downbeat", h.name()),
            ));
            continue;
        }
        let note = notes[v.idx];
        let prev = v.idx.checked_sub(1).map(|i| notes[i]);
        let next = notes.get(v.idx + 1).copied();
        let problem = if v.onset {
            if species == 1 {
                Some(format!("dissonant {} in first species", h.name()))
            } else if note.dur > 4 {
                Some(format!("dissonant {} is longer than a half note", h.name()))
            } else {
                match (prev, next) {
                    (Some(p), Some(x)) => {
                        let a = melodic(p.tone, note.tone);
                        let b = melodic(note.tone, x.tone);
                        if !a.is_step() || !b.is_step() {
                            Some(format!(
                                "dissonant {} not approached and left by step ({}, then {})",
                                h.name(),
                                a.name(),
                                b.name()
                            ))
                        } else if a.dir() != b.dir() && x.tone != p.tone {
                            Some(format!(
                                "dissonant {} is neither a passing nor a neighbour tone",
                                h.name()
                            ))
                        } else {
                            None
                        }
                    }
                    _ => Some(format!(
                        "dissonant {} at the edge of the counterpoint",
                        h.name()
                    )),
                }
            }
        } else {
            // Held over the barline: a suspension.
            let prepared = harmonic(note.tone, cf[(note.start / BAR) as usize]).is_consonant();
            let kind_ok = match voice {
                Voice::Above => {
                    matches!((h.simple(), h.quality()), (6, 0) | (6, -1) | (3, 0))
                        || (matches!((h.simple(), h.quality()), (1, 0) | (1, -1)) && h.generic >= 8)
                }
                Voice::Below => {
                    matches!((h.simple(), h.quality()), (1, 0) | (1, -1) | (3, 0))
                }
            };
            let resolution = next.filter(|x| x.start < (v.t / BAR + 1) * BAR);
            if !matches!(species, 4 | 5) {
                Some(format!("dissonant {} held over the barline", h.name()))
            } else if !prepared {
                Some(format!(
                    "suspended {} is not prepared by a consonance",
                    h.name()
                ))
            } else if !kind_ok {
                Some(format!(
                    "{} is not a suspension Fux allows {}",
                    h.name(),
                    if voice == Voice::Above {
                        "above (7-6, 4-3, 9-8)"
                    } else {
                        "below (2-3, 4-5)"
                    }
                ))
            } else {
                match resolution {
                    Some(x) => {
                        let m = melodic(note.tone, x.tone);
                        let rh = harmonic(x.tone, cf[(x.start / BAR) as usize]);
                        if !(m.is_step() && m.dir() < 0) {
                            Some(format!(
                                "suspended {} does not resolve down by step ({})",
                                h.name(),
                                m.name()
                            ))
                        } else if !rh.is_consonant() {
                            Some(format!(
                                "suspended {} resolves to a dissonant {}",
                                h.name(),
                                rh.name()
                            ))
                        } else {
                            None
                        }
                    }
                    None => Some(format!("suspended {} is not resolved in its bar", h.name())),
                }
            }
        };
        if let Some(detail) = problem {
            let mut who = vec![cp_label(v.cp), cf_label(v.cf)];
            if let Some(p) = prev.filter(|_| v.onset) {
                who.insert(0, cp_label(p.tone));
            }
            found[rule("dissonance_treatment")].push(violation(v.t, who, detail));
        }
    }

    // Motion between neighbouring verticals.
    let mut parallel_run = 0;
    for w in verts.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let cp_moves = a.cp.midi() != b.cp.midi();
        let cf_moves = a.cf.midi() != b.cf.midi();
        let ha = harmonic(a.cp, a.cf);
        let hb = harmonic(b.cp, b.cf);
        let who = vec![
            cp_label(a.cp),
            cp_label(b.cp),
            cf_label(a.cf),
            cf_label(b.cf),
        ];
        if cp_moves && cf_moves {
            let dcp = (b.cp.midi() - a.cp.midi()).signum();
            let dcf = (b.cf.midi() - a.cf.midi()).signum();
            match (ha.perfect_class(), hb.perfect_class()) {
                (Some(x), Some(y)) if x == y => {
                    found[rule("no_parallel_perfects")].push(violation(
                        b.t,
                        who.clone(),
                        format!(
                            "parallel {} ({} to {})",
                            if x == 5 { "fifths" } else { "octaves" },
                            ha.name(),
                            hb.name()
                        ),
                    ))
                }
                (_, Some(_)) if dcp == dcf => found[rule("no_direct_perfects")].push(violation(
                    b.t,
                    who.clone(),
                    format!("{} reached by similar motion from {}", hb.name(), ha.name()),
                )),
                _ => {}
            }
            let crossed = match voice {
                Voice::Above => b.cp.midi() < a.cf.midi() || b.cf.midi() > a.cp.midi(),
                Voice::Below => b.cp.midi() > a.cf.midi() || b.cf.midi() < a.cp.midi(),
            };
            if crossed {
                found[rule("no_voice_crossing")].push(violation(b.t, who.clone(), "voice overlap"));
            }
            if dcp == dcf && ha.generic == hb.generic && ha.perfect_class().is_none() {
                parallel_run += 1;
                if parallel_run == 4 {
                    found[rule("contrary_motion_preferred")].push(violation(
                        b.t,
                        who,
                        format!("more than three parallel {}s in a row", hb.name()),
                    ));
                }
            } else {
                parallel_run = 0;
            }
        } else {
            parallel_run = 0;
        }
    }

    // Successive accented verticals: downbeats, or the syncopations of the 4th species.
    let frames: Vec<&Vertical> = verts
        .iter()
        .filter(|v| match species {
            4 => v.onset,
            _ => v.t % BAR == 0,
        })
        .collect();
    let (mut both, mut contrary) = (0, 0);
    for w in frames.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a.cp.midi() == b.cp.midi() || a.cf.midi() == b.cf.midi() {
            continue;
        }
        both += 1;
        if (b.cp.midi() - a.cp.midi()).signum() != (b.cf.midi() - a.cf.midi()).signum() {
            contrary += 1;
        }
        let adjacent = verts
            .iter()
            .position(|v| v.t == a.t)
            .is_some_and(|i| verts.get(i + 1).is_some_and(|v| v.t == b.t));
        let (ha, hb) = (harmonic(a.cp, a.cf), harmonic(b.cp, b.cf));
        if species != 1 && !adjacent {
            if let (Some(x), Some(y)) = (ha.perfect_class(), hb.perfect_class()) {
                if x == y {
                    found[rule("no_parallel_perfects")].push(violation(
                        b.t,
                        vec![
                            cp_label(a.cp),
                            cp_label(b.cp),
                            cf_label(a.cf),
                            cf_label(b.cf),
                        ],
                        format!(
                            "{} on successive {} ({} to {})",
                            if x == 5 { "fifths" } else { "octaves" },
                            if species == 4 {
                                "syncopations"
                            } else {
                                "downbeats"
                            },
                            ha.name(),
                            hb.name()
                        ),
                    ));
                }
            }
        }
    }
    if species != 4 && both > 0 && contrary * 10 < both * 4 {
        found[rule("contrary_motion_preferred")].push(violation(
            0,
            vec![],
            format!(
                "contrary motion in {contrary} of {both} moves where both voices move (40% needed)"
            ),
        ));
    }

    // Unisons, crossing and spacing at every vertical.
    let first_t = notes[0].start;
    let last_bar_t = (n as u32 - 1) * BAR;
    for v in &verts {
        let h = harmonic(v.cp, v.cf);
        let pair = vec![cp_label(v.cp), cf_label(v.cf)];
        if h.is_unison() && v.t != first_t && v.t < last_bar_t {
            found[rule("no_inner_unisons")].push(violation(
                v.t,
                pair.clone(),
                "unison inside the counterpoint",
            ));
        }
        let wrong_side = match voice {
            Voice::Above => v.cp.midi() < v.cf.midi(),
            Voice::Below => v.cp.midi() > v.cf.midi(),
        };
        if wrong_side {
            found[rule("no_voice_crossing")].push(violation(v.t, pair.clone(), "the voices cross"));
        }
        if (v.cp.midi() - v.cf.midi()).abs() > 19 {
            found[rule("range")].push(violation(
                v.t,
                pair,
                format!("the voices are {} apart, more than a twelfth", h.name()),
            ));
        }
    }

    // The melody of the counterpoint.
    for (i, w) in notes.windows(2).enumerate() {
        let (a, b) = (w[0], w[1]);
        let m = melodic(a.tone, b.tone);
        let who = vec![cp_label(a.tone), cp_label(b.tone)];
        if m.is_repeat() {
            found[rule("no_repeated_notes")].push(violation(b.start, who.clone(), "repeated note"));
            continue;
        }
        if m.is_tritone() {
            found[rule("no_tritone_leaps")].push(violation(
                b.start,
                who.clone(),
                format!("tritone leap {}", m.name()),
            ));
            continue;
        }
        if !m.is_step() && !m.is_allowed_leap() {
            found[rule("leaps_limited")].push(violation(
                b.start,
                who.clone(),
                format!("forbidden interval {}", m.name()),
            ));
        }
        if let Some(c) = notes.get(i + 2) {
            let next = melodic(b.tone, c.tone);
            if m.size() >= 3 && !(next.is_step() && next.dir() == -m.dir()) {
                found[rule("leaps_limited")].push(violation(
                    c.start,
                    vec![cp_label(a.tone), cp_label(b.tone), cp_label(c.tone)],
                    format!(
                        "leap {} not recovered by a step the other way ({})",
                        m.name(),
                        next.name()
                    ),
                ));
            }
            if m.size() >= 2 && next.size() >= 2 && m.dir() == next.dir() {
                let two_thirds = m.size() == 2 && next.size() == 2;
                let third_leap = i > 0 && {
                    let before = melodic(notes[i - 1].tone, a.tone);
                    before.size() >= 2 && before.dir() == m.dir()
                };
                if !two_thirds || third_leap {
                    found[rule("leaps_limited")].push(violation(
                        c.start,
                        vec![cp_label(a.tone), cp_label(b.tone), cp_label(c.tone)],
                        format!(
                            "successive leaps {} and {} in one direction",
                            m.name(),
                            next.name()
                        ),
                    ));
                }
            }
        }
    }

    // One climax.
    let top = notes.iter().map(|x| x.tone.midi()).max().unwrap_or(0);
    let peaks: Vec<&CpNote> = notes.iter().filter(|x| x.tone.midi() == top).collect();
    if peaks.len() > 1 {
        for p in &peaks[1..] {
            found[rule("single_climax")].push(violation(
                p.start,
                vec![cp_label(p.tone)],
                format!(
                    "the highest note {} is reached {} times",
                    p.tone.name(),
                    peaks.len()
                ),
            ));
        }
    }

    // Range of the counterpoint.
    let bottom = notes.iter().map(|x| x.tone.midi()).min().unwrap_or(0);
    if top - bottom > 19 {
        let lo = notes
            .iter()
            .find(|x| x.tone.midi() == bottom)
            .map(|x| x.tone)
            .unwrap_or(notes[0].tone);
        found[rule("range")].push(violation(
            0,
            vec![cp_label(lo), cp_label(peaks[0].tone)],
            format!(
                "the counterpoint spans {} semitones, more than a twelfth",
                top - bottom
            ),
        ));
    }

    // Beginning and end.
    let first = notes[0];
    let h0 = harmonic(first.tone, cf[(first.start / BAR) as usize]);
    let begin_ok = match voice {
        Voice::Above => h0.perfect_class().is_some(),
        Voice::Below => h0.perfect_class() == Some(8),
    };
    if !begin_ok {
        found[rule("perfect_beginning_and_end")].push(violation(
            first.start,
            vec![
                cp_label(first.tone),
                cf_label(cf[(first.start / BAR) as usize]),
            ],
            format!("begins on {}", h0.name()),
        ));
    }
    let last = *notes.last().expect("notes");
    let cf_last = cf[n - 1];
    let hl = harmonic(last.tone, cf_last);
    if last.start / BAR != n as u32 - 1 || hl.perfect_class() != Some(8) {
        found[rule("perfect_beginning_and_end")].push(violation(
            last.start,
            vec![
                cp_label(last.tone),
                cf_label(cf[((last.start / BAR) as usize).min(n - 1)]),
            ],
            format!("ends on {}", hl.name()),
        ));
    }

    // The cadence.
    let cadence = &mut found[rule("cadence")];
    if notes.len() < 2 || n < 2 {
        cadence.push(violation(last.start, vec![], "too short for a cadence"));
    } else {
        let pen = notes[notes.len() - 2];
        let cf_pen = cf[n - 2];
        let mc = melodic(pen.tone, last.tone);
        let mf = melodic(cf_pen, cf_last);
        let who = vec![
            cp_label(pen.tone),
            cp_label(last.tone),
            cf_label(cf_pen),
            cf_label(cf_last),
        ];
        let t = last.start;
        if pen.end() != last.start || pen.start / BAR + 1 != n as u32 - 1 {
            cadence.push(violation(
                t,
                who.clone(),
                "the penultimate note does not lead into the final",
            ));
        }
        if !mc.is_step() {
            cadence.push(violation(
                t,
                who.clone(),
                format!(
                    "the counterpoint reaches the final by {}, not by step",
                    mc.name()
                ),
            ));
        }
        if !mf.is_step() {
            cadence.push(violation(
                t,
                who.clone(),
                format!(
                    "the cantus firmus reaches its final by {}, not by step",
                    mf.name()
                ),
            ));
        }
        if mc.dir() == mf.dir() || mc.dir() == 0 || mf.dir() == 0 {
            cadence.push(violation(
                t,
                who.clone(),
                "the voices do not reach the final in contrary motion",
            ));
        }
        if mc.semis.abs() != 1 && mf.semis.abs() != 1 {
            cadence.push(violation(
                t,
                who,
                "no half step into the final (no leading tone)",
            ));
        }
    }

    finish(found, licences)
}

/// The most barlines a 4th-species counterpoint of `n` bars may cross without a syncopation
/// (Fux's licence of breaking the species, used only where the syncopation cannot go on).
pub fn allowed_breaks(n: usize) -> usize {
    (n / 4).max(1)
}

fn check_rhythm(
    notes: &[CpNote],
    n: usize,
    species: u8,
    out: &mut Vec<Violation>,
) -> Vec<Violation> {
    let mut licences = Vec::new();
    let end = n as u32 * BAR;
    let last_bar = (n as u32 - 1) * BAR;
    let label = |x: &CpNote| vec![cp_label(x.tone)];
    for w in notes.windows(2) {
        if w[1].start < w[0].end() {
            out.push(violation(
                w[1].start,
                label(&w[1]),
                "overlaps the note before",
            ));
        } else if w[1].start > w[0].end() {
            out.push(violation(
                w[0].end(),
                label(&w[1]),
                "a gap (rest) inside the counterpoint",
            ));
        }
    }
    let first = notes[0];
    let expected_start: &[u32] = match species {
        4 => &[4],
        5 => &[0, 4],
        _ => &[0],
    };
    if !expected_start.contains(&first.start) {
        out.push(violation(
            first.start,
            label(&first),
            "the counterpoint does not begin where the species begins",
        ));
    }
    let last = notes[notes.len() - 1];
    if last.start != last_bar || last.end() != end {
        out.push(violation(
            last.start,
            label(&last),
            "the last note is not a whole note filling the last bar",
        ));
    }
    let body = &notes[..notes.len() - 1];
    for (i, x) in body.iter().enumerate() {
        let at = x.start % BAR;
        let ok = match species {
            1 => at == 0 && x.dur == BAR,
            2 => at.is_multiple_of(4) && x.dur == 4,
            3 => at.is_multiple_of(2) && x.dur == 2,
            4 => {
                let pen = i + 1 == body.len();
                let next_start = notes[i + 1].start;
                let bar = x.start / BAR;
                if pen {
                    x.start == last_bar - 4 && x.dur == 4
                } else if at == 4 && x.dur == BAR {
                    true
                } else if at == 0 && x.dur == 4 && bar >= 1 && bar + 1 < n as u32 {
                    // A broken bar begins with a half on the downbeat.
                    licences.push(violation(
                        x.start,
                        label(x),
                        "the species is broken here (Fux's licence): no syncopation over this barline",
                    ));
                    true
                } else {
                    // The half before a broken barline.
                    at == 4 && x.dur == 4 && next_start.is_multiple_of(BAR)
                }
            }
            _ => match x.dur {
                1 => {
                    // Eighths come in pairs on the second or fourth beat.
                    let pair_start = if at.is_multiple_of(2) {
                        x.start
                    } else {
                        x.start - 1
                    };
                    matches!(pair_start % BAR, 2 | 6)
                        && body.iter().any(|y| y.start == pair_start && y.dur == 1)
                        && body.iter().any(|y| y.start == pair_start + 1 && y.dur == 1)
                }
                2 => at.is_multiple_of(2),
                4 => at.is_multiple_of(4),
                8 => at == 4,
                _ => false,
            },
        };
        if !ok {
            let detail = if species == 4 {
                "the species is broken here: no syncopation over the barline".to_string()
            } else {
                format!(
                    "a note of {} eighths at this place does not belong to species {species}",
                    x.dur
                )
            };
            out.push(violation(x.start, label(x), detail));
        }
    }
    if species == 4 && licences.len() > allowed_breaks(n) {
        out.push(violation(
            licences[allowed_breaks(n)].measure_start(),
            vec![],
            format!(
                "the species is broken at {} barlines; at most {} are allowed for {n} bars",
                licences.len(),
                allowed_breaks(n)
            ),
        ));
    }
    if species == 5 && n >= 3 {
        let pen_t = last_bar - BAR;
        let held = notes.iter().any(|x| x.start < pen_t && x.end() > pen_t);
        if !held {
            let who = notes
                .iter()
                .find(|x| x.start == pen_t)
                .map(label)
                .unwrap_or_default();
            licences.push(violation(
                pen_t,
                who,
                "a cadence without a suspension (licence): no syncopation could be prepared over the cantus firmus here",
            ));
        }
        if n >= 5 {
            let quarters = body.iter().any(|x| x.dur == 2);
            let halves = body.iter().any(|x| x.dur >= 4);
            if !(quarters && halves) {
                out.push(violation(
                    0,
                    vec![],
                    "the florid line does not mix quarters with halves and syncopes",
                ));
            }
        }
    }
    licences
}

fn finish(found: Vec<Vec<Violation>>, mut licences: Vec<Violation>) -> Vec<RuleResult> {
    RULES
        .iter()
        .zip(found)
        .map(|((id, description), violations)| RuleResult {
            id,
            description,
            passed: violations.is_empty(),
            violations,
            licences: if *id == "species_rhythm" {
                std::mem::take(&mut licences)
            } else {
                Vec::new()
            },
        })
        .collect()
}

/// Passed rules over all rules, as a fraction.
pub fn compliance(results: &[RuleResult]) -> f64 {
    if results.is_empty() {
        return 0.0;
    }
    results.iter().filter(|r| r.passed).count() as f64 / results.len() as f64
}

// ---------------------------------------------------------------- the generator

/// What the generator found.
#[derive(Clone, Debug)]
pub struct Generated {
    pub notes: Vec<CpNote>,
    pub rules: Vec<RuleResult>,
    /// Bars (from 0) of 4th species where the syncopation had to be given up.
    pub broken_bars: Vec<usize>,
    /// What the search had to relax to find a counterpoint at all.
    pub relaxations: Vec<String>,
    pub cost: f64,
}

/// Pending duty of the last note.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Pending {
    None,
    /// A dissonance to leave by step in the direction it came (or back, as a neighbour).
    Passing {
        dir: i32,
        from: Tone,
        neighbour: bool,
    },
    /// A suspension to resolve down by step.
    Suspension,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Vert {
    cf: Tone,
    cp: Tone,
}

#[derive(Clone, Copy, Debug)]
struct Head {
    cost: f64,
    /// The last note is tied over into the next bar.
    held: bool,
    fig: u8,
    hi: i32,
    hi_n: u8,
    lo: i32,
    last_vert: Option<Vert>,
    accent: Option<Vert>,
    prev_int: Option<(i32, i32)>,
    /// Direction and count of the leaps in a row just made.
    leap_run: (i32, u8),
    pending: Pending,
    par_run: u8,
    moves: u16,
    contrary: u16,
    broken: u64,
}

impl Head {
    fn initial() -> Self {
        Self {
            cost: 0.0,
            held: false,
            fig: 0,
            hi: i32::MIN,
            hi_n: 0,
            lo: i32::MAX,
            last_vert: None,
            accent: None,
            prev_int: None,
            leap_run: (0, 0),
            pending: Pending::None,
            par_run: 0,
            moves: 0,
            contrary: 0,
            broken: 0,
        }
    }
}

#[derive(Clone)]
struct State {
    head: Head,
    notes: Vec<CpNote>,
}

impl State {
    fn key(&self) -> Vec<i32> {
        let h = &self.head;
        let tone = |t: Option<Tone>| t.map_or([i32::MIN, 0], |t| [t.dia, t.alter]);
        let vert = |v: Option<Vert>| {
            let [a, b] = tone(v.map(|v| v.cf));
            let [c, d] = tone(v.map(|v| v.cp));
            [a, b, c, d]
        };
        let mut key = Vec::with_capacity(32);
        key.extend(tone(self.notes.last().map(|n| n.tone)));
        key.extend(vert(h.last_vert));
        key.extend(vert(h.accent));
        let (ps, pm) = h.prev_int.unwrap_or((99, 99));
        key.extend([ps, pm, h.leap_run.0, i32::from(h.leap_run.1)]);
        match h.pending {
            Pending::None => key.push(0),
            Pending::Suspension => key.push(1),
            Pending::Passing {
                dir,
                from,
                neighbour,
            } => key.extend([2, dir, from.dia, from.alter, i32::from(neighbour)]),
        }
        key.extend([
            i32::from(h.held),
            i32::from(h.fig),
            h.hi,
            i32::from(h.hi_n),
            h.lo,
            i32::from(h.par_run),
        ]);
        key
    }
}

/// Keeps the cheapest few continuations of one state.
struct Best {
    cap: usize,
    items: Vec<State>,
}

impl Best {
    fn threshold(&self) -> f64 {
        if self.items.len() < self.cap {
            f64::INFINITY
        } else {
            self.items
                .iter()
                .map(|s| s.head.cost)
                .fold(f64::NEG_INFINITY, f64::max)
        }
    }

    fn push(&mut self, state: State) {
        if self.items.len() < self.cap {
            self.items.push(state);
            return;
        }
        if let Some((i, worst)) = self
            .items
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.head.cost.total_cmp(&b.1.head.cost))
        {
            if state.head.cost < worst.head.cost {
                self.items[i] = state;
            }
        }
    }
}

type Slots = &'static [(u32, u32)];

struct Figure {
    id: u8,
    slots: Slots,
    cost: f64,
    /// 4th species: this bar begins without a syncopation.
    broken: bool,
}

const WHOLE: Slots = &[(0, 8)];
const HALVES: Slots = &[(0, 4), (4, 4)];
const QUARTERS: Slots = &[(0, 2), (2, 2), (4, 2), (6, 2)];
const SYNCOPE: Slots = &[(4, 8)];
const HELD_HALF: Slots = &[(4, 4)];
const HALF_SYNCOPE: Slots = &[(0, 4), (4, 8)];
const HALF_HALF_Q: Slots = &[(0, 4), (4, 2), (6, 2)];
const QQ_HALF: Slots = &[(0, 2), (2, 2), (4, 4)];
const QQ_SYNCOPE: Slots = &[(0, 2), (2, 2), (4, 8)];
const Q_EIGHTHS_QQ: Slots = &[(0, 2), (2, 1), (3, 1), (4, 2), (6, 2)];
const QQQ_EIGHTHS: Slots = &[(0, 2), (2, 2), (4, 2), (6, 1), (7, 1)];
const HALF_Q_EIGHTHS: Slots = &[(0, 4), (4, 2), (6, 1), (7, 1)];
const HELD_QQ: Slots = &[(4, 2), (6, 2)];
const HELD_Q_EIGHTHS: Slots = &[(4, 2), (6, 1), (7, 1)];

fn fig(id: u8, slots: Slots, cost: f64) -> Figure {
    Figure {
        id,
        slots,
        cost,
        broken: false,
    }
}

const BREAK_COST: f64 = 40.0;
/// Counterpoints this close in cost to the cheapest are equally good; the seed picks one.
const SEED_MARGIN: f64 = 3.0;
const SOFT_PENALTY: f64 = 80.0;

struct Search<'a> {
    cf: &'a [Tone],
    species: u8,
    voice: Voice,
    seed: u64,
    n: usize,
    pool: Vec<Tone>,
    leading: Vec<Tone>,
    /// Raised sixth degrees (aeolian): ficta on the way up to a raised leading tone.
    sixths: Vec<Tone>,
    finals: Vec<Tone>,
    max_ambitus: i32,
    max_spacing: i32,
    soft: bool,
    beam: usize,
    per_state: usize,
    /// The cantus firmus reaches its final by step, so a clausula vera is possible.
    cadence_possible: bool,
    cf_climax_bar: usize,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Search<'_> {
    fn reject(&self, head: &mut Head, why: &'static str) -> bool {
        // `why` names the rule, for readers of the calls.
        let _ = why;
        if self.soft {
            head.cost += SOFT_PENALTY;
            false
        } else {
            true
        }
    }

    fn noise(&self, start: u32, tone: Tone, fig: u8) -> f64 {
        let mut h = splitmix(self.seed ^ 0xC0FF_EE00);
        for v in [
            u64::from(start),
            tone.dia as u64,
            tone.alter as u64,
            u64::from(fig),
        ] {
            h = splitmix(h ^ v);
        }
        (h >> 11) as f64 / (1u64 << 53) as f64 * 1.5
    }

    fn figures(&self, bar: usize, held: bool) -> Vec<Figure> {
        let n = self.n;
        let last = bar + 1 == n;
        let pen = bar + 2 == n;
        let ante = bar + 3 == n;
        if last {
            return if held {
                vec![]
            } else {
                vec![fig(0, WHOLE, 0.0)]
            };
        }
        match self.species {
            1 => vec![fig(0, WHOLE, 0.0)],
            2 => vec![fig(0, HALVES, 0.0)],
            3 => vec![fig(0, QUARTERS, 0.0)],
            4 => {
                if bar == 0 {
                    vec![fig(1, SYNCOPE, 0.0), fig(2, HELD_HALF, BREAK_COST)]
                } else if pen {
                    if held {
                        vec![fig(2, HELD_HALF, 0.0)]
                    } else {
                        vec![Figure {
                            broken: true,
                            ..fig(3, HALVES, 0.0)
                        }]
                    }
                } else if held {
                    vec![fig(1, SYNCOPE, 0.0), fig(2, HELD_HALF, BREAK_COST)]
                } else {
                    vec![
                        Figure {
                            broken: true,
                            ..fig(4, HALF_SYNCOPE, 0.0)
                        },
                        Figure {
                            broken: true,
                            ..fig(3, HALVES, BREAK_COST)
                        },
                    ]
                }
            }
            _ => {
                if bar == 0 {
                    if ante {
                        vec![fig(1, SYNCOPE, 0.0)]
                    } else {
                        vec![
                            fig(1, SYNCOPE, 0.0),
                            fig(2, HELD_HALF, 0.4),
                            fig(3, HELD_QQ, 0.4),
                        ]
                    }
                } else if pen {
                    if held {
                        vec![fig(2, HELD_HALF, 0.0)]
                    } else {
                        // A cadence without its suspension: only where none can be prepared.
                        vec![
                            Figure {
                                broken: true,
                                ..fig(7, HALVES, BREAK_COST)
                            },
                            Figure {
                                broken: true,
                                ..fig(9, QQ_HALF, BREAK_COST)
                            },
                        ]
                    }
                } else if ante {
                    if held {
                        vec![
                            fig(1, SYNCOPE, 0.0),
                            fig(2, HELD_HALF, 1.0),
                            fig(3, HELD_QQ, 1.0),
                        ]
                    } else {
                        vec![
                            fig(5, HALF_SYNCOPE, 0.0),
                            fig(6, QQ_SYNCOPE, 0.0),
                            fig(7, HALVES, 1.0),
                            fig(8, HALF_HALF_Q, 1.0),
                            fig(9, QQ_HALF, 1.0),
                            fig(10, QUARTERS, 1.0),
                        ]
                    }
                } else if held {
                    vec![
                        fig(2, HELD_HALF, 0.6),
                        fig(3, HELD_QQ, 0.2),
                        fig(1, SYNCOPE, 0.3),
                        fig(4, HELD_Q_EIGHTHS, 1.0),
                    ]
                } else {
                    vec![
                        fig(7, HALVES, 0.8),
                        fig(8, HALF_HALF_Q, 0.3),
                        fig(9, QQ_HALF, 0.3),
                        fig(10, QUARTERS, 0.5),
                        fig(5, HALF_SYNCOPE, 0.2),
                        fig(6, QQ_SYNCOPE, 0.1),
                        fig(11, Q_EIGHTHS_QQ, 1.0),
                        fig(12, QQQ_EIGHTHS, 1.0),
                        fig(13, HALF_Q_EIGHTHS, 1.0),
                    ]
                }
            }
        }
    }

    fn side_ok(&self, cp: Tone, cf: Tone) -> bool {
        match self.voice {
            Voice::Above => cp.midi() >= cf.midi() && cp.dia >= cf.dia,
            Voice::Below => cp.midi() <= cf.midi() && cp.dia <= cf.dia,
        }
    }

    fn suspension_ok(&self, h: Harmonic) -> bool {
        match self.voice {
            Voice::Above => {
                matches!((h.simple(), h.quality()), (6, 0) | (6, -1) | (3, 0))
            }
            Voice::Below => matches!((h.simple(), h.quality()), (1, 0) | (1, -1) | (3, 0)),
        }
    }

    /// The frame motion (successive downbeats, or syncopations in 4th species) into `v`.
    fn accent(&self, g: &mut Head, v: Vert) -> bool {
        if let Some(a) = g.accent {
            if a.cp != v.cp && a.cf != v.cf {
                let (ha, hb) = (harmonic(a.cp, a.cf), harmonic(v.cp, v.cf));
                if hb.perfect_class().is_some()
                    && ha.perfect_class() == hb.perfect_class()
                    && self.reject(g, "accented parallels")
                {
                    return false;
                }
                if self.species != 4 {
                    g.moves += 1;
                    let dcp = (v.cp.midi() - a.cp.midi()).signum();
                    let dcf = (v.cf.midi() - a.cf.midi()).signum();
                    if dcp == -dcf {
                        g.contrary += 1;
                    } else {
                        g.cost += 1.5;
                    }
                }
            }
        }
        g.accent = Some(v);
        true
    }

    /// A note held over the barline meets the next cantus firmus note.
    fn barline(&self, head: &Head, notes: &[CpNote], bar: usize) -> Option<Head> {
        let mut g = *head;
        let held = notes.last()?.tone;
        let cf = self.cf[bar];
        let h = harmonic(held, cf);
        if !self.side_ok(held, cf) && self.reject(&mut g, "held: side") {
            return None;
        }
        if (held.midi() - cf.midi()).abs() > self.max_spacing
            && self.reject(&mut g, "held: spacing")
        {
            return None;
        }
        if h.is_unison() && self.reject(&mut g, "held: unison") {
            return None;
        }
        if h.is_consonant() {
            g.pending = Pending::None;
            if self.species == 4 {
                g.cost += 0.6;
            }
        } else if self.suspension_ok(h) {
            g.pending = Pending::Suspension;
        } else if self.reject(&mut g, "held: bad suspension") {
            return None;
        }
        g.par_run = 0;
        g.last_vert = Some(Vert { cf, cp: held });
        if self.species == 5 && !self.accent(&mut g, Vert { cf, cp: held }) {
            return None;
        }
        Some(g)
    }

    /// Places one note, or refuses it.
    #[allow(clippy::too_many_arguments)]
    fn place(
        &self,
        head: &Head,
        notes: &[CpNote],
        bar: usize,
        at: u32,
        dur: u32,
        t: Tone,
        penult: bool,
    ) -> Option<Head> {
        let mut g = *head;
        let cf = self.cf[bar];
        let last_bar = bar + 1 == self.n;
        let hv = harmonic(t, cf);
        let prev = notes.last().copied();

        if !self.side_ok(t, cf) && self.reject(&mut g, "side") {
            return None;
        }
        let spacing = (t.midi() - cf.midi()).abs();
        if spacing > self.max_spacing && self.reject(&mut g, "spacing") {
            return None;
        }
        if spacing > 16 {
            g.cost += 0.3 * f64::from(spacing - 16);
        }
        if hv.is_unison() && prev.is_some() && !last_bar && self.reject(&mut g, "unison") {
            return None;
        }

        // The melody.
        let mut step_in = false;
        if let Some(p) = prev {
            if self.sixths.contains(&p.tone)
                && !(self.leading.contains(&t) && t.dia == p.tone.dia + 1)
                && self.reject(&mut g, "ficta sixth")
            {
                return None;
            }
            let m = melodic(p.tone, t);
            step_in = m.is_step();
            let bad_interval =
                m.is_repeat() || m.is_tritone() || !(m.is_step() || m.is_allowed_leap());
            if bad_interval && self.reject(&mut g, "bad interval") {
                return None;
            }
            if (dur < 2 || p.dur < 2) && !m.is_step() && self.reject(&mut g, "eighths by step") {
                return None;
            }
            let duty_ok = match head.pending {
                Pending::None => true,
                Pending::Passing {
                    dir,
                    from,
                    neighbour,
                } => m.is_step() && (m.dir() == dir || (neighbour && m.dir() == -dir && t == from)),
                Pending::Suspension => m.is_step() && m.dir() < 0,
            };
            if !duty_ok && self.reject(&mut g, "duty") {
                return None;
            }
            if let Some((ps, _)) = head.prev_int {
                if ps.abs() >= 3
                    && !(m.is_step() && m.dir() == -ps.signum())
                    && self.reject(&mut g, "leap recovery")
                {
                    return None;
                }
            }
            if m.size() >= 2 {
                let (dir, count) = head.leap_run;
                let continuing = count > 0 && dir == m.dir();
                if continuing {
                    let prev_third = head.prev_int.is_some_and(|(s, _)| s.abs() == 2);
                    if (count >= 2 || !(prev_third && m.size() == 2))
                        && self.reject(&mut g, "successive leaps")
                    {
                        return None;
                    }
                    g.leap_run = (dir, count + 1);
                } else {
                    g.leap_run = (m.dir(), 1);
                }
            } else {
                g.leap_run = (0, 0);
            }
            g.prev_int = Some((m.steps, m.semis));
            let mut cost = match m.size() {
                0 | 1 => 0.0,
                2 => 0.7,
                3 => 1.5,
                4 => 2.2,
                5 => 2.8,
                _ => 3.0,
            };
            if self.species == 1 {
                cost *= 0.6;
            }
            if dur <= 2 && m.size() >= 3 {
                cost += 1.0;
            }
            g.cost += cost;
            if notes.len() >= 2 && notes[notes.len() - 2].tone == t {
                g.cost += if matches!(self.species, 1 | 2) {
                    0.8
                } else {
                    0.2
                };
            }
        }

        // Consonance and dissonance.
        if hv.is_consonant() {
            g.pending = Pending::None;
            if at == 0 && hv.perfect_class().is_some() && prev.is_some() && !last_bar {
                g.cost += 1.0;
            }
        } else {
            let allowed = self.species != 1
                && at != 0
                && dur <= 4
                && !last_bar
                && !penult
                && step_in
                && head.pending == Pending::None;
            if allowed {
                let p = prev.expect("a step needs a note before");
                g.pending = Pending::Passing {
                    dir: (t.midi() - p.tone.midi()).signum(),
                    from: p.tone,
                    neighbour: matches!(self.species, 3 | 5),
                };
            } else if self.reject(&mut g, "dissonance") {
                return None;
            } else {
                g.pending = Pending::None;
            }
        }

        // Motion from the vertical before.
        if let Some(v0) = head.last_vert {
            let cf_moves = v0.cf.midi() != cf.midi();
            let cp_moves = v0.cp.midi() != t.midi();
            if cf_moves && cp_moves {
                let h0 = harmonic(v0.cp, v0.cf);
                let dcp = (t.midi() - v0.cp.midi()).signum();
                let dcf = (cf.midi() - v0.cf.midi()).signum();
                if let Some(c) = hv.perfect_class() {
                    if (h0.perfect_class() == Some(c) || dcp == dcf)
                        && self.reject(&mut g, "parallel/direct perfect")
                    {
                        return None;
                    }
                }
                let overlap = match self.voice {
                    Voice::Above => t.midi() < v0.cf.midi() || cf.midi() > v0.cp.midi(),
                    Voice::Below => t.midi() > v0.cf.midi() || cf.midi() < v0.cp.midi(),
                };
                if overlap && self.reject(&mut g, "overlap") {
                    return None;
                }
                if dcp == dcf && h0.generic == hv.generic && hv.perfect_class().is_none() {
                    g.par_run += 1;
                    if g.par_run > 3 && self.reject(&mut g, "parallel imperfects") {
                        return None;
                    }
                    g.cost += 0.5 * f64::from(g.par_run);
                } else {
                    g.par_run = 0;
                }
            } else {
                g.par_run = 0;
            }
        }
        let v = Vert { cf, cp: t };
        g.last_vert = Some(v);
        let frame = match self.species {
            4 => true,
            _ => at == 0,
        };
        if frame && !self.accent(&mut g, v) {
            return None;
        }

        // Beginning and cadence.
        if prev.is_none() {
            let ok = match self.voice {
                Voice::Above => hv.perfect_class().is_some(),
                Voice::Below => hv.perfect_class() == Some(8),
            };
            if !ok && self.reject(&mut g, "beginning") {
                return None;
            }
        }
        let cf_dir = (self.cf[self.n - 1].midi() - self.cf[self.n - 2].midi()).signum();
        if penult {
            let ok = self.finals.iter().any(|f| {
                let m = melodic(t, *f);
                m.is_step()
                    && (!self.cadence_possible
                        || (m.dir() == -cf_dir
                            && (m.semis.abs() == 1
                                || (self.cf[self.n - 1].midi() - self.cf[self.n - 2].midi())
                                    .abs()
                                    == 1)))
            });
            if !ok && self.reject(&mut g, "penultimate") {
                return None;
            }
        }
        if last_bar {
            let ok = self.finals.contains(&t)
                && prev.is_some_and(|p| {
                    let m = melodic(p.tone, t);
                    m.is_step() && (!self.cadence_possible || m.dir() == -cf_dir)
                });
            if !ok && self.reject(&mut g, "final") {
                return None;
            }
        }

        // Range and climax.
        let midi = t.midi();
        let (hi, lo) = (g.hi.max(midi), g.lo.min(midi));
        if hi - lo > self.max_ambitus && self.reject(&mut g, "ambitus") {
            return None;
        }
        if hi - lo > 12 {
            g.cost += 0.4 * f64::from(hi - lo - 12);
        }
        if midi > g.hi {
            g.hi_n = 1;
            if bar == self.cf_climax_bar {
                g.cost += 1.0;
            }
        } else if midi == g.hi {
            g.hi_n = g.hi_n.saturating_add(1);
            g.cost += 3.0;
        }
        g.hi = hi;
        g.lo = lo;
        Some(g)
    }

    fn candidates(&self, prev: Option<&CpNote>, penult: bool, penult_bar: bool) -> Vec<Tone> {
        let mut out: Vec<Tone> = self
            .pool
            .iter()
            .chain(if penult {
                self.leading.iter()
            } else {
                [].iter()
            })
            .chain(if penult_bar && !penult {
                self.sixths.iter()
            } else {
                [].iter()
            })
            .copied()
            .filter(|t| prev.is_none_or(|p| (t.midi() - p.tone.midi()).abs() <= 12))
            .collect();
        if let Some(p) = prev {
            out.sort_by_key(|t| ((t.midi() - p.tone.midi()).abs(), t.midi()));
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn dfs(
        &self,
        bar: usize,
        figure: &Figure,
        idx: usize,
        head: Head,
        notes: &mut Vec<CpNote>,
        best: &mut Best,
    ) {
        if head.cost >= best.threshold() {
            return;
        }
        if idx == figure.slots.len() {
            best.push(State {
                head,
                notes: notes.clone(),
            });
            return;
        }
        let (at, dur) = figure.slots[idx];
        let start = bar as u32 * BAR + at;
        let penult = bar + 2 == self.n && idx + 1 == figure.slots.len();
        for t in self.candidates(notes.last(), penult, bar + 2 == self.n) {
            if let Some(mut h) = self.place(&head, notes, bar, at, dur, t, penult) {
                h.held = at + dur > BAR;
                h.cost += self.noise(start, t, figure.id);
                if penult && self.species >= 2 {
                    // 2nd-5th species reach the leading tone on the last beat; favour it.
                    if !self.leading.contains(&t) && !self.leading.is_empty() {
                        h.cost += 0.3;
                    }
                }
                notes.push(CpNote {
                    start,
                    dur,
                    tone: t,
                });
                self.dfs(bar, figure, idx + 1, h, notes, best);
                notes.pop();
            }
        }
    }

    fn expand(&self, state: &State, bar: usize, out: &mut Vec<State>) {
        let head0 = if state.head.held {
            match self.barline(&state.head, &state.notes, bar) {
                Some(h) => h,
                None => return,
            }
        } else {
            state.head
        };
        let mut best = Best {
            cap: self.per_state,
            items: Vec::new(),
        };
        for figure in self.figures(bar, state.head.held) {
            let mut h = head0;
            h.cost += figure.cost;
            if self.species == 5 && figure.id == state.head.fig {
                h.cost += 1.2;
            }
            h.fig = figure.id;
            if figure.broken {
                h.broken |= 1u64 << bar.min(63);
            }
            let mut notes = state.notes.clone();
            self.dfs(bar, &figure, 0, h, &mut notes, &mut best);
        }
        out.extend(best.items);
    }

    fn run(&self) -> Vec<State> {
        let mut beam = vec![State {
            head: Head::initial(),
            notes: Vec::new(),
        }];
        for bar in 0..self.n {
            let mut next = Vec::new();
            for state in &beam {
                self.expand(state, bar, &mut next);
            }
            next.sort_by(|a, b| a.head.cost.total_cmp(&b.head.cost));
            let mut seen = HashSet::new();
            next.retain(|s| seen.insert(s.key()));
            next.truncate(self.beam);
            if next.is_empty() {
                return next;
            }
            beam = next;
        }
        for state in &mut beam {
            let h = &mut state.head;
            if h.hi_n > 1 {
                h.cost += 40.0;
            }
            if h.moves > 0 && h.contrary * 10 < h.moves * 4 {
                h.cost += 20.0;
            }
        }
        beam.sort_by(|a, b| a.head.cost.total_cmp(&b.head.cost));
        beam
    }
}

struct Attempt {
    beam: usize,
    per_state: usize,
    max_ambitus: i32,
    max_spacing: i32,
    soft: bool,
    note: Option<&'static str>,
}

const ATTEMPTS: [Attempt; 3] = [
    Attempt {
        beam: 160,
        per_state: 10,
        max_ambitus: 16,
        max_spacing: 19,
        soft: false,
        note: None,
    },
    Attempt {
        beam: 800,
        per_state: 20,
        max_ambitus: 19,
        max_spacing: 19,
        soft: false,
        note: Some("searched wider (a larger beam, the range up to a twelfth)"),
    },
    Attempt {
        beam: 200,
        per_state: 8,
        max_ambitus: 19,
        max_spacing: 24,
        soft: true,
        note: Some(
            "no counterpoint met every rule as a hard constraint; the rules were turned into costs",
        ),
    },
];

fn cadence_possible(cf: &[Tone]) -> bool {
    cf.len() >= 2 && melodic(cf[cf.len() - 2], cf[cf.len() - 1]).is_step()
}

fn build_search<'a>(
    cf: &'a [Tone],
    mode: &Mode,
    species: u8,
    voice: Voice,
    seed: u64,
    attempt: &Attempt,
) -> Search<'a> {
    let n = cf.len();
    let cf_lo = cf.iter().map(|t| t.midi()).min().unwrap_or(60);
    let cf_hi = cf.iter().map(|t| t.midi()).max().unwrap_or(60);
    let cf_final = cf[n - 1];
    let (lo_bound, hi_bound) = match voice {
        Voice::Above => (cf_lo.max(36), (cf_hi + attempt.max_spacing).min(88)),
        Voice::Below => ((cf_lo - attempt.max_spacing).max(33), cf_hi.min(84)),
    };
    let mut pool = Vec::new();
    let mut leading = Vec::new();
    let mut sixths = Vec::new();
    for dia in 14..70 {
        let t = mode.tone(dia);
        if t.midi() < lo_bound || t.midi() > hi_bound {
            continue;
        }
        pool.push(t);
        if mode.raises_leading_tone() && mode.degree(t) == 6 {
            leading.push(Tone::new(t.dia, t.alter + 1));
        }
        if mode.raises_leading_tone() && mode.kind.pattern()[5] == 8 && mode.degree(t) == 5 {
            sixths.push(Tone::new(t.dia, t.alter + 1));
        }
    }
    let finals: Vec<Tone> = (-3..=3)
        .map(|o| Tone::new(cf_final.dia + 7 * o, cf_final.alter))
        .filter(|t| match voice {
            Voice::Above => t.midi() >= cf_final.midi(),
            Voice::Below => t.midi() <= cf_final.midi(),
        })
        .filter(|t| t.midi() >= lo_bound && t.midi() <= hi_bound)
        .collect();
    Search {
        cf,
        species,
        voice,
        seed,
        n,
        pool,
        leading,
        sixths,
        finals,
        max_ambitus: attempt.max_ambitus,
        max_spacing: attempt.max_spacing,
        soft: attempt.soft,
        beam: attempt.beam,
        per_state: attempt.per_state,
        cadence_possible: cadence_possible(cf),
        cf_climax_bar: cf.iter().position(|t| t.midi() == cf_hi).unwrap_or(0),
    }
}

/// Writes a counterpoint against a cantus firmus. Tries the strict search first; when no
/// counterpoint meets every rule it widens the range and the beam, and at last turns the
/// rules into costs, saying so in `relaxations`. Nothing only for a cantus firmus too short.
pub fn generate(
    cf: &[Tone],
    mode: &Mode,
    species: u8,
    voice: Voice,
    seed: u64,
) -> Option<Generated> {
    let n = cf.len();
    if n < 2 || !(1..=5).contains(&species) {
        return None;
    }
    let cf_final = cf[n - 1];
    let cadence_possible = cadence_possible(cf);
    // Ranked by rules passed, then by fewer licences taken, then by cost.
    let rank = |g: &Generated| {
        let passed = g.rules.iter().filter(|r| r.passed).count();
        let licences: usize = g.rules.iter().map(|r| r.licences.len()).sum();
        (passed, usize::MAX - licences)
    };
    let mut best: Option<Generated> = None;
    for attempt in &ATTEMPTS {
        if attempt.soft && best.is_some() {
            // The soft search is only for when nothing was found at all.
            break;
        }
        let search = build_search(cf, mode, species, voice, seed, attempt);
        let mut candidates: Vec<Generated> = search
            .run()
            .iter()
            .take(40)
            .map(|s| {
                let rules = check(cf, &s.notes, species, voice);
                let broken_bars = rules
                    .iter()
                    .flat_map(|r| r.licences.iter().map(|l| l.measure - 1))
                    .collect();
                let mut relaxations: Vec<String> =
                    attempt.note.map(|s| vec![s.to_string()]).unwrap_or_default();
                if !cadence_possible {
                    relaxations.push(format!(
                        "the cantus firmus reaches its final by {}, not by step, so no clausula vera is possible",
                        melodic(cf[n - 2], cf_final).name()
                    ));
                }
                Generated {
                    notes: s.notes.clone(),
                    rules,
                    broken_bars,
                    relaxations,
                    cost: s.head.cost,
                }
            })
            .collect();
        // A stable sort keeps the cheapest first among equals; among the best-ranked within
        // a small margin of the cheapest, the seed chooses.
        candidates.sort_by_key(|g| std::cmp::Reverse(rank(g)));
        let pick = candidates.first().map(|top| {
            let near: Vec<usize> = (0..candidates.len())
                .filter(|i| {
                    rank(&candidates[*i]) == rank(top)
                        && candidates[*i].cost <= top.cost + SEED_MARGIN
                })
                .collect();
            near[(splitmix(seed ^ 0x005E_1EC7) % near.len() as u64) as usize]
        });
        if let Some(top) = pick.map(|i| candidates.swap_remove(i)) {
            if best.as_ref().is_none_or(|b| rank(&top) > rank(b)) {
                best = Some(top);
            }
        }
        if best
            .as_ref()
            .is_some_and(|b| rank(b) == (RULES.len(), usize::MAX))
        {
            break;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tones(names: &str) -> Vec<Tone> {
        names
            .split_whitespace()
            .map(|n| Tone::parse(n).expect("tone"))
            .collect()
    }

    #[test]
    fn tones_and_intervals() {
        let t = Tone::parse("F#4").unwrap();
        assert_eq!((t.midi(), t.name()), (66, "F#4".to_string()));
        assert_eq!(Tone::parse("B-3").unwrap().midi(), 58);
        assert_eq!(Tone::parse("Bb3").unwrap().name(), "B-3");
        let h = harmonic(Tone::parse("E4").unwrap(), Tone::parse("C#5").unwrap());
        assert_eq!(h.name(), "M6");
        assert!(h.is_consonant());
        assert_eq!(
            harmonic(Tone::parse("D4").unwrap(), Tone::parse("A5").unwrap()).perfect_class(),
            Some(5)
        );
        assert!(!harmonic(Tone::parse("F4").unwrap(), Tone::parse("B4").unwrap()).is_consonant());
        assert!(!harmonic(Tone::parse("C4").unwrap(), Tone::parse("F4").unwrap()).is_consonant());
        let m = melodic(Tone::parse("F4").unwrap(), Tone::parse("B4").unwrap());
        assert!(m.is_tritone());
        assert!(!melodic(Tone::parse("F4").unwrap(), Tone::parse("G#4").unwrap()).is_step());
        assert!(melodic(Tone::parse("E4").unwrap(), Tone::parse("C5").unwrap()).is_allowed_leap());
        assert!(!melodic(Tone::parse("C5").unwrap(), Tone::parse("E4").unwrap()).is_allowed_leap());
        assert!(!melodic(Tone::parse("C4").unwrap(), Tone::parse("A4").unwrap()).is_allowed_leap());
        assert_eq!(interval_name(3, 6), "A4");
        assert_eq!(interval_name(4, 6), "d5");
        assert_eq!(interval_name(9, 15), "m10");
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
        let d_minor = Mode::new(ModeKind::Aeolian, Tone::parse("D4").unwrap(), Some("minor"));
        assert_eq!(
            (d_minor.label(), d_minor.sharps()),
            ("D minor".to_string(), -1)
        );
        assert_eq!(parse_mode_name(" Dorian "), Some((ModeKind::Dorian, None)));
        assert!(parse_mode_name("locrian").is_none());
    }

    #[test]
    fn the_checker_passes_fux_and_finds_planted_faults() {
        let cf = tones("D4 F4 E4 D4 G4 F4 A4 G4 F4 E4 D4");
        // A first-species line above the Dorian cantus firmus that keeps every rule.
        let good = tones("A4 D5 C5 F5 E5 D5 C5 B4 D5 C#5 D5");
        let notes: Vec<CpNote> = good
            .iter()
            .enumerate()
            .map(|(i, t)| CpNote {
                start: i as u32 * BAR,
                dur: BAR,
                tone: *t,
            })
            .collect();
        let results = check(&cf, &notes, 1, Voice::Above);
        let failed: Vec<&RuleResult> = results.iter().filter(|r| !r.passed).collect();
        assert!(failed.is_empty(), "{failed:#?}");
        assert_eq!(compliance(&results), 1.0);

        // Repeated notes and a second climax are found where they are.
        let mut twice = notes.clone();
        twice[5].tone = Tone::parse("F5").unwrap();
        twice[6].tone = Tone::parse("F5").unwrap();
        let results = check(&cf, &twice, 1, Voice::Above);
        let failed: Vec<&str> = results.iter().filter(|r| !r.passed).map(|r| r.id).collect();
        assert!(
            failed.contains(&"no_repeated_notes") && failed.contains(&"single_climax"),
            "{failed:?}"
        );
        let repeat = &results
            .iter()
            .find(|r| r.id == "no_repeated_notes")
            .unwrap()
            .violations[0];
        assert_eq!((repeat.measure, repeat.beat), (7, 1.0));

        let mut bad = notes.clone();
        bad[1].tone = Tone::parse("B4").unwrap(); // F4 - B4: a tritone against the CF
        bad[2].tone = Tone::parse("A4").unwrap();
        let results = check(&cf, &bad, 1, Voice::Above);
        let strong = results
            .iter()
            .find(|r| r.id == "consonant_strong_beats")
            .unwrap();
        assert!(!strong.passed);
        assert_eq!(strong.violations[0].measure, 2);
        let parallels = tones("A4 C5 B4 A4 D5 C5 E5 D5 C5 B4 A4");
        let notes: Vec<CpNote> = parallels
            .iter()
            .enumerate()
            .map(|(i, t)| CpNote {
                start: i as u32 * BAR,
                dur: BAR,
                tone: *t,
            })
            .collect();
        let results = check(&cf, &notes, 1, Voice::Above);
        let par = results
            .iter()
            .find(|r| r.id == "no_parallel_perfects")
            .unwrap();
        assert!(!par.passed && par.violations.len() >= 5, "{par:?}");
        let cad = results.iter().find(|r| r.id == "cadence").unwrap();
        assert!(!cad.passed);

        // A weak-beat dissonance reached by leap in second species; a suspension that
        // resolves upwards in fourth species.
        let mode = detect_mode(&cf, Some(0));
        let mut second = generate(&cf, &mode, 2, Voice::Above, 0).unwrap().notes;
        let i = second.iter().position(|n| n.start == 3 * BAR + 4).unwrap();
        let cf_tone = cf[3];
        let fourth_above = mode.tone(cf_tone.dia + 7 + 3); // an eleventh: a dissonance
        let prev = second[i - 1].tone;
        second[i].tone = if (fourth_above.midi() - prev.midi()).abs() > 2 {
            fourth_above
        } else {
            mode.tone(cf_tone.dia + 3)
        };
        let results = check(&cf, &second, 2, Voice::Above);
        let diss = results
            .iter()
            .find(|r| r.id == "dissonance_treatment")
            .unwrap();
        assert!(
            diss.violations
                .iter()
                .any(|v| v.measure == 4 && v.beat == 3.0),
            "{diss:#?}"
        );
        let fourth = generate(&cf, &mode, 4, Voice::Above, 0).unwrap().notes;
        let results = check(&cf, &fourth, 4, Voice::Above);
        assert!(results.iter().all(|r| r.passed), "{results:#?}");
        let mut wrong = fourth.clone();
        // The penultimate note resolves the cadential suspension; move it up a step.
        let k = wrong.len() - 2;
        wrong[k].tone = mode.tone(wrong[k - 1].tone.dia + 1);
        let results = check(&cf, &wrong, 4, Voice::Above);
        assert!(
            results
                .iter()
                .any(|r| !r.passed && matches!(r.id, "dissonance_treatment" | "cadence")),
            "{results:#?}"
        );
    }

    #[test]
    fn every_species_against_fux_dorian_meets_every_rule() {
        let cf = tones("D4 F4 E4 D4 G4 F4 A4 G4 F4 E4 D4");
        let mode = detect_mode(&cf, Some(0));
        let mut failures = Vec::new();
        for species in 1..=5 {
            for voice in [Voice::Above, Voice::Below] {
                let g = generate(&cf, &mode, species, voice, 7).expect("a counterpoint");
                let failed: Vec<_> = g.rules.iter().filter(|r| !r.passed).collect();
                if !failed.is_empty() {
                    let line: Vec<String> = g
                        .notes
                        .iter()
                        .map(|n| format!("{}@{}:{}", n.tone.name(), n.start, n.dur))
                        .collect();
                    failures.push(format!(
                        "species {species} {voice:?}: {failed:#?}\n{}",
                        line.join(" ")
                    ));
                }
                let again = generate(&cf, &mode, species, voice, 7).unwrap();
                assert_eq!(g.notes, again.notes, "deterministic");
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
