//! `list_scores`: the stored scores a page at a time, with the store's figures and its
//! recent evictions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::StoredScore;
use crate::error::{ToolError, ToolResult};
use crate::store::{Eviction, LoggedEviction};
use crate::tools::{tool, ToolContext, ToolDef};

pub(super) fn tool_def() -> ToolDef {
    tool(
        "list_scores",
        "List stored scores with their summaries, the total count, the bytes stored and the evictions so far (least-recently-used eviction when the store's limits are reached).",
        false,
        list_scores,
    )
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Most scores to return (1-1000, default 100).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Return scores after this id (the `next_cursor` of the previous page).
    #[serde(default)]
    pub cursor: Option<String>,
    /// Also return the evictions logged after this sequence number (0 for the oldest kept),
    /// oldest first, up to 1000: pass the `seq` of the last one seen to follow every
    /// eviction. The log keeps the last 1000.
    #[serde(default)]
    pub evictions_after: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListedScore {
    #[serde(flatten)]
    pub stored: StoredScore,
    pub origin: String,
    pub created_at: u64,
    pub last_used_at: u64,
    /// The summary stored with the score (import_score's: title, composer, parts, measures,
    /// notes, chords, rests, duration_quarters); records from older versions may lack
    /// fields, so only its being an object is promised.
    #[schemars(schema_with = "any_object")]
    pub summary: serde_json::Value,
    /// Present (true) when the record fails its checksum (found by the background scrub or
    /// a read): it will not be served; delete it and import it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
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
    /// With `evictions_after`: the evictions logged after it, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evictions: Option<Vec<LoggedEviction>>,
}

/// `{"type": "object"}`: a JSON object of no promised shape (schemars writes a bare `true`
/// schema for `Value`, which strict validators reject).
fn any_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object"})
}

/// Evictions returned at most per call with `evictions_after`.
const EVICTIONS_PAGE: usize = 1000;

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
            stored: StoredScore::of(&m),
            origin: m.origin,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            summary: m.summary,
            corrupted: m.corrupted,
        })
        .collect();
    let next_cursor = more
        .then(|| scores.last().map(|s| s.stored.score_id.clone()))
        .flatten();
    let stats = ctx.store.stats()?;
    let evictions = match args.evictions_after {
        Some(seq) => Some(ctx.store.evictions_after(seq, EVICTIONS_PAGE)?),
        None => None,
    };
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
        evictions,
    })
}
