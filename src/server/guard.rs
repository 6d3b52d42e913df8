//! The first check of every request: is it addressed to us (Host, request target), from a
//! page we trust (Origin), and by whom (the bearer token, else the address)?
//!
//! Each check runs on what the HTTP layer parsed, not on byte patterns: `Origin` is parsed
//! as a URL and compared by scheme, host and port (so `http://localhost:80@evil.example` is
//! `evil.example`, and refused); a header that is not valid text is refused, not skipped;
//! two `Host` headers, or an absolute-form target naming another host, are refused.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::server::clients::ClientId;
use crate::server::state::AppState;

/// Host names accepted in `Host`: loopback names, the bind address, and configured extras.
pub fn allowed_hosts(bind: &str, extra: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1", "[::1]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    hosts.push(bind.to_string());
    if bind.contains(':') {
        hosts.push(format!("[{bind}]"));
    }
    hosts.extend(extra.iter().cloned());
    hosts
}

/// The host of an authority (`host`, `host:port`, `[v6]:port`).
pub fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest
            .split(']')
            .next()
            .map(|h| &authority[..h.len() + 2])
            .unwrap_or(authority);
    }
    authority
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(authority)
}

/// Constant-time comparison of two byte strings (length is not hidden).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON-RPC error body with `id: null`, for refusals before any request was read.
pub fn refuse(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32000, "message": message}
    });
    (status, Json(body)).into_response()
}

/// An origin as a browser sends it: scheme, host, port (the scheme's default if unsaid).
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: url::Host<String>,
    port: Option<u16>,
}

/// Parses an `Origin` value; None when it is not exactly `scheme://host[:port]`.
fn parse_origin(value: &str) -> Option<Origin> {
    let url = url::Url::parse(value).ok()?;
    let plain = url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        // An origin has no path, not even "/": only scheme://host[:port].
        && !value.trim_end_matches('/').contains(['?', '#'])
        && value.matches('/').count() == 2;
    if !plain || !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    Some(Origin {
        scheme: url.scheme().to_string(),
        host: url.host()?.to_owned(),
        port: url.port_or_known_default(),
    })
}

fn is_loopback(host: &url::Host<String>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Whether a request with this `Origin` may go on: loopback pages, and the configured ones
/// (compared as origins, so `https://app.example.com` and `https://app.example.com:443` are
/// one).
fn origin_allowed(value: &str, allowed: &[String]) -> bool {
    let Some(origin) = parse_origin(value) else {
        return false;
    };
    is_loopback(&origin.host)
        || allowed
            .iter()
            .filter_map(|a| parse_origin(a))
            .any(|a| a == origin)
}

/// Why a request is not addressed to this server, if it is not.
fn misaddressed(request: &Request<Body>, allowed_hosts: &[String]) -> Option<(StatusCode, String)> {
    let hosts: Vec<&HeaderValue> = request.headers().get_all(header::HOST).iter().collect();
    if hosts.len() > 1 {
        return Some((
            StatusCode::BAD_REQUEST,
            "the request has more than one Host header".into(),
        ));
    }
    let host = match hosts.first().map(|h| h.to_str()) {
        Some(Ok(h)) => h,
        Some(Err(_)) => {
            return Some((
                StatusCode::BAD_REQUEST,
                "the Host header is not valid text".into(),
            ))
        }
        None => "",
    };
    let name = host_of(host);
    if !allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        return Some((
            StatusCode::FORBIDDEN,
            format!(
                "Host '{}' is not allowed (DNS rebinding protection); add it to server.allowed_hosts",
                crate::error::printable(name, 100)
            ),
        ));
    }
    // An absolute-form target (`POST http://other/mcp`) must name the host the Host header
    // names; a proxy-style request for someone else is not ours to answer.
    if let Some(authority) = request.uri().authority() {
        if !host_of(authority.as_str()).eq_ignore_ascii_case(name) {
            return Some((
                StatusCode::BAD_REQUEST,
                "the request target names another host than the Host header".into(),
            ));
        }
    }
    None
}

/// Which client presented which token: a named client token, the shared token, or none.
enum Presented {
    Named(String),
    Shared,
    Missing,
}

fn presented_token(headers: &HeaderMap, state: &AppState) -> Presented {
    let config = &state.dispatcher.config.server;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Every candidate is compared, so the time taken says nothing about which one matched.
    let mut found = Presented::Missing;
    for (name, token) in &config.client_tokens {
        if constant_time_eq(given.as_bytes(), token.as_bytes()) {
            found = Presented::Named(name.clone());
        }
    }
    if let Some(token) = config.token.as_deref() {
        if constant_time_eq(given.as_bytes(), token.as_bytes())
            && matches!(found, Presented::Missing)
        {
            found = Presented::Shared;
        }
    }
    found
}

/// Host and Origin checks (DNS rebinding), then the bearer token; names the client.
pub async fn guard(
    State(state): State<Arc<AppState>>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    if let Some((status, message)) = misaddressed(&request, &state.allowed_hosts) {
        return refuse(status, &message);
    }
    let origins: Vec<&HeaderValue> = request.headers().get_all(header::ORIGIN).iter().collect();
    if origins.len() > 1 {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the request has more than one Origin header",
        );
    }
    if let Some(origin) = origins.first() {
        let allowed = &state.dispatcher.config.server.allowed_origins;
        match origin.to_str() {
            Ok(o) if origin_allowed(o, allowed) => {}
            Ok(o) => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    &format!(
                        "Origin '{}' is not allowed; add it to server.allowed_origins",
                        crate::error::printable(o, 100)
                    ),
                )
            }
            Err(_) => return refuse(StatusCode::FORBIDDEN, "the Origin header is not valid text"),
        }
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let peer = crate::server::clients::client_address(
        peer,
        request.headers(),
        &state.connections.trusted_proxies,
    );
    let path = request.uri().path();
    let needs_token = !matches!(path, "/livez" | "/readyz");
    let config = &state.dispatcher.config.server;
    let tokens_set = config.token.is_some() || !config.client_tokens.is_empty();
    let client = match presented_token(request.headers(), &state) {
        Presented::Named(name) => ClientId::named(&name),
        Presented::Shared => ClientId::from_ip(peer),
        Presented::Missing if needs_token && tokens_set => {
            let mut response = refuse(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (send Authorization: Bearer <token>)",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
        Presented::Missing => ClientId::from_ip(peer),
    };
    request.extensions_mut().insert(client);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_parsing_and_comparison() {
        assert_eq!(host_of("127.0.0.1:8021"), "127.0.0.1");
        assert_eq!(host_of("[::1]:8021"), "[::1]");
        assert_eq!(host_of("localhost"), "localhost");
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }

    #[test]
    fn origins_are_compared_as_urls() {
        let none: Vec<String> = Vec::new();
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "https://[::1]:8443",
            "http://127.1.2.3:9",
        ] {
            assert!(origin_allowed(ok, &none), "{ok}");
        }
        for bad in [
            "http://localhost:80@evil.example",
            "http://localhost@evil.example",
            "http://evil.example",
            "http://localhost.evil.example",
            "null",
            "file://localhost",
            "http://localhost/path",
            "http://localhost?x",
            "localhost",
            "",
        ] {
            assert!(!origin_allowed(bad, &none), "{bad}");
        }
        let allowed = vec!["https://app.example.com".to_string()];
        assert!(origin_allowed("https://app.example.com:443", &allowed));
        assert!(
            !origin_allowed("http://app.example.com", &allowed),
            "scheme differs"
        );
        assert!(
            !origin_allowed("https://app.example.com:8443", &allowed),
            "port differs"
        );
    }
}
