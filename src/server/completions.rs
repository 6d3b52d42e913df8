//! `completion/complete`: values for the arguments of prompts and resource templates that
//! start with what the user typed: stored score ids, corpus names (`bach/bwv6…`), formats,
//! key algorithms, harmonisation styles, species and positions.

use rmcp::ErrorData as McpError;
use serde_json::{json, Value};

use crate::music::corpus;
use crate::server::dispatch::{Caller, Dispatcher};
use crate::server::{prompts, resources};

/// Values answered at most (MCP's limit).
const MAX_VALUES: usize = 100;

/// Where an argument's values come from.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    StoredIds,
    Corpus,
    /// A stored id or a corpus name (a prompt's piece).
    Pieces,
    Fixed(&'static [&'static str]),
    Nothing,
}

fn source(argument: &str) -> Source {
    match argument {
        "score_id" => Source::StoredIds,
        "name" => Source::Corpus,
        "piece" | "melody" | "cantus_firmus" | "first" | "second" => Source::Pieces,
        "format" => Source::Fixed(&resources::FORMATS),
        "style" => Source::Fixed(&["chorale", "classical", "pop", "jazz"]),
        "species" => Source::Fixed(&["1", "2", "3", "4", "5"]),
        "position" => Source::Fixed(&["above", "below"]),
        "focus" => Source::Fixed(&["all", "harmony", "voice leading", "patterns"]),
        "algorithm" => Source::Fixed(&[
            "aarden",
            "krumhansl",
            "bellman",
            "temperley",
            "simple",
            "all",
        ]),
        _ => Source::Nothing,
    }
}

/// Whether `reference` (a `ref/prompt` or `ref/resource`, as JSON) takes `argument`.
fn takes(reference: &Value, argument: &str) -> bool {
    match reference["type"].as_str() {
        Some("ref/prompt") => {
            prompts::argument_names(reference["name"].as_str().unwrap_or("")).contains(&argument)
        }
        Some("ref/resource") => reference["uri"]
            .as_str()
            .is_some_and(|uri| uri.contains(&format!("{{{argument}}}"))),
        _ => false,
    }
}

pub async fn complete(
    dispatcher: &Dispatcher,
    caller: &Caller,
    rate_limit: bool,
    reference: &Value,
    argument: &str,
    typed: &str,
) -> Result<Value, McpError> {
    let source = if takes(reference, argument) {
        source(argument)
    } else {
        Source::Nothing
    };
    let mut values: Vec<String> = Vec::new();
    if matches!(source, Source::StoredIds | Source::Pieces) {
        let listed = dispatcher
            .call("list_scores", json!({"limit": 1000}), caller, rate_limit)
            .await
            .map_err(|e| McpError::internal_error(e.describe(), None))?;
        values.extend(
            listed["scores"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["score_id"].as_str())
                .filter(|id| id.starts_with(typed))
                .map(str::to_string),
        );
    }
    if matches!(source, Source::Corpus | Source::Pieces) {
        let dirs = dispatcher.config.corpus.dirs.clone();
        let prefix = typed.to_string();
        let names = tokio::task::spawn_blocking(move || corpus::names(&dirs, &prefix))
            .await
            .unwrap_or_default();
        values.extend(names);
    }
    if let Source::Fixed(fixed) = source {
        values.extend(
            fixed
                .iter()
                .filter(|v| v.starts_with(typed))
                .map(|v| v.to_string()),
        );
    }
    let total = values.len();
    values.truncate(MAX_VALUES);
    Ok(json!({"completion": {
        "values": values,
        "total": total,
        "hasMore": total > MAX_VALUES,
    }}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_complete_only_where_the_reference_takes_them() {
        let prompt = json!({"type": "ref/prompt", "name": "harmonize_melody"});
        assert!(takes(&prompt, "style"));
        assert!(!takes(&prompt, "species"));
        let template =
            json!({"type": "ref/resource", "uri": "music21://scores/{score_id}/{format}"});
        assert!(takes(&template, "format") && takes(&template, "score_id"));
        assert!(!takes(&template, "name"));
        assert_eq!(
            source("style"),
            Source::Fixed(&["chorale", "classical", "pop", "jazz"])
        );
        assert_eq!(source("whatever"), Source::Nothing);
    }
}
