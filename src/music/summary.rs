//! What a score holds, counted as music21 counts it.

use music21_rs::{Stream, StreamElement};
use serde::{Deserialize, Serialize};

use crate::music::timeline::{parts_of, round};

/// The summary stored with every score and returned by `import_score`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Summary {
    pub title: Option<String>,
    pub composer: Option<String>,
    pub parts: usize,
    /// Measures of the first part, a pickup counted as one (music21's count).
    pub measures: usize,
    /// Note objects (music21's `notes` minus chords), tie continuations included.
    pub notes: usize,
    /// Chord objects as music21's `recurse().getElementsByClass('Chord')` counts them: every
    /// chord in any part, measure or voice (one of a single pitch, a grace chord) and every
    /// chord symbol (`<harmony>` in MusicXML), which music21 counts as a chord.
    pub chords: usize,
    pub rests: usize,
    /// Length in quarter notes (music21's `highestTime`).
    pub duration_quarters: f64,
    /// For a multi-tune ABC file, the tune that was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tune: Option<i64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoteCounts {
    pub notes: usize,
    pub chords: usize,
    pub rests: usize,
    pub pitches: usize,
}

pub fn count_notes(stream: &Stream) -> NoteCounts {
    let mut c = NoteCounts::default();
    for (_, element) in stream.recurse() {
        match element {
            StreamElement::Note(_) => {
                c.notes += 1;
                c.pitches += 1;
            }
            StreamElement::Chord(chord) => {
                c.chords += 1;
                c.pitches += chord.pitches().len();
            }
            // A chord symbol (MusicXML `<harmony>`) is a Chord to music21, counted in
            // `getElementsByClass('Chord')` and in `notes`.
            StreamElement::ChordSymbol(symbol) => {
                c.chords += 1;
                c.pitches += symbol.pitches().map_or(0, |p| p.len());
            }
            StreamElement::Rest(_) => c.rests += 1,
            _ => {}
        }
    }
    c
}

pub fn composer(stream: &Stream) -> Option<String> {
    let md = stream.metadata()?;
    md.contributors_by_role(Some("composer"))
        .first()
        .map(|v| v.text().to_string())
        .or_else(|| md.string_value("composer"))
        .filter(|s| !s.trim().is_empty())
}

pub fn title(stream: &Stream) -> Option<String> {
    stream
        .metadata()
        .and_then(|md| md.best_title())
        .filter(|s| !s.trim().is_empty())
}

pub fn summarize(score: &Stream, tune: Option<i64>) -> Summary {
    let counts = count_notes(score);
    let parts = parts_of(score);
    Summary {
        title: title(score),
        composer: composer(score),
        parts: if score.parts().is_empty() && counts.notes + counts.chords == 0 {
            0
        } else {
            parts.len()
        },
        measures: parts.first().map(|p| p.measures().len()).unwrap_or(0),
        notes: counts.notes,
        chords: counts.chords,
        rests: counts.rests,
        duration_quarters: round(score.end_offset()),
        tune,
    }
}
