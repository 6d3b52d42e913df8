//! `pattern_recognition`: repeated melodic motifs (exact and transposed), melodic sequences,
//! rhythmic motifs and phrases, part by part.
//!
//! Each part is read as its melodic line (`crate::music::melody`): a tied note once, a
//! chord by its top note, the highest voice where a part has several. Motifs never span a
//! rest. Lengths are counted in notes, and occurrences of one motif never overlap.
//!
//! Melodic motifs are maximal repeats (`repeats::maximal_repeats`): a repeat is followed as
//! far as all its occurrences keep matching, to at most [`LONGEST_REPEAT`] notes, so that a
//! repeated phrase is one motif at its full length; a shorter repeat inside one longer
//! repeat at every occurrence is left out. They are ranked by information: length x
//! occurrences x the surprisal of their intervals in the piece, so a long distinctive
//! repeat outranks a common scale fragment. Rhythmic motifs are windows of `min_length` to
//! `min(min_length + 5, 12)` notes (the same lengths as a sequence's unit), a window left
//! out when one a note longer holds all its occurrences, ranked by occurrences x length.
//! A sequence needs three statements of a unit that moves (`sequences`). Every list is
//! capped with its full count beside it.

mod repeats;
mod sequences;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use music21_rs::{Interval, Stream};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ToolError, ToolResult};
use crate::music::melody::{
    cents_between, generic_directed, melody_of, pitch_label, segments, MelodyItem, MelodyNote, EPS,
};
use crate::music::timeline::{parts_of, round, MeasureGrid, Position};
use crate::tools::analysis_common::{check_note_limit, PartRef, Parts};
use crate::tools::{tool, ToolContext, ToolDef};
use repeats::{maximal_repeats, rank, rank_by_information, repeated, Found};
use sequences::{find_sequences, melodic_sequence};

/// Motifs (and sequences) returned per category.
pub const MAX_PER_CATEGORY: usize = 50;
/// Occurrences returned per motif.
pub const MAX_OCCURRENCES: usize = 100;
/// Phrases returned.
pub const MAX_PHRASES: usize = 500;
/// The longest rhythmic motif (and melodic sequence unit) looked for, whatever `min_length`
/// is (unless `min_length` is longer).
pub const LONGEST_MOTIF: usize = 12;
/// The longest melodic motif: a repeat is followed this far at most.
pub const LONGEST_REPEAT: usize = 256;

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PatternType {
    /// Melodic motifs and sequences.
    Melodic,
    /// Rhythmic motifs.
    Rhythmic,
    /// Both.
    #[default]
    Both,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Id of a stored score.
    pub score_id: String,
    /// Which patterns to look for: `melodic`, `rhythmic` or `both` (default). Phrases are
    /// always given.
    #[serde(default)]
    pub pattern_type: PatternType,
    /// The shortest motif, in notes (2-16, default 3). A melodic motif is followed as far
    /// as its repeat goes (up to 256 notes); rhythmic motifs and the units of melodic
    /// sequences are looked for up to min_length + 5 notes (at most 12, or min_length
    /// itself when that is longer).
    #[serde(default = "default_min_length")]
    #[schemars(range(min = 2, max = 16))]
    pub min_length: i64,
}

fn default_min_length() -> i64 {
    3
}

/// Where one occurrence of a motif stands.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Occurrence {
    pub part: PartRef,
    /// Measure of the first note.
    pub measure: i64,
    /// Beat of the first note, from 1.
    pub beat: f64,
    /// Offset of the first note, in quarter notes.
    pub offset: f64,
    /// Where the last note starts.
    pub end: Position,
}

/// One occurrence of a melodic motif.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct MelodicOccurrence {
    #[serde(flatten)]
    pub at: Occurrence,
    /// The notes, with octave.
    pub pitches: Vec<String>,
    /// Semitones from the motif's first occurrence (0: the same pitches).
    pub transposition: f64,
}

