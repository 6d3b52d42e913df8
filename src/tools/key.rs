//! `key_analysis`: the key of a whole score as music21's `score.analyze('key')` finds it,
//! by any of its five key profiles, and optionally the key of each run of measures.

use music21_rs::{KeyProfile, Pitch, Stream, StreamElement};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ToolError, ToolResult};
use crate::music::parse::catch_engine;
use crate::music::timeline::{round, MeasureGrid};
use crate::tools::analysis_common::{rank_keys, stored_score_distribution, KeyCandidate};
use crate::tools::{tool, ToolContext, ToolDef};

/// Most measures one window may span (a window longer than the score is the whole score).
const MAX_WINDOW_MEASURES: u64 = 100_000;

/// The key-finding profiles, by the names the tool takes.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// AardenEssen, music21's default (`score.analyze('key')`).
    #[default]
    Aarden,
    /// KrumhanslSchmuckler (Krumhansl-Kessler probe-tone ratings).
    Krumhansl,
    /// BellmanBudge.
    Bellman,
    /// TemperleyKostkaPayne.
    Temperley,
    /// SimpleWeights (Sapp).
    Simple,
    /// Every profile; the main answer is AardenEssen's (music21's default).
    All,
}

impl Algorithm {
    /// The profile giving the main answer (`all` answers with AardenEssen).
    fn profile(self) -> KeyProfile {
        match self {
            Self::Aarden | Self::All => KeyProfile::AardenEssen,
            Self::Krumhansl => KeyProfile::KrumhanslSchmuckler,
            Self::Bellman => KeyProfile::BellmanBudge,
            Self::Temperley => KeyProfile::TemperleyKostkaPayne,
            Self::Simple => KeyProfile::SimpleWeights,
        }
    }
}

/// The tool's name for a profile.
fn algorithm_name(profile: KeyProfile) -> &'static str {
    match profile {
        KeyProfile::AardenEssen => "aarden",
        KeyProfile::KrumhanslSchmuckler => "krumhansl",
        KeyProfile::BellmanBudge => "bellman",
        KeyProfile::TemperleyKostkaPayne => "temperley",
        KeyProfile::SimpleWeights => "simple",
    }
}

/// The profiles in the order `by_algorithm` lists them (the order of the `algorithm` argument).
const PROFILES: [KeyProfile; 5] = [
    KeyProfile::AardenEssen,
    KeyProfile::KrumhanslSchmuckler,
    KeyProfile::BellmanBudge,
    KeyProfile::TemperleyKostkaPayne,
    KeyProfile::SimpleWeights,
];

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Id of a stored score.
    pub score_id: String,
    /// Key profile giving the answer: aarden (default, music21's `analyze('key')`),
    /// krumhansl, bellman, temperley, simple, or all (answers with aarden). `by_algorithm`
    /// always lists all five.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// Also find the key of each window of this many measures (at least 1): windows side by
    /// side from the first measure (a pickup counts as a measure), the last one possibly
    /// shorter, each judged by the same profile; key changes between windows are listed in
    /// `modulations`.
    #[serde(default)]
    pub window_measures: Option<u64>,
}

/// One profile's answer over the whole score.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AlgorithmAnswer {
    /// The name the `algorithm` argument takes: aarden, krumhansl, bellman, temperley, simple.
    pub algorithm: String,
    /// music21's class name of the profile, e.g. `AardenEssen`.
    pub profile: String,
    pub key: KeyCandidate,
}

/// The key of one window of measures.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyWindow {
    /// First measure of the window, as numbered in the score.
    pub first_measure: i64,
    /// Last measure of the window, as numbered in the score.
    pub last_measure: i64,
    /// Where the window starts and ends, in quarter notes from the start.
    pub start_offset: f64,
    pub end_offset: f64,
    /// The best key, or null when nothing pitched sounds in the window.
    pub key: Option<KeyCandidate>,
}

