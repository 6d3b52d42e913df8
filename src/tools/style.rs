//! `imitate_style`: learn a melody model from sources and write a new melody in their style.
//!
//! The sources are stored scores or a corpus prefix (`bach/`, `builtin/`): the configured
//! corpus directories and the built-in corpus, capped in files and notes. The melodic line
//! of each source's top part (ties joined, chords by their top note, split at rests) is read
//! in the source's own key as scale-degree intervals, jointly with durations and metric
//! positions; [`crate::music::style_model`] learns a back-off Markov chain of order two or
//! more over those tokens and draws a melody from it that starts and ends on the tonic and
//! fills its bars exactly. The melody is stored, and its statistics are compared with the
//! sources' and with a uniform random walk's.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use music21_rs::notation::TieType;
use music21_rs::{Stream, StreamElement, TimeSignature};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::error::{ToolError, ToolResult};
use crate::music::confined;
use crate::music::corpus::BUILTIN;
use crate::music::counterpoint::{Mode, ModeKind, Tone};
use crate::music::format::Format;
use crate::music::melody::{melody_of, segments};
use crate::music::parse::{catch_engine, parse_score};
use crate::music::style_model::{
    self as sm, align, interval_histogram, jensen_shannon, l1, label_histogram, percentile,
    random_walk_steps, uniform_histogram, Frame, Line, Model, Token, MAX_STEP, TICKS_PER_QUARTER,
};
use crate::music::summary::{count_notes, Summary};
use crate::music::timeline::{parts_of, round, MeasureGrid};
use crate::store::Eviction;
use crate::tools::analysis_common::{parse_key_arg, whole_score_key};
use crate::tools::counterpoint::{clef_for, new_measure, new_part, new_score, note_of};
use crate::tools::scores::store_generated;
use crate::tools::{ensure_id_free, tool, validate_score_id, ToolContext, ToolDef};

/// Most files read for a corpus prefix.
pub const MAX_SOURCE_FILES: usize = 200;
/// Most stored scores given by id.
pub const MAX_SOURCE_IDS: usize = 50;
/// Most notes learned from, over all sources.
pub const MAX_SOURCE_NOTES: usize = 100_000;

/// Where to learn from.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SourceArg {
    /// Ids of stored scores.
    Ids(Vec<String>),
    /// A corpus name prefix: `bach/`, `builtin/`, `bach/bwv2`.
    Prefix(String),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// The sources: an array of stored score ids, or a corpus name prefix such as "bach/"
    /// or "builtin/" (files under the prefix in the configured corpus directories, and
    /// built-in pieces whose names start with it).
    pub source: SourceArg,
    /// Bars to write, 1 to 64.
    pub measures: i64,
    /// Key of the melody ("G", "e", "F# minor", "B- major"). Default: C major, or A minor
    /// when most sources are in minor keys.
    #[serde(default)]
    pub key: Option<String>,
    /// Time signature ("3/4", "6/8"). Default: the most common among the sources.
    #[serde(default)]
    pub time_signature: Option<String>,
    /// Seed of the random draw: the same sources, arguments and seed give the same melody.
    pub seed: u64,
    /// Order of the Markov chain, 2 to 4 (default 2): how many notes before each note its
    /// choice depends on, backing off to fewer where the sources never had that context.
    #[serde(default)]
    pub order: Option<i64>,
    /// Id to store the melody under. Default: `imitation-` and a digest of the arguments
    /// (the same arguments give the same melody, so a score under that id is replaced).
    #[serde(default)]
    pub new_score_id: Option<String>,
    /// Replace an existing score with id `new_score_id`.
    #[serde(default)]
    pub replace: bool,
}

/// A note of the melody.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct MelodyNote {
    pub measure: usize,
    /// Beat (quarter notes from 1) where the note starts.
    pub beat: f64,
    pub pitch: String,
    pub quarters: f64,
}

/// One bin of the interval histograms: a move of `steps` scale degrees (negative down,
/// ±7 counts an octave or more).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct IntervalBin {
    pub steps: i32,
    pub result: f64,
    pub source: f64,
    /// The uniform random walk (every step from an octave down to an octave up alike).
    pub uniform: f64,
    /// A seeded uniform random walk as long as the result.
    pub random_walk: f64,
}

/// One bin of the rhythm histograms: a duration in quarter notes.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct RhythmBin {
    pub quarters: String,
    pub result: f64,
    pub source: f64,
}

/// A distance between two histograms, two ways.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Distance {
    /// Jensen-Shannon divergence in bits: 0 identical, 1 disjoint.
    pub jensen_shannon: f64,
    /// Sum of absolute differences: 0 identical, 2 disjoint.
    pub l1: f64,
}

