//! `chord_analysis`: the chords of `score.chordify()` with music21's names for them, their
//! Roman numerals in the whole-score key, and a summary over every chord.

use std::collections::HashMap;

use music21_rs::Stream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ToolError, ToolResult};
use crate::music::timeline::MeasureGrid;
use crate::tools::analysis_common::{
    chordify, display, music21_name, pitch_names, roman_of, stored_score_key, ChordEntry,
    KeyCandidate,
};
use crate::tools::{tool, ToolContext, ToolDef};

const DEFAULT_LIMIT: usize = 200;
const MAX_LIMIT: usize = 5000;

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Id of a stored score.
    pub score_id: String,
    /// Name each chord's Roman numeral in the whole-score key (the key `key_analysis`
    /// finds). Default true.
    #[serde(default = "default_true")]
    pub include_roman: bool,
    /// Index of the first chord to return (0-based; default 0). Use `next_offset` of the
    /// previous page.
    #[serde(default)]
    pub offset: Option<usize>,
    /// Most chords to return (1-5000, default 200).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// One chord of the chordified score.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ChordInfo {
    /// Index among all the chords of the score, from 0.
    pub index: usize,
    /// Measure number as written (a pickup is usually 0); null when the score has no
    /// measures (an ABC tune without bar lines), as music21's `measureNumber` is None.
    pub measure: Option<i64>,
    /// Beat within the measure, from 1.
    pub beat: f64,
    /// Offset from the start of the score, in quarter notes.
    pub offset: f64,
    /// Length in quarter notes.
    pub duration: f64,
    /// Pitches with octave, low to high as chordify orders them, e.g. `A3`, `C#5`, `B-4`.
    pub pitches: Vec<String>,
    /// music21's `commonName`, e.g. `major triad`, `dominant seventh chord`.
    pub common_name: String,
    /// music21's `pitchedCommonName`, exactly as music21 writes it: the root (or bass) with
    /// a flat written `b` inside a chord's name (`Bb-major triad`, `Major Third above Eb`),
    /// and for a single pitch (`note`, `unison`) that pitch's music21 name (`D-`). Every
    /// other pitch name in the answers is music21's (`B-`, `C##`).
    pub pitched_common_name: String,
    /// Forte set class, e.g. `3-11B`.
    pub forte_class: Option<String>,
    /// Root pitch name, e.g. `F#`.
    pub root: Option<String>,
    /// Bass pitch name.
    pub bass: Option<String>,
    /// 0 root position, 1 first inversion, 2 second, 3 third; null for a single pitch class
    /// (no inversion to speak of).
    pub inversion: Option<u8>,
    /// Roman numeral figure in the whole-score key (music21's `romanNumeralFromChord`),
    /// e.g. `V65`, `viio7`, `bVII6`; null without `include_roman` or when there is no root.
    pub roman: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct NameCount {
    pub name: String,
    pub count: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct HarmonicRhythm {
    /// Mean chord length in quarter notes.
    pub average_duration: f64,
    /// Chords per measure (all chords over the measures of the first part).
    pub chords_per_measure: f64,
    /// Measures counted.
    pub measures: usize,
}

/// Over every chord of the score, whatever page is returned.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ChordSummary {
    /// Distinct chords, by pitched common name (`A-major triad` and `E-major triad` are two).
    pub unique_chords: usize,
    /// The ten most frequent pitched common names, most frequent first (ties: first heard first).
    pub most_common: Vec<NameCount>,
    /// Chord qualities: counts by common name, most frequent first.
    pub qualities: Vec<NameCount>,
    pub harmonic_rhythm: HarmonicRhythm,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub score_id: String,
    /// The key the Roman numerals are in (the whole-score key of `key_analysis`, AardenEssen);
    /// null without `include_roman` or without chords.
    pub key: Option<KeyCandidate>,
    /// Chords in the score (rests of the chordified score are not chords).
    pub total: usize,
    /// Index of the first chord returned.
    pub offset: usize,
    pub limit: usize,
    /// `offset` for the next page; null on the last page.
    pub next_offset: Option<usize>,
    pub chords: Vec<ChordInfo>,
    pub summary: ChordSummary,
}

