//! Where samples come from: a small HTTP/1.1 GET (with the bearer token) to the server's
//! `/metrics` and `/health`, the stress run's `/status` (over HTTP or, in-process, from a
//! closure), and the machine's memory and CPU (sysinfo).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::monitor::sample::{ServerSample, StressInfo, SystemInfo};
use crate::wire::{Health, StressStatus};

/// Largest answer read (the metrics text of a server is a few tens of KB).
const MAX_BODY: u64 = 16 * 1024 * 1024;

/// An `http://host:port/prefix` URL, taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// The path, `/` when none.
    pub path: String,
}

/// Parses `http://127.0.0.1:8021`, `http://[::1]:8021/status`, `localhost:8021` (http only).
pub fn parse_url(url: &str) -> Result<Endpoint, String> {
    let url = url.trim();
    let rest = if let Some(r) = url.strip_prefix("http://") {
        r
    } else if url.starts_with("https://") {
        return Err(format!(
            "{url}: https is not supported; the server speaks plain HTTP on loopback"
        ));
    } else if url.contains("://") {
        return Err(format!("{url}: only http:// URLs are supported"));
    } else {
        url
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url}: unclosed [ in the host"))?;
        (host.to_string(), after.strip_prefix(':').unwrap_or(""))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (authority.to_string(), ""),
        }
    };
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let port = if port.is_empty() {
        80
    } else {
        port.parse()
            .map_err(|_| format!("{url}: `{port}` is not a port"))?
    };
    Ok(Endpoint {
        host,
        port,
        path: path.to_string(),
    })
}

/// `GET url` with an optional bearer token, bounded by `timeout`: the status code and body.
/// `Err` only when no HTTP answer came (refused, timed out, not HTTP).
pub async fn http_get(
    url: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let ep = parse_url(url)?;
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(|e| connect_error(&e))?;
        let host_header = if ep.host.contains(':') {
            format!("[{}]:{}", ep.host, ep.port)
        } else {
            format!("{}:{}", ep.host, ep.port)
        };
        let mut request = format!(
            "GET {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: music21-prod-monitor\r\nAccept: */*\r\nConnection: close\r\n",
            ep.path
        );
        if let Some(token) = token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        stream
            .take(MAX_BODY)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| e.to_string())?;
        parse_response(&buf)
    };
    match tokio::time::timeout(timeout, fetch).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {:.1} s", timeout.as_secs_f64())),
    }
}

fn connect_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        _ => e.to_string(),
    }
}

/// Splits a raw HTTP/1.1 response into status and body, undoing chunked encoding.
pub fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer is not HTTP (no header end)")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or("");
    if !status_line.starts_with("HTTP/") {
        return Err("the answer is not HTTP".into());
    }
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("the answer has no status code")?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return out;
        };
        rest = &rest[eol + 2..];
        if size == 0 || rest.len() < size {
            out.extend_from_slice(&rest[..size.min(rest.len())]);
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest[size..].strip_prefix(b"\r\n").unwrap_or(&rest[size..]);
    }
}

/// Where the stress run's status comes from.
#[derive(Clone)]
pub enum StressSource {
    /// No stress run is watched.
    None,
    /// `GET` this URL (ends in `/status`).
    Url(String),
    /// In-process (`stress --monitor`): the status JSON straight from the run.
    Embedded(Arc<dyn Fn() -> StressStatus + Send + Sync>),
}

/// Takes samples: one per [`Poller::poll`].
pub struct Poller {
    server: String,
    token: Option<String>,
    stress: StressSource,
    timeout: Duration,
    system: Option<sysinfo::System>,
    system_refreshed: bool,
}

impl Poller {
    pub fn new(
        server: &str,
        token: Option<String>,
        stress: StressSource,
        timeout: Duration,
    ) -> Self {
        Poller {
            server: server.trim().trim_end_matches('/').to_string(),
            token: token.filter(|t| !t.is_empty()),
            stress,
            timeout,
            system: sysinfo::System::new().ok(),
            system_refreshed: false,
        }
    }

    /// Reads the system figures once, so that the next sample has a CPU percentage (sysinfo
    /// needs two readings some 200 ms apart).
    pub fn prime(&mut self) {
        let _ = self.system();
    }

    fn system(&mut self) -> Option<SystemInfo> {
        let sys = self.system.as_mut()?;
        sys.refresh_memory();
        sys.refresh_cpu_usage();
        let cpu = self.system_refreshed.then(|| sys.global_cpu_usage());
        self.system_refreshed = true;
        Some(SystemInfo {
            total_bytes: sys.total_memory(),
            available_bytes: sys.available_memory(),
            cpu_percent: cpu,
            cpus: sys.cpus().len(),
        })
    }

