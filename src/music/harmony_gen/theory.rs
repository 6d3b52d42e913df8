//! Keys and the chord vocabulary of each style.
//!
//! Everything is spelled: a chord member is a [`PitchName`], so a chord built on a degree
//! of a key comes out as music21 would spell it (`G# B D F` for viio7 in A minor, `D F# A`
//! for V/V in C), and a pitch written from it carries that spelling into the score.

use crate::music::pitch::PitchName;

/// A key: tonic and mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyDef {
    pub tonic: PitchName,
    pub minor: bool,
}

const MAJOR_STEPS: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
const MINOR_STEPS: [i32; 7] = [0, 2, 3, 5, 7, 8, 10];

impl KeyDef {
    /// A key by its tonic's letter (0 = C .. 6 = B) and alteration: for tests.
    #[cfg(test)]
    pub(crate) fn of(letter: u8, alter: i8, minor: bool) -> Self {
        Self {
            tonic: PitchName::new(letter, alter),
            minor,
        }
    }

    /// The tone on scale degree `degree` (0 = tonic) of the major or natural minor scale,
    /// altered by `alter` semitones.
    pub fn degree(&self, degree: u8, alter: i32) -> PitchName {
        let steps = if self.minor { MINOR_STEPS } else { MAJOR_STEPS };
        self.tonic
            .up(degree % 7, steps[(degree % 7) as usize] + alter)
    }

    /// `G major`, `f# minor`.
    pub fn label(&self) -> String {
        if self.minor {
            format!("{} minor", self.tonic.music21_name().to_lowercase())
        } else {
            format!("{} major", self.tonic.music21_name())
        }
    }

    /// Sharps (positive) or flats (negative) in the key signature.
    pub fn sharps(&self) -> i32 {
        // The major key a minor key shares its signature with is a minor third up.
        let major = if self.minor {
            self.tonic.up(2, 3)
        } else {
            self.tonic
        };
        // Fifths from C: letter position on the circle plus 7 per sharp of alteration.
        const FIFTHS: [i32; 7] = [0, 2, 4, -1, 1, 3, 5];
        FIFTHS[major.letter as usize] + 7 * i32::from(major.alter)
    }
}

/// What a chord member is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Member {
    Root,
    Third,
    Fifth,
    Seventh,
    /// A fourth in place of the third (sus4) or an added sixth.
    Added,
}

/// Chord qualities, with the letter steps and semitones of each member above the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quality {
    Major,
    Minor,
    Diminished,
    Augmented,
    Dominant7,
    Major7,
    Minor7,
    HalfDiminished7,
    Diminished7,
    Sus4,
    Major6,
}

impl Quality {
    pub fn members(self) -> &'static [(u8, i32, Member)] {
        use Member::*;
        match self {
            Quality::Major => &[(0, 0, Root), (2, 4, Third), (4, 7, Fifth)],
            Quality::Minor => &[(0, 0, Root), (2, 3, Third), (4, 7, Fifth)],
            Quality::Diminished => &[(0, 0, Root), (2, 3, Third), (4, 6, Fifth)],
            Quality::Augmented => &[(0, 0, Root), (2, 4, Third), (4, 8, Fifth)],
            Quality::Dominant7 => &[(0, 0, Root), (2, 4, Third), (4, 7, Fifth), (6, 10, Seventh)],
            Quality::Major7 => &[(0, 0, Root), (2, 4, Third), (4, 7, Fifth), (6, 11, Seventh)],
            Quality::Minor7 => &[(0, 0, Root), (2, 3, Third), (4, 7, Fifth), (6, 10, Seventh)],
            Quality::HalfDiminished7 => {
                &[(0, 0, Root), (2, 3, Third), (4, 6, Fifth), (6, 10, Seventh)]
            }
            Quality::Diminished7 => &[(0, 0, Root), (2, 3, Third), (4, 6, Fifth), (6, 9, Seventh)],
            Quality::Sus4 => &[(0, 0, Root), (3, 5, Added), (4, 7, Fifth)],
            Quality::Major6 => &[(0, 0, Root), (2, 4, Third), (4, 7, Fifth), (5, 9, Added)],
        }
    }

    pub fn is_seventh(self) -> bool {
        self.members().iter().any(|m| m.2 == Member::Seventh)
    }

    /// Whether the Roman numeral is written in upper case.
    pub fn upper(self) -> bool {
        matches!(
            self,
            Quality::Major
                | Quality::Augmented
                | Quality::Dominant7
                | Quality::Major7
                | Quality::Sus4
                | Quality::Major6
        )
    }

    /// The figure's quality sign after the numeral (`o`, `+`, `ø7`, `o7`, `7`).
    fn numeral_suffix(self) -> &'static str {
        match self {
            Quality::Diminished => "o",
            Quality::Augmented => "+",
            Quality::Dominant7 | Quality::Major7 | Quality::Minor7 => "7",
            Quality::HalfDiminished7 => "ø7",
            Quality::Diminished7 => "o7",
            Quality::Sus4 => "sus4",
            Quality::Major6 => "add6",
            _ => "",
        }
    }

    /// music21's chord-symbol kind (MusicXML `<kind>`).
    pub fn symbol_kind(self) -> &'static str {
        match self {
            Quality::Major => "major",
            Quality::Minor => "minor",
            Quality::Diminished => "diminished",
            Quality::Augmented => "augmented",
            Quality::Dominant7 => "dominant-seventh",
            Quality::Major7 => "major-seventh",
            Quality::Minor7 => "minor-seventh",
            Quality::HalfDiminished7 => "half-diminished-seventh",
            Quality::Diminished7 => "diminished-seventh",
            Quality::Sus4 => "suspended-fourth",
            Quality::Major6 => "major-sixth",
        }
    }

    /// Lead-sheet suffix, as music21 abbreviates the kind.
    pub fn symbol_suffix(self) -> &'static str {
        match self {
            Quality::Major => "",
            Quality::Minor => "m",
            Quality::Diminished => "dim",
            Quality::Augmented => "+",
            Quality::Dominant7 => "7",
            Quality::Major7 => "maj7",
            Quality::Minor7 => "m7",
            Quality::HalfDiminished7 => "m7b5",
            Quality::Diminished7 => "dim7",
            Quality::Sus4 => "sus4",
            Quality::Major6 => "6",
        }
    }
}

