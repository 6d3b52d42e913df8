//! The drawn melody made music: its staff positions spelled in the key's mode, and written
//! as a one-part score whose notes fill every bar.

use music21_rs::notation::TieType;
use music21_rs::{Stream, TimeSignature};

use super::model::Melody;
use super::TICKS_PER_QUARTER;
use crate::error::ToolResult;
use crate::music::counterpoint::Mode;
use crate::music::notation::{clef_for, new_measure, new_part, new_score, note_of};
use crate::music::pitch::SpelledPitch;

/// Pitches for the drawn staff positions: from the tonic (the mode's final) at or below the
/// sources' median pitch, in the mode; in minor the sixth and seventh rise on the way to the tonic.
pub fn spell(melody: &Melody, mode: &Mode, minor: bool, median_midi: i32) -> Vec<SpelledPitch> {
    let mut reference = SpelledPitch::new(mode.final_letter as i32 + 7 * 9, mode.final_alter);
    while reference.midi() > median_midi && reference.dia > 7 {
        reference = SpelledPitch::new(reference.dia - 7, reference.alter);
    }
    let mut tones: Vec<SpelledPitch> = melody
        .notes
        .iter()
        .map(|n| mode.tone(reference.dia + n.pos))
        .collect();
    if minor {
        // Harmonic and melodic minor: the seventh rises to the tonic, and the sixth with it.
        for i in (0..tones.len().saturating_sub(1)).rev() {
            let (t, next) = (tones[i], tones[i + 1]);
            let degree = mode.degree(t);
            let rising = next.dia == t.dia + 1;
            let leading = degree == 6 && mode.degree(next) == 0;
            let raised_sixth = degree == 5 && mode.degree(next) == 6 && !mode.contains(next);
            if rising && (leading || raised_sixth) {
                tones[i] = SpelledPitch::new(t.dia, t.alter + 1);
            }
        }
    }
    tones
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
