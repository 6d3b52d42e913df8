//! The score tools: import, list, info, export, delete, transpose.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use music21_rs::{Interval, Stream, StreamElement};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::error::{ToolError, ToolResult};
use crate::music::format::Format;
use crate::music::parse::{catch_engine, parse_score};
use crate::music::summary::{count_notes, summarize, Summary};
use crate::music::timeline::{part_events, part_name, parts_of, round, MeasureGrid};
use crate::music::{confined, corpus};
use crate::store::{Eviction, NewScore, ScoreMeta};
use crate::tools::{
    ensure_id_free, is_score_id_char, tool, validate_score_id, ToolContext, ToolDef,
};

pub fn tools() -> Vec<ToolDef> {
    vec![
        tool(
            "import_score",
            "Import a score into the store: a corpus name (bach/bwv66.6 or builtin/chorale-g-major), a file under an allowed directory, inline text (MusicXML, ABC, Humdrum **kern, tinyNotation) or base64 (MIDI, compressed .mxl). Answers after the score is durably stored.",
            true,
            import_score,
        ),
        tool(
            "list_scores",
            "List stored scores with their summaries, the total count, the bytes stored and the evictions so far (least-recently-used eviction when the store's limits are reached).",
            false,
            list_scores,
        ),
        tool(
            "score_info",
            "Metadata of a stored score: title, composer, parts (names, instruments, ranges), measures (a pickup counted as music21 counts it), notes, time and key signatures, tempo marks, duration in quarter notes and seconds.",
            true,
            score_info,
        ),
        tool(
            "export_score",
            "Export a stored score as musicxml, mxl, midi, abc or lilypond. Returns the content itself (text, or base64 for mxl and midi), its size and MIME type.",
            true,
            export_score,
        ),
        tool(
            "delete_score",
            "Delete a stored score by id, or every score with \"*\".",
            false,
            delete_score,
        ),
        tool(
            "transpose_score",
            "Transpose a stored score by an interval (\"P5\", \"-m3\") or a number of semitones, storing the result under new_score_id.",
            true,
            transpose_score,
        ),
    ]
}

