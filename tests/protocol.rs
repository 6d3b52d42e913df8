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

/// Runs `serve --stdio` with `config`, writes `lines` (after initialize) and closes its
/// input; every line it answered, as JSON.
async fn stdio_exchange(config_toml: &str, lines: &[String]) -> Vec<Value> {
    stdio_exchange_until(config_toml, lines, None).await
}

/// The same, but like a desktop client keeps its input open until the answer with id
/// `until` (when given) has come.
async fn stdio_exchange_until(
    config_toml: &str,
    lines: &[String],
    until: Option<u64>,
) -> Vec<Value> {
    let env = Env::with_config(config_toml);
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
    let opening = [
        String::from_utf8(initialize_body(0)).expect("utf-8"),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_string(),
    ];
    for line in opening.iter().chain(lines) {
        writeln!(stdin, "{line}").expect("write a line");
    }
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<Value>();
    let read = tokio::task::spawn_blocking(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let value: Value = serde_json::from_str(&line).expect("every output line is JSON");
            let _ = seen_tx.send(value.clone());
            all.push(value);
        }
        all
    });
    if let Some(id) = until {
        let deadline = std::time::Instant::now() + EXCHANGE;
        let waited = tokio::task::spawn_blocking(move || loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match seen_rx.recv_timeout(left) {
                Ok(v) if v["id"] == id => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        })
        .await
        .expect("wait");
        assert!(waited, "no answer with id {id} in time");
    }
    drop(stdin);
    let answers = timeout(EXCHANGE, read)
        .await
        .expect("answers in time")
        .expect("read");
    let _ = child.kill();
    let _ = child.wait();
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_stdio_a_bad_line_is_answered_and_the_session_goes_on() {
    let lines = [
        "{not json".to_string(),
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{}}"#.into(),
        r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#.into(),
    ];
    let answers = stdio_exchange(&config("", "", ""), &lines).await;
    let by_id = |id: Value| answers.iter().find(|a| a["id"] == id).cloned();
    let parse = by_id(Value::Null).expect("an answer to the line that is not JSON");
    assert_eq!(parse["error"]["code"], -32700, "{parse}");
    assert!(by_id(json!(1)).expect("initialize answered")["result"].is_object());
    assert_eq!(by_id(json!(2)).expect("answered")["error"]["code"], -32602);
    assert!(by_id(json!(3)).expect("ping answered")["result"].is_object());
    assert_eq!(answers.len(), 4, "{answers:?}");
}

fn health_calls(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            json!({"jsonrpc": "2.0", "id": 100 + i, "method": "tools/call",
                   "params": {"name": "health_check", "arguments": {}}})
            .to_string()
        })
        .collect()
}

