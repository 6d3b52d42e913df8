//! `harmonize_melody`: a melody harmonised in four parts (chorale, classical) or with chord
//! symbols and an accompaniment (pop, jazz), stored as a new score.
//!
//! The music is made by [`crate::music::harmony_gen`]: chords and voicings chosen together by
//! a dynamic programme whose costs are music21's voice-leading faults and the rules of
//! functional harmony. This tool reads the melody (the top part, or the part asked for),
//! writes the result as MusicXML, stores it, and reports the chords, the cadences, the
//! project's own `voice_leading_analysis` of the stored result, and every fault that remains.

use std::collections::BTreeMap;

mod key_choice;

use music21_rs::chordsymbol::ChordSymbol;
use music21_rs::{Chord, Key, Metadata, Pitch, Stream, StreamElement, StreamKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{ToolError, ToolResult};
use crate::music::harmony_gen::{self, check, Harmonization, KeyDef, MelodyNote, Stats, Style};
use crate::music::melody::{melody_of, MelodyItem};
use crate::music::notation::{barring, engine, snap, write_part, Barring};
use crate::music::parse::catch_engine;
use crate::music::pitch::{PitchName, SpelledPitch};
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
    /// The key to harmonise in: "G" (major), "g" (minor), "F# minor", "B- major". Default:
    /// the key the melody implies: `key_analysis`'s ranking of keys (AardenEssen over every
    /// part of the score) weighed with the melody's final note, its fermatas and its key
    /// signature (reported with source `melody`).
    #[serde(default)]
    pub key: Option<String>,
    /// In a minor key, end on the major tonic chord (the Picardy third), as Bach mostly does,
    /// when the melody's last note allows it. Default: true in the chorale style, false in
    /// the others.
    #[serde(default)]
    pub picardy: Option<bool>,
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
    #[schemars(with = "Option<crate::tools::voice_leading::KindCounts>")]
    pub counts: Option<Value>,
    /// Its counts per pair of parts.
    #[schemars(with = "Option<Vec<crate::tools::voice_leading::PairCounts>>")]
    pub by_pair: Option<Value>,
    /// Its findings per kind, with measure, beat, parts and the four notes.
    #[schemars(with = "Option<crate::tools::voice_leading::Findings>")]
    pub findings: Option<Value>,
    /// music21's raw quartet counts.
    #[schemars(with = "Option<crate::tools::voice_leading::Music21Counts>")]
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
    // These four are a StoredResult spelled out: flattened, its `summary` would lose the
    // description below, and the schema clients already hold would change.
    /// The stored score.
    pub summary: Summary,
    pub bytes: u64,
    pub sha256: String,
    pub evicted: Vec<Eviction>,
}

pub fn tool_def() -> ToolDef {
    tool(
        "harmonize_melody",
        "Harmonise a melody (the top part, or `part`) and store the result under new_score_id. chorale and classical: soprano, alto, tenor and bass in their ranges, chords and voicings chosen together by a dynamic programme with costs for music21's voice-leading faults (parallel and hidden fifths and octaves, crossings, overlaps, spacing, doubled leading tones, unresolved sevenths) and functional progressions with cadences; chorale follows Bach's chord succession, harmony under each melody note and choice of bass, learnt from his chorales, and in a minor key ends on the major tonic chord (picardy, default true) or, where the tune closes on the dominant (its fifth, or its second degree fallen to from the minor third), on the major dominant (a Phrygian or half close), never on another chord; without `key`, the key is read from the melody (its close, fermatas, key signature) with key_analysis's ranking; classical also holds chords over weak beats and uses the cadential 6-4. pop: melody, chord symbols and block chords (C3-C5). jazz: seventh chords with ii-V-I tendencies, guide-tone piano voicings and a bass on the roots. Returns the chords per beat (Roman numeral and symbol, every voice's pitch), the cadences, voice_leading_analysis of the stored result and every fault that remains. Deterministic for a seed.",
        true,
        run,
    )
}

// ---------------------------------------------------------------- reading the melody

/// A pitch's spelling as the harmoniser reads it.
fn spelled_of(pitch: &Pitch) -> ToolResult<SpelledPitch> {
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
    let tone = PitchName::new(letter as u8, alter as i8);
    Ok(tone.at(pitch.ps().round() as i32))
}