// ---------------------------------------------------------------- import_score

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceType {
    /// Guess: inline text or base64 by content; a file when the path is absolute, starts with
    /// `./` or names a file under an allowed directory; else a corpus name.
    #[default]
    Auto,
    Corpus,
    File,
    Text,
    Base64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportArgs {
    /// Id to store the score under (1-128 letters, digits or . _ - : /). When absent: the
    /// corpus name (`bach/bwv66.6`), the file's name without extension, or `score-` and the
    /// first 12 hex digits of the content's SHA-256 for inline text and bytes.
    #[serde(default)]
    pub score_id: Option<String>,
    /// A corpus name, a file path, inline score text, or base64 bytes.
    pub source: String,
    /// How to read `source`; `auto` by default.
    #[serde(default)]
    pub source_type: SourceType,
    /// The format, when it cannot or should not be detected.
    #[serde(default)]
    pub format: Option<Format>,
    /// For a multi-tune ABC file: the `X:` number of the tune to import (default: the first).
    #[serde(default)]
    pub tune: Option<i64>,
    /// Replace an existing score with the same id.
    #[serde(default)]
    pub replace: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ImportOutput {
    pub score_id: String,
    pub title: Option<String>,
    pub composer: Option<String>,
    pub parts: usize,
    pub measures: usize,
    pub notes: usize,
    pub chords: usize,
    pub rests: usize,
    /// Length in quarter notes.
    pub duration_quarters: f64,
    pub format: Format,
    /// Size of the stored source in bytes.
    pub bytes: u64,
    pub sha256: String,
    pub origin: String,
    pub tune: Option<i64>,
    /// Scores evicted to make room (least recently used first).
    pub evicted: Vec<Eviction>,
}

fn check_new_score_id(ctx: &ToolContext, id: &str, replace: bool) -> ToolResult<()> {
    // validate_score_id also refuses "*", which only delete_score takes.
    validate_score_id(id)?;
    ensure_id_free(ctx, "score_id", id, replace)
}

/// Writes a generated or transformed score as MusicXML, reads it back (what is stored is
/// what a later call reads), stores it, and keeps that parse in the cache for the next call.
/// `source_format` is the format the score came from (it guides the MusicXML writer).
pub(crate) fn store_generated(
    ctx: &ToolContext,
    id: &str,
    score: &Stream,
    source_format: &str,
    origin: &str,
    replace: bool,
) -> ToolResult<(Summary, ScoreMeta, Vec<Eviction>)> {
    let xml = to_musicxml(score, source_format)?;
    let max = ctx.config.limits.max_export_bytes;
    if xml.len() as u64 > max {
        return Err(ToolError::limit(format!(
            "refused: the new score came to {} bytes of MusicXML, over the limit limits.max_export_bytes = {max}",
            xml.len()
        )));
    }
    let reparsed = parse_score(xml.as_bytes(), Format::Musicxml, None, &ctx.config.limits)?;
    let summary = summarize(&reparsed, None);
    let source = Source {
        bytes: xml.into_bytes(),
        format: Format::Musicxml,
        origin: origin.to_string(),
    };
    let (meta, evicted) = store_score(ctx, id, &source, &summary, &reparsed, replace)?;
    ctx.cache.put(
        (meta.score_id.clone(), meta.sha256.clone()),
        std::sync::Arc::new(reparsed),
    );
    Ok((summary, meta, evicted))
}

/// The id a score gets when the caller names none: what a person would call it. `asked` is
/// the `source` argument (for a corpus piece, its name as the caller wrote it).
fn default_score_id(asked: &str, source: &Source) -> String {
    let named = if source.origin.starts_with("corpus:") || source.origin.starts_with("builtin:") {
        Some(asked.trim().to_string())
    } else if let Some(path) = source.origin.strip_prefix("file:") {
        Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
    } else {
        None
    };
    let cleaned = named.map(|n| {
        n.chars()
            .map(|c| if is_score_id_char(c) { c } else { '_' })
            .take(128)
            .collect::<String>()
    });
    match cleaned {
        Some(id) if !id.is_empty() && id != "*" => id,
        _ => {
            let digest = sha2::Sha256::digest(&source.bytes);
            let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
            format!("score-{hex}")
        }
    }
}

/// Bytes, their format and where they came from.
pub(crate) struct Source {
    pub(crate) bytes: Vec<u8>,
    pub(crate) format: Format,
    pub(crate) origin: String,
}

fn import_score(ctx: &ToolContext, args: ImportArgs) -> ToolResult<ImportOutput> {
    if let Some(id) = &args.score_id {
        check_new_score_id(ctx, id, args.replace)?;
    }
    if args.source.is_empty() {
        return Err(ToolError::invalid("source must not be empty"));
    }
    let source = read_source(ctx, &args)?;
    let score_id = match &args.score_id {
        Some(id) => id.clone(),
        None => {
            let id = default_score_id(&args.source, &source);
            check_new_score_id(ctx, &id, args.replace)?;
            id
        }
    };
    let score = parse_score(&source.bytes, source.format, args.tune, &ctx.config.limits)?;
    let tune = (source.format == Format::Abc)
        .then(|| resolved_tune(&source.bytes, args.tune))
        .flatten();
    let summary = summarize(&score, tune);
    let stored = store_score(ctx, &score_id, &source, &summary, &score, args.replace)?;
    // The next analysis of this score (usually the very next call) need not parse it again:
    // the cache key carries the stored checksum, so a later replace never meets this entry.
    ctx.cache.put(
        (stored.0.score_id.clone(), stored.0.sha256.clone()),
        std::sync::Arc::new(score),
    );
    Ok(ImportOutput {
        score_id: stored.0.score_id,
        title: summary.title,
        composer: summary.composer,
        parts: summary.parts,
        measures: summary.measures,
        notes: summary.notes,
        chords: summary.chords,
        rests: summary.rests,
        duration_quarters: summary.duration_quarters,
        format: source.format,
        bytes: stored.0.bytes,
        sha256: stored.0.sha256,
        origin: source.origin,
        tune,
        evicted: stored.1,
    })
}

fn resolved_tune(bytes: &[u8], asked: Option<i64>) -> Option<i64> {
    let numbers = crate::music::parse::abc_tune_numbers(&String::from_utf8_lossy(bytes));
    match asked {
        Some(n) => Some(n),
        None if numbers.len() > 1 => numbers.first().copied(),
        None => None,
    }
}

/// Stores a score with its summary and its description (what `score_info` answers, so
/// that question is answered from the store, without a parse, by the server itself).
pub(crate) fn store_score(
    ctx: &ToolContext,
    id: &str,
    source: &Source,
    summary: &Summary,
    score: &Stream,
    replace: bool,
) -> ToolResult<(ScoreMeta, Vec<Eviction>)> {
    let summary_json = serde_json::to_value(summary)
        .map_err(|e| ToolError::internal(format!("summary not serialisable: {e}")))?;
    let description = serde_json::to_string(&describe(score))
        .map_err(|e| ToolError::internal(format!("description not serialisable: {e}")))?;
    let result = ctx.store.insert(
        &NewScore {
            score_id: id,
            format: source.format.name(),
            origin: &source.origin,
            source: &source.bytes,
            summary: &summary_json,
            info: Some(&description),
        },
        replace,
    )?;
    ctx.cache.forget(id);
    Ok(result)
}

fn read_source(ctx: &ToolContext, args: &ImportArgs) -> ToolResult<Source> {
    let kind = match args.source_type {
        SourceType::Auto => match guess_source_type(ctx, &args.source)? {
            Guess::Type(kind) => kind,
            // Found (and read) beneath an allowed directory while guessing: not opened again.
            Guess::File { bytes, path } => return file_source(args, bytes, &path),
        },
        other => other,
    };
    match kind {
        SourceType::Corpus => {
            let piece = corpus::resolve(&args.source, &ctx.config.corpus.dirs)?;
            let format = args.format.unwrap_or(piece.format);
            Ok(Source {
                bytes: piece.bytes.into_owned(),
                format,
                origin: piece.origin,
            })
        }
        SourceType::File => {
            let (bytes, path) = confined::read_beneath(
                &ctx.config.corpus.allowed_dirs,
                &args.source,
                ctx.config.corpus.allow_hardlinks,
                ctx.config.limits.max_source_bytes,
            )?;
            file_source(args, bytes, &path)
        }
        SourceType::Text => {
            let bytes = args.source.as_bytes().to_vec();
            let format = args.format.or_else(|| Format::detect(&bytes)).ok_or_else(|| {
                ToolError::invalid(
                    "format: cannot detect the format of the text; pass format (musicxml, abc, humdrum, tinynotation)",
                )
            })?;
            if format.is_binary() {
                return Err(ToolError::invalid(format!(
                    "format: {format} is binary; send it with source_type \"base64\""
                )));
            }
            Ok(Source {
                bytes,
                format,
                origin: "text".into(),
            })
        }
        SourceType::Base64 => {
            let bytes = decode_base64(&args.source)?;
            let format = args.format.or_else(|| Format::detect(&bytes)).ok_or_else(|| {
                ToolError::invalid(
                    "format: cannot detect the format of the decoded bytes; pass format (mxl, midi, musicxml, ...)",
                )
            })?;
            Ok(Source {
                bytes,
                format,
                origin: "base64".into(),
            })
        }
        SourceType::Auto => unreachable!("auto is resolved above"),
    }
}

fn decode_base64(text: &str) -> ToolResult<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.as_bytes()))
        .map_err(|e| ToolError::invalid(format!("source: not valid base64: {e}")))
}

