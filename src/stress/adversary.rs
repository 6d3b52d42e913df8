//! Hostile clients, beside the normal users: each runs for its window from an address of its
//! own, straight at the server, and keeps a tally of how the server answered it. Whether
//! the normal users noticed is measured by the users themselves (the fairness figures).
//!
//! Every adversary is bounded in count and time and speaks only to the loopback server.
//! "Refused" is what a protection should do (a 4xx, a 503 or 429 with `Retry-After`, a
//! JSON-RPC error, a tool error with a refusal code, a connection closed by the server);
//! "misbehaved" is what it must not: a 5xx, no answer, a crash, or a hostile input accepted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::stress::{firing_times, AdversaryAction, AdversaryEvent};
use crate::stress::client::{McpClient, Reply};
use crate::stress::ctx::RunCtx;
use crate::stress::results::AdversaryReport;
use crate::stress::synth;

/// One window of one adversary.
#[derive(Clone, Debug)]
pub struct Firing {
    pub index: usize,
    pub at: Duration,
    pub duration: Duration,
    pub action: AdversaryAction,
}

/// Expands `[[stress.adversaries]]` into windows within `run`, in time order.
pub fn plan(events: &[AdversaryEvent], run: Duration) -> Vec<Firing> {
    let mut out: Vec<Firing> = events
        .iter()
        .enumerate()
        .flat_map(|(index, e)| {
            firing_times(e.at, e.every, run).map(move |at| Firing {
                index,
                at,
                duration: e.duration.min(run - at),
                action: e.action.clone(),
            })
        })
        .collect();
    out.sort_by_key(|f| f.at);
    out
}

