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
    /// Note objects (music21's `notes` minus chords), tie continuations and unpitched
    /// (percussion) strokes included.
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
            // Strokes with no pitch are in music21's `notes` (they are NotRest) but are not
            // Chords: note objects, of no pitch.
            StreamElement::Unpitched(_) | StreamElement::PercussionChord(_) => c.notes += 1,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ImportLimits;
    use crate::music::format::Format;
    use crate::music::parse::parse_score;

    const PERCUSSION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1"><part-list><score-part id="P1"><part-name>Drums</part-name></score-part></part-list>
<part id="P1"><measure number="1"><attributes><divisions>1</divisions><time><beats>2</beats><beat-type>4</beat-type></time><clef><sign>percussion</sign></clef></attributes>
<note><unpitched><display-step>C</display-step><display-octave>5</display-octave></unpitched><duration>1</duration><type>quarter</type></note>
<note><unpitched><display-step>F</display-step><display-octave>4</display-octave></unpitched><duration>1</duration><type>quarter</type></note>
</measure></part></score-partwise>"#;

    #[test]
    fn unpitched_strokes_are_note_objects_as_music21_counts_them() {
        let score = parse_score(
            PERCUSSION.as_bytes(),
            Format::Musicxml,
            None,
            &ImportLimits::default(),
        )
        .expect("parses");
        let counts = count_notes(&score);
        assert_eq!((counts.notes, counts.chords, counts.pitches), (2, 0, 0));
    }
}