/// What `auto` makes of a source: a kind to read it as, or a file already read.
enum Guess {
    Type(SourceType),
    File { bytes: Vec<u8>, path: PathBuf },
}

/// Never looks at a path outside the allowed directories (nor relative to the server's
/// working directory): an absolute path or one starting with `./` is a file (and confined
/// when read); another path is a file only if the confined open finds it beneath an allowed
/// directory. Anything else goes on as a corpus name, whatever is (or is not) at the path.
fn guess_source_type(ctx: &ToolContext, source: &str) -> ToolResult<Guess> {
    if source.contains('\n') || Format::detect(source.as_bytes()).is_some() {
        return Ok(Guess::Type(SourceType::Text));
    }
    let looks_base64 = source.len() >= 16
        && source
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=\r\n".contains(&b));
    if looks_base64 {
        if let Ok(bytes) = decode_base64(source) {
            if matches!(Format::detect(&bytes), Some(Format::Mxl | Format::Midi)) {
                return Ok(Guess::Type(SourceType::Base64));
            }
        }
    }
    if Path::new(source).is_absolute() || source.starts_with("./") {
        return Ok(Guess::Type(SourceType::File));
    }
    let corpus = &ctx.config.corpus;
    if !corpus.allowed_dirs.is_empty() {
        let rules = confined::Rules {
            allow_hardlinks: corpus.allow_hardlinks,
            max_bytes: ctx.config.limits.max_source_bytes,
        };
        match confined::find_beneath(&corpus.allowed_dirs, source, &rules) {
            Ok((bytes, path)) => return Ok(Guess::File { bytes, path }),
            // A regular file beneath an allowed directory, too big: say so.
            Err(miss @ confined::Miss::TooBig { .. }) => {
                return Err(miss.into_error(rules.max_bytes))
            }
            // Missing or refused alike: not a file to import, so perhaps a corpus name.
            Err(_) => {}
        }
    }
    Ok(Guess::Type(SourceType::Corpus))
}

/// A file's bytes as a source: the format from `format`, else the extension, else the content.
/// `path` is the path as displayed, inside the allowed directory.
fn file_source(args: &ImportArgs, bytes: Vec<u8>, path: &Path) -> ToolResult<Source> {
    let format = args
        .format
        .or_else(|| path.extension().and_then(|e| e.to_str()).and_then(Format::from_extension))
        .or_else(|| Format::detect(&bytes))
        .ok_or_else(|| {
            ToolError::invalid(format!(
                "format: cannot tell the format of {}; pass format (musicxml, mxl, midi, abc, humdrum, tinynotation)",
                path.display()
            ))
        })?;
    Ok(Source {
        bytes,
        format,
        origin: format!("file:{}", path.display()),
    })
}

// ---------------------------------------------------------------- list_scores

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Most scores to return (1-1000, default 100).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Return scores after this id (the `next_cursor` of the previous page).
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListedScore {
    pub score_id: String,
    pub format: String,
    pub bytes: u64,
    pub sha256: String,
    pub origin: String,
    pub created_at: u64,
    pub last_used_at: u64,
    pub summary: serde_json::Value,
    /// Present (true) when the record fails its checksum (found by the background scrub or
    /// a read): it will not be served; delete it and import it again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub corrupted: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListOutput {
    pub scores: Vec<ListedScore>,
    /// Scores in the store.
    pub total: u64,
    /// Source bytes in the store.
    pub store_bytes: u64,
    pub max_scores: u64,
    pub max_bytes: u64,
    /// Scores evicted since the store was created.
    pub evictions_total: u64,
    /// Stored records known to fail their checksum.
    pub corrupted_total: u64,
    /// The most recent evictions, newest first (at most 20).
    pub recent_evictions: Vec<Eviction>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn list_scores(ctx: &ToolContext, args: ListArgs) -> ToolResult<ListOutput> {
    let limit = args.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ToolError::invalid(format!(
            "limit must be between 1 and 1000, got {limit}"
        )));
    }
    let page = ctx.store.list(limit + 1, args.cursor.as_deref())?;
    let more = page.len() > limit;
    let scores: Vec<ListedScore> = page
        .into_iter()
        .take(limit)
        .map(|m| ListedScore {
            score_id: m.score_id,
            format: m.format,
            bytes: m.bytes,
            sha256: m.sha256,
            origin: m.origin,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            summary: m.summary,
            corrupted: m.corrupted,
        })
        .collect();
    let next_cursor = more
        .then(|| scores.last().map(|s| s.score_id.clone()))
        .flatten();
    let stats = ctx.store.stats()?;
    Ok(ListOutput {
        scores,
        total: stats.scores,
        store_bytes: stats.bytes,
        max_scores: stats.max_scores,
        max_bytes: stats.max_bytes,
        evictions_total: stats.evictions_total,
        corrupted_total: stats.corrupted,
        recent_evictions: ctx.store.recent_evictions(20)?,
        next_cursor,
    })
}

// ---------------------------------------------------------------- score_info

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreIdArgs {
    /// Id of a stored score.
    pub score_id: String,
}

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