pub fn tool_def() -> ToolDef {
    tool(
        "chord_analysis",
        "The chords of a stored score as music21's score.chordify() makes them (rests left out), in order, paged with offset/limit (default 200, max 5000): measure, beat, offset, duration, pitches, common name, pitched common name, Forte class, root, bass, inversion and Roman numeral in the whole-score key; with a summary over all chords (distinct chords, most common, qualities, harmonic rhythm).",
        true,
        run,
    )
}

fn run(ctx: &ToolContext, args: Args) -> ToolResult<Output> {
    let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ToolError::invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let offset = args.offset.unwrap_or(0);
    let loaded = ctx.load(&args.score_id)?;
    let score: &Stream = &loaded.score;
    let grid = MeasureGrid::of(score);
    let entries = chordify(ctx, score, &grid)?;
    let total = entries.len();
    if offset > total {
        return Err(ToolError::invalid(format!(
            "offset {offset} is past the last chord: the score has {total} chords; use an offset from 0 to {total}"
        )));
    }
    // The key is only needed to name chords; a score without chords has none to name.
    let key = if args.include_roman && total > 0 {
        Some(stored_score_key(&loaded.score)?)
    } else {
        None
    };
    let end = offset.saturating_add(limit).min(total);
    // A score with no measures (an ABC tune without bar lines) has no measure numbers.
    let barred = grid.count() > 0;
    // Naming a chord is the engine's dearest step; each name is computed once, for the
    // page and the summary alike.
    let names: Vec<ChordNames> = entries.iter().map(ChordNames::of).collect();
    let chords = entries[offset..end]
        .iter()
        .zip(&names[offset..end])
        .map(|(entry, names)| chord_info(entry, names, key.as_ref().map(|k| &k.key), barred))
        .collect();
    Ok(Output {
        score_id: args.score_id,
        key: key.map(|k| k.best),
        total,
        offset,
        limit,
        next_offset: (end < total).then_some(end),
        chords,
        summary: summarize(&entries, &names, grid.count()),
    })
}

/// A chord's common and pitched common names.
struct ChordNames {
    common: String,
    pitched: String,
}

impl ChordNames {
    fn of(entry: &ChordEntry) -> Self {
        let common = entry.chord.common_name();
        // music21's pitchedCommonName returns `pitches[0].name` for these; the engine
        // writes the flat as `b` there too.
        let pitched = match (common.as_str(), entry.chord.pitches().first()) {
            ("note" | "unison", Some(first)) => music21_name(first),
            _ => entry.chord.pitched_common_name(),
        };
        Self { common, pitched }
    }
}

fn chord_info(
    entry: &ChordEntry,
    names: &ChordNames,
    key: Option<&music21_rs::Key>,
    barred: bool,
) -> ChordInfo {
    let chord = &entry.chord;
    ChordInfo {
        index: entry.index,
        measure: barred.then_some(entry.measure),
        beat: entry.beat,
        offset: display(entry.offset),
        duration: display(entry.duration),
        pitches: pitch_names(chord),
        common_name: names.common.clone(),
        pitched_common_name: names.pitched.clone(),
        forte_class: chord.forte_class(),
        root: chord.root().map(music21_name),
        bass: chord.bass().map(music21_name),
        inversion: if chord.pitch_class_cardinality() < 2 {
            None
        } else {
            chord.inversion()
        },
        roman: key
            .and_then(|k| roman_of(chord, k))
            .map(|rn| rn.figure().to_string()),
    }
}

/// Counts by name, most frequent first, ties in the order first met.
fn ranked_counts<'a>(names: impl Iterator<Item = &'a str>) -> Vec<NameCount> {
    let mut order: Vec<&str> = Vec::new();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for name in names {
        let count = counts.entry(name).or_insert(0);
        if *count == 0 {
            order.push(name);
        }
        *count += 1;
    }
    let mut ranked: Vec<NameCount> = order
        .into_iter()
        .map(|name| NameCount {
            name: name.to_string(),
            count: counts.get(name).copied().unwrap_or(0),
        })
        .collect();
    // A stable sort keeps first-met order among equal counts.
    ranked.sort_by_key(|n| std::cmp::Reverse(n.count));
    ranked
}

