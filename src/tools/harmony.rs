//! `harmony_analysis`: every chordified chord as a Roman numeral in a key, its harmonic
//! function, and the cadences at phrase ends.
//!
//! ## Functions
//!
//! Read from the Roman numeral music21's `romanNumeralFromChord` gives the chord in the key
//! (a numeral with no accidental in front unless one is named):
//! - `T` (tonic): I, i, vi, VI, iii, III, with any inversion or seventh, but not diminished or
//!   augmented, and not the cadential 6-4.
//! - `S` (predominant): ii, ii°, iiø7 and II (= V/V) on the second degree; IV and iv; the
//!   Neapolitan bII; the chords applied to V: V/V (II, II7) and viio/V (#ivo, #ivo7,
//!   #ivø7); and the augmented sixths (It, Fr, Ger, Sw), which lead to V as applied chords do.
//! - `D` (dominant): V in any inversion, with or without its seventh (a major chord on the
//!   fifth degree: the minor v is not one); viio, viio7 and viiø7 (a diminished chord on
//!   the leading tone, `#` in front or not); and the cadential 6-4: I64 or i64 when the next
//!   different chord is V.
//! - `other`: everything else (mixture such as bVI or bVII, v, III+, chords with no root).
//!
//! ## Phrase ends
//!
//! When any part of the score has a fermata (on a note or chord), each fermata ends a phrase
//! at the chord sounding where the fermata's note starts (the last chord starting at or
//! before it), and the last chord of the piece ends one too. A score without fermatas has
//! its phrase ends at the last chord of the piece and at every chord lasting at least twice
//! the median chord length whose end falls on a barline (the start of a measure).
//!
//! ## Cadences
//!
//! At each phrase end, the final chord is compared with the nearest chord before it (in the
//! same phrase) that is a different harmony: a different numeral, quality or accidental, so
//! V7 after V is the same harmony and I6 before I is too.
//! - `authentic_perfect`: V or V7 to I/i, both in root position, the top voice on the tonic;
//! - `authentic_imperfect`: V(7) to I/i otherwise, or viio(7)/viiø7 to I/i;
//! - `plagal`: IV or iv to I/i;
//! - `half`: ending on V (root position or not, seventh or not);
//! - `deceptive`: V(7) to vi or VI.
//!
//! A phrase end matching none of these is listed among `phrase_ends` with no cadence.
//!
//! ## Local keys
//!
//! Everything above reads the whole piece in one key, as music21 does, and stays so:
//! `chords[].roman`, `phrase_ends[].cadence` and `cadences` are music21's answers. But a
//! chorale's inner phrases close in other keys (the dominant, the relative), and read at
//! home such a close is mislabelled (`V/V -> V` a half cadence where the music makes a full
//! close in the dominant) or not seen at all. So the tool also reads each phrase in its own
//! key (`local`): `local_keys` lists the regions and their keys (found per phrase by
//! `music::local_keys`: the phrase's pitch classes, the home key and its closely related
//! keys preferred, the key of a convincing `V(7) -> I` at the phrase end chosen);
//! `chords[].local_roman` is each chord in its phrase's key, chromatic dominants of other
//! degrees written as applied chords (`V7/V`, `viio/V`, `V/vi`); each phrase end has its
//! `local_key`, `local_cadence` and `local_progression`, and `local_cadences` lists the
//! cadences so read. The cadence rules are the ones above, applied in the local key between
//! harmonies: the penultimate harmony passes over passing sonorities (a slice that is no
//! triad or seventh chord over a neighbour's bass whose other tones are passing, neighbour
//! or suspended tones, or an off-beat slice shorter than a beat that is no stack of thirds
//! or only anticipates the final: `music::sonority`), so an eighth-note slice before the
//! final chord does not hide the cadence, while the dominant on the second eighth of
//! `ii65 V | I` is the cadence's `V`. A phrase ending on a fermata goes on while the
//! fermata's note is held (`phrase_span`): its final harmony is the chord sounding longest
//! under that note (a 4-3 suspension struck with the fermata gives way to its resolution
//! when that is held longer), its key is read from everything up to the note's release,
//! and a fermata in another part that starts under the held note is the same close, read
//! alike. In a minor key, `V -> bVI` (music21's figure for the key's own sixth-degree
//! triad) is deceptive.

