//! Scores as MCP resources: stored scores (`music21://scores/{score_id}`, its summary as
//! JSON, and `.../{format}` the exported file) and corpus pieces (`music21://corpus/{name}`,
//! the file as it is), listed in pages, read, and followed: a session subscribed to a URI
//! hears `notifications/resources/updated` when that score is replaced or deleted, and
//! every session `notifications/resources/list_changed` when a score comes or goes.
//!
//! Reads go through the dispatcher like tool calls (`score_info`, `export_score`), so every
//! limit, breaker and quota applies to them as well.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use base64::Engine;
use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::service::Peer;
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::{json, Value};

use crate::error::printable;
use crate::music::corpus;
use crate::server::dispatch::{CallError, Caller, Dispatcher};

pub const SCORES: &str = "music21://scores/";
pub const CORPUS: &str = "music21://corpus/";
/// Resources per page of `resources/list`.
pub const PAGE: usize = 100;
/// The formats a stored score can be read in, as `export_score` writes them.
pub const FORMATS: [&str; 5] = ["musicxml", "mxl", "midi", "abc", "lilypond"];
/// MCP's "resource not found".
const NOT_FOUND: i32 = -32002;

/// What a resource URI names.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    Score(String),
    ScoreAs(String, String),
    Corpus(String),
}

pub fn parse(uri: &str) -> Option<Target> {
    if let Some(rest) = uri.strip_prefix(SCORES) {
        return match rest.split_once('/') {
            None if !rest.is_empty() => Some(Target::Score(rest.to_string())),
            Some((id, format)) if !id.is_empty() && FORMATS.contains(&format) => {
                Some(Target::ScoreAs(id.to_string(), format.to_string()))
            }
            _ => None,
        };
    }
    uri.strip_prefix(CORPUS)
        .filter(|name| !name.is_empty())
        .map(|name| Target::Corpus(name.to_string()))
}

/// The resource templates (`resources/templates/list`).
pub fn templates() -> Value {
    json!({"resourceTemplates": [
        {
            "uriTemplate": format!("{SCORES}{{score_id}}"),
            "name": "stored-score",
            "title": "A stored score",
            "description": "What the store holds of a score: title, composer, parts, measures, notes, signatures, duration (score_info's answer) as JSON.",
            "mimeType": "application/json"
        },
        {
            "uriTemplate": format!("{SCORES}{{score_id}}/{{format}}"),
            "name": "stored-score-file",
            "title": "A stored score as a file",
            "description": "A stored score exported as musicxml, mxl, midi, abc or lilypond (mxl and midi as base64 blobs).",
        },
        {
            "uriTemplate": format!("{CORPUS}{{name}}"),
            "name": "corpus-piece",
            "title": "A corpus piece",
            "description": "A piece of the corpus (music21's names, e.g. bach/bwv66.6, or builtin/...), the file as it is; import it with import_score to analyse it.",
        }
    ]})
}

/// Where a listing goes on from: in the stored scores after an id, or in the corpus at an
/// index. The cursor handed out is this, written out.
#[derive(Debug, PartialEq, Eq)]
enum Cursor {
    ScoresAfter(Option<String>),
    CorpusAt(usize),
}

impl Cursor {
    fn read(text: Option<&str>) -> Result<Self, McpError> {
        let Some(text) = text else {
            return Ok(Cursor::ScoresAfter(None));
        };
        if let Some(id) = text.strip_prefix("s:") {
            return Ok(Cursor::ScoresAfter(Some(id.to_string())));
        }
        if let Some(at) = text.strip_prefix("c:").and_then(|n| n.parse().ok()) {
            return Ok(Cursor::CorpusAt(at));
        }
        Err(McpError::invalid_params(
            format!(
                "invalid cursor '{}': pass the nextCursor of the previous resources/list page as it was",
                printable(text, 64)
            ),
            None,
        ))
    }