/// Runs every window at its time; returns when all are over or the run stops.
pub async fn run(ctx: Arc<RunCtx>, firings: Vec<Firing>) {
    let mut tasks = Vec::new();
    for firing in firings {
        let wait = firing.at.saturating_sub(ctx.start.elapsed());
        if ctx.sleep_or_stop(wait).await {
            break;
        }
        let ctx2 = ctx.clone();
        tasks.push(tokio::spawn(async move { fire(ctx2, firing).await }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Tallies shared by an adversary's tasks.
#[derive(Default)]
struct Tally {
    attempts: AtomicU64,
    refused: AtomicU64,
    served: AtomicU64,
    misbehaved: AtomicU64,
    samples: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }
    fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }
    fn served(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
    }
    fn misbehaved(&self, what: String) {
        self.misbehaved.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() < 5 {
            samples.push(what);
        }
    }
    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Everything an adversary's tasks need.
struct Attack {
    ctx: Arc<RunCtx>,
    source: std::net::IpAddr,
    until: Instant,
    tally: Tally,
}

impl Attack {
    fn over(&self) -> bool {
        Instant::now() >= self.until || self.ctx.stopping()
    }

    /// Sleeps `d`, or less if the window ends first; true when it is over.
    async fn pause(&self, d: Duration) -> bool {
        let left = self.until.saturating_duration_since(Instant::now());
        self.ctx.sleep_or_stop(d.min(left)).await || self.over()
    }

    fn server_addr(&self) -> std::net::SocketAddr {
        self.ctx.server.address()
    }

    async fn tcp(&self) -> std::io::Result<TcpStream> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(std::net::SocketAddr::new(self.source, 0))?;
        socket.connect(self.server_addr()).await
    }
}

async fn fire(ctx: Arc<RunCtx>, firing: Firing) {
    let kind = firing.action.name();
    let source = crate::stress::addresses::adversary(firing.index);
    let event = ctx
        .recorder
        .begin_event(kind, format!("{} from {source}", describe(&firing.action)));
    let window = ctx.adversary_windows.open(kind);
    let started = Instant::now();
    let attack = Arc::new(Attack {
        ctx: ctx.clone(),
        source,
        until: started + firing.duration,
        tally: Tally::default(),
    });
    let breakers_before = shared_breaker_opens(&ctx).await;
    let detail = match &firing.action {
        AdversaryAction::Slowloris { connections } => slowloris(&attack, *connections).await,
        AdversaryAction::ConnectionFlood { connections } => flood(&attack, *connections).await,
        AdversaryAction::SessionHog { sessions } => session_hog(&attack, *sessions).await,
        AdversaryAction::Greedy { concurrent, tool } => greedy(&attack, *concurrent, tool).await,
        AdversaryAction::Garbage { rate } => garbage(&attack, *rate).await,
        AdversaryAction::BigBodies { count, mb } => big_bodies(&attack, *count, *mb).await,
        AdversaryAction::ExportBomb { rate } => export_bomb(&attack, *rate).await,
    };
    if let (AdversaryAction::Garbage { .. }, Some(before)) = (&firing.action, breakers_before) {
        // Breakers everyone sees (the shared ones) opened while the garbage flowed; one
        // server's counters only, so a restart in between leaves it unmeasured.
        if let Some(after) = shared_breaker_opens(&ctx).await {
            if after.0 == before.0 {
                ctx.breakers_opened_by_garbage
                    .fetch_add(after.1.saturating_sub(before.1), Ordering::SeqCst);
            }
        }
    }
    let t = &attack.tally;
    let report = AdversaryReport {
        kind: kind.to_string(),
        source: source.to_string(),
        start_s: ctx.recorder.at_s(started),
        end_s: ctx.recorder.elapsed_s(),
        attempts: Tally::get(&t.attempts),
        refused: Tally::get(&t.refused),
        served: Tally::get(&t.served),
        misbehaved: Tally::get(&t.misbehaved),
        detail,
        samples: t.samples.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    };
    ctx.recorder.add_detail(
        event,
        &format!(
            "{} tried, {} refused, {} served, {} misbehaved; {}",
            report.attempts, report.refused, report.served, report.misbehaved, report.detail
        ),
    );
    // Answers still in flight when the window closes were made under it.
    ctx.adversary_windows.close(window, Duration::from_secs(1));
    ctx.recorder.end_event(event);
    ctx.adversary_reports
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(report);
}

fn describe(action: &AdversaryAction) -> String {
    match action {
        AdversaryAction::Slowloris { connections } => format!("{connections} slow connections"),
        AdversaryAction::ConnectionFlood { connections } => {
            format!("{connections} idle connections")
        }
        AdversaryAction::SessionHog { sessions } => format!("{sessions} idle sessions"),
        AdversaryAction::Greedy { concurrent, tool } => format!("{concurrent} x {tool}"),
        AdversaryAction::Garbage { rate } => format!("{rate}/s hostile requests"),
        AdversaryAction::BigBodies { count, mb } => format!("{count} x {mb} MB bodies"),
        AdversaryAction::ExportBomb { rate } => format!("{rate}/s export bombs"),
    }
}

/// (server generation, sum of the shared breakers' opened_total), from /health.
async fn shared_breaker_opens(ctx: &RunCtx) -> Option<(u64, u64)> {
    let generation = ctx.server.generation();
    let health = ctx.server.health().await?;
    let sum = health.breaker_opens();
    (ctx.server.generation() == generation).then_some((generation, sum))
}

/// Whether a connection has been closed by the other side (a read sees EOF or an error
/// at once), without blocking.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 256];
    match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut byte)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        // An answer (408, 503) is the server ending the exchange; the close follows.
        Ok(Ok(_)) => true,
        Err(_) => false,
    }
}

// ------------------------------------------------------------------ slowloris