/// What a chord does in the key: the functional grammar the search scores progressions by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Built on a scale degree of the key (mixture included), read by its degree.
    Diatonic,
    /// A dominant (V, V7 or viio7) of the chord on `target`'s degree.
    Applied { target: u8 },
    /// The tonic six-four before V at a cadence (classical style).
    Cadential64,
}

/// One chord of the vocabulary.
#[derive(Clone, Debug, PartialEq)]
pub struct ChordDef {
    pub root: PitchName,
    pub quality: Quality,
    /// Scale degree of the root, 0 = tonic.
    pub degree: u8,
    pub role: Role,
    /// Written in front of the numeral: `b` or `#` for a root off the scale.
    pub accidental: &'static str,
    /// Cost of using this chord at all (rarer chords cost more).
    pub base_cost: i64,
    /// The members, spelled.
    pub tones: Vec<(PitchName, Member)>,
    /// The tone that must rise by a semitone when the chord resolves (a leading tone).
    pub leading_tone: Option<PitchName>,
    /// For an applied chord, whether its target's numeral is upper case (V/V, V/vi).
    pub target_upper: bool,
}

impl ChordDef {
    pub fn new(
        key: &KeyDef,
        degree: u8,
        root_alter: i32,
        quality: Quality,
        role: Role,
        base_cost: i64,
    ) -> Self {
        let root = key.degree(degree, root_alter);
        Self::on_root(key, root, degree, quality, role, base_cost)
    }

    fn on_root(
        key: &KeyDef,
        root: PitchName,
        degree: u8,
        quality: Quality,
        role: Role,
        base_cost: i64,
    ) -> Self {
        let tones: Vec<(PitchName, Member)> = quality
            .members()
            .iter()
            .map(|&(steps, semis, member)| (root.up(steps, semis), member))
            .collect();
        let scale_root = key.degree(degree, 0);
        // In minor, the raised sixth and seventh degrees are read from the chord's quality,
        // as music21 reads them (viio7, not #viio7).
        let accidental = match (root.pc() - scale_root.pc()).rem_euclid(12) {
            1 if key.minor && (degree == 5 || degree == 6) => "",
            1 => "#",
            11 => "b",
            _ => "",
        };
        let target_upper = match role {
            Role::Applied { target } if key.minor => matches!(target, 2 | 4 | 5 | 6),
            Role::Applied { target } => matches!(target, 0 | 3 | 4),
            _ => false,
        };
        // The leading tone: the third of a dominant (major third above the root), the root of
        // a diminished seventh or diminished triad acting as a dominant.
        let dominant_like = match role {
            Role::Applied { .. } => true,
            Role::Diatonic => {
                (degree == 4
                    && matches!(quality, Quality::Major | Quality::Dominant7)
                    && (root.pc() - key.tonic.pc()).rem_euclid(12) == 7)
                    || (degree == 6
                        && matches!(
                            quality,
                            Quality::Diminished | Quality::Diminished7 | Quality::HalfDiminished7
                        )
                        && (key.tonic.pc() - root.pc()).rem_euclid(12) == 1)
            }
            Role::Cadential64 => false,
        };
        let leading_tone = if !dominant_like {
            None
        } else {
            match quality {
                Quality::Major | Quality::Dominant7 => Some(root.up(2, 4)),
                Quality::Diminished | Quality::Diminished7 | Quality::HalfDiminished7 => Some(root),
                _ => None,
            }
        };
        Self {
            root,
            quality,
            degree,
            role,
            accidental,
            base_cost,
            tones,
            leading_tone,
            target_upper,
        }
    }