/// How far the result's interval histogram is from the sources', against the baselines.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct IntervalDistances {
    /// Result to sources.
    pub result_to_source: Distance,
    /// The uniform random walk's histogram to the sources'.
    pub uniform_to_source: Distance,
    /// A seeded uniform random walk as long as the result, to the sources'.
    pub random_walk_to_source: Distance,
    /// Result to the uniform random walk's histogram.
    pub result_to_uniform: Distance,
    /// Whether the result is closer to the sources than to the uniform walk, and closer to
    /// the sources than both random-walk baselines are (Jensen-Shannon).
    pub closer_than_random: bool,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct RangeStats {
    pub lowest: String,
    pub highest: String,
    /// Semitones from lowest to highest.
    pub span: i32,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SourceRange {
    /// Median semitone span of the source lines.
    pub median_span: i32,
    /// Widest span of a source line.
    pub max_span: i32,
    /// The register the melody was kept in: scale steps above the tonic from the sources'
    /// 5th to 95th percentile.
    pub degree_low: i32,
    pub degree_high: i32,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Statistics {
    pub interval_histogram: Vec<IntervalBin>,
    pub interval_distances: IntervalDistances,
    pub rhythm_histogram: Vec<RhythmBin>,
    pub rhythm_distance: Distance,
    pub result_range: RangeStats,
    pub source_range: SourceRange,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SkippedSource {
    pub source: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SourcesReport {
    /// Scores learned from.
    pub used: Vec<String>,
    pub skipped: Vec<SkippedSource>,
    /// Whether the file cap (200) or the note cap (100,000) left sources out.
    pub capped: bool,
    /// Melodic lines (phrases between rests) learned from.
    pub lines: usize,
    pub notes: usize,
    /// Keys of the sources as found (music21's AardenEssen key), counted.
    pub keys_major: usize,
    pub keys_minor: usize,
    /// Time signatures of the sources, counted.
    pub time_signatures: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ModelReport {
    pub order: usize,
    /// Contexts learned per context length (index 0 is the unigram).
    pub contexts: Vec<usize>,
    /// Notes drawn with a context of each length (index = context length).
    pub drawn_by_order: Vec<usize>,
    /// Notes drawn ignoring the metric position (nothing learned fitted the position).
    pub drawn_position_free: usize,
    /// Notes made to fit the room left in the bar (lengthened or shortened).
    pub fitted_to_barline: usize,
    /// Notes placed by rule: the first and last tonic.
    pub forced_tonic: usize,
    /// Which draw (from 0) was kept: the first reaching the final tonic by step.
    pub attempt: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    pub new_score_id: String,
    /// The key written in, e.g. `C major`.
    pub key: String,
    pub time_signature: String,
    pub measures: usize,
    pub seed: u64,
    pub notes: Vec<MelodyNote>,
    pub starts_on_tonic: bool,
    pub ends_on_tonic: bool,
    /// Whether every bar is filled exactly.
    pub bars_exact: bool,
    pub sources: SourcesReport,
    pub model: ModelReport,
    pub statistics: Statistics,
    /// What could not be achieved, in words.
    pub limitations: Vec<String>,
    pub summary: Summary,
    pub bytes: u64,
    pub sha256: String,
    pub evicted: Vec<Eviction>,
}

pub fn tool_def() -> ToolDef {
    tool(
        "imitate_style",
        "Write a new melody in the style of some sources: stored score ids, or a corpus prefix such as \"bach/\" or \"builtin/\". Learns a Markov chain of order 2 or more (with back-off) over scale-degree intervals joined with durations and metric positions from the sources' top lines, then draws a melody of the given number of measures that starts and ends on the tonic and fills its bars exactly, in the given or most common key mode and time signature. Stores it and compares its statistics with the sources': interval histogram, range, rhythm histogram, and their distances, with the distance of a uniform random walk for reference. Deterministic for the same input and seed.",
        true,
        run,
    )
}

/// A parsed source.
struct Parsed {
    name: String,
    score: Stream,
}

fn check_prefix(prefix: &str) -> ToolResult<()> {
    let path = Path::new(prefix);
    let clean = !prefix.trim().is_empty()
        && prefix.len() <= 200
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if clean {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "source '{}' must be a corpus name prefix like \"bach/\" or \"builtin/\" (relative, without '..'), or an array of score ids",
            crate::music::guard::truncate(prefix, 40)
        )))
    }
}

/// Regular files under `dir` (three levels deep at most) with a known score extension,
/// sorted. Symlinks are passed over, to directories or files alike (the reads refuse them too).
fn score_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<(PathBuf, std::fs::FileType)> = entries
        .filter_map(|e| e.ok().and_then(|e| Some((e.path(), e.file_type().ok()?))))
        .collect();
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in paths {
        if kind.is_dir() {
            if depth > 0 {
                score_files(&path, depth - 1, out);
            }
        } else if kind.is_file()
            && path
                .extension()
                .and_then(|e| e.to_str())
                .and_then(Format::from_extension)
                .is_some()
        {
            out.push(path);
        }
    }
}

/// The corpus files and built-in pieces named by a prefix, in order.
fn corpus_sources(
    ctx: &ToolContext,
    prefix: &str,
    skipped: &mut Vec<SkippedSource>,
    capped: &mut bool,
) -> Vec<Parsed> {
    let mut found: Vec<(String, Vec<u8>, Format)> = Vec::new();
    // (corpus directory, file, name shown)
    let mut files: Vec<(&Path, PathBuf, String)> = Vec::new();
    for dir in &ctx.config.corpus.dirs {
        let base = dir.join(prefix);
        let mut here = Vec::new();
        if prefix.ends_with('/') || base.is_dir() {
            score_files(&base, 2, &mut here);
        } else {
            // A partial name: files in the parent directory whose names start with it.
            let parent = base
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.clone());
            let stem = base
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut all = Vec::new();
            score_files(&parent, 0, &mut all);
            here.extend(all.into_iter().filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&stem))
            }));
        }
        for path in here {
            let name = path
                .strip_prefix(dir)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| path.display().to_string());
            files.push((dir, path, name));
        }
    }
    // Read as corpus names are (see corpus::find_in_dir): beneath the corpus directory, no
    // symlink followed, regular files only, checked and read through one descriptor; hard
    // links allowed.
    let rules = confined::Rules {
        allow_hardlinks: true,
        max_bytes: ctx.config.limits.max_source_bytes,
    };
    for (dir, path, name) in files {
        if found.len() >= MAX_SOURCE_FILES {
            *capped = true;
            break;
        }
        let format = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(Format::from_extension)
            .expect("filtered by extension");
        let read = match (confined::Dir::open(dir), path.strip_prefix(dir)) {
            (Ok(open), Ok(rel)) => open.read(rel, &rules, &path),
            _ => Err(confined::Miss::Missing),
        };
        match read {
            Ok(bytes) => found.push((name, bytes, format)),
            Err(confined::Miss::TooBig { size, .. }) => skipped.push(SkippedSource {
                source: name,
                reason: format!("{size} bytes, over limits.max_source_bytes"),
            }),
            Err(_) => skipped.push(SkippedSource {
                source: name,
                reason:
                    "not a regular file beneath the corpus directory (symlinks are not followed)"
                        .into(),
            }),
        }
    }
    for piece in BUILTIN.iter().filter(|p| p.name.starts_with(prefix)) {
        if found.len() >= MAX_SOURCE_FILES {
            *capped = true;
            break;
        }
        found.push((piece.name.to_string(), piece.bytes.to_vec(), piece.format));
    }
    found
        .into_iter()
        .filter_map(|(name, bytes, format)| {
            match parse_score(&bytes, format, None, &ctx.config.limits) {
                Ok(score) => Some(Parsed { name, score }),
                Err(e) => {
                    skipped.push(SkippedSource {
                        source: name,
                        reason: e.message,
                    });
                    None
                }
            }
        })
        .collect()
}

