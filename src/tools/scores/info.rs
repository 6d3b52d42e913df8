//! `score_info`: what a stored score holds, from the description stored with it (see
//! [`crate::music::description`]) or, for an older record, from a parse.

use schemars::JsonSchema;
use serde::Serialize;

use super::{ScoreIdArgs, StoredScore};
use crate::error::{ToolError, ToolResult};
use crate::music::description::{describe, ScoreDescription};
use crate::tools::{tool, validate_score_id, ToolContext, ToolDef};

pub(super) fn tool_def() -> ToolDef {
    tool(
        "score_info",
        "Metadata of a stored score: title, composer, parts (names, instruments, ranges), measures (a pickup counted as music21 counts it), notes, time and key signatures, tempo marks, duration in quarter notes and seconds.",
        true,
        score_info,
    )
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ScoreInfoOutput {
    #[serde(flatten)]
    pub stored: StoredScore,
    pub created_at: u64,
    #[serde(flatten)]
    pub description: ScoreDescription,
}

fn score_info(ctx: &ToolContext, args: ScoreIdArgs) -> ToolResult<ScoreInfoOutput> {
    let loaded = ctx.load(&args.score_id)?;
    Ok(ScoreInfoOutput {
        stored: StoredScore::of(&loaded.meta),
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
        stored: StoredScore::of(&stored.meta),
        created_at: stored.meta.created_at,
        description,
    };
    serde_json::to_value(output)
        .map(Some)
        .map_err(|e| ToolError::internal(format!("score_info: result not serialisable: {e}")))
}
