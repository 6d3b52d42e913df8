//! Transitions: what moving from one chord and voicing to the next costs, the
//! progression's (functional grammar, retrogressions, cadences) and the voice leading's.

use super::*;

/// One chord followed by the next, each over its span.
#[derive(Clone, Copy)]
struct Change<'a> {
    prev: &'a ChordDef,
    prev_span: &'a Span,
    next: &'a ChordDef,
    next_span: &'a Span,
}

/// The progression cost into span `k` from chord `prev` to chord `next` (indices into the
/// vocabulary); `same_voicing` where the chord is held with its voicing.
pub fn progression_cost(
    problem: &Problem<'_>,
    k: usize,
    prev: usize,
    next: usize,
    same_voicing: bool,
) -> i64 {
    let change = Change {
        prev: &problem.vocab[prev],
        prev_span: &problem.spans[k - 1],
        next: &problem.vocab[next],
        next_span: &problem.spans[k],
    };
    let core = match &problem.model {
        Some(learned) if prev != next => {
            learned.model.succession_cost(
                problem.key.minor,
                if change.next_span.phrase_end || change.next_span.last {
                    Place::Cadence
                } else {
                    Place::Inside
                },
                learned.label(prev, change.prev_span, &problem.key),
                learned.label(next, change.next_span, &problem.key),
            ) + plagal_close_cost(problem, &change)
        }
        _ => progression_core(problem, change, same_voicing),
    };
    if change.next_span.last && change.prev != change.next {
        core + final_cadence_cost(problem, change.prev, change.next)
    } else {
        core
    }
}

/// What a plagal close (IV -> I) of an inner phrase costs on top of the learnt chain. The
/// chain reads every chorale in its home key, so it cannot tell a plagal close from the
/// `IV -> I` inside Bach's phrases, or from a close in another key; at his fermatas the
/// plagal close is rare (3 of 104 in the held-out chorales, against 60 authentic ones).
const PLAGAL_CLOSE_COST: i64 = 30;