    fn write(&self) -> String {
        match self {
            Cursor::ScoresAfter(Some(id)) => format!("s:{id}"),
            Cursor::ScoresAfter(None) => "s:".into(),
            Cursor::CorpusAt(at) => format!("c:{at}"),
        }
    }
}

/// One page of `resources/list`: the stored scores first, then the corpus.
pub async fn list(
    dispatcher: &Dispatcher,
    caller: &Caller,
    rate_limit: bool,
    cursor: Option<&str>,
) -> Result<Value, McpError> {
    let mut resources = Vec::new();
    let next = match Cursor::read(cursor)? {
        Cursor::ScoresAfter(after) => {
            let mut args = json!({"limit": PAGE});
            if let Some(after) = after.filter(|a| !a.is_empty()) {
                args["cursor"] = json!(after);
            }
            let page = dispatcher
                .call("list_scores", args, caller, rate_limit)
                .await
                .map_err(call_error)?;
            for score in page["scores"].as_array().into_iter().flatten() {
                resources.push(score_resource(score));
            }
            match page["next_cursor"].as_str() {
                Some(after) => Some(Cursor::ScoresAfter(Some(after.to_string()))),
                // The scores are done: the page is filled from the corpus.
                None => {
                    let room = PAGE.saturating_sub(resources.len());
                    let (pieces, more) = corpus_page(dispatcher, 0, room).await;
                    resources.extend(pieces);
                    more.map(Cursor::CorpusAt)
                }
            }
        }
        Cursor::CorpusAt(at) => {
            let (pieces, more) = corpus_page(dispatcher, at, PAGE).await;
            resources.extend(pieces);
            more.map(Cursor::CorpusAt)
        }
    };
    let mut out = json!({"resources": resources});
    if let Some(next) = next {
        out["nextCursor"] = json!(next.write());
    }
    Ok(out)
}

fn score_resource(score: &Value) -> Value {
    let id = score["score_id"].as_str().unwrap_or_default();
    let summary = &score["summary"];
    let title = summary["title"].as_str().unwrap_or(id);
    let mut description = format!(
        "{} parts, {} measures, {} notes",
        summary["parts"], summary["measures"], summary["notes"]
    );
    if let Some(composer) = summary["composer"].as_str() {
        description = format!("{composer}: {description}");
    }
    json!({
        "uri": format!("{SCORES}{id}"),
        "name": id,
        "title": title,
        "description": description,
        "mimeType": "application/json",
    })
}

/// Corpus pieces `at..at+room` as resources, and where the next page starts.
async fn corpus_page(
    dispatcher: &Dispatcher,
    at: usize,
    room: usize,
) -> (Vec<Value>, Option<usize>) {
    let dirs = dispatcher.config.corpus.dirs.clone();
    let names = tokio::task::spawn_blocking(move || corpus::names(&dirs, ""))
        .await
        .unwrap_or_default();
    let pieces = names
        .iter()
        .skip(at)
        .take(room)
        .map(|name| {
            json!({
                "uri": format!("{CORPUS}{name}"),
                "name": name,
                "description": format!("corpus piece {name}; import_score with source \"{name}\" to analyse it"),
            })
        })
        .collect();
    let end = at + room;
    (pieces, (end < names.len()).then_some(end))
}