#[derive(Debug, Serialize, JsonSchema)]
pub struct ScoreInfoOutput {
    pub score_id: String,
    pub format: String,
    pub bytes: u64,
    pub sha256: String,
    pub created_at: u64,
    #[serde(flatten)]
    pub description: ScoreDescription,
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
    pub notes: usize,
    pub chords: usize,
    pub rests: usize,
    pub time_signatures: Vec<TimeSignatureInfo>,
    pub key_signatures: Vec<KeySignatureInfo>,
    pub tempos: Vec<TempoInfo>,
    pub duration_quarters: f64,
    /// Seconds at the marked tempi (120 quarter notes a minute where none is marked).
    pub duration_seconds: f64,
}

fn score_info(ctx: &ToolContext, args: ScoreIdArgs) -> ToolResult<ScoreInfoOutput> {
    let loaded = ctx.load(&args.score_id)?;
    Ok(ScoreInfoOutput {
        score_id: loaded.meta.score_id.clone(),
        format: loaded.meta.format.clone(),
        bytes: loaded.meta.bytes,
        sha256: loaded.meta.sha256.clone(),
        created_at: loaded.meta.created_at,
        description: describe(&loaded.score),
    })
}

/// `score_info` answered from the store alone: the record is read and verified, and its
/// stored description returned. `Ok(None)` when the record has no description (stored by
/// an older version): then a worker parses the score.
pub fn score_info_stored(
    ctx: &ToolContext,
    args: serde_json::Value,
) -> ToolResult<Option<serde_json::Value>> {
    let args: ScoreIdArgs = serde_json::from_value(args)
        .map_err(|e| ToolError::invalid(format!("invalid arguments for score_info: {e}")))?;
    validate_score_id(&args.score_id)?;
    let stored = ctx.store.get(&args.score_id)?;
    let Some(description) = stored
        .info
        .as_deref()
        .and_then(|text| serde_json::from_str::<ScoreDescription>(text).ok())
    else {
        return Ok(None);
    };
    let output = ScoreInfoOutput {
        score_id: stored.meta.score_id,
        format: stored.meta.format,
        bytes: stored.meta.bytes,
        sha256: stored.meta.sha256,
        created_at: stored.meta.created_at,
        description,
    };
    serde_json::to_value(output)
        .map(Some)
        .map_err(|e| ToolError::internal(format!("score_info: result not serialisable: {e}")))
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

// ---------------------------------------------------------------- export_score

#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
    Musicxml,
    Mxl,
    Midi,
    Abc,
    Lilypond,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportArgs {
    pub score_id: String,
    /// musicxml (default), mxl, midi, abc or lilypond.
    #[serde(default)]
    pub format: ExportFormat,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ExportOutput {
    pub score_id: String,
    pub format: String,
    pub mime_type: String,
    /// `utf-8` for text formats, `base64` for mxl and midi.
    pub encoding: String,
    pub content: String,
    /// Size of the exported file in bytes (before base64).
    pub bytes: usize,
    pub sha256: String,
}

/// Whether export must work out notation first: scores read from formats that leave
/// measures, ties and beams unsaid (MIDI, ABC, tinyNotation, Humdrum).
fn needs_notation(format: &str) -> bool {
    !matches!(format, "musicxml" | "mxl")
}

/// Bytes of MusicXML a measure costs at least (its tags and one note or rest).
const BYTES_PER_MEASURE: u64 = 200;
/// Bytes of MusicXML a note or rest costs at least.
const BYTES_PER_NOTE: u64 = 150;
/// Bytes of MIDI a note costs at least (two events).
const BYTES_PER_MIDI_NOTE: u64 = 6;
/// An export of this size is always allowed, whatever its source's size.
const EXPORT_FLOOR: u64 = 1024 * 1024;

/// A low estimate of the bytes an export of `score` writes: every measure its notation
/// will have (a note longer than its bar becomes one tied note per bar, so a 50-byte ABC of
/// long notes in a short meter unfolds into tens of thousands of measures) and every note.
pub(crate) fn export_estimate(score: &Stream, format: ExportFormat) -> (u64, u64) {
    let mut bytes = 1024u64;
    let mut measures_total = 0u64;
    for part in parts_of(score) {
        let bar = part
            .recurse()
            .into_iter()
            .find_map(|(_, e)| match e {
                StreamElement::TimeSignature(ts) => Some(ts.bar_duration().quarter_length()),
                _ => None,
            })
            .filter(|b| b.is_finite() && *b > 0.0)
            .unwrap_or(4.0)
            .max(1.0 / 64.0);
        let span = part.end_offset();
        let by_length = if span.is_finite() && span > 0.0 {
            (span / bar).ceil().min(1e15) as u64
        } else {
            0
        };
        let measures = (part.measures().len() as u64).max(by_length);
        let counts = count_notes(part);
        let notes = (counts.pitches + counts.rests) as u64;
        measures_total = measures_total.saturating_add(measures);
        bytes = match format {
            // MIDI knows no measures: a long note is one note on and one note off.
            ExportFormat::Midi => bytes.saturating_add(notes.saturating_mul(BYTES_PER_MIDI_NOTE)),
            _ => bytes
                .saturating_add(measures.saturating_mul(BYTES_PER_MEASURE))
                .saturating_add(notes.saturating_mul(BYTES_PER_NOTE)),
        };
    }
    (bytes, measures_total)
}

/// The most an export (or a stored transformation) of a score whose source is
/// `source_bytes` may write: `limits.max_export_ratio` times its source, at least 1 MiB,
/// at most `limits.max_export_bytes`. Returns the limit and the key that sets it.
fn export_limit(ctx: &ToolContext, source_bytes: u64) -> (u64, String) {
    let limits = &ctx.config.limits;
    let relative = source_bytes
        .saturating_mul(limits.max_export_ratio)
        .max(EXPORT_FLOOR);
    if relative < limits.max_export_bytes {
        (
            relative,
            format!(
                "limits.max_export_ratio = {} (times its {source_bytes}-byte source, at least 1 MiB)",
                limits.max_export_ratio
            ),
        )
    } else {
        (
            limits.max_export_bytes,
            format!("limits.max_export_bytes = {}", limits.max_export_bytes),
        )
    }
}

/// Refuses, before anything is written, a score too large to walk or whose export would
/// pass the export limit.
fn check_export_size(
    ctx: &ToolContext,
    score: &Stream,
    source_bytes: u64,
    format: ExportFormat,
) -> ToolResult<()> {
    let counts = count_notes(score);
    let work = counts.pitches + counts.rests;
    if work > ctx.config.limits.max_analysis_notes {
        return Err(ToolError::limit(format!(
            "refused: the score has {work} notes and rests, over the limit limits.max_analysis_notes = {}",
            ctx.config.limits.max_analysis_notes
        )));
    }
    let (estimate, measures) = export_estimate(score, format);
    let (limit, key) = export_limit(ctx, source_bytes);
    if estimate > limit {
        return Err(ToolError::limit(format!(
            "refused before writing: this score would be written as about {estimate} bytes ({measures} measures once its notes are barred), over the limit {key}"
        )));
    }
    Ok(())
}

/// Refuses what was written when it came out larger than the estimate allowed for.
fn check_written_size(ctx: &ToolContext, written: usize, source_bytes: u64) -> ToolResult<()> {
    let (limit, key) = export_limit(ctx, source_bytes);
    if written as u64 > limit {
        return Err(ToolError::limit(format!(
            "refused: the export came to {written} bytes, over the limit {key}"
        )));
    }
    Ok(())
}

/// A part whose notes run past their barline (tinyNotation writes them so) comes out of the
/// engine's notation pass with its tie in the wrong place; such a part is handed over
/// without measures, to be barred afresh. Parts that fit their measures are left as written,
/// so pickups keep their place.
fn rebar_overhanging_parts(score: &Stream) -> std::borrow::Cow<'_, Stream> {
    let overhangs = |part: &Stream| {
        let mut meter: Option<f64> = None;
        part.measures().iter().any(|m| {
            for e in m.events() {
                if let StreamElement::TimeSignature(ts) = e.element() {
                    meter = Some(ts.bar_duration().quarter_length());
                }
            }
            let bar = meter.unwrap_or(f64::INFINITY);
            m.events().iter().any(|e| {
                e.element().is_note_or_chord()
                    && e.offset() + e.element().quarter_length() > bar + 1e-9
            })
        })
    };
    let parts = score.parts();
    if !parts.iter().any(|p| overhangs(p)) {
        return std::borrow::Cow::Borrowed(score);
    }
    let mut rebuilt = Stream::with_kind(music21_rs::StreamKind::Score);
    rebuilt.set_metadata(score.metadata().cloned());
    for event in score.events() {
        match event.element() {
            StreamElement::Stream(part)
                if part.kind() == music21_rs::StreamKind::Part && overhangs(part) =>
            {
                let mut flat = part.flatten();
                flat.set_kind(music21_rs::StreamKind::Part);
                flat.set_id(part.id().map(str::to_string));
                flat.set_name(part.name().map(str::to_string));
                rebuilt.insert(event.offset(), flat);
            }
            other => rebuilt.insert(event.offset(), other.clone()),
        }
    }
    std::borrow::Cow::Owned(rebuilt)
}

pub fn to_musicxml(score: &Stream, source_format: &str) -> ToolResult<String> {
    let mut options = music21_rs::musicxml::ExportOptions::default();
    options.make_notation = needs_notation(source_format);
    let score = if options.make_notation {
        rebar_overhanging_parts(score)
    } else {
        std::borrow::Cow::Borrowed(score)
    };
    catch_engine("writing MusicXML", || {
        music21_rs::musicxml::to_musicxml(&score, &options)
    })?
    .map_err(|e| ToolError::unsupported(format!("cannot write this score as MusicXML: {e}")))
}

fn zip_mxl(xml: &str) -> ToolResult<Vec<u8>> {
    let mut buf = std::io::Cursor::new(Vec::new());
    let io = |e: std::io::Error| ToolError::internal(format!("writing .mxl: {e}"));
    let zerr = |e: zip::result::ZipError| ToolError::internal(format!("writing .mxl: {e}"));
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        // The MusicXML spec wants `mimetype` first and uncompressed.
        w.start_file("mimetype", stored).map_err(zerr)?;
        w.write_all(b"application/vnd.recordare.musicxml")
            .map_err(io)?;
        w.start_file("META-INF/container.xml", deflated)
            .map_err(zerr)?;
        w.write_all(
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container><rootfiles><rootfile full-path=\"score.musicxml\" media-type=\"application/vnd.recordare.musicxml+xml\"/></rootfiles></container>\n",
        )
        .map_err(io)?;
        w.start_file("score.musicxml", deflated).map_err(zerr)?;
        w.write_all(xml.as_bytes()).map_err(io)?;
        w.finish().map_err(zerr)?;
    }
    Ok(buf.into_inner())
}

