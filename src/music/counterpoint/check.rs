//! size: sixteen rules, one function each, beside their 220 lines of tests (each rule's
//! planted faults and clean cases); split the tests out before adding rules.
//! The rule checker, written apart from the generator: it takes any cantus firmus and
//! counterpoint and says for each rule whether it holds and, where it does not, at which
//! measure and beat, between which notes. Each rule is one function.

use super::rhythm::species_rhythm;
use super::theory::{harmonic, melodic, Harmonic, Melodic};
use super::violation::{cf_label, cp_label, violation, Violation};
use super::{CpNote, Voice, BAR};
use crate::music::pitch::SpelledPitch;

/// One rule and how it fared.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleResult {
    pub id: &'static str,
    pub description: &'static str,
    pub passed: bool,
    pub violations: Vec<Violation>,
    /// Places where a licence was taken (the rule still holds): the broken syncopations of
    /// 4th species, a 5th-species cadence without its suspension, a dissonant neighbour
    /// tone in 2nd species.
    pub licences: Vec<Violation>,
}

impl RuleResult {
    /// Passed without any licence taken.
    pub fn kept_strictly(&self) -> bool {
        self.passed && self.licences.is_empty()
    }
}

/// The rules, in the order they are reported.
pub const RULES: [(&str, &str); 16] = [
    ("species_rhythm", "The rhythm of the species: 1st whole notes; 2nd two halves; 3rd four quarters; 4th a half rest, then halves tied over every barline (breaking the species, a bar of two halves, is a licence taken only where the syncopation cannot go on, at most once in four bars, and listed); 5th a mix of halves, quarters, tied syncopes and eighth pairs on weak beats, with no gaps and a suspension at the cadence (listed as a licence where none can be prepared); the last note a whole note."),
    ("consonant_strong_beats", "Every downbeat is consonant (unison, third, fifth, sixth, octave or compound), except a prepared suspension in 4th and 5th species."),
    ("dissonance_treatment", "A dissonance is a passing or neighbour tone on a weak beat, approached and left by step (in 2nd species Fux admits only the passing tone: a dissonant neighbour there is listed as a licence), or (4th and 5th species) a suspension: prepared by a consonance, held over the barline, resolving down by step to a consonance (7-6 or 4-3 above, 2-3 or 4-5 below)."),
    ("no_parallel_perfects", "No parallel (or antiparallel) fifths, octaves or unisons between neighbouring notes, nor on successive downbeats (2nd, 3rd, 5th species) or successive syncopations (4th species)."),
    ("no_direct_perfects", "No direct (hidden) fifths or octaves: a perfect consonance is not reached by similar motion."),
    ("no_inner_unisons", "Unisons only on the first and the last note."),
    ("contrary_motion_preferred", "Contrary motion prevails: at least 40% of the moves between downbeats in which both voices move are contrary (not asked of 4th species, whose chains of suspensions move with the cantus firmus), and no more than three parallel thirds or sixths in a row."),
    ("leaps_limited", "Melodic intervals are steps, thirds, perfect fourths, fifths, octaves or an ascending minor sixth; a leap of a fourth or more is recovered by a step in the opposite direction; no two leaps in a row in one direction unless both are thirds, never three."),
    ("single_climax", "The counterpoint's highest note is reached once."),
    ("no_tritone_leaps", "No melodic tritone (augmented fourth or diminished fifth)."),
    ("no_augmented_or_diminished_outlines", "The line outlines no augmented or diminished interval (an augmented fourth F-B, a diminished fifth, an augmented fifth C-G#, a diminished fourth C#-F, a diminished seventh): neither the span of two or more leaps in a row in one direction, nor the interval from one turning point of the line to the next (the first note, every note where the line changes direction, the last note)."),
    ("perfect_beginning_and_end", "The first note makes a perfect consonance with the cantus firmus (unison, fifth or octave above; unison or octave below), the last a unison or octave."),
    ("cadence", "The cadence (clausula vera): both voices reach the final unison or octave by step in contrary motion, one of them by a half step (the leading tone; in phrygian the half step above)."),
    ("no_voice_crossing", "The counterpoint stays on its side of the cantus firmus; no voice overlaps the other's previous note."),
    ("no_repeated_notes", "No note is repeated (the ties of a syncopation are one note)."),
    ("range", "The counterpoint spans at most a twelfth, and the voices are never more than a twelfth apart."),
];

struct Vertical {
    t: u32,
    cf: SpelledPitch,
    cp: SpelledPitch,
    idx: usize,
    onset: bool,
}