/// `resources/read`.
pub async fn read(
    dispatcher: &Dispatcher,
    caller: &Caller,
    rate_limit: bool,
    uri: &str,
) -> Result<Value, McpError> {
    let Some(target) = parse(uri) else {
        return Err(not_found(format!(
            "no resource '{}': the resources are {SCORES}{{score_id}}, {SCORES}{{score_id}}/{{format}} (format: {}) and {CORPUS}{{name}}",
            printable(uri, 100),
            FORMATS.join(", ")
        )));
    };
    let content = match target {
        Target::Score(id) => {
            let info = dispatcher
                .call("score_info", json!({"score_id": id}), caller, rate_limit)
                .await
                .map_err(call_error)?;
            json!({"uri": uri, "mimeType": "application/json", "text": info.to_string()})
        }
        Target::ScoreAs(id, format) => {
            let file = dispatcher
                .call(
                    "export_score",
                    json!({"score_id": id, "format": format}),
                    caller,
                    rate_limit,
                )
                .await
                .map_err(call_error)?;
            let key = if file["encoding"] == "base64" {
                "blob"
            } else {
                "text"
            };
            json!({"uri": uri, "mimeType": file["mime_type"], key: file["content"]})
        }
        Target::Corpus(name) => {
            let dirs = dispatcher.config.corpus.dirs.clone();
            let piece = tokio::task::spawn_blocking(move || corpus::resolve(&name, &dirs))
                .await
                .map_err(|e| McpError::internal_error(format!("reading the corpus: {e}"), None))?
                .map_err(|e| not_found(e.message))?;
            let mime = piece.format.mime_type();
            match std::str::from_utf8(&piece.bytes) {
                Ok(text) if !piece.format.is_binary() => {
                    json!({"uri": uri, "mimeType": mime, "text": text})
                }
                _ => json!({
                    "uri": uri,
                    "mimeType": mime,
                    "blob": base64::engine::general_purpose::STANDARD.encode(&piece.bytes),
                }),
            }
        }
    };
    Ok(json!({"contents": [content]}))
}

fn not_found(message: String) -> McpError {
    McpError::new(rmcp::model::ErrorCode(NOT_FOUND), message, None)
}

/// A refused or failed read: "not found" as MCP's resource-not-found, the rest as the
/// tool layer said it.
fn call_error(e: CallError) -> McpError {
    match e.code.as_str() {
        "not_found" => not_found(e.describe()),
        "invalid_argument" => McpError::invalid_params(e.describe(), None),
        _ => McpError::internal_error(e.describe(), None),
    }
}

/// The sessions to tell when scores change, and the URIs each follows.
#[derive(Default)]
pub struct Followers {
    sessions: Mutex<HashMap<String, Follower>>,
}

struct Follower {
    peer: Peer<RoleServer>,
    uris: BTreeSet<String>,
}

/// Sessions followed at most; beyond it the closed ones are forgotten first, and a new one
/// is not followed when none is closed.
const FOLLOWERS_MAX: usize = 4096;
/// URIs one session may follow.
const URIS_PER_SESSION: usize = 1024;

impl Followers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Follower>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session that hears `list_changed` (every initialised session).
    pub fn join(&self, session: &str, peer: Peer<RoleServer>) {
        let mut sessions = self.lock();
        if sessions.len() >= FOLLOWERS_MAX {
            sessions.retain(|_, f| !f.peer.is_transport_closed());
        }
        if sessions.len() < FOLLOWERS_MAX || sessions.contains_key(session) {
            sessions.entry(session.to_string()).or_insert(Follower {
                peer,
                uris: BTreeSet::new(),
            });
        }
    }

    pub fn subscribe(
        &self,
        session: &str,
        peer: Peer<RoleServer>,
        uri: &str,
    ) -> Result<(), McpError> {
        if parse(uri).is_none() {
            return Err(not_found(format!(
                "cannot subscribe to '{}': not a resource of this server",
                printable(uri, 100)
            )));
        }
        self.join(session, peer);
        let mut sessions = self.lock();
        let Some(follower) = sessions.get_mut(session) else {
            return Err(McpError::internal_error(
                "the server follows too many sessions just now; retry later",
                None,
            ));
        };
        if follower.uris.len() >= URIS_PER_SESSION && !follower.uris.contains(uri) {
            return Err(McpError::invalid_params(
                format!("a session may follow {URIS_PER_SESSION} resources at most; unsubscribe from some first"),
                None,
            ));
        }
        follower.uris.insert(uri.to_string());
        Ok(())
    }

    pub fn unsubscribe(&self, session: &str, uri: &str) {
        if let Some(f) = self.lock().get_mut(session) {
            f.uris.remove(uri);
        }
    }

    /// Scores `ids` changed (were stored, replaced or deleted; `None`: every score): each
    /// session hears `list_changed`, and each that follows one of them `updated` for each
    /// URI it follows. Sends in the background; a closed session is forgotten.
    pub fn scores_changed(&self, ids: Option<&[String]>) {
        let mut sends = Vec::new();
        {
            let mut sessions = self.lock();
            sessions.retain(|_, f| !f.peer.is_transport_closed());
            for follower in sessions.values() {
                let updated: Vec<String> = follower
                    .uris
                    .iter()
                    .filter(|uri| match (parse(uri), ids) {
                        (Some(Target::Score(id) | Target::ScoreAs(id, _)), Some(ids)) => {
                            ids.contains(&id)
                        }
                        (Some(Target::Score(_) | Target::ScoreAs(..)), None) => true,
                        _ => false,
                    })
                    .cloned()
                    .collect();
                sends.push((follower.peer.clone(), updated));
            }
        }
        for (peer, updated) in sends {
            tokio::spawn(async move {
                let _ = peer.notify_resource_list_changed().await;
                for uri in updated {
                    let _ = peer
                        .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                        .await;
                }
            });
        }
    }
}

