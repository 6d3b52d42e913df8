//! The harness for tests that drive `music21-prod serve` on loopback sockets: a server
//! process killed on drop, raw HTTP/1.1, MCP clients (from any loopback source address),
//! metrics and /health waits. Every wait is bounded.
#![allow(dead_code)]
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{sleep, timeout};

use super::Env;
use music21_prod::metrics::{parse_text, Sample};

pub type Client = RunningService<RoleClient, ()>;

/// Longest wait for a server to print its address and become ready.
pub const STARTUP: Duration = Duration::from_secs(30);
/// Longest wait for one MCP exchange or raw HTTP request.
pub const EXCHANGE: Duration = Duration::from_secs(20);
/// Longest wait for the pool to replace a lost worker (it takes well under a second when the
/// machine is not overloaded).
pub const HEAL: Duration = Duration::from_secs(10);

pub const TUNE: &str = "X:1\nT:Serve Test Tune\nM:4/4\nL:1/4\nK:G\nGABc|d2B2|c2A2|G4|]\n";

// ------------------------------------------------------------------------------ harness

/// The `[server]`, `[server.workers]` and further sections of a test config. Two workers and a
/// quick ping unless the test says otherwise.
pub fn config(server: &str, workers: &str, rest: &str) -> String {
    let mut w = String::new();
    if !workers.contains("count") {
        w.push_str("count = 2\n");
    }
    if !workers.contains("ping_secs") {
        w.push_str("ping_secs = 0.5\n");
    }
    w.push_str(workers);
    format!("[server]\n{server}\n\n[server.workers]\n{w}\n\n{rest}\n")
}

/// A running `music21-prod serve` (or `serve --supervise`), killed on drop.
pub struct Server {
    pub child: Child,
    pub env: Env,
    pub addr: SocketAddr,
    pub url: String,
    /// Bearer token sent by `get` (for /health and /metrics).
    pub token: Option<String>,
}

impl Server {
    /// `serve --port 0` with `toml` as its config; returns once `/readyz` says 200.
    pub async fn start(toml: &str) -> Server {
        Self::start_with(toml, &["--port", "0"]).await
    }

    pub async fn start_with(toml: &str, args: &[&str]) -> Server {
        Self::start_program(Path::new(env!("CARGO_BIN_EXE_music21-prod")), toml, args).await
    }

    /// `program serve ARGS`, where `program` is the binary or a link to it.
    pub async fn start_program(program: &Path, toml: &str, args: &[&str]) -> Server {
        let env = Env::with_config(toml);
        let mut cmd = Command::new(program);
        cmd.arg("serve")
            .args(args)
            .arg("--data-dir")
            .arg(env.data_dir())
            .arg("--config")
            .arg(env.config.as_ref().expect("config"));
        Self::launch(cmd, env).await
    }