/// What one source contributes.
struct SourceLines {
    lines: Vec<Line>,
    minor: bool,
    meter: Option<String>,
    median_midi: Vec<i32>,
}

fn quantise(quarters: f64) -> i64 {
    (quarters * f64::from(TICKS_PER_QUARTER)).round() as i64
}

fn lines_of(score: &Stream) -> ToolResult<SourceLines> {
    let key = whole_score_key(score)?.key;
    let tonic = Tone::from_pitch(key.tonic_pitch())
        .map(|t| t.letter())
        .unwrap_or(0) as i32;
    let minor = key.mode() == "minor";
    let grid = MeasureGrid::of(score);
    let meter = score.recurse().into_iter().find_map(|(_, e)| match e {
        StreamElement::TimeSignature(ts) => Some(ts.ratio_string()),
        _ => None,
    });
    let parts = parts_of(score);
    let top = parts.first().copied().unwrap_or(score);
    let items = melody_of(top);
    let mut lines = Vec::new();
    let mut midis_all = Vec::new();
    for segment in segments(&items) {
        let mut notes: Vec<(i64, i64, i32, i32)> = Vec::new(); // start, end ticks, dia, midi
        for n in segment {
            let Some(t) = Tone::from_pitch(&n.pitch) else {
                continue;
            };
            let (start, end) = (quantise(n.offset), quantise(n.end()));
            if end <= start {
                continue;
            }
            notes.push((start, end, t.dia, t.midi()));
        }
        if notes.len() < 2 {
            continue;
        }
        let mut dias: Vec<i32> = notes.iter().map(|n| n.2).collect();
        dias.sort_unstable();
        let median = dias[dias.len() / 2];
        // The tonic at or below the line's median.
        let reference = (median - 7..=median)
            .rev()
            .find(|d| d.rem_euclid(7) == tonic)
            .unwrap_or(median);
        let mut tokens = Vec::with_capacity(notes.len());
        let mut positions = Vec::with_capacity(notes.len());
        for (i, &(start, end, dia, _)) in notes.iter().enumerate() {
            let offset = start as f64 / f64::from(TICKS_PER_QUARTER);
            let idx = grid
                .slots
                .partition_point(|s| s.start <= offset + 1e-9)
                .saturating_sub(1);
            let within = grid
                .slots
                .get(idx)
                .map(|s| offset - s.start + s.padding)
                .unwrap_or(offset);
            let pos = quantise(within).max(0);
            let step = if i == 0 {
                Token::FIRST
            } else {
                (dia - notes[i - 1].2).clamp(-14, 14) as i8
            };
            tokens.push(Token {
                step,
                dur: (end - start).min(i64::from(u16::MAX)) as u16,
                pos: pos.min(i64::from(u16::MAX)) as u16,
            });
            positions.push(dia - reference);
        }
        let midis: Vec<i32> = notes.iter().map(|n| n.3).collect();
        let (lowest, highest) = (
            *midis.iter().min().expect("notes"),
            *midis.iter().max().expect("notes"),
        );
        midis_all.extend(midis);
        lines.push(Line {
            tokens,
            positions,
            span: highest - lowest,
            lowest_midi: lowest,
            highest_midi: highest,
        });
    }
    Ok(SourceLines {
        lines,
        minor,
        meter,
        median_midi: midis_all,
    })
}