/// A change of key from one window to the next (windows without notes are passed over).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Modulation {
    /// Measure where the window in the new key starts.
    pub measure: i64,
    /// Its offset in quarter notes.
    pub offset: f64,
    /// The key before, e.g. `f# minor`.
    pub from: String,
    /// The key from here, e.g. `A major`.
    pub to: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub score_id: String,
    /// The algorithm that answered (`all` answers with aarden).
    pub algorithm: String,
    /// music21's class name of that profile, e.g. `AardenEssen`.
    pub profile: String,
    /// The key: tonic as music21 writes it (`F#`, `B-`), mode, correlation, printed name.
    pub key: KeyCandidate,
    /// The key as music21 prints it, e.g. `f# minor` (lower case for minor).
    pub description: String,
    /// The next five keys, best first (music21's `alternateInterpretations[:5]`).
    pub alternatives: Vec<KeyCandidate>,
    /// Every profile's answer over the whole score, in the order aarden, krumhansl, bellman,
    /// temperley, simple (always all five, whatever `algorithm` is).
    pub by_algorithm: Vec<AlgorithmAnswer>,
    /// With `window_measures`: the key of each window, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<KeyWindow>>,
    /// With `window_measures`: where the key changes between windows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modulations: Option<Vec<Modulation>>,
}

pub fn tool_def() -> ToolDef {
    tool(
        "key_analysis",
        "Key of a stored score over all its parts, exactly as music21's score.analyze('key') (AardenEssen profile by default; algorithm = aarden|krumhansl|bellman|temperley|simple|all): tonic, mode, correlation, the five next-best keys and every profile's answer. With window_measures = N, also the key of each N-measure window and the modulations between them.",
        true,
        run,
    )
}

fn run(ctx: &ToolContext, args: Args) -> ToolResult<Output> {
    if let Some(n) = args.window_measures {
        if n == 0 {
            return Err(ToolError::invalid(
                "window_measures must be at least 1 (a number of measures per window), got 0; leave it out for the whole score only",
            ));
        }
        if n > MAX_WINDOW_MEASURES {
            return Err(ToolError::invalid(format!(
                "window_measures must be at most {MAX_WINDOW_MEASURES}, got {n}"
            )));
        }
    }
    let loaded = ctx.load(&args.score_id)?;
    let score: &Stream = &loaded.score;
    let distribution = stored_score_distribution(&loaded.score)?;
    let profile = args.algorithm.profile();
    let ranked = rank_keys(profile, &distribution)?;
    let key = KeyCandidate::of(&ranked[0]);
    let alternatives = ranked
        .iter()
        .skip(1)
        .take(5)
        .map(KeyCandidate::of)
        .collect();
    let mut by_algorithm = Vec::with_capacity(PROFILES.len());
    for p in PROFILES {
        let best = if p == profile {
            key.clone()
        } else {
            KeyCandidate::of(&rank_keys(p, &distribution)?[0])
        };
        by_algorithm.push(AlgorithmAnswer {
            algorithm: algorithm_name(p).into(),
            profile: p.music21_class_name().into(),
            key: best,
        });
    }
    let (windows, modulations) = match args.window_measures {
        Some(n) => {
            let windows = windowed_keys(score, profile, n as usize)?;
            let modulations = modulations_of(&windows);
            (Some(windows), Some(modulations))
        }
        None => (None, None),
    };
    Ok(Output {
        score_id: args.score_id,
        algorithm: algorithm_name(profile).into(),
        profile: profile.music21_class_name().into(),
        description: key.name.clone(),
        key,
        alternatives,
        by_algorithm,
        windows,
        modulations,
    })
}