fn summarize(entries: &[ChordEntry], names: &[ChordNames], measures: usize) -> ChordSummary {
    let mut most_common = ranked_counts(names.iter().map(|n| n.pitched.as_str()));
    let unique_chords = most_common.len();
    most_common.truncate(10);
    let qualities = ranked_counts(names.iter().map(|n| n.common.as_str()));
    let total_duration: f64 = entries.iter().map(|e| e.duration).sum();
    ChordSummary {
        unique_chords,
        most_common,
        qualities,
        harmonic_rhythm: HarmonicRhythm {
            average_duration: if entries.is_empty() {
                0.0
            } else {
                display(total_duration / entries.len() as f64)
            },
            chords_per_measure: if measures == 0 {
                0.0
            } else {
                display(entries.len() as f64 / measures as f64)
            },
            measures,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::error::ErrorKind;
    use crate::tools::test_kit::{
        bwv66_context, call, context, g_major_chorale, import_text, import_text_as,
    };

    #[test]
    fn bwv66_chords_match_music21() {
        let Some((_dir, ctx)) = bwv66_context() else {
            return;
        };
        let out = call(&ctx, "chord_analysis", json!({"score_id": "b"})).expect("chord_analysis");
        assert_eq!(out["total"], 51);
        assert_eq!(out["key"]["name"], "f# minor");
        let chords = out["chords"].as_array().expect("chords");
        assert_eq!(chords.len(), 51);
        let first = &chords[0];
        assert_eq!(first["measure"], 0);
        assert_eq!(first["pitches"], json!(["A3", "E4", "C#5"]));
        assert_eq!(first["common_name"], "major triad");
        assert_eq!(first["pitched_common_name"], "A-major triad");
        assert_eq!(first["forte_class"], "3-11B");
        assert_eq!(first["root"], "A");
        assert_eq!(first["bass"], "A");
        assert_eq!(first["inversion"], 0);
        assert_eq!(first["roman"], "III");
        assert_eq!(chords[1]["roman"], "bVII6");
        assert_eq!(chords[1]["inversion"], 1);
        assert_eq!(chords[2]["roman"], "i");
        assert_eq!(chords[2]["measure"], 1);
        assert_eq!(chords[2]["beat"], 1.0);
        assert_eq!(out["next_offset"], json!(null));
        let summary = &out["summary"];
        assert!(summary["unique_chords"].as_u64().unwrap_or(0) > 5);
        assert!(summary["most_common"].as_array().map(Vec::len).unwrap_or(0) <= 10);
        let counted: u64 = summary["qualities"]
            .as_array()
            .expect("qualities")
            .iter()
            .map(|q| q["count"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(counted, 51);
        assert!(
            (summary["harmonic_rhythm"]["chords_per_measure"]
                .as_f64()
                .unwrap_or(0.0)
                - 5.1)
                .abs()
                < 1e-9
        );
    }

    #[test]
    fn paging_returns_slices_and_summary_covers_all() {
        let (_dir, ctx) = context();
        import_text(&ctx, "g", &g_major_chorale());
        let all = call(&ctx, "chord_analysis", json!({"score_id": "g"})).expect("all");
        let total = all["total"].as_u64().expect("total") as usize;
        assert_eq!(total, 7);
        let page = call(
            &ctx,
            "chord_analysis",
            json!({"score_id": "g", "offset": 2, "limit": 3}),
        )
        .expect("page");
        let chords = page["chords"].as_array().expect("chords");
        assert_eq!(chords.len(), 3);
        assert_eq!(chords[0]["index"], 2);
        assert_eq!(chords[0], all["chords"][2]);
        assert_eq!(page["next_offset"], 5);
        assert_eq!(page["summary"], all["summary"]);
        let romans: Vec<&str> = all["chords"]
            .as_array()
            .expect("chords")
            .iter()
            .map(|c| c["roman"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(romans, ["I", "IV", "V", "I", "ii6", "V7", "I"]);
        let end = call(
            &ctx,
            "chord_analysis",
            json!({"score_id": "g", "offset": 7}),
        )
        .expect("end");
        assert_eq!(end["chords"].as_array().map(Vec::len), Some(0));
        let plain = call(
            &ctx,
            "chord_analysis",
            json!({"score_id": "g", "include_roman": false}),
        )
        .expect("plain");
        assert_eq!(plain["chords"][0]["roman"], json!(null));
        assert_eq!(plain["key"], json!(null));
    }

    #[test]
    fn rests_are_not_chords() {
        let (_dir, ctx) = context();
        import_text(&ctx, "r", "tinyNotation: 4/4 r1 r1");
        let out = call(&ctx, "chord_analysis", json!({"score_id": "r"})).expect("chords");
        assert_eq!(out["total"], 0);
        assert_eq!(out["key"], json!(null));
        assert_eq!(out["summary"]["unique_chords"], 0);
        import_text(&ctx, "m", "tinyNotation: 4/4 c4 r4 e4 r4");
        let out = call(&ctx, "chord_analysis", json!({"score_id": "m"})).expect("chords");
        assert_eq!(out["total"], 2);
        assert_eq!(out["chords"][1]["offset"], 2.0);
        assert_eq!(out["chords"][1]["inversion"], json!(null));
    }

    #[test]
    fn a_tune_without_bar_lines_has_chords_without_measures() {
        let (_dir, ctx) = context();
        // As essenFolksong/lot.abc: music21 makes no measures, its measureNumber is None.
        import_text_as(&ctx, "free", "X:1\nT:Free\nL:1/4\nK:C\nCDEF GABc\n", "abc");
        let out = call(&ctx, "chord_analysis", json!({"score_id": "free"})).expect("chords");
        assert_eq!(out["total"], 8);
        assert_eq!(out["chords"][0]["measure"], json!(null));
        import_text_as(
            &ctx,
            "barred",
            "X:1\nT:Barred\nL:1/4\nK:C\nCDEF|GABc|\n",
            "abc",
        );
        let out = call(&ctx, "chord_analysis", json!({"score_id": "barred"})).expect("chords");
        assert_eq!(out["chords"][4]["measure"], 2);
    }

    #[test]
    fn a_single_pitch_is_named_as_music21_names_it() {
        let (_dir, ctx) = context();
        // music21: Chord(['D-4']).pitchedCommonName == 'D-'.
        import_text(&ctx, "f", "tinyNotation: 4/4 d-4 b-4 r2");
        let out = call(&ctx, "chord_analysis", json!({"score_id": "f"})).expect("chords");
        assert_eq!(out["chords"][0]["common_name"], "note");
        assert_eq!(out["chords"][0]["pitched_common_name"], "D-");
        assert_eq!(out["chords"][1]["pitched_common_name"], "B-");
    }

    #[test]
    fn bad_arguments_name_the_argument() {
        let (_dir, ctx) = context();
        import_text(&ctx, "g", &g_major_chorale());
        let missing = call(&ctx, "chord_analysis", json!({"limit": 3})).expect_err("missing");
        assert!(missing.message.contains("score_id"), "{}", missing.message);
        let zero = call(&ctx, "chord_analysis", json!({"score_id": "g", "limit": 0}))
            .expect_err("limit 0");
        assert_eq!(zero.kind, ErrorKind::InvalidArgument);
        assert!(zero.message.contains("limit"), "{}", zero.message);
        let big = call(
            &ctx,
            "chord_analysis",
            json!({"score_id": "g", "limit": 5001}),
        )
        .expect_err("limit big");
        assert!(big.message.contains("limit"), "{}", big.message);
        let past = call(
            &ctx,
            "chord_analysis",
            json!({"score_id": "g", "offset": 99}),
        )
        .expect_err("offset");
        assert!(past.message.contains("offset"), "{}", past.message);
        let wrong = call(
            &ctx,
            "chord_analysis",
            json!({"score_id": "g", "include_roman": "yes"}),
        )
        .expect_err("type");
        assert!(wrong.message.contains("include_roman"), "{}", wrong.message);
        let negative = call(
            &ctx,
            "chord_analysis",
            json!({"score_id": "g", "offset": -1}),
        )
        .expect_err("negative");
        assert!(negative.message.contains("offset"), "{}", negative.message);
    }
}