fn export_score(ctx: &ToolContext, args: ExportArgs) -> ToolResult<ExportOutput> {
    let loaded = ctx.load(&args.score_id)?;
    let score: &Stream = &loaded.score;
    let source_bytes = loaded.meta.bytes;
    check_export_size(ctx, score, source_bytes, args.format)?;
    let source_format = loaded.meta.format.as_str();
    let (name, mime, bytes, binary): (&str, &str, Vec<u8>, bool) = match args.format {
        ExportFormat::Musicxml => (
            "musicxml",
            "application/vnd.recordare.musicxml+xml",
            to_musicxml(score, source_format)?.into_bytes(),
            false,
        ),
        ExportFormat::Mxl => (
            "mxl",
            "application/vnd.recordare.musicxml",
            zip_mxl(&to_musicxml(score, source_format)?)?,
            true,
        ),
        ExportFormat::Midi => (
            "midi",
            "audio/midi",
            catch_engine("writing MIDI", || {
                music21_rs::to_midi(score, &music21_rs::midi::ExportOptions::default())
            })?
            .map_err(|e| ToolError::unsupported(format!("cannot write this score as MIDI: {e}")))?,
            true,
        ),
        ExportFormat::Abc => (
            "abc",
            "text/vnd.abc",
            catch_engine("writing ABC", || {
                music21_rs::to_abc(score, &music21_rs::abc::ExportOptions::default())
            })?
            .map_err(|e| ToolError::unsupported(format!("cannot write this score as ABC: {e}")))?
            .into_bytes(),
            false,
        ),
        ExportFormat::Lilypond => (
            "lilypond",
            "text/x-lilypond",
            catch_engine("writing LilyPond", || {
                music21_rs::lily::to_lilypond(score, &music21_rs::lily::LilyOptions::default())
            })?
            .map_err(|e| {
                ToolError::unsupported(format!("cannot write this score as LilyPond: {e}"))
            })?
            .into_bytes(),
            false,
        ),
    };
    check_written_size(ctx, bytes.len(), source_bytes)?;
    let sha256 = crate::store::sha256_hex(&bytes);
    let size = bytes.len();
    let (encoding, content) = if binary {
        (
            "base64",
            base64::engine::general_purpose::STANDARD.encode(&bytes),
        )
    } else {
        (
            "utf-8",
            String::from_utf8(bytes)
                .map_err(|_| ToolError::internal("export produced invalid UTF-8"))?,
        )
    };
    Ok(ExportOutput {
        score_id: args.score_id,
        format: name.into(),
        mime_type: mime.into(),
        encoding: encoding.into(),
        content,
        bytes: size,
        sha256,
    })
}

