//! The rule of the species' rhythm, apart from the others because it alone grants
//! licences: breaking the syncopation of 4th species where it cannot go on (Fux allows it;
//! at most once in four bars), and a 5th-species cadence without suspension where none can
//! be prepared. Those are listed, not counted as faults.

use super::violation::{cp_label, violation, Violation};
use super::{CpNote, BAR};

/// The most barlines a 4th-species counterpoint of `n` bars may cross without a syncopation
/// (Fux's licence of breaking the species, used only where the syncopation cannot go on).
pub fn allowed_breaks(n: usize) -> usize {
    (n / 4).max(1)
}

pub(super) fn species_rhythm(
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