use std::sync::Arc;

use music21_rs::expressions::Expression;
use music21_rs::{Key, RomanNumeral, Stream, StreamElement};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ToolResult;
use crate::music::timeline::MeasureGrid;
use crate::tools::analysis_common::{
    chordify, display, key_label, parse_key_arg, roman_of, stored_score_key, tonic_name, ChordEntry,
};
use crate::tools::{tool, ToolContext, ToolDef};

mod local;
mod phrase_span;

pub use local::{LocalCadence, LocalKeyRegion};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Id of a stored score.
    pub score_id: String,
    /// The key to read the chords in: "G" (major), "g" (minor), "F# minor", "B- major"
    /// (`-` or `b` is a flat). Default: the whole-score key of `key_analysis` (AardenEssen).
    #[serde(default)]
    pub key: Option<String>,
}

/// A chord's harmonic function (see the tool's documentation for the rules).
#[derive(Clone, Copy, Debug, Serialize, JsonSchema, PartialEq, Eq)]
pub enum Function {
    /// Tonic: I, i, vi, VI, iii, III.
    T,
    /// Predominant: ii, ii°, IV, iv, bII (Neapolitan), V/V, viio/V, augmented sixths.
    S,
    /// Dominant: V, V7, viio, viio7, the cadential 6-4.
    D,
    /// Anything else.
    #[serde(rename = "other")]
    Other,
}

#[derive(Clone, Copy, Debug, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CadenceType {
    AuthenticPerfect,
    AuthenticImperfect,
    Half,
    Plagal,
    Deceptive,
}

#[derive(Clone, Copy, Debug, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PhraseEndReason {
    /// A fermata in some part.
    Fermata,
    /// The last chord of the piece.
    End,
    /// A chord of at least twice the median length ending on a barline (scores without fermatas).
    LongChord,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyUsed {
    /// Tonic as music21 writes it: `F#`, `B-`.
    pub tonic: String,
    pub mode: String,
    /// As music21 prints it: `f# minor`.
    pub name: String,
    /// `argument` (given as `key`) or `key_analysis` (the whole-score key).
    pub source: String,
    /// The key finder's correlation, when the key was found rather than given.
    pub correlation: Option<f64>,
}