    /// `serve --port 0` with its data dir on a tmpfs of `size_mb` of its own (a user and mount
    /// namespace made by `unshare -Urm`), to fill a disk for real without touching the
    /// machine's. None when this machine cannot make such a namespace.
    pub async fn start_on_small_disk(toml: &str, size_mb: u64) -> Option<Server> {
        let probe = Command::new("unshare")
            .args(["-Urm", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            return None;
        }
        let env = Env::with_config(toml);
        std::fs::create_dir_all(env.data_dir()).expect("data dir");
        let mut cmd = Command::new("unshare");
        cmd.args(["-Urm", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs -o size={size_mb}m tmpfs \"$1\" && shift && exec \"$@\""
            ))
            .arg("sh")
            .arg(env.data_dir())
            .arg(env!("CARGO_BIN_EXE_music21-prod"))
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(env.data_dir())
            .arg("--config")
            .arg(env.config.as_ref().expect("config"));
        Some(Self::launch(cmd, env).await)
    }

    /// Starts `cmd` (a `serve`), reads its address line and waits until it is ready.
    pub async fn launch(cmd: Command, env: Env) -> Server {
        let mut server = Self::launch_unready(cmd, env).await;
        server.wait_ready().await;
        server
    }

    /// `serve --port 0` with `toml` as its config, once it listens, ready or not.
    pub async fn start_unready(toml: &str) -> Server {
        let env = Env::with_config(toml);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_music21-prod"));
        cmd.args(["serve", "--port", "0", "--data-dir"])
            .arg(env.data_dir())
            .arg("--config")
            .arg(env.config.as_ref().expect("config"));
        Self::launch_unready(cmd, env).await
    }

    /// Starts `cmd` (a `serve`) and reads its address line.
    pub async fn launch_unready(mut cmd: Command, env: Env) -> Server {
        let log = std::fs::File::create(env.dir.path().join("server.log")).expect("log file");
        let mut child = cmd
            .env_remove("MUSIC21_PROD_DATA_DIR")
            .env_remove("MUSIC21_PROD_PORT")
            .env_remove("MUSIC21_PROD_TOKEN")
            .env_remove("MUSIC21_PROD_STORE_URL")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start music21-prod serve");
        // Read the one stdout line on a thread (then keep draining stdout so the server never
        // blocks on it); wait for it with a timeout.
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
        });
        let line = tokio::task::spawn_blocking(move || rx.recv_timeout(STARTUP))
            .await
            .expect("reader thread");
        let mut server = Server {
            child,
            addr: "127.0.0.1:1".parse().unwrap(),
            url: String::new(),
            env,
            token: None,
        };
        let line = match line {
            Ok(line) => line,
            Err(_) => panic!(
                "no address line on stdout within {STARTUP:?}; log:\n{}",
                server.log()
            ),
        };
        let url = line
            .strip_prefix("music21-prod serve: listening on ")
            .unwrap_or_else(|| panic!("unexpected stdout line: {line}"))
            .to_string();
        let authority = url
            .strip_prefix("http://")
            .and_then(|rest| rest.strip_suffix("/mcp"))
            .unwrap_or_else(|| panic!("unexpected URL: {url}"));
        server.addr = authority.parse().expect("socket address");
        server.url = url;
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.env.dir.path().join("server.log")).unwrap_or_default()
    }

    pub async fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "server exited ({status}) before it was ready; log:\n{}",
                    self.log()
                );
            }
            if let Ok(r) = try_raw(self.addr, "GET", "/readyz", &[], b"", false).await {
                if r.status == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "not ready within {STARTUP:?}; log:\n{}",
                self.log()
            );
            sleep(Duration::from_millis(25)).await;
        }
    }

    /// GET `path`, with the token if the test set one.
    pub async fn get(&self, path: &str) -> Raw {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        raw(self.addr, "GET", path, &headers, b"").await
    }

    pub async fn health(&self) -> Value {
        let r = self.get("/health").await;
        serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("/health is not JSON ({e}): {}", r.body))
    }

    pub async fn metrics(&self) -> Vec<Sample> {
        let r = self.get("/metrics").await;
        assert_eq!(r.status, 200, "/metrics: {}", r.body);
        parse_text(&r.body)
    }

    pub async fn connect(&self) -> Client {
        connect(&self.url, self.token.as_deref()).await
    }

    /// Waits up to `within` for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid() as i32), signal).expect("signal the server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A supervisor's server child would outlive it: kill the children first (workers die
        // with their server by themselves, but are killed here too).
        let mut family = vec![self.pid()];
        let mut i = 0;
        while i < family.len() {
            family.extend(children_of(family[i]));
            i += 1;
        }
        for pid in family.iter().skip(1).rev() {
            let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail = &log[log.len().saturating_sub(6000)..];
            eprintln!("---- server log (tail) ----\n{tail}\n---- end of server log ----");
        }
    }
}

// ------------------------------------------------------------------------------ raw HTTP/1.1

#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A TCP connection to `addr` from the loopback address `source` (another client, for every
/// per-client limit).
pub async fn tcp_from(source: &str, addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.parse().expect("source address"), 0))?;
    socket.connect(addr).await
}

/// Sends `bytes` as they are (a request the helpers above would not write) on a fresh
/// connection; returns the status of the answer, or None when the connection closed without
/// one.
pub async fn raw_bytes(addr: SocketAddr, bytes: &[u8]) -> Option<u16> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(bytes).await.ok()?;
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.ok()?;
        String::from_utf8_lossy(&buf[..n])
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    timeout(EXCHANGE, exchange).await.ok().flatten()
}

