//! The MCP face of the server: tools (from the registry, with input and output schemas,
//! called through the dispatcher), the stored scores and the corpus as resources
//! (`resources`), prompts (`prompts`), completions (`completions`) and logging to the
//! session. Tool failures are results with `isError: true`; unknown tools, prompts and
//! resources are protocol errors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::Extensions;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ServerCapabilities,
    ServerConfig, SubscribeRequestParams, Tool, ToolAnnotations, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::error::printable;
use crate::server::clients::ClientId;
use crate::server::dispatch::{Caller, Dispatcher};
use crate::server::logging::SessionLogs;
use crate::server::replay::ClientGone;
use crate::server::{completions, prompts, resources};
use crate::tools::presentation::{self, Effect};

#[derive(Clone)]
pub struct McpHandler {
    dispatcher: Arc<Dispatcher>,
    tools: Arc<Vec<Tool>>,
    /// Over stdio no HTTP layer checked a rate: the dispatcher applies
    /// `rate_limit.stdio_per_second` (none by default).
    rate_limit_here: bool,
    /// Sessions to tell when scores change, shared by every session's handler.
    followers: Arc<resources::Followers>,
    /// The level each session asked for with `logging/setLevel`.
    logs: Arc<SessionLogs>,
}

/// A token fired when the request is cancelled, or when nobody has listened for its answer
/// for `grace` (its client hung up and did not resume the stream); its watcher ends with
/// `done`.
fn cancelled_by(
    context: &RequestContext<RoleServer>,
    done: CancellationToken,
    grace: Duration,
) -> CancellationToken {
    let listeners = context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<ClientGone>())
        .map(|g| g.0.clone());
    let Some(listeners) = listeners else {
        return context.ct.clone();
    };
    let either = CancellationToken::new();
    let (fire, request) = (either.clone(), context.ct.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = request.cancelled() => fire.cancel(),
            _ = listeners.abandoned(grace) => fire.cancel(),
            _ = done.cancelled() => {}
        }
    });
    either
}

/// A sink for a call's progress reports, and the task that sends them, in order, as
/// `notifications/progress` with the client's `token`; the task ends when the sink is
/// dropped and what it holds is sent.
fn progress_to(
    token: rmcp::model::ProgressToken,
    peer: rmcp::Peer<RoleServer>,
) -> (
    crate::workers::pool::ProgressSink,
    tokio::task::JoinHandle<()>,
) {
    let (steps, mut pending) =
        tokio::sync::mpsc::unbounded_channel::<crate::tools::progress::Step>();
    let forwarder = tokio::spawn(async move {
        while let Some(step) = pending.recv().await {
            let note = rmcp::model::ProgressNotificationParam::new(token.clone(), step.progress)
                .with_total(step.total)
                .with_message(step.message);
            if peer.notify_progress(note).await.is_err() {
                return;
            }
        }
    });
    let sink: crate::workers::pool::ProgressSink = Arc::new(move |step| {
        let _ = steps.send(step);
    });
    (sink, forwarder)
}

/// A typed rmcp value from JSON this module built (the shapes are MCP's, fixed here).
/// Results are complete answers (`resultType`, required from protocol 2026-07-28 on; rmcp
/// drops it for clients of older versions, and types without the field ignore it).
fn typed<T: serde::de::DeserializeOwned>(mut value: Value) -> Result<T, McpError> {
    if let Value::Object(map) = &mut value {
        map.entry("resultType")
            .or_insert_with(|| Value::String("complete".into()));
    }
    serde_json::from_value(value)
        .map_err(|e| McpError::internal_error(format!("building the answer: {e}"), None))
}

fn as_object(value: &serde_json::Value) -> Arc<serde_json::Map<String, serde_json::Value>> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

impl McpHandler {
    /// How long a call whose client went away waits for it to resume the stream. With no
    /// replay there is nothing to resume: it is stopped at once.
    fn hangup_grace(&self) -> Duration {
        let replay = &self.dispatcher.config.server.replay;
        if replay.enabled() {
            Duration::from_secs_f64(replay.hangup_grace_secs)
        } else {
            Duration::ZERO
        }
    }

    pub fn new(
        dispatcher: Arc<Dispatcher>,
        rate_limit_here: bool,
        followers: Arc<resources::Followers>,
    ) -> Self {
        let tools = dispatcher
            .registry
            .tools()
            .iter()
            .map(|t| {
                let tool = Tool::new(t.name, t.description, as_object(&t.input_schema))
                    .with_raw_output_schema(as_object(&t.output_schema));
                match presentation::of(t.name) {
                    Some((title, effect)) => tool.with_title(title).with_annotations(
                        ToolAnnotations::with_title(title)
                            .read_only(effect.read_only())
                            .destructive(effect.destructive())
                            .idempotent(effect.idempotent())
                            .open_world(false),
                    ),
                    None => tool,
                }
            })
            .collect();
        Self {
            dispatcher,
            tools: Arc::new(tools),
            rate_limit_here,
            followers,
            logs: Arc::default(),
        }
    }

    /// The key a session's state is kept under: its id, or `stdio`.
    fn session_key(caller: &Caller) -> String {
        caller.session.clone().unwrap_or_else(|| "stdio".into())
    }

