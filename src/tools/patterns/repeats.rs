//! Finding what recurs in runs of elements (one vector per segment, a segment being a run
//! of notes unbroken by a rest): the fixed-length windows of the rhythmic motifs, and the
//! maximal repeats of the melodic ones.
//!
//! A motif of L notes is L - `shift` elements: `shift` is 1 for intervals (one fewer than
//! the notes) and 0 for durations. Occurrences are (segment, first note) pairs, in score
//! order; occurrences of one motif never share a note (taken greedily from the left).

use std::collections::{BTreeSet, HashMap};
use std::ops::RangeInclusive;

use super::LONGEST_REPEAT;

/// A recurring run of elements: its length in notes and where it occurs.
pub(super) struct Found {
    pub length: usize,
    pub occurrences: Vec<(usize, usize)>,
}

/// (segment, first note).
type Pos = (usize, usize);

/// Windows of elements and where each occurs.
type Windows<'a> = HashMap<&'a [i64], Vec<Pos>>;

/// Repeats are followed element by element up to this many notes before a repeat still
/// matching is extended on its own (see [`maximal_repeats`]).
const FOLLOWED_TOGETHER: usize = 64;

/// Finds every window of `elements` that recurs, for motifs of `lengths` notes. A motif is
/// dropped when a motif one note longer, within `lengths`, holds every occurrence of it.
pub(super) fn repeated(
    elements: &[Vec<i64>],
    lengths: RangeInclusive<usize>,
    shift: usize,
) -> Vec<Found> {
    let (lo, hi) = (*lengths.start(), *lengths.end());
    let mut maps: Vec<Windows<'_>> = Vec::new();
    for length in lo..=hi {
        let width = length - shift;
        let mut map: Windows<'_> = HashMap::new();
        for (s, els) in elements.iter().enumerate() {
            if width == 0 || els.len() < width {
                continue;
            }
            for i in 0..=els.len() - width {
                let list = map.entry(&els[i..i + width]).or_default();
                if let Some(&(ls, li)) = list.last() {
                    if ls == s && i < li + length {
                        continue;
                    }
                }
                list.push((s, i));
            }
        }
        map.retain(|_, occ| occ.len() >= 2);
        maps.push(map);
    }
    let mut out = Vec::new();
    for (level, map) in maps.iter().enumerate() {
        let length = lo + level;
        let width = length - shift;
        let longer = maps.get(level + 1);
        for occurrences in map.values() {
            if let Some(longer) = longer {
                let same = |next: Vec<Option<i64>>| -> Option<i64> {
                    let first = (*next.first()?)?;
                    next.iter().all(|e| *e == Some(first)).then_some(first)
                };
                let right = same(
                    occurrences
                        .iter()
                        .map(|&(s, i)| elements[s].get(i + width).copied())
                        .collect(),
                );
                if right.is_some() {
                    let (s, i) = occurrences[0];
                    let key = &elements[s][i..i + width + 1];
                    if longer
                        .get(key)
                        .is_some_and(|o| o.len() == occurrences.len())
                    {
                        continue;
                    }
                }
                let left = same(
                    occurrences
                        .iter()
                        .map(|&(s, i)| i.checked_sub(1).and_then(|j| elements[s].get(j).copied()))
                        .collect(),
                );
                if left.is_some() {
                    let (s, i) = occurrences[0];
                    let key = &elements[s][i - 1..i + width];
                    if longer
                        .get(key)
                        .is_some_and(|o| o.len() == occurrences.len())
                    {
                        continue;
                    }
                }
            }
            out.push(Found {
                length,
                occurrences: occurrences.clone(),
            });
        }
    }
    out
}

/// Ranks by occurrences x length, then length, then the first occurrence.
pub(super) fn rank(found: &mut [Found]) {
    found.sort_by(|a, b| {
        (b.occurrences.len() * b.length)
            .cmp(&(a.occurrences.len() * a.length))
            .then(b.length.cmp(&a.length))
            .then(a.occurrences.first().cmp(&b.occurrences.first()))
    });
}

/// The occurrences among `positions` (in score order) that share no note, `notes` long,
/// taken greedily from the left (which keeps the most).
fn spaced(positions: &[Pos], notes: usize) -> Vec<Pos> {
    let mut out: Vec<Pos> = Vec::new();
    for &(s, i) in positions {
        if let Some(&(ls, li)) = out.last() {
            if ls == s && i < li + notes {
                continue;
            }
        }
        out.push((s, i));
    }
    out
}

