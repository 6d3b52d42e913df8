//! What `score_info` says of a score's music: its parts with their ranges, measures,
//! counts, meters, keys, tempi and length in quarter notes and seconds. Worked out when a
//! score is stored and kept with it, so the question is answered without a parse.

use music21_rs::{Stream, StreamElement};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::music::summary::count_notes;
use crate::music::timeline::{part_events, part_name, parts_of, round, MeasureGrid};

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct PitchRange {
    pub lowest: String,
    pub highest: String,
    /// Semitones from lowest to highest.
    pub semitones: f64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct PartInfo {
    pub index: usize,
    pub name: String,
    pub id: Option<String>,
    pub instrument: Option<String>,
    pub measures: usize,
    pub notes: usize,
    /// Chords as music21 counts them (chord symbols included), as in `Summary::chords`.
    pub chords: usize,
    pub rests: usize,
    pub range: Option<PitchRange>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TimeSignatureInfo {
    pub measure: i64,
    pub offset: f64,
    /// As written, e.g. `3/4`.
    pub signature: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct KeySignatureInfo {
    pub measure: i64,
    pub offset: f64,
    /// Sharps (positive) or flats (negative).
    pub sharps: i64,
    /// The key, when the score states it (e.g. `G major`).
    pub key: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TempoInfo {
    pub measure: i64,
    pub offset: f64,
    /// Quarter notes per minute, when a number is given.
    pub quarter_bpm: Option<f64>,
    pub text: Option<String>,
}

/// What `score_info` says of the music itself; worked out when a score is stored.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ScoreDescription {
    pub title: Option<String>,
    pub composer: Option<String>,
    /// Every metadata field the score carries, as text.
    pub metadata: Vec<(String, String)>,
    pub parts: Vec<PartInfo>,
    /// Measures of the first part (a pickup counts as one, as music21 counts).
    pub measures: usize,
    /// Note objects (music21's `notes` minus chords).
    pub notes: usize,
    /// Chords as music21's `recurse().getElementsByClass('Chord')` counts them: chords of
    /// one pitch and grace chords included, and chord symbols (`<harmony>`).
    pub chords: usize,
    pub rests: usize,
    pub time_signatures: Vec<TimeSignatureInfo>,
    pub key_signatures: Vec<KeySignatureInfo>,
    pub tempos: Vec<TempoInfo>,
    pub duration_quarters: f64,
    /// Seconds at the marked tempi (120 quarter notes a minute where none is marked).
    pub duration_seconds: f64,
}

/// Everything `score_info` says of a parsed score's music.
pub fn describe(score: &Stream) -> ScoreDescription {
    let grid = MeasureGrid::of(score);
    let parts: Vec<PartInfo> = parts_of(score)
        .into_iter()
        .enumerate()
        .map(|(index, part)| part_info(index, part))
        .collect();
    let counts = count_notes(score);
    let first = parts_of(score).into_iter().next();
    let mut time_signatures = Vec::new();
    let mut key_signatures = Vec::new();
    let mut tempos = Vec::new();
    if let Some(first) = first {
        for (offset, element) in first.recurse() {
            let pos = grid.position(offset);
            match element {
                StreamElement::TimeSignature(ts) => time_signatures.push(TimeSignatureInfo {
                    measure: pos.measure,
                    offset: pos.offset,
                    signature: ts.ratio_string(),
                }),
                StreamElement::KeySignature(ks) => key_signatures.push(KeySignatureInfo {
                    measure: pos.measure,
                    offset: pos.offset,
                    sharps: ks.sharps() as i64,
                    key: None,
                }),
                StreamElement::Key(k) => key_signatures.push(KeySignatureInfo {
                    measure: pos.measure,
                    offset: pos.offset,
                    sharps: k.sharps() as i64,
                    key: Some(format!("{} {}", k.tonic_pitch_name_with_case(), k.mode())),
                }),
                StreamElement::MetronomeMark(mm) => tempos.push(TempoInfo {
                    measure: pos.measure,
                    offset: pos.offset,
                    quarter_bpm: mm.quarter_bpm().map(round),
                    text: mm.text().map(str::to_string),
                }),
                StreamElement::TempoText(t) => tempos.push(TempoInfo {
                    measure: pos.measure,
                    offset: pos.offset,
                    quarter_bpm: None,
                    text: Some(t.text().to_string()),
                }),
                _ => {}
            }
        }
    }
    let duration_quarters = round(score.end_offset());
    let duration_seconds = seconds(score, &tempos, duration_quarters);
    let metadata = score
        .metadata()
        .map(|md| {
            md.all_sorted()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.text().to_string()))
                .collect()
        })
        .unwrap_or_default();
    ScoreDescription {
        title: crate::music::summary::title(score),
        composer: crate::music::summary::composer(score),
        metadata,
        measures: grid
            .count()
            .max(parts.first().map(|p| p.measures).unwrap_or(0)),
        parts,
        notes: counts.notes,
        chords: counts.chords,
        rests: counts.rests,
        time_signatures,
        key_signatures,
        tempos,
        duration_quarters,
        duration_seconds,
    }
}

/// Seconds from the tempo marks of the first part; 120 quarters a minute until one is marked.
fn seconds(_score: &Stream, tempos: &[TempoInfo], total: f64) -> f64 {
    let mut marks: Vec<(f64, f64)> = tempos
        .iter()
        .filter_map(|t| t.quarter_bpm.filter(|b| *b > 0.0).map(|b| (t.offset, b)))
        .collect();
    marks.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut seconds = 0.0;
    let mut at = 0.0;
    let mut bpm = 120.0;
    for (offset, next) in marks {
        let offset = offset.min(total);
        seconds += (offset - at).max(0.0) * 60.0 / bpm;
        at = offset.max(at);
        bpm = next;
    }
    seconds += (total - at).max(0.0) * 60.0 / bpm;
    round(seconds)
}

fn part_info(index: usize, part: &Stream) -> PartInfo {
    let counts = count_notes(part);
    let mut lowest: Option<music21_rs::Pitch> = None;
    let mut highest: Option<music21_rs::Pitch> = None;
    for event in part_events(part) {
        for p in event.element.pitches() {
            if lowest.as_ref().is_none_or(|l| p.ps() < l.ps()) {
                lowest = Some(p.clone());
            }
            if highest.as_ref().is_none_or(|h| p.ps() > h.ps()) {
                highest = Some(p);
            }
        }
    }
    let instrument = part.recurse().into_iter().find_map(|(_, e)| match e {
        StreamElement::Instrument(i) => i.best_name().or(i.part_name()).map(str::to_string),
        _ => None,
    });
    PartInfo {
        index,
        name: part_name(part, index),
        id: part.id().map(str::to_string),
        instrument,
        measures: part.measures().len(),
        notes: counts.notes,
        chords: counts.chords,
        rests: counts.rests,
        range: match (lowest, highest) {
            (Some(l), Some(h)) => Some(PitchRange {
                semitones: round(h.ps() - l.ps()),
                lowest: l.name_with_octave(),
                highest: h.name_with_octave(),
            }),
            _ => None,
        },
    }
}