impl KeyUsed {
    /// The key to analyse in: `given` (the `key` argument) when there is one, else the
    /// whole-score key as `key_analysis` finds it; with how it was chosen.
    pub fn resolve(given: Option<Key>, score: &Arc<Stream>) -> ToolResult<(Key, KeyUsed)> {
        Ok(match given {
            Some(key) => {
                let used = KeyUsed {
                    tonic: tonic_name(&key),
                    mode: key.mode().to_string(),
                    name: key_label(&key),
                    source: "argument".into(),
                    correlation: None,
                };
                (key, used)
            }
            None => {
                let found = stored_score_key(score)?;
                let used = KeyUsed {
                    tonic: found.best.tonic.clone(),
                    mode: found.best.mode.clone(),
                    name: found.best.name.clone(),
                    source: "key_analysis".into(),
                    correlation: Some(found.best.correlation),
                };
                (found.key, used)
            }
        })
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct HarmonyChord {
    /// Index among the chords of the score (as in `chord_analysis`).
    pub index: usize,
    pub measure: i64,
    pub beat: f64,
    pub offset: f64,
    /// Length in quarter notes.
    pub duration: f64,
    /// Roman numeral figure in the key, e.g. `V65`; null when the chord has no root.
    pub roman: Option<String>,
    /// T, S, D or other.
    pub function: Function,
    /// The Roman numeral in the local key of the chord's phrase, chromatic dominants of
    /// other degrees written as applied chords (`V7/V`); null when the chord has no root.
    pub local_roman: Option<String>,
}

#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct FunctionCounts {
    #[serde(rename = "T")]
    pub tonic: usize,
    #[serde(rename = "S")]
    pub predominant: usize,
    #[serde(rename = "D")]
    pub dominant: usize,
    pub other: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PhraseEnd {
    pub chord_index: usize,
    pub measure: i64,
    pub beat: f64,
    pub offset: f64,
    pub reason: PhraseEndReason,
    /// The cadence found here, if any.
    pub cadence: Option<CadenceType>,
    /// The key of the phrase ending here, e.g. `C# major` (see `local_keys`).
    pub local_key: String,
    /// The cadence read in `local_key`, passing sonorities passed over.
    pub local_cadence: Option<CadenceType>,
    /// The last two harmonies in local numerals, e.g. `V7 -> I`, `V/V -> V`; null when
    /// the phrase has no earlier harmony or one of the two has no root.
    pub local_progression: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Cadence {
    #[serde(rename = "type")]
    pub cadence_type: CadenceType,
    /// Where the final chord of the cadence starts.
    pub measure: i64,
    pub beat: f64,
    pub offset: f64,
    /// Index of the final chord.
    pub chord_index: usize,
    /// The two chords, e.g. `V7 -> I`.
    pub progression: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub score_id: String,
    pub key: KeyUsed,
    pub chords: Vec<HarmonyChord>,
    pub function_counts: FunctionCounts,
    /// How phrase ends were found: `fermatas` or `long_chords` (no fermata in the score).
    pub phrase_rule: String,
    pub phrase_ends: Vec<PhraseEnd>,
    pub cadences: Vec<Cadence>,
    /// The key of each stretch of phrases, in order, covering the score.
    pub local_keys: Vec<LocalKeyRegion>,
    /// The cadences read in the local keys.
    pub local_cadences: Vec<LocalCadence>,
}

pub fn tool_def() -> ToolDef {
    tool(
        "harmony_analysis",
        "Roman-numeral harmony of a stored score: each chordified chord's Roman numeral in a key (given, e.g. \"G\", \"f# minor\", or the whole-score key) with its function (T, S, D, other), and the cadences at phrase ends (fermatas, else the end and long chords before a barline): authentic_perfect, authentic_imperfect, half, plagal, deceptive, with measure and beat. Also a reading in local keys: local_keys (each phrase's key, e.g. the dominant a phrase modulates to, as regions with measure and beat), each chord's local_roman with applied chords (V7/V, viio/V), and each phrase end's local_key, local_cadence and local_progression (listed in local_cadences), passing sonorities skipped.",
        true,
        run,
    )
}

fn run(ctx: &ToolContext, args: Args) -> ToolResult<Output> {
    // Check the key first: a bad argument should not cost a parse.
    let given = args
        .key
        .as_deref()
        .map(|k| parse_key_arg("key", k))
        .transpose()?;
    let loaded = ctx.load(&args.score_id)?;
    let score: &Stream = &loaded.score;
    let (key, used) = KeyUsed::resolve(given, &loaded.score)?;
    let grid = MeasureGrid::of(score);
    let entries = chordify(ctx, score, &grid)?;
    let romans: Vec<Option<RomanNumeral>> =
        entries.iter().map(|e| roman_of(&e.chord, &key)).collect();
    let numerals: Vec<Option<Numeral>> = romans
        .iter()
        .map(|rn| rn.as_ref().and_then(Numeral::of))
        .collect();
    let functions = functions_of(&numerals);
    let (rule, ends) = phrase_ends(score, &entries, &grid);
    let stops: Vec<phrase_span::PhraseStop> = ends
        .iter()
        .map(|&(end, _, held_until)| phrase_span::PhraseStop { end, held_until })
        .collect();
    let local = local::read(&entries, &grid, &stops, &key);
    let mut counts = FunctionCounts::default();
    for f in &functions {
        match f {
            Function::T => counts.tonic += 1,
            Function::S => counts.predominant += 1,
            Function::D => counts.dominant += 1,
            Function::Other => counts.other += 1,
        }
    }
    let chords = entries
        .iter()
        .zip(&romans)
        .zip(&functions)
        .zip(local.chord_figures)
        .map(|(((entry, rn), function), local_roman)| HarmonyChord {
            index: entry.index,
            measure: entry.measure,
            beat: entry.beat,
            offset: display(entry.offset),
            duration: display(entry.duration),
            roman: rn.as_ref().map(|r| r.figure().to_string()),
            function: *function,
            local_roman,
        })
        .collect();
    let mut phrase_list = Vec::with_capacity(ends.len());
    let mut cadences = Vec::new();
    let mut phrase_start = 0;
    for ((end, reason, _), reading) in ends.into_iter().zip(local.phrases) {
        let found = cadence_at(&entries, &numerals, &key, phrase_start, end);
        let entry = &entries[end];
        if let Some((cadence_type, penult)) = found {
            let figure = |i: usize| {
                romans[i]
                    .as_ref()
                    .map(|r| r.figure().to_string())
                    .unwrap_or_default()
            };
            cadences.push(Cadence {
                cadence_type,
                measure: entry.measure,
                beat: entry.beat,
                offset: display(entry.offset),
                chord_index: end,
                progression: format!("{} -> {}", figure(penult), figure(end)),
            });
        }
        phrase_list.push(PhraseEnd {
            chord_index: end,
            measure: entry.measure,
            beat: entry.beat,
            offset: display(entry.offset),
            reason,
            cadence: found.map(|f| f.0),
            local_key: reading.key,
            local_cadence: reading.cadence,
            local_progression: reading.progression,
        });
        phrase_start = end;
    }
    Ok(Output {
        score_id: args.score_id,
        key: used,
        chords,
        function_counts: counts,
        phrase_rule: rule.into(),
        phrase_ends: phrase_list,
        cadences,
        local_keys: local.regions,
        local_cadences: local.cadences,
    })
}

// ---------------------------------------------------------------- numerals

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quality {
    /// No quality mark: major or minor by the numeral's case.
    Plain,
    Diminished,
    HalfDiminished,
    Augmented,
}

/// What a Roman numeral figure says, read off the figure music21 writes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Numeral {
    /// Accidentals in front of the numeral: "", "b", "#", "bb".
    accidental: String,
    /// 1-7; 0 for an augmented sixth.
    degree: u8,
    /// Upper-case numeral (major or augmented).
    upper: bool,
    quality: Quality,
    augmented_sixth: bool,
    /// 0 root position, 1 first inversion...
    inversion: u8,
}

impl Numeral {
    fn of(rn: &RomanNumeral) -> Option<Self> {
        let mut n = Self::parse(rn.figure())?;
        n.inversion = rn.inversion();
        Some(n)
    }

    fn parse(figure: &str) -> Option<Self> {
        let accidental: String = figure
            .chars()
            .take_while(|c| matches!(c, 'b' | '#' | '-'))
            .collect();
        let rest = &figure[accidental.len()..];
        if ["It", "Ger", "Fr", "Sw"]
            .iter()
            .any(|p| rest.starts_with(p))
        {
            return Some(Self {
                accidental,
                degree: 0,
                upper: true,
                quality: Quality::Plain,
                augmented_sixth: true,
                inversion: 0,
            });
        }
        let letters: String = rest
            .chars()
            .take_while(|c| matches!(c, 'I' | 'V' | 'i' | 'v'))
            .collect();
        let degree = match letters.to_ascii_uppercase().as_str() {
            "I" => 1,
            "II" => 2,
            "III" => 3,
            "IV" => 4,
            "V" => 5,
            "VI" => 6,
            "VII" => 7,
            _ => return None,
        };
        let marks = &rest[letters.len()..];
        let quality = if marks.contains('ø') || marks.contains("/o") {
            Quality::HalfDiminished
        } else if marks.contains('o') || marks.contains('°') {
            Quality::Diminished
        } else if marks.contains('+') {
            Quality::Augmented
        } else {
            Quality::Plain
        };
        Some(Self {
            accidental: accidental.replace('-', "b"),
            degree,
            upper: letters.starts_with(|c: char| c.is_ascii_uppercase()),
            quality,
            augmented_sixth: false,
            inversion: 0,
        })
    }

    /// The harmony regardless of inversion and seventh: V and V7 are one, I and I6 are one.
    fn same_harmony(&self, other: &Self) -> bool {
        self.accidental == other.accidental
            && self.degree == other.degree
            && self.upper == other.upper
            && self.quality == other.quality
            && self.augmented_sixth == other.augmented_sixth
    }

    fn diatonic(&self, degree: u8) -> bool {
        self.accidental.is_empty() && self.degree == degree && !self.augmented_sixth
    }

    /// I or i (not diminished or augmented).
    fn is_tonic_chord(&self) -> bool {
        self.diatonic(1) && self.quality == Quality::Plain
    }

    /// V, V7 and their inversions: a major chord on the fifth degree.
    fn is_dominant(&self) -> bool {
        self.diatonic(5) && self.upper && self.quality == Quality::Plain
    }

    /// viio, viio7, viiø7 (the leading tone may be written with a `#` in minor).
    fn is_leading_tone(&self) -> bool {
        (self.accidental.is_empty() || self.accidental == "#")
            && self.degree == 7
            && matches!(self.quality, Quality::Diminished | Quality::HalfDiminished)
    }

    fn is_subdominant(&self) -> bool {
        self.diatonic(4) && self.quality == Quality::Plain
    }

    fn is_submediant(&self) -> bool {
        self.diatonic(6) && self.quality == Quality::Plain
    }

    /// `bVI`: a major triad on the lowered sixth degree (how music21 writes the natural
    /// sixth-degree triad of a minor key).
    fn is_lowered_major_sixth(&self) -> bool {
        self.accidental == "b"
            && self.degree == 6
            && self.upper
            && self.quality == Quality::Plain
            && !self.augmented_sixth
    }

    fn is_cadential_six_four(&self) -> bool {
        self.is_tonic_chord() && self.inversion == 2
    }

    fn base_function(&self) -> Function {
        if self.augmented_sixth {
            return Function::S;
        }
        if self.is_dominant() || self.is_leading_tone() {
            return Function::D;
        }
        let plain = self.quality == Quality::Plain;
        if self.accidental.is_empty() && plain && matches!(self.degree, 1 | 3 | 6) {
            return Function::T;
        }
        let predominant = self.diatonic(2)
            || self.is_subdominant()
            || (self.accidental == "b" && self.degree == 2 && self.upper && plain)
            || (self.accidental == "#"
                && self.degree == 4
                && matches!(self.quality, Quality::Diminished | Quality::HalfDiminished));
        if predominant {
            Function::S
        } else {
            Function::Other
        }
    }
}

/// Each chord's function; a tonic 6-4 is D when the next different harmony is V.
fn functions_of(numerals: &[Option<Numeral>]) -> Vec<Function> {
    numerals
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let Some(n) = n else { return Function::Other };
            if n.is_cadential_six_four() {
                let next = numerals[i + 1..]
                    .iter()
                    .find(|m| m.as_ref().is_none_or(|m| !m.same_harmony(n)));
                if let Some(Some(next)) = next {
                    if next.is_dominant() {
                        return Function::D;
                    }
                }
            }
            n.base_function()
        })
        .collect()
}