/// The key of each window of `size` measures of the measure grid (the first part's
/// measures), counting what every part sounds in those measures: each part's notes are
/// sliced by the grid, a note belonging to the window it starts in, with its whole length.
fn windowed_keys(score: &Stream, profile: KeyProfile, size: usize) -> ToolResult<Vec<KeyWindow>> {
    let grid = MeasureGrid::of(score);
    if grid.slots.is_empty() {
        return Err(ToolError::unsupported(
            "window_measures needs measures, and this score has none; leave window_measures out",
        ));
    }
    let end = score
        .end_offset()
        .max(grid.slots.last().map(|s| s.start + s.length).unwrap_or(0.0));
    // Every sounding note of every part with its absolute offset, as music21's key finder
    // reads them: notes, chords, chord symbols and the pitched members of percussion chords.
    let notes: Vec<(f64, Vec<Pitch>, f64)> = catch_engine("reading the notes", || {
        score
            .recurse()
            .into_iter()
            .filter_map(|(offset, element)| {
                let pitches = match element {
                    StreamElement::Note(_)
                    | StreamElement::Chord(_)
                    | StreamElement::PercussionChord(_) => element.pitches(),
                    StreamElement::ChordSymbol(symbol) => symbol.pitches().unwrap_or_default(),
                    _ => return None,
                };
                Some((offset, pitches, element.quarter_length()))
            })
            .collect()
    })?;
    // Each note goes to the window of the measure it starts in (a note before the first
    // measure to the first window), every pitch counting for the note's whole length, added
    // in the order music21's key finder adds them.
    let count = grid.slots.len().div_ceil(size);
    let mut distributions = vec![[0.0_f64; 12]; count];
    for (offset, pitches, length) in &notes {
        let slot = grid
            .slots
            .partition_point(|s| s.start <= offset + 1e-9)
            .saturating_sub(1);
        let Some(distribution) = distributions.get_mut(slot / size) else {
            continue;
        };
        for pitch in pitches {
            let class = (pitch.ps().round_ties_even() as i64).rem_euclid(12) as usize;
            distribution[class] += length;
        }
    }
    let mut windows = Vec::with_capacity(count);
    for (index, distribution) in distributions.iter().enumerate() {
        let first_index = index * size;
        let last_index = (first_index + size).min(grid.slots.len()) - 1;
        let (Some(first), Some(last)) = (grid.slots.get(first_index), grid.slots.get(last_index))
        else {
            continue;
        };
        let stop = grid
            .slots
            .get(last_index + 1)
            .map(|s| s.start)
            .unwrap_or(end);
        let key = if distribution.iter().any(|v| *v > 0.0) {
            Some(KeyCandidate::of(&rank_keys(profile, distribution)?[0]))
        } else {
            None
        };
        windows.push(KeyWindow {
            first_measure: first.number,
            last_measure: last.number,
            start_offset: round(first.start),
            end_offset: round(stop),
            key,
        });
    }
    Ok(windows)
}

