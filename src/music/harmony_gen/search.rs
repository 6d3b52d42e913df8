//! The search: dynamic programming (Viterbi) over (chord, voicing) states, one layer per span.
//!
//! A state's own cost is the chord's (how rare it is, how it fits the melody, what a phrase end
//! asks of it) plus its voicing's (ranges, spacing, doubling, inversion). A transition's cost is
//! the progression's (functional grammar, retrogressions, cadences) plus the voice leading's
//! (parallel and hidden fifths and octaves, overlaps, leaps, augmented steps, sevenths that do
//! not fall by step, leading tones that do not rise). The best path is exact for these costs.
//!
//! Costs compare first; the seed only adds a second, tie-breaking key, so two paths of equal
//! cost are chosen between by the seed and a path of lower cost is never lost to it.

use super::spans::{MelStats, Span};
use super::theory::{ChordDef, KeyDef, Member, Quality, Role, Style, Tone};

/// A cost that no alternative should ever pay: a rule broken outright.
pub const HARD: i64 = 100_000;

/// At most this many transitions are evaluated; beyond it the voicings kept per chord shrink.
pub const TRANSITION_BUDGET: u64 = 150_000_000;

/// Voices below the melody, top to bottom.
pub const MAX_LOWER: usize = 4;

/// A voicing of the voices below the melody.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Voicing {
    pub n: u8,
    /// MIDI numbers, top to bottom.
    pub p: [i32; MAX_LOWER],
    /// Index of each pitch's tone in the chord's palette.
    pub tone: [u8; MAX_LOWER],
}

impl Voicing {
    pub fn pitches(&self) -> &[i32] {
        &self.p[..self.n as usize]
    }
}

/// One state of a layer.
#[derive(Clone, Debug)]
pub struct State {
    /// Index into the vocabulary.
    pub chord: usize,
    pub voicing: Voicing,
    /// The state's own cost (chord and voicing).
    pub cost: i64,
    pub chord_cost: i64,
    /// Seeded tie-breaker.
    pub noise: u64,
    /// Whether the voicing needed relaxed rules (outside a range, wide spacing).
    pub relaxed: bool,
}

/// Cost of one transition, by kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct TransitionCost {
    pub progression: i64,
    pub motion: i64,
    pub tendency: i64,
}

impl TransitionCost {
    pub fn total(&self) -> i64 {
        self.progression + self.motion + self.tendency
    }
}

/// The tones a chord may be voiced with: its members, and for jazz its tensions.
pub fn palette(chord: &ChordDef, style: Style, key: &KeyDef) -> Vec<(Tone, Member)> {
    let mut out = chord.tones.clone();
    if style == Style::Jazz && !matches!(chord.quality, Quality::Diminished7) {
        // The ninth, and over a dominant seventh the thirteenth: flattened where the
        // dominant leads to a minor chord (the key's own dominant in minor, or an applied
        // dominant of a minor chord).
        let to_minor = chord.quality == Quality::Dominant7
            && match chord.role {
                Role::Applied { .. } => !chord.target_upper,
                _ => key.minor && chord.degree == 4,
            };
        if to_minor {
            out.push((chord.root.up(1, 1), Member::Added));
            out.push((chord.root.up(5, 8), Member::Added));
        } else {
            out.push((chord.root.up(1, 2), Member::Added));
            if chord.quality == Quality::Dominant7 {
                out.push((chord.root.up(5, 9), Member::Added));
            }
        }
    }
    out
}

/// Style-dependent weights.
#[derive(Clone, Copy, Debug)]
pub struct Weights {
    /// Parallel fifths or octaves between two accompanying voices.
    pub parallel: i64,
    /// ... between the melody and an inner voice.
    pub parallel_melody: i64,
    /// ... between the melody and the bass.
    pub parallel_outer: i64,
    /// ... between the bass and another accompanying voice.
    pub parallel_bass: i64,
    pub hidden_outer_step: i64,
    pub hidden_outer_leap: i64,
    pub hidden_inner: i64,
    pub overlap: i64,
    pub seventh: i64,
    pub leading_outer: i64,
    pub leading_inner: i64,
    pub augmented: i64,
    pub chord_scale: i64,
    pub progression_scale: i64,
    /// Index of the lower voice that is the bass (for outer-voice rules), if any.
    pub bass: usize,
}

impl Weights {
    pub fn of(style: Style) -> Self {
        match style {
            Style::Chorale | Style::Classical => Self {
                parallel: HARD,
                parallel_melody: HARD,
                parallel_outer: HARD,
                parallel_bass: HARD,
                hidden_outer_step: 40,
                hidden_outer_leap: 160,
                hidden_inner: 4,
                overlap: 400,
                seventh: 220,
                leading_outer: 160,
                leading_inner: 25,
                augmented: 150,
                chord_scale: 6,
                progression_scale: 6,
                bass: 2,
            },
            Style::Pop => Self {
                parallel: 6,
                parallel_melody: 20,
                parallel_outer: 40,
                parallel_bass: 6,
                hidden_outer_step: 10,
                hidden_outer_leap: 30,
                hidden_inner: 2,
                overlap: 4,
                seventh: 10,
                leading_outer: 10,
                leading_inner: 3,
                augmented: 20,
                chord_scale: 6,
                progression_scale: 6,
                bass: 2,
            },
            Style::Jazz => Self {
                parallel: 6,
                parallel_melody: 30,
                parallel_outer: 200,
                parallel_bass: 40,
                hidden_outer_step: 10,
                hidden_outer_leap: 30,
                hidden_inner: 1,
                overlap: 4,
                seventh: 40,
                leading_outer: 10,
                leading_inner: 5,
                augmented: 20,
                chord_scale: 6,
                progression_scale: 6,
                bass: 3,
            },
        }
    }
}