// ---------------------------------------------------------------- phrases and cadences

fn has_fermata(expressions: &[Expression]) -> bool {
    expressions
        .iter()
        .any(|e| matches!(e, Expression::Fermata(_)))
}

/// The phrase ends in order: the chord index, why, and until when the phrase's last note
/// is held (the end of the longest fermata note starting there, else the chord's end); see
/// the module documentation.
fn phrase_ends(
    score: &Stream,
    entries: &[ChordEntry],
    grid: &MeasureGrid,
) -> (&'static str, Vec<(usize, PhraseEndReason, f64)>) {
    let Some(last) = entries.len().checked_sub(1) else {
        return ("fermatas", Vec::new());
    };
    // (onset, end) of every note, chord or rest with a fermata.
    let marked: Vec<(f64, f64)> = score
        .recurse()
        .into_iter()
        .filter_map(|(offset, element)| {
            let marked = match element {
                StreamElement::Note(n) => has_fermata(n.expressions()),
                StreamElement::Chord(c) => has_fermata(c.expressions()),
                StreamElement::Rest(r) => has_fermata(r.expressions()),
                _ => false,
            };
            marked.then_some((offset, offset + element.quarter_length()))
        })
        .collect();
    let held_until = |index: usize, at: f64| {
        marked
            .iter()
            .filter(|(onset, _)| (onset - at).abs() < 1e-9)
            .map(|(_, end)| *end)
            .fold(entries[index].end(), f64::max)
    };
    let mut fermatas: Vec<f64> = marked.iter().map(|(onset, _)| *onset).collect();
    let mut ends: Vec<(usize, PhraseEndReason, f64)> = Vec::new();
    let rule = if fermatas.is_empty() {
        let mut lengths: Vec<f64> = entries.iter().map(|e| e.duration).collect();
        lengths.sort_by(f64::total_cmp);
        let median = if lengths.len() % 2 == 1 {
            lengths[lengths.len() / 2]
        } else {
            (lengths[lengths.len() / 2 - 1] + lengths[lengths.len() / 2]) / 2.0
        };
        for entry in &entries[..last] {
            let long = entry.duration >= 2.0 * median - 1e-9;
            let on_barline = on_barline(grid, entry.end());
            if long && on_barline {
                ends.push((entry.index, PhraseEndReason::LongChord, entry.end()));
            }
        }
        "long_chords"
    } else {
        fermatas.sort_by(f64::total_cmp);
        fermatas.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
        for at in fermatas {
            let i = entries.partition_point(|e| e.offset <= at + 1e-9);
            if let Some(i) = i.checked_sub(1) {
                if i != last && ends.last().is_none_or(|e| e.0 != i) {
                    ends.push((i, PhraseEndReason::Fermata, held_until(i, at)));
                }
            }
        }
        "fermatas"
    };
    let final_reason = if rule == "fermatas" && chord_has_fermata_at_end(score, &entries[last]) {
        PhraseEndReason::Fermata
    } else {
        PhraseEndReason::End
    };
    ends.push((last, final_reason, entries[last].end()));
    (rule, ends)
}