/// `positions` (all starting the same `width` elements) split by the element after those:
/// one group per element, in score order within each; positions at a segment's end drop out.
fn split_by_next(elements: &[Vec<i64>], positions: Vec<Pos>, width: usize) -> Vec<Vec<Pos>> {
    let next = |&(s, i): &Pos| elements[s].get(i + width).copied();
    let first = positions.first().and_then(next);
    if first.is_some() && positions.iter().all(|p| next(p) == first) {
        return vec![positions];
    }
    let mut groups: HashMap<i64, Vec<Pos>> = HashMap::new();
    for p in positions {
        if let Some(e) = next(&p) {
            groups.entry(e).or_default().push(p);
        }
    }
    groups.into_values().collect()
}

/// The longest repeated runs of elements, at least `min_notes` long: each repeat followed
/// as far as all its occurrences keep matching, so that a phrase stated twice is one motif
/// at its full length, not the many windows inside it. A shorter repeat that lies inside
/// one longer repeat at every one of its occurrences is left out.
///
/// The repeats are the branching nodes of a trie of the runs, walked from windows of
/// `min_notes` (a node where every occurrence goes on alike is kept only when going on
/// would cost it an occurrence, occurrences never sharing a note). A repeat whose
/// occurrences all follow the same element is left out: the repeat as long, one note
/// earlier, holds the same places (so where a part restates a passage straight after
/// itself and goes on alike a little, only the first of the shifted repeats is kept).
///
/// The work is bounded: the trie is walked [`FOLLOWED_TOGETHER`] notes deep at most, so a
/// position is split at most 64 times; a repeat still matching there is followed on its
/// own, to at most [`LONGEST_REPEAT`] notes, and as such nodes hold disjoint positions,
/// each position is followed at most once.
pub(super) fn maximal_repeats(elements: &[Vec<i64>], min_notes: usize, shift: usize) -> Vec<Found> {
    let min_width = min_notes.saturating_sub(shift).max(1);
    let cap = FOLLOWED_TOGETHER.saturating_sub(shift).max(min_width);
    let mut roots: Windows<'_> = HashMap::new();
    for (s, els) in elements.iter().enumerate() {
        for i in 0..(els.len() + 1).saturating_sub(min_width) {
            roots
                .entry(&els[i..i + min_width])
                .or_default()
                .push((s, i));
        }
    }
    let mut stack: Vec<(usize, Vec<Pos>)> = roots
        .into_values()
        .filter(|p| p.len() >= 2)
        .map(|p| (min_width, p))
        .collect();
    let mut found = Vec::new();
    while let Some((width, positions)) = stack.pop() {
        let chosen = spaced(&positions, width + shift);
        if chosen.len() < 2 {
            // Longer runs have no more room: none of them recurs either.
            continue;
        }
        if width >= cap {
            if starts_here(elements, &chosen) {
                let width = followed(elements, &chosen, width, shift);
                found.push(Found {
                    length: width + shift,
                    occurrences: chosen,
                });
            }
            continue;
        }
        let total = positions.len();
        let groups = split_by_next(elements, positions, width);
        let goes_on_alike = groups.len() == 1 && groups[0].len() == total;
        let keep = !goes_on_alike || spaced(&groups[0], width + 1 + shift).len() < chosen.len();
        if keep && starts_here(elements, &chosen) {
            found.push(Found {
                length: width + shift,
                occurrences: chosen,
            });
        }
        stack.extend(
            groups
                .into_iter()
                .filter(|g| g.len() >= 2)
                .map(|g| (width + 1, g)),
        );
    }
    without_contained(found, elements.len())
}

/// Whether occurrences do not all follow the same element (a repeat that does is the
/// continuation of one starting a note earlier, or that one shifted by a note).
fn starts_here(elements: &[Vec<i64>], occurrences: &[Pos]) -> bool {
    let before = |&(s, i): &Pos| i.checked_sub(1).and_then(|j| elements[s].get(j).copied());
    let first = occurrences.first().and_then(before);
    first.is_none() || occurrences.iter().any(|p| before(p) != first)
}