/// A melodic motif: an interval sequence that recurs.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct MelodicMotif {
    /// Notes in the motif (one more than its intervals).
    pub length: usize,
    /// The intervals in semitones (what makes two occurrences the same motif).
    pub intervals_semitones: Vec<f64>,
    /// The intervals as music21 names them, directed, in the first occurrence (`M2`, `m-3`).
    pub intervals: Vec<String>,
    /// The generic (diatonic) intervals of the first occurrence, directed: 2 a step up, -3
    /// a third down, 1 a repeated note.
    pub generic: Vec<i64>,
    /// Occurrences in the whole score (non-overlapping within a part).
    pub occurrences_total: usize,
    /// How many different starting pitches the motif is heard from.
    pub pitch_levels: usize,
    /// Occurrences that repeat an earlier one's exact pitches (occurrences - pitch levels).
    pub exact_repeats: usize,
    /// Occurrences at a new pitch level after the first (pitch levels - 1).
    pub transposed_repeats: usize,
    /// Occurrences x length (motifs are ranked by `information`).
    pub score: usize,
    /// The ranking score: length x occurrences x the surprisal of the motif's intervals in
    /// bits, the surprisal being -log2 of the product of each interval's share (in
    /// semitones) of all the melodic intervals of the piece. Long, recurring and
    /// distinctive motifs score high; a scale fragment of common steps scores low.
    pub information: f64,
    /// The occurrences, in score order, at most 100.
    pub occurrences: Vec<MelodicOccurrence>,
    pub occurrences_truncated: bool,
}

/// One statement of a melodic sequence.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Statement {
    pub measure: i64,
    pub beat: f64,
    pub offset: f64,
    pub pitches: Vec<String>,
}

/// A melodic sequence: a motif stated at least twice more straight after itself, each time
/// moved by the same diatonic step (not a unison). The motif must move: repeated notes are
/// no sequence, nor is a plain run (a scale, an arpeggio) with or without repeated notes.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct MelodicSequence {
    pub part: PartRef,
    /// Notes in each statement.
    pub length: usize,
    /// How many statements follow one another (at least 3).
    pub statements: usize,
    /// Notes covered by the whole sequence.
    pub notes: usize,
    /// The motif's generic (diatonic) intervals, directed.
    pub generic: Vec<i64>,
    /// The first statement's intervals in semitones.
    pub intervals_semitones: Vec<f64>,
    /// The diatonic step from each statement to the next, directed (-2: a step down).
    pub step_generic: i64,
    /// The same steps in semitones, statement to statement.
    pub step_semitones: Vec<f64>,
    /// A real (exact) sequence: every statement has the same intervals in semitones and
    /// moves by the same semitones; otherwise a tonal one.
    pub real: bool,
    pub start: Position,
    /// Where the last note of the sequence starts.
    pub end: Position,
    pub statements_at: Vec<Statement>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct MelodicPatterns {
    /// The longest motif looked for, in notes: a repeat is followed as far as all its
    /// occurrences keep matching, up to this.
    pub max_length: usize,
    /// Maximal repeated motifs found (before the cap).
    pub motifs_total: usize,
    /// Of those, motifs with at least one exact repeat.
    pub motifs_with_exact_repeats: usize,
    /// Of those, motifs heard at two or more pitch levels.
    pub motifs_with_transposed_repeats: usize,
    /// The top motifs by information, at most 50: each the longest repeat its occurrences
    /// share (a phrase stated twice is one motif), none lying inside a longer one at every
    /// occurrence.
    pub motifs: Vec<MelodicMotif>,
    /// Melodic sequences found (before the cap).
    pub sequences_total: usize,
    /// The longest sequences (by notes covered), at most 50.
    pub sequences: Vec<MelodicSequence>,
}

/// A rhythmic motif: a run of durations that recurs.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct RhythmicMotif {
    /// Notes in the motif.
    pub length: usize,
    /// The durations in quarter notes (a tied note counts once, at its full length).
    pub durations: Vec<f64>,
    pub occurrences_total: usize,
    /// The ranking score: occurrences x length.
    pub score: usize,
    pub occurrences: Vec<Occurrence>,
    pub occurrences_truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RhythmicPatterns {
    /// Maximal repeated rhythmic motifs found (before the cap).
    pub motifs_total: usize,
    /// The top motifs by occurrences x length, at most 50.
    pub motifs: Vec<RhythmicMotif>,
}