// ---------------------------------------------------------------- delete_score

#[derive(Debug, Serialize, JsonSchema)]
pub struct DeleteOutput {
    /// Ids deleted.
    pub deleted: Vec<String>,
    pub count: usize,
}

fn delete_score(ctx: &ToolContext, args: ScoreIdArgs) -> ToolResult<DeleteOutput> {
    let deleted = if args.score_id == "*" {
        let ids = ctx.store.delete_all()?;
        for id in &ids {
            ctx.cache.forget(id);
        }
        ids
    } else {
        validate_score_id(&args.score_id)?;
        if !ctx.store.delete(&args.score_id)? {
            return Err(ToolError::not_found(format!(
                "no score with score_id '{}' to delete",
                args.score_id
            )));
        }
        ctx.cache.forget(&args.score_id);
        vec![args.score_id]
    };
    Ok(DeleteOutput {
        count: deleted.len(),
        deleted,
    })
}

// ---------------------------------------------------------------- transpose_score

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransposeArgs {
    pub score_id: String,
    /// An interval name such as "P5", "M2", "-m3" (down a minor third). Give this or `semitones`.
    #[serde(default)]
    pub interval: Option<String>,
    /// A number of semitones (negative is down). Give this or `interval`.
    #[serde(default)]
    pub semitones: Option<i64>,
    /// Id for the transposed score.
    pub new_score_id: String,
    /// Replace an existing score with id `new_score_id`.
    #[serde(default)]
    pub replace: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TransposeOutput {
    pub score_id: String,
    pub new_score_id: String,
    /// The interval applied, e.g. `P5` or `m-3`.
    pub interval: String,
    pub summary: Summary,
    pub bytes: u64,
    pub sha256: String,
    pub evicted: Vec<Eviction>,
}

/// Four octaves either way, in semitones: the most `transpose_score` moves a score.
const MAX_SEMITONES: i64 = 48;
/// The largest interval number within four octaves (a compound 29th is four octaves).
const MAX_INTERVAL_NUMBER: u32 = 29;

/// Checks an interval name's shape and range before the engine reads it (it overflows on
/// numbers like `P99999999999`): an optional sign, a quality (P, M, m, up to three d or A)
/// and a number from 1 to 29.
fn check_interval_name(name: &str) -> ToolResult<()> {
    let shown = crate::error::printable(name, 40);
    let bad = |why: String| {
        ToolError::invalid(format!(
            "interval '{shown}' {why}; write a quality and a number from 1 to {MAX_INTERVAL_NUMBER} (four octaves), like P5, M3, -m3 or A4"
        ))
    };
    let text = name.trim();
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let digits_at = unsigned
        .find(|c: char| c.is_ascii_digit())
        .ok_or_else(|| bad("has no interval number".into()))?;
    let (quality, number) = unsigned.split_at(digits_at);
    let quality_ok = matches!(quality, "P" | "M" | "m")
        || (1..=3).contains(&quality.len())
            && (quality.chars().all(|c| c == 'd') || quality.chars().all(|c| c == 'A'));
    if !quality_ok {
        return Err(bad(format!(
            "has quality '{}', not P, M, m, d or A",
            crate::error::printable(quality, 8)
        )));
    }
    if !number.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad("has more after its number".into()));
    }
    match number.parse::<u32>() {
        Ok(n) if (1..=MAX_INTERVAL_NUMBER).contains(&n) => Ok(()),
        _ => Err(bad(format!(
            "has number {}, outside 1..={MAX_INTERVAL_NUMBER}",
            crate::error::printable(number, 24)
        ))),
    }
}

