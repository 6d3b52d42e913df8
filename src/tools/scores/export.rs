//! `export_score`: a stored score written as MusicXML, .mxl, MIDI, ABC or LilyPond, within
//! the export limits (estimated before writing, checked after).

use base64::Engine as _;
use music21_rs::{Stream, StreamElement};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ToolError, ToolResult};
use crate::music::export::{to_abc, to_lilypond, to_midi, to_musicxml, to_mxl};
use crate::music::summary::count_notes;
use crate::music::timeline::parts_of;
use crate::tools::{tool, ToolContext, ToolDef};

pub(super) fn tool_def() -> ToolDef {
    tool(
        "export_score",
        "Export a stored score as musicxml, mxl, midi, abc or lilypond. Returns the content itself (text, or base64 for mxl and midi), its size and MIME type.",
        true,
        export_score,
    )
}

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
fn export_estimate(score: &Stream, format: ExportFormat) -> (u64, u64) {
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
pub(crate) fn check_export_size(
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

impl ExportFormat {
    fn name(self) -> &'static str {
        match self {
            ExportFormat::Musicxml => "musicxml",
            ExportFormat::Mxl => "mxl",
            ExportFormat::Midi => "midi",
            ExportFormat::Abc => "abc",
            ExportFormat::Lilypond => "lilypond",
        }
    }

    fn mime_type(self) -> &'static str {
        match self {
            ExportFormat::Musicxml => "application/vnd.recordare.musicxml+xml",
            ExportFormat::Mxl => "application/vnd.recordare.musicxml",
            ExportFormat::Midi => "audio/midi",
            ExportFormat::Abc => "text/vnd.abc",
            ExportFormat::Lilypond => "text/x-lilypond",
        }
    }

    /// Sent as base64, not as text.
    fn is_binary(self) -> bool {
        matches!(self, ExportFormat::Mxl | ExportFormat::Midi)
    }

    /// `score` written in this format; `source_format` is the format it was read from.
    fn write(self, score: &Stream, source_format: &str) -> ToolResult<Vec<u8>> {
        match self {
            ExportFormat::Musicxml => to_musicxml(score, source_format).map(String::into_bytes),
            ExportFormat::Mxl => to_mxl(score, source_format),
            ExportFormat::Midi => to_midi(score),
            ExportFormat::Abc => to_abc(score).map(String::into_bytes),
            ExportFormat::Lilypond => to_lilypond(score).map(String::into_bytes),
        }
    }
}

fn export_score(ctx: &ToolContext, args: ExportArgs) -> ToolResult<ExportOutput> {
    let loaded = ctx.load(&args.score_id)?;
    let score: &Stream = &loaded.score;
    let source_bytes = loaded.meta.bytes;
    check_export_size(ctx, score, source_bytes, args.format)?;
    crate::tools::progress::report(50.0, || format!("writing {}", args.format.name()));
    let bytes = args.format.write(score, &loaded.meta.format)?;
    check_written_size(ctx, bytes.len(), source_bytes)?;
    let sha256 = crate::store::sha256_hex(&bytes);
    let size = bytes.len();
    let (encoding, content) = if args.format.is_binary() {
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
        format: args.format.name().into(),
        mime_type: args.format.mime_type().into(),
        encoding: encoding.into(),
        content,
        bytes: size,
        sha256,
    })
}