/// Why a phrase ends where it does.
#[derive(Clone, Copy, Debug, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PhraseEnd {
    /// A fermata on its last note, or in another part over it.
    Fermata,
    /// A rest follows.
    Rest,
    /// Its last note is at least twice the part's median note length and ends at a barline.
    LongNote,
    /// The part ends.
    End,
}

/// One phrase of one part.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Phrase {
    pub part: PartRef,
    /// The phrase's number within its part, from 1.
    pub number: usize,
    pub start_measure: i64,
    pub start_beat: f64,
    /// Measure of the phrase's last note.
    pub end_measure: i64,
    pub end_beat: f64,
    pub start_offset: f64,
    /// Where the last note stops sounding.
    pub end_offset: f64,
    /// Measures the phrase touches (null when the score has no measures).
    pub length_measures: Option<usize>,
    pub length_notes: usize,
    pub duration_quarters: f64,
    pub ends_with: PhraseEnd,
}

/// Phrases of one part, counted.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PartPhrases {
    pub part: PartRef,
    pub phrases: usize,
    /// Median note length of the part, in quarter notes (what "long" is measured against).
    pub median_note_quarters: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Phrases {
    pub total: usize,
    pub by_part: Vec<PartPhrases>,
    /// Mean phrase length in measures (null when the score has no measures).
    pub mean_length_measures: Option<f64>,
    pub mean_length_notes: f64,
    /// How many phrases touch each number of measures.
    pub length_histogram: BTreeMap<usize, usize>,
    /// The phrases, part by part, at most 500.
    pub phrases: Vec<Phrase>,
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub score_id: String,
    pub pattern_type: PatternType,
    pub min_length: usize,
    /// The longest rhythmic motif and melodic sequence unit looked for (melodic motifs go
    /// further: see `melodic.max_length`).
    pub max_length: usize,
    pub parts: Vec<PartRef>,
    /// Notes in the melodic lines read (tied notes once).
    pub notes_analysed: usize,
    /// Present unless pattern_type is `rhythmic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub melodic: Option<MelodicPatterns>,
    /// Present unless pattern_type is `melodic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rhythmic: Option<RhythmicPatterns>,
    pub phrases: Phrases,
}

pub fn tool_def() -> ToolDef {
    tool(
        "pattern_recognition",
        "Patterns in each part's melodic line (tied notes once, the top note of chords): repeated melodic motifs as interval sequences (semitones and music21 interval names) with exact and transposed repeats, each the longest repeat its occurrences share (a repeated phrase once, at its full length), melodic sequences (a moving motif stated three or more times in a row, each a consistent step away), rhythmic motifs (recurring duration patterns), and phrases (split at rests, fermatas, and long notes ending at a barline). Lengths in notes, min_length 2-16 (default 3); the top 50 per category, melodic motifs by information (length x occurrences x the surprisal of their intervals), rhythmic motifs by occurrences x length, each occurrence with part, measure and beat.",
        true,
        run,
    )
}

/// A run of notes of one part unbroken by a rest.
struct Segment<'a> {
    part: usize,
    notes: Vec<&'a MelodyNote>,
}

/// Rhythm keys: quarter lengths in units fine enough for any usual tuplet.
fn duration_key(quarters: f64) -> i64 {
    (quarters * 10_080.0).round() as i64
}

/// The shortest and longest motif looked for, from `min_length` (checked).
fn motif_lengths(min_length: i64) -> ToolResult<RangeInclusive<usize>> {
    if !(2..=16).contains(&min_length) {
        return Err(ToolError::invalid(format!(
            "min_length must be between 2 and 16 notes, got {min_length}; pass e.g. \"min_length\": 3"
        )));
    }
    let min_length = min_length as usize;
    let max_length = (min_length + 5).min(LONGEST_MOTIF).max(min_length);
    Ok(min_length..=max_length)
}