fn parse_meter(text: &str) -> ToolResult<TimeSignature> {
    let bad = |why: &str| {
        ToolError::invalid(format!(
            "time_signature '{}' is not a time signature ({why}): give numerator/denominator such as \"4/4\", \"3/4\" or \"6/8\"",
            crate::music::guard::truncate(text, 20)
        ))
    };
    let (num, den) = text.trim().split_once('/').ok_or_else(|| bad("no '/'"))?;
    let num: u32 = num
        .trim()
        .parse()
        .map_err(|_| bad("the numerator is not a number"))?;
    let den: u32 = den
        .trim()
        .parse()
        .map_err(|_| bad("the denominator is not a number"))?;
    if !(1..=32).contains(&num) {
        return Err(bad("the numerator must be 1 to 32"));
    }
    if ![1, 2, 4, 8, 16, 32].contains(&den) {
        return Err(bad("the denominator must be 1, 2, 4, 8, 16 or 32"));
    }
    catch_engine("reading the time signature", || {
        TimeSignature::new(num, den)
    })?
    .map_err(|e| bad(&e.to_string()))
}

fn distance(p: &[f64], q: &[f64]) -> Distance {
    Distance {
        jensen_shannon: round(jensen_shannon(p, q)),
        l1: round(l1(p, q)),
    }
}

/// Splits a length in ticks into note values that can be written (largest first).
fn writable(mut ticks: u32) -> Vec<u32> {
    const VALUES: [u32; 10] = [32, 24, 16, 12, 8, 6, 4, 3, 2, 1];
    let mut out = Vec::new();
    while ticks > 0 {
        let v = VALUES.iter().copied().find(|v| *v <= ticks).unwrap_or(1);
        out.push(v);
        ticks -= v;
    }
    out
}

