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

use super::melody_key::Ending;
use super::model::{BachModel, MelodyContext, Place, CONTEXT_LEVELS};
use super::spans::{MelStats, Span};
use super::theory::{ChordDef, KeyDef, Member, Quality, Role, Style};
use crate::music::pitch::PitchName;
use crate::rng::mix;

mod closing;
mod transitions;
mod voicings;

pub use transitions::{motion_cost, progression_cost};
pub use voicings::voicings;

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
    /// The voices from the top, each a MIDI number and the index of its tone in the palette.
    fn of(voices: &[(i32, usize)]) -> Self {
        let mut voicing = Voicing {
            n: voices.len() as u8,
            p: [0; MAX_LOWER],
            tone: [0; MAX_LOWER],
        };
        for (k, &(pitch, tone)) in voices.iter().enumerate() {
            voicing.p[k] = pitch;
            voicing.tone[k] = tone as u8;
        }
        voicing
    }

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
pub fn palette(chord: &ChordDef, style: Style, key: &KeyDef) -> Vec<(PitchName, Member)> {
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
    pub palettes: Vec<Vec<(PitchName, Member)>>,
    pub spans: &'a [Span],
    pub seed: u64,
    pub weights: Weights,
    /// Bach's habits (chorale style): what each chord costs under the melody, after the
    /// chord before it, and over each bass. `None` leaves the hand-written costs alone.
    pub model: Option<Learned<'a>>,
    /// How the last chord must stand.
    pub ending: Ending,
    /// In minor, end on the major tonic chord when the melody allows it.
    pub picardy: bool,
}

/// The learned model, with the vocabulary's chords named as the model names them.
pub struct Learned<'a> {
    pub model: &'a BachModel,
    /// Each vocabulary chord's root-position figure.
    pub labels: Vec<String>,
    /// Each span's melody context, as the model's context table names it
    /// ([`MelodyContext::levels`]); `None` where the melody rests.
    pub contexts: Vec<Option<[String; CONTEXT_LEVELS]>>,
}

impl<'a> Learned<'a> {
    /// The model with the vocabulary's labels and each span's melody context.
    pub fn new(model: &'a BachModel, vocab: &[ChordDef], spans: &[Span], key: &KeyDef) -> Self {
        let line: Vec<Option<i32>> = spans
            .iter()
            .map(|span| {
                span.mel
                    .as_ref()
                    .map(|m| (m.first.pitch_name().pc() - key.tonic.pc()).rem_euclid(12))
            })
            .collect();
        let contexts = spans
            .iter()
            .enumerate()
            .map(|(k, span)| {
                MelodyContext::in_line(&line, k, Self::place(span)).map(|c| c.levels())
            })
            .collect();
        Self {
            model,
            labels: vocab.iter().map(|c| c.figure(0)).collect(),
            contexts,
        }
    }

    /// The model's name for a chord on a span. The Picardy third colours the last tonic
    /// of a minor piece, so there it is read as the tonic the model knows (Bach's minor
    /// cadences are learnt on `i`), and its cost is [`final_chord_cost`]'s to judge.
    pub fn label(&self, chord: usize, span: &Span, key: &KeyDef) -> &str {
        let label = self.labels[chord].as_str();
        if span.last && key.minor && label == "I" {
            "i"
        } else {
            label
        }
    }