/// One request on a fresh connection (`Connection: close`). `Host` is the server's address
/// unless `headers` names one. With `head_only`, returns as soon as the headers are in (for
/// streams that stay open).
pub async fn try_raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    head_only: bool,
) -> std::io::Result<Raw> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let mut request = format!("{method} {path} HTTP/1.1\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            request.push_str(&format!("Host: {addr}\r\n"));
        }
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        if method == "POST" {
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("Connection: close\r\n\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        // The server may answer (413) and close before reading everything: not an error here.
        let _ = stream.write_all(&bytes).await;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = match stream.read(&mut chunk).await {
                Ok(n) => n,
                Err(e) if buf.is_empty() => return Err(e),
                Err(_) => break,
            };
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if head_only && buf.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        Ok(buf)
    };
    let buf = timeout(EXCHANGE, exchange).await.map_err(|_| {
        std::io::Error::other(format!("{method} {path}: no answer within {EXCHANGE:?}"))
    })??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {status_line:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Raw {
        status,
        headers,
        body: body.to_string(),
    })
}

pub async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Raw {
    try_raw(addr, method, path, headers, body, false)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// A JSON-RPC `initialize` (a new MCP session), as a client would POST it to /mcp.
pub fn initialize_body(padding: usize) -> Vec<u8> {
    json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "serve-test", "version": "1.0", "padding": "x".repeat(padding)}
        }
    })
    .to_string()
    .into_bytes()
}

pub const MCP_HEADERS: [(&str, &str); 2] = [
    ("Content-Type", "application/json"),
    ("Accept", "application/json, text/event-stream"),
];

/// POSTs `body` to /mcp with the MCP headers plus `extra`; returns once the headers are in.
pub async fn post_mcp(addr: SocketAddr, extra: &[(&str, &str)], body: &[u8]) -> Raw {
    let mut headers = MCP_HEADERS.to_vec();
    headers.extend_from_slice(extra);
    try_raw(addr, "POST", "/mcp", &headers, body, true)
        .await
        .unwrap_or_else(|e| panic!("POST /mcp: {e}"))
}

// ------------------------------------------------------------------------------ MCP client

pub async fn try_connect(url: &str, token: Option<&str>) -> Result<Client, String> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    match timeout(EXCHANGE, ().serve(transport)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(format!("initialize failed: {e}")),
        Err(_) => Err(format!("initialize took over {EXCHANGE:?}")),
    }
}

/// Like [`connect_from`], but an initialize that fails is an `Err` with its message.
pub async fn try_connect_from(url: &str, source: &str) -> Result<Client, String> {
    let http = reqwest::Client::builder()
        .local_address(source.parse::<std::net::IpAddr>().expect("source address"))
        .build()
        .expect("http client");
    let transport = StreamableHttpClientTransport::with_client(
        http,
        StreamableHttpClientTransportConfig::with_uri(url.to_string()),
    );
    match timeout(EXCHANGE, ().serve(transport)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(format!("initialize from {source} failed: {e}")),
        Err(_) => Err(format!("initialize from {source} took over {EXCHANGE:?}")),
    }
}

/// A client whose connections come from `source` (another loopback address: another client
/// for every per-client limit).
pub async fn connect_from(url: &str, source: &str) -> Client {
    let http = reqwest::Client::builder()
        .local_address(source.parse::<std::net::IpAddr>().expect("source address"))
        .build()
        .expect("http client");
    let transport = StreamableHttpClientTransport::with_client(
        http,
        StreamableHttpClientTransportConfig::with_uri(url.to_string()),
    );
    match timeout(EXCHANGE, ().serve(transport)).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => panic!("initialize from {source} failed: {e}"),
        Err(_) => panic!("initialize from {source} took over {EXCHANGE:?}"),
    }
}