fn run(ctx: &ToolContext, args: Args) -> ToolResult<Output> {
    if !(1..=64).contains(&args.measures) {
        return Err(ToolError::invalid(format!(
            "measures must be between 1 and 64, got {}",
            args.measures
        )));
    }
    let measures = args.measures as u32;
    let order = args.order.unwrap_or(2);
    if !(2..=4).contains(&order) {
        return Err(ToolError::invalid(format!(
            "order must be 2, 3 or 4, got {order}"
        )));
    }
    let order = order as usize;
    let key_arg = args
        .key
        .as_deref()
        .map(|k| parse_key_arg("key", k))
        .transpose()?;
    let meter_arg = args
        .time_signature
        .as_deref()
        .map(parse_meter)
        .transpose()?;
    let new_id = match &args.new_score_id {
        Some(id) => {
            validate_score_id(id)?;
            ensure_id_free(ctx, "new_score_id", id, args.replace)?;
            id.clone()
        }
        None => {
            let canonical = serde_json::json!({
                "source": match &args.source { SourceArg::Ids(ids) => serde_json::json!(ids), SourceArg::Prefix(p) => serde_json::json!(p) },
                "measures": measures, "key": args.key, "time_signature": args.time_signature,
                "seed": args.seed, "order": order,
            });
            let digest = sha2::Sha256::digest(canonical.to_string().as_bytes());
            format!("imitation-{}", &hex::encode(digest)[..12])
        }
    };
    let replace = args.replace || args.new_score_id.is_none();

    // The sources.
    let mut skipped = Vec::new();
    let mut capped = false;
    let parsed: Vec<Parsed> = match &args.source {
        SourceArg::Ids(ids) => {
            if ids.is_empty() {
                return Err(ToolError::invalid("source: the array of score ids is empty; give at least one id, or a corpus prefix like \"bach/\""));
            }
            if ids.len() > MAX_SOURCE_IDS {
                return Err(ToolError::limit(format!(
                    "source: {} score ids, more than the {MAX_SOURCE_IDS} accepted",
                    ids.len()
                )));
            }
            let mut out = Vec::new();
            for id in ids {
                let loaded = ctx.load(id)?;
                out.push(Parsed {
                    name: id.clone(),
                    score: (*loaded.score).clone(),
                });
            }
            out
        }
        SourceArg::Prefix(prefix) => {
            check_prefix(prefix)?;
            let found = corpus_sources(ctx, prefix, &mut skipped, &mut capped);
            if found.is_empty() {
                let dirs = ctx
                    .config
                    .corpus
                    .dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ToolError::not_found(format!(
                    "source '{prefix}': no readable scores under this prefix in the corpus directories ({}) or the built-in corpus ({})",
                    if dirs.is_empty() { "none configured".to_string() } else { dirs },
                    BUILTIN.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
                )));
            }
            found
        }
    };

    let mut lines: Vec<Line> = Vec::new();
    let mut used = Vec::new();
    let (mut keys_major, mut keys_minor) = (0, 0);
    let mut meters: BTreeMap<String, usize> = BTreeMap::new();
    let mut midis: Vec<i32> = Vec::new();
    let mut notes_total = 0usize;
    for source in &parsed {
        if notes_total >= MAX_SOURCE_NOTES {
            capped = true;
            skipped.push(SkippedSource {
                source: source.name.clone(),
                reason: format!("the note cap ({MAX_SOURCE_NOTES}) was reached"),
            });
            continue;
        }
        if count_notes(&source.score).pitches > ctx.config.limits.max_analysis_notes {
            skipped.push(SkippedSource {
                source: source.name.clone(),
                reason: "over limits.max_analysis_notes".into(),
            });
            continue;
        }
        match lines_of(&source.score) {
            Ok(found) if !found.lines.is_empty() => {
                notes_total += found.lines.iter().map(|l| l.tokens.len()).sum::<usize>();
                if found.minor {
                    keys_minor += 1;
                } else {
                    keys_major += 1;
                }
                if let Some(m) = found.meter {
                    *meters.entry(m).or_default() += 1;
                }
                midis.extend(found.median_midi);
                lines.extend(found.lines);
                used.push(source.name.clone());
            }
            Ok(_) => skipped.push(SkippedSource {
                source: source.name.clone(),
                reason: "no melodic line of two notes or more".into(),
            }),
            Err(e) => skipped.push(SkippedSource {
                source: source.name.clone(),
                reason: e.message,
            }),
        }
    }
    if lines.is_empty() {
        return Err(ToolError::unsupported(format!(
            "source: none of the {} score(s) has a melodic line to learn from ({})",
            parsed.len(),
            skipped
                .iter()
                .map(|s| format!("{}: {}", s.source, s.reason))
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }

    // Key, meter, register.
    let key = match key_arg {
        Some(k) => k,
        None => {
            let (tonic, mode) = if keys_minor > keys_major {
                ("A", "minor")
            } else {
                ("C", "major")
            };
            parse_key_arg("key", &format!("{tonic} {mode}"))?
        }
    };
    let minor = key.mode() == "minor";
    let tonic = Tone::from_pitch(key.tonic_pitch()).unwrap_or(Tone::new(28, 0));
    let mode = Mode::new(
        if minor {
            ModeKind::Aeolian
        } else {
            ModeKind::Ionian
        },
        tonic,
        Some(if minor { "minor" } else { "major" }),
    );
    let meter = match meter_arg {
        Some(m) => m,
        None => {
            let common = meters
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(m, _)| m.clone())
                .unwrap_or_else(|| "4/4".to_string());
            parse_meter(&common).or_else(|_| parse_meter("4/4"))?
        }
    };
    let bar_quarters = meter.bar_duration().quarter_length();
    let bar_ticks = quantise(bar_quarters);
    if bar_ticks < 1
        || (bar_quarters * f64::from(TICKS_PER_QUARTER) - bar_ticks as f64).abs() > 1e-9
    {
        return Err(ToolError::invalid(format!(
            "time_signature {}: its bar cannot be counted in 32nd notes",
            meter.ratio_string()
        )));
    }
    let beat_ticks = meter
        .beat_duration()
        .ok()
        .map(|d| quantise(d.quarter_length()).max(1) as u32)
        .unwrap_or(TICKS_PER_QUARTER);
    let mut positions: Vec<i32> = lines
        .iter()
        .flat_map(|l| l.positions.iter().copied())
        .collect();
    positions.sort_unstable();
    let (mut lo, mut hi) = (percentile(&positions, 0.05), percentile(&positions, 0.95));
    if hi - lo < 5 {
        hi = lo + 5;
    }
    if !(lo..=hi).any(|p| p.rem_euclid(7) == 0) {
        lo = lo.min(0);
        hi = hi.max(0);
    }
    let center = percentile(&positions, 0.5);
    midis.sort_unstable();
    let median_midi = percentile(&midis, 0.5);

    let model = Model::learn(&lines, order);
    let frame = Frame {
        bar_ticks: bar_ticks as u32,
        measures,
        lo,
        hi,
        center,
        beat_ticks,
    };
    let melody = sm::generate(&model, &frame, args.seed);

    // Pitches: the reference tonic at or below the sources' median pitch.
    let mut reference = Tone::new(tonic.letter() as i32 + 7 * 9, tonic.alter);
    while reference.midi() > median_midi && reference.dia > 7 {
        reference = Tone::new(reference.dia - 7, reference.alter);
    }
    let mut tones: Vec<Tone> = melody
        .notes
        .iter()
        .map(|n| mode.tone(reference.dia + n.pos))
        .collect();
    if minor {
        // Harmonic and melodic minor: the seventh rises to the tonic, and the sixth with it.
        for i in (0..tones.len().saturating_sub(1)).rev() {
            let (t, next) = (tones[i], tones[i + 1]);
            let degree = mode.degree(t);
            let rising = next.dia == t.dia + 1;
            let leading = degree == 6 && mode.degree(next) == 0;
            let raised_sixth = degree == 5 && mode.degree(next) == 6 && !mode.contains(next);
            if rising && (leading || raised_sixth) {
                tones[i] = Tone::new(t.dia, t.alter + 1);
            }
        }
    }

    // The score.
    let midis_out: Vec<i32> = tones.iter().map(|t| t.midi()).collect();
    let mut part = new_part("P1", "Melody");
    let bar_q = f64::from(bar_ticks as u32) / f64::from(TICKS_PER_QUARTER);
    for k in 0..measures {
        let first = (k == 0).then(|| (clef_for(&midis_out), mode.sharps(), &meter));
        let mut m = new_measure(k as usize + 1, first);
        for (note, tone) in melody
            .notes
            .iter()
            .zip(&tones)
            .filter(|(n, _)| n.start / bar_ticks as u32 == k)
        {
            let pieces = writable(note.dur);
            let mut at = note.start - k * bar_ticks as u32;
            for (j, piece) in pieces.iter().enumerate() {
                let tie = match (pieces.len(), j) {
                    (1, _) => None,
                    (_, 0) => Some(TieType::Start),
                    (len, j) if j + 1 == len => Some(TieType::Stop),
                    _ => Some(TieType::Continue),
                };
                let el = note_of(
                    &tone.name(),
                    f64::from(*piece) / f64::from(TICKS_PER_QUARTER),
                    tie,
                )?;
                m.insert(f64::from(at) / f64::from(TICKS_PER_QUARTER), el);
                at += piece;
            }
        }
        part.insert(f64::from(k) * bar_q, m);
    }
    let title = format!(
        "In the style of {}",
        match &args.source {
            SourceArg::Prefix(p) => p.clone(),
            SourceArg::Ids(ids) => ids.join(", "),
        }
    );
    let score = new_score(&title, vec![part]);
    let origin = format!("imitate_style:seed{}", args.seed);
    let (summary, meta, evicted) =
        store_generated(ctx, &new_id, &score, "musicxml", &origin, replace)?;

    // Statistics.
    let source_steps: Vec<i32> = lines
        .iter()
        .flat_map(|l| l.tokens.iter().skip(1).map(|t| i32::from(t.step)))
        .collect();
    let result_steps: Vec<i32> = melody
        .notes
        .windows(2)
        .map(|w| w[1].pos - w[0].pos)
        .collect();
    let (src_h, res_h, uni_h) = (
        interval_histogram(&source_steps),
        interval_histogram(&result_steps),
        uniform_histogram(),
    );
    let walk_h = interval_histogram(&random_walk_steps(result_steps.len().max(1), args.seed));
    let interval_bins = (-MAX_STEP..=MAX_STEP)
        .enumerate()
        .map(|(i, steps)| IntervalBin {
            steps,
            result: round(res_h[i]),
            source: round(src_h[i]),
            uniform: round(uni_h[i]),
            random_walk: round(walk_h[i]),
        })
        .collect();
    let result_to_source = distance(&res_h, &src_h);
    let uniform_to_source = distance(&uni_h, &src_h);
    let random_walk_to_source = distance(&walk_h, &src_h);
    let result_to_uniform = distance(&res_h, &uni_h);
    let closer_than_random = result_to_source.jensen_shannon < result_to_uniform.jensen_shannon
        && result_to_source.jensen_shannon < uniform_to_source.jensen_shannon
        && result_to_source.jensen_shannon < random_walk_to_source.jensen_shannon;
    let src_rhythm = label_histogram(lines.iter().flat_map(|l| {
        l.tokens
            .iter()
            .map(|t| sm::duration_label(u32::from(t.dur)))
    }));
    let res_rhythm = label_histogram(melody.notes.iter().map(|n| sm::duration_label(n.dur)));
    let (rr, rs) = align(&res_rhythm, &src_rhythm);
    let mut labels: Vec<&String> = res_rhythm.keys().chain(src_rhythm.keys()).collect();
    labels.sort_by(|a, b| {
        a.parse::<f64>()
            .unwrap_or(0.0)
            .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
    });
    labels.dedup();
    let rhythm_bins = labels
        .iter()
        .map(|l| RhythmBin {
            quarters: (*l).clone(),
            result: round(res_rhythm.get(*l).copied().unwrap_or(0.0)),
            source: round(src_rhythm.get(*l).copied().unwrap_or(0.0)),
        })
        .collect();
    let (low_i, high_i) = (
        (0..tones.len())
            .min_by_key(|i| tones[*i].midi())
            .unwrap_or(0),
        (0..tones.len())
            .max_by_key(|i| tones[*i].midi())
            .unwrap_or(0),
    );
    let mut spans: Vec<i32> = lines.iter().map(|l| l.span).collect();
    spans.sort_unstable();

    let total_ticks: u32 = melody.notes.iter().map(|n| n.dur).sum();
    let bars_exact = total_ticks == measures * bar_ticks as u32
        && melody
            .notes
            .iter()
            .all(|n| n.start / bar_ticks as u32 == (n.start + n.dur - 1) / bar_ticks as u32);
    let starts_on_tonic = tones.first().is_some_and(|t| mode.degree(*t) == 0);
    let ends_on_tonic = tones.last().is_some_and(|t| mode.degree(*t) == 0);

    let p = &melody.provenance;
    let mut limitations = Vec::new();
    let drawn: usize = p.by_order.iter().sum();
    let full = p.by_order.last().copied().unwrap_or(0);
    if drawn > 0 && full < drawn {
        limitations.push(format!(
            "{} of {drawn} notes were drawn from shorter contexts than order {order} (back-off): the sources never had their full context",
            drawn - full
        ));
    }
    if p.position_free > 0 {
        limitations.push(format!(
            "{} note(s) were drawn ignoring the metric position: nothing the sources did at that place in a {} bar fitted",
            p.position_free,
            meter.ratio_string()
        ));
    }
    if p.fitted > 0 {
        limitations.push(format!(
            "{} note(s) were cut or stretched to reach the barline: no learned duration fitted the room left",
            p.fitted
        ));
    }
    let n = melody.notes.len();
    if n >= 2 && (melody.notes[n - 1].pos - melody.notes[n - 2].pos).abs() != 1 {
        limitations.push(format!(
            "the final tonic is reached by a leap of {} scale steps: none of {} draws reached it by step",
            (melody.notes[n - 1].pos - melody.notes[n - 2].pos).abs(),
            sm::ATTEMPTS
        ));
    }
    if !closer_than_random {
        limitations.push("the melody's interval histogram is not closer to the sources than a uniform random walk's".into());
    }
    if capped {
        limitations.push(format!(
            "only part of the sources was read (at most {MAX_SOURCE_FILES} files and {MAX_SOURCE_NOTES} notes)"
        ));
    }
    limitations.push("chromatic notes of the sources are read as their diatonic degree; the melody is diatonic (with the raised sixth and seventh rising to the tonic in minor)".into());

    let tpq = f64::from(TICKS_PER_QUARTER);
    Ok(Output {
        new_score_id: new_id,
        key: format!(
            "{} {}",
            mode.final_name(),
            if minor { "minor" } else { "major" }
        ),
        time_signature: meter.ratio_string(),
        measures: measures as usize,
        seed: args.seed,
        notes: melody
            .notes
            .iter()
            .zip(&tones)
            .map(|(n, t)| {
                let bar = n.start / bar_ticks as u32;
                MelodyNote {
                    measure: bar as usize + 1,
                    beat: round(
                        1.0 + f64::from(n.start - bar * bar_ticks as u32) / f64::from(beat_ticks),
                    ),
                    pitch: t.name(),
                    quarters: f64::from(n.dur) / tpq,
                }
            })
            .collect(),
        starts_on_tonic,
        ends_on_tonic,
        bars_exact,
        sources: SourcesReport {
            used,
            skipped,
            capped,
            lines: lines.len(),
            notes: model.notes,
            keys_major,
            keys_minor,
            time_signatures: meters,
        },
        model: ModelReport {
            order,
            contexts: model.contexts(),
            drawn_by_order: p.by_order.clone(),
            drawn_position_free: p.position_free,
            fitted_to_barline: p.fitted,
            forced_tonic: p.forced,
            attempt: melody.attempt,
        },
        statistics: Statistics {
            interval_histogram: interval_bins,
            interval_distances: IntervalDistances {
                result_to_source,
                uniform_to_source,
                random_walk_to_source,
                result_to_uniform,
                closer_than_random,
            },
            rhythm_histogram: rhythm_bins,
            rhythm_distance: distance(&rr, &rs),
            result_range: RangeStats {
                lowest: tones.get(low_i).map(|t| t.name()).unwrap_or_default(),
                highest: tones.get(high_i).map(|t| t.name()).unwrap_or_default(),
                span: tones.get(high_i).map(|t| t.midi()).unwrap_or(0)
                    - tones.get(low_i).map(|t| t.midi()).unwrap_or(0),
            },
            source_range: SourceRange {
                median_span: percentile(&spans, 0.5),
                max_span: spans.last().copied().unwrap_or(0),
                degree_low: lo,
                degree_high: hi,
            },
        },
        limitations,
        summary,
        bytes: meta.bytes,
        sha256: meta.sha256,
        evicted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::tools::Registry;
    use serde_json::{json, Value};

    fn context(corpus: bool) -> (tempfile::TempDir, ToolContext) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.server.data_dir = dir.path().join("data");
        if corpus {
            if let Some(c) = shared_corpus() {
                config.corpus.dirs = vec![c];
            }
        }
        (dir, ToolContext::open(config).expect("context"))
    }

    fn shared_corpus() -> Option<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        dir.join("bach").is_dir().then_some(dir)
    }

    fn call(ctx: &ToolContext, args: Value) -> ToolResult<Value> {
        Registry::new().call(ctx, "imitate_style", args)
    }

    fn check_melody(ctx: &ToolContext, out: &Value, measures: usize) {
        assert_eq!(out["bars_exact"], true);
        assert_eq!(out["starts_on_tonic"], true);
        assert_eq!(out["ends_on_tonic"], true);
        assert_eq!(out["summary"]["measures"], measures);
        let score = ctx
            .load(out["new_score_id"].as_str().unwrap())
            .unwrap()
            .score;
        let part = parts_of(&score)[0];
        let bar = score
            .recurse()
            .into_iter()
            .find_map(|(_, e)| match e {
                StreamElement::TimeSignature(ts) => Some(ts.bar_duration().quarter_length()),
                _ => None,
            })
            .unwrap();
        for m in part.measures() {
            let filled: f64 = crate::music::timeline::part_events(m)
                .iter()
                .map(|e| e.element.quarter_length())
                .sum();
            assert!(
                (filled - bar).abs() < 1e-9,
                "measure {} holds {filled} of {bar}",
                m.number()
            );
        }
    }

    #[test]
    fn builtin_style_is_closer_than_a_random_walk() {
        let (_dir, ctx) = context(false);
        let out = call(
            &ctx,
            json!({"source": "builtin/", "measures": 8, "seed": 1}),
        )
        .unwrap();
        check_melody(&ctx, &out, 8);
        let d = &out["statistics"]["interval_distances"];
        eprintln!(
            "builtin/: result {} uniform {} walk {}",
            d["result_to_source"], d["uniform_to_source"], d["random_walk_to_source"]
        );
        assert_eq!(d["closer_than_random"], true, "{d}");
        assert!(out["sources"]["used"].as_array().unwrap().len() >= 6);
        assert!(out["model"]["order"].as_u64().unwrap() >= 2);
        // Deterministic for the seed; another seed, another melody.
        let again = call(
            &ctx,
            json!({"source": "builtin/", "measures": 8, "seed": 1}),
        )
        .unwrap();
        assert_eq!(again["notes"], out["notes"]);
        assert_eq!(again["new_score_id"], out["new_score_id"]);
        let other = call(
            &ctx,
            json!({"source": "builtin/", "measures": 8, "seed": 2}),
        )
        .unwrap();
        assert_ne!(other["notes"], out["notes"]);
    }

    #[test]
    fn bach_style_when_the_shared_corpus_is_there() {
        let (_dir, ctx) = context(true);
        if shared_corpus().is_none() {
            eprintln!("skipping: ../shared/corpus not found");
            return;
        }
        let out = call(
            &ctx,
            json!({"source": "bach/", "measures": 8, "seed": 7, "new_score_id": "bachish"}),
        )
        .unwrap();
        check_melody(&ctx, &out, 8);
        let d = &out["statistics"]["interval_distances"];
        eprintln!(
            "bach/: result {} uniform {} walk {}",
            d["result_to_source"], d["uniform_to_source"], d["random_walk_to_source"]
        );
        assert_eq!(d["closer_than_random"], true, "{d}");
        assert!(out["sources"]["used"].as_array().unwrap().len() >= 30);
        assert_eq!(out["time_signature"], "4/4");
    }

    #[test]
    fn ids_keys_meters_and_orders() {
        let (_dir, ctx) = context(false);
        Registry::new()
            .call(&ctx, "import_score", json!({"score_id": "twinkle", "source": "builtin/twinkle", "source_type": "corpus"}))
            .unwrap();
        Registry::new()
            .call(
                &ctx,
                "import_score",
                json!({"score_id": "ode", "source": "builtin/ode-to-joy", "source_type": "corpus"}),
            )
            .unwrap();
        for (key, ts, measures, order) in [
            ("G", "3/4", 12, 2),
            ("e", "6/8", 5, 3),
            ("F# minor", "4/4", 1, 4),
            ("B- major", "2/4", 64, 2),
        ] {
            let out = call(&ctx, json!({
                "source": ["twinkle", "ode"], "measures": measures, "key": key, "time_signature": ts,
                "seed": 3, "order": order, "new_score_id": format!("m{measures}")
            }))
            .unwrap();
            check_melody(&ctx, &out, measures);
            assert_eq!(out["time_signature"], ts);
        }
        let out = call(&ctx, json!({"source": ["twinkle"], "measures": 4, "key": "g", "seed": 0, "new_score_id": "gm"})).unwrap();
        assert_eq!(out["key"], "G minor");
        assert_eq!(
            out["notes"][0]["pitch"].as_str().unwrap().chars().next(),
            Some('G')
        );
        let dup = call(
            &ctx,
            json!({"source": ["twinkle"], "measures": 4, "seed": 0, "new_score_id": "gm"}),
        )
        .unwrap_err();
        assert!(dup.message.contains("already exists"));
    }

    #[test]
    fn bad_input_gets_clear_errors() {
        let (_dir, ctx) = context(false);
        Registry::new()
            .call(&ctx, "import_score", json!({"score_id": "rests", "source": "tinyNotation: 4/4 r1 r1", "source_type": "text"}))
            .unwrap();
        let err = |args: Value| call(&ctx, args).unwrap_err().message;
        let m = err(json!({"source": "builtin/", "measures": 0, "seed": 1}));
        assert!(m.contains("measures"), "{m}");
        let m = err(json!({"source": "builtin/", "measures": 65, "seed": 1}));
        assert!(m.contains("measures"), "{m}");
        let m = err(json!({"source": "builtin/", "measures": 4}));
        assert!(m.contains("seed"), "{m}");
        let m = err(json!({"source": "nothing-here/", "measures": 4, "seed": 1}));
        assert!(
            m.contains("nothing-here/") && m.contains("no readable scores"),
            "{m}"
        );
        let m = err(json!({"source": "../etc/", "measures": 4, "seed": 1}));
        assert!(m.contains("source"), "{m}");
        let m = err(json!({"source": [], "measures": 4, "seed": 1}));
        assert!(m.contains("source"), "{m}");
        let m = err(json!({"source": ["rests"], "measures": 4, "seed": 1}));
        assert!(
            m.contains("melodic line") || m.contains("no sounding"),
            "{m}"
        );
        let m = err(json!({"source": "builtin/", "measures": 4, "seed": 1, "key": "H major"}));
        assert!(m.contains("key"), "{m}");
        let m =
            err(json!({"source": "builtin/", "measures": 4, "seed": 1, "time_signature": "4/5"}));
        assert!(m.contains("time_signature"), "{m}");
        let m = err(json!({"source": "builtin/", "measures": 4, "seed": 1, "order": 1}));
        assert!(m.contains("order"), "{m}");
        let m = err(json!({"source": 3, "measures": 4, "seed": 1}));
        assert!(m.contains("`source`"), "{m}");
    }
}