/// The width (in elements) of a repeat of `width` at `occurrences` followed as far as every
/// occurrence goes on alike, occurrences never sharing a note, to at most
/// [`LONGEST_REPEAT`] notes.
fn followed(elements: &[Vec<i64>], occurrences: &[Pos], mut width: usize, shift: usize) -> usize {
    while width + 1 + shift <= LONGEST_REPEAT {
        let next = |&(s, i): &Pos| elements[s].get(i + width).copied();
        let Some(first) = occurrences.first().and_then(next) else {
            break;
        };
        let alike = occurrences.iter().all(|p| next(p) == Some(first));
        let apart = occurrences
            .windows(2)
            .all(|w| w[0].0 != w[1].0 || w[1].1 >= w[0].1 + width + 1 + shift);
        if !alike || !apart {
            break;
        }
        width += 1;
    }
    width
}

/// `found` without the repeats that lie inside one longer repeat kept at every one of
/// their occurrences, longest first.
fn without_contained(mut found: Vec<Found>, segments: usize) -> Vec<Found> {
    found.sort_by(|a, b| {
        b.length
            .cmp(&a.length)
            .then_with(|| a.occurrences.cmp(&b.occurrences))
    });
    let mut kept: Vec<Found> = Vec::new();
    // Per segment: (first note, index in `kept`) of every kept occurrence.
    let mut starts: Vec<BTreeSet<(usize, usize)>> = vec![BTreeSet::new(); segments];
    for f in found {
        let Some(&(s, i)) = f.occurrences.first() else {
            continue;
        };
        let from = (i + f.length).saturating_sub(LONGEST_REPEAT).min(i);
        let inside = starts.get(s).is_some_and(|set| {
            set.range((from, 0)..=(i, usize::MAX))
                .any(|&(_, k)| f.occurrences.iter().all(|&o| holds(&kept[k], o, f.length)))
        });
        if inside {
            continue;
        }
        for &(s, i) in &f.occurrences {
            if let Some(set) = starts.get_mut(s) {
                set.insert((i, kept.len()));
            }
        }
        kept.push(f);
    }
    kept
}

/// Whether an occurrence of `repeat` holds the `length` notes starting at `at`.
fn holds(repeat: &Found, at: Pos, length: usize) -> bool {
    let k = repeat.occurrences.partition_point(|o| *o <= at);
    k.checked_sub(1)
        .and_then(|k| repeat.occurrences.get(k))
        .is_some_and(|&(s, i)| s == at.0 && i + repeat.length >= at.1 + length)
}

/// How surprising each element is in `elements`, in bits: -log2 of its share of them all.
pub(super) fn surprisal(elements: &[Vec<i64>]) -> HashMap<i64, f64> {
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for e in elements.iter().flatten() {
        *counts.entry(*e).or_insert(0) += 1;
    }
    let total = counts.values().sum::<usize>() as f64;
    counts
        .into_iter()
        .map(|(e, n)| (e, (total / n as f64).log2()))
        .collect()
}

/// The information of a repeat: length x occurrences x the surprisal of its elements (the
/// sum of each element's bits, -log2 of the product of their shares), so length,
/// recurrence and rarity all count.
pub(super) fn information(
    found: &Found,
    elements: &[Vec<i64>],
    bits: &HashMap<i64, f64>,
    shift: usize,
) -> f64 {
    let Some(&(s, i)) = found.occurrences.first() else {
        return 0.0;
    };
    let width = found.length.saturating_sub(shift);
    let own: f64 = elements
        .get(s)
        .and_then(|els| els.get(i..i + width))
        .unwrap_or_default()
        .iter()
        .map(|e| bits.get(e).copied().unwrap_or(0.0))
        .sum();
    own * (found.length * found.occurrences.len()) as f64
}

/// Ranks repeats by information, then length, then occurrences, then the first occurrence,
/// each with its information.
pub(super) fn rank_by_information(
    found: Vec<Found>,
    elements: &[Vec<i64>],
    shift: usize,
) -> Vec<(Found, f64)> {
    let bits = surprisal(elements);
    let mut ranked: Vec<(Found, f64)> = found
        .into_iter()
        .map(|f| {
            let info = information(&f, elements, &bits, shift);
            (f, info)
        })
        .collect();
    ranked.sort_by(|(a, ia), (b, ib)| {
        ib.total_cmp(ia)
            .then(b.length.cmp(&a.length))
            .then(b.occurrences.len().cmp(&a.occurrences.len()))
            .then(a.occurrences.first().cmp(&b.occurrences.first()))
    });
    ranked
}