pub async fn connect(url: &str, token: Option<&str>) -> Client {
    try_connect(url, token)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// One tools/call: the result as JSON (`isError`, `content`, `structuredContent`), or the
/// protocol error as text.
pub async fn try_call(
    client: &rmcp::service::Peer<RoleClient>,
    tool: &str,
    args: Value,
) -> Result<Value, String> {
    let params = CallToolRequestParams::new(tool.to_string())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    match timeout(EXCHANGE, client.call_tool(params)).await {
        Ok(Ok(result)) => Ok(serde_json::to_value(result).expect("result as JSON")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => panic!("{tool}: no answer within {EXCHANGE:?}"),
    }
}

/// Any client's peer will do (`&Client` derefs to one), whatever its handler.
pub async fn call(client: &rmcp::service::Peer<RoleClient>, tool: &str, args: Value) -> Value {
    try_call(client, tool, args)
        .await
        .unwrap_or_else(|e| panic!("{tool}: protocol error: {e}"))
}

/// The structured result of a call that must have succeeded.
pub fn ok(result: &Value) -> &Value {
    assert_ne!(result["isError"], json!(true), "expected success: {result}");
    &result["structuredContent"]
}

/// The text of a call that must have failed as a tool error.
pub fn error_text(result: &Value) -> String {
    assert_eq!(
        result["isError"],
        json!(true),
        "expected an error result: {result}"
    );
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no error text: {result}"))
        .to_string()
}

pub async fn import_text(client: &Client, id: &str, text: &str) -> Value {
    call(
        client,
        "import_score",
        json!({"score_id": id, "source": text, "source_type": "text"}),
    )
    .await
}

// ------------------------------------------------------------------------------ inputs

/// A one-part MusicXML score whose key signature has `fifths` sharps, in minor. Parsing costs
/// time linear in `fifths` (ENGINE-NOTES), with flat memory: 1e8 takes over 10 s here, 1e7
/// about 1.5 s. Only a config with a relaxed `limits.max_fifths` lets it through.
pub fn fifths_score(fifths: u64) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1">
  <part-list><score-part id="P1"><part-name>Music</part-name></score-part></part-list>
  <part id="P1">
    <measure number="1">
      <attributes><divisions>1</divisions><key><fifths>{fifths}</fifths><mode>minor</mode></key><time><beats>4</beats><beat-type>4</beat-type></time></attributes>
      <note><pitch><step>C</step><alter>1</alter><octave>4</octave></pitch><duration>1</duration><accidental>sharp</accidental></note>
      <note><pitch><step>D</step><octave>4</octave></pitch><duration>1</duration></note>
      <note><pitch><step>E</step><octave>4</octave></pitch><duration>2</duration></note>
    </measure>
  </part>
</score-partwise>
"#
    )
}

/// The score that hangs the parser (far longer than any deadline in these tests).
pub fn hanging_score() -> String {
    fifths_score(100_000_000)
}

pub const RELAXED_FIFTHS: &str = "[limits]\nmax_fifths = 1000000000\n";

// ------------------------------------------------------------------------------ processes and metrics

/// Whether `pid` is a live process (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    !music21_prod::sysmem::is_gone(pid)
}

/// Live children of `ppid`.
pub fn children_of(ppid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if parent == Some(ppid) && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// Polls `check` every 20 ms for up to `within`; true once it held.
pub async fn eventually<F: FnMut() -> bool>(within: Duration, mut check: F) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(20)).await;
    }
}

/// The value of the sample `name` whose labels include `labels`.
pub fn metric(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| *v)
}

/// The sum of every sample named `name`.
pub fn metric_sum(samples: &[Sample], name: &str) -> f64 {
    samples
        .iter()
        .filter(|(n, _, _)| n == name)
        .map(|(_, _, v)| v)
        .sum()
}

pub fn worker_pids(health: &Value) -> Vec<u32> {
    health["workers"]["slots"]
        .as_array()
        .expect("workers.slots")
        .iter()
        .filter_map(|s| s["pid"].as_u64().map(|p| p as u32))
        .collect()
}

/// Polls /health until `holds` says yes; returns that health. `what` names the wait.
pub async fn wait_health(
    server: &Server,
    within: Duration,
    what: &str,
    holds: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let health = server.health().await;
        if holds(&health) {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen within {within:?}: {health}"
        );
        sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until /health reports every worker up.
pub async fn wait_pool_whole(server: &Server, within: Duration) -> Value {
    wait_health(server, within, "pool whole", |health| {
        let (up, size) = (&health["workers"]["up"], &health["workers"]["size"]);
        up == size && size.as_u64().unwrap_or(0) > 0
    })
    .await
}

/// Waits until the memory sampler has reported `pressure` (normal, soft or hard).
pub async fn wait_memory_pressure(server: &Server, pressure: &str) {
    wait_health(server, HEAL, "memory sampled", |health| {
        health["memory"]["total_bytes"].as_u64().unwrap_or(0) > 0
            && health["memory"]["pressure"] == pressure
    })
    .await;
}