pub(crate) fn key_def(key: &Key) -> ToolResult<KeyDef> {
    let tonic = spelled_of(key.tonic_pitch())?.pitch_name();
    Ok(KeyDef {
        tonic,
        minor: key.mode() == "minor",
    })
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

fn run(ctx: &ToolContext, args: Args) -> ToolResult<Output> {
    let given_key = check_ids_and_key(ctx, &args)?;
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
    let notes = read_melody(part, index, &args.score_id)?;
    let (key, key_def, key_used) = match given_key {
        Some(given) => {
            let (key, used) = KeyUsed::resolve(Some(given), &loaded.score)?;
            let def = key_def(&key)?;
            (key, def, used)
        }
        None => key_choice::melody_key(score, part, &notes)?,
    };
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
        picardy: args.picardy.unwrap_or(style == Style::Chorale),
    };
    crate::tools::progress::report(45.0, || {
        format!("searching chords for {} melody notes", notes.len())
    });
    let result =
        catch_engine("harmonising", || harmony_gen::harmonize(&request))?.map_err(|why| {
            ToolError::unsupported(format!("cannot harmonise score '{}': {why}", args.score_id))
        })?;

    crate::tools::progress::report(70.0, || "writing the score".into());
    let symbols = chord_symbols(&result, style)?;
    let title = crate::music::summary::title(score).unwrap_or_else(|| args.score_id.clone());
    let stream = harmonized_score(&title, style, &result, &barring, &key_def, &symbols)?;
    // The notation is made already (measures, ties, written values): written as it stands.
    let origin = format!(
        "harmonize_melody:{}:{}:seed={seed}",
        args.score_id,
        style.name()
    );
    let stored = store_generated(
        ctx,
        &args.new_score_id,
        &stream,
        "musicxml",
        &origin,
        args.replace,
    )?;

    // The project's voice-leading analysis of what was stored.
    crate::tools::progress::report(90.0, || "checking the voice leading".into());
    let analysis = Registry::shared().call(
        ctx,
        "voice_leading_analysis",
        json!({"score_id": args.new_score_id}),
    );
    let voice_leading = voice_leading_out(&analysis, style);
    let remaining_faults = remaining(&result.faults, analysis.as_ref().ok(), style);
    let mut notes_out = result.notes.clone();
    if key_used.source == "melody" {
        notes_out.push(format!(
            "the key {} was read from the melody (its final note, fermatas and key signature, with key_analysis's ranking over the whole score); pass `key` to choose another",
            key_used.name
        ));
    }
    if harmony_gen::melody_key::ending(&notes, &key_def)
        == harmony_gen::melody_key::Ending::MajorDominant
    {
        notes_out.push(format!(
            "the melody closes on the dominant of {} (on its fifth, or its second degree fallen to from the minor third), so the last chord is that dominant's major chord (a Phrygian or half close, as Bach ends such tunes)",
            key_used.name
        ));
    }
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
        chords: chords_out(&result, &barring, &key),
        cadences: cadences_out(&result, &barring),
        chord_symbols: ChordSymbolsOut {
            written_to_score: !symbols.is_empty(),
            count: symbols.len(),
        },
        voice_leading,
        remaining_faults,
        search: search_out(&result.stats, seed),
        notes: notes_out,
        summary: stored.summary,
        bytes: stored.bytes,
        sha256: stored.sha256,
        evicted: stored.evicted,
    })
}

/// The ids (the melody's score is kept, so the new one must differ) and the key, checked
/// before anything is loaded.
fn check_ids_and_key(ctx: &ToolContext, args: &Args) -> ToolResult<Option<Key>> {
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
    Ok(given_key)
}

/// The melody's notes, from a part that must be one line of at most [`MAX_MELODY_NOTES`].
fn read_melody(part: &Stream, index: usize, score_id: &str) -> ToolResult<Vec<MelodyNote>> {
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
            "score_id '{score_id}': part {index} has no notes to harmonise (only rests, or nothing)"
        )));
    }
    if notes.len() > MAX_MELODY_NOTES {
        return Err(ToolError::limit(format!(
            "score_id '{score_id}': the melody has {} notes, over harmonize_melody's limit of {MAX_MELODY_NOTES}; harmonise an excerpt",
            notes.len()
        )));
    }
    Ok(notes)
}

/// Chord symbols (pop and jazz): one at each change of chord.
fn chord_symbols(result: &Harmonization, style: Style) -> ToolResult<Vec<(f64, ChordSymbol)>> {
    let mut symbols: Vec<(f64, ChordSymbol)> = Vec::new();
    if style.four_part() {
        return Ok(symbols);
    }
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
    Ok(symbols)
}

/// The score to store: every planned part written out, under the melody's title.
fn harmonized_score(
    title: &str,
    style: Style,
    result: &Harmonization,
    barring: &Barring,
    key_def: &KeyDef,
    symbols: &[(f64, ChordSymbol)],
) -> ToolResult<Stream> {
    let mut stream = Stream::with_kind(StreamKind::Score);
    let mut metadata = Metadata::new();
    metadata.add_text("title", format!("{title} (harmonized, {})", style.name()));
    metadata.add_text("composer", "music21-prod harmonize_melody");
    stream.set_metadata(Some(metadata));
    for plan in &result.parts {
        stream.insert(0.0, write_part(plan, barring, key_def, symbols)?);
    }
    Ok(stream)
}

fn voice_leading_out(analysis: &ToolResult<Value>, style: Style) -> VoiceLeadingOut {
    let note = if style.four_part() {
        "every pair of the four parts is analysed".to_string()
    } else {
        "the piano's block chords are chords, which voice_leading_analysis (like music21's quartet walk) leaves out; they are checked voice by voice in remaining_faults".to_string()
    };
    match analysis {
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
    }
}

fn chords_out(result: &Harmonization, barring: &Barring, key: &Key) -> Vec<ChordOut> {
    result
        .chords
        .iter()
        .map(|c| {
            let (measure, beat) = check::position(&barring.bars, c.offset);
            let sounding: Vec<String> = c.pitches.iter().map(|(_, p)| p.name()).collect();
            let roman_music21 = Chord::new(sounding.iter().map(String::as_str).collect::<Vec<_>>())
                .ok()
                .and_then(|ch| roman_of(&ch, key))
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
        .collect()
}

fn cadences_out(result: &Harmonization, barring: &Barring) -> Vec<CadenceOut> {
    result
        .cadences
        .iter()
        .map(|c| {
            let (measure, beat) = check::position(&barring.bars, c.offset);
            CadenceOut {
                measure,
                beat,
                offset: round(c.offset),
                cadence_type: c.kind.to_string(),
                progression: c.progression.clone(),
            }
        })
        .collect()
}

fn search_out(s: &Stats, seed: u64) -> SearchOut {
    SearchOut {
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
    }
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
mod tests;
