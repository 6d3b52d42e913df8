//! `delete_score`: one stored score by id, or every one with `*`.

use schemars::JsonSchema;
use serde::Serialize;

use super::ScoreIdArgs;
use crate::error::{ToolError, ToolResult};
use crate::tools::{tool, validate_score_id, ToolContext, ToolDef};

pub(super) fn tool_def() -> ToolDef {
    tool(
        "delete_score",
        "Delete a stored score by id, or every score with \"*\".",
        false,
        delete_score,
    )
}

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