/// Judges a counterpoint against its cantus firmus (one cantus firmus note per bar of
/// [`BAR`] eighths), rule by rule. Written apart from the generator: it knows only the
/// notes.
pub fn check(cf: &[SpelledPitch], cp: &[CpNote], species: u8, voice: Voice) -> Vec<RuleResult> {
    let piece = Piece::new(cf, cp, species, voice);
    if piece.notes.is_empty() {
        let found = RULES
            .iter()
            .enumerate()
            .map(|(i, (id, _))| {
                if i == 0 || matches!(*id, "perfect_beginning_and_end" | "cadence") {
                    (
                        vec![violation(0, vec![], "the counterpoint has no notes")],
                        Vec::new(),
                    )
                } else {
                    (Vec::new(), Vec::new())
                }
            })
            .collect();
        return finish(found);
    }

    let mut rhythm = Vec::new();
    let mut rhythm_licences = species_rhythm(&piece.notes, piece.bars(), species, &mut rhythm);
    let found = RULES
        .iter()
        .map(|(id, _)| match *id {
            "species_rhythm" => (
                std::mem::take(&mut rhythm),
                std::mem::take(&mut rhythm_licences),
            ),
            "dissonance_treatment" => dissonance_treatment(&piece),
            other => (faults_of(&piece, other), Vec::new()),
        })
        .collect();
    finish(found)
}

/// The faults of a rule that grants no licence.
fn faults_of(piece: &Piece, id: &str) -> Vec<Violation> {
    match id {
        "consonant_strong_beats" => consonant_strong_beats(piece),
        "no_parallel_perfects" => no_parallel_perfects(piece),
        "no_direct_perfects" => no_direct_perfects(piece),
        "no_inner_unisons" => no_inner_unisons(piece),
        "contrary_motion_preferred" => contrary_motion_preferred(piece),
        "leaps_limited" => leaps_limited(piece),
        "single_climax" => single_climax(piece),
        "no_tritone_leaps" => no_tritone_leaps(piece),
        "no_augmented_or_diminished_outlines" => outlines(&piece.notes),
        "perfect_beginning_and_end" => perfect_beginning_and_end(piece),
        "cadence" => cadence(piece),
        "no_voice_crossing" => no_voice_crossing(piece),
        "no_repeated_notes" => no_repeated_notes(piece),
        "range" => range(piece),
        other => unreachable!("the rule {other} has no check"),
    }
}

/// What the rules look at: the counterpoint's notes in time order, the cantus firmus, and
/// the verticals where the two sound together.
struct Piece<'a> {
    cf: &'a [SpelledPitch],
    notes: Vec<CpNote>,
    verts: Vec<Vertical>,
    species: u8,
    voice: Voice,
}

impl<'a> Piece<'a> {
    fn new(cf: &'a [SpelledPitch], cp: &[CpNote], species: u8, voice: Voice) -> Self {
        let mut notes = cp.to_vec();
        notes.sort_by_key(|n| n.start);
        let verts = verticals(cf, &notes);
        Self {
            cf,
            notes,
            verts,
            species,
            voice,
        }
    }

    /// Bars, one a cantus firmus note.
    fn bars(&self) -> usize {
        self.cf.len()
    }

    /// The cantus firmus note sounding at time `t`.
    fn cf_at(&self, t: u32) -> SpelledPitch {
        self.cf[(t / BAR) as usize]
    }

    /// Neighbouring verticals in which both voices move.
    fn moves(&self) -> impl Iterator<Item = (&Vertical, &Vertical)> {
        self.verts
            .windows(2)
            .map(|w| (&w[0], &w[1]))
            .filter(|(a, b)| both_move(a, b))
    }

    /// The accented verticals: downbeats, or the syncopations of the 4th species.
    fn accents(&self) -> Vec<&Vertical> {
        self.verts
            .iter()
            .filter(|v| match self.species {
                4 => v.onset,
                _ => v.t % BAR == 0,
            })
            .collect()
    }

    /// Successive accented verticals in which both voices move.
    fn accented_moves(&self) -> Vec<(&Vertical, &Vertical)> {
        self.accents()
            .windows(2)
            .map(|w| (w[0], w[1]))
            .filter(|(a, b)| both_move(a, b))
            .collect()
    }

    /// The dissonant verticals, with their intervals.
    fn dissonances(&self) -> impl Iterator<Item = (&Vertical, Harmonic)> {
        self.verts
            .iter()
            .map(|v| (v, harmonic(v.cp, v.cf)))
            .filter(|(_, h)| !h.is_consonant())
    }

