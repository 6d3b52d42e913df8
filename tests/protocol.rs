//! The MCP protocol as clients meet it, on the real binary: JSON-RPC error codes over HTTP
//! and stdio, the end of a session, and the tools' titles and annotations.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::timeout;

use common::server::*;
use common::Env;

const MCP_HEADERS: [(&str, &str); 2] = [
    ("Content-Type", "application/json"),
    ("Accept", "application/json, text/event-stream"),
];

/// The JSON-RPC message in an answer: the body itself, or the first `data:` line of a
/// stream.
fn message(raw: &Raw) -> Value {
    let text = raw
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find(|l| l.starts_with('{'))
        .unwrap_or(raw.body.trim());
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", raw.body))
}

async fn post(server: &Server, session: Option<&str>, body: &[u8]) -> Raw {
    let mut headers = MCP_HEADERS.to_vec();
    if let Some(s) = session {
        headers.push(("Mcp-Session-Id", s));
    }
    raw(server.addr, "POST", "/mcp", &headers, body).await
}

/// Opens a session by hand; its id.
async fn open_session(server: &Server) -> String {
    let opened = post(server, None, &initialize_body(0)).await;
    assert_eq!(opened.status, 200, "{opened:?}");
    let id = opened
        .header("mcp-session-id")
        .expect("a session id")
        .to_string();
    let initialized = post(
        server,
        Some(&id),
        br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await;
    assert!(initialized.status < 300, "{initialized:?}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_get_their_jsonrpc_error_codes_over_http() {
    let server = Server::start(&config("", "", "")).await;
    for (body, code) in [
        (&b"{not json"[..], -32700),
        (br#"{"foo":1}"#, -32600),
        (br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, -32600),
        (br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, -32600),
    ] {
        let answer = post(&server, None, body).await;
        assert_eq!(answer.status, 400, "{answer:?}");
        let m = message(&answer);
        assert_eq!(m["error"]["code"], code, "{m}");
        assert_eq!(m["jsonrpc"], "2.0");
        assert!(m.get("id").is_some(), "{m}");
    }
    let session = open_session(&server).await;
    let nameless = post(
        &server,
        Some(&session),
        br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{}}}"#,
    )
    .await;
    let m = message(&nameless);
    assert_eq!(
        (m["error"]["code"].clone(), m["id"].clone()),
        (json!(-32602), json!(7)),
        "{m}"
    );
    let cursor = post(
        &server,
        Some(&session),
        br#"{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{"cursor":"nope"}}"#,
    )
    .await;
    let m = message(&cursor);
    assert_eq!(m["error"]["code"], -32602, "{m}");
    // The session is still good.
    let listed = post(
        &server,
        Some(&session),
        br#"{"jsonrpc":"2.0","id":9,"method":"tools/list"}"#,
    )
    .await;
    assert!(message(&listed)["result"]["tools"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_with_204_and_is_404_afterwards() {
    let server = Server::start(&config("", "", "")).await;
    let session = open_session(&server).await;
    let headers = [("Mcp-Session-Id", session.as_str())];
    let ended = raw(server.addr, "DELETE", "/mcp", &headers, b"").await;
    assert_eq!(ended.status, 204, "{ended:?}");
    let again = raw(server.addr, "DELETE", "/mcp", &headers, b"").await;
    assert_eq!(again.status, 404, "a second DELETE: {again:?}");
    let after = post(
        &server,
        Some(&session),
        br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    )
    .await;
    assert_eq!(
        after.status, 404,
        "a request in the ended session: {after:?}"
    );
    let unnamed = raw(server.addr, "DELETE", "/mcp", &[], b"").await;
    assert_eq!(unnamed.status, 400, "{unnamed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_stdio_a_bad_line_is_answered_and_the_session_goes_on() {
    let env = Env::with_config(&config("", "", ""));
    let mut child = Command::new(env!("CARGO_BIN_EXE_music21-prod"))
        .arg("serve")
        .arg("--stdio")
        .arg("--data-dir")
        .arg(env.data_dir())
        .arg("--config")
        .arg(env.config.as_ref().expect("config"))
        .env_remove("MUSIC21_PROD_DATA_DIR")
        .env_remove("MUSIC21_PROD_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve --stdio");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let lines = [
        "{not json".to_string(),
        String::from_utf8(initialize_body(0)).expect("utf-8"),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(),
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{}}"#.into(),
        r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#.into(),
    ];
    for line in &lines {
        writeln!(stdin, "{line}").expect("write a line");
    }
    drop(stdin);
    let read = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .map(|l| serde_json::from_str::<Value>(&l).expect("every output line is JSON"))
            .collect::<Vec<Value>>()
    });
    let answers = timeout(EXCHANGE, read)
        .await
        .expect("answers in time")
        .expect("read");
    let _ = child.kill();
    let _ = child.wait();
    let by_id = |id: Value| answers.iter().find(|a| a["id"] == id).cloned();
    let parse = by_id(Value::Null).expect("an answer to the line that is not JSON");
    assert_eq!(parse["error"]["code"], -32700, "{parse}");
    assert!(by_id(json!(1)).expect("initialize answered")["result"].is_object());
    assert_eq!(by_id(json!(2)).expect("answered")["error"]["code"], -32602);
    assert!(by_id(json!(3)).expect("ping answered")["result"].is_object());
    assert_eq!(answers.len(), 4, "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_has_a_title_and_annotations_and_the_server_a_title() {
    let server = Server::start(&config("", "", "")).await;
    let client = server.connect().await;
    let info = client.peer_info().expect("server info");
    let info = serde_json::to_value(info).expect("json");
    assert!(info["serverInfo"]["title"].is_string(), "{info}");
    let tools = timeout(EXCHANGE, client.list_all_tools())
        .await
        .expect("in time")
        .expect("tools/list");
    for tool in tools {
        let t = serde_json::to_value(&tool).expect("json");
        let name = t["name"].as_str().unwrap_or("?").to_string();
        assert!(t["title"].is_string(), "{name} has no title");
        let a = &t["annotations"];
        for hint in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(a[hint].is_boolean(), "{name} lacks {hint}: {a}");
        }
        assert_eq!(a["openWorldHint"], false, "{name}");
        let read_only = a["readOnlyHint"] == true;
        match name.as_str() {
            "delete_score" | "import_score" | "transpose_score" => {
                assert!(!read_only && a["destructiveHint"] == true, "{name}: {a}")
            }
            "key_analysis" | "score_info" | "list_scores" | "health_check" => {
                assert!(read_only && a["destructiveHint"] == false, "{name}: {a}")
            }
            _ => {}
        }
    }
    let _ = timeout(Duration::from_secs(5), client.cancel()).await;
}