/// Everything the search reads.
pub struct Problem<'a> {
    pub key: KeyDef,
    pub style: Style,
    pub vocab: &'a [ChordDef],
    pub palettes: Vec<Vec<(Tone, Member)>>,
    pub spans: &'a [Span],
    pub seed: u64,
    pub weights: Weights,
}

/// What the search found.
pub struct Solution {
    /// The chosen state of each span.
    pub path: Vec<State>,
    pub total_cost: i64,
    pub states: usize,
    pub transitions: u64,
    pub candidate_chords: usize,
    pub relaxed_spans: usize,
    pub voicings_per_chord: usize,
    pub breakdown: Breakdown,
}

/// The chosen path's cost by kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct Breakdown {
    pub chords: i64,
    pub voicing: i64,
    pub progression: i64,
    pub motion: i64,
    pub tendency: i64,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn noise(seed: u64, span: usize, chord: usize, v: &Voicing) -> u64 {
    if seed == 0 {
        return 0;
    }
    let mut h = splitmix(seed ^ (span as u64).wrapping_mul(0x1000_0001));
    h = splitmix(h ^ chord as u64);
    for p in v.pitches() {
        h = splitmix(h ^ (*p as u64));
    }
    h % 1024
}

/// MIDI numbers of a tone within a range.
fn pitches_in(tone: Tone, lo: i32, hi: i32) -> Vec<i32> {
    let pc = tone.pc();
    (lo..=hi).filter(|m| m.rem_euclid(12) == pc).collect()
}

// ---------------------------------------------------------------- chord costs

/// The cost of a chord on a span, before voicing; `None` when it cannot stand there.
pub fn chord_cost(problem: &Problem<'_>, span: &Span, chord_index: usize) -> Option<i64> {
    let chord = &problem.vocab[chord_index];
    let key = &problem.key;
    let w = &problem.weights;
    let mut cost = chord.base_cost * w.chord_scale;
    if problem.style.four_part() {
        let mel = span.mel.as_ref()?;
        chord.member_of(mel.first.tone.pc())?;
        if matches!(chord.role, Role::Cadential64) && span.weight == 0 {
            cost += 30;
        }
    } else {
        let palette = &problem.palettes[chord_index];
        for note in &span.fit {
            let in_chord = chord.member_of(note.pc).is_some();
            let tension = palette
                .iter()
                .any(|(t, m)| *m == Member::Added && t.pc() == note.pc);
            let per = if in_chord {
                0.0
            } else if tension && problem.style == Style::Jazz {
                2.0
            } else {
                let avoid = chord
                    .tones
                    .iter()
                    .any(|(t, _)| (note.pc - t.pc()).rem_euclid(12) == 1);
                if avoid {
                    14.0
                } else {
                    10.0
                }
            };
            cost += (per * note.weight * 2.0).round() as i64;
            if note.at_start && !in_chord && !(tension && problem.style == Style::Jazz) {
                cost += 24;
            }
        }
    }
    // Phrase ends and the end of the piece.
    if span.last {
        // The tonic; where the melody ends off it, the dominant (a Phrygian or half close).
        if chord.is_tonic(key) {
            if chord.quality.is_seventh() && problem.style != Style::Jazz {
                cost += 40;
            }
        } else if chord.is_dominant() && chord.degree == 4 && !chord.quality.is_seventh() {
            cost += 120;
        } else {
            cost += if chord.quality.is_seventh() { 240 } else { 200 };
        }
    } else if span.phrase_end {
        let ok = chord.is_tonic(key)
            || (chord.is_dominant() && chord.degree == 4)
            || (matches!(chord.role, Role::Diatonic)
                && matches!(chord.degree, 5 | 2)
                && !chord.quality.is_seventh()
                && problem.style.four_part());
        if !ok {
            cost += if problem.style.four_part() { 60 } else { 12 };
        }
        if chord.quality.is_seventh() && problem.style.four_part() {
            cost += 30;
        }
    }
    if span.phrase_start && !span.last && problem.style.four_part() {
        let start_of_piece = span.start <= problem.spans.first().map_or(0.0, |s| s.start) + 1e-9;
        if start_of_piece && !chord.is_tonic(key) {
            cost += if chord.is_dominant() { 15 } else { 40 };
        }
    }
    Some(cost)
}

/// Chromatic triads for a melody note no chord of the vocabulary holds.
pub fn fallback_chords(key: &KeyDef, tone: Tone) -> Vec<ChordDef> {
    let mut out = Vec::new();
    let roots = [
        (tone, Quality::Major),
        (tone, Quality::Minor),
        (tone.up(5, 8), Quality::Major),
        (tone.up(5, 9), Quality::Minor),
        (tone.up(3, 5), Quality::Major),
        (tone.up(3, 5), Quality::Minor),
    ];
    for (root, quality) in roots {
        let degree = (root.letter + 7 - key.tonic.letter) % 7;
        out.push(ChordDef::chromatic(key, root, degree, quality, 20));
    }
    out
}