async fn slowloris(a: &Arc<Attack>, connections: u32) -> String {
    let longest_ms = Arc::new(AtomicU64::new(0));
    let limit = a.ctx.server_config.server.connections.header_timeout_secs;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let a = a.clone();
        let longest = longest_ms.clone();
        tasks.push(tokio::spawn(async move {
            let head = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Slow: ";
            while !a.over() {
                a.tally.attempt();
                let Ok(mut s) = a.tcp().await else {
                    a.tally.refused();
                    if a.pause(Duration::from_millis(200)).await {
                        return;
                    }
                    continue;
                };
                let opened = Instant::now();
                let mut cut = false;
                for byte in head.iter().chain(std::iter::repeat(&b'a')) {
                    if s.write_all(&[*byte]).await.is_err() || closed_by_server(&mut s).await {
                        cut = true;
                        break;
                    }
                    if a.pause(Duration::from_secs(1)).await {
                        break;
                    }
                }
                let held = opened.elapsed();
                longest.fetch_max(held.as_millis() as u64, Ordering::Relaxed);
                if cut {
                    a.tally.refused();
                    // Cut off: fine, unless it took far longer than the header deadline.
                    if held.as_secs_f64() > 2.0 * limit + 3.0 {
                        a.tally.misbehaved(format!(
                            "a slow connection lived {:.1} s, past the header deadline of {limit} s",
                            held.as_secs_f64()
                        ));
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    format!(
        "longest slow connection {:.1} s (header deadline {limit} s)",
        longest_ms.load(Ordering::Relaxed) as f64 / 1000.0
    )
}

// ------------------------------------------------------------------ connection flood

async fn flood(a: &Arc<Attack>, connections: u32) -> String {
    let mut open: Vec<(TcpStream, Instant)> = Vec::new();
    let (mut cut_at_once, mut cut_later) = (0u64, 0u64);
    let mut peak = 0usize;
    while !a.over() {
        // Top up to `connections`, at most 500 new ones a round.
        let mut opened = 0;
        while open.len() < connections as usize && opened < 500 && !a.over() {
            a.tally.attempt();
            opened += 1;
            match a.tcp().await {
                Ok(mut s) => {
                    let _ = s.write_all(b"G").await;
                    open.push((s, Instant::now()));
                }
                Err(_) => a.tally.refused(),
            }
        }
        peak = peak.max(open.len());
        let mut kept = Vec::with_capacity(open.len());
        for (mut s, since) in open.drain(..) {
            if closed_by_server(&mut s).await {
                a.tally.refused();
                if since.elapsed() < Duration::from_millis(500) {
                    cut_at_once += 1;
                } else {
                    cut_later += 1;
                }
            } else {
                kept.push((s, since));
            }
        }
        open = kept;
        if a.pause(Duration::from_millis(250)).await {
            break;
        }
    }
    a.tally
        .served
        .fetch_add(open.len() as u64, Ordering::Relaxed);
    format!(
        "peak {peak} open; {cut_at_once} closed at once, {cut_later} at the header deadline, {} still open at the end",
        open.len()
    )
}

// ------------------------------------------------------------------ session hog

/// A raw `initialize` from this adversary's address: the answer's status and headers, and
/// the session it opened.
async fn initialize(a: &Attack) -> Option<(u16, String, Option<String>)> {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "adversary", "version": "1"}}
    })
    .to_string();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, headers) = exchange(a, head.as_bytes(), Duration::from_secs(10)).await?;
    let session = headers.lines().find_map(|l| {
        l.strip_prefix("mcp-session-id: ")
            .map(str::trim)
            .map(str::to_string)
    });
    Some((status, headers, session))
}

/// Sends `request` on a fresh connection from the adversary's address; the status and the
/// header block of the answer, None when there was none within `wait`.
async fn exchange(a: &Attack, request: &[u8], wait: Duration) -> Option<(u16, String)> {
    let talk = async {
        let mut s = a.tcp().await.ok()?;
        s.write_all(request).await.ok()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, text))
    };
    tokio::time::timeout(wait, talk).await.ok().flatten()
}

/// Sorts an HTTP status: refused as it should be, served, or misbehaving.
fn judge_status(t: &Tally, what: &str, answer: Option<(u16, String)>) {
    match answer {
        Some((200..=299, _)) => t.served(),
        Some((429 | 503, h)) if h.contains("retry-after") => t.refused(),
        Some((400..=499, _)) => t.refused(),
        Some((status, _)) => t.misbehaved(format!("{what}: HTTP {status}")),
        None => t.misbehaved(format!("{what}: no answer")),
    }
}