    /// A dissonance here must be a consonance instead: a downbeat, unless it is a held
    /// suspension of the 4th or 5th species.
    fn wants_consonance(&self, v: &Vertical) -> bool {
        v.t.is_multiple_of(BAR) && (v.onset || !matches!(self.species, 4 | 5))
    }

    /// The counterpoint is on the wrong side of the cantus firmus at `v`.
    fn wrong_side(&self, v: &Vertical) -> bool {
        match self.voice {
            Voice::Above => v.cp.midi() < v.cf.midi(),
            Voice::Below => v.cp.midi() > v.cf.midi(),
        }
    }

    /// The highest pitch of the counterpoint, and the notes that reach it.
    fn peaks(&self) -> (i32, Vec<&CpNote>) {
        let top = self.notes.iter().map(|x| x.tone.midi()).max().unwrap_or(0);
        let peaks = self.notes.iter().filter(|x| x.tone.midi() == top).collect();
        (top, peaks)
    }
}

/// The verticals: every onset of the counterpoint and every barline under a held note.
fn verticals(cf: &[SpelledPitch], notes: &[CpNote]) -> Vec<Vertical> {
    let end = cf.len() as u32 * BAR;
    let mut verts = Vec::new();
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
    verts
}

fn both_move(a: &Vertical, b: &Vertical) -> bool {
    a.cp.midi() != b.cp.midi() && a.cf.midi() != b.cf.midi()
}

/// The two voices at two verticals: `CP a, CP b, CF a, CF b`.
fn motion_labels(a: &Vertical, b: &Vertical) -> Vec<String> {
    vec![
        cp_label(a.cp),
        cp_label(b.cp),
        cf_label(a.cf),
        cf_label(b.cf),
    ]
}

fn pair_labels(v: &Vertical) -> Vec<String> {
    vec![cp_label(v.cp), cf_label(v.cf)]
}

fn perfect_name(class: u8) -> &'static str {
    if class == 5 {
        "fifths"
    } else {
        "octaves"
    }
}

fn consonant_strong_beats(p: &Piece) -> Vec<Violation> {
    p.dissonances()
        .filter(|(v, _)| p.wants_consonance(v))
        .map(|(v, h)| {
            violation(
                v.t,
                pair_labels(v),
                format!("dissonant {} on the downbeat", h.name()),
            )
        })
        .collect()
}

/// The faults, then the licences: a dissonant neighbour tone in 2nd species, where Fux
/// admits only the passing tone.
fn dissonance_treatment(p: &Piece) -> (Vec<Violation>, Vec<Violation>) {
    let mut out = Vec::new();
    let mut licences = Vec::new();
    for (v, h) in p.dissonances().filter(|(v, _)| !p.wants_consonance(v)) {
        let note = p.notes[v.idx];
        let prev = v.idx.checked_sub(1).map(|i| p.notes[i]);
        let next = p.notes.get(v.idx + 1).copied();
        let problem = if v.onset {
            passing_tone_fault(p.species, h, note, prev, next)
        } else {
            suspension_fault(p, v, h, note, next)
        };
        let mut who = pair_labels(v);
        if let Some(before) = prev.filter(|_| v.onset) {
            who.insert(0, cp_label(before.tone));
        }
        if let Some(detail) = problem {
            out.push(violation(v.t, who, detail));
        } else if v.onset && p.species == 2 && prev.zip(next).is_some_and(|(a, x)| a.tone == x.tone)
        {
            if let Some(after) = next {
                who.insert(2, cp_label(after.tone));
            }
            licences.push(violation(
                v.t,
                who,
                format!(
                    "a dissonant {} as a neighbour tone in 2nd species (licence): Fux admits only the passing tone here",
                    h.name()
                ),
            ));
        }
    }
    (out, licences)
}