/// The score ids a successful call of a tool that stores or deletes changed, from its
/// arguments and answer; `None` when it may have changed every score (`delete_score "*"`).
pub fn changed_by(tool: &str, args: &Value, answer: &Value) -> Option<Vec<String>> {
    if tool == "delete_score" && args["score_id"] == "*" {
        return None;
    }
    // The score stored (the answer's id) or deleted (the argument), and a new id asked for.
    let stored = if tool == "delete_score" {
        args["score_id"].as_str()
    } else {
        answer["score_id"].as_str()
    };
    let mut ids: Vec<String> = [stored, args["new_score_id"].as_str()]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    for evicted in answer["evicted"].as_array().into_iter().flatten() {
        if let Some(id) = evicted.as_str().or_else(|| evicted["score_id"].as_str()) {
            ids.push(id.to_string());
        }
    }
    ids.sort();
    ids.dedup();
    Some(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_scores_their_files_and_corpus_pieces() {
        assert_eq!(parse("music21://scores/c"), Some(Target::Score("c".into())));
        assert_eq!(
            parse("music21://scores/c/midi"),
            Some(Target::ScoreAs("c".into(), "midi".into()))
        );
        assert_eq!(
            parse("music21://corpus/bach/bwv66.6"),
            Some(Target::Corpus("bach/bwv66.6".into()))
        );
        for bad in [
            "music21://scores/",
            "music21://scores/c/pdf",
            "music21://corpus/",
            "file:///etc/passwd",
            "music21://other/x",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for c in [
            Cursor::ScoresAfter(Some("abc".into())),
            Cursor::ScoresAfter(None),
            Cursor::CorpusAt(200),
        ] {
            let text = c.write();
            let back = Cursor::read(Some(&text)).unwrap();
            let same = match (&c, &back) {
                (Cursor::ScoresAfter(None), Cursor::ScoresAfter(Some(s))) => s.is_empty(),
                _ => c == back,
            };
            assert!(same, "{c:?} -> {text} -> {back:?}");
        }
        assert!(Cursor::read(Some("zzz")).is_err());
        assert!(Cursor::read(Some("c:x")).is_err());
    }

    #[test]
    fn the_changed_scores_are_read_from_arguments_and_answer() {
        let ids = changed_by(
            "import_score",
            &json!({"score_id": "a"}),
            &json!({"score_id": "a", "evicted": ["old"]}),
        );
        assert_eq!(ids, Some(vec!["a".to_string(), "old".to_string()]));
        let ids = changed_by(
            "transpose_score",
            &json!({"score_id": "a", "new_score_id": "b"}),
            &json!({"score_id": "b"}),
        );
        assert_eq!(ids, Some(vec!["b".to_string()]));
        assert_eq!(
            changed_by("delete_score", &json!({"score_id": "*"}), &json!({})),
            None
        );
    }
}
