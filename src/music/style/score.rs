//! The drawn melody made music: its staff positions spelled in the key's mode, and written
//! as a one-part score whose notes fill every bar.

use music21_rs::notation::TieType;
use music21_rs::{Stream, TimeSignature};

use super::draw::{Melody, Scale};
use super::TICKS_PER_QUARTER;
use crate::error::ToolResult;
use crate::music::counterpoint::Mode;
use crate::music::notation::{clef_for, new_measure, new_part, new_score, note_of};
use crate::music::pitch::SpelledPitch;

/// The tonic (the mode's final) at or below the sources' median pitch: the staff position
/// 0 of the drawn melody.
pub fn reference_tonic(mode: &Mode, median_midi: i32) -> SpelledPitch {
    let mut reference = SpelledPitch::new(mode.final_letter as i32 + 7 * 9, mode.final_alter);
    while reference.midi() > median_midi && reference.dia > 7 {
        reference = SpelledPitch::new(reference.dia - 7, reference.alter);
    }
    reference
}

/// The mode's pitches from `reference` as the draw counts them; in minor the sixth and
/// seventh may be raised.
pub fn scale_of(mode: &Mode, reference: SpelledPitch, minor: bool) -> Scale {
    let mut degrees = [0; 7];
    for (d, semis) in degrees.iter_mut().enumerate() {
        *semis = mode.tone(reference.dia + d as i32).midi() - reference.midi();
    }
    Scale {
        tonic_midi: reference.midi(),
        degrees,
        raisable: [false, false, false, false, false, minor, minor],
    }
}

/// Pitches for the drawn staff positions, from `reference` in the mode, a raised note
/// (minor's sixth or seventh) sharpened on its own letter.
pub fn spell(melody: &Melody, mode: &Mode, reference: SpelledPitch) -> Vec<SpelledPitch> {
    melody
        .notes
        .iter()
        .map(|n| {
            let tone = mode.tone(reference.dia + n.pos);
            SpelledPitch::new(tone.dia, tone.alter + n.alter)
        })
        .collect()
}

/// The melody as a one-part score under `title`, in `meter` (`bar_ticks` long) with `sharps`
/// in its key signature, each note split into values that can be written and tied.
pub fn melody_score(
    melody: &Melody,
    tones: &[SpelledPitch],
    meter: &TimeSignature,
    bar_ticks: u32,
    sharps: i32,
    measures: u32,
    title: &str,
) -> ToolResult<Stream> {
    let midis_out: Vec<i32> = tones.iter().map(|t| t.midi()).collect();
    let mut part = new_part("P1", "Melody");
    let bar_q = f64::from(bar_ticks) / f64::from(TICKS_PER_QUARTER);
    for k in 0..measures {
        let first = (k == 0).then(|| (clef_for(&midis_out), sharps, meter));
        let mut m = new_measure(k as usize + 1, first);
        for (note, tone) in melody
            .notes
            .iter()
            .zip(tones)
            .filter(|(n, _)| n.start / bar_ticks == k)
        {
            let pieces = writable(note.dur);
            let mut at = note.start - k * bar_ticks;
            for (j, piece) in pieces.iter().enumerate() {
                let tie = match (pieces.len(), j) {
                    (1, _) => None,
                    (_, 0) => Some(TieType::Start),
                    (len, j) if j + 1 == len => Some(TieType::Stop),
                    _ => Some(TieType::Continue),
                };
                let el = note_of(
                    &tone.name(),
                    f64::from(*piece) / f64::from(TICKS_PER_QUARTER),
                    tie,
                )?;
                m.insert(f64::from(at) / f64::from(TICKS_PER_QUARTER), el);
                at += piece;
            }
        }
        part.insert(f64::from(k) * bar_q, m);
    }
    Ok(new_score(title, vec![part]))
}

/// Splits a length in ticks into note values that can be written (largest first).
fn writable(mut ticks: u32) -> Vec<u32> {
    const VALUES: [u32; 10] = [32, 24, 16, 12, 8, 6, 4, 3, 2, 1];
    let mut out = Vec::new();
    while ticks > 0 {
        let v = VALUES.iter().copied().find(|v| *v <= ticks).unwrap_or(1);
        out.push(v);
        ticks -= v;
    }
    out
}

/// Whether the notes fill every bar exactly, none crossing a barline.
pub fn bars_exact(melody: &Melody, measures: u32, bar_ticks: u32) -> bool {
    let total_ticks: u32 = melody.notes.iter().map(|n| n.dur).sum();
    total_ticks == measures * bar_ticks
        && melody
            .notes
            .iter()
            .all(|n| n.start / bar_ticks == (n.start + n.dur - 1) / bar_ticks)
}
