//! Voicings: the voices below the melody for a chord, four-part (in their ranges, spaced,
//! doubled as the style asks) or as an accompaniment, and what each voicing costs.

use super::*;

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
    palette: &[(PitchName, Member)],
    mel: &MelStats,
    relaxed: bool,
) -> Vec<(Voicing, i64)> {
    let ranges = four_part_ranges(relaxed);
    let Some((s_index, s_member)) = chord.member_of(mel.first.pitch_name().pc()) else {
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
                out.push((Voicing::of(&[(a, ai), (t, ti), (b, bi)]), cost));
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn four_part_cost(
    chord: &ChordDef,
    palette: &[(PitchName, Member)],
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
    palette: &[(PitchName, Member)],
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
                            Voicing::of(&[(p2, i2), (p1, i1), (p0, i0), (bass, root_index)]),
                            c,
                        ));
                    }
                } else {
                    out.push((Voicing::of(&[(p2, i2), (p1, i1), (p0, i0)]), cost));
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
