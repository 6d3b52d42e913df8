//! Who a client is, and the MCP sessions each client holds.
//!
//! Every per-client limit (rate, sessions, connections, workers, queue slots, large bodies,
//! breakers) is keyed by a [`ClientId`]: the name of the client's token when it presents a
//! named one (`server.client_tokens`), else its address — an IPv4 address, or the /64 of an
//! IPv6 address (one host is usually given a whole /64, so keying by the full address would
//! hand an attacker 2^64 identities). Sessions are not identities: one client opening eight
//! sessions is still one client.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::SessionManager;

/// One client, as every per-client limit sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(Arc<str>);

impl ClientId {
    /// The client at `ip` (its /64 for IPv6, unless it is an IPv4-mapped address).
    pub fn from_ip(ip: IpAddr) -> Self {
        let text = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None if v6.is_loopback() => "::1".to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
        };
        Self(Arc::from(text))
    }

    /// The client that presented the named token `name`.
    pub fn named(name: &str) -> Self {
        Self(Arc::from(format!("token:{name}")))
    }

    /// The one local client of `serve --stdio`.
    pub fn stdio() -> Self {
        Self(Arc::from("stdio"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The client's own address: the peer's, or, when the peer is a trusted reverse proxy, the
/// last address in `X-Forwarded-For` that is not itself a trusted proxy. Only the proxy's
/// own (last) header line counts: anything a client sends is further left, and a forged
/// value names at most a client that is not the sender's proxy.
pub fn client_address(
    peer: IpAddr,
    headers: &http::HeaderMap,
    trusted: &[crate::config::net::IpBlock],
) -> IpAddr {
    if !trusted.iter().any(|b| b.contains(peer)) {
        return peer;
    }
    let Some(last) = headers.get_all("x-forwarded-for").iter().next_back() else {
        return peer;
    };
    let Ok(text) = last.to_str() else {
        return peer;
    };
    for hop in text.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted.iter().any(|b| b.contains(ip)) => continue,
            Ok(ip) => return ip,
            // A hop that is not an address: trust nothing further left.
            Err(_) => return peer,
        }
    }
    peer
}

/// Whether connections from `peer` come from a trusted proxy (and so from many clients).
pub fn is_trusted_proxy(peer: IpAddr, trusted: &[crate::config::net::IpBlock]) -> bool {
    trusted.iter().any(|b| b.contains(peer))
}

/// Why a new session was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionRefusal {
    /// The client holds `held` sessions, its maximum, and every one is busy.
    ClientFull { held: usize, max: usize },
    /// The server holds `max` sessions and none could be closed to make room.
    ServerFull { max: usize },
}

#[derive(Debug)]
struct Entry {
    client: ClientId,
    last_used: Instant,
    /// POSTs of this session being answered now.
    busy: usize,
}

/// The sessions of every client, beside rmcp's own session table (which knows no clients).
pub struct Sessions {
    manager: Arc<LocalSessionManager>,
    entries: Mutex<HashMap<String, Entry>>,
    /// Sessions being opened now (initialize in flight), per client.
    opening: Mutex<HashMap<ClientId, usize>>,
    per_client_max: usize,
    max: usize,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Marks a session busy while one of its requests is answered.
pub struct SessionUse {
    sessions: Arc<Sessions>,
    id: String,
}

impl Drop for SessionUse {
    fn drop(&mut self) {
        if let Some(e) = self.sessions.lock().get_mut(&self.id) {
            e.busy = e.busy.saturating_sub(1);
            e.last_used = Instant::now();
        }
    }
}

/// Holds a place for a session being opened, until it is registered or fails.
pub struct Opening {
    sessions: Arc<Sessions>,
    client: ClientId,
}

impl Drop for Opening {
    fn drop(&mut self) {
        let mut opening = self
            .sessions
            .opening
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = opening.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                opening.remove(&self.client);
            }
        }
    }
}

impl Sessions {
    pub fn new(
        manager: Arc<LocalSessionManager>,
        per_client_max: usize,
        max: usize,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            manager,
            entries: Mutex::new(HashMap::new()),
            opening: Mutex::new(HashMap::new()),
            per_client_max: per_client_max.max(1),
            max: max.max(1),
            metrics,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Live sessions (as rmcp counts them).
    pub async fn live(&self) -> usize {
        self.manager.sessions.read().await.len()
    }

    /// Whether rmcp holds this session now (it was not closed, expired or never opened).
    pub async fn exists(&self, id: &str) -> bool {
        self.manager.sessions.read().await.contains_key(id)
    }

    /// Sessions per client, most first.
    pub fn per_client(&self) -> Vec<(String, usize)> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let entries = self.lock();
        for e in entries.values() {
            *counts.entry(e.client.as_str()).or_insert(0) += 1;
        }
        let mut out: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(c, n)| (c.to_string(), n))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// Forgets entries whose session rmcp has closed (idle expiry, DELETE).
    async fn prune(&self) {
        let live: std::collections::HashSet<String> = self
            .manager
            .sessions
            .read()
            .await
            .keys()
            .map(|k| k.to_string())
            .collect();
        self.lock().retain(|id, _| live.contains(id));
    }