async fn session_hog(a: &Arc<Attack>, sessions: u32) -> String {
    let mut tasks = Vec::new();
    let per_task = sessions.div_ceil(8);
    for _ in 0..8 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_task {
                if a.over() {
                    return;
                }
                a.tally.attempt();
                let answer = initialize(&a).await;
                judge_status(&a.tally, "initialize", answer.map(|(s, h, _)| (s, h)));
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let held = a
        .ctx
        .server
        .health()
        .await
        .and_then(|h| h.sessions_of(&a.source.to_string()))
        .unwrap_or(0);
    // Keep the window full: the sessions stay open (idle) until it ends.
    let _ = a.pause(Duration::from_secs(3600)).await;
    format!("the server kept {held} of its sessions open")
}

// ------------------------------------------------------------------ greedy

async fn greedy(a: &Arc<Attack>, concurrent: u32, tool: &str) -> String {
    let url = a.ctx.server.mcp_url();
    let mut tasks = Vec::new();
    for i in 0..concurrent {
        let a = a.clone();
        let (url, tool) = (url.clone(), tool.to_string());
        tasks.push(tokio::spawn(async move {
            let mut client: Option<(McpClient, u64)> = None;
            // A score as large as a real long work: 4 parts of 300 measures.
            let spec = synth::SynthSpec {
                parts: 4,
                measures: 300,
                seed: 7000 + i as u64,
                ..synth::SynthSpec::default()
            };
            let text = synth::musicxml(&spec);
            let base = format!("greedy-{}-{i}", a.source);
            let mut have_base = false;
            while !a.over() {
                let generation = a.ctx.server.generation();
                if client.as_ref().is_none_or(|(c, g)| *g != generation || c.is_closed()) {
                    client = McpClient::connect_from(&url, a.source, Duration::from_secs(10))
                        .await
                        .ok()
                        .map(|c| (c, generation));
                    have_base = false;
                    if client.is_none() {
                        a.tally.attempt();
                        a.tally.refused();
                        if a.pause(Duration::from_millis(200)).await {
                            break;
                        }
                        continue;
                    }
                }
                let Some((c, _)) = &client else { continue };
                let import = json!({"score_id": base, "source": text, "source_type": "text", "replace": true});
                let (name, args) = if tool == "import_score" || !have_base {
                    ("import_score", import)
                } else {
                    (tool.as_str(), json!({"score_id": base}))
                };
                a.tally.attempt();
                let reply = c.call(name, args, Duration::from_secs(90)).await;
                match &reply {
                    Reply::Ok(_) => {
                        a.tally.served();
                        have_base = true;
                    }
                    r if r.is_expected_refusal() => {
                        a.tally.refused();
                        // A refused client waits a moment, as its Retry-After asks.
                        if a.pause(Duration::from_millis(100)).await {
                            break;
                        }
                    }
                    r => {
                        a.tally.misbehaved(format!("{name}: {}", r.describe()));
                        client = None;
                    }
                }
            }
            if let Some((c, _)) = client {
                c.close().await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    format!("{tool} on 4 x 300-measure scores, {concurrent} at a time")
}

// ------------------------------------------------------------------ garbage

/// A MusicXML document whose key signature would make the parser spin for many seconds,
/// written so that a byte-pattern guard would miss it: `variant` picks the disguise.
fn disguised_fifths(variant: usize) -> String {
    let fifths = match variant % 5 {
        0 => "<fifths >100000000</fifths>".to_string(),
        1 => "<fifths><![CDATA[100000000]]></fifths>".to_string(),
        2 => "<fifths>1<!-- -->00000000</fifths>".to_string(),
        3 => "<fifths>&#49;&#48;&#48;&#48;&#48;&#48;&#48;&#48;&#48;</fifths>".to_string(),
        _ => "<fifths\n>100000000</fifths\n>".to_string(),
    };
    format!(
        "<?xml version=\"1.0\"?><score-partwise version=\"3.1\"><part-list><score-part id=\"P1\"><part-name>x</part-name></score-part></part-list><part id=\"P1\"><measure number=\"1\"><attributes><divisions>1</divisions><key>{fifths}</key></attributes><note><pitch><step>C</step><octave>4</octave></pitch><duration>4</duration></note></measure></part></score-partwise>"
    )
}

/// Thousands of parts, each written so that a byte-pattern guard would not count it.
fn disguised_parts() -> String {
    let list: String = (0..3000)
        .map(|i| format!("<score-part\nid=\"P{i}\"><part-name>p</part-name></score-part>"))
        .collect();
    let parts: String = (0..3000)
        .map(|i| format!("<part id=\"P{i}\"><measure number=\"1\"><note><pitch><step>C</step><octave>4</octave></pitch><duration>1</duration></note></measure></part>"))
        .collect();
    format!("<score-partwise version=\"3.1\"><part-list>{list}</part-list>{parts}</score-partwise>")
}

/// Raw HTTP requests no client should send.
fn raw_garbage(i: usize, session: &str) -> (&'static str, Vec<u8>) {
    let post = |extra: &str, body: &[u8]| {
        let mut v = format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-06-18\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        v.extend_from_slice(body);
        v
    };
    match i % 8 {
        0 => (
            "broken JSON",
            post("", b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"),
        ),
        1 => ("a JSON array", post("", b"[1,2,3]")),
        2 => (
            "bad UTF-8",
            post(
                "",
                b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}",
            ),
        ),
        3 => (
            "an id that is an object",
            post(
                "",
                b"{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"tools/list\"}",
            ),
        ),
        4 => (
            "tools/call without a name",
            post(
                "",
                b"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{}}",
            ),
        ),
        5 => ("two Host headers", post("Host: evil.example\r\n", b"{}")),
        6 => (
            "an Origin with userinfo",
            post("Origin: http://localhost:80@evil.example\r\n", b"{}"),
        ),
        _ => ("a declared length of exabytes", {
            format!("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", u64::MAX / 4).into_bytes()
        }),
    }
}

/// Tool calls no client should make, and the refusal codes each may get.
fn call_garbage(i: usize) -> (&'static str, &'static str, Value) {
    match i % 9 {
        0 => (
            "semitones -2^63",
            "transpose_score",
            json!({"score_id": "g", "semitones": i64::MIN, "new_score_id": "g2"}),
        ),
        1 => (
            "interval P99999999999",
            "transpose_score",
            json!({"score_id": "g", "interval": "P99999999999", "new_score_id": "g2"}),
        ),
        2 => (
            "a score id with a newline",
            "score_info",
            json!({"score_id": "g\nINFO forged line"}),
        ),
        3 => (
            "an unknown argument",
            "list_scores",
            json!({"limit": 5, "bogus\u{0}": true}),
        ),
        4 => (
            "a limit of -1",
            "chord_analysis",
            json!({"score_id": "g", "limit": -1}),
        ),
        5 | 6 => (
            "a disguised huge key signature",
            "import_score",
            json!({"score_id": "gx", "source": disguised_fifths(i / 9 + i % 9), "source_type": "text", "replace": true}),
        ),
        7 => (
            "thousands of disguised parts",
            "import_score",
            json!({"score_id": "gp", "source": disguised_parts(), "source_type": "text", "replace": true}),
        ),
        _ => (
            "an ABC bomb of voices",
            "import_score",
            json!({"score_id": "gv", "source": format!("X:1\nK:C\n{}", (0..3000).map(|v| format!("V:{v}\nC|\n")).collect::<String>()), "source_type": "text", "replace": true}),
        ),
    }
}

async fn garbage(a: &Arc<Attack>, rate: f64) -> String {
    let every = Duration::from_secs_f64(1.0 / rate);
    let url = a.ctx.server.mcp_url();
    let mut client = McpClient::connect_from(&url, a.source, Duration::from_secs(10))
        .await
        .ok();
    let session = initialize(a)
        .await
        .and_then(|(_, _, s)| s)
        .unwrap_or_default();
    if let Some(c) = &client {
        let _ = c
            .call(
                "import_score",
                json!({"score_id": "g", "source": "tinyNotation: 4/4 c4 d e f", "replace": true}),
                Duration::from_secs(10),
            )
            .await;
    }
    let mut i = 0usize;
    let mut next = Instant::now();
    while !a.over() {
        a.tally.attempt();
        if i.is_multiple_of(2) {
            let (what, request) = raw_garbage(i / 2, &session);
            let answer = exchange(a, &request, Duration::from_secs(10)).await;
            // A refused body the server closed on before reading counts as refused too.
            let misaddressed = what.contains("Host") || what.contains("Origin");
            match answer {
                // Refused by closing before the body: clean.
                None if what.contains("exabytes") => a.tally.refused(),
                Some((200..=299, _)) if misaddressed => {
                    a.tally.misbehaved(format!("{what}: accepted"))
                }
                // Otherwise a 2xx carries a JSON-RPC error: a clean answer.
                Some((200..=299, _)) => a.tally.refused(),
                other => judge_status(&a.tally, what, other),
            }
        } else if let Some(c) = &client {
            let (what, tool, args) = call_garbage(i / 2);
            let reply = c.call(tool, args, Duration::from_secs(30)).await;
            match &reply {
                Reply::ToolError { code, .. }
                    if matches!(
                        code.as_str(),
                        "invalid_argument"
                            | "limit_exceeded"
                            | "parse_error"
                            | "not_found"
                            | "unsupported"
                    ) || reply.is_expected_refusal() =>
                {
                    a.tally.refused()
                }
                // An unknown-argument refusal may come as a protocol error.
                Reply::Transport { message, .. }
                    if message.contains("-32602") || message.contains("-32600") =>
                {
                    a.tally.refused()
                }
                r => {
                    a.tally.misbehaved(format!(
                        "{what}: {}",
                        crate::error::printable(&r.describe(), 200)
                    ));
                    if matches!(r, Reply::Transport { .. } | Reply::Timeout) {
                        client = McpClient::connect_from(&url, a.source, Duration::from_secs(10))
                            .await
                            .ok();
                    }
                }
            }
        }
        i += 1;
        next += every;
        if a.pause(next.saturating_duration_since(Instant::now()))
            .await
        {
            break;
        }
    }
    if let Some(c) = client {
        c.close().await;
    }
    format!("{} hostile requests", i)
}

// ------------------------------------------------------------------ big bodies

async fn big_bodies(a: &Arc<Attack>, count: u32, mb: u64) -> String {
    let session = initialize(a)
        .await
        .and_then(|(_, _, s)| s)
        .unwrap_or_default();
    let mut rounds = 0;
    let mut statuses: std::collections::BTreeMap<String, u64> = Default::default();
    while !a.over() {
        rounds += 1;
        let mut tasks = Vec::new();
        for i in 0..count {
            let a = a.clone();
            let session = session.clone();
            tasks.push(tokio::spawn(async move {
                a.tally.attempt();
                let answer = send_big_body(&a, &session, mb, i).await;
                let label = match &answer {
                    Some((s, _)) => s.to_string(),
                    None => "none".into(),
                };
                judge_status(&a.tally, "a big body", answer);
                label
            }));
        }
        for t in tasks {
            if let Ok(label) = t.await {
                *statuses.entry(label).or_insert(0) += 1;
            }
        }
        if a.pause(Duration::from_secs(1)).await {
            break;
        }
    }
    let seen: Vec<String> = statuses
        .iter()
        .map(|(s, n)| format!("{n} x HTTP {s}"))
        .collect();
    format!("{rounds} rounds: {}", seen.join(", "))
}

/// Streams a tools/call of `mb` MB (an import of base64 that decodes to nothing usable),
/// generating it as it goes so the harness holds none of it.
async fn send_big_body(a: &Attack, session: &str, mb: u64, i: u32) -> Option<(u16, String)> {
    let prefix = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"tools/call\",\"params\":{{\"name\":\"import_score\",\"arguments\":{{\"score_id\":\"big-{i}\",\"source_type\":\"base64\",\"source\":\"",
        100 + i
    );
    let suffix = "\"}}}";
    let total = (mb * 1024 * 1024).max((prefix.len() + suffix.len()) as u64 + 4);
    let filler = total - prefix.len() as u64 - suffix.len() as u64;
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-06-18\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n{prefix}"
    );
    let talk = async {
        let mut s = a.tcp().await.ok()?;
        s.write_all(head.as_bytes()).await.ok()?;
        let chunk = vec![b'A'; 64 * 1024];
        let mut left = filler;
        // The server may answer (413, 503) and close before the body is through.
        let mut early = false;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if s.write_all(&chunk[..n]).await.is_err() {
                early = true;
                break;
            }
            left -= n as u64;
        }
        if !early {
            let _ = s.write_all(suffix.as_bytes()).await;
        }
        let mut buf = Vec::new();
        let mut part = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
            let n = s.read(&mut part).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&part[..n]);
        }
        let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, text))
    };
    tokio::time::timeout(Duration::from_secs(60), talk)
        .await
        .ok()
        .flatten()
}

