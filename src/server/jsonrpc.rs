//! One JSON-RPC message checked before the MCP layer sees it, the same over HTTP and stdio:
//! bytes that are not JSON are a parse error (-32700), JSON that is not one JSON-RPC 2.0
//! message an invalid request (-32600), and a `tools/call` without a tool name invalid
//! params (-32602). Only the envelope is parsed: `params` (which may hold a 50 MB score) is
//! skipped, but for the one field a check needs.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const INVALID_PARAMS: i64 = -32602;

/// The parts of a message the server looks at.
#[derive(Debug)]
pub struct Envelope {
    /// A request's id (a string or a number); `None` for a notification or a response.
    pub id: Option<Value>,
    pub method: Option<String>,
}

impl Envelope {
    /// A request: a method and an id, so it gets an answer.
    pub fn is_request(&self) -> bool {
        self.method.is_some() && self.id.is_some()
    }
}

/// Why a message was refused, as the JSON-RPC error to answer.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub code: i64,
    /// The request's id when it could be read, else null.
    pub id: Value,
    pub message: String,
}

impl Refusal {
    fn new(code: i64, id: Option<&Value>, message: String) -> Self {
        Self {
            code,
            id: id.cloned().unwrap_or(Value::Null),
            message,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": {"code": self.code, "message": self.message}
        })
    }
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    jsonrpc: Option<String>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<ParamsHead>,
    #[serde(default)]
    result: Option<IgnoredAny>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

/// Of `params`, what a check needs; the rest (arguments, sources) is skipped unparsed.
#[derive(Deserialize)]
struct ParamsHead {
    #[serde(default)]
    name: Option<Value>,
}

/// Checks one message; what to answer when it cannot be passed on.
pub fn check(bytes: &[u8]) -> Result<Envelope, Refusal> {
    let raw: Raw = match serde_json::from_slice(bytes) {
        Ok(raw) => raw,
        Err(e) if e.is_data() => {
            return Err(Refusal::new(
                INVALID_REQUEST,
                None,
                format!("invalid request: not one JSON-RPC message object ({e})"),
            ))
        }
        Err(e) => {
            return Err(Refusal::new(
                PARSE_ERROR,
                None,
                format!("parse error: not valid JSON ({e})"),
            ))
        }
    };
    // An id must be a string or a number; anything else cannot be echoed back.
    let id = match &raw.id {
        None => None,
        Some(v @ (Value::String(_) | Value::Number(_))) => Some(v.clone()),
        Some(other) => {
            return Err(Refusal::new(
                INVALID_REQUEST,
                None,
                format!(
                    "invalid request: \"id\" must be a string or a number, got {}",
                    crate::tools::json_kind(other)
                ),
            ))
        }
    };
    if raw.jsonrpc.as_deref() != Some("2.0") {
        return Err(Refusal::new(
            INVALID_REQUEST,
            id.as_ref(),
            "invalid request: \"jsonrpc\" must be \"2.0\"".into(),
        ));
    }
    match &raw.method {
        Some(method) => {
            if method == "tools/call" && id.is_some() {
                let named = raw
                    .params
                    .as_ref()
                    .and_then(|p| p.name.as_ref())
                    .is_some_and(Value::is_string);
                if !named {
                    return Err(Refusal::new(
                        INVALID_PARAMS,
                        id.as_ref(),
                        "invalid params: tools/call needs params.name, the name of the tool to call (tools/list lists them)".into(),
                    ));
                }
            }
        }
        // A response (to a request the server sent): an id and a result or an error.
        None => {
            if id.is_none() || raw.result.is_some() == raw.error.is_some() {
                return Err(Refusal::new(
                    INVALID_REQUEST,
                    id.as_ref(),
                    "invalid request: a message needs a \"method\" (a request or a notification), or an \"id\" and a \"result\" or an \"error\" (a response)".into(),
                ));
            }
        }
    }
    Ok(Envelope {
        id,
        method: raw.method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> Refusal {
        check(text.as_bytes()).expect_err(text)
    }

    #[test]
    fn requests_notifications_and_responses_pass() {
        let r = check(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        assert!(r.is_request());
        let n = check(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(!n.is_request());
        check(br#"{"jsonrpc":"2.0","id":"s-1","result":{}}"#).unwrap();
        check(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"health_check","arguments":{}}}"#)
            .unwrap();
    }

    #[test]
    fn each_malformed_message_gets_its_code_and_the_id_when_readable() {
        assert_eq!(refused("{not json").code, PARSE_ERROR);
        assert_eq!(refused("").code, PARSE_ERROR);
        let not_object = refused("[1,2]");
        assert_eq!(
            (not_object.code, &not_object.id),
            (INVALID_REQUEST, &Value::Null)
        );
        assert_eq!(refused(r#"{"foo":1}"#).code, INVALID_REQUEST);
        let version = refused(r#"{"jsonrpc":"1.0","id":3,"method":"ping"}"#);
        assert_eq!((version.code, version.id), (INVALID_REQUEST, json!(3)));
        assert_eq!(
            refused(r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#).code,
            INVALID_REQUEST
        );
        assert_eq!(refused(r#"{"jsonrpc":"2.0","id":4}"#).code, INVALID_REQUEST);
        let nameless = refused(
            r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"arguments":{}}}"#,
        );
        assert_eq!((nameless.code, nameless.id), (INVALID_PARAMS, json!("x")));
        assert_eq!(
            refused(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":3}}"#).code,
            INVALID_PARAMS
        );
        assert_eq!(
            refused(r#"{"jsonrpc":"2.0","id":6,"method":"tools/call"}"#).code,
            INVALID_PARAMS
        );
    }

    #[test]
    fn the_error_is_a_jsonrpc_response() {
        let e = refused("{not json").to_json();
        assert_eq!(e["jsonrpc"], "2.0");
        assert_eq!(e["id"], Value::Null);
        assert_eq!(e["error"]["code"], PARSE_ERROR);
    }
}
