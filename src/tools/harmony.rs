//! TEMPORARY: being written (see issue 2).
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ToolError, ToolResult};
use crate::tools::{tool, ToolContext, ToolDef};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Args {
    pub score_id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {}

pub fn tool_def() -> ToolDef {
    tool("harmony_analysis", "not yet", true, run)
}

fn run(_ctx: &ToolContext, _args: Args) -> ToolResult<Output> {
    Err(ToolError::unsupported("not yet implemented"))
}