    /// A chord on any root, read on the degree its letter stands on (a chromatic chord).
    pub fn chromatic(
        key: &KeyDef,
        root: PitchName,
        degree: u8,
        quality: Quality,
        base_cost: i64,
    ) -> Self {
        Self::on_root(key, root, degree, quality, Role::Diatonic, base_cost)
    }

    /// An applied dominant of the chord on `target` (a degree of the key, whose root is
    /// spelled as the key spells it): `V`, `V7` or `viio7` of it.
    pub fn applied(key: &KeyDef, target: u8, quality: Quality, base_cost: i64) -> Self {
        let target_root = key.degree(target, 0);
        let (root, degree) = match quality {
            Quality::Diminished7 | Quality::Diminished => (target_root.up(6, 11), (target + 6) % 7),
            _ => (target_root.up(4, 7), (target + 4) % 7),
        };
        Self::on_root(
            key,
            root,
            degree,
            quality,
            Role::Applied { target },
            base_cost,
        )
    }

    /// The member a pitch class is, if any.
    pub fn member_of(&self, pc: i32) -> Option<(usize, Member)> {
        self.tones
            .iter()
            .position(|(t, _)| t.pc() == pc)
            .map(|i| (i, self.tones[i].1))
    }

    /// The Roman numeral in root position: `V7/V`, `viio7`, `bVI`, `ii`, `I64` (cadential).
    pub fn figure(&self, inversion: usize) -> String {
        const NUMERALS: [&str; 7] = ["I", "II", "III", "IV", "V", "VI", "VII"];
        let (degree, upper) = match self.role {
            Role::Applied { .. } => {
                let d = match self.quality {
                    Quality::Diminished | Quality::Diminished7 => 6,
                    _ => 4,
                };
                (d, self.quality.upper())
            }
            _ => (self.degree as usize, self.quality.upper()),
        };
        let numeral = if upper {
            NUMERALS[degree].to_string()
        } else {
            NUMERALS[degree].to_lowercase()
        };
        let suffix = self.quality.numeral_suffix();
        let seventh = self.quality.is_seventh();
        let inversion_figure = match (seventh, inversion) {
            (false, 0) => "",
            (false, 1) => "6",
            (false, _) => "64",
            (true, 0) => "7",
            (true, 1) => "65",
            (true, 2) => "43",
            (true, _) => "42",
        };
        // A seventh chord's "7" is replaced by its inversion figure; the quality sign stays.
        let quality_sign = if seventh {
            suffix.trim_end_matches('7')
        } else {
            suffix
        };
        let accidental = match self.role {
            Role::Diatonic => self.accidental,
            _ => "",
        };
        let mut figure = if matches!(self.role, Role::Cadential64) {
            format!("{numeral}64")
        } else {
            format!("{accidental}{numeral}{quality_sign}{inversion_figure}")
        };
        if let Role::Applied { target } = self.role {
            figure.push('/');
            figure.push_str(target_numeral(target, self.target_upper));
        }
        figure
    }

    /// The chord symbol, e.g. `G7`, `F#m7b5`, `B-` (music21 spells flats `-`).
    pub fn symbol(&self) -> String {
        format!(
            "{}{}",
            self.root.music21_name(),
            self.quality.symbol_suffix()
        )
    }

    /// The role a transition table reads: the degree a chord stands on, applied chords by
    /// their target.
    pub fn is_dominant(&self) -> bool {
        self.leading_tone.is_some() && matches!(self.role, Role::Diatonic)
    }

    pub fn is_tonic(&self, key: &KeyDef) -> bool {
        matches!(self.role, Role::Diatonic)
            && self.degree == 0
            && self.root.pc() == key.tonic.pc()
            && matches!(
                self.quality,
                Quality::Major
                    | Quality::Minor
                    | Quality::Major7
                    | Quality::Minor7
                    | Quality::Major6
            )
    }
}