// ---------------------------------------------------------------- voicings

struct Ranges {
    lower: [(i32, i32); MAX_LOWER],
    comfort: [(i32, i32); MAX_LOWER],
}

fn four_part_ranges(relaxed: bool) -> Ranges {
    if relaxed {
        Ranges {
            lower: [(50, 76), (45, 69), (38, 62), (0, 0)],
            comfort: [(57, 72), (50, 65), (41, 57), (0, 0)],
        }
    } else {
        Ranges {
            lower: [(55, 74), (48, 67), (40, 60), (0, 0)],
            comfort: [(57, 72), (50, 65), (41, 57), (0, 0)],
        }
    }
}

/// Four-part voicings (alto, tenor, bass under the given soprano) with their costs.
fn four_part_voicings(
    chord: &ChordDef,
    palette: &[(Tone, Member)],
    mel: &MelStats,
    relaxed: bool,
) -> Vec<(Voicing, i64)> {
    let ranges = four_part_ranges(relaxed);
    let Some((s_index, s_member)) = chord.member_of(mel.first.tone.pc()) else {
        return Vec::new();
    };
    let s = mel.first.midi();
    let spacing = if relaxed { 16 } else { 12 };
    let candidates = |voice: usize| -> Vec<(i32, usize)> {
        let (lo, hi) = ranges.lower[voice];
        let mut out = Vec::new();
        for (i, (t, _)) in palette.iter().enumerate() {
            for m in pitches_in(*t, lo, hi) {
                out.push((m, i));
            }
        }
        out
    };
    let altos = candidates(0);
    let tenors = candidates(1);
    let basses = candidates(2);
    let lt_pc = chord.leading_tone.map(|t| t.pc());
    let mut out = Vec::new();
    for &(b, bi) in &basses {
        let bass_member = palette[bi].1;
        if matches!(chord.role, Role::Cadential64) && bass_member != Member::Fifth {
            continue;
        }
        for &(t, ti) in &tenors {
            if t < b || t - b > 24 {
                continue;
            }
            for &(a, ai) in &altos {
                if a < t || a > mel.min || a > s || a - t > spacing || s - a > spacing {
                    continue;
                }
                let members = [s_index, ai, ti, bi];
                let Some(cost) = four_part_cost(
                    chord,
                    palette,
                    &members,
                    [s, a, t, b],
                    s_member,
                    lt_pc,
                    relaxed,
                    &ranges,
                ) else {
                    continue;
                };
                out.push((
                    Voicing {
                        n: 3,
                        p: [a, t, b, 0],
                        tone: [ai as u8, ti as u8, bi as u8, 0],
                    },
                    cost,
                ));
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn four_part_cost(
    chord: &ChordDef,
    palette: &[(Tone, Member)],
    members: &[usize; 4],
    p: [i32; 4],
    _s_member: Member,
    lt_pc: Option<i32>,
    relaxed: bool,
    ranges: &Ranges,
) -> Option<i64> {
    let [s, a, t, b] = p;
    let mut count = [0u8; 5];
    let idx = |m: Member| match m {
        Member::Root => 0,
        Member::Third => 1,
        Member::Fifth => 2,
        Member::Seventh => 3,
        Member::Added => 4,
    };
    for &i in members {
        count[idx(palette[i].1)] += 1;
    }
    let mut cost = 0i64;
    let seventh = chord.quality.is_seventh();
    if count[1] == 0 || count[0] == 0 {
        return None;
    }
    if seventh && count[3] == 0 {
        return None;
    }
    if count[3] > 1 {
        if !relaxed {
            return None;
        }
        cost += 400;
    }
    if let Some(lt) = lt_pc {
        let doubled = p.iter().filter(|m| m.rem_euclid(12) == lt).count();
        if doubled > 1 {
            if !relaxed {
                return None;
            }
            cost += 400;
        }
    }
    let diminished = matches!(chord.quality, Quality::Diminished);
    let minor = matches!(chord.quality, Quality::Minor);
    if seventh {
        if count[2] == 0 {
            cost += if count[0] == 2 { 3 } else { 25 };
        }
    } else if matches!(chord.role, Role::Cadential64) {
        // Double the bass (the fifth).
        cost += match (count[0], count[1], count[2]) {
            (1, 1, 2) => 0,
            (2, 1, 1) => 3,
            _ => 12,
        };
    } else {
        cost += match (count[0], count[1], count[2]) {
            (2, 1, 1) => {
                if diminished {
                    8
                } else {
                    0
                }
            }
            (1, 1, 2) => 4,
            (1, 2, 1) => {
                if diminished {
                    0
                } else if minor {
                    3
                } else {
                    8
                }
            }
            (3, 1, 0) => 6,
            (2, 2, 0) => 16,
            _ => 30,
        };
    }
    // Inversion.
    let bass_member = palette[members[3]].1;
    cost += match (seventh, bass_member) {
        _ if matches!(chord.role, Role::Cadential64) => 0,
        (false, Member::Root) => {
            if diminished {
                16
            } else {
                0
            }
        }
        (false, Member::Third) => {
            if diminished {
                0
            } else {
                4
            }
        }
        (false, _) => 60,
        (true, Member::Root) => 0,
        (true, Member::Third) => 2,
        (true, Member::Fifth) => 4,
        (true, _) => 6,
    };
    // Unisons and spacing.
    if a == s {
        cost += 10;
    }
    if t == a {
        cost += 6;
    }
    if b == t {
        cost += 12;
    }
    if t - b > 12 {
        cost += (t - b - 12) as i64 * 2;
    }
    if s - a > 12 || a - t > 12 {
        cost += 200;
    }
    // Registers.
    for (voice, m) in [a, t, b].into_iter().enumerate() {
        let (lo, hi) = ranges.comfort[voice];
        if m < lo {
            cost += (lo - m) as i64 * 2;
        }
        if m > hi {
            cost += (m - hi) as i64 * 2;
        }
        let (rlo, rhi) = four_part_ranges(false).lower[voice];
        if m < rlo || m > rhi {
            cost += 300;
        }
    }
    Some(cost)
}

/// Accompaniment voicings for pop (three notes, C3-C5) and jazz (three piano notes with the
/// third and seventh, C3-C5, and the root in the bass, E2-G3).
fn accompaniment_voicings(
    chord: &ChordDef,
    palette: &[(Tone, Member)],
    mel: Option<&MelStats>,
    style: Style,
    relaxed: bool,
) -> Vec<(Voicing, i64)> {
    let (lo, hi) = (48, 72);
    let ceiling = mel.map_or(hi, |m| m.min - 1);
    let mut pool: Vec<(i32, usize)> = Vec::new();
    for (i, (t, member)) in palette.iter().enumerate() {
        if style == Style::Pop
            && *member == Member::Added
            && chord.quality != Quality::Sus4
            && chord.quality != Quality::Major6
        {
            continue;
        }
        for m in pitches_in(*t, lo, hi) {
            pool.push((m, i));
        }
    }
    pool.sort();
    let mut out = Vec::new();
    let n = pool.len();
    for x in 0..n {
        for y in x + 1..n {
            for z in y + 1..n {
                let (p0, i0) = pool[x];
                let (p1, i1) = pool[y];
                let (p2, i2) = pool[z];
                if p0 == p1 || p1 == p2 || i0 == i1 || i1 == i2 || i0 == i2 {
                    continue;
                }
                let spread = p2 - p0;
                if spread > if relaxed { 16 } else { 12 } {
                    continue;
                }
                let members = [palette[i0].1, palette[i1].1, palette[i2].1];
                let has = |m: Member| members.contains(&m);
                let ok = match (style, chord.quality) {
                    (_, Quality::Sus4) => {
                        has(Member::Root) && has(Member::Added) && has(Member::Fifth)
                    }
                    (_, Quality::Major6) => has(Member::Third) && has(Member::Added),
                    (Style::Jazz, q) if q.is_seventh() => {
                        has(Member::Third) && has(Member::Seventh)
                    }
                    (Style::Jazz, _) => has(Member::Third) && has(Member::Root),
                    (_, q) if q.is_seventh() => has(Member::Third) && has(Member::Seventh),
                    _ => has(Member::Root) && has(Member::Third) && has(Member::Fifth),
                };
                if !ok {
                    continue;
                }
                let mut cost = 0i64;
                if p2 > ceiling {
                    if !relaxed {
                        continue;
                    }
                    cost += 500;
                }
                // Keep the hand in the middle of its range.
                let centre = (p0 + p1 + p2) as f64 / 3.0;
                cost += ((centre - 58.0).abs() / 2.0).round() as i64;
                if style == Style::Pop && palette[i0].1 == Member::Root {
                    cost -= 1;
                }
                if style == Style::Jazz {
                    // The bass: the root, below the piano.
                    let root = chord.root;
                    let root_index = palette
                        .iter()
                        .position(|(t, m)| *t == root && *m == Member::Root)
                        .unwrap_or(0);
                    for bass in pitches_in(root, 40, 55) {
                        if bass >= p0 {
                            continue;
                        }
                        let mut c = cost;
                        if bass > 52 {
                            c += (bass - 52) as i64;
                        }
                        if p0 - bass > 19 {
                            c += (p0 - bass - 19) as i64;
                        }
                        out.push((
                            Voicing {
                                n: 4,
                                p: [p2, p1, p0, bass],
                                tone: [i2 as u8, i1 as u8, i0 as u8, root_index as u8],
                            },
                            c,
                        ));
                    }
                } else {
                    out.push((
                        Voicing {
                            n: 3,
                            p: [p2, p1, p0, 0],
                            tone: [i2 as u8, i1 as u8, i0 as u8, 0],
                        },
                        cost,
                    ));
                }
            }
        }
    }
    out
}

/// The voicings of a chord on a span, best first, at most `keep`.
pub fn voicings(
    problem: &Problem<'_>,
    span: &Span,
    chord_index: usize,
    relaxed: bool,
    keep: usize,
) -> Vec<(Voicing, i64)> {
    let chord = &problem.vocab[chord_index];
    let palette = &problem.palettes[chord_index];
    let mut all = if problem.style.four_part() {
        match span.mel.as_ref() {
            Some(mel) => four_part_voicings(chord, palette, mel, relaxed),
            None => Vec::new(),
        }
    } else {
        accompaniment_voicings(chord, palette, span.mel.as_ref(), problem.style, relaxed)
    };
    all.sort_by(|x, y| x.1.cmp(&y.1).then_with(|| x.0.p.cmp(&y.0.p)));
    all.truncate(keep);
    all
}

// ---------------------------------------------------------------- transitions

/// The progression cost from one chord to the next.
pub fn progression_cost(
    problem: &Problem<'_>,
    prev: &ChordDef,
    prev_span: &Span,
    next: &ChordDef,
    next_span: &Span,
    same_voicing: bool,
) -> i64 {
    let core = progression_core(problem, prev, prev_span, next, next_span, same_voicing);
    if next_span.last && prev != next {
        core + final_cadence_cost(problem, prev, next)
    } else {
        core
    }
}

/// How the piece ends: V(7) -> I best; viio -> I, IV -> I (plagal, usual in pop) after; a
/// final dominant (a Phrygian or half close, where the melody ends off the tonic chord)
/// after a predominant; anything else last.
fn final_cadence_cost(problem: &Problem<'_>, prev: &ChordDef, next: &ChordDef) -> i64 {
    let style = problem.style;
    let four = style.four_part();
    let diatonic = matches!(prev.role, Role::Diatonic);
    if next.is_tonic(&problem.key) {
        if prev.is_dominant() && prev.degree == 4 {
            0
        } else if prev.is_dominant() {
            30
        } else if diatonic && prev.degree == 3 {
            if four {
                50
            } else {
                6
            }
        } else if !four && diatonic && prev.degree == 6 {
            6
        } else {
            80
        }
    } else if next.is_dominant() && next.degree == 4 && !next.quality.is_seventh() {
        let predominant = diatonic && matches!(prev.degree, 1 | 3 | 5)
            || matches!(prev.role, Role::Applied { target: 4 });
        if predominant {
            10
        } else {
            40
        }
    } else {
        120
    }
}

fn progression_core(
    problem: &Problem<'_>,
    prev: &ChordDef,
    prev_span: &Span,
    next: &ChordDef,
    next_span: &Span,
    same_voicing: bool,
) -> i64 {
    let key = &problem.key;
    let style = problem.style;
    let scale = problem.weights.progression_scale;
    let same_chord = prev == next;
    if same_chord {
        let weak_to_strong = next_span.weight > prev_span.weight && next_span.weight == 2;
        return match style {
            Style::Chorale => {
                if weak_to_strong {
                    60
                } else if same_voicing {
                    20
                } else {
                    12
                }
            }
            Style::Classical => {
                if weak_to_strong {
                    40
                } else if same_voicing {
                    0
                } else {
                    4
                }
            }
            // A chord may be held over a bar, not for ever.
            Style::Pop => {
                if next_span.weight == 2 {
                    6
                } else {
                    0
                }
            }
            Style::Jazz => {
                if next_span.weight == 2 {
                    10
                } else {
                    0
                }
            }
        };
    }
    let mut cost = 0i64;
    // Harmonic rhythm: in the classical style change chords on strong beats, hold on weak.
    if style == Style::Classical && next_span.weight == 0 {
        cost += 14;
    }
    if matches!(style, Style::Pop) && next_span.weight < 2 {
        cost += 10;
    }
    if matches!(style, Style::Jazz) && next_span.weight < 2 {
        cost += 4;
    }
    // The classical cadence: the dominant before a phrase end approached from the cadential
    // six-four or a predominant.
    if style == Style::Classical
        && next_span.before_cadence
        && next.is_dominant()
        && next.degree == 4
        && !matches!(prev.role, Role::Cadential64)
    {
        let predominant = matches!(prev.role, Role::Applied { target: 4 })
            || matches!(prev.role, Role::Diatonic) && matches!(prev.degree, 1 | 3);
        cost += if predominant { 6 } else { 15 };
    }
    // Cadential six-four.
    if let Role::Cadential64 = prev.role {
        // It resolves to V, on a beat no stronger than its own.
        let to_dominant = next.is_dominant() && next.degree == 4;
        let weaker = next_span.weight <= prev_span.weight;
        return cost + if to_dominant { 0 } else { 80 } + if weaker { 0 } else { 25 };
    }
    if let Role::Cadential64 = next.role {
        let from_predominant = matches!(prev.role, Role::Diatonic) && matches!(prev.degree, 1 | 3)
            || matches!(prev.role, Role::Applied { target: 4 });
        cost += if from_predominant { 0 } else { 8 };
        if next_span.weight <= prev_span.weight && next_span.weight < 2 {
            cost += 20;
        }
        return cost;
    }
    // Applied chords lead to their target.
    if let Role::Applied { target } = prev.role {
        let resolves = matches!(next.role, Role::Diatonic)
            && next.degree == target
            && next.root.pc() == key.degree(target, 0).pc();
        let chains = matches!(next.role, Role::Applied { target: t } if (t + 3) % 7 == target);
        let into_cad64 = target == 4 && matches!(next.role, Role::Cadential64);
        return cost
            + if resolves || into_cad64 {
                0
            } else if chains {
                2 * scale
            } else if matches!(next.role, Role::Diatonic) && next.degree == (target + 5) % 7 {
                // deceptive resolution of an applied dominant
                4 * scale
            } else {
                14 * scale
            };
    }
    let from = prev.degree as usize;
    let to = match next.role {
        Role::Applied { target } => {
            // An applied chord acts as a predominant to its target: judge the motion into the
            // target's own predecessor, loosely.
            let _ = target;
            return cost + scale;
        }
        _ => next.degree as usize,
    };
    // Minor's natural subtonic leads to III.
    if key.minor && from == 6 && !prev.is_dominant() {
        return cost
            + if to == 2 {
                0
            } else if to == 0 || to == 5 {
                2 * scale
            } else {
                5 * scale
            };
    }
    let table: [[i64; 7]; 7] = match style {
        Style::Pop => [
            [2, 1, 3, 0, 0, 0, 4],
            [5, 2, 5, 2, 0, 4, 4],
            [4, 3, 2, 0, 4, 0, 6],
            [0, 1, 4, 2, 0, 2, 4],
            [0, 6, 5, 2, 2, 0, 6],
            [3, 0, 2, 0, 1, 2, 4],
            [0, 6, 5, 6, 4, 4, 3],
        ],
        Style::Jazz => jazz_table(),
        _ => [
            [3, 0, 4, 0, 0, 0, 2],
            [8, 3, 8, 5, 0, 8, 1],
            [6, 3, 3, 1, 5, 0, 6],
            [2, 1, 8, 3, 0, 5, 1],
            [0, 14, 8, 10, 3, 2, 5],
            [6, 0, 4, 0, 2, 3, 4],
            [0, 14, 8, 12, 5, 6, 3],
        ],
    };
    let mut t = table[from % 7][to % 7];
    // A new phrase may start anywhere.
    if next_span.phrase_start && !next_span.last {
        t = t.min(3);
    }
    cost += t * scale;
    // Internal cadences (the final one is judged in `final_cadence_cost`).
    if next_span.phrase_end && !next_span.last && style.four_part() {
        let tonic = next.is_tonic(key);
        if tonic && !(prev.is_dominant() || from == 3) {
            cost += 20;
        }
    }
    cost
}

fn jazz_table() -> [[i64; 7]; 7] {
    // Root motion by falling fifths is best (ii-V-I), by step next, by third after.
    let mut t = [[3i64; 7]; 7];
    for (from, row) in t.iter_mut().enumerate() {
        for (to, cell) in row.iter_mut().enumerate() {
            let up = (to + 7 - from) % 7;
            *cell = match up {
                3 => 0, // a fourth up = a fifth down
                0 => 3,
                1 | 6 => 2,
                2 | 5 => 2,
                _ => 4,
            };
        }
    }
    t[4][0] = 0;
    t[1][4] = 0;
    t
}

/// The voice-leading cost of moving from one state to the next.
pub fn motion_cost(
    problem: &Problem<'_>,
    prev: &State,
    prev_span: &Span,
    next: &State,
    next_span: &Span,
) -> TransitionCost {
    let w = &problem.weights;
    let prev_chord = &problem.vocab[prev.chord];
    let next_chord = &problem.vocab[next.chord];
    let prev_palette = &problem.palettes[prev.chord];
    let n_lower = prev.voicing.n.min(next.voicing.n) as usize;
    // Voice 0 is the melody (when it sounds at both moments), then the lower voices.
    let mut before = [0i32; MAX_LOWER + 1];
    let mut after = [0i32; MAX_LOWER + 1];
    let melody = match (prev_span.mel.as_ref(), next_span.mel.as_ref()) {
        (Some(a), Some(b)) => {
            before[0] = a.last;
            after[0] = b.first.midi();
            true
        }
        _ => false,
    };
    before[1..=n_lower].copy_from_slice(&prev.voicing.p[..n_lower]);
    after[1..=n_lower].copy_from_slice(&next.voicing.p[..n_lower]);
    let voices = n_lower + 1;
    let bass = w.bass.min(n_lower.saturating_sub(1)) + 1;
    let mut motion = 0i64;
    let first = if melody { 0 } else { 1 };
    for i in first..voices {
        for j in i + 1..voices {
            let (u0, l0, u1, l1) = (before[i], before[j], after[i], after[j]);
            let mu = u1 - u0;
            let ml = l1 - l0;
            let with_melody = i == 0;
            if mu != 0 && ml != 0 {
                let c0 = (u0 - l0).abs() % 12;
                let c1 = (u1 - l1).abs() % 12;
                if (c0 == 7 && c1 == 7) || (c0 == 0 && c1 == 0) {
                    motion += match (with_melody, j == bass) {
                        (true, true) => w.parallel_outer,
                        (true, false) => w.parallel_melody,
                        (false, true) => w.parallel_bass,
                        (false, false) => w.parallel,
                    };
                } else if mu.signum() == ml.signum()
                    && (c1 == 7 || (c1 == 0 && (u1 - l1).abs() >= 12))
                {
                    let outer = with_melody && j == bass;
                    motion += if outer {
                        if mu.abs() <= 2 {
                            w.hidden_outer_step
                        } else {
                            w.hidden_outer_leap
                        }
                    } else {
                        w.hidden_inner
                    };
                }
            }
            if l1 > u0 || u1 < l0 {
                motion += w.overlap;
            }
        }
    }
    // Melodic motion of the lower voices.
    let four = problem.style.four_part();
    for i in 0..n_lower {
        let d = (next.voicing.p[i] - prev.voicing.p[i]).abs();
        let is_bass = four && i == 2 || problem.style == Style::Jazz && i == 3;
        motion += if is_bass {
            match d {
                0..=2 => d as i64,
                3..=5 => 2,
                6 => 12,
                7 => 3,
                8..=12 => 8,
                _ => 300,
            }
        } else if four {
            match d {
                0 => 0,
                1 | 2 => 1,
                3 | 4 => 4,
                5 => 8,
                6 => 30,
                7 => 14,
                8..=12 => 30,
                _ => 300,
            }
        } else {
            d as i64
        };
        // Augmented steps (an augmented second or fourth, spelled).
        let from_tone = prev_palette[prev.voicing.tone[i] as usize].0;
        let to_tone = problem.palettes[next.chord][next.voicing.tone[i] as usize].0;
        let letters = (i32::from(to_tone.letter) - i32::from(from_tone.letter)).rem_euclid(7);
        let up = next.voicing.p[i] > prev.voicing.p[i];
        let letters = if up { letters } else { (7 - letters) % 7 };
        if (d == 3 && letters == 1) || (d == 6 && letters == 3) || (d == 8 && letters == 4) {
            motion += w.augmented;
        }
    }
    // Tendency tones.
    let mut tendency = 0i64;
    let same_chord = prev_chord == next_chord;
    if !same_chord {
        for i in 0..n_lower {
            let member = prev_palette[prev.voicing.tone[i] as usize].1;
            let d = next.voicing.p[i] - prev.voicing.p[i];
            if member == Member::Seventh && prev_chord.quality.is_seventh() && !(d == -1 || d == -2)
            {
                tendency += if d == 0 { w.seventh / 2 } else { w.seventh };
            }
        }
        // The melody's seventh.
        if melody {
            let last_pc = before[0].rem_euclid(12);
            if let Some((_, Member::Seventh)) = prev_chord.member_of(last_pc) {
                let d = after[0] - before[0];
                if !(d == -1 || d == -2) && prev_chord.quality.is_seventh() {
                    tendency += if d == 0 { w.seventh / 2 } else { w.seventh };
                }
            }
        }
        if let Some(lt) = prev_chord.leading_tone {
            let target_degree = match prev_chord.role {
                Role::Applied { target } => Some(target),
                Role::Diatonic if prev_chord.is_dominant() => Some(0),
                _ => None,
            };
            let goal = lt.up(1, 1).pc();
            let resolves = target_degree.is_some_and(|t| {
                matches!(next_chord.role, Role::Diatonic)
                    && (next_chord.degree == t
                        || (t == 0
                            && next_chord.degree == 5
                            && matches!(prev_chord.role, Role::Diatonic)))
            }) && next_chord.member_of(goal).is_some();
            if resolves {
                let lt_pc = lt.pc();
                for v in first..voices {
                    if before[v].rem_euclid(12) != lt_pc {
                        continue;
                    }
                    if after[v] - before[v] != 1 {
                        let outer = v == 0 || v == bass;
                        tendency += if outer {
                            w.leading_outer
                        } else {
                            w.leading_inner
                        };
                    }
                }
            }
        }
    }
    // The dominant of the final cadence stands in root position.
    let mut progression = 0;
    if next_span.last && prev_chord.is_dominant() && n_lower > 0 {
        let bass = prev_palette[prev.voicing.tone[n_lower - 1] as usize].1;
        if bass != Member::Root {
            progression += if four { 40 } else { 4 };
        }
    }
    TransitionCost {
        progression,
        motion,
        tendency,
    }
}

// ---------------------------------------------------------------- the search

/// Runs the search over the spans. An error names the first span no state fits.
pub fn solve(problem: &Problem<'_>, candidates: &[Vec<usize>]) -> Result<Solution, usize> {
    let spans = problem.spans;
    if spans.is_empty() {
        return Err(0);
    }
    let default_keep = if problem.style.four_part() { 40 } else { 14 };
    // Shrink the voicings kept per chord until the transitions fit the budget.
    let mut keep = default_keep;
    let mut layers;
    let mut relaxed_spans;
    loop {
        layers = Vec::with_capacity(spans.len());
        relaxed_spans = 0;
        for (k, span) in spans.iter().enumerate() {
            let (layer, relaxed) = build_layer(problem, k, span, &candidates[k], keep);
            relaxed_spans += usize::from(relaxed);
            layers.push(layer);
        }
        let transitions: u64 = layers
            .windows(2)
            .map(|w| w[0].len() as u64 * w[1].len() as u64)
            .sum();
        if transitions <= TRANSITION_BUDGET || keep <= 3 {
            break;
        }
        keep = (keep * 2 / 3).max(3);
    }
    if let Some(empty) = layers.iter().position(|l: &Vec<State>| l.is_empty()) {
        return Err(empty);
    }
    let states: usize = layers.iter().map(Vec::len).sum();
    let mut transitions = 0u64;
    // acc[k][i] = (cost, tie) of the best path ending in state i of layer k.
    let mut acc: Vec<Vec<(i64, u64)>> = Vec::with_capacity(layers.len());
    let mut back: Vec<Vec<u32>> = Vec::with_capacity(layers.len());
    acc.push(layers[0].iter().map(|s| (s.cost, s.noise)).collect());
    back.push(vec![0; layers[0].len()]);
    for k in 1..layers.len() {
        let (prev_layer, layer) = (&layers[k - 1], &layers[k]);
        let prev_acc = &acc[k - 1];
        // Progression costs depend on the chords only: compute them once per pair.
        let mut prog_cache: Vec<Option<i64>> =
            vec![None; problem.vocab.len() * problem.vocab.len()];
        let mut row_acc = Vec::with_capacity(layer.len());
        let mut row_back = Vec::with_capacity(layer.len());
        for next in layer {
            let mut best = (i64::MAX, u64::MAX);
            let mut best_i = 0u32;
            for (i, prev) in prev_layer.iter().enumerate() {
                let base = prev_acc[i];
                // Transition costs are never negative: this path cannot beat the best so far.
                if base.0.saturating_add(next.cost) > best.0 {
                    continue;
                }
                let slot = prev.chord * problem.vocab.len() + next.chord;
                let same_voicing = prev.voicing == next.voicing;
                let prog = if prev.chord == next.chord {
                    progression_cost(
                        problem,
                        &problem.vocab[prev.chord],
                        &spans[k - 1],
                        &problem.vocab[next.chord],
                        &spans[k],
                        same_voicing,
                    )
                } else if let Some(c) = prog_cache[slot] {
                    c
                } else {
                    let c = progression_cost(
                        problem,
                        &problem.vocab[prev.chord],
                        &spans[k - 1],
                        &problem.vocab[next.chord],
                        &spans[k],
                        false,
                    );
                    prog_cache[slot] = Some(c);
                    c
                };
                transitions += 1;
                let partial = base.0 + prog + next.cost;
                if partial > best.0 {
                    continue;
                }
                let m = motion_cost(problem, prev, &spans[k - 1], next, &spans[k]);
                let total = (partial + m.total(), base.1 + next.noise);
                if total < best {
                    best = total;
                    best_i = i as u32;
                }
            }
            row_acc.push(best);
            row_back.push(best_i);
        }
        acc.push(row_acc);
        back.push(row_back);
    }
    let last_layer = layers.len() - 1;
    let (mut at, best) = acc
        .last()
        .and_then(|last| {
            last.iter()
                .enumerate()
                .min_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(&b.0)))
                .map(|(i, c)| (i, *c))
        })
        .ok_or(last_layer)?;
    let mut path_idx = vec![0usize; layers.len()];
    for k in (0..layers.len()).rev() {
        path_idx[k] = at;
        at = back[k][at] as usize;
    }
    let path: Vec<State> = path_idx
        .iter()
        .enumerate()
        .map(|(k, &i)| layers[k][i].clone())
        .collect();
    let mut breakdown = Breakdown::default();
    for (k, s) in path.iter().enumerate() {
        breakdown.chords += s.chord_cost;
        breakdown.voicing += s.cost - s.chord_cost;
        if k > 0 {
            let prev = &path[k - 1];
            let same_voicing = prev.voicing == s.voicing;
            breakdown.progression += progression_cost(
                problem,
                &problem.vocab[prev.chord],
                &spans[k - 1],
                &problem.vocab[s.chord],
                &spans[k],
                same_voicing,
            );
            let m = motion_cost(problem, prev, &spans[k - 1], s, &spans[k]);
            breakdown.progression += m.progression;
            breakdown.motion += m.motion;
            breakdown.tendency += m.tendency;
        }
    }
    let candidate_chords = candidates.iter().map(Vec::len).sum();
    Ok(Solution {
        path,
        total_cost: best.0,
        states,
        transitions,
        candidate_chords,
        relaxed_spans,
        voicings_per_chord: keep,
        breakdown,
    })
}

/// Phrase ends want their chord in root position; the last chord of the piece insists.
fn cadence_voicing_cost(problem: &Problem<'_>, span: &Span, chord: usize, v: &Voicing) -> i64 {
    if !(span.last || span.phrase_end) || v.n == 0 {
        return 0;
    }
    let bass = problem.palettes[chord][v.tone[v.n as usize - 1] as usize].1;
    if bass == Member::Root {
        return 0;
    }
    match (span.last, problem.style.four_part()) {
        (true, true) => 150,
        (true, false) => 20,
        (false, true) => 25,
        (false, false) => 4,
    }
}

fn build_layer(
    problem: &Problem<'_>,
    k: usize,
    span: &Span,
    candidates: &[usize],
    keep: usize,
) -> (Vec<State>, bool) {
    for relaxed in [false, true] {
        let mut layer = Vec::new();
        for &c in candidates {
            let Some(chord_cost) = chord_cost(problem, span, c) else {
                continue;
            };
            for (voicing, mut cost) in voicings(problem, span, c, relaxed, keep) {
                cost += cadence_voicing_cost(problem, span, c, &voicing);
                layer.push(State {
                    chord: c,
                    voicing,
                    cost: chord_cost + cost,
                    chord_cost,
                    noise: noise(problem.seed, k, c, &voicing),
                    relaxed,
                });
            }
        }
        if !layer.is_empty() {
            return (layer, relaxed);
        }
    }
    (Vec::new(), true)
}
