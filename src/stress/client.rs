//! One virtual user's MCP session over HTTP (rmcp's client), with a timeout on every call
//! and answers sorted into what the checker and recorder need.

use std::time::Duration;

use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::RoleClient;
use serde_json::Value;

/// How a call ended, before classification.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A tool result (structured content).
    Ok(Value),
    /// A tool error: its code (`[code]` prefix of the message) and message.
    ToolError { code: String, message: String },
    /// The protocol or transport failed (connection reset, HTTP error status, session lost).
    Transport {
        message: String,
        status: Option<u16>,
    },
    /// No answer within the call timeout.
    Timeout,
}

impl Reply {
    /// The code a refusal carries, or the HTTP status class for transport failures.
    pub fn code(&self) -> Option<String> {
        match self {
            Reply::Ok(_) => None,
            Reply::ToolError { code, .. } => Some(code.clone()),
            Reply::Transport {
                status: Some(s), ..
            } => Some(format!("http_{s}")),
            Reply::Transport { .. } => Some("transport".into()),
            Reply::Timeout => Some("client_timeout".into()),
        }
    }

    /// A "busy, retry shortly" refusal: a queue or rate limit, not a judgement of the call.
    pub fn is_busy(&self) -> bool {
        match self {
            Reply::ToolError { code, .. } => matches!(code.as_str(), "overloaded" | "rate_limited"),
            Reply::Transport {
                status: Some(s), ..
            } => matches!(s, 429 | 503),
            _ => false,
        }
    }

    /// A refusal that protects the server's memory or size limits (memory pressure, a limit
    /// under the input's size): what a huge score may meet without anything being wrong.
    pub fn is_size_or_memory_refusal(&self) -> bool {
        match self {
            Reply::ToolError { code, .. } => {
                matches!(code.as_str(), "memory_pressure" | "limit_exceeded")
            }
            Reply::Transport {
                status: Some(s), ..
            } => *s == 413,
            _ => false,
        }
    }

    /// Whether a protection refused on purpose (the server is fine and said so).
    pub fn is_expected_refusal(&self) -> bool {
        match self {
            Reply::ToolError { code, .. } => matches!(
                code.as_str(),
                "rate_limited"
                    | "overloaded"
                    | "breaker_open"
                    | "memory_pressure"
                    | "limit_exceeded"
                    | "shutting_down"
            ),
            Reply::Transport {
                status: Some(s), ..
            } => matches!(s, 429 | 413 | 503),
            _ => false,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Reply::Ok(_) => "ok".into(),
            Reply::ToolError { code, message } => format!("[{code}] {message}"),
            Reply::Transport { message, .. } => format!("transport: {message}"),
            Reply::Timeout => "no answer within the call timeout".into(),
        }
    }
}

/// Splits `[code] message (retry after …)` into its code and the rest.
pub fn split_error(text: &str) -> (String, String) {
    match text.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((code, rest)) => (code.to_string(), rest.to_string()),
        None => ("tool_error".to_string(), text.to_string()),
    }
}

fn http_status(message: &str) -> Option<u16> {
    // rmcp's transport errors name the HTTP status as a three-digit number.
    [429u16, 413, 503, 500, 502, 401, 403, 404, 400]
        .into_iter()
        .find(|code| message.contains(&code.to_string()))
}

pub struct McpClient {
    service: RunningService<RoleClient, ()>,
}

impl McpClient {
    /// Opens a session (initialize) at `url`, within `timeout`, from the harness's address.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, Reply> {
        Self::connect_from(url, crate::stress::addresses::HARNESS, timeout).await
    }

    /// Opens a session whose connections come from the loopback address `source`.
    pub async fn connect_from(
        url: &str,
        source: std::net::IpAddr,
        timeout: Duration,
    ) -> Result<Self, Reply> {
        Self::connect_with(url, source, timeout, false).await
    }

    /// As `connect_from`; `stateless` speaks MCP 2026-07-28, which has no session: each
    /// request carries its protocol version and capabilities, and any replica of a
    /// deployment can answer it (`server/discover` instead of `initialize`).
    pub async fn connect_with(
        url: &str,
        source: std::net::IpAddr,
        timeout: Duration,
        stateless: bool,
    ) -> Result<Self, Reply> {
        let http = reqwest::Client::builder()
            .local_address(source)
            .build()
            .map_err(|e| Reply::Transport {
                message: format!("cannot make an HTTP client for {source}: {e}"),
                status: None,
            })?;
        let transport = StreamableHttpClientTransport::with_client(
            http,
            rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                url.to_string(),
            ),
        );
        let lifecycle = if stateless {
            rmcp::ClientLifecycleMode::Discover {
                preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
            }
        } else {
            rmcp::ClientLifecycleMode::Initialize
        };
        let serving = rmcp::ClientServiceExt::serve_with_lifecycle((), transport, lifecycle);
        match tokio::time::timeout(timeout, serving).await {
            Ok(Ok(service)) => Ok(Self { service }),
            Ok(Err(e)) => {
                let message = e.to_string();
                Err(Reply::Transport {
                    status: http_status(&message),
                    message,
                })
            }
            Err(_) => Err(Reply::Timeout),
        }
    }

    pub async fn call(&self, tool: &str, args: Value, timeout: Duration) -> Reply {
        let params = CallToolRequestParams::new(tool.to_string())
            .with_arguments(args.as_object().cloned().unwrap_or_default());
        match tokio::time::timeout(timeout, self.service.call_tool(params)).await {
            Err(_) => Reply::Timeout,
            Ok(Err(e)) => {
                let message = e.to_string();
                Reply::Transport {
                    status: http_status(&message),
                    message,
                }
            }
            Ok(Ok(result)) => {
                if result.is_error == Some(true) {
                    let text = result
                        .content
                        .iter()
                        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                        .collect::<Vec<_>>()
                        .join(" ");
                    let (code, message) = split_error(&text);
                    Reply::ToolError { code, message }
                } else {
                    Reply::Ok(result.structured_content.unwrap_or(Value::Null))
                }
            }
        }
    }

    /// Whether the session is gone (the caller should reconnect).
    pub fn is_closed(&self) -> bool {
        self.service.is_transport_closed()
    }

    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.service.cancel()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_split() {
        assert_eq!(
            split_error("[rate_limited] too many requests (retry after 1.0 s)"),
            (
                "rate_limited".to_string(),
                "too many requests (retry after 1.0 s)".to_string()
            )
        );
        assert_eq!(split_error("plain").0, "tool_error");
        let refused = Reply::ToolError {
            code: "overloaded".into(),
            message: String::new(),
        };
        assert!(refused.is_expected_refusal());
        assert!(!Reply::Timeout.is_expected_refusal());
    }
}