fn target_numeral(target: u8, upper: bool) -> &'static str {
    const UP: [&str; 7] = ["I", "II", "III", "IV", "V", "VI", "VII"];
    const LOW: [&str; 7] = ["i", "ii", "iii", "iv", "v", "vi", "vii"];
    if upper {
        UP[(target % 7) as usize]
    } else {
        LOW[(target % 7) as usize]
    }
}

/// The four styles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Style {
    Chorale,
    Classical,
    Pop,
    Jazz,
}

impl Style {
    pub fn name(self) -> &'static str {
        match self {
            Style::Chorale => "chorale",
            Style::Classical => "classical",
            Style::Pop => "pop",
            Style::Jazz => "jazz",
        }
    }

    pub fn four_part(self) -> bool {
        matches!(self, Style::Chorale | Style::Classical)
    }
}

/// The chords a style may use in a key, with what each costs.
pub fn vocabulary(key: &KeyDef, style: Style) -> Vec<ChordDef> {
    use Quality::*;
    let d = |degree: u8, alter: i32, q: Quality, cost: i64| {
        ChordDef::new(key, degree, alter, q, Role::Diatonic, cost)
    };
    let applied = |target: u8, q: Quality, cost: i64| ChordDef::applied(key, target, q, cost);
    let mut out = Vec::new();
    match (style, key.minor) {
        (Style::Chorale | Style::Classical, false) => {
            out.extend([
                d(0, 0, Major, 0),
                d(1, 0, Minor, 1),
                d(2, 0, Minor, 5),
                d(3, 0, Major, 0),
                d(4, 0, Major, 0),
                d(5, 0, Minor, 1),
                d(6, 0, Diminished, 4),
                d(4, 0, Dominant7, 1),
                d(1, 0, Minor7, 2),
                d(6, 0, HalfDiminished7, 5),
                d(3, 0, Major7, 7),
                d(5, 0, Minor7, 6),
                // mixture
                d(3, 0, Minor, 9),
                d(5, -1, Major, 12),
                d(6, -1, Major, 12),
                d(1, -1, Major, 12),
            ]);
            for target in [4u8, 5, 1, 3, 2] {
                let extra = if target == 2 { 3 } else { 0 };
                if target != 3 {
                    out.push(applied(target, Major, 5 + extra));
                }
                out.push(applied(target, Dominant7, 5 + extra));
                out.push(applied(target, Diminished7, 7 + extra));
            }
        }
        (Style::Chorale | Style::Classical, true) => {
            out.extend([
                d(0, 0, Minor, 0),
                d(1, 0, Diminished, 2),
                d(2, 0, Major, 3),
                d(3, 0, Minor, 0),
                d(4, 0, Major, 0),
                d(5, 0, Major, 1),
                d(6, 1, Diminished, 4),
                d(4, 0, Dominant7, 1),
                d(1, 0, HalfDiminished7, 2),
                d(6, 1, Diminished7, 3),
                d(3, 0, Minor7, 6),
                d(5, 0, Major7, 7),
                // natural minor's subtonic and minor dominant, the melodic minor's IV and ii
                d(6, 0, Major, 4),
                d(4, 0, Minor, 10),
                d(3, 0, Major, 7),
                d(1, 0, Minor, 9).with_fifth_raised(),
                d(1, -1, Major, 10),
                // Picardy third / V of iv
                d(0, 0, Major, 9),
            ]);
            for target in [4u8, 3, 2, 5] {
                if target != 2 && target != 3 {
                    out.push(applied(target, Major, 5));
                }
                out.push(applied(target, Dominant7, 5));
                if target != 2 {
                    out.push(applied(target, Diminished7, 7));
                }
            }
        }
        (Style::Pop, false) => {
            out.extend([
                d(0, 0, Major, 0),
                d(1, 0, Minor, 2),
                d(2, 0, Minor, 6),
                d(3, 0, Major, 0),
                d(4, 0, Major, 0),
                d(5, 0, Minor, 1),
                d(4, 0, Dominant7, 3),
                d(0, 0, Major7, 6),
                d(3, 0, Major7, 6),
                d(1, 0, Minor7, 5),
                d(5, 0, Minor7, 6),
                d(4, 0, Sus4, 7),
                d(6, -1, Major, 8),
                d(3, 0, Minor, 10),
            ]);
            out.push(applied(4, Major, 8));
            out.push(applied(5, Major, 8));
        }
        (Style::Pop, true) => {
            out.extend([
                d(0, 0, Minor, 0),
                d(2, 0, Major, 1),
                d(3, 0, Minor, 0),
                d(4, 0, Minor, 3),
                d(4, 0, Major, 1),
                d(5, 0, Major, 0),
                d(6, 0, Major, 1),
                d(4, 0, Dominant7, 3),
                d(0, 0, Minor7, 6),
                d(3, 0, Minor7, 6),
                d(5, 0, Major7, 6),
                d(4, 0, Sus4, 7),
            ]);
        }
        (Style::Jazz, false) => {
            out.extend([
                d(0, 0, Major7, 0),
                d(0, 0, Major6, 4),
                d(1, 0, Minor7, 0),
                d(2, 0, Minor7, 3),
                d(3, 0, Major7, 1),
                d(4, 0, Dominant7, 0),
                d(5, 0, Minor7, 1),
                d(6, 0, HalfDiminished7, 4),
                d(6, -1, Dominant7, 7),
                d(3, 0, Minor7, 8),
            ]);
            for target in [1u8, 4, 5, 3, 2] {
                out.push(applied(target, Dominant7, 3));
            }
        }
        (Style::Jazz, true) => {
            out.extend([
                d(0, 0, Minor7, 0),
                d(1, 0, HalfDiminished7, 0),
                d(2, 0, Major7, 2),
                d(3, 0, Minor7, 1),
                d(4, 0, Dominant7, 0),
                d(5, 0, Major7, 2),
                d(6, 0, Dominant7, 3),
                d(6, 1, Diminished7, 4),
            ]);
            for target in [3u8, 2, 5] {
                out.push(applied(target, Dominant7, 4));
            }
        }
    }
    if style == Style::Classical {
        let tonic = if key.minor { Minor } else { Major };
        out.push(ChordDef::new(key, 0, 0, tonic, Role::Cadential64, 0));
    }
    out
}

