//! `health_check`: is the tool layer alive, and what does the store hold.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ToolResult;
use crate::store::StoreStats;
use crate::tools::{tool, ToolContext, ToolDef};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthArgs {}

#[derive(Debug, Serialize, JsonSchema)]
pub struct HealthOutput {
    /// `healthy`, or `unhealthy` when the store cannot be read.
    pub status: String,
    pub version: String,
    pub git_revision: String,
    pub uptime_seconds: f64,
    pub store: Option<StoreStats>,
    pub store_error: Option<String>,
    pub store_path: String,
    pub parsed_cache_entries: usize,
    pub tools: usize,
}

pub fn tool_def() -> ToolDef {
    tool(
        "health_check",
        "Status of the tool layer: version, uptime, and what the score store holds.",
        false,
        health_check,
    )
}

fn health_check(ctx: &ToolContext, _args: HealthArgs) -> ToolResult<HealthOutput> {
    let (store, store_error) = match ctx.store.stats() {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e.message)),
    };
    Ok(HealthOutput {
        status: if store.is_some() {
            "healthy"
        } else {
            "unhealthy"
        }
        .into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_revision: crate::GIT_REVISION.into(),
        uptime_seconds: crate::music::timeline::round(ctx.started.elapsed().as_secs_f64()),
        store,
        store_error,
        store_path: ctx.store.location(),
        parsed_cache_entries: ctx.cache.len(),
        tools: crate::tools::Registry::shared().tools().len(),
    })
}