/// Whether `offset` is the start of a measure of the grid (the slots are in time order).
fn on_barline(grid: &MeasureGrid, offset: f64) -> bool {
    let i = grid.slots.partition_point(|s| s.start < offset - 1e-6);
    grid.slots
        .get(i)
        .is_some_and(|s| (s.start - offset).abs() < 1e-6)
}

/// Whether some part has a fermata on a note sounding in the last chord.
fn chord_has_fermata_at_end(score: &Stream, last: &ChordEntry) -> bool {
    score.recurse().into_iter().any(|(offset, element)| {
        let marked = match element {
            StreamElement::Note(n) => has_fermata(n.expressions()),
            StreamElement::Chord(c) => has_fermata(c.expressions()),
            _ => false,
        };
        marked
            && offset <= last.offset + 1e-9
            && offset + element.quarter_length() >= last.end() - 1e-9
    })
}

/// The cadence ending at chord `end`, with the index of the chord before the final one,
/// looked for back to chord `start` (the previous phrase end, which may be that chord: a
/// long V ending one phrase may lead to the I ending the next).
fn cadence_at(
    entries: &[ChordEntry],
    numerals: &[Option<Numeral>],
    key: &Key,
    start: usize,
    end: usize,
) -> Option<(CadenceType, usize)> {
    let last = numerals[end].as_ref()?;
    let penult_index = (start..end)
        .rev()
        .find(|&j| numerals[j].as_ref().is_none_or(|n| !n.same_harmony(last)))?;
    let penult = numerals[penult_index].as_ref()?;
    classify_cadence(penult, last, &entries[end], key).map(|c| (c, penult_index))
}