// ------------------------------------------------------------------ export bomb

async fn export_bomb(a: &Arc<Attack>, rate: f64) -> String {
    let url = a.ctx.server.mcp_url();
    let Ok(client) = McpClient::connect_from(&url, a.source, Duration::from_secs(10)).await else {
        a.tally.attempt();
        a.tally.misbehaved("could not open a session".into());
        return "no session".into();
    };
    let id = format!("bomb-{}", a.source);
    let bomb = "X:1\nM:1/16\nL:1/1\nK:C\nc999 d999 e999|\n";
    let _ = client
        .call(
            "import_score",
            json!({"score_id": id, "source": bomb, "source_type": "text", "replace": true}),
            Duration::from_secs(30),
        )
        .await;
    let every = Duration::from_secs_f64(1.0 / rate);
    let mut next = Instant::now();
    let mut largest = 0u64;
    while !a.over() {
        a.tally.attempt();
        let reply = client
            .call(
                "export_score",
                json!({"score_id": id, "format": "musicxml"}),
                Duration::from_secs(30),
            )
            .await;
        match &reply {
            Reply::ToolError { code, .. } if code == "limit_exceeded" => a.tally.refused(),
            r if r.is_expected_refusal() => a.tally.refused(),
            Reply::Ok(v) => {
                let bytes = v.get("bytes").and_then(Value::as_u64).unwrap_or(0);
                largest = largest.max(bytes);
                a.tally
                    .misbehaved(format!("an export bomb was served: {bytes} bytes"));
            }
            r => a.tally.misbehaved(format!("export: {}", r.describe())),
        }
        next += every;
        if a.pause(next.saturating_duration_since(Instant::now()))
            .await
        {
            break;
        }
    }
    client.close().await;
    if largest > 0 {
        format!("largest export served {largest} bytes")
    } else {
        "every export refused before it was written".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_expands_windows_within_the_run() {
        let events = vec![AdversaryEvent {
            at: Duration::from_secs(10),
            duration: Duration::from_secs(8),
            every: Some(Duration::from_secs(30)),
            action: AdversaryAction::Garbage { rate: 5.0 },
        }];
        let p = plan(&events, Duration::from_secs(75));
        let at: Vec<u64> = p.iter().map(|f| f.at.as_secs()).collect();
        assert_eq!(at, vec![10, 40, 70]);
        assert_eq!(
            p[2].duration,
            Duration::from_secs(5),
            "cut at the end of the run"
        );
    }

    #[test]
    fn every_disguise_still_names_a_huge_key() {
        for v in 0..5 {
            let doc = disguised_fifths(v);
            assert!(doc.contains("fifths"), "{doc}");
            assert!(
                !doc.contains("<fifths>100000000</fifths>"),
                "variant {v} is not disguised"
            );
        }
        assert!(disguised_parts().matches("<score-part\n").count() == 3000);
    }
}