fn refused(answers: &[Value]) -> usize {
    answers
        .iter()
        .filter(|a| {
            a["result"]["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("[rate_limited]"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_client_is_not_rate_limited_unless_configured() {
    // 400 calls at once: over HTTP's per-client default (100/s, burst 200) they would be
    // refused in part; the one stdio client is not limited by default.
    let answers = stdio_exchange(&config("", "", ""), &health_calls(400)).await;
    assert_eq!(answers.len(), 401, "every call answered");
    assert_eq!(refused(&answers), 0);
    let limited = config(
        "",
        "",
        "[server.rate_limit]\nstdio_per_second = 1.0\nstdio_burst = 2\n",
    );
    let answers = stdio_exchange(&limited, &health_calls(5)).await;
    assert!(refused(&answers) >= 2, "{answers:?}");
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

/// What a listening client heard: `updated <uri>`, `list_changed`, `log <level> <tool>`.
#[derive(Clone, Default)]
struct Heard(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Heard {
    fn push(&self, what: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(what);
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    async fn until(&self, wanted: &str) -> bool {
        let deadline = tokio::time::Instant::now() + EXCHANGE;
        while tokio::time::Instant::now() < deadline {
            if self.all().iter().any(|h| h.starts_with(wanted)) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

#[allow(deprecated)] // MCP logging, as the server's logging module says.
impl rmcp::ClientHandler for Heard {
    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.push(format!("updated {}", params.uri));
    }
    async fn on_resource_list_changed(
        &self,
        _: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.push("list_changed".into());
    }
    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.push(format!("log {:?} {}", params.level, params.data["tool"]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(deprecated)] // resources/subscribe and logging/setLevel: legacy in rmcp, used by clients.
async fn resources_prompts_completions_and_logging_over_http() {
    use rmcp::model::{
        ArgumentInfo, CompleteRequestParams, GetPromptRequestParams, LoggingLevel,
        ReadResourceRequestParams, Reference, SetLevelRequestParams, SubscribeRequestParams,
    };
    use rmcp::ServiceExt;

    let server = Server::start(&config("", "", "")).await;
    let heard = Heard::default();
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(server.url.clone());
    let client = timeout(EXCHANGE, heard.clone().serve(transport))
        .await
        .expect("initialize in time")
        .expect("initialize");
    let imported = call(
        &client,
        "import_score",
        json!({"score_id": "chorale", "source": "builtin/chorale-g-major"}),
    )
    .await;
    assert_eq!(ok(&imported)["score_id"], "chorale");

    // Listing: the stored score first, then corpus pieces.
    let listed = timeout(EXCHANGE, client.list_all_resources())
        .await
        .expect("in time")
        .expect("resources/list");
    let uris: Vec<String> = listed.iter().map(|r| r.uri.clone()).collect();
    assert_eq!(
        uris.first().map(String::as_str),
        Some("music21://scores/chorale"),
        "{uris:?}"
    );
    assert!(
        uris.contains(&"music21://corpus/builtin/twinkle".to_string()),
        "{uris:?}"
    );

    // Reading: the summary as JSON, a text export, a binary export, a corpus file.
    let read = |uri: &str| {
        let client = &client;
        let params = ReadResourceRequestParams::new(uri.to_string());
        async move {
            let result = timeout(EXCHANGE, client.read_resource(params))
                .await
                .expect("in time");
            result.map(|r| serde_json::to_value(r).expect("json"))
        }
    };
    let summary = read("music21://scores/chorale")
        .await
        .expect("read the score");
    let contents = &summary["contents"][0];
    assert_eq!(contents["mimeType"], "application/json");
    let info: Value = serde_json::from_str(contents["text"].as_str().expect("text")).expect("JSON");
    assert_eq!(info["parts"].as_array().map(Vec::len), Some(4), "{info}");
    let abc = read("music21://scores/chorale/abc").await.expect("abc");
    assert!(
        abc["contents"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("X:")),
        "{abc}"
    );
    let midi = read("music21://scores/chorale/midi").await.expect("midi");
    assert_eq!(midi["contents"][0]["mimeType"], "audio/midi");
    assert!(midi["contents"][0]["blob"].is_string(), "{midi}");
    let corpus = read("music21://corpus/builtin/twinkle")
        .await
        .expect("corpus");
    assert!(corpus["contents"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("Twinkle")));
    let missing = read("music21://scores/no-such")
        .await
        .expect_err("not found");
    assert!(format!("{missing}").contains("-32002"), "{missing}");
    let foreign = read("file:///etc/passwd").await.expect_err("not ours");
    assert!(!format!("{foreign}").contains("root:"), "{foreign}");

    let templates = timeout(EXCHANGE, client.list_all_resource_templates())
        .await
        .expect("in time")
        .expect("templates");
    assert_eq!(templates.len(), 3);

    // Following a score: replacing it and deleting it are heard.
    timeout(
        EXCHANGE,
        client.subscribe(SubscribeRequestParams::new("music21://scores/chorale")),
    )
    .await
    .expect("in time")
    .expect("subscribe");
    call(
        &client,
        "import_score",
        json!({"score_id": "chorale", "source": "builtin/chorale-a-minor", "replace": true}),
    )
    .await;
    assert!(
        heard.until("updated music21://scores/chorale").await,
        "{:?}",
        heard.all()
    );
    assert!(heard.until("list_changed").await);

    // Prompts, with their arguments completed.
    let prompts = timeout(EXCHANGE, client.list_all_prompts())
        .await
        .expect("in time")
        .expect("prompts/list");
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "analyze_piece",
            "harmonize_melody",
            "write_counterpoint",
            "compare_pieces"
        ]
    );
    let mut args = serde_json::Map::new();
    args.insert("piece".into(), json!("chorale"));
    let prompt = timeout(
        EXCHANGE,
        client.get_prompt(GetPromptRequestParams::new("analyze_piece").with_arguments(args)),
    )
    .await
    .expect("in time")
    .expect("prompts/get");
    let text = serde_json::to_value(&prompt.messages[0])
        .expect("json")
        .to_string();
    assert!(
        text.contains("key_analysis") && text.contains("chorale"),
        "{text}"
    );
    let completed = timeout(
        EXCHANGE,
        client.complete(CompleteRequestParams::new(
            Reference::for_prompt("analyze_piece"),
            ArgumentInfo::new("piece", "cho"),
        )),
    )
    .await
    .expect("in time")
    .expect("completion/complete");
    assert!(completed.completion.values.contains(&"chorale".to_string()));
    let styles = timeout(
        EXCHANGE,
        client.complete(CompleteRequestParams::new(
            Reference::for_prompt("harmonize_melody"),
            ArgumentInfo::new("style", "j"),
        )),
    )
    .await
    .expect("in time")
    .expect("completion/complete");
    assert_eq!(styles.completion.values, ["jazz"]);

    // Logging: after setLevel, the session hears of its own calls.
    timeout(
        EXCHANGE,
        client.set_level(SetLevelRequestParams::new(LoggingLevel::Info)),
    )
    .await
    .expect("in time")
    .expect("logging/setLevel");
    call(&client, "list_scores", json!({})).await;
    assert!(
        heard.until("log Info \"list_scores\"").await,
        "{:?}",
        heard.all()
    );

    // Deleting the followed score is heard too.
    call(&client, "delete_score", json!({"score_id": "chorale"})).await;
    let updates = || {
        heard
            .all()
            .iter()
            .filter(|h| h.as_str() == "updated music21://scores/chorale")
            .count()
    };
    let deadline = tokio::time::Instant::now() + EXCHANGE;
    while updates() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(updates(), 2, "{:?}", heard.all());
    let _ = timeout(Duration::from_secs(5), client.cancel()).await;
}

/// A `tools/call` of `import_score` that would run for minutes (a key signature of 10^8
/// fifths), as a JSON-RPC request with `id`.
fn hanging_call(id: u64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": "import_score",
        "arguments": {"score_id": "hang", "source": hanging_score(), "source_type": "text"}}})
    .to_string()
}

/// A connection that has sent `method /mcp` for `session` with `extra` header lines and
/// `body`, left open for its answer.
async fn send_raw(
    server: &Server,
    session: &str,
    method: &str,
    extra: &str,
    body: &str,
) -> tokio::net::TcpStream {
    let request = format!(
        "{method} /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMcp-Session-Id: {session}\r\n{extra}\
         Content-Length: {}\r\n\r\n{body}",
        server.addr,
        body.len()
    );
    let mut connection = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    tokio::io::AsyncWriteExt::write_all(&mut connection, request.as_bytes())
        .await
        .expect("send the request");
    connection
}

async fn wait_a_worker_busy(server: &Server) {
    wait_health(server, EXCHANGE, "a worker busy", |h| {
        h["workers"]["slots"]
            .as_array()
            .is_some_and(|s| s.iter().any(|w| w["state"] == "busy"))
    })
    .await;
}

/// Starts a call that would run for minutes, then stops it: by `notifications/cancelled`
/// (its stream kept open), or by dropping the connection once the stream has begun. Either
/// way its worker must be killed and replaced, and nothing stored.
async fn stop_a_hanging_call(by_notification: bool) {
    // A client that hung up has half a second to come back for its answer.
    let toml = config(
        "",
        "",
        &format!("[server.replay]\nhangup_grace_secs = 0.5\n{RELAXED_FIFTHS}"),
    );
    let server = Server::start(&toml).await;
    let session = open_session(&server).await;
    let before = worker_pids(&server.health().await);
    // The call's connection, held open while it runs.
    let mut connection = Some(send_raw(&server, &session, "POST", "", &hanging_call(5)).await);
    wait_a_worker_busy(&server).await;
    if !by_notification {
        // The client hangs up.
        connection = None;
    }
    if by_notification {
        let cancelled = post(
            &server,
            Some(&session),
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5,"reason":"no longer needed"}}"#,
        )
        .await;
        assert!(cancelled.status < 300, "{cancelled:?}");
    }
    // The work really stopped: the worker that ran it is gone, and a fresh one took its slot.
    assert!(
        eventually(Duration::from_secs(10), || before
            .iter()
            .any(|&p| !alive(p)))
        .await,
        "no worker was stopped: {before:?} all alive"
    );
    wait_pool_whole(&server, HEAL).await;
    let m = server.metrics().await;
    let kills = metric(&m, "music21_worker_kills_total", &[("reason", "cancelled")]);
    assert_eq!(kills, Some(1.0), "worker_kills_total{{reason=cancelled}}");
    assert_eq!(
        metric(
            &m,
            "music21_requests_total",
            &[("tool", "import_score"), ("outcome", "cancelled")]
        ),
        Some(1.0)
    );
    drop(connection);
    // Nothing was stored, and the session goes on.
    let listed = post(
        &server,
        Some(&session),
        br#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"list_scores","arguments":{}}}"#,
    )
    .await;
    assert_eq!(message(&listed)["result"]["structuredContent"]["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_has_its_worker_stopped_and_the_pool_heals() {
    stop_a_hanging_call(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_has_its_call_stopped() {
    stop_a_hanging_call(false).await;
}

/// The id of the first event of an SSE text (the stream's priming event).
fn first_event_id(sse: &str) -> Option<String> {
    sse.lines()
        .find_map(|l| l.strip_prefix("id:"))
        .map(|id| id.trim().to_string())
}

/// `GET /mcp` with `Last-Event-ID`: a reconnect to a dropped stream; read to its end.
async fn resume(server: &Server, session: &str, last_event_id: &str) -> Raw {
    raw(
        server.addr,
        "GET",
        "/mcp",
        &[
            ("Accept", "text/event-stream"),
            ("Mcp-Session-Id", session),
            ("Last-Event-ID", last_event_id),
        ],
        b"",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_after_the_answer_replays_it_to_its_own_session_only() {
    let server = Server::start(&config("", "", "")).await;
    let session = open_session(&server).await;
    let call = post(
        &server,
        Some(&session),
        br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"list_scores","arguments":{}}}"#,
    )
    .await;
    assert_eq!(call.status, 200, "{call:?}");
    // The stream opens with an event id and a retry hint: an invitation to reconnect.
    assert!(call.body.contains("retry:"), "{:?}", call.body);
    let first = first_event_id(&call.body).expect("an event id on the stream");
    let answer = message(&call);
    assert_eq!(answer["id"], 7, "{answer}");

    // The client missed everything after the priming event: the answer comes again.
    let again = resume(&server, &session, &first).await;
    assert_eq!(again.status, 200, "{again:?}");
    let replayed = message(&again);
    assert_eq!(replayed["id"], 7, "{:?}", again.body);
    assert_eq!(replayed["result"], answer["result"]);
    // Resuming after the answer's own id: nothing is left to send.
    let last = call
        .body
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("id:"))
        .expect("the answer's id")
        .trim()
        .to_string();
    assert_ne!(last, first);
    let after_all = resume(&server, &session, &last).await;
    assert!(!after_all.body.contains("\"id\":7"), "{:?}", after_all.body);

    // Another session presenting the id gets nothing, nor does a made-up id.
    let other = open_session(&server).await;
    let stolen = resume(&server, &other, &first).await;
    assert!(!stolen.body.contains("\"id\":7"), "{:?}", stolen.body);
    let made_up = resume(&server, &session, "00000000000000000000000000000000_0").await;
    assert!(!made_up.body.contains("data:"), "{:?}", made_up.body);

    let m = server.metrics().await;
    assert_eq!(metric(&m, "music21_replays_total", &[]), Some(2.0));
    assert!(metric(&m, "music21_replay_streams", &[]).is_some_and(|n| n >= 1.0));
}

/// Reads `connection` until an SSE event id has arrived; returns it.
async fn read_event_id(connection: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&seen);
        if let Some(at) = text.find("\nid:") {
            if let Some(end) = text[at + 4..].find('\n') {
                return text[at + 4..at + 4 + end].trim().to_string();
            }
        }
        let n = timeout(EXCHANGE, connection.read(&mut buf))
            .await
            .expect("the stream's first event in time")
            .expect("read the stream");
        assert!(n > 0, "the stream ended before an event id: {text}");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// A client whose connection dropped mid-call and that reconnects with `Last-Event-ID`
/// keeps its call running; once nobody listens for the grace, the call is stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_goes_on_while_its_client_resumes_the_stream() {
    let toml = config(
        "",
        "",
        &format!("[server.replay]\nhangup_grace_secs = 1.0\n{RELAXED_FIFTHS}"),
    );
    let server = Server::start(&toml).await;
    let session = open_session(&server).await;
    let mut call = send_raw(&server, &session, "POST", "", &hanging_call(9)).await;
    let first = read_event_id(&mut call).await;
    wait_a_worker_busy(&server).await;
    let busy = worker_pids(&server.health().await);

    // The connection drops; the client comes back for the rest of the stream.
    drop(call);
    let header = format!("Last-Event-ID: {first}\r\n");
    let mut back = send_raw(&server, &session, "GET", &header, "").await;
    {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 256];
        let n = timeout(EXCHANGE, back.read(&mut buf))
            .await
            .expect("the reconnect's answer in time")
            .expect("read");
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    // Three graces later the call still runs: someone listens.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let m = server.metrics().await;
    assert_eq!(
        metric(&m, "music21_worker_kills_total", &[("reason", "cancelled")]),
        None,
        "the call was stopped although its client came back"
    );
    assert!(busy.iter().all(|&p| alive(p)), "{busy:?}");

    // Gone for good: the call is stopped.
    drop(back);
    assert!(
        eventually(Duration::from_secs(15), || busy.iter().any(|&p| !alive(p))).await,
        "no worker was stopped: {busy:?} all alive"
    );
    wait_pool_whole(&server, HEAL).await;
    let m = server.metrics().await;
    assert_eq!(
        metric(&m, "music21_worker_kills_total", &[("reason", "cancelled")]),
        Some(1.0)
    );
}

/// The `notifications/progress` of `token` among `messages`, in order, checked: each names
/// the token, has a total of 100 and a message, and the values rise.
fn progress_of(messages: &[Value], token: &str) -> Vec<Value> {
    let notes: Vec<Value> = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| m["params"].clone())
        .collect();
    for n in &notes {
        assert_eq!(n["progressToken"], token, "{n}");
        assert_eq!(n["total"], 100.0, "{n}");
        assert!(n["message"].as_str().is_some_and(|m| !m.is_empty()), "{n}");
    }
    let values: Vec<f64> = notes
        .iter()
        .filter_map(|n| n["progress"].as_f64())
        .collect();
    assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
    notes
}

fn import_with_progress(id: u64, token: &str) -> String {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/two-part.musicxml"
    ))
    .expect("the fixture");
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": "import_score",
        "arguments": {"score_id": format!("progress-{id}"), "source": source, "source_type": "text"},
        "_meta": {"progressToken": token}}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_a_progress_token_reports_progress_before_its_answer() {
    // Over HTTP: the notifications ride the call's own stream, before the answer.
    let server = Server::start(&config("", "", "")).await;
    let session = open_session(&server).await;
    let call = post(
        &server,
        Some(&session),
        import_with_progress(11, "http-token").as_bytes(),
    )
    .await;
    let messages: Vec<Value> = call
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect();
    let notes = progress_of(&messages, "http-token");
    assert!(!notes.is_empty(), "no progress: {:?}", call.body);
    let answer_at = messages
        .iter()
        .position(|m| m["id"] == 11)
        .expect("the answer");
    assert_eq!(answer_at, messages.len() - 1, "the answer comes last");
    assert_eq!(messages[answer_at]["result"]["isError"], false);
    assert_eq!(notes[0]["message"], "import_score: started");

    // Without a token, none.
    let plain = post(
        &server,
        Some(&session),
        br#"{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"list_scores","arguments":{}}}"#,
    )
    .await;
    assert!(
        !plain.body.contains("notifications/progress"),
        "{:?}",
        plain.body
    );

    // Over stdio: the same, as lines before the answer.
    let answers = stdio_exchange_until(
        &config("", "", ""),
        &[import_with_progress(13, "stdio-token")],
        Some(13),
    )
    .await;
    let notes = progress_of(&answers, "stdio-token");
    assert!(!notes.is_empty(), "no progress over stdio: {answers:?}");
    let answer_at = answers
        .iter()
        .position(|m| m["id"] == 13)
        .expect("the answer");
    let last_note = answers
        .iter()
        .rposition(|m| m["method"] == "notifications/progress")
        .expect("a note");
    assert!(last_note < answer_at, "{answers:?}");
}