fn plagal_close_cost(problem: &Problem<'_>, change: &Change<'_>) -> i64 {
    let inner_close = change.next_span.phrase_end && !change.next_span.last;
    let plagal = matches!(change.prev.role, Role::Diatonic)
        && change.prev.degree == 3
        && change.next.is_tonic(&problem.key);
    if inner_close && plagal && problem.style.four_part() {
        PLAGAL_CLOSE_COST
    } else {
        0
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

fn progression_core(problem: &Problem<'_>, change: Change<'_>, same_voicing: bool) -> i64 {
    let Change {
        prev,
        prev_span,
        next,
        next_span,
    } = change;
    let key = &problem.key;
    let style = problem.style;
    let scale = problem.weights.progression_scale;
    if prev == next {
        return held_chord_cost(style, prev_span, next_span, same_voicing);
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
    let table = degree_table(style);
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

/// The cost of the same chord again: held over a weak beat, or struck again.
fn held_chord_cost(style: Style, prev_span: &Span, next_span: &Span, same_voicing: bool) -> i64 {
    let weak_to_strong = next_span.weight > prev_span.weight && next_span.weight == 2;
    match style {
        Style::Chorale => {
            if next_span.melody_held && same_voicing {
                // The whole chord held with the melody's long note.
                4
            } else if weak_to_strong {
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
    }
}

/// The cost of root motion by scale degree, from row to column, per style.
fn degree_table(style: Style) -> [[i64; 7]; 7] {
    match style {
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
    }
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

/// The voices at the two moments of a transition: voice 0 is the melody (when it sounds at
/// both), then the lower voices, top to bottom.
struct Moments {
    before: [i32; MAX_LOWER + 1],
    after: [i32; MAX_LOWER + 1],
    melody: bool,
    /// The first voice that moves from one moment to the next (1 when the melody rests).
    first: usize,
    voices: usize,
    n_lower: usize,
    /// The bass's index among `before` and `after`.
    bass: usize,
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
    let prev_palette = &problem.palettes[prev.chord];
    let n_lower = prev.voicing.n.min(next.voicing.n) as usize;
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
    let moments = Moments {
        before,
        after,
        melody,
        first: if melody { 0 } else { 1 },
        voices: n_lower + 1,
        n_lower,
        bass: w.bass.min(n_lower.saturating_sub(1)) + 1,
    };
    let motion = pair_motion(w, &moments) + lower_voice_motion(problem, prev, next, n_lower);
    let tendency = if prev_chord == &problem.vocab[next.chord] {
        0
    } else {
        tendency_cost(problem, prev, next, &moments)
    };
    // The dominant of the final cadence stands in root position.
    let mut progression = 0;
    if next_span.last && prev_chord.is_dominant() && n_lower > 0 {
        let bass = prev_palette[prev.voicing.tone[n_lower - 1] as usize].1;
        if bass != Member::Root {
            progression += if problem.style.four_part() { 40 } else { 4 };
        }
    }
    TransitionCost {
        progression,
        motion,
        tendency,
    }
}

/// Parallel and hidden fifths and octaves, and overlaps, between every pair of voices.
fn pair_motion(w: &Weights, m: &Moments) -> i64 {
    let (before, after, bass) = (&m.before, &m.after, m.bass);
    let mut motion = 0i64;
    for i in m.first..m.voices {
        for j in i + 1..m.voices {
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
    motion
}

/// Melodic motion of the lower voices: the size of each move, and augmented or diminished
/// intervals.
fn lower_voice_motion(problem: &Problem<'_>, prev: &State, next: &State, n_lower: usize) -> i64 {
    let w = &problem.weights;
    let prev_palette = &problem.palettes[prev.chord];
    let four = problem.style.four_part();
    let mut motion = 0i64;
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
        // Augmented and diminished intervals, as spelled: a teacher marks them in any
        // voice (the diminished fifth included: in a chorale's inner voice it is a fault).
        let from_tone = prev_palette[prev.voicing.tone[i] as usize].0;
        let to_tone = problem.palettes[next.chord][next.voicing.tone[i] as usize].0;
        let letters = (i32::from(to_tone.letter) - i32::from(from_tone.letter)).rem_euclid(7);
        let up = next.voicing.p[i] > prev.voicing.p[i];
        let letters = if up { letters } else { (7 - letters) % 7 };
        if d > 0 && !diatonic_size(letters, d) {
            motion += w.augmented;
        }
    }
    motion
}

/// Whether `semitones` is a major, minor or perfect interval of `letters` steps (0 a unison,
/// 1 a second ... 6 a seventh; compound intervals reduced by octaves).
fn diatonic_size(letters: i32, semitones: i32) -> bool {
    let allowed: &[i32] = match letters {
        0 => &[0],
        1 => &[1, 2],
        2 => &[3, 4],
        3 => &[5],
        4 => &[7],
        5 => &[8, 9],
        _ => &[10, 11],
    };
    allowed.contains(&semitones.rem_euclid(12))
}

/// Tendency tones into a new chord: sevenths fall by step, leading tones rise.
fn tendency_cost(problem: &Problem<'_>, prev: &State, next: &State, m: &Moments) -> i64 {
    let w = &problem.weights;
    let prev_chord = &problem.vocab[prev.chord];
    let next_chord = &problem.vocab[next.chord];
    let prev_palette = &problem.palettes[prev.chord];
    let (before, after) = (&m.before, &m.after);
    let mut tendency = 0i64;
    for i in 0..m.n_lower {
        let member = prev_palette[prev.voicing.tone[i] as usize].1;
        let d = next.voicing.p[i] - prev.voicing.p[i];
        if member == Member::Seventh && prev_chord.quality.is_seventh() && !(d == -1 || d == -2) {
            tendency += if d == 0 { w.seventh / 2 } else { w.seventh };
        }
    }
    // The melody's seventh.
    if m.melody {
        let last_pc = before[0].rem_euclid(12);
        if let Some((_, Member::Seventh)) = prev_chord.member_of(last_pc) {
            let d = after[0] - before[0];
            if !(d == -1 || d == -2) && prev_chord.quality.is_seventh() {
                tendency += if d == 0 { w.seventh / 2 } else { w.seventh };
            }
        }
    }
    let Some(lt) = prev_chord.leading_tone else {
        return tendency;
    };
    let target_degree = match prev_chord.role {
        Role::Applied { target } => Some(target),
        Role::Diatonic if prev_chord.is_dominant() => Some(0),
        _ => None,
    };
    let goal = lt.up(1, 1).pc();
    let resolves = target_degree.is_some_and(|t| {
        matches!(next_chord.role, Role::Diatonic)
            && (next_chord.degree == t
                || (t == 0 && next_chord.degree == 5 && matches!(prev_chord.role, Role::Diatonic)))
    }) && next_chord.member_of(goal).is_some();
    if resolves {
        let lt_pc = lt.pc();
        for v in m.first..m.voices {
            if before[v].rem_euclid(12) != lt_pc {
                continue;
            }
            if after[v] - before[v] != 1 {
                let outer = v == 0 || v == m.bass;
                tendency += if outer {
                    w.leading_outer
                } else {
                    w.leading_inner
                };
            }
        }
    }
    tendency
}

#[cfg(test)]
mod tests {
    use super::diatonic_size;

    #[test]
    fn augmented_and_diminished_intervals_are_told_from_diatonic_ones() {
        // C4 -> G#3 is a diminished fourth (3 letters, 4 semitones); C4 -> G3 a fourth.
        assert!(!diatonic_size(3, 4));
        assert!(diatonic_size(3, 5));
        // F -> B, a tritone spelled as a fourth; B -> F, as a fifth: both marked.
        assert!(!diatonic_size(3, 6));
        assert!(!diatonic_size(4, 6));
        // C -> C#, a chromatic semitone; C -> D#, an augmented second.
        assert!(!diatonic_size(0, 1));
        assert!(!diatonic_size(1, 3));
        // Seconds, thirds, sixths, sevenths and compound intervals pass.
        for (letters, semitones) in [(1, 1), (1, 2), (2, 3), (2, 4), (5, 8), (6, 11), (1, 14)] {
            assert!(diatonic_size(letters, semitones), "{letters} {semitones}");
        }
    }
}