fn run(ctx: &ToolContext, args: Args) -> ToolResult<Output> {
    let lengths = motif_lengths(args.min_length)?;
    let loaded = ctx.load(&args.score_id)?;
    let score: &Stream = &loaded.score;
    check_note_limit(
        score,
        &args.score_id,
        "max_analysis_notes",
        ctx.config.limits.max_analysis_notes,
        "",
    )?;
    let places = Places {
        grid: MeasureGrid::of(score),
        parts: Parts::of(score),
    };
    let lines: Vec<Vec<MelodyItem>> = parts_of(score).into_iter().map(melody_of).collect();
    let segs = segments_of(&lines);
    let melodic = (args.pattern_type != PatternType::Rhythmic)
        .then(|| melodic_patterns(&segs, lengths.clone(), &places));
    let rhythmic = (args.pattern_type != PatternType::Melodic)
        .then(|| rhythmic_patterns(&segs, lengths.clone(), &places));
    let phrases = find_phrases(&lines, &places, score.end_offset());
    Ok(Output {
        score_id: loaded.meta.score_id.clone(),
        pattern_type: args.pattern_type,
        min_length: *lengths.start(),
        max_length: *lengths.end(),
        notes_analysed: segs.iter().map(|s| s.notes.len()).sum(),
        parts: places.parts.list,
        melodic,
        rhythmic,
        phrases,
    })
}

/// Where things stand in the score: the measure grid and the parts.
struct Places {
    grid: MeasureGrid,
    parts: Parts,
}

impl Places {
    /// The occurrence of a motif of `length` notes starting at note `start` of `seg`.
    fn occurrence(&self, seg: &Segment<'_>, start: usize, length: usize) -> Occurrence {
        let first = self.grid.position(seg.notes[start].offset);
        Occurrence {
            part: self.parts.part_ref(seg.part),
            measure: first.measure,
            beat: first.beat,
            offset: first.offset,
            end: self.grid.position(seg.notes[start + length - 1].offset),
        }
    }
}

/// Every part's line cut at its rests.
fn segments_of(lines: &[Vec<MelodyItem>]) -> Vec<Segment<'_>> {
    lines
        .iter()
        .enumerate()
        .flat_map(|(part, line)| {
            segments(line)
                .into_iter()
                .map(move |notes| Segment { part, notes })
        })
        .collect()
}

