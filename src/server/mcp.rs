//! The MCP face of the server: tools/list from the registry (with input and output schemas)
//! and tools/call through the dispatcher. Tool failures are results with `isError: true`;
//! unknown tools are protocol errors.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};

use crate::error::printable;
use crate::server::clients::ClientId;
use crate::server::dispatch::{Caller, Dispatcher};

#[derive(Clone)]
pub struct McpHandler {
    dispatcher: Arc<Dispatcher>,
    tools: Arc<Vec<Tool>>,
    /// Over stdio nothing in front limits the rate, so the handler does.
    rate_limit_here: bool,
}

fn as_object(value: &serde_json::Value) -> Arc<serde_json::Map<String, serde_json::Value>> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

impl McpHandler {
    pub fn new(dispatcher: Arc<Dispatcher>, rate_limit_here: bool) -> Self {
        let tools = dispatcher
            .registry
            .tools()
            .iter()
            .map(|t| {
                let tool = Tool::new(t.name, t.description, as_object(&t.input_schema))
                    .with_raw_output_schema(as_object(&t.output_schema));
                match crate::tools::presentation::of(t.name) {
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
        }
    }

    /// Who is calling: the client the HTTP guard named (its token, else its address) and
    /// its session; over stdio, the one local client.
    fn caller(context: &RequestContext<RoleServer>) -> Caller {
        let Some(parts) = context.extensions.get::<http::request::Parts>() else {
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
        Caller { client, session }
    }
}

impl ServerHandler for McpHandler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("music21-prod", env!("CARGO_PKG_VERSION"))
                    .with_title("music21-prod: music analysis"),
            )
            .with_instructions(
                "Music analysis over music21-rs. Import a score with import_score (a corpus name such as \
                 bach/bwv66.6 or builtin/chorale-g-major, inline MusicXML/ABC/Humdrum/tinyNotation text, or \
                 base64 MIDI/.mxl), then analyse it by its score_id: key_analysis, chord_analysis, \
                 harmony_analysis, voice_leading_analysis, pattern_recognition; export_score returns the file.",
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
        let caller = Self::caller(&context);
        let result = match self
            .dispatcher
            .call(&name, args, &caller, self.rate_limit_here)
            .await
        {
            Ok(value) => CallToolResult::structured(value),
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
}