    /// Where a span falls for the model's tables.
    pub fn place(span: &Span) -> Place {
        if span.phrase_end || span.last {
            Place::Cadence
        } else if span.before_cadence {
            Place::Approach
        } else {
            Place::Inside
        }
    }
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

fn noise(seed: u64, span: usize, chord: usize, v: &Voicing) -> u64 {
    if seed == 0 {
        return 0;
    }
    let mut h = mix(seed ^ (span as u64).wrapping_mul(0x1000_0001));
    h = mix(h ^ chord as u64);
    for p in v.pitches() {
        h = mix(h ^ (*p as u64));
    }
    h % 1024
}

/// MIDI numbers of a tone within a range.
fn pitches_in(tone: PitchName, lo: i32, hi: i32) -> Vec<i32> {
    let pc = tone.pc();
    (lo..=hi).filter(|m| m.rem_euclid(12) == pc).collect()
}

// ---------------------------------------------------------------- chord costs

/// The cost of a chord on a span, before voicing; `None` when it cannot stand there.
pub fn chord_cost(problem: &Problem<'_>, k: usize, span: &Span, chord_index: usize) -> Option<i64> {
    let chord = &problem.vocab[chord_index];
    let key = &problem.key;
    let w = &problem.weights;
    let mut cost = chord.base_cost * w.chord_scale;
    if problem.style.four_part() {
        let mel = span.mel.as_ref()?;
        chord.member_of(mel.first.pitch_name().pc())?;
        if let Some(learned) = &problem.model {
            if let Some(Some(levels)) = learned.contexts.get(k) {
                let label = learned.label(chord_index, span, key);
                cost = learned.model.context_chord_cost(key.minor, levels, label);
            }
        }
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
        cost += final_chord_cost(problem, chord);
    } else if span.phrase_end && problem.model.is_none() {
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
    } else if span.phrase_end && chord.quality.is_seventh() {
        cost += 30;
    }
    if span.phrase_start && !span.last && problem.style.four_part() {
        let start_of_piece = span.start <= problem.spans.first().map_or(0.0, |s| s.start) + 1e-9;
        if start_of_piece && !chord.is_tonic(key) {
            cost += if chord.is_dominant() { 15 } else { 40 };
        }
    }
    Some(cost)
}

/// What the last chord costs: the tonic (in minor, with the Picardy third when asked), or,
/// where a minor tune closes on its dominant, that dominant's major chord; anything else only
/// where the melody leaves nothing better (a tune ending off the tonic chord in the key given).
/// In four parts [`closing::closing_chords`] has already cut the last span to those chords;
/// these costs still rank them, and decide alone in pop and jazz.
fn final_chord_cost(problem: &Problem<'_>, chord: &ChordDef) -> i64 {
    let key = &problem.key;
    let major_dominant =
        chord.is_dominant() && chord.degree == 4 && chord.quality == Quality::Major;
    if problem.ending == Ending::MajorDominant {
        return if major_dominant { 0 } else { 400 };
    }
    if chord.is_tonic(key) {
        let seventh = chord.quality.is_seventh() && problem.style != Style::Jazz;
        let picardy_third = key.minor && chord.quality == Quality::Major;
        return if seventh { 40 } else { 0 }
            + match (key.minor && problem.picardy, picardy_third) {
                (true, false) => 150,
                (false, true) => 60,
                _ => 0,
            };
    }
    if major_dominant {
        // A half close: a tune that stops on the dominant's note.
        return 300;
    }
    if chord.quality.is_seventh() {
        440
    } else {
        400
    }
}

/// Chromatic triads for a melody note no chord of the vocabulary holds.
pub fn fallback_chords(key: &KeyDef, tone: PitchName) -> Vec<ChordDef> {
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
            let (layer, relaxed) = build_span_layer(problem, k, span, &candidates[k], keep);
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
                    progression_cost(problem, k, prev.chord, next.chord, same_voicing)
                } else if let Some(c) = prog_cache[slot] {
                    c
                } else {
                    let c = progression_cost(problem, k, prev.chord, next.chord, false);
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
            breakdown.progression +=
                progression_cost(problem, k, prev.chord, s.chord, same_voicing);
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

/// How many kinds of chord member there are ([`Member`]): the slots of a bass-cost memo.
const MEMBERS: usize = 5;

fn member_slot(member: Member) -> usize {
    match member {
        Member::Root => 0,
        Member::Third => 1,
        Member::Fifth => 2,
        Member::Seventh => 3,
        Member::Added => 4,
    }
}

/// What Bach's basses say of this chord's inversion here, remembered in `known` by bass
/// member for the voicings of one chord on one span.
fn learned_bass_cost(
    problem: &Problem<'_>,
    k: usize,
    span: &Span,
    chord: usize,
    v: &Voicing,
    known: &mut [Option<i64>; MEMBERS],
) -> i64 {
    let Some(learned) = &problem.model else {
        return 0;
    };
    let Some(Some(levels)) = learned.contexts.get(k) else {
        return 0;
    };
    if v.n == 0 {
        return 0;
    }
    let bass = problem.palettes[chord][v.tone[v.n as usize - 1] as usize].1;
    *known[member_slot(bass)].get_or_insert_with(|| {
        learned.model.context_bass_cost(
            problem.key.minor,
            levels,
            learned.label(chord, span, &problem.key),
            bass,
        )
    })
}

/// The states of span `k`: on the last span only the closing chords
/// ([`closing::closing_chords`]) when one of them holds the melody and can be voiced, so the
/// piece never ends on another chord.
fn build_span_layer(
    problem: &Problem<'_>,
    k: usize,
    span: &Span,
    candidates: &[usize],
    keep: usize,
) -> (Vec<State>, bool) {
    if span.last && closing::applies(problem.style) {
        let closing = closing::closing_chords(
            problem.vocab,
            candidates,
            &problem.key,
            problem.ending,
            problem.picardy,
        );
        if !closing.is_empty() {
            let (layer, relaxed) = build_layer(problem, k, span, &closing, keep);
            if !layer.is_empty() {
                return (layer, relaxed);
            }
        }
    }
    build_layer(problem, k, span, candidates, keep)
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
            let Some(chord_cost) = chord_cost(problem, k, span, c) else {
                continue;
            };
            // The learnt bass cost depends on the bass member only: asked once per member,
            // not once per voicing (the model's lookups build their keys as strings).
            let mut bass_costs = [None; MEMBERS];
            for (voicing, mut cost) in voicings(problem, span, c, relaxed, keep) {
                cost += cadence_voicing_cost(problem, span, c, &voicing);
                cost += learned_bass_cost(problem, k, span, c, &voicing, &mut bass_costs);
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
