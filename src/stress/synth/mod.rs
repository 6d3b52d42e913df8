//! Synthetic scores for the stress test: MusicXML, ABC and MIDI renderings of one seeded,
//! deterministic piece, with the counts the server must report for it.
//!
//! Every format is rendered from the same abstract piece (parts of measures of events), so
//! `expected_notes` holds for all three. Each part walks a diatonic scale of the key inside
//! its own register (soprano, alto, tenor, bass, then again), in mixed durations that fill
//! every measure exactly, with occasional rests and ties across barlines.
//!
//! The piece is made in `piece.rs`; `musicxml.rs`, `abc.rs` and `midi.rs` write it, and
//! `sized.rs` makes MusicXML of a wanted size.

mod abc;
mod midi;
mod musicxml;
mod piece;
mod sized;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use piece::{generate_part, measure_units, normalized};
pub use sized::musicxml_of_size;

/// Major or (natural) minor: both use the key signature's scale; only the tonic differs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Major,
    Minor,
}

/// What to generate. Out-of-range values are clamped, never refused: `key_fifths` to
/// -7..=7, `beats` to at least 1, `beat_type` to one of 1, 2, 4, 8, 16 (else 4), `parts`
/// and `measures` to at least 1.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct SynthSpec {
    pub parts: usize,
    pub measures: usize,
    pub seed: u64,
    pub key_fifths: i8,
    pub mode: Mode,
    pub beats: u8,
    pub beat_type: u8,
}

impl Default for SynthSpec {
    fn default() -> Self {
        Self {
            parts: 4,
            measures: 16,
            seed: 0,
            key_fifths: 0,
            mode: Mode::Major,
            beats: 4,
            beat_type: 4,
        }
    }
}

/// What a synthetic score holds, counted as music21 counts it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthSummary {
    pub parts: usize,
    /// Measures per part (every part has as many).
    pub measures: usize,
    /// Note objects, tie continuations included (music21 counts each tied half).
    pub notes: usize,
    /// Rests as written in MusicXML and ABC. MIDI has no rests: music21 rebuilds them from
    /// the gaps, merging neighbours, so this count does not hold for MIDI.
    pub rests: usize,
    /// Ties across barlines (each is one tie start and one continuation).
    pub ties: usize,
    /// Always zero: every part is a single melodic line.
    pub chords: usize,
    /// Length in quarter notes.
    pub duration_quarters: f64,
}

/// MusicXML 3.1 partwise text of the piece.
pub fn musicxml(spec: &SynthSpec) -> String {
    let spec = normalized(spec);
    let mut out = String::with_capacity(musicxml::estimate_bytes(&spec));
    musicxml::write(&spec, &mut out);
    out
}

/// ABC text of the piece: one tune (`X:1`), a `V:` voice per part when there are several.
pub fn abc(spec: &SynthSpec) -> String {
    let spec = normalized(spec);
    let mut out = String::with_capacity(64 + spec.parts * spec.measures * 24);
    abc::write(&spec, &mut out);
    out
}

/// A Standard MIDI File (format 1, 480 ticks per quarter) of the piece: a conductor track
/// with tempo, meter and key, then one track per part. Tied notes are one long MIDI note
/// (music21 ties it again at the barline, so the note count is the same).
pub fn midi(spec: &SynthSpec) -> Vec<u8> {
    midi::file(&normalized(spec))
}

/// Note objects music21 will count in the piece (tie continuations included, no chords).
pub fn expected_notes(spec: &SynthSpec) -> usize {
    summary(spec).notes
}

/// Everything a caller can check against the server's summary of the piece.
pub fn summary(spec: &SynthSpec) -> SynthSummary {
    let spec = normalized(spec);
    let (mut notes, mut rests, mut ties) = (0, 0, 0);
    for part in 0..spec.parts {
        for measure in generate_part(&spec, part) {
            for event in measure {
                match event.pitch {
                    Some(_) => notes += 1,
                    None => rests += 1,
                }
                ties += usize::from(event.tie_start);
            }
        }
    }
    SynthSummary {
        parts: spec.parts,
        measures: spec.measures,
        notes,
        rests,
        ties,
        chords: 0,
        duration_quarters: (spec.measures as f64) * f64::from(measure_units(&spec)) / 4.0,
    }
}
