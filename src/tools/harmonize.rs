//! `harmonize_melody`: a melody harmonised in four parts (chorale, classical) or with chord
//! symbols and an accompaniment (pop, jazz), stored as a new score.
//!
//! The music is made by [`crate::music::harmony_gen`]: chords and voicings chosen together by
//! a dynamic programme whose costs are music21's voice-leading faults and the rules of
//! functional harmony. This tool reads the melody (the top part, or the part asked for),
//! writes the result as MusicXML, stores it, and reports the chords, the cadences, the
//! project's own `voice_leading_analysis` of the stored result, and every fault that remains.

use std::collections::BTreeMap;

use music21_rs::chordsymbol::ChordSymbol;
use music21_rs::expressions::{Expression, Fermata};
use music21_rs::notation::{Tie, TieType};
use music21_rs::{
    Chord, Clef, Duration, Key, KeySignature, Metadata, Note, Pitch, Rest, Stream, StreamElement,
    StreamKind, TimeSignature,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{ToolError, ToolResult};
use crate::music::harmony_gen::{
    self, check, Bar, ClefChoice, KeyDef, MelodyNote, PartPlan, Spelled, Style, Tone,
};
use crate::music::melody::{melody_of, MelodyItem};
use crate::music::parse::catch_engine;
use crate::music::summary::Summary;
use crate::music::timeline::{part_events, part_name, parts_of, round};
use crate::store::Eviction;
use crate::tools::analysis_common::{parse_key_arg, roman_of};
use crate::tools::harmony::KeyUsed;
use crate::tools::scores::store_generated;
use crate::tools::{ensure_id_free, tool, validate_score_id, Registry, ToolContext, ToolDef};

/// Longest melody harmonised, in notes.
pub const MAX_MELODY_NOTES: usize = 2_000;

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StyleArg {
    /// Four voices (soprano = the melody, alto, tenor, bass), a chord per beat, Bach's rules.
    #[default]
    Chorale,
    /// Four voices with a freer harmonic rhythm (chords held over weak beats) and the
    /// cadential six-four.
    Classical,
    /// The melody with chord symbols and a piano part of block chords (C3-C5).
    Pop,
    /// The melody with seventh-chord symbols, a piano part led by its guide tones (thirds and
    /// sevenths) and a bass part on the roots.
    Jazz,
}

impl StyleArg {
    fn style(self) -> Style {
        match self {
            StyleArg::Chorale => Style::Chorale,
            StyleArg::Classical => Style::Classical,
            StyleArg::Pop => Style::Pop,
            StyleArg::Jazz => Style::Jazz,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Id of the stored score holding the melody.
    pub score_id: String,
    /// chorale (default), classical, pop or jazz.
    #[serde(default)]
    pub style: StyleArg,
    /// The key to harmonise in: "G" (major), "g" (minor), "F# minor", "B- major". Default: the
    /// whole-score key of `key_analysis` (AardenEssen over every part of the score).
    #[serde(default)]
    pub key: Option<String>,
    /// Id to store the harmonisation under.
    pub new_score_id: String,
    /// Chooses among harmonisations of equal cost; the same seed gives the same result.
    /// Default 0.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Index of the part holding the melody, from 0 (the top part, the default): pass it to
    /// harmonise one line of a score with several parts, e.g. the soprano of a chorale.
    #[serde(default)]
    pub part: Option<usize>,
    /// Replace an existing score with id `new_score_id`.
    #[serde(default)]
    pub replace: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PartUsed {
    pub index: usize,
    pub name: String,
    /// Notes in the melody (tied notes counted once).
    pub notes: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct VoicePitch {
    pub voice: String,
    /// With octave, as music21 writes it: `F#4`, `B-3`.
    pub pitch: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChordOut {
    pub measure: i64,
    pub beat: f64,
    pub offset: f64,
    /// Length in quarter notes.
    pub duration: f64,
    /// The Roman numeral meant, with its inversion: `V65`, `V7/V`, `ii6`, `I64` (cadential).
    pub roman: String,
    /// music21's `romanNumeralFromChord` of the sounding pitches in the key, for comparison.
    pub roman_music21: Option<String>,
    /// Chord symbol, e.g. `G7`, `F#m7b5`, `B-/D` (flats as music21 writes them, `-`).
    pub symbol: String,
    /// T, S, D, applied (a secondary dominant) or other.
    pub function: String,
    /// 0 root position, 1 first inversion, 2 second, 3 third.
    pub inversion: usize,
    /// Every voice's pitch at the chord's onset, from the top.
    pub pitches: Vec<VoicePitch>,
    /// The voices hold from the chord before (same chord, same voicing).
    pub held: bool,
    pub phrase_end: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CadenceOut {
    pub measure: i64,
    pub beat: f64,
    pub offset: f64,
    /// authentic_perfect, authentic_imperfect, half, plagal, deceptive, tonicization (V/x -> x)
    /// or none (a phrase end with no cadence).
    #[serde(rename = "type")]
    pub cadence_type: String,
    /// e.g. `V7 -> I`.
    pub progression: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct VoiceLeadingOut {
    /// Whether `voice_leading_analysis` ran on the stored result.
    pub available: bool,
    /// Why it did not, when it did not.
    pub error: Option<String>,
    /// Its counts per kind (parallel_fifths, parallel_octaves, ..., voice_crossings).
    pub counts: Option<Value>,
    /// Its counts per pair of parts.
    pub by_pair: Option<Value>,
    /// Its findings per kind, with measure, beat, parts and the four notes.
    pub findings: Option<Value>,
    /// music21's raw quartet counts.
    pub music21: Option<Value>,
    /// What it can and cannot see in this texture.
    pub note: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FaultOut {
    /// parallel_fifths, parallel_octaves, parallel_unisons, hidden_fifths, hidden_octaves,
    /// voice_crossings, voice_overlaps, spacing, doubled_leading_tone, unresolved_seventh,
    /// leap_over_octave, range, melody_range, final_cadence, non_chord_melody.
    pub kind: String,
    pub measure: i64,
    pub beat: f64,
    pub offset: f64,
    pub voices: Vec<String>,
    pub detail: String,
    /// Counted as an error by the style's rules (not merely reported).
    pub severe: bool,
    /// Between the melody and the bass (the outer voices).
    pub outer_voices: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Targets {
    pub no_parallel_fifths: bool,
    pub no_parallel_octaves: bool,
    pub no_voice_crossings: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RemainingFaults {
    /// One sentence: what is left, or that nothing is.
    pub summary: String,
    /// Faults per kind, by the harmoniser's own check of the result (notes aligned by time,
    /// as music21 aligns them; the piano's chord tones read as voices).
    pub counts: BTreeMap<String, usize>,
    /// Faults the style counts as errors.
    pub severe: usize,
    /// The targets: no parallel fifths, octaves or crossings. In four parts between any two
    /// parts, by `voice_leading_analysis` where it ran, else by the harmoniser's check; in pop
    /// and jazz between the melody and the bass, and no crossing of the melody.
    pub targets: Targets,
    /// Where `voice_leading_analysis` and the harmoniser's check count parallel fifths,
    /// parallel octaves or crossings differently, what each says.
    pub disagreements: Vec<String>,
    pub faults: Vec<FaultOut>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CostBreakdown {
    /// Chords' own costs (rarity, melody fit, phrase ends).
    pub chords: i64,
    /// Voicings' costs (doubling, inversion, spacing, registers).
    pub voicing: i64,
    /// Progressions (functional grammar, retrogressions, cadences).
    pub progression: i64,
    /// Voice leading (parallels, hidden perfect intervals, overlaps, leaps).
    pub motion: i64,
    /// Tendency tones (sevenths falling, leading tones rising).
    pub tendency: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchOut {
    pub method: String,
    /// Chord spans (the harmonic rhythm's slots).
    pub spans: usize,
    /// Candidate chords over all spans.
    pub candidate_chords: usize,
    /// (chord, voicing) states explored.
    pub states: usize,
    /// Transitions evaluated.
    pub transitions: u64,
    /// Voicings kept per chord and span (fewer for long melodies).
    pub voicings_per_chord: usize,
    /// Cost of the chosen path.
    pub total_cost: i64,
    pub cost_breakdown: CostBreakdown,
    /// Spans voiced only by stretching a range or the spacing.
    pub relaxed_spans: usize,
    pub seed: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChordSymbolsOut {
    /// Whether the symbols are written into the stored score (as MusicXML `<harmony>`).
    pub written_to_score: bool,
    /// How many were written.
    pub count: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub score_id: String,
    pub new_score_id: String,
    pub style: String,
    /// The part the melody was read from.
    pub melody_part: PartUsed,
    pub key: KeyUsed,
    /// The parts of the result, from the top.
    pub parts: Vec<String>,
    /// The chords, one per span of the harmonic rhythm.
    pub chords: Vec<ChordOut>,
    pub cadences: Vec<CadenceOut>,
    pub chord_symbols: ChordSymbolsOut,
    /// `voice_leading_analysis` of the stored result.
    pub voice_leading: VoiceLeadingOut,
    pub remaining_faults: RemainingFaults,
    pub search: SearchOut,
    /// Choices made and limits met, said plainly.
    pub notes: Vec<String>,
    /// The stored score.
    pub summary: Summary,
    pub bytes: u64,
    pub sha256: String,
    pub evicted: Vec<Eviction>,
}

pub fn tool_def() -> ToolDef {
    tool(
        "harmonize_melody",
        "Harmonise a melody (the top part, or `part`) and store the result under new_score_id. chorale and classical: soprano, alto, tenor and bass in their ranges, chords and voicings chosen together by a dynamic programme with costs for music21's voice-leading faults (parallel and hidden fifths and octaves, crossings, overlaps, spacing, doubled leading tones, unresolved sevenths) and functional progressions with cadences; classical also holds chords over weak beats and uses the cadential 6-4. pop: melody, chord symbols and block chords (C3-C5). jazz: seventh chords with ii-V-I tendencies, guide-tone piano voicings and a bass on the roots. Returns the chords per beat (Roman numeral and symbol, every voice's pitch), the cadences, voice_leading_analysis of the stored result and every fault that remains. Deterministic for a seed.",
        true,
        run,
    )
}

// ---------------------------------------------------------------- reading the melody

/// A pitch's spelling as the harmoniser reads it.
fn spelled_of(pitch: &Pitch) -> ToolResult<Spelled> {
    let name = pitch.name();
    let letter = name
        .chars()
        .next()
        .and_then(|c| "CDEFGAB".find(c.to_ascii_uppercase()))
        .ok_or_else(|| ToolError::unsupported(format!("cannot read the pitch '{name}'")))?;
    let alter = pitch.alter();
    if alter.fract().abs() > 1e-9 || alter.abs() > 2.0 {
        return Err(ToolError::unsupported(format!(
            "the melody has a microtonal or triply altered pitch ({}); harmonize_melody reads semitone pitches only",
            pitch.name_with_octave()
        )));
    }
    let tone = Tone::new(letter as u8, alter as i8);
    Ok(tone.at(pitch.ps().round() as i32))
}

fn key_def(key: &Key) -> ToolResult<KeyDef> {
    let tonic = spelled_of(key.tonic_pitch())?.tone;
    Ok(KeyDef {
        tonic,
        minor: key.mode() == "minor",
    })
}

/// Snaps a length to a grid fine enough for every tuplet a score writes (1/5040 quarter).
fn snap(x: f64) -> f64 {
    (x * 5040.0).round() / 5040.0
}

/// Refuses a part holding chords or overlapping notes: a melody is one line.
fn check_single_line(part: &Stream, index: usize) -> ToolResult<()> {
    let mut end_so_far = f64::NEG_INFINITY;
    for event in part_events(part) {
        let length = event.element.quarter_length();
        match event.element {
            StreamElement::Chord(chord) => {
                let mut pcs: Vec<i64> = chord
                    .pitches()
                    .iter()
                    .map(|p| (p.ps() * 100.0).round() as i64)
                    .collect();
                pcs.sort_unstable();
                pcs.dedup();
                if pcs.len() > 1 && length > 0.0 {
                    let pos = round(event.offset);
                    return Err(ToolError::invalid(format!(
                        "part {index} is not a single line: it has a chord of {} notes at offset {pos}; harmonize_melody needs one melodic line (choose another part with `part`)",
                        pcs.len()
                    )));
                }
            }
            StreamElement::Note(_) => {}
            _ => continue,
        }
        if length <= 0.0 {
            continue; // grace notes
        }
        if event.offset < end_so_far - 1e-6 {
            return Err(ToolError::invalid(format!(
                "part {index} is not a single line: notes overlap at offset {} (it holds several voices); harmonize_melody needs one melodic line (choose another part with `part`)",
                round(event.offset)
            )));
        }
        end_so_far = end_so_far.max(event.offset + length);
    }
    Ok(())
}

/// The measures of the melody's part, with their meters; a part without measures is barred
/// by its time signature (4/4 when it has none).
struct Barring {
    bars: Vec<Bar>,
    /// Time signatures by measure index.
    meters: Vec<(usize, TimeSignature)>,
    /// The key signature as written, if any.
    key_signature: Option<StreamElement>,
}

fn barring(part: &Stream, melody_end: f64) -> ToolResult<Barring> {
    let mut bars = Vec::new();
    let mut meters: Vec<(usize, TimeSignature)> = Vec::new();
    let mut meter: Option<TimeSignature> = None;
    let key_signature = part.recurse().into_iter().find_map(|(_, e)| match e {
        StreamElement::Key(_) | StreamElement::KeySignature(_) => Some(e.clone()),
        _ => None,
    });
    let bar_of = |ts: Option<&TimeSignature>| -> (f64, f64) {
        let bar = ts
            .map(|t| t.bar_duration().quarter_length())
            .filter(|l| *l > 0.0)
            .unwrap_or(4.0);
        let beat = ts
            .and_then(|t| t.beat_duration().ok())
            .map(|d| d.quarter_length())
            .filter(|l| *l > 0.0)
            .unwrap_or(1.0);
        (bar, beat)
    };
    let measures: Vec<(f64, &Stream)> = part
        .events()
        .iter()
        .filter_map(|e| match e.element() {
            StreamElement::Stream(m) if m.kind() == StreamKind::Measure => {
                Some((snap(e.offset()), &**m))
            }
            _ => None,
        })
        .collect();
    for (k, &(start, measure)) in measures.iter().enumerate() {
        if let Some(ts) = measure.events().iter().find_map(|e| match e.element() {
            StreamElement::TimeSignature(ts) => Some(ts.clone()),
            _ => None,
        }) {
            meters.push((bars.len(), ts.clone()));
            meter = Some(ts);
        }
        let (meter_length, beat_length) = bar_of(meter.as_ref());
        // A measure lasts until the next one starts (notes written past a barline, as
        // tinyNotation writes them, are cut there); the last one as long as it is, up to a
        // full bar, with more bars after it for notes running on.
        let length = match measures.get(k + 1) {
            Some(&(next, _)) => snap(next - start),
            None => snap(measure.end_offset()).min(meter_length),
        };
        let length = if length <= 0.0 { meter_length } else { length };
        let padding = if measure.padding_left() > 0.0 {
            measure.padding_left()
        } else if bars.is_empty() && length < meter_length - 1e-6 {
            meter_length - length
        } else {
            0.0
        };
        bars.push(Bar {
            start,
            length,
            number: measure.number() as i64,
            beat_length,
            padding,
            meter_length,
        });
    }
    if bars.is_empty() {
        let ts = part.recurse().into_iter().find_map(|(_, e)| match e {
            StreamElement::TimeSignature(ts) => Some(ts.clone()),
            _ => None,
        });
        let (meter_length, beat_length) = bar_of(ts.as_ref());
        let ts = match ts {
            Some(ts) => ts,
            None => TimeSignature::new(4, 4)
                .map_err(|e| ToolError::internal(format!("building 4/4: {e}")))?,
        };
        meters.push((0, ts));
        let count = ((melody_end / meter_length) - 1e-9).ceil().max(1.0) as usize;
        if count > 100_000 {
            return Err(ToolError::limit("the melody is too long to bar"));
        }
        for i in 0..count {
            bars.push(Bar {
                start: i as f64 * meter_length,
                length: meter_length,
                number: i as i64 + 1,
                beat_length,
                padding: 0.0,
                meter_length,
            });
        }
    } else if let Some(last) = bars.last().cloned() {
        // Notes past the last measure: more measures of the same meter.
        let mut start = last.start + last.length;
        let mut number = last.number;
        while start < melody_end - 1e-6 && bars.len() < 100_000 {
            number += 1;
            bars.push(Bar {
                start,
                length: last.meter_length,
                number,
                beat_length: last.beat_length,
                padding: 0.0,
                meter_length: last.meter_length,
            });
            start += last.meter_length;
        }
    }
    if meters.is_empty() {
        let ts = TimeSignature::new(4, 4)
            .map_err(|e| ToolError::internal(format!("building 4/4: {e}")))?;
        meters.push((0, ts));
    }
    Ok(Barring {
        bars,
        meters,
        key_signature,
    })
}

// ---------------------------------------------------------------- writing the score

fn clef_of(choice: ClefChoice) -> Clef {
    match choice {
        ClefChoice::Treble => Clef::treble(),
        ClefChoice::Bass => Clef::bass(),
        ClefChoice::Treble8vb => Clef::of_kind(music21_rs::ClefKind::Treble8vbClef),
    }
}

fn engine<T>(what: &str, r: music21_rs::Result<T>) -> ToolResult<T> {
    r.map_err(|e| ToolError::internal(format!("harmonize_melody: {what}: {e}")))
}

fn pitch_of(s: &Spelled) -> ToolResult<Pitch> {
    engine("building a pitch", Pitch::from_name(s.name()))
}

fn element_of(
    pitches: &[Spelled],
    duration: f64,
    tie: Option<TieType>,
    fermata: bool,
) -> ToolResult<StreamElement> {
    let d = engine("building a duration", Duration::new(duration))?;
    if pitches.is_empty() {
        let mut rest = Rest::new(d);
        if fermata {
            rest.expressions_mut()
                .push(Expression::Fermata(Fermata::new()));
        }
        return Ok(StreamElement::Rest(rest));
    }
    if pitches.len() == 1 {
        let mut note = Note::from_pitch(pitch_of(&pitches[0])?).with_duration(d);
        if let Some(t) = tie {
            note.set_tie(Some(Tie::new(t)));
        }
        if fermata {
            note.expressions_mut()
                .push(Expression::Fermata(Fermata::new()));
        }
        return Ok(StreamElement::Note(note));
    }
    let notes: Vec<Note> = pitches
        .iter()
        .map(|p| pitch_of(p).map(Note::from_pitch))
        .collect::<ToolResult<_>>()?;
    let mut chord = engine("building a chord", Chord::new(notes))?.with_duration(d);
    if let Some(t) = tie {
        chord.set_tie(Some(Tie::new(t)));
    }
    if fermata {
        chord
            .expressions_mut()
            .push(Expression::Fermata(Fermata::new()));
    }
    Ok(StreamElement::Chord(chord))
}

/// Lengths single written values can have that add up to `length`: the engine's own cut of a
/// length no one value writes (music21's `quarterLengthToDurations`), else note values from
/// the longest down.
fn writable(length: f64) -> Vec<f64> {
    let Ok(d) = Duration::new(length) else {
        return vec![length];
    };
    let components = d.components();
    if components.len() <= 1 {
        // One value, tuplets included (the engine finds the triplet eighth in 1/3).
        return vec![length];
    }
    let parts: Vec<f64> = components
        .iter()
        .map(|(t, dots)| t.quarter_length_with_dots(*dots))
        .collect();
    if (parts.iter().sum::<f64>() - length).abs() < 1e-6 {
        return parts;
    }
    if (length * 16.0 - (length * 16.0).round()).abs() > 1e-6 {
        return vec![length];
    }
    const VALUES: [f64; 12] = [
        4.0, 3.0, 2.0, 1.5, 1.0, 0.75, 0.5, 0.375, 0.25, 0.1875, 0.125, 0.0625,
    ];
    let mut out = Vec::new();
    let mut left = length;
    while left > 1e-6 {
        match VALUES.iter().find(|v| **v <= left + 1e-9) {
            Some(v) => {
                out.push(*v);
                left -= v;
            }
            None => {
                out.push(left);
                break;
            }
        }
    }
    out
}

/// One part, measure by measure, its notation made here: notes cut at barlines and into
/// writable values and tied, gaps filled with rests, so that the score is written as it
/// stands (music21's `makeNotation=False`) and every measure adds up.
fn write_part(
    plan: &PartPlan,
    barring: &Barring,
    key: &KeyDef,
    symbols: &[(f64, ChordSymbol)],
) -> ToolResult<Stream> {
    let eps = 1e-6;
    let bars = &barring.bars;
    let mut measures: Vec<Stream> = Vec::with_capacity(bars.len());
    for (i, bar) in bars.iter().enumerate() {
        let mut measure = Stream::with_kind(StreamKind::Measure);
        measure.set_number(bar.number as music21_rs::IntegerType);
        if bar.padding > eps {
            measure.set_padding_left(bar.padding);
        }
        if i == 0 {
            measure.insert(0.0, clef_of(plan.clef));
            match &barring.key_signature {
                Some(element) => measure.insert(0.0, element.clone()),
                None => measure.insert(
                    0.0,
                    KeySignature::new(key.sharps() as music21_rs::IntegerType),
                ),
            }
        }
        if let Some((_, ts)) = barring.meters.iter().find(|(at, _)| *at == i) {
            measure.insert(0.0, ts.clone());
        }
        measures.push(measure);
    }
    // Where each bar is filled so far (events come in time order).
    let mut filled: Vec<f64> = bars.iter().map(|b| b.start).collect();
    let rest_until = |measure: &mut Stream, bar: &Bar, from: f64, to: f64| -> ToolResult<()> {
        let mut at = from;
        for length in writable(snap(to - from)) {
            measure.insert(snap(at - bar.start), element_of(&[], length, None, false)?);
            at += length;
        }
        Ok(())
    };
    for event in &plan.events {
        let (e0, e1) = (event.offset, event.offset + event.duration);
        // The event's pieces: (bar, start, length), cut at barlines and into written values.
        let mut pieces: Vec<(usize, f64, f64)> = Vec::new();
        for (i, bar) in bars.iter().enumerate() {
            let (start, end) = (bar.start, bar.start + bar.length);
            if e1 <= start + eps || e0 >= end - eps {
                continue;
            }
            let from = e0.max(start);
            let to = e1.min(end);
            let mut at = from;
            for length in writable(snap(to - from)) {
                pieces.push((i, at, length));
                at += length;
            }
        }
        let n = pieces.len();
        for (k, &(i, at, length)) in pieces.iter().enumerate() {
            let bar = &bars[i];
            if at > filled[i] + eps {
                rest_until(&mut measures[i], bar, filled[i], at)?;
            }
            let tie = match (n, k) {
                (1, _) => None,
                (_, 0) => Some(TieType::Start),
                (_, k) if k + 1 == n => Some(TieType::Stop),
                _ => Some(TieType::Continue),
            };
            measures[i].insert(
                snap(at - bar.start),
                element_of(&event.pitches, length, tie, event.fermata && k == 0)?,
            );
            filled[i] = at + length;
        }
    }
    let mut part = Stream::with_kind(StreamKind::Part);
    part.set_id(Some(plan.name.replace(' ', "")));
    part.set_name(Some(plan.name.clone()));
    for (i, (bar, mut measure)) in bars.iter().zip(measures).enumerate() {
        let end = bar.start + bar.length;
        if end > filled[i] + eps {
            rest_until(&mut measure, bar, filled[i], end)?;
        }
        if plan.carries_symbols {
            for (at, symbol) in symbols {
                if *at >= bar.start - eps && *at < end - eps {
                    measure.insert(snap(at - bar.start), symbol.clone());
                }
            }
        }
        part.insert(bar.start, measure);
    }
    Ok(part)
}

// ---------------------------------------------------------------- the tool

fn run(ctx: &ToolContext, args: Args) -> ToolResult<Output> {
    validate_score_id(&args.score_id)?;
    validate_score_id(&args.new_score_id)
        .map_err(|e| ToolError::invalid(format!("new_score_id: {}", e.message)))?;
    if args.new_score_id == args.score_id {
        return Err(ToolError::invalid(
            "new_score_id must differ from score_id: the melody's score is kept",
        ));
    }
    let given_key = args
        .key
        .as_deref()
        .map(|k| parse_key_arg("key", k))
        .transpose()?;
    ensure_id_free(ctx, "new_score_id", &args.new_score_id, args.replace)?;
    let style = args.style.style();
    let seed = args.seed.unwrap_or(0);
    let loaded = ctx.load(&args.score_id)?;
    let score: &Stream = &loaded.score;
    let parts = parts_of(score);
    let index = args.part.unwrap_or(0);
    let Some(part) = parts.get(index).copied() else {
        return Err(ToolError::invalid(format!(
            "part {index} does not exist: score '{}' has {} part(s), numbered from 0",
            args.score_id,
            parts.len()
        )));
    };
    check_single_line(part, index)?;
    let items = catch_engine("reading the melody", || melody_of(part))?;
    let mut notes: Vec<MelodyNote> = Vec::new();
    for item in &items {
        if let MelodyItem::Note(n) = item {
            notes.push(MelodyNote {
                offset: snap(n.offset),
                duration: snap(n.duration),
                pitch: spelled_of(&n.pitch)?,
                fermata: n.fermata,
            });
        }
    }
    if notes.is_empty() {
        return Err(ToolError::invalid(format!(
            "score_id '{}': part {index} has no notes to harmonise (only rests, or nothing)",
            args.score_id
        )));
    }
    if notes.len() > MAX_MELODY_NOTES {
        return Err(ToolError::limit(format!(
            "score_id '{}': the melody has {} notes, over harmonize_melody's limit of {MAX_MELODY_NOTES}; harmonise an excerpt",
            args.score_id,
            notes.len()
        )));
    }
    let (key, key_used) = KeyUsed::resolve(given_key, score)?;
    let key_def = key_def(&key)?;
    let melody_end = notes
        .iter()
        .map(|n| n.offset + n.duration)
        .fold(0.0, f64::max);
    let barring = barring(part, melody_end)?;
    let end = barring
        .bars
        .last()
        .map_or(melody_end, |b| b.start + b.length)
        .max(melody_end);
    let request = harmony_gen::Request {
        notes: &notes,
        bars: &barring.bars,
        end,
        key: key_def,
        style,
        seed,
    };
    let result =
        catch_engine("harmonising", || harmony_gen::harmonize(&request))?.map_err(|why| {
            ToolError::unsupported(format!("cannot harmonise score '{}': {why}", args.score_id))
        })?;

    // Chord symbols (pop and jazz): one at each change of chord.
    let mut symbols: Vec<(f64, ChordSymbol)> = Vec::new();
    if !style.four_part() {
        for chord in result.chords.iter().filter(|c| !c.held) {
            if symbols
                .last()
                .is_some_and(|(_, s)| s.figure() == chord.chord.symbol())
            {
                continue;
            }
            let root = engine(
                "building a root",
                Pitch::from_name(chord.chord.root.music21_name()),
            )?;
            let symbol = engine(
                "building a chord symbol",
                ChordSymbol::from_kind(root, chord.chord.quality.symbol_kind(), None),
            )?;
            symbols.push((chord.offset, symbol));
        }
    }
    let mut stream = Stream::with_kind(StreamKind::Score);
    let mut metadata = Metadata::new();
    let title = crate::music::summary::title(score).unwrap_or_else(|| args.score_id.clone());
    metadata.add_text("title", format!("{title} (harmonized, {})", style.name()));
    metadata.add_text("composer", "music21-prod harmonize_melody");
    stream.set_metadata(Some(metadata));
    for plan in &result.parts {
        stream.insert(0.0, write_part(plan, &barring, &key_def, &symbols)?);
    }
    // The notation is made already (measures, ties, written values): written as it stands.
    let origin = format!(
        "harmonize_melody:{}:{}:seed={seed}",
        args.score_id,
        style.name()
    );
    let (summary, meta, evicted) = store_generated(
        ctx,
        &args.new_score_id,
        &stream,
        "musicxml",
        &origin,
        args.replace,
    )?;

    // The project's voice-leading analysis of what was stored.
    let analysis = Registry::shared().call(
        ctx,
        "voice_leading_analysis",
        json!({"score_id": args.new_score_id}),
    );
    let note = if style.four_part() {
        "every pair of the four parts is analysed".to_string()
    } else {
        "the piano's block chords are chords, which voice_leading_analysis (like music21's quartet walk) leaves out; they are checked voice by voice in remaining_faults".to_string()
    };
    let voice_leading = match &analysis {
        Ok(v) => VoiceLeadingOut {
            available: true,
            error: None,
            counts: v.get("counts").cloned(),
            by_pair: v.get("by_pair").cloned(),
            findings: v.get("findings").cloned(),
            music21: v.get("music21").cloned(),
            note,
        },
        Err(e) => VoiceLeadingOut {
            available: false,
            error: Some(e.to_string()),
            counts: None,
            by_pair: None,
            findings: None,
            music21: None,
            note,
        },
    };

    let grid_position = |offset: f64| check::position(&barring.bars, offset);
    let chords: Vec<ChordOut> = result
        .chords
        .iter()
        .map(|c| {
            let (measure, beat) = grid_position(c.offset);
            let sounding: Vec<String> = c.pitches.iter().map(|(_, p)| p.name()).collect();
            let roman_music21 = Chord::new(sounding.iter().map(String::as_str).collect::<Vec<_>>())
                .ok()
                .and_then(|ch| roman_of(&ch, &key))
                .map(|rn| rn.figure().to_string());
            ChordOut {
                measure,
                beat,
                offset: round(c.offset),
                duration: round(c.duration),
                roman: c.figure.clone(),
                roman_music21,
                symbol: c.symbol.clone(),
                function: c.function.to_string(),
                inversion: c.inversion,
                pitches: c
                    .pitches
                    .iter()
                    .map(|(voice, p)| VoicePitch {
                        voice: voice.clone(),
                        pitch: p.name(),
                    })
                    .collect(),
                held: c.held,
                phrase_end: c.phrase_end,
            }
        })
        .collect();
    let cadences: Vec<CadenceOut> = result
        .cadences
        .iter()
        .map(|c| {
            let (measure, beat) = grid_position(c.offset);
            CadenceOut {
                measure,
                beat,
                offset: round(c.offset),
                cadence_type: c.kind.to_string(),
                progression: c.progression.clone(),
            }
        })
        .collect();
    let remaining_faults = remaining(&result.faults, analysis.as_ref().ok(), style);
    let mut notes_out = result.notes.clone();
    if key_used.source == "key_analysis" {
        notes_out.push(format!(
            "the key {} was found by key_analysis over the whole score; pass `key` to choose another",
            key_used.name
        ));
    }
    let s = &result.stats;
    Ok(Output {
        score_id: args.score_id.clone(),
        new_score_id: args.new_score_id.clone(),
        style: style.name().to_string(),
        melody_part: PartUsed {
            index,
            name: part_name(part, index),
            notes: notes.len(),
        },
        key: key_used,
        parts: result.parts.iter().map(|p| p.name.clone()).collect(),
        chords,
        cadences,
        chord_symbols: ChordSymbolsOut {
            written_to_score: !symbols.is_empty(),
            count: symbols.len(),
        },
        voice_leading,
        remaining_faults,
        search: SearchOut {
            method: "Viterbi (dynamic programming) over (chord, voicing) states, one layer per span; the seed breaks ties between equal costs only".into(),
            spans: s.spans,
            candidate_chords: s.candidate_chords,
            states: s.states,
            transitions: s.transitions,
            voicings_per_chord: s.voicings_per_chord,
            total_cost: s.total_cost,
            cost_breakdown: CostBreakdown {
                chords: s.breakdown.chords,
                voicing: s.breakdown.voicing,
                progression: s.breakdown.progression,
                motion: s.breakdown.motion,
                tendency: s.breakdown.tendency,
            },
            relaxed_spans: s.relaxed_spans,
            seed,
        },
        notes: notes_out,
        summary,
        bytes: meta.bytes,
        sha256: meta.sha256,
        evicted,
    })
}

fn remaining(faults: &[check::Fault], analysis: Option<&Value>, style: Style) -> RemainingFaults {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for f in faults {
        *counts.entry(f.kind.to_string()).or_default() += 1;
    }
    let severe = faults.iter().filter(|f| f.severe).count();
    let own = |kind: &str| counts.get(kind).copied().unwrap_or(0);
    let theirs = |kind: &str| {
        analysis
            .and_then(|v| v.get("counts"))
            .and_then(|c| c.get(kind))
            .and_then(Value::as_u64)
            .map(|n| n as usize)
    };
    let mut disagreements = Vec::new();
    if style.four_part() {
        for kind in ["parallel_fifths", "parallel_octaves", "voice_crossings"] {
            if let Some(t) = theirs(kind) {
                if t != own(kind) {
                    disagreements.push(format!(
                        "{kind}: voice_leading_analysis counts {t}, the harmoniser's check {}",
                        own(kind)
                    ));
                }
            }
        }
    }
    // Four parts: every pair, as voice_leading_analysis counts them. Pop and jazz: the faults
    // their rules count (between the melody and the bass, and any crossing of the melody).
    let severe_of = |kind: &str| faults.iter().filter(|f| f.severe && f.kind == kind).count();
    let count = |kind: &str| {
        if style.four_part() {
            theirs(kind).unwrap_or(own(kind))
        } else {
            severe_of(kind)
        }
    };
    let targets = Targets {
        no_parallel_fifths: count("parallel_fifths") == 0,
        no_parallel_octaves: count("parallel_octaves") == 0 && count("parallel_unisons") == 0,
        no_voice_crossings: count("voice_crossings") == 0,
    };
    let listed: Vec<String> = counts
        .iter()
        .map(|(k, n)| format!("{n} {}", k.replace('_', " ")))
        .collect();
    let summary = if faults.is_empty() {
        "no faults remain: no parallel or hidden fifths or octaves, no crossings or overlaps, every voice in its range".to_string()
    } else {
        let scope = if style.four_part() {
            "between any two parts"
        } else {
            "between the melody and the bass, with the melody always on top"
        };
        let missed: Vec<&str> = [
            (!targets.no_parallel_fifths, "parallel fifths"),
            (!targets.no_parallel_octaves, "parallel octaves"),
            (!targets.no_voice_crossings, "crossings"),
        ]
        .into_iter()
        .filter_map(|(bad, what)| bad.then_some(what))
        .collect();
        let head = if missed.is_empty() {
            format!("no parallel fifths or octaves and no crossings {scope}; ")
        } else {
            format!("NOT MET: {} remain {scope}; ", missed.join(" and "))
        };
        format!("{head}remaining: {}", listed.join(", "))
    };
    RemainingFaults {
        summary,
        counts,
        severe,
        targets,
        disagreements,
        faults: faults
            .iter()
            .map(|f| FaultOut {
                kind: f.kind.to_string(),
                measure: f.measure,
                beat: f.beat,
                offset: f.offset,
                voices: f.voices.clone(),
                detail: f.detail.clone(),
                severe: f.severe,
                outer_voices: f.outer,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use music21_rs::{Stream, StreamElement, StreamKind};
    use serde_json::{json, Value};

    use crate::error::ErrorKind;
    use crate::music::timeline::{part_events, parts_of};
    use crate::tools::analysis_common::test_support::{call, context, import_text, shared_corpus};
    use crate::tools::ToolContext;

    const STYLES: [&str; 4] = ["chorale", "classical", "pop", "jazz"];

    fn import(ctx: &ToolContext, id: &str, source: &str) {
        call(
            ctx,
            "import_score",
            json!({"score_id": id, "source": source}),
        )
        .unwrap_or_else(|e| panic!("import {source}: {e}"));
    }

    fn harmonize(ctx: &ToolContext, args: Value) -> Value {
        call(ctx, "harmonize_melody", args.clone())
            .unwrap_or_else(|e| panic!("harmonize {args}: {e}"))
    }

    // ------------------------------------------------------------ an independent checker
    //
    // Written for the tests from the stored score alone (not the harmoniser's own code): each
    // part's pitches at every moment any part attacks a note.

    /// (onset, end, MIDI numbers sounding) of each note, chord and rest of a part.
    fn events_of(part: &Stream) -> Vec<(f64, f64, Vec<i32>)> {
        part_events(part)
            .into_iter()
            .filter(|e| e.element.quarter_length() > 0.0)
            .map(|e| {
                let midis = e
                    .element
                    .pitches()
                    .iter()
                    .map(|p| p.ps().round() as i32)
                    .collect();
                (e.offset, e.offset + e.element.quarter_length(), midis)
            })
            .collect()
    }

    fn sounding(events: &[(f64, f64, Vec<i32>)], t: f64) -> Option<Vec<i32>> {
        events
            .iter()
            .find(|(a, b, p)| *a <= t + 1e-9 && *b > t + 1e-9 && !p.is_empty())
            .map(|(_, _, p)| p.clone())
    }

    /// Each part's pitches at every onset of any part (None where it rests).
    fn slices(score: &Stream) -> Vec<Vec<Option<Vec<i32>>>> {
        let parts: Vec<Vec<(f64, f64, Vec<i32>)>> =
            parts_of(score).into_iter().map(events_of).collect();
        let mut times: Vec<f64> = parts.iter().flatten().map(|e| e.0).collect();
        times.sort_by(f64::total_cmp);
        times.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
        times
            .iter()
            .map(|&t| parts.iter().map(|p| sounding(p, t)).collect())
            .collect()
    }

    #[derive(Debug, Default, PartialEq)]
    struct RuleCount {
        parallel_fifths: usize,
        parallel_octaves: usize,
        crossings: usize,
    }

    /// Parallel fifths and octaves (unisons included) between single-note parts, and
    /// crossings (a lower part above a higher one).
    fn rule_check(score: &Stream) -> RuleCount {
        let mut count = RuleCount::default();
        let single = |x: &Option<Vec<i32>>| x.as_ref().and_then(|v| (v.len() == 1).then(|| v[0]));
        let s = slices(score);
        for (k, now) in s.iter().enumerate() {
            for i in 0..now.len() {
                for j in i + 1..now.len() {
                    let (Some(u1), Some(l1)) = (single(&now[i]), single(&now[j])) else {
                        continue;
                    };
                    if u1 < l1 {
                        count.crossings += 1;
                    }
                    let Some(before) = k.checked_sub(1).map(|b| &s[b]) else {
                        continue;
                    };
                    let (Some(u0), Some(l0)) = (single(&before[i]), single(&before[j])) else {
                        continue;
                    };
                    if u0 == u1 || l0 == l1 {
                        continue;
                    }
                    let (a, b) = ((u0 - l0).abs() % 12, (u1 - l1).abs() % 12);
                    if a == 7 && b == 7 {
                        count.parallel_fifths += 1;
                    }
                    if a == 0 && b == 0 {
                        count.parallel_octaves += 1;
                    }
                }
            }
        }
        count
    }

    /// What a measure holds, voice by voice: the notes, chords and rests of each voice summed.
    fn measure_contents(measure: &Stream) -> Vec<f64> {
        let counted =
            |e: &StreamElement| e.is_note_or_chord() || matches!(e, StreamElement::Rest(_));
        let mut out = Vec::new();
        let top: f64 = measure
            .events()
            .iter()
            .filter(|e| counted(e.element()))
            .map(|e| e.element().quarter_length())
            .sum();
        if top > 0.0 {
            out.push(top);
        }
        for e in measure.events() {
            if let StreamElement::Stream(voice) = e.element() {
                if voice.kind() == StreamKind::Voice {
                    out.push(
                        voice
                            .events()
                            .iter()
                            .filter(|x| counted(x.element()))
                            .map(|x| x.element().quarter_length())
                            .sum(),
                    );
                }
            }
        }
        out
    }

    /// Bars add up: every part has as many measures; every measure of every part, every voice
    /// of it, holds exactly its bar under the time signature, but for a pickup (as long as
    /// the melody's) and a last measure completing it (as long in every part); where the
    /// melody's own measures are cut short mid-piece (at a repeat), as long as those.
    fn assert_bars_add_up(score: &Stream, melody: &Stream, label: &str) {
        let parts = parts_of(score);
        let count = parts[0].measures().len();
        // The melody's measures, each as long as until the next one starts (tinyNotation
        // writes notes past their barline).
        let starts: Vec<(f64, f64)> = melody
            .events()
            .iter()
            .filter_map(|e| match e.element() {
                StreamElement::Stream(m) if m.kind() == StreamKind::Measure => {
                    Some((e.offset(), m.end_offset()))
                }
                _ => None,
            })
            .collect();
        let given: Vec<f64> = starts
            .iter()
            .enumerate()
            .map(|(i, (at, len))| starts.get(i + 1).map_or(*len, |next| next.0 - at))
            .collect();
        let pickup = melody
            .measures()
            .first()
            .map(|m| m.end_offset())
            .filter(|l| *l > 0.0);
        let mut first_lengths: Vec<f64> = Vec::new();
        for (p, part) in parts.iter().enumerate() {
            let measures = part.measures();
            assert_eq!(
                measures.len(),
                count,
                "{label}: part {p} has {} measures, not {count}",
                measures.len()
            );
            let mut bar = 4.0;
            for (m, measure) in measures.iter().enumerate() {
                for e in measure.events() {
                    if let StreamElement::TimeSignature(ts) = e.element() {
                        bar = ts.bar_duration().quarter_length();
                    }
                }
                let contents = measure_contents(measure);
                assert!(
                    !contents.is_empty(),
                    "{label}: part {p} measure {m} is empty"
                );
                for total in contents {
                    let edge = m == 0 || m + 1 == count;
                    if given.len() == count && !edge {
                        assert!(
                            (total - given[m]).abs() < 1e-6,
                            "{label}: part {p} measure {m} holds {total}, the melody's {}",
                            given[m]
                        );
                    } else if !edge {
                        assert!(
                            (total - bar).abs() < 1e-6,
                            "{label}: part {p} measure {m} holds {total}, the bar {bar}"
                        );
                    } else {
                        assert!(
                            total <= bar + 1e-6 && total > 0.0,
                            "{label}: part {p} measure {m} holds {total}"
                        );
                    }
                    if m == 0 {
                        if let Some(pickup) = pickup {
                            assert!(
                                (total - pickup.min(bar)).abs() < 1e-6,
                                "{label}: part {p} pickup {total} vs {pickup}"
                            );
                        }
                    }
                    if m + 1 == count {
                        if p == 0 {
                            first_lengths.push(total);
                        } else {
                            assert!(
                                first_lengths.iter().all(|l| (l - total).abs() < 1e-6),
                                "{label}: part {p} last measure {total}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// (lowest, highest) MIDI number of a part.
    fn range_of(part: &Stream) -> (i32, i32) {
        let all: Vec<i32> = events_of(part).into_iter().flat_map(|e| e.2).collect();
        (
            all.iter().copied().min().unwrap_or(0),
            all.iter().copied().max().unwrap_or(0),
        )
    }

    /// Checks one harmonisation every way the issue asks.
    fn check_result(ctx: &ToolContext, source_id: &str, part: usize, style: &str, out: &Value) {
        let label = format!("{source_id} part {part} {style}");
        let new_id = out["new_score_id"].as_str().expect("new id");
        let stored = ctx.load(new_id).expect("stored result");
        let score: &Stream = &stored.score;
        let input = ctx.load(source_id).expect("input");
        let melody = parts_of(&input.score)[part].clone();
        let parts = parts_of(score);
        let expected_parts = match style {
            "chorale" | "classical" => 4,
            "pop" => 2,
            _ => 3,
        };
        assert_eq!(parts.len(), expected_parts, "{label}: parts");
        assert_eq!(
            out["parts"].as_array().map(Vec::len),
            Some(expected_parts),
            "{label}"
        );
        assert_bars_add_up(score, &melody, &label);
        // The melody is kept note for note.
        let heard = |p: &Stream| -> Vec<(i64, i32)> {
            crate::music::melody::melody_of(p)
                .into_iter()
                .filter_map(|i| match i {
                    crate::music::melody::MelodyItem::Note(n) => Some((
                        (n.offset * 1000.0).round() as i64,
                        n.pitch.ps().round() as i32,
                    )),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            heard(parts[0]),
            heard(&melody),
            "{label}: the melody must be kept"
        );
        // Ranges.
        let ranges: Vec<(i32, i32)> = match style {
            "chorale" | "classical" => vec![(55, 74), (48, 67), (40, 60)],
            "pop" => vec![(48, 72)],
            _ => vec![(48, 72), (40, 60)],
        };
        for (i, (lo, hi)) in ranges.iter().enumerate() {
            let (low, high) = range_of(parts[i + 1]);
            assert!(
                low >= *lo && high <= *hi,
                "{label}: part {} spans {low}-{high}, outside {lo}-{hi}",
                i + 1
            );
        }
        // The rules, by the independent checker and by voice_leading_analysis.
        let s = slices(score);
        match style {
            "chorale" | "classical" => {
                assert_eq!(
                    rule_check(score),
                    RuleCount::default(),
                    "{label}: independent rule check"
                );
                let vl = &out["voice_leading"]["counts"];
                for kind in [
                    "parallel_fifths",
                    "parallel_octaves",
                    "parallel_unisons",
                    "voice_crossings",
                ] {
                    assert_eq!(
                        vl[kind], 0,
                        "{label}: voice_leading_analysis {kind}: {}",
                        out["voice_leading"]["findings"][kind]
                    );
                }
                let again =
                    call(ctx, "voice_leading_analysis", json!({"score_id": new_id})).expect("vl");
                assert_eq!(
                    &again["counts"], vl,
                    "{label}: the response carries the analysis"
                );
                assert_eq!(
                    out["remaining_faults"]["targets"]["no_parallel_fifths"],
                    true
                );
            }
            _ => {
                // The melody stays above the accompaniment; jazz's bass below the piano.
                for slice in &s {
                    let top = slice[0].as_ref().and_then(|m| m.first().copied());
                    let piano = slice[1].as_ref();
                    if let (Some(m), Some(p)) = (top, piano) {
                        assert!(
                            p.iter().all(|x| *x < m),
                            "{label}: piano {p:?} reaches the melody {m}"
                        );
                        assert_eq!(p.len(), 3, "{label}: three piano voices");
                    }
                    if style == "jazz" {
                        if let (Some(p), Some(b)) = (piano, slice[2].as_ref()) {
                            assert!(
                                b.iter().all(|x| p.iter().all(|y| x < y)),
                                "{label}: bass {b:?} above piano {p:?}"
                            );
                        }
                    }
                }
                if style == "jazz" {
                    // Melody and bass are single lines: the independent check applies to them.
                    let mut two = Stream::with_kind(StreamKind::Score);
                    two.insert(0.0, parts[0].clone());
                    two.insert(0.0, parts[2].clone());
                    let c = rule_check(&two);
                    assert_eq!(c.crossings, 0, "{label}: melody/bass crossings");
                    assert_eq!(c.parallel_octaves, 0, "{label}: melody/bass octaves: {c:?}");
                }
                let symbols = score
                    .recurse()
                    .into_iter()
                    .filter(|(_, e)| matches!(e, StreamElement::ChordSymbol(_)))
                    .count();
                assert!(symbols > 0, "{label}: chord symbols written");
                assert_eq!(
                    out["chord_symbols"]["count"], symbols,
                    "{label}: symbols counted"
                );
            }
        }
        // Every chord holds its melody note at the onset (four parts), and is named.
        for chord in out["chords"].as_array().expect("chords") {
            assert!(
                chord["roman"].as_str().is_some_and(|r| !r.is_empty()),
                "{label}: {chord}"
            );
            assert!(
                chord["symbol"].as_str().is_some_and(|r| !r.is_empty()),
                "{label}: {chord}"
            );
        }
        let last = out["cadences"]
            .as_array()
            .and_then(|c| c.last())
            .cloned()
            .unwrap_or(Value::Null);
        assert!(last.is_object(), "{label}: a final cadence is reported");
    }

    /// Harmonises and checks, twice with one seed (the same bytes) and once with another.
    fn run_style(ctx: &ToolContext, source_id: &str, part: usize, style: &str) -> Value {
        let id = format!("{source_id}-{style}-a");
        let out = harmonize(
            ctx,
            json!({"score_id": source_id, "part": part, "style": style, "new_score_id": id, "seed": 7}),
        );
        check_result(ctx, source_id, part, style, &out);
        let again = harmonize(
            ctx,
            json!({"score_id": source_id, "part": part, "style": style, "new_score_id": format!("{source_id}-{style}-b"), "seed": 7}),
        );
        assert_eq!(
            out["sha256"], again["sha256"],
            "{source_id} {style}: same seed, same MusicXML"
        );
        assert_eq!(
            out["chords"], again["chords"],
            "{source_id} {style}: same seed, same chords"
        );
        let other = harmonize(
            ctx,
            json!({"score_id": source_id, "part": part, "style": style, "new_score_id": format!("{source_id}-{style}-c"), "seed": 8}),
        );
        assert_eq!(
            out["search"]["total_cost"], other["search"]["total_cost"],
            "{source_id} {style}: a seed only chooses among paths of equal cost"
        );
        out
    }

    #[test]
    fn every_style_on_the_builtin_corpus() {
        let (_dir, ctx) = context();
        import(&ctx, "twinkle", "builtin/twinkle");
        import(&ctx, "ode", "builtin/ode-to-joy");
        import(&ctx, "gmaj", "builtin/chorale-g-major");
        import(&ctx, "amin", "builtin/chorale-a-minor");
        for style in STYLES {
            for (id, part) in [("twinkle", 0), ("ode", 0), ("gmaj", 0), ("amin", 0)] {
                let out = run_style(&ctx, id, part, style);
                assert_eq!(out["style"], style);
            }
        }
    }

    #[test]
    fn every_style_over_rests_triplets_and_other_meters() {
        let (_dir, ctx) = context();
        let tunes = [
            (
                "rests",
                "tinyNotation: 4/4 c4 d e f trip{g8 a g} f4 e2 d4 e8 f g2. r4 e4 d c1",
            ),
            (
                "six",
                "tinyNotation: 6/8 c8 d e f4 g8 a4. g4. r4. e8 f g c4. d8 e f e4. d4. c2.",
            ),
            (
                "three",
                "X:1\nM:3/4\nL:1/8\nK:D\nA2|d2 f2 a2|g2 e2 c2|d4 A2|B2 c2 d2|e6|]\n",
            ),
        ];
        for (id, text) in tunes {
            import_text(&ctx, id, text);
            for style in STYLES {
                let out = run_style(&ctx, id, 0, style);
                if style == "chorale" {
                    // Where the melody rests, every voice rests.
                    let stored = ctx
                        .load(out["new_score_id"].as_str().expect("id"))
                        .expect("stored");
                    for slice in slices(&stored.score) {
                        if slice[0].is_none() {
                            assert!(
                                slice.iter().all(Option::is_none),
                                "{id}: voices sound over a rest: {slice:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_melody_too_low_for_four_parts_is_refused_clearly() {
        let (_dir, ctx) = context();
        import_text(&ctx, "low", "tinyNotation: 4/4 CC4 DD EE FF GG1");
        let e = call(
            &ctx,
            "harmonize_melody",
            json!({"score_id": "low", "new_score_id": "x"}),
        )
        .expect_err("too low");
        assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
        assert!(
            e.message.contains("too low") || e.message.contains("no room"),
            "{e}"
        );
        // Pop and jazz put the accompaniment under it as best they can, and say what is wrong.
        let out = harmonize(
            &ctx,
            json!({"score_id": "low", "new_score_id": "p", "style": "pop"}),
        );
        assert!(out["remaining_faults"]["faults"]
            .as_array()
            .is_some_and(|f| !f.is_empty()));
    }

    #[test]
    fn every_style_on_bach_soprano_lines() {
        let (_dir, ctx) = context();
        if shared_corpus().is_none() {
            eprintln!("skipping: ../shared/corpus not found");
            return;
        }
        for name in ["bwv66.6", "bwv269", "bwv40.3"] {
            let id = name.replace('.', "_");
            import(&ctx, &id, &format!("bach/{name}"));
            for style in STYLES {
                run_style(&ctx, &id, 0, style);
            }
        }
    }

    #[test]
    fn chorale_output_reports_chords_cadences_and_search() {
        let (_dir, ctx) = context();
        import(&ctx, "g", "builtin/chorale-g-major");
        let out = harmonize(
            &ctx,
            json!({"score_id": "g", "new_score_id": "h", "seed": 1}),
        );
        assert_eq!(out["key"]["name"], "G major");
        assert_eq!(out["key"]["source"], "key_analysis");
        assert_eq!(out["parts"], json!(["Soprano", "Alto", "Tenor", "Bass"]));
        let chords = out["chords"].as_array().expect("chords");
        assert!(!chords.is_empty());
        // One chord per beat of the melody's quarter notes.
        let first = &chords[0];
        assert_eq!(
            (first["measure"].as_i64(), first["beat"].as_f64()),
            (Some(1), Some(1.0))
        );
        assert_eq!(first["pitches"].as_array().map(Vec::len), Some(4));
        // The piece ends with an authentic cadence in root position.
        let last = chords.last().expect("a last chord");
        assert_eq!(last["roman"], "I", "{last}");
        let cadences = out["cadences"].as_array().expect("cadences");
        let final_cadence = cadences.last().expect("final cadence");
        assert!(
            final_cadence["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("authentic")),
            "{final_cadence}"
        );
        assert!(out["search"]["states"].as_u64() > Some(100));
        assert!(out["search"]["transitions"].as_u64() > out["search"]["states"].as_u64());
        assert_eq!(out["voice_leading"]["available"], true);
        assert!(out["remaining_faults"]["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("no parallel")));
        // The given key is used.
        let in_e = harmonize(
            &ctx,
            json!({"score_id": "g", "new_score_id": "e", "key": "e"}),
        );
        assert_eq!(in_e["key"]["name"], "e minor");
        assert_eq!(in_e["key"]["source"], "argument");
    }

    #[test]
    fn bad_input_gets_clear_errors() {
        let (_dir, ctx) = context();
        import(&ctx, "g", "builtin/chorale-g-major");
        import_text(&ctx, "rests", "tinyNotation: 4/4 r1 r1");
        import_text(&ctx, "chords", "X:1\nM:4/4\nL:1/4\nK:C\n[CEG] D E F|G4|]\n");
        let err = |args: Value| call(&ctx, "harmonize_melody", args).expect_err("an error");

        let e = err(json!({"score_id": "rests", "new_score_id": "x"}));
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
        assert!(e.message.contains("no notes"), "{e}");

        let e = err(json!({"score_id": "chords", "new_score_id": "x"}));
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
        assert!(
            e.message.contains("not a single line") && e.message.contains("part"),
            "{e}"
        );

        let e = err(json!({"score_id": "g", "new_score_id": "x", "style": "baroque"}));
        assert!(
            e.message.contains("style") && e.message.contains("chorale"),
            "{e}"
        );

        let e = err(json!({"score_id": "g"}));
        assert!(e.message.contains("new_score_id"), "{e}");

        let e = err(json!({"score_id": "g", "new_score_id": "x", "part": 9}));
        assert!(e.message.contains("part 9"), "{e}");

        let e = err(json!({"score_id": "g", "new_score_id": "x", "key": "H"}));
        assert!(e.message.contains("key"), "{e}");

        let e = err(json!({"score_id": "g", "new_score_id": "g"}));
        assert!(e.message.contains("new_score_id"), "{e}");

        let e = err(json!({"score_id": "g", "new_score_id": "bad id!"}));
        assert!(e.message.contains("new_score_id"), "{e}");

        let e = err(json!({"score_id": "g", "new_score_id": "x", "tempo": 3}));
        assert!(e.message.contains("tempo"), "{e}");

        let e = err(json!({"score_id": "missing", "new_score_id": "x"}));
        assert_eq!(e.kind, ErrorKind::NotFound, "{e}");

        harmonize(&ctx, json!({"score_id": "g", "new_score_id": "x"}));
        let e = err(json!({"score_id": "g", "new_score_id": "x"}));
        assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e}");
        harmonize(
            &ctx,
            json!({"score_id": "g", "new_score_id": "x", "replace": true, "style": "pop"}),
        );
    }

    #[test]
    fn long_melodies_are_refused() {
        let (_dir, ctx) = context();
        let mut text = String::from("tinyNotation: 4/4");
        for _ in 0..(super::MAX_MELODY_NOTES / 4 + 1) {
            text.push_str(" c8 d e f");
        }
        import_text(&ctx, "long", &text);
        let e = call(
            &ctx,
            "harmonize_melody",
            json!({"score_id": "long", "new_score_id": "x"}),
        )
        .expect_err("refused");
        assert_eq!(e.kind, ErrorKind::LimitExceeded, "{e}");
    }

    #[test]
    fn the_soprano_of_a_four_part_chorale_is_harmonised() {
        let (_dir, ctx) = context();
        import(&ctx, "a", "builtin/chorale-a-minor");
        let out = harmonize(
            &ctx,
            json!({"score_id": "a", "new_score_id": "h", "part": 0}),
        );
        assert_eq!(out["melody_part"]["index"], 0);
        assert_eq!(out["key"]["mode"], "minor");
        // Minor: the dominant has its raised leading tone.
        let has_raised = out["chords"]
            .as_array()
            .expect("chords")
            .iter()
            .filter(|c| {
                c["roman"]
                    .as_str()
                    .is_some_and(|r| r.starts_with('V') && !r.contains('/'))
            })
            .all(|c| {
                c["pitches"].as_array().is_some_and(|p| {
                    p.iter()
                        .any(|x| x["pitch"].as_str().is_some_and(|n| n.starts_with("G#")))
                })
            });
        assert!(has_raised, "{}", out["chords"]);
    }
}