    /// Who is calling: the client the HTTP guard named (its token, else its address) and
    /// its session; over stdio, the one local client.
    fn caller(extensions: &Extensions) -> Caller {
        let Some(parts) = extensions.get::<http::request::Parts>() else {
            return Caller::stdio();
        };
        let client = parts
            .extensions
            .get::<ClientId>()
            .cloned()
            .unwrap_or_else(|| {
                let ip = parts
                    .extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0.ip())
                    .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
                ClientId::from_ip(ip)
            });
        let session = parts
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Caller::new(client, session)
    }
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        // Built from MCP's JSON: rmcp's typed builder takes the capabilities in a fixed order.
        let capabilities: ServerCapabilities = serde_json::from_value(json!({
            "tools": {},
            "resources": {"subscribe": true, "listChanged": true},
            "prompts": {},
            "completions": {},
            "logging": {},
        }))
        .unwrap_or_default();
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("music21-prod", env!("CARGO_PKG_VERSION"))
                    .with_title("music21-prod: music analysis"),
            )
            .with_instructions(
                "Music analysis over music21-rs. Import a score with import_score (a corpus name such as \
                 bach/bwv66.6 or builtin/chorale-g-major, inline MusicXML/ABC/Humdrum/tinyNotation text, or \
                 base64 MIDI/.mxl), then analyse it by its score_id: key_analysis, chord_analysis, \
                 harmony_analysis, voice_leading_analysis, pattern_recognition; export_score returns the file. \
                 Stored scores and corpus pieces are also resources (music21://scores/{score_id}, \
                 music21://corpus/{name}); the prompts analyze_piece, harmonize_melody, write_counterpoint \
                 and compare_pieces start common tasks.",
            )
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        // One page holds every tool, so no cursor was ever given out.
        if let Some(cursor) = request.and_then(|r| r.cursor) {
            return Err(McpError::invalid_params(
                format!(
                    "invalid cursor '{}': tools/list answers every tool in one page and gives no cursor; call it without one",
                    printable(&cursor, 64)
                ),
                None,
            ));
        }
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        if self.dispatcher.registry.get(&name).is_none() {
            return Err(McpError::invalid_params(
                format!(
                    "unknown tool '{}'; the tools are: {}",
                    printable(&name, 64),
                    self.dispatcher.registry.names().join(", ")
                ),
                None,
            ));
        }
        let args = serde_json::Value::Object(request.arguments.unwrap_or_default());
        // What an announcement of changed scores needs of the arguments, kept before they
        // go to the dispatcher (they may hold a 50 MB score: no copy of them is made).
        let ids_asked = json!({"score_id": args["score_id"], "new_score_id": args["new_score_id"]});
        let mut caller = Self::caller(&context.extensions);
        // Stopped when the client cancels (rmcp fires the request's token on
        // notifications/cancelled) or goes away before the answer and does not come back
        // (admit's ClientGone).
        let call_done = CancellationToken::new();
        let _call_done = call_done.clone().drop_guard();
        caller.cancel = cancelled_by(&context, call_done, self.hangup_grace());
        let forwarding = context.meta.get_progress_token().map(|token| {
            let (sink, forwarder) = progress_to(token, context.peer.clone());
            caller.progress = Some(sink);
            forwarder
        });
        let started = Instant::now();
        let answer = self
            .dispatcher
            .call(&name, args, &caller, self.rate_limit_here)
            .await;
        // Every progress notification goes out before the answer, none after it.
        caller.progress = None;
        if let Some(forwarder) = forwarding {
            let _ = tokio::time::timeout(Duration::from_secs(2), forwarder).await;
        }
        self.logs.call_done(
            &Self::session_key(&caller),
            &context.peer,
            &name,
            started,
            answer.as_ref().err().map(|e| e.describe()).as_deref(),
        );
        let result = match answer {
            Ok(value) => {
                let writes = presentation::of(&name).is_some_and(|(_, e)| e != Effect::Reads);
                if writes {
                    let changed = resources::changed_by(&name, &ids_asked, &value);
                    self.followers.scores_changed(changed.as_deref());
                }
                CallToolResult::structured(value)
            }
            // Stopped by the shutdown: a JSON-RPC error, so no client mistakes it for an
            // answer of the tool's.
            Err(e) if e.protocol => {
                return Err(McpError::new(
                    rmcp::model::ErrorCode(-32000),
                    e.describe(),
                    None,
                ))
            }
            Err(e) => CallToolResult::error(vec![ContentBlock::text(e.describe())]),
        };
        Ok(result.into())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let caller = Self::caller(&context.extensions);
        self.followers
            .join(&Self::session_key(&caller), context.peer.clone());
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let caller = Self::caller(&context.extensions);
        let cursor = request.and_then(|r| r.cursor);
        let page = resources::list(
            &self.dispatcher,
            &caller,
            self.rate_limit_here,
            cursor.as_deref(),
        )
        .await?;
        typed(page)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        typed(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let caller = Self::caller(&context.extensions);
        let contents = resources::read(
            &self.dispatcher,
            &caller,
            self.rate_limit_here,
            &request.uri,
        )
        .await?;
        Ok(typed::<ReadResourceResult>(contents)?.into())
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let caller = Self::caller(&context.extensions);
        self.followers.subscribe(
            &Self::session_key(&caller),
            context.peer.clone(),
            &request.uri,
        )
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let caller = Self::caller(&context.extensions);
        self.followers
            .unsubscribe(&Self::session_key(&caller), &request.uri);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        typed(prompts::list())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let prompt = prompts::get(&request.name, request.arguments)?;
        Ok(typed::<rmcp::model::GetPromptResult>(prompt)?.into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let caller = Self::caller(&context.extensions);
        let reference = serde_json::to_value(&request.r#ref).unwrap_or(Value::Null);
        let answer = completions::complete(
            &self.dispatcher,
            &caller,
            self.rate_limit_here,
            &reference,
            &request.argument.name,
            &request.argument.value,
        )
        .await?;
        typed(answer)
    }

    #[allow(deprecated)] // MCP logging: see server::logging.
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let caller = Self::caller(&context.extensions);
        self.logs.set(&Self::session_key(&caller), &request);
        Ok(())
    }
}
