//! The counterpoint written out: the cantus firmus and the counterpoint as a two-part score.

use music21_rs::notation::TieType;
use music21_rs::{Duration, Rest, Stream, TimeSignature};

use super::{CpNote, Mode, Voice, BAR};
use crate::music::notation::{clef_for, new_measure, new_part, new_score, note_of};
use crate::music::pitch::SpelledPitch;

/// The cantus firmus and the counterpoint as a two-part score in 4/4, a cantus firmus note
/// to the bar, the counterpoint's notes tied over the barlines they cross; the upper voice
/// first.
pub fn two_part_score(
    cf: &[SpelledPitch],
    notes: &[CpNote],
    mode: &Mode,
    species: u8,
    voice: Voice,
) -> Stream {
    let ts = TimeSignature::new(4, 4).expect("4/4 is a meter");
    let sharps = mode.sharps();
    let n = cf.len();

    let cf_midis: Vec<i32> = cf.iter().map(|t| t.midi()).collect();
    let mut cf_part = new_part("CF", "Cantus firmus");
    for (k, tone) in cf.iter().enumerate() {
        let mut m = new_measure(k + 1, (k == 0).then(|| (clef_for(&cf_midis), sharps, &ts)));
        if let Ok(note) = note_of(&tone.name(), 4.0, None) {
            m.insert(0.0, note);
        }
        cf_part.insert(k as f64 * 4.0, m);
    }

    let cp_midis: Vec<i32> = notes.iter().map(|n| n.tone.midi()).collect();
    let mut cp_part = new_part("CP", &format!("Counterpoint (species {species})"));
    for k in 0..n {
        let bar_start = k as u32 * BAR;
        let bar_end = bar_start + BAR;
        let mut m = new_measure(k + 1, (k == 0).then(|| (clef_for(&cp_midis), sharps, &ts)));
        if k == 0 {
            if let Some(first) = notes.first().filter(|f| f.start > 0) {
                let rest = Rest::new(
                    Duration::new(f64::from(first.start) / 2.0)
                        .unwrap_or_else(|_| Duration::half()),
                );
                m.insert(0.0, rest);
            }
        }
        for note in notes
            .iter()
            .filter(|x| x.start < bar_end && x.end() > bar_start)
        {
            let from = note.start.max(bar_start);
            let to = note.end().min(bar_end);
            let tie = match (note.start < bar_start, note.end() > bar_end) {
                (false, false) => None,
                (false, true) => Some(TieType::Start),
                (true, false) => Some(TieType::Stop),
                (true, true) => Some(TieType::Continue),
            };
            if let Ok(el) = note_of(&note.tone.name(), f64::from(to - from) / 2.0, tie) {
                m.insert(f64::from(from - bar_start) / 2.0, el);
            }
        }
        cp_part.insert(k as f64 * 4.0, m);
    }
    let parts = match voice {
        Voice::Above => vec![cp_part, cf_part],
        Voice::Below => vec![cf_part, cp_part],
    };
    new_score(
        &format!(
            "Species {species} counterpoint {} a cantus firmus in {}",
            voice.name(),
            mode.label()
        ),
        parts,
    )
}