    /// One sample: `/metrics`, `/health` and the stress status, fetched together.
    pub async fn poll(&mut self) -> ServerSample {
        let token = self.token.as_deref();
        let metrics_url = format!("{}/metrics", self.server);
        let health_url = format!("{}/health", self.server);
        let stress = async {
            match &self.stress {
                StressSource::None => None,
                StressSource::Url(url) => Some(match http_get(url, None, self.timeout).await {
                    Ok((200, body)) => match serde_json::from_str::<Value>(&body) {
                        Ok(v) => StressInfo::from_json(url, &v),
                        Err(e) => {
                            StressInfo::unreachable(url, format!("the status is not JSON: {e}"))
                        }
                    },
                    Ok((code, _)) => StressInfo::unreachable(url, format!("HTTP {code}")),
                    Err(e) => StressInfo::unreachable(url, e),
                }),
                StressSource::Embedded(f) => Some(StressInfo::from_status("in-process", f())),
            }
        };
        let (metrics, health, stress) = tokio::join!(
            http_get(&metrics_url, token, self.timeout),
            http_get(&health_url, token, self.timeout),
            stress
        );
        let mut sample = build(&self.server, metrics, health);
        sample.stress = stress;
        sample.system = self.system();
        sample
    }
}

/// A sample from the two answers (or failures) of the server.
pub fn build(
    url: &str,
    metrics: Result<(u16, String), String>,
    health: Result<(u16, String), String>,
) -> ServerSample {
    let mut notes = Vec::new();
    let mut describe = |what: &str, code: u16, body: &str| {
        let why = match code {
            401 => "missing or wrong bearer token (give --token or MUSIC21_PROD_TOKEN)".to_string(),
            403 => "refused (Host not allowed?)".to_string(),
            _ => serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or_default(),
        };
        notes.push(format!("{what}: HTTP {code} {why}").trim().to_string());
    };
    let metrics_text = match &metrics {
        Ok((200, body)) => Some(body.as_str()),
        Ok((code, body)) => {
            describe("/metrics", *code, body);
            None
        }
        Err(_) => None,
    };
    let health_json = match &health {
        Ok((200 | 503, body)) => match serde_json::from_str::<Health>(body) {
            Ok(v) => Some(v),
            Err(e) => {
                notes.push(format!("/health: not JSON ({e})"));
                None
            }
        },
        Ok((code, body)) => {
            describe("/health", *code, body);
            None
        }
        Err(_) => None,
    };
    match (&metrics, &health) {
        (Err(e), Err(_)) => ServerSample::unreachable(url, e.clone()),
        _ => {
            let mut sample = ServerSample::from_server(url, metrics_text, health_json.as_ref());
            sample.server.reachable = true;
            if let (Err(e), _) | (_, Err(e)) = (&metrics, &health) {
                notes.push(e.clone());
            }
            if !notes.is_empty() {
                sample.server.error = Some(notes.join("; "));
            }
            sample
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8021").unwrap(),
            Endpoint {
                host: "127.0.0.1".into(),
                port: 8021,
                path: "/".into()
            }
        );
        assert_eq!(
            parse_url("http://[::1]:9000/status").unwrap(),
            Endpoint {
                host: "::1".into(),
                port: 9000,
                path: "/status".into()
            }
        );
        assert_eq!(
            parse_url("localhost:8021/metrics").unwrap().path,
            "/metrics"
        );
        assert!(parse_url("https://x:1").is_err());
        assert!(parse_url("http://:1").is_err());
        assert!(parse_url("http://h:port").is_err());
    }

    #[test]
    fn responses_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        assert_eq!(parse_response(plain).unwrap(), (200, "ok".into()));
        let chunked = b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).unwrap(),
            (503, "hello world".into())
        );
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn builds_unreachable_and_unauthorized() {
        let s = build(
            "http://127.0.0.1:1",
            Err("connection refused".into()),
            Err("connection refused".into()),
        );
        assert!(!s.server.reachable);
        assert_eq!(s.server.error.as_deref(), Some("connection refused"));
        let s = build(
            "http://127.0.0.1:1",
            Ok((401, "{}".into())),
            Ok((401, "{}".into())),
        );
        assert!(s.server.reachable);
        assert!(s.server.error.unwrap().contains("bearer token"));
    }

    #[tokio::test]
    async fn polls_a_refusing_port_as_unreachable() {
        // Bind then drop: nothing listens on the port afterwards.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut poller = Poller::new(
            &format!("http://127.0.0.1:{port}"),
            None,
            StressSource::Embedded(Arc::new(|| StressStatus {
                phase: "load".into(),
                ..Default::default()
            })),
            Duration::from_millis(500),
        );
        let s = poller.poll().await;
        assert!(!s.server.reachable);
        assert_eq!(s.stress.unwrap().phase, "load");
    }

    #[tokio::test]
    async fn fetches_with_the_token_from_a_local_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = sock.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let body = "4\r\nup 1\r\n0\r\n\r\n";
            let answer = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
            sock.write_all(answer.as_bytes()).await.unwrap();
            req
        });
        let got = http_get(
            &format!("http://127.0.0.1:{port}/metrics"),
            Some("s3cret"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(got, (200, "up 1".into()));
        let req = server.await.unwrap();
        assert!(req.starts_with("GET /metrics HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("Authorization: Bearer s3cret\r\n"));
        assert!(req.contains(&format!("Host: 127.0.0.1:{port}\r\n")));
    }
}
