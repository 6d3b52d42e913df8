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

use music21_rs::expressions::Expression;
use music21_rs::{Key, RomanNumeral, Stream, StreamElement};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ToolResult;
use crate::music::timeline::MeasureGrid;
use crate::tools::analysis_common::{
    chordify, display, key_label, parse_key_arg, roman_of, tonic_name, whole_score_key, ChordEntry,
};
use crate::tools::{tool, ToolContext, ToolDef};

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
    pub fn resolve(given: Option<Key>, score: &Stream) -> ToolResult<(Key, KeyUsed)> {
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
                let found = whole_score_key(score)?;
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
}

pub fn tool_def() -> ToolDef {
    tool(
        "harmony_analysis",
        "Roman-numeral harmony of a stored score: each chordified chord's Roman numeral in a key (given, e.g. \"G\", \"f# minor\", or the whole-score key) with its function (T, S, D, other), and the cadences at phrase ends (fermatas, else the end and long chords before a barline): authentic_perfect, authentic_imperfect, half, plagal, deceptive, with measure and beat.",
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
    let (key, used) = KeyUsed::resolve(given, score)?;
    let grid = MeasureGrid::of(score);
    let entries = chordify(ctx, score, &grid)?;
    let romans: Vec<Option<RomanNumeral>> =
        entries.iter().map(|e| roman_of(&e.chord, &key)).collect();
    let numerals: Vec<Option<Numeral>> = romans
        .iter()
        .map(|rn| rn.as_ref().and_then(Numeral::of))
        .collect();
    let functions = functions_of(&numerals);
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
        .map(|((entry, rn), function)| HarmonyChord {
            index: entry.index,
            measure: entry.measure,
            beat: entry.beat,
            offset: display(entry.offset),
            duration: display(entry.duration),
            roman: rn.as_ref().map(|r| r.figure().to_string()),
            function: *function,
        })
        .collect();
    let (rule, ends) = phrase_ends(score, &entries, &grid);
    let mut phrase_list = Vec::with_capacity(ends.len());
    let mut cadences = Vec::new();
    let mut phrase_start = 0;
    for (end, reason) in ends {
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

/// The phrase ends (chord index and why), in order; see the module documentation.
fn phrase_ends(
    score: &Stream,
    entries: &[ChordEntry],
    grid: &MeasureGrid,
) -> (&'static str, Vec<(usize, PhraseEndReason)>) {
    let Some(last) = entries.len().checked_sub(1) else {
        return ("fermatas", Vec::new());
    };
    let mut fermatas: Vec<f64> = score
        .recurse()
        .into_iter()
        .filter_map(|(offset, element)| {
            let marked = match element {
                StreamElement::Note(n) => has_fermata(n.expressions()),
                StreamElement::Chord(c) => has_fermata(c.expressions()),
                StreamElement::Rest(r) => has_fermata(r.expressions()),
                _ => false,
            };
            marked.then_some(offset)
        })
        .collect();
    let mut ends: Vec<(usize, PhraseEndReason)> = Vec::new();
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
                ends.push((entry.index, PhraseEndReason::LongChord));
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
                    ends.push((i, PhraseEndReason::Fermata));
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
    ends.push((last, final_reason));
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
    let cadence = if last.is_tonic_chord() {
        if penult.is_dominant() {
            let tonic_pc = key.tonic().ps().rem_euclid(12.0).round() as i64 % 12;
            let soprano_pc = entries[end]
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
    Some((cadence, penult_index))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Function, Numeral};
    use crate::error::ErrorKind;
    use crate::tools::test_kit::{
        bwv66_context, call, context, four_parts, g_major_chorale, import_text,
    };

    #[test]
    fn figures_are_read() {
        let n = Numeral::parse("viio7").expect("viio7");
        assert_eq!((n.degree, n.upper), (7, false));
        assert!(n.is_leading_tone());
        let n = Numeral::parse("bVII6").expect("bVII6");
        assert_eq!(n.accidental, "b");
        assert_eq!(n.base_function(), Function::Other);
        assert_eq!(
            Numeral::parse("V65").map(|n| n.base_function()),
            Some(Function::D)
        );
        assert_eq!(
            Numeral::parse("ii65").map(|n| n.base_function()),
            Some(Function::S)
        );
        assert_eq!(
            Numeral::parse("iiø7").map(|n| n.base_function()),
            Some(Function::S)
        );
        assert_eq!(
            Numeral::parse("II7").map(|n| n.base_function()),
            Some(Function::S)
        );
        assert_eq!(
            Numeral::parse("#ivo7").map(|n| n.base_function()),
            Some(Function::S)
        );
        assert_eq!(
            Numeral::parse("bII6").map(|n| n.base_function()),
            Some(Function::S)
        );
        assert_eq!(
            Numeral::parse("Ger65").map(|n| n.base_function()),
            Some(Function::S)
        );
        assert_eq!(
            Numeral::parse("VI").map(|n| n.base_function()),
            Some(Function::T)
        );
        assert_eq!(
            Numeral::parse("iii").map(|n| n.base_function()),
            Some(Function::T)
        );
        assert_eq!(
            Numeral::parse("v").map(|n| n.base_function()),
            Some(Function::Other)
        );
        assert_eq!(
            Numeral::parse("III+").map(|n| n.base_function()),
            Some(Function::Other)
        );
    }

    #[test]
    fn chorale_cadences_and_functions() {
        let (_dir, ctx) = context();
        import_text(&ctx, "g", &g_major_chorale());
        let out = call(&ctx, "harmony_analysis", json!({"score_id": "g"})).expect("harmony");
        assert_eq!(out["key"]["name"], "G major");
        assert_eq!(out["key"]["source"], "key_analysis");
        let functions: Vec<&str> = out["chords"]
            .as_array()
            .expect("chords")
            .iter()
            .map(|c| c["function"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(functions, ["T", "S", "D", "T", "S", "D", "T"]);
        assert_eq!(out["phrase_rule"], "fermatas");
        let cadences = out["cadences"].as_array().expect("cadences");
        assert_eq!(cadences.len(), 2, "{out}");
        assert_eq!(cadences[0]["type"], "half");
        assert_eq!(cadences[0]["measure"], 1);
        assert_eq!(cadences[0]["beat"], 3.0);
        assert_eq!(cadences[1]["type"], "authentic_perfect");
        assert_eq!(cadences[1]["measure"], 3);
        assert_eq!(cadences[1]["beat"], 1.0);
        assert_eq!(cadences[1]["progression"], "V7 -> I");
        assert_eq!(out["function_counts"]["T"], 3);

        // Read in E minor, the same chords are other numerals: G is III (tonic function).
        let minor = call(
            &ctx,
            "harmony_analysis",
            json!({"score_id": "g", "key": "e"}),
        )
        .expect("in e");
        assert_eq!(minor["key"]["name"], "e minor");
        assert_eq!(minor["key"]["source"], "argument");
        assert_eq!(minor["chords"][0]["roman"], "III");
        assert_eq!(minor["chords"][0]["function"], "T");
    }

    #[test]
    fn every_cadence_type_in_c_major() {
        let (_dir, ctx) = context();
        // I V vi(f) | IV I(f) | V I6(f) | I64 V I(f) | viio6 I(f)
        let xml = four_parts(
            0,
            [
                "E5:1 D5:1 C5:2f | C5:2 C5:2f | B4:2 C5:2f | E5:1 D5:1 C5:2f | B4:2 C5:2f",
                "C5:1 B4:1 C5:2f | A4:2 G4:2f | G4:2 G4:2f | C5:1 B4:1 G4:2f | F4:2 G4:2f",
                "G4:1 G4:1 E4:2f | F4:2 E4:2f | D4:2 E4:2f | G4:1 G4:1 E4:2f | D4:2 E4:2f",
                "C3:1 G2:1 A2:2f | F3:2 C3:2f | G2:2 E3:2f | G2:1 G2:1 C3:2f | D3:2 C3:2f",
            ],
        );
        import_text(&ctx, "c", &xml);
        let out = call(
            &ctx,
            "harmony_analysis",
            json!({"score_id": "c", "key": "C"}),
        )
        .expect("harmony");
        let chords = out["chords"].as_array().expect("chords");
        let romans: Vec<&str> = chords
            .iter()
            .map(|c| c["roman"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(
            romans,
            ["I", "V", "vi", "IV", "I", "V", "I6", "I64", "V", "I", "viio6", "I"]
        );
        let functions: Vec<&str> = chords
            .iter()
            .map(|c| c["function"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(
            functions,
            ["T", "D", "T", "S", "T", "D", "T", "D", "D", "T", "D", "T"]
        );
        let cadences: Vec<(String, i64, f64)> = out["cadences"]
            .as_array()
            .expect("cadences")
            .iter()
            .map(|c| {
                (
                    c["type"].as_str().unwrap_or("?").to_string(),
                    c["measure"].as_i64().unwrap_or(-1),
                    c["beat"].as_f64().unwrap_or(-1.0),
                )
            })
            .collect();
        let expected = [
            ("deceptive", 1, 3.0),
            ("plagal", 2, 3.0),
            ("authentic_imperfect", 3, 3.0),
            ("authentic_perfect", 4, 3.0),
            ("authentic_imperfect", 5, 3.0),
        ];
        let expected: Vec<(String, i64, f64)> = expected
            .iter()
            .map(|(t, m, b)| (t.to_string(), *m, *b))
            .collect();
        assert_eq!(cadences, expected);
        assert_eq!(out["cadences"][4]["progression"], "viio6 -> I");
    }

    #[test]
    fn long_chords_end_phrases_without_fermatas() {
        let (_dir, ctx) = context();
        // The chorale without its fermatas: phrase ends are the long chords (the half-note
        // V and V7, twice the median quarter, each ending on a barline) and the end.
        let xml = g_major_chorale().replace("<notations><fermata/></notations>", "");
        import_text(&ctx, "n", &xml);
        let out = call(&ctx, "harmony_analysis", json!({"score_id": "n"})).expect("harmony");
        assert_eq!(out["phrase_rule"], "long_chords");
        // Median chord length is 1 quarter; the half-note V in measure 1 ends on a barline.
        let ends = out["phrase_ends"].as_array().expect("phrase ends");
        assert_eq!(ends.len(), 3, "{out}");
        assert_eq!(ends[0]["reason"], "long_chord");
        assert_eq!(ends[0]["cadence"], "half");
        assert_eq!(ends[1]["reason"], "long_chord");
        assert_eq!(ends[1]["cadence"], "half");
        assert_eq!(ends[2]["reason"], "end");
        assert_eq!(ends[2]["cadence"], "authentic_perfect");
    }

    #[test]
    fn bwv66_ends_on_fermatas() {
        let Some((_dir, ctx)) = bwv66_context() else {
            return;
        };
        let out = call(&ctx, "harmony_analysis", json!({"score_id": "b"})).expect("harmony");
        assert_eq!(out["key"]["name"], "f# minor");
        assert_eq!(out["phrase_rule"], "fermatas");
        assert_eq!(out["chords"].as_array().map(Vec::len), Some(51));
        let ends = out["phrase_ends"].as_array().expect("ends");
        assert!(
            ends.len() >= 4,
            "{}",
            serde_json::to_string_pretty(&out["phrase_ends"]).unwrap_or_default()
        );
        assert!(!out["cadences"].as_array().expect("cadences").is_empty());
    }

    #[test]
    fn bad_arguments_name_the_argument() {
        let (_dir, ctx) = context();
        import_text(&ctx, "g", &g_major_chorale());
        for bad in ["H", "C dorian", "", "C# minor please", "Cx"] {
            let err = call(
                &ctx,
                "harmony_analysis",
                json!({"score_id": "g", "key": bad}),
            )
            .expect_err(bad);
            assert_eq!(err.kind, ErrorKind::InvalidArgument, "{bad}");
            assert!(err.message.starts_with("key '"), "{}", err.message);
        }
        let wrong =
            call(&ctx, "harmony_analysis", json!({"score_id": "g", "key": 7})).expect_err("type");
        assert!(wrong.message.contains("`key`"), "{}", wrong.message);
        let missing = call(&ctx, "harmony_analysis", json!({"key": "G"})).expect_err("missing");
        assert!(missing.message.contains("score_id"), "{}", missing.message);
        for good in ["G", "g", "F# minor", "B- major", "Bb major", "e-"] {
            call(
                &ctx,
                "harmony_analysis",
                json!({"score_id": "g", "key": good}),
            )
            .expect(good);
        }
    }
}