fn modulations_of(windows: &[KeyWindow]) -> Vec<Modulation> {
    let mut out = Vec::new();
    let mut current: Option<&KeyCandidate> = None;
    for window in windows {
        let Some(key) = &window.key else { continue };
        if let Some(before) = current {
            if before.name != key.name {
                out.push(Modulation {
                    measure: window.first_measure,
                    offset: window.start_offset,
                    from: before.name.clone(),
                    to: key.name.clone(),
                });
            }
        }
        current = Some(key);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::error::ErrorKind;
    use crate::tools::test_kit::{bwv66_context, call, context, g_major_chorale, import_text};

    #[test]
    fn bwv66_is_f_sharp_minor_as_music21_says() {
        let Some((_dir, ctx)) = bwv66_context() else {
            return;
        };
        let out = call(&ctx, "key_analysis", json!({"score_id": "b"})).expect("key_analysis");
        assert_eq!(out["key"]["tonic"], "F#");
        assert_eq!(out["key"]["mode"], "minor");
        assert_eq!(out["description"], "f# minor");
        let r = out["key"]["correlation"].as_f64().expect("correlation");
        assert!((r - 0.9379555412471554).abs() < 1e-9, "{r}");
        let alts = out["alternatives"].as_array().expect("alternatives");
        assert_eq!(alts.len(), 5);
        assert_eq!(alts[0]["tonic"], "A");
        assert_eq!(alts[0]["mode"], "major");
        assert!((alts[0]["correlation"].as_f64().unwrap_or(0.0) - 0.7748030988267064).abs() < 1e-9);
        let by = out["by_algorithm"].as_array().expect("by_algorithm");
        assert_eq!(by.len(), 5);
        let krumhansl = by
            .iter()
            .find(|a| a["algorithm"] == "krumhansl")
            .expect("krumhansl");
        assert_eq!(krumhansl["profile"], "KrumhanslSchmuckler");
        assert!(
            (krumhansl["key"]["correlation"].as_f64().unwrap_or(0.0) - 0.8154708925762492).abs()
                < 1e-9
        );
        assert!(out.get("windows").is_none());

        let simple = call(
            &ctx,
            "key_analysis",
            json!({"score_id": "b", "algorithm": "simple"}),
        )
        .expect("simple");
        assert_eq!(simple["algorithm"], "simple");
        assert!(
            (simple["key"]["correlation"].as_f64().unwrap_or(0.0) - 0.9299807150875671).abs()
                < 1e-9
        );
        let all = call(
            &ctx,
            "key_analysis",
            json!({"score_id": "b", "algorithm": "all"}),
        )
        .expect("all");
        assert_eq!(all["profile"], "AardenEssen");
    }

    #[test]
    fn windows_cover_the_score_and_one_big_window_is_the_whole_score() {
        let Some((_dir, ctx)) = bwv66_context() else {
            return;
        };
        let out = call(
            &ctx,
            "key_analysis",
            json!({"score_id": "b", "window_measures": 2}),
        )
        .expect("windowed");
        let windows = out["windows"].as_array().expect("windows");
        // 10 measures (pickup 0 to 9) in windows of 2.
        assert_eq!(windows.len(), 5);
        assert_eq!(windows[0]["first_measure"], 0);
        assert_eq!(windows[0]["last_measure"], 1);
        assert_eq!(windows[4]["last_measure"], 9);
        assert!(out["modulations"].is_array());
        for pair in windows.windows(2) {
            assert_eq!(pair[0]["end_offset"], pair[1]["start_offset"]);
        }
        let whole = call(
            &ctx,
            "key_analysis",
            json!({"score_id": "b", "window_measures": 1000}),
        )
        .expect("one window");
        let windows = whole["windows"].as_array().expect("windows");
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0]["key"], whole["key"]);
        assert_eq!(whole["modulations"].as_array().map(Vec::len), Some(0));
    }

    #[test]
    fn modulation_is_found_between_windows() {
        let (_dir, ctx) = context();
        // Three measures of C major, three of A-flat major.
        let text =
            "tinyNotation: 4/4 c4 e g c' e g c' e g e c' g  a-4 c' e- a- c' e- a- e- a-4 e- c' a-";
        import_text(&ctx, "m", text);
        let out = call(
            &ctx,
            "key_analysis",
            json!({"score_id": "m", "window_measures": 1}),
        )
        .expect("windowed");
        let mods = out["modulations"].as_array().expect("modulations");
        assert_eq!(mods.len(), 1, "{out}");
        assert_eq!(mods[0]["from"], "C major");
        assert_eq!(mods[0]["to"], "A- major");
        assert_eq!(mods[0]["measure"], 4);
    }

    #[test]
    fn inline_chorale_is_g_major() {
        let (_dir, ctx) = context();
        import_text(&ctx, "g", &g_major_chorale());
        let out = call(&ctx, "key_analysis", json!({"score_id": "g"})).expect("key");
        assert_eq!(out["description"], "G major");
    }

    #[test]
    fn a_score_without_notes_has_no_key() {
        let (_dir, ctx) = context();
        import_text(&ctx, "r", "tinyNotation: 4/4 r1 r1");
        let err = call(&ctx, "key_analysis", json!({"score_id": "r"})).expect_err("no key");
        assert_eq!(err.kind, ErrorKind::Unsupported);
        assert!(
            err.message.contains("no sounding pitched notes"),
            "{}",
            err.message
        );
    }

    #[test]
    fn bad_arguments_name_the_argument() {
        let (_dir, ctx) = context();
        import_text(&ctx, "g", &g_major_chorale());
        let missing = call(&ctx, "key_analysis", json!({})).expect_err("missing score_id");
        assert_eq!(missing.kind, ErrorKind::InvalidArgument);
        assert!(missing.message.contains("score_id"), "{}", missing.message);
        let wrong = call(&ctx, "key_analysis", json!({"score_id": 5})).expect_err("wrong type");
        assert_eq!(wrong.kind, ErrorKind::InvalidArgument);
        assert!(wrong.message.contains("score_id"), "{}", wrong.message);
        let algo = call(
            &ctx,
            "key_analysis",
            json!({"score_id": "g", "algorithm": "magic"}),
        )
        .expect_err("algorithm");
        assert_eq!(algo.kind, ErrorKind::InvalidArgument);
        assert!(
            algo.message.contains("algorithm") && algo.message.contains("aarden"),
            "{}",
            algo.message
        );
        let zero = call(
            &ctx,
            "key_analysis",
            json!({"score_id": "g", "window_measures": 0}),
        )
        .expect_err("zero");
        assert_eq!(zero.kind, ErrorKind::InvalidArgument);
        assert!(zero.message.contains("window_measures"), "{}", zero.message);
        let negative = call(
            &ctx,
            "key_analysis",
            json!({"score_id": "g", "window_measures": -2}),
        )
        .expect_err("negative");
        assert!(
            negative.message.contains("window_measures"),
            "{}",
            negative.message
        );
        let unknown = call(&ctx, "key_analysis", json!({"score_id": "g", "windows": 2}))
            .expect_err("unknown field");
        assert!(unknown.message.contains("windows"), "{}", unknown.message);
        let absent = call(&ctx, "key_analysis", json!({"score_id": "nope"})).expect_err("absent");
        assert_eq!(absent.kind, ErrorKind::NotFound);
    }
}