/// Melodic motifs (interval sequences in cents) and melodic sequences.
fn melodic_patterns(
    segs: &[Segment<'_>],
    lengths: RangeInclusive<usize>,
    places: &Places,
) -> MelodicPatterns {
    let intervals: Vec<Vec<i64>> = segs
        .iter()
        .map(|s| {
            s.notes
                .windows(2)
                .map(|w| cents_between(&w[0].pitch, &w[1].pitch))
                .collect()
        })
        .collect();
    let ranked = rank_by_information(
        maximal_repeats(&intervals, *lengths.start(), 1),
        &intervals,
        1,
    );
    let levels_of = |f: &Found| {
        let mut starts: Vec<i64> = f
            .occurrences
            .iter()
            .map(|&(s, i)| (segs[s].notes[i].pitch.ps() * 100.0).round() as i64)
            .collect();
        starts.sort_unstable();
        starts.dedup();
        starts.len()
    };
    let levels: Vec<usize> = ranked.iter().map(|(f, _)| levels_of(f)).collect();
    let motifs = ranked
        .iter()
        .zip(&levels)
        .take(MAX_PER_CATEGORY)
        .map(|((f, information), &pitch_levels)| {
            melodic_motif(f, pitch_levels, *information, segs, places)
        })
        .collect();
    let sequences = find_sequences(segs, lengths);
    MelodicPatterns {
        max_length: LONGEST_REPEAT,
        motifs_total: ranked.len(),
        motifs_with_exact_repeats: ranked
            .iter()
            .zip(&levels)
            .filter(|((f, _), l)| f.occurrences.len() > **l)
            .count(),
        motifs_with_transposed_repeats: levels.iter().filter(|l| **l > 1).count(),
        motifs,
        sequences_total: sequences.len(),
        sequences: sequences
            .iter()
            .take(MAX_PER_CATEGORY)
            .map(|c| melodic_sequence(c, segs, places))
            .collect(),
    }
}

/// Rhythmic motifs: runs of durations that recur.
fn rhythmic_patterns(
    segs: &[Segment<'_>],
    lengths: RangeInclusive<usize>,
    places: &Places,
) -> RhythmicPatterns {
    let durations: Vec<Vec<i64>> = segs
        .iter()
        .map(|s| s.notes.iter().map(|n| duration_key(n.duration)).collect())
        .collect();
    let mut found = repeated(&durations, lengths, 0);
    rank(&mut found);
    let motifs = found
        .iter()
        .take(MAX_PER_CATEGORY)
        .map(|f| {
            let (s, i) = f.occurrences[0];
            RhythmicMotif {
                length: f.length,
                durations: segs[s].notes[i..i + f.length]
                    .iter()
                    .map(|n| round(n.duration))
                    .collect(),
                occurrences_total: f.occurrences.len(),
                score: f.occurrences.len() * f.length,
                occurrences: f
                    .occurrences
                    .iter()
                    .take(MAX_OCCURRENCES)
                    .map(|&(s, i)| places.occurrence(&segs[s], i, f.length))
                    .collect(),
                occurrences_truncated: f.occurrences.len() > MAX_OCCURRENCES,
            }
        })
        .collect();
    RhythmicPatterns {
        motifs_total: found.len(),
        motifs,
    }
}

fn melodic_motif(
    f: &Found,
    pitch_levels: usize,
    information: f64,
    segs: &[Segment<'_>],
    places: &Places,
) -> MelodicMotif {
    let (s0, i0) = f.occurrences[0];
    let first = &segs[s0].notes[i0..i0 + f.length];
    let base = first[0].pitch.ps();
    let total = f.occurrences.len();
    MelodicMotif {
        length: f.length,
        intervals_semitones: first
            .windows(2)
            .map(|w| round(w[1].pitch.ps() - w[0].pitch.ps()))
            .collect(),
        intervals: first
            .windows(2)
            .map(|w| {
                Interval::between_pitches(&w[0].pitch, &w[1].pitch)
                    .map(|i| i.directed_name())
                    .unwrap_or_else(|_| "?".into())
            })
            .collect(),
        generic: first
            .windows(2)
            .map(|w| generic_directed(&w[0].pitch, &w[1].pitch))
            .collect(),
        occurrences_total: total,
        pitch_levels,
        exact_repeats: total - pitch_levels,
        transposed_repeats: pitch_levels.saturating_sub(1),
        score: total * f.length,
        information: round(information),
        occurrences: f
            .occurrences
            .iter()
            .take(MAX_OCCURRENCES)
            .map(|&(s, i)| {
                let notes = &segs[s].notes[i..i + f.length];
                MelodicOccurrence {
                    at: places.occurrence(&segs[s], i, f.length),
                    pitches: notes.iter().map(|n| pitch_label(&n.pitch)).collect(),
                    transposition: round(notes[0].pitch.ps() - base),
                }
            })
            .collect(),
        occurrences_truncated: total > MAX_OCCURRENCES,
    }
}

/// The index of the measure slot holding an offset.
fn slot_index(grid: &MeasureGrid, offset: f64) -> usize {
    grid.slots
        .partition_point(|s| s.start <= offset + EPS)
        .saturating_sub(1)
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Phrases of every part: a phrase ends before a rest; on a note with a fermata, or on the
/// last note of the part that sounds under a fermata written in another part; on a note at
/// least twice the part's median length that ends at a barline; and where the part ends.
fn find_phrases(lines: &[Vec<MelodyItem>], places: &Places, score_end: f64) -> Phrases {
    let grid = &places.grid;
    let part_ref = |index: usize| places.parts.part_ref(index);
    let mut fermatas: Vec<(f64, f64)> = lines
        .iter()
        .flatten()
        .filter_map(|item| match item {
            MelodyItem::Note(n) if n.fermata => Some((n.offset, n.end())),
            _ => None,
        })
        .collect();
    fermatas.sort_by(|a, b| a.0.total_cmp(&b.0));
    let longest_fermata = fermatas.iter().map(|(s, e)| e - s).fold(0.0, f64::max);
    // The fermatas sounding over some of [from, to).
    let fermatas_over = |from: f64, to: f64| {
        let lo = fermatas.partition_point(|f| f.0 < from - longest_fermata - EPS);
        let hi = fermatas.partition_point(|f| f.0 < to - EPS);
        fermatas[lo..hi.max(lo)]
            .iter()
            .filter(move |f| f.1 > from + EPS)
    };
    let at_barline = |t: f64| {
        let i = grid.slots.partition_point(|s| s.start < t - EPS);
        (t - score_end).abs() < EPS || grid.slots.get(i).is_some_and(|s| (s.start - t).abs() < EPS)
    };
    let mut all = Vec::new();
    let mut by_part = Vec::new();
    for (part, line) in lines.iter().enumerate() {
        let notes: Vec<&MelodyNote> = line
            .iter()
            .filter_map(|i| match i {
                MelodyItem::Note(n) => Some(n),
                MelodyItem::Rest { .. } => None,
            })
            .collect();
        let median_len = median(&mut notes.iter().map(|n| n.duration).collect::<Vec<_>>());
        let mut current: Vec<&MelodyNote> = Vec::new();
        let mut phrases: Vec<Phrase> = Vec::new();
        let close = |current: &mut Vec<&MelodyNote>, why: PhraseEnd, phrases: &mut Vec<Phrase>| {
            let (Some(first), Some(last)) = (current.first(), current.last()) else {
                return;
            };
            let start = grid.position(first.offset);
            let end = grid.position(last.offset);
            let length_measures = (!grid.slots.is_empty()).then(|| {
                // The measure holding the last sound: just before the note's end.
                let last_sound = last.offset.max(last.end() - 1e-3);
                slot_index(grid, last_sound).saturating_sub(slot_index(grid, first.offset)) + 1
            });
            phrases.push(Phrase {
                part: part_ref(part),
                number: phrases.len() + 1,
                start_measure: start.measure,
                start_beat: start.beat,
                end_measure: end.measure,
                end_beat: end.beat,
                start_offset: start.offset,
                end_offset: round(last.end()),
                length_measures,
                length_notes: current.len(),
                duration_quarters: round(last.end() - first.offset),
                ends_with: why,
            });
            current.clear();
        };
        let mut items = line.iter().peekable();
        while let Some(item) = items.next() {
            let note = match item {
                MelodyItem::Rest { .. } => {
                    close(&mut current, PhraseEnd::Rest, &mut phrases);
                    continue;
                }
                MelodyItem::Note(n) => n,
            };
            current.push(note);
            let next_onset = items.peek().map(|i| match i {
                MelodyItem::Note(n) => n.offset,
                MelodyItem::Rest { offset, .. } => *offset,
            });
            let under_fermata = fermatas_over(note.offset, note.end())
                .any(|&(_, fe)| next_onset.is_none_or(|next| next >= fe - EPS));
            let long = median_len > 0.0
                && note.duration >= 2.0 * median_len - EPS
                && at_barline(note.end());
            if note.fermata || under_fermata {
                close(&mut current, PhraseEnd::Fermata, &mut phrases);
            } else if long && next_onset.is_some() {
                close(&mut current, PhraseEnd::LongNote, &mut phrases);
            }
        }
        close(&mut current, PhraseEnd::End, &mut phrases);
        by_part.push(PartPhrases {
            part: part_ref(part),
            phrases: phrases.len(),
            median_note_quarters: round(median_len),
        });
        all.extend(phrases);
    }
    let total = all.len();
    let mut histogram = BTreeMap::new();
    let mut measure_sum = 0usize;
    let mut measured = 0usize;
    for p in &all {
        if let Some(m) = p.length_measures {
            *histogram.entry(m).or_insert(0) += 1;
            measure_sum += m;
            measured += 1;
        }
    }
    let note_sum: usize = all.iter().map(|p| p.length_notes).sum();
    let truncated = total > MAX_PHRASES;
    all.truncate(MAX_PHRASES);
    Phrases {
        total,
        by_part,
        mean_length_measures: (measured > 0).then(|| round(measure_sum as f64 / measured as f64)),
        mean_length_notes: if total > 0 {
            round(note_sum as f64 / total as f64)
        } else {
            0.0
        },
        length_histogram: histogram,
        phrases: all,
        truncated,
    }
}

#[cfg(test)]
mod tests;
