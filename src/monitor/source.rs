//! Where samples come from: GETs (reqwest, with the bearer token) of the server's `/metrics`
//! and `/health` and of the stress run's `/status` (or, in-process, a closure), and the
//! machine's memory and CPU (sysinfo).

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use crate::monitor::sample::{ServerSample, StressInfo, SystemInfo};
use crate::wire::{Health, StressStatus};

/// Largest answer read (the metrics text of a server is a few tens of KB).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Parses `http://127.0.0.1:8021`, `http://[::1]:8021/status`, `localhost:8021` (http only:
/// the binary has no TLS, and the server speaks plain HTTP).
pub fn parse_url(text: &str) -> Result<Url, String> {
    let text = text.trim();
    let full = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    let url = Url::parse(&full).map_err(|e| format!("{text}: {e}"))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(format!(
                "{text}: https is not supported; the server speaks plain HTTP on loopback"
            ))
        }
        _ => return Err(format!("{text}: only http:// URLs are supported")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text}: no host"));
    }
    Ok(url)
}

/// The HTTP client of the dashboard.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .user_agent("music21-prod-monitor")
        // The dashboard watches the address it was given; a proxy from the environment would
        // answer for it.
        .no_proxy()
        // The server closes idle keep-alive connections after its header timeout; a poll that
        // raced that close would fail, so every poll connects afresh.
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

/// `GET url` with an optional bearer token, bounded by `timeout`: the status code and body.
/// `Err` only when no HTTP answer came (refused, timed out, not HTTP).
pub async fn http_get(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let url = parse_url(url)?;
    let fetch = async {
        let mut request = client.get(url.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let mut response = request.send().await.map_err(|e| describe(&e, &url))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e, &url))? {
            let room = MAX_BODY - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() == MAX_BODY {
                break;
            }
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    match tokio::time::timeout(timeout, fetch).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {:.1} s", timeout.as_secs_f64())),
    }
}

/// A failed request in words an operator can act on: reqwest's own message names only the
/// URL, its causes say what went wrong.
fn describe(e: &reqwest::Error, url: &Url) -> String {
    let mut causes = Vec::new();
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return format!(
                    "connection refused at {url}: nothing listens there; is it running, and is that its address?"
                );
            }
        }
        causes.push(cause.to_string());
        source = cause.source();
    }
    let why = if causes.is_empty() {
        e.to_string()
    } else {
        causes.join(": ")
    };
    if e.is_connect() {
        format!("cannot connect to {url}: {why}")
    } else {
        format!("{url}: {why}")
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
    /// The HTTP client, or why there is none (every fetch then fails with that).
    http: Result<reqwest::Client, String>,
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
            http: client(),
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

    async fn get(&self, url: &str, token: Option<&str>) -> Result<(u16, String), String> {
        match &self.http {
            Ok(client) => http_get(client, url, token, self.timeout).await,
            Err(e) => Err(e.clone()),
        }
    }

    /// One sample: `/metrics`, `/health` and the stress status, fetched together.
    pub async fn poll(&mut self) -> ServerSample {
        let token = self.token.as_deref();
        let metrics_url = format!("{}/metrics", self.server);
        let health_url = format!("{}/health", self.server);
        let stress = async {
            match &self.stress {
                StressSource::None => None,
                StressSource::Url(url) => Some(match self.get(url, None).await {
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
            self.get(&metrics_url, token),
            self.get(&health_url, token),
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn urls() {
        let url = parse_url("http://127.0.0.1:8021").unwrap();
        assert_eq!(
            (url.host_str(), url.port_or_known_default(), url.path()),
            (Some("127.0.0.1"), Some(8021), "/")
        );
        let url = parse_url("http://[::1]:9000/status").unwrap();
        assert_eq!(
            (url.host_str(), url.port_or_known_default(), url.path()),
            (Some("[::1]"), Some(9000), "/status")
        );
        assert_eq!(
            parse_url("localhost:8021/metrics").unwrap().path(),
            "/metrics"
        );
        assert_eq!(
            parse_url("http://localhost")
                .unwrap()
                .port_or_known_default(),
            Some(80)
        );
        assert!(parse_url("https://x:1")
            .unwrap_err()
            .contains("https is not supported"));
        assert!(parse_url("ftp://x:1").unwrap_err().contains("only http://"));
        assert!(parse_url("http://:1").is_err());
        assert!(parse_url("http://h:port").is_err());
    }

    /// Serves one connection with `answer` and returns what the client sent.
    async fn answer_once(answer: &'static str) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = sock.read(&mut buf).await.unwrap();
            sock.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        });
        (port, server)
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
        let error = s.server.error.unwrap();
        assert!(
            error.starts_with("connection refused at http://127.0.0.1:")
                && error.contains("/metrics"),
            "{error}"
        );
        assert_eq!(s.stress.unwrap().phase, "load");
    }

    #[tokio::test]
    async fn fetches_with_the_token_from_a_local_listener() {
        let (port, server) = answer_once(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nup 1\r\n0\r\n\r\n",
        )
        .await;
        let got = http_get(
            &client().unwrap(),
            &format!("http://127.0.0.1:{port}/metrics"),
            Some("s3cret"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(got, (200, "up 1".into()));
        let req = server.await.unwrap().to_ascii_lowercase();
        assert!(req.starts_with("get /metrics http/1.1\r\n"), "{req}");
        assert!(req.contains("authorization: bearer s3cret\r\n"), "{req}");
        assert!(
            req.contains(&format!("host: 127.0.0.1:{port}\r\n")),
            "{req}"
        );
    }

    #[tokio::test]
    async fn an_error_status_is_an_answer_and_garbage_is_not() {
        let (port, _server) = answer_once(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 11\r\nConnection: close\r\n\r\nnot ready\r\n",
        )
        .await;
        let url = format!("http://127.0.0.1:{port}/health");
        let got = http_get(&client().unwrap(), &url, None, Duration::from_secs(5)).await;
        assert_eq!(got, Ok((503, "not ready\r\n".into())));
        let (port, _server) = answer_once("SSH-2.0-OpenSSH\r\n\r\n").await;
        let url = format!("http://127.0.0.1:{port}/health");
        let got = http_get(&client().unwrap(), &url, None, Duration::from_secs(5)).await;
        assert!(got.as_ref().is_err_and(|e| e.contains(&url)), "{got:?}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let got = http_get(&client().unwrap(), &url, None, Duration::from_millis(300)).await;
        assert_eq!(got, Err("no answer within 0.3 s".into()));
        drop(listener);
    }
}
