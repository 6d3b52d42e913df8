//! The score tools, one file each: `import_score` (import.rs), `list_scores` (list.rs),
//! `score_info` (info.rs), `export_score` (export.rs), `delete_score` (delete.rs) and
//! `transpose_score` (transpose.rs). Here is what they share with each other and with the
//! tools that write new scores: storing a score, and what an answer says of a stored one.

use music21_rs::Stream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ToolError, ToolResult};
use crate::music::description::describe;
use crate::music::export::to_musicxml;
use crate::music::format::Format;
use crate::music::parse::parse_score;
use crate::music::summary::{summarize, Summary};
use crate::store::{Eviction, NewScore, ScoreMeta};
use crate::tools::{ToolContext, ToolDef};

mod delete;
mod export;
mod import;
mod info;
mod list;
#[cfg(test)]
mod tests;
mod transpose;

pub(crate) use export::check_export_size;
pub use info::score_info_stored;

/// The six score tools, in the order `tools/list` gives them.
pub fn tools() -> Vec<ToolDef> {
    vec![
        import::tool_def(),
        list::tool_def(),
        info::tool_def(),
        export::tool_def(),
        delete::tool_def(),
        transpose::tool_def(),
    ]
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreIdArgs {
    /// Id of a stored score.
    pub score_id: String,
}

// What `list_scores` and `score_info` say of a stored record, flattened into their answers.
// (A `//` comment, not a doc comment: schemars would make a doc comment the description of
// every answer this is flattened into.)
#[derive(Debug, Serialize, JsonSchema)]
pub struct StoredScore {
    pub score_id: String,
    pub format: String,
    pub bytes: u64,
    pub sha256: String,
}

impl StoredScore {
    pub fn of(meta: &ScoreMeta) -> Self {
        Self {
            score_id: meta.score_id.clone(),
            format: meta.format.clone(),
            bytes: meta.bytes,
            sha256: meta.sha256.clone(),
        }
    }
}

// What a tool that writes a new score says of it once stored: flattened into the answers
// of transpose_score, generate_counterpoint and imitate_style. (Not a doc comment, for the
// reason given at StoredScore.)
#[derive(Debug, Serialize, JsonSchema)]
pub struct StoredResult {
    pub summary: Summary,
    pub bytes: u64,
    pub sha256: String,
    pub evicted: Vec<Eviction>,
}

/// Bytes, their format and where they came from.
pub(crate) struct Source {
    pub(crate) bytes: Vec<u8>,
    pub(crate) format: Format,
    pub(crate) origin: String,
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
) -> ToolResult<StoredResult> {
    crate::tools::progress::report(80.0, || format!("storing '{id}'"));
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
    let cost = crate::resilience::parse_cost::of_stored(
        source.format,
        source.bytes.len() as u64,
        &ctx.config.limits,
    );
    ctx.cache
        .put(meta.clone(), std::sync::Arc::new(reparsed), cost);
    Ok(StoredResult {
        summary,
        bytes: meta.bytes,
        sha256: meta.sha256,
        evicted,
    })
}