impl ChordDef {
    /// ii in minor with the raised sixth as its fifth (B D F# in A minor).
    fn with_fifth_raised(mut self) -> Self {
        for (tone, member) in &mut self.tones {
            if *member == Member::Fifth {
                *tone = PitchName::new(tone.letter, tone.alter + 1);
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, minor: bool) -> KeyDef {
        let letter = "CDEFGAB".find(&name[..1]).unwrap() as u8;
        let alter = match &name[1..] {
            "#" => 1,
            "-" => -1,
            _ => 0,
        };
        KeyDef {
            tonic: PitchName::new(letter, alter),
            minor,
        }
    }

    fn names(chord: &ChordDef) -> Vec<String> {
        chord.tones.iter().map(|(t, _)| t.music21_name()).collect()
    }

    #[test]
    fn chords_are_spelled_as_music21_spells_them() {
        let a = key("A", true);
        let vii7 = ChordDef::new(&a, 6, 1, Quality::Diminished7, Role::Diatonic, 0);
        assert_eq!(names(&vii7), ["G#", "B", "D", "F"]);
        assert_eq!(vii7.figure(0), "viio7");
        assert_eq!(
            vii7.leading_tone.map(|t| t.music21_name()),
            Some("G#".into())
        );
        let c = key("C", false);
        let vv = ChordDef::applied(&c, 4, Quality::Dominant7, 0);
        assert_eq!(names(&vv), ["D", "F#", "A", "C"]);
        assert_eq!(vv.figure(1), "V65/V");
        assert_eq!(vv.symbol(), "D7");
        let fs = key("F", true);
        assert_eq!(fs.degree(6, 1).music21_name(), "E");
        let fsharp = key("F#", true);
        assert_eq!(fsharp.degree(6, 1).music21_name(), "E#");
        assert_eq!(fsharp.sharps(), 3);
        assert_eq!(key("B-", false).sharps(), -2);
        let v = ChordDef::new(&fsharp, 4, 0, Quality::Dominant7, Role::Diatonic, 0);
        assert_eq!(names(&v), ["C#", "E#", "G#", "B"]);
        assert_eq!(v.figure(3), "V42");
        let bvi = ChordDef::new(&c, 5, -1, Quality::Major, Role::Diatonic, 0);
        assert_eq!(names(&bvi), ["A-", "C", "E-"]);
        assert_eq!(bvi.figure(0), "bVI");
        let ii = ChordDef::new(&a, 1, 0, Quality::HalfDiminished7, Role::Diatonic, 0);
        assert_eq!(ii.figure(1), "iiø65");
    }
}
