//! `import_score`: a score from the corpus, a file beneath an allowed directory, inline text
//! or base64, guarded, parsed, summarised and stored.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::{store_score, Source};
use crate::error::{ToolError, ToolResult};
use crate::music::format::Format;
use crate::music::parse::parse_score;
use crate::music::summary::summarize;
use crate::music::{confined, corpus};
use crate::store::Eviction;
use crate::tools::{
    ensure_id_free, is_score_id_char, tool, validate_score_id, ToolContext, ToolDef,
};

pub(super) fn tool_def() -> ToolDef {
    tool(
        "import_score",
        "Import a score into the store: a corpus name (bach/bwv66.6 or builtin/chorale-g-major), a file under an allowed directory, inline text (MusicXML, ABC, Humdrum **kern, tinyNotation) or base64 (MIDI, compressed .mxl). Answers after the score is durably stored.",
        true,
        import_score,
    )
}

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
    /// What the engine read: title, composer, parts, measures, notes, chords, rests, length
    /// (and, for a multi-tune ABC file, the tune).
    #[serde(flatten)]
    pub summary: crate::music::summary::Summary,
    pub format: Format,
    /// Size of the stored source in bytes.
    pub bytes: u64,
    pub sha256: String,
    pub origin: String,
    /// Scores evicted to make room (least recently used first).
    pub evicted: Vec<Eviction>,
}

fn check_new_score_id(ctx: &ToolContext, id: &str, replace: bool) -> ToolResult<()> {
    // validate_score_id also refuses "*", which only delete_score takes.
    validate_score_id(id)?;
    ensure_id_free(ctx, "score_id", id, replace)
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
    crate::tools::progress::report(5.0, || {
        format!(
            "parsing {} bytes of {}",
            source.bytes.len(),
            source.format.name()
        )
    });
    let score = parse_score(&source.bytes, source.format, args.tune, &ctx.config.limits)?;
    crate::tools::progress::report(60.0, || format!("parsed; storing '{score_id}'"));
    let tune = (source.format == Format::Abc)
        .then(|| resolved_tune(&source.bytes, args.tune))
        .flatten();
    let summary = summarize(&score, tune);
    let (meta, evicted) = store_score(ctx, &score_id, &source, &summary, &score, args.replace)?;
    // The next analysis of this score (usually the very next call) need not parse it again:
    // the entry carries the stored checksum, so a later replace never meets this entry.
    let cost = crate::resilience::parse_cost::of_stored(
        source.format,
        source.bytes.len() as u64,
        &ctx.config.limits,
    );
    ctx.cache
        .put(meta.clone(), std::sync::Arc::new(score), cost);
    Ok(ImportOutput {
        score_id: meta.score_id,
        summary,
        format: source.format,
        bytes: meta.bytes,
        sha256: meta.sha256,
        origin: source.origin,
        evicted,
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