/// The cadence `penult -> last` makes in `key`, `final_chord` being the last chord (its top
/// voice tells a perfect authentic cadence from an imperfect one); see the module doc.
fn classify_cadence(
    penult: &Numeral,
    last: &Numeral,
    final_chord: &ChordEntry,
    key: &Key,
) -> Option<CadenceType> {
    let cadence = if last.is_tonic_chord() {
        if penult.is_dominant() {
            let tonic_pc = key.tonic().ps().rem_euclid(12.0).round() as i64 % 12;
            let soprano_pc = final_chord
                .chord
                .pitches()
                .iter()
                .map(|p| p.ps())
                .max_by(f64::total_cmp)
                .map(|ps| ps.round() as i64 % 12);
            if last.inversion == 0 && penult.inversion == 0 && soprano_pc == Some(tonic_pc) {
                CadenceType::AuthenticPerfect
            } else {
                CadenceType::AuthenticImperfect
            }
        } else if penult.is_leading_tone() {
            CadenceType::AuthenticImperfect
        } else if penult.is_subdominant() {
            CadenceType::Plagal
        } else {
            return None;
        }
    } else if last.is_dominant() {
        CadenceType::Half
    } else if last.is_submediant() && penult.is_dominant() {
        CadenceType::Deceptive
    } else {
        return None;
    };
    Some(cadence)
}

#[cfg(test)]
mod tests;