/// What is wrong with a dissonance struck on a weak beat, if anything: it must be a passing
/// or neighbour tone, no longer than a half, approached and left by step.
fn passing_tone_fault(
    species: u8,
    h: Harmonic,
    note: CpNote,
    prev: Option<CpNote>,
    next: Option<CpNote>,
) -> Option<String> {
    if species == 1 {
        return Some(format!("dissonant {} in first species", h.name()));
    }
    if note.dur > 4 {
        return Some(format!("dissonant {} is longer than a half note", h.name()));
    }
    let (Some(p), Some(x)) = (prev, next) else {
        return Some(format!(
            "dissonant {} at the edge of the counterpoint",
            h.name()
        ));
    };
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

/// What is wrong with a dissonance held over the barline, if anything: it must be a
/// suspension Fux allows, prepared by a consonance and resolved down by step in its bar.
fn suspension_fault(
    p: &Piece,
    v: &Vertical,
    h: Harmonic,
    note: CpNote,
    next: Option<CpNote>,
) -> Option<String> {
    let prepared = harmonic(note.tone, p.cf_at(note.start)).is_consonant();
    let kind_ok = match p.voice {
        Voice::Above => {
            matches!((h.simple(), h.quality()), (6, 0) | (6, -1) | (3, 0))
                || (matches!((h.simple(), h.quality()), (1, 0) | (1, -1)) && h.generic >= 8)
        }
        Voice::Below => {
            matches!((h.simple(), h.quality()), (1, 0) | (1, -1) | (3, 0))
        }
    };
    let resolution = next.filter(|x| x.start < (v.t / BAR + 1) * BAR);
    if !matches!(p.species, 4 | 5) {
        return Some(format!("dissonant {} held over the barline", h.name()));
    }
    if !prepared {
        return Some(format!(
            "suspended {} is not prepared by a consonance",
            h.name()
        ));
    }
    if !kind_ok {
        return Some(format!(
            "{} is not a suspension Fux allows {}",
            h.name(),
            if p.voice == Voice::Above {
                "above (7-6, 4-3, 9-8)"
            } else {
                "below (2-3, 4-5)"
            }
        ));
    }
    let Some(x) = resolution else {
        return Some(format!("suspended {} is not resolved in its bar", h.name()));
    };
    let m = melodic(note.tone, x.tone);
    let rh = harmonic(x.tone, p.cf_at(x.start));
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

/// The perfect interval (5 or 8) two verticals both make, with the two intervals.
fn same_perfect(a: &Vertical, b: &Vertical) -> Option<(u8, Harmonic, Harmonic)> {
    let (ha, hb) = (harmonic(a.cp, a.cf), harmonic(b.cp, b.cf));
    match (ha.perfect_class(), hb.perfect_class()) {
        (Some(x), Some(y)) if x == y => Some((x, ha, hb)),
        _ => None,
    }
}

/// Parallels between neighbouring verticals, then between successive accents that are not
/// neighbours (2nd species on: the notes between do not hide them).
fn no_parallel_perfects(p: &Piece) -> Vec<Violation> {
    let mut out = Vec::new();
    for (a, b) in p.moves() {
        if let Some((class, ha, hb)) = same_perfect(a, b) {
            out.push(violation(
                b.t,
                motion_labels(a, b),
                format!(
                    "parallel {} ({} to {})",
                    perfect_name(class),
                    ha.name(),
                    hb.name()
                ),
            ));
        }
    }
    if p.species == 1 {
        return out;
    }
    for (a, b) in p.accented_moves() {
        let adjacent = p
            .verts
            .iter()
            .position(|v| v.t == a.t)
            .is_some_and(|i| p.verts.get(i + 1).is_some_and(|v| v.t == b.t));
        if adjacent {
            continue;
        }
        if let Some((class, ha, hb)) = same_perfect(a, b) {
            out.push(violation(
                b.t,
                motion_labels(a, b),
                format!(
                    "{} on successive {} ({} to {})",
                    perfect_name(class),
                    if p.species == 4 {
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
    out
}

fn no_direct_perfects(p: &Piece) -> Vec<Violation> {
    let mut out = Vec::new();
    for (a, b) in p.moves() {
        let (ha, hb) = (harmonic(a.cp, a.cf), harmonic(b.cp, b.cf));
        let parallel = ha.perfect_class().is_some() && ha.perfect_class() == hb.perfect_class();
        let similar = (b.cp.midi() - a.cp.midi()).signum() == (b.cf.midi() - a.cf.midi()).signum();
        if !parallel && hb.perfect_class().is_some() && similar {
            out.push(violation(
                b.t,
                motion_labels(a, b),
                format!("{} reached by similar motion from {}", hb.name(), ha.name()),
            ));
        }
    }
    out
}

fn no_inner_unisons(p: &Piece) -> Vec<Violation> {
    let first_t = p.notes[0].start;
    let last_bar_t = (p.bars() as u32 - 1) * BAR;
    p.verts
        .iter()
        .filter(|v| harmonic(v.cp, v.cf).is_unison() && v.t != first_t && v.t < last_bar_t)
        .map(|v| violation(v.t, pair_labels(v), "unison inside the counterpoint"))
        .collect()
}

/// No more than three parallel thirds or sixths in a row, then (but for 4th species) enough
/// contrary motion between accents.
fn contrary_motion_preferred(p: &Piece) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut parallel_run = 0;
    for w in p.verts.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let (ha, hb) = (harmonic(a.cp, a.cf), harmonic(b.cp, b.cf));
        let similar = (b.cp.midi() - a.cp.midi()).signum() == (b.cf.midi() - a.cf.midi()).signum();
        if both_move(a, b) && similar && ha.generic == hb.generic && ha.perfect_class().is_none() {
            parallel_run += 1;
            if parallel_run == 4 {
                out.push(violation(
                    b.t,
                    motion_labels(a, b),
                    format!("more than three parallel {}s in a row", hb.name()),
                ));
            }
        } else {
            parallel_run = 0;
        }
    }
    let moves = p.accented_moves();
    let both = moves.len();
    let contrary = moves
        .iter()
        .filter(|(a, b)| {
            (b.cp.midi() - a.cp.midi()).signum() != (b.cf.midi() - a.cf.midi()).signum()
        })
        .count();
    if p.species != 4 && both > 0 && contrary * 10 < both * 4 {
        out.push(violation(
            0,
            vec![],
            format!(
                "contrary motion in {contrary} of {both} moves where both voices move (40% needed)"
            ),
        ));
    }
    out
}

/// Allowed intervals, leaps recovered, no leaps piled up in one direction. A repeated note
/// or a tritone is its own rule's fault, not this one's.
fn leaps_limited(p: &Piece) -> Vec<Violation> {
    let notes = &p.notes;
    let mut out = Vec::new();
    for (i, w) in notes.windows(2).enumerate() {
        let (a, b) = (w[0], w[1]);
        let m = melodic(a.tone, b.tone);
        if m.is_repeat() || m.is_tritone() {
            continue;
        }
        if !m.is_step() && !m.is_allowed_leap() {
            out.push(violation(
                b.start,
                vec![cp_label(a.tone), cp_label(b.tone)],
                format!("forbidden interval {}", m.name()),
            ));
        }
        let Some(c) = notes.get(i + 2) else {
            continue;
        };
        let who = || vec![cp_label(a.tone), cp_label(b.tone), cp_label(c.tone)];
        let next = melodic(b.tone, c.tone);
        if m.size() >= 3 && !(next.is_step() && next.dir() == -m.dir()) {
            out.push(violation(
                c.start,
                who(),
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
                out.push(violation(
                    c.start,
                    who(),
                    format!(
                        "successive leaps {} and {} in one direction",
                        m.name(),
                        next.name()
                    ),
                ));
            }
        }
    }
    out
}

/// Augmented and diminished intervals the line outlines: the span of two or more leaps in a
/// row in one direction, and the interval from one turning point to the next (the first
/// note, each note where the direction changes, the last note). Spans of two moves or
/// more only: a single move is judged by `leaps_limited` and `no_tritone_leaps`.
fn outlines(notes: &[CpNote]) -> Vec<Violation> {
    let moves: Vec<Melodic> = notes
        .windows(2)
        .map(|w| melodic(w[0].tone, w[1].tone))
        .collect();
    // (first note, last note, outlined by leaps)
    let mut spans: Vec<(usize, usize, bool)> = Vec::new();
    let mut i = 0;
    while i < moves.len() {
        let dir = moves[i].dir();
        if !moves[i].is_leap() || dir == 0 {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while moves.get(j).is_some_and(|m| m.is_leap() && m.dir() == dir) {
            j += 1;
        }
        // Moves i..j are leaps in one direction, over notes i..=j.
        for a in i..j {
            spans.extend((a + 2..=j).map(|b| (a, b, true)));
        }
        i = j;
    }
    let mut turns = vec![0];
    let mut dir = 0;
    for (k, m) in moves.iter().enumerate() {
        let d = m.dir();
        if d == 0 {
            continue;
        }
        if dir != 0 && d != dir {
            turns.push(k);
        }
        dir = d;
    }
    if notes.len() > 1 {
        turns.push(notes.len() - 1);
    }
    spans.extend(
        turns
            .windows(2)
            .filter(|w| w[1] >= w[0] + 2)
            .map(|w| (w[0], w[1], false)),
    );
    spans.sort_by_key(|&(a, b, leaps)| (b, a, !leaps));
    spans.dedup_by_key(|&mut (a, b, _)| (a, b));
    spans
        .into_iter()
        .filter_map(|(a, b, leaps)| {
            let (from, to) = (notes[a].tone, notes[b].tone);
            let m = melodic(from, to);
            m.is_augmented_or_diminished().then(|| {
                let (interval, ends) = (m.name(), format!("{} to {}", from.name(), to.name()));
                let detail = if leaps {
                    format!(
                        "{} leaps in a row in one direction outline {interval} ({ends})",
                        b - a
                    )
                } else {
                    format!("the line outlines {interval} between its turning points ({ends})")
                };
                violation(
                    notes[b].start,
                    notes[a..=b].iter().map(|x| cp_label(x.tone)).collect(),
                    detail,
                )
            })
        })
        .collect()
}

fn single_climax(p: &Piece) -> Vec<Violation> {
    let (_, peaks) = p.peaks();
    peaks
        .iter()
        .skip(1)
        .map(|x| {
            violation(
                x.start,
                vec![cp_label(x.tone)],
                format!(
                    "the highest note {} is reached {} times",
                    x.tone.name(),
                    peaks.len()
                ),
            )
        })
        .collect()
}

fn no_tritone_leaps(p: &Piece) -> Vec<Violation> {
    p.notes
        .windows(2)
        .filter_map(|w| {
            let m = melodic(w[0].tone, w[1].tone);
            (!m.is_repeat() && m.is_tritone()).then(|| {
                violation(
                    w[1].start,
                    vec![cp_label(w[0].tone), cp_label(w[1].tone)],
                    format!("tritone leap {}", m.name()),
                )
            })
        })
        .collect()
}

fn perfect_beginning_and_end(p: &Piece) -> Vec<Violation> {
    let (cf, n) = (p.cf, p.bars());
    let mut out = Vec::new();
    let first = p.notes[0];
    let h0 = harmonic(first.tone, p.cf_at(first.start));
    let begin_ok = match p.voice {
        Voice::Above => h0.perfect_class().is_some(),
        Voice::Below => h0.perfect_class() == Some(8),
    };
    if !begin_ok {
        out.push(violation(
            first.start,
            vec![cp_label(first.tone), cf_label(p.cf_at(first.start))],
            format!("begins on {}", h0.name()),
        ));
    }
    let last = *p.notes.last().expect("notes");
    let hl = harmonic(last.tone, cf[n - 1]);
    if last.start / BAR != n as u32 - 1 || hl.perfect_class() != Some(8) {
        out.push(violation(
            last.start,
            vec![
                cp_label(last.tone),
                cf_label(cf[((last.start / BAR) as usize).min(n - 1)]),
            ],
            format!("ends on {}", hl.name()),
        ));
    }
    out
}

fn cadence(p: &Piece) -> Vec<Violation> {
    let (cf, n, notes) = (p.cf, p.bars(), &p.notes);
    let last = *notes.last().expect("notes");
    if notes.len() < 2 || n < 2 {
        return vec![violation(last.start, vec![], "too short for a cadence")];
    }
    let mut out = Vec::new();
    let pen = notes[notes.len() - 2];
    let (cf_pen, cf_last) = (cf[n - 2], cf[n - 1]);
    let mc = melodic(pen.tone, last.tone);
    let mf = melodic(cf_pen, cf_last);
    let who = vec![
        cp_label(pen.tone),
        cp_label(last.tone),
        cf_label(cf_pen),
        cf_label(cf_last),
    ];
    let mut fault = |detail: String| out.push(violation(last.start, who.clone(), detail));
    if pen.end() != last.start || pen.start / BAR + 1 != n as u32 - 1 {
        fault("the penultimate note does not lead into the final".into());
    }
    if !mc.is_step() {
        fault(format!(
            "the counterpoint reaches the final by {}, not by step",
            mc.name()
        ));
    }
    if !mf.is_step() {
        fault(format!(
            "the cantus firmus reaches its final by {}, not by step",
            mf.name()
        ));
    }
    if mc.dir() == mf.dir() || mc.dir() == 0 || mf.dir() == 0 {
        fault("the voices do not reach the final in contrary motion".into());
    }
    if mc.semis.abs() != 1 && mf.semis.abs() != 1 {
        fault("no half step into the final (no leading tone)".into());
    }
    out
}

/// Overlaps between neighbouring verticals, then crossings at any vertical.
fn no_voice_crossing(p: &Piece) -> Vec<Violation> {
    let mut out = Vec::new();
    for (a, b) in p.moves() {
        let crossed = match p.voice {
            Voice::Above => b.cp.midi() < a.cf.midi() || b.cf.midi() > a.cp.midi(),
            Voice::Below => b.cp.midi() > a.cf.midi() || b.cf.midi() < a.cp.midi(),
        };
        if crossed {
            out.push(violation(b.t, motion_labels(a, b), "voice overlap"));
        }
    }
    for v in p.verts.iter().filter(|v| p.wrong_side(v)) {
        out.push(violation(v.t, pair_labels(v), "the voices cross"));
    }
    out
}

fn no_repeated_notes(p: &Piece) -> Vec<Violation> {
    p.notes
        .windows(2)
        .filter(|w| melodic(w[0].tone, w[1].tone).is_repeat())
        .map(|w| {
            violation(
                w[1].start,
                vec![cp_label(w[0].tone), cp_label(w[1].tone)],
                "repeated note",
            )
        })
        .collect()
}

/// The voices never more than a twelfth apart, then the counterpoint's own span.
fn range(p: &Piece) -> Vec<Violation> {
    let mut out: Vec<Violation> = p
        .verts
        .iter()
        .filter(|v| (v.cp.midi() - v.cf.midi()).abs() > 19)
        .map(|v| {
            violation(
                v.t,
                pair_labels(v),
                format!(
                    "the voices are {} apart, more than a twelfth",
                    harmonic(v.cp, v.cf).name()
                ),
            )
        })
        .collect();
    let (top, peaks) = p.peaks();
    let bottom = p.notes.iter().map(|x| x.tone.midi()).min().unwrap_or(0);
    if top - bottom > 19 {
        let lo = p
            .notes
            .iter()
            .find(|x| x.tone.midi() == bottom)
            .map(|x| x.tone)
            .unwrap_or(p.notes[0].tone);
        out.push(violation(
            0,
            vec![cp_label(lo), cp_label(peaks[0].tone)],
            format!(
                "the counterpoint spans {} semitones, more than a twelfth",
                top - bottom
            ),
        ));
    }
    out
}

/// The rules' results from each rule's faults and licences, in the order of [`RULES`].
fn finish(found: Vec<(Vec<Violation>, Vec<Violation>)>) -> Vec<RuleResult> {
    RULES
        .iter()
        .zip(found)
        .map(|((id, description), (violations, licences))| RuleResult {
            id,
            description,
            passed: violations.is_empty(),
            violations,
            licences,
        })
        .collect()
}

/// Passed rules over all rules, as a fraction; a licence taken does not count against a
/// rule.
pub fn compliance(results: &[RuleResult]) -> f64 {
    if results.is_empty() {
        return 0.0;
    }
    results.iter().filter(|r| r.passed).count() as f64 / results.len() as f64
}

/// Rules kept strictly (passed, and no licence taken) over all rules, as a fraction.
pub fn strict_compliance(results: &[RuleResult]) -> f64 {
    if results.is_empty() {
        return 0.0;
    }
    results.iter().filter(|r| r.kept_strictly()).count() as f64 / results.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::counterpoint::{detect_mode, generate, tones};

    /// A first-species line: one whole note a bar.
    fn whole_notes(pitches: &[SpelledPitch]) -> Vec<CpNote> {
        pitches
            .iter()
            .enumerate()
            .map(|(i, t)| CpNote {
                start: i as u32 * BAR,
                dur: BAR,
                tone: *t,
            })
            .collect()
    }

    #[test]
    fn the_checker_passes_fux_and_finds_planted_faults() {
        let cf = tones("D4 F4 E4 D4 G4 F4 A4 G4 F4 E4 D4");
        // A first-species line above the Dorian cantus firmus that keeps every rule.
        let good = tones("A4 D5 C5 F5 E5 D5 C5 E5 D5 C#5 D5");
        let notes = whole_notes(&good);
        let results = check(&cf, &notes, 1, Voice::Above);
        let failed: Vec<&RuleResult> = results.iter().filter(|r| !r.passed).collect();
        assert!(failed.is_empty(), "{failed:#?}");
        assert_eq!(compliance(&results), 1.0);

        // Repeated notes and a second climax are found where they are.
        let mut twice = notes.clone();
        twice[5].tone = SpelledPitch::parse("F5").unwrap();
        twice[6].tone = SpelledPitch::parse("F5").unwrap();
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
        bad[1].tone = SpelledPitch::parse("B4").unwrap(); // F4 - B4: a tritone against the CF
        bad[2].tone = SpelledPitch::parse("A4").unwrap();
        let results = check(&cf, &bad, 1, Voice::Above);
        let strong = results
            .iter()
            .find(|r| r.id == "consonant_strong_beats")
            .unwrap();
        assert!(!strong.passed);
        assert_eq!(strong.violations[0].measure, 2);
        let parallels = tones("A4 C5 B4 A4 D5 C5 E5 D5 C5 B4 A4");
        let notes = whole_notes(&parallels);
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

    fn outlined(names: &str) -> Vec<Violation> {
        outlines(&whole_notes(&tones(names)))
    }

    #[test]
    fn outlined_augmented_and_diminished_intervals_are_found() {
        // Two rising thirds C-E-G#: an augmented fifth.
        let found = outlined("B3 C4 E4 G#4 A4");
        assert_eq!(found.len(), 1, "{found:#?}");
        let v = &found[0];
        assert_eq!((v.measure, v.beat), (4, 1.0));
        assert_eq!(v.notes, ["CP C4", "CP E4", "CP G#4"]);
        assert!(
            v.detail.contains("2 leaps") && v.detail.contains("A5 up"),
            "{}",
            v.detail
        );
        // The same sound spelled as a minor sixth is no fault: C-Eb-Ab.
        assert!(outlined("Bb3 C4 Eb4 Ab4 G4").is_empty());

        // By steps, between turning points: C up to G# and back (A5), F up to B (A4), a
        // descent from F5 to B4 (d5) before the line turns up.
        let found = outlined("C4 D4 E4 F#4 G#4 E4");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].measure, 5);
        assert!(
            found[0].detail.contains("turning points") && found[0].detail.contains("A5 up"),
            "{}",
            found[0].detail
        );
        let found = outlined("F4 G4 A4 B4 A4");
        assert!(
            found.len() == 1 && found[0].detail.contains("A4 up"),
            "{found:#?}"
        );
        let found = outlined("A4 D5 C5 F5 E5 D5 C5 B4 D5 C#5 D5");
        assert!(
            found.len() == 1 && found[0].detail.contains("d5 down") && found[0].measure == 8,
            "{found:#?}"
        );
        // A descent G4-C#4 before the final D4 (d5); the last note is a turning point: a
        // rise G#4-D5 into it (d5); the leap run F-A-C# into the cadence (A5).
        let found = outlined("G4 F4 E4 D4 C#4 D4");
        assert!(
            found.len() == 1 && found[0].detail.contains("d5 down") && found[0].measure == 5,
            "{found:#?}"
        );
        let found = outlined("A4 G#4 A4 B4 C5 D5");
        assert!(
            found.len() == 1 && found[0].detail.contains("d5 up") && found[0].measure == 6,
            "{found:#?}"
        );
        let found = outlined("G3 E3 F3 A3 C#4 D4");
        assert!(
            found.iter().any(|v| v.detail.contains("A5 up")),
            "{found:#?}"
        );
        // A diminished seventh by three leaps down: F5-D5-B4-G#4.
        let found = outlined("E5 F5 D5 B4 G#4 A4");
        assert!(
            found.iter().any(|v| v.detail.contains("d7 down")),
            "{found:#?}"
        );
        // Clean lines: a consonant triad outlined, steps inside a fifth, Fux-like shapes.
        for clean in [
            "A4 D5 C5 F5 E5 D5 C5 E5 D5 C#5 D5",
            "C4 E4 G4 F4 E4 D4 C4",
            "D4 E4 F4 G4 A4 G4 F4 E4 D4",
            "A3 C4 B3 E4 D4 C4 D4 B3 A3",
            "D4 F4 E4 D4 G4 F4 A4 G4 F4 E4 D4",
        ] {
            let found = outlined(clean);
            assert!(found.is_empty(), "{clean}: {found:#?}");
        }
    }

    #[test]
    fn licences_are_counted_apart_from_faults() {
        let cf = tones("D4 F4 E4 D4 G4 F4 A4 G4 F4 E4 D4");
        let good = whole_notes(&tones("A4 D5 C5 F5 E5 D5 C5 E5 D5 C#5 D5"));
        let results = check(&cf, &good, 1, Voice::Above);
        assert!(results.iter().all(RuleResult::kept_strictly));
        assert_eq!(strict_compliance(&results), 1.0);
        // Second species with a dissonant lower neighbour: A4 G4 A4 over D4 and F4, the
        // G4 a fourth above D4 on the third beat.
        let halves = |names: &str| -> Vec<CpNote> {
            tones(names)
                .iter()
                .enumerate()
                .map(|(i, t)| CpNote {
                    start: i as u32 * 4,
                    dur: 4,
                    tone: *t,
                })
                .collect()
        };
        let cf = tones("D4 F4 E4");
        let mut line = halves("A4 G4 A4 C5");
        line.push(CpNote {
            start: 2 * BAR,
            dur: BAR,
            tone: SpelledPitch::parse("E5").unwrap(),
        });
        let results = check(&cf, &line, 2, Voice::Above);
        let diss = results
            .iter()
            .find(|r| r.id == "dissonance_treatment")
            .unwrap();
        assert!(diss.passed, "{diss:#?}");
        assert_eq!(diss.licences.len(), 1, "{diss:#?}");
        assert_eq!((diss.licences[0].measure, diss.licences[0].beat), (1, 3.0));
        assert!(!diss.kept_strictly());
        assert!(strict_compliance(&results) < compliance(&results));
    }
}