    /// Makes room for a new session of `client`: past its own cap its least recently used
    /// idle session is closed; when the server is full, the least recently used idle session
    /// of the client holding the most is. Refuses when no idle session can go.
    pub async fn open(self: &Arc<Self>, client: &ClientId) -> Result<Opening, SessionRefusal> {
        self.prune().await;
        let opening_now = {
            let mut opening = self.opening.lock().unwrap_or_else(|p| p.into_inner());
            let n = opening.entry(client.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let place = Opening {
            sessions: self.clone(),
            client: client.clone(),
        };
        let held = self.lock().values().filter(|e| &e.client == client).count();
        if held + opening_now > self.per_client_max {
            match self.oldest_idle(Some(client)) {
                Some(id) => {
                    self.metrics
                        .sessions_evicted
                        .with_label_values(&["client"])
                        .inc();
                    self.close(&id, "the client is at its session cap").await
                }
                None => {
                    return Err(SessionRefusal::ClientFull {
                        held,
                        max: self.per_client_max,
                    })
                }
            }
        }
        let opening_all: usize = self
            .opening
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum();
        if self.live().await + opening_all > self.max {
            let hog = self
                .per_client()
                .into_iter()
                .find(|(_, n)| *n > 1)
                .map(|(c, _)| c);
            let victim = hog.and_then(|hog| {
                let entries = self.lock();
                let hog_client = entries
                    .values()
                    .find(|e| e.client.as_str() == hog)?
                    .client
                    .clone();
                drop(entries);
                self.oldest_idle(Some(&hog_client))
            });
            match victim {
                Some(id) => {
                    self.metrics
                        .sessions_evicted
                        .with_label_values(&["server"])
                        .inc();
                    self.close(&id, "the server is at its session cap").await
                }
                None => return Err(SessionRefusal::ServerFull { max: self.max }),
            }
        }
        Ok(place)
    }

    fn oldest_idle(&self, client: Option<&ClientId>) -> Option<String> {
        self.lock()
            .iter()
            .filter(|(_, e)| e.busy == 0 && client.is_none_or(|c| &e.client == c))
            .min_by_key(|(_, e)| e.last_used)
            .map(|(id, _)| id.clone())
    }

    async fn close(&self, id: &str, why: &str) {
        let client = self.lock().remove(id).map(|e| e.client);
        let session_id: rmcp::transport::streamable_http_server::SessionId = Arc::from(id);
        let _ = self.manager.close_session(&session_id).await;
        tracing::info!(
            session = %crate::error::printable(id, 64),
            client = %client.map(|c| c.to_string()).unwrap_or_default(),
            why,
            "closed the least recently used idle session to make room"
        );
    }

    /// Records the session rmcp opened for `client`.
    pub fn register(&self, id: &str, client: &ClientId) {
        self.lock().insert(
            id.to_string(),
            Entry {
                client: client.clone(),
                last_used: Instant::now(),
                busy: 0,
            },
        );
    }

    /// Marks a session busy for one request. A session unknown here (opened before a restart
    /// of this table, or by a request that raced) is adopted by the client using it.
    pub fn begin(self: &Arc<Self>, id: &str, client: &ClientId) -> SessionUse {
        {
            let mut entries = self.lock();
            let entry = entries.entry(id.to_string()).or_insert_with(|| Entry {
                client: client.clone(),
                last_used: Instant::now(),
                busy: 0,
            });
            entry.busy += 1;
            entry.last_used = Instant::now();
        }
        SessionUse {
            sessions: self.clone(),
            id: id.to_string(),
        }
    }

    pub fn per_client_max(&self) -> usize {
        self.per_client_max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_addresses_or_token_names() {
        let v4: IpAddr = "127.0.0.5".parse().unwrap();
        assert_eq!(ClientId::from_ip(v4).as_str(), "127.0.0.5");
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(
            ClientId::from_ip(a),
            ClientId::from_ip(b),
            "one /64, one client"
        );
        assert_eq!(ClientId::from_ip(a).as_str(), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(ClientId::from_ip(mapped).as_str(), "10.1.2.3");
        assert_eq!(ClientId::named("alice").as_str(), "token:alice");
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        use crate::config::net::IpBlock;
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let trusted = [IpBlock::parse("127.0.0.1/32").unwrap()];
        let mut headers = http::HeaderMap::new();
        headers.append("x-forwarded-for", "6.6.6.6".parse().unwrap());
        headers.append("x-forwarded-for", "10.0.0.9, 127.0.0.1".parse().unwrap());
        // The proxy's own line, rightmost hop that is not the proxy.
        assert_eq!(
            client_address(proxy, &headers, &trusted),
            "10.0.0.9".parse::<IpAddr>().unwrap()
        );
        // From anyone else the header is ignored.
        let other: IpAddr = "10.0.0.7".parse().unwrap();
        assert_eq!(client_address(other, &headers, &trusted), other);
        // No proxies configured: ignored too.
        assert_eq!(client_address(proxy, &headers, &[]), proxy);
        let mut junk = http::HeaderMap::new();
        junk.append("x-forwarded-for", "not-an-address".parse().unwrap());
        assert_eq!(client_address(proxy, &junk, &trusted), proxy);
    }
}