fn transpose_score(ctx: &ToolContext, args: TransposeArgs) -> ToolResult<TransposeOutput> {
    validate_score_id(&args.new_score_id)?;
    let interval = match (&args.interval, args.semitones) {
        (Some(name), None) => {
            check_interval_name(name)?;
            Interval::from_name(name.trim()).map_err(|e| {
                ToolError::invalid(format!(
                    "interval '{}' is not an interval name like P5, M3 or -m3: {e}",
                    crate::error::printable(name, 40)
                ))
            })?
        }
        (None, Some(n)) => {
            // Checked as a range, not with abs(): -2^63 has no absolute value.
            if !(-MAX_SEMITONES..=MAX_SEMITONES).contains(&n) {
                return Err(ToolError::invalid(format!(
                    "semitones must be between -{MAX_SEMITONES} and {MAX_SEMITONES} (four octaves), got {n}"
                )));
            }
            Interval::from_semitones(n as music21_rs::IntegerType)
                .map_err(|e| ToolError::invalid(format!("semitones {n}: {e}")))?
        }
        (Some(_), Some(_)) => {
            return Err(ToolError::invalid(
                "give either interval or semitones, not both",
            ))
        }
        (None, None) => {
            return Err(ToolError::invalid(
                "missing argument: give interval (e.g. \"P5\") or semitones (e.g. -3)",
            ))
        }
    };
    if interval.semitones().abs() > 48.0 {
        return Err(ToolError::invalid(
            "the interval must be within four octaves",
        ));
    }
    ensure_id_free(ctx, "new_score_id", &args.new_score_id, args.replace)?;
    let loaded = ctx.load(&args.score_id)?;
    // Stored as MusicXML: estimated as such.
    check_export_size(
        ctx,
        &loaded.score,
        loaded.meta.bytes,
        ExportFormat::Musicxml,
    )?;
    let transposed = catch_engine("transposing", || loaded.score.transpose(&interval))?
        .map_err(|e| ToolError::unsupported(format!("cannot transpose this score: {e}")))?;
    // Stored as MusicXML: the one format that writes everything back.
    let origin = format!(
        "transpose_score:{}:{}",
        args.score_id,
        interval.directed_name()
    );
    let (summary, meta, evicted) = store_generated(
        ctx,
        &args.new_score_id,
        &transposed,
        &loaded.meta.format,
        &origin,
        args.replace,
    )?;
    Ok(TransposeOutput {
        score_id: args.score_id,
        new_score_id: args.new_score_id,
        interval: interval.directed_name(),
        summary,
        bytes: meta.bytes,
        sha256: meta.sha256,
        evicted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::test_kit::{call, context, context_with};
    use proptest::prelude::*;
    use serde_json::json;

    /// The notes as heard: pitch and onset of every note that does not continue a tie
    /// (an export may split a note at a barline into tied notes; it still sounds once).
    fn pitches(ctx: &ToolContext, id: &str) -> Vec<(String, String)> {
        use music21_rs::TieType;
        ctx.load(id)
            .unwrap()
            .score
            .flatten()
            .events()
            .iter()
            .filter_map(|e| match e.element() {
                StreamElement::Note(n)
                    if !matches!(
                        n.tie().map(|t| t.tie_type()),
                        Some(TieType::Stop | TieType::Continue)
                    ) =>
                {
                    Some((n.pitch().name_with_octave(), format!("{:.4}", e.offset())))
                }
                _ => None,
            })
            .collect()
    }

    fn midi_numbers(ctx: &ToolContext, id: &str) -> Vec<i64> {
        pitches(ctx, id)
            .iter()
            .map(|(name, _)| music21_rs::Pitch::from_name(name.as_str()).unwrap().midi() as i64)
            .collect()
    }

    /// A tinyNotation melody from generated (step, octave, accidental, length) tuples.
    fn melody(notes: &[(usize, i32, usize, usize)]) -> String {
        let mut text = String::from("tinyNotation: 4/4");
        for &(step, octave, accidental, length) in notes {
            let letter = ["c", "d", "e", "f", "g", "a", "b"][step];
            let name = match octave {
                3 => letter.to_uppercase(),
                5 => format!("{letter}'"),
                _ => letter.to_string(),
            };
            let acc = ["", "#", "-"][accidental];
            let len = ["4", "8", "2"][length];
            text.push_str(&format!(" {name}{acc}{len}"));
        }
        text
    }

    fn notes_strategy() -> impl Strategy<Value = Vec<(usize, i32, usize, usize)>> {
        prop::collection::vec((0usize..7, 3i32..6, 0usize..3, 0usize..3), 1..24)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn transposing_up_then_down_is_the_identity(notes in notes_strategy(), which in 0usize..4) {
            let (_dir, ctx) = context();
            let interval = ["P5", "M3", "m2", "P8"][which];
            call(&ctx, "import_score", json!({"score_id": "a", "source": melody(&notes)})).unwrap();
            call(&ctx, "transpose_score", json!({"score_id": "a", "interval": interval, "new_score_id": "up"})).unwrap();
            call(&ctx, "transpose_score", json!({"score_id": "up", "interval": format!("-{interval}"), "new_score_id": "back"})).unwrap();
            prop_assert_eq!(pitches(&ctx, "a"), pitches(&ctx, "back"));
            let up = midi_numbers(&ctx, "up");
            let original = midi_numbers(&ctx, "a");
            let shift = music21_rs::Interval::from_name(interval).unwrap().semitones() as i64;
            prop_assert_eq!(up, original.iter().map(|m| m + shift).collect::<Vec<_>>());
        }

        #[test]
        fn export_then_import_keeps_every_note(notes in notes_strategy()) {
            let (_dir, ctx) = context();
            call(&ctx, "import_score", json!({"score_id": "a", "source": melody(&notes)})).unwrap();
            let original = pitches(&ctx, "a");
            for (format, source_type) in [("musicxml", "text"), ("mxl", "base64"), ("abc", "text"), ("midi", "base64")] {
                let exported = call(&ctx, "export_score", json!({"score_id": "a", "format": format})).unwrap();
                let id = format!("from-{format}");
                call(&ctx, "import_score", json!({
                    "score_id": id, "source": exported["content"], "source_type": source_type
                })).unwrap();
                if format == "midi" {
                    // MIDI keeps the sounding note, not its spelling.
                    prop_assert_eq!(midi_numbers(&ctx, &id), midi_numbers(&ctx, "a"), "format {}", format);
                } else {
                    prop_assert_eq!(pitches(&ctx, &id), original.clone(), "format {}", format);
                }
            }
        }
    }

    #[test]
    fn replace_and_duplicate_ids() {
        let (_dir, ctx) = context();
        let tune = "tinyNotation: 3/4 c4 d e";
        call(
            &ctx,
            "import_score",
            json!({"score_id": "a", "source": tune}),
        )
        .unwrap();
        let dup = call(
            &ctx,
            "import_score",
            json!({"score_id": "a", "source": tune}),
        )
        .unwrap_err();
        assert!(dup.message.contains("already exists"));
        let replaced = call(
            &ctx,
            "import_score",
            json!({"score_id": "a", "source": "tinyNotation: 3/4 c4 d e f g a", "replace": true}),
        )
        .unwrap();
        assert_eq!(replaced["notes"], 6);
        assert_eq!(
            pitches(&ctx, "a").len(),
            6,
            "the cache must not serve the replaced score"
        );
    }

    #[test]
    fn list_pages_and_counts_evictions() {
        let (_dir, ctx) = context_with(|config| config.store.max_scores = 3);
        for i in 0..5 {
            call(
                &ctx,
                "import_score",
                json!({"score_id": format!("s{i}"), "source": "tinyNotation: c4 d e f"}),
            )
            .unwrap();
        }
        let page = call(&ctx, "list_scores", json!({"limit": 2})).unwrap();
        assert_eq!(page["total"], 3);
        assert_eq!(page["evictions_total"], 2);
        assert_eq!(page["scores"].as_array().unwrap().len(), 2);
        assert_eq!(page["recent_evictions"][0]["score_id"], "s1");
        let next = call(
            &ctx,
            "list_scores",
            json!({"limit": 2, "cursor": page["next_cursor"]}),
        )
        .unwrap();
        assert_eq!(next["scores"].as_array().unwrap().len(), 1);
        assert!(next["next_cursor"].is_null());
    }

    #[test]
    fn delete_one_and_all() {
        let (_dir, ctx) = context();
        for id in ["a", "b", "c"] {
            call(
                &ctx,
                "import_score",
                json!({"score_id": id, "source": "tinyNotation: c4 d e f"}),
            )
            .unwrap();
        }
        let one = call(&ctx, "delete_score", json!({"score_id": "b"})).unwrap();
        assert_eq!(one["deleted"], json!(["b"]));
        let gone = call(&ctx, "score_info", json!({"score_id": "b"})).unwrap_err();
        assert_eq!(gone.kind, crate::error::ErrorKind::NotFound);
        let all = call(&ctx, "delete_score", json!({"score_id": "*"})).unwrap();
        assert_eq!(all["count"], 2);
    }

    #[test]
    fn export_formats_carry_content_and_mime_types() {
        let (_dir, ctx) = context();
        call(
            &ctx,
            "import_score",
            json!({"score_id": "a", "source": "tinyNotation: 4/4 c4 d e f g1"}),
        )
        .unwrap();
        for (format, mime, encoding) in [
            (
                "musicxml",
                "application/vnd.recordare.musicxml+xml",
                "utf-8",
            ),
            ("mxl", "application/vnd.recordare.musicxml", "base64"),
            ("midi", "audio/midi", "base64"),
            ("abc", "text/vnd.abc", "utf-8"),
            ("lilypond", "text/x-lilypond", "utf-8"),
        ] {
            let out = call(
                &ctx,
                "export_score",
                json!({"score_id": "a", "format": format}),
            )
            .unwrap();
            assert_eq!(out["mime_type"], mime);
            assert_eq!(out["encoding"], encoding);
            assert!(out["bytes"].as_u64().unwrap() > 20, "{format}");
            assert!(!out["content"].as_str().unwrap().is_empty());
        }
    }

    #[test]
    fn score_info_reads_meters_keys_tempi_and_ranges() {
        let (_dir, ctx) = context();
        let abc = "X:1\nT:Info Test\nC:Someone\nM:3/4\nL:1/4\nQ:1/4=60\nK:D\nDEF|ABc|d3|]\n";
        call(
            &ctx,
            "import_score",
            json!({"score_id": "a", "source": abc}),
        )
        .unwrap();
        let info = call(&ctx, "score_info", json!({"score_id": "a"})).unwrap();
        assert_eq!(info["title"], "Info Test");
        assert_eq!(info["composer"], "Someone");
        assert_eq!(info["measures"], 3);
        assert_eq!(info["time_signatures"][0]["signature"], "3/4");
        assert_eq!(info["key_signatures"][0]["sharps"], 2);
        assert_eq!(info["tempos"][0]["quarter_bpm"], 60.0);
        assert_eq!(info["duration_quarters"], 9.0);
        assert_eq!(info["duration_seconds"], 9.0);
        assert_eq!(info["parts"][0]["range"]["lowest"], "D4");
        assert_eq!(info["parts"][0]["range"]["highest"], "D5");
    }
}
