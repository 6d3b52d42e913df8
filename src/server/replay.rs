//! Resumable answers (MCP's "resumability and redelivery"): every event the server sends on
//! an SSE stream is kept for a while, so a client whose stream dropped reconnects with
//! `GET /mcp` and `Last-Event-ID` and gets what it missed, the answer of its call included.
//!
//! rmcp 3.11 keeps a stream's events only until its answer is sent, so a reconnect after
//! the call finished found nothing ("Resume failed ... Channel closed"). `ReplayStore` is
//! the event store rmcp hands every event to; `ResumableSessions` wraps rmcp's session
//! manager to tie each stream to its session (a replay is refused to another session, and
//! each session's share of the store is bounded) and to the call's `Listeners` (a replay
//! in progress counts as someone waiting for the answer, so the call is not stopped as
//! abandoned).
//!
//! Bounds: events per stream, bytes per session, bytes in all; finished streams expire
//! `retention_secs` after their last event. Event ids are `<128 unguessable bits>_<n>`: a
//! client cannot name another stream's events.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use rmcp::model::{ClientJsonRpcMessage, GetExtensions, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, SessionError,
};
use rmcp::transport::streamable_http_server::session::store::{
    EventId, EventStore, EventStoreError, EventStream,
};
use rmcp::transport::streamable_http_server::session::ServerSseMessage;
use rmcp::transport::streamable_http_server::{RestoreOutcome, SessionId, SessionManager};
use tokio::sync::{watch, Notify};

use crate::config::ReplayConfig;
use crate::metrics::Metrics;

/// In a `tools/call`'s request extensions (put there by `admit`): who listens for its
/// answer. When its client disconnects before the answer and does not resume the stream
/// within `server.replay.hangup_grace_secs`, the call is stopped as if cancelled
/// (`McpHandler::call_tool`).
#[derive(Clone, Debug)]
pub struct ClientGone(pub Listeners);

/// Who is waiting for a `tools/call`'s answer: the POST's own response stream, and any
/// replay of it. When nobody has been for the grace period, the call is abandoned.
#[derive(Clone, Debug)]
pub struct Listeners(Arc<watch::Sender<usize>>);

/// One listener; dropping it ends its interest.
#[derive(Debug)]
pub struct Listening(Arc<watch::Sender<usize>>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Listeners {
    /// Nobody listening yet; the POST's response joins with `listen`.
    pub fn new() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }

    pub fn listen(&self) -> Listening {
        self.0.send_modify(|n| *n += 1);
        Listening(self.0.clone())
    }

    /// Completes once nobody has listened for `grace` in a row (at once for a zero grace).
    pub async fn abandoned(&self, grace: Duration) {
        let mut seen = self.0.subscribe();
        loop {
            if seen.wait_for(|n| *n == 0).await.is_err() {
                return;
            }
            if grace.is_zero() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(grace) => return,
                back = seen.wait_for(|n| *n > 0) => {
                    if back.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

impl Default for Listeners {
    fn default() -> Self {
        Self::new()
    }
}

/// The kept events of one SSE stream.
struct Kept {
    /// rmcp's name for the stream (the key of `Inner::keys`).
    stream_id: String,
    session: Option<String>,
    events: VecDeque<(u64, ServerSseMessage, usize)>,
    next_seq: u64,
    bytes: usize,
    /// The stream's answer was sent: no event follows.
    done: bool,
    last_event: Instant,
    changed: Arc<Notify>,
    listeners: Option<Listeners>,
}

impl Kept {
    /// The kept events after `seq`, with their numbers.
    fn after(&self, seq: u64) -> impl Iterator<Item = (u64, ServerSseMessage)> + '_ {
        self.events
            .iter()
            .filter(move |(n, _, _)| *n > seq)
            .map(|(n, e, _)| (*n, e.clone()))
    }
}

#[derive(Default)]
struct Inner {
    /// By the random key in the stream's event ids.
    streams: HashMap<String, Kept>,
    /// rmcp's stream id (a UUID, or `<session>:common`) → key.
    keys: HashMap<String, String>,
    session_bytes: HashMap<String, usize>,
    bytes: usize,
    swept: Option<Instant>,
}

/// The event store: see the module comment.
pub struct ReplayStore {
    limits: ReplayConfig,
    inner: Mutex<Inner>,
    metrics: Arc<Metrics>,
    /// Itself, for the followers of open streams (held weakly: a reconnected client does
    /// not keep a stopped server's store alive).
    weak: std::sync::Weak<ReplayStore>,
    /// Stream keys are SHA-256 of this and a counter: unguessable without it.
    secret: String,
    counter: std::sync::atomic::AtomicU64,
}

/// How far a stream is from being dropped: finished ones go after the retention, open ones
/// (a call still running, a session's notification stream) after an hour of silence.
const OPEN_STREAM_IDLE: Duration = Duration::from_secs(3600);

impl ReplayStore {
    pub fn new(limits: ReplayConfig, metrics: Arc<Metrics>) -> Arc<Self> {
        // Without the kernel's randomness the keys would still be unique, only guessable;
        // the session check in `replay` still keeps other sessions out.
        let secret = crate::config::new_token()
            .unwrap_or_else(|_| format!("{:?}{}", Instant::now(), std::process::id()));
        Arc::new_cyclic(|weak| Self {
            limits,
            inner: Mutex::new(Inner::default()),
            metrics,
            weak: weak.clone(),
            secret,
            counter: Default::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn new_key(&self) -> String {
        use sha2::Digest;
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let digest = sha2::Sha256::new()
            .chain_update(self.secret.as_bytes())
            .chain_update(n.to_le_bytes())
            .finalize();
        hex::encode(&digest[..16])
    }

    fn retention(&self) -> Duration {
        Duration::from_secs_f64(self.limits.retention_secs.max(0.0))
    }

    /// Keeps `event` for `stream_id` and returns its id.
    fn keep(&self, stream_id: &str, event: &ServerSseMessage) -> String {
        let now = Instant::now();
        let size = event_size(event, self.limits.max_session_bytes as usize);
        let mut inner = self.lock();
        self.sweep(&mut inner, now);
        let key = match inner.keys.get(stream_id) {
            Some(k) => k.clone(),
            None => {
                let key = self.new_key();
                // The notification stream of a session names its session; a call's stream
                // is tied to one when `ResumableSessions` sees its first event.
                let session = stream_id.strip_suffix(":common").map(str::to_string);
                inner.keys.insert(stream_id.to_string(), key.clone());
                inner.streams.insert(
                    key.clone(),
                    Kept {
                        stream_id: stream_id.to_string(),
                        session,
                        events: VecDeque::new(),
                        next_seq: 0,
                        bytes: 0,
                        done: false,
                        last_event: now,
                        changed: Arc::new(Notify::new()),
                        listeners: None,
                    },
                );
                key
            }
        };
        let max_events = self.limits.max_events_per_stream.max(1);
        let session_cap = self.limits.max_session_bytes as usize;
        let Some(kept) = inner.streams.get_mut(&key) else {
            return format!("{key}_0");
        };
        let seq = kept.next_seq;
        kept.next_seq += 1;
        kept.last_event = now;
        kept.done |= is_answer(event);
        let id = format!("{key}_{seq}");
        let mut dropped = 0usize;
        let mut evicted = 0u64;
        // An event larger than a session's whole share is sent but not kept.
        if size <= session_cap {
            let mut stored = event.clone();
            stored.event_id = Some(id.clone());
            kept.events.push_back((seq, stored, size));
            kept.bytes += size;
            while kept.events.len() > max_events {
                if let Some((_, _, b)) = kept.events.pop_front() {
                    kept.bytes -= b;
                    dropped += b;
                    evicted += 1;
                }
            }
        } else {
            evicted += 1;
        }
        let added = if size <= session_cap { size } else { 0 };
        let session = kept.session.clone();
        let changed = kept.changed.clone();
        inner.bytes = inner.bytes + added - dropped;
        if let Some(s) = &session {
            let b = inner.session_bytes.entry(s.clone()).or_insert(0);
            *b = *b + added - dropped;
            evicted += self.bound_session(&mut inner, s, &key);
        }
        evicted += self.bound_total(&mut inner, &key);
        self.publish(&inner, evicted);
        drop(inner);
        changed.notify_waiters();
        id
    }

    /// Ties a call's stream (named by one of its event ids) to its session and listeners.
    fn bind(&self, event_id: &str, session: &str, listeners: Option<Listeners>) {
        let Some((key, _)) = event_id.rsplit_once('_') else {
            return;
        };
        let mut inner = self.lock();
        let Some(kept) = inner.streams.get_mut(key) else {
            return;
        };
        if kept.session.is_some() {
            return;
        }
        kept.session = Some(session.to_string());
        kept.listeners = listeners;
        let bytes = kept.bytes;
        *inner.session_bytes.entry(session.to_string()).or_insert(0) += bytes;
        let evicted = self.bound_session(&mut inner, session, key);
        self.publish(&inner, evicted);
    }

    /// Forgets an ended session's streams.
    fn forget_session(&self, session: &str) {
        let mut inner = self.lock();
        let keys: Vec<String> = inner
            .streams
            .iter()
            .filter(|(_, k)| k.session.as_deref() == Some(session))
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            remove_stream(&mut inner, &key);
        }
        inner.session_bytes.remove(session);
        self.publish(&inner, 0);
    }

    /// Drops the session's least recently active streams (never `keep`, the one being
    /// written) until its share fits; if `keep` alone is over, its oldest events go.
    fn bound_session(&self, inner: &mut Inner, session: &str, keep: &str) -> u64 {
        let cap = self.limits.max_session_bytes as usize;
        evict_until(
            inner,
            keep,
            |i| i.session_bytes.get(session).copied().unwrap_or(0) <= cap,
            |k| k.session.as_deref() == Some(session),
        )
    }

    /// The same for the whole store.
    fn bound_total(&self, inner: &mut Inner, keep: &str) -> u64 {
        let cap = self.limits.max_bytes as usize;
        evict_until(inner, keep, |i| i.bytes <= cap, |_| true)
    }

    /// Drops expired streams, at most once a second.
    fn sweep(&self, inner: &mut Inner, now: Instant) {
        if inner
            .swept
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        inner.swept = Some(now);
        let retention = self.retention();
        let expired: Vec<String> = inner
            .streams
            .iter()
            .filter(|(_, k)| {
                let idle = now.duration_since(k.last_event);
                if k.done {
                    idle >= retention
                } else {
                    idle >= OPEN_STREAM_IDLE.max(retention)
                }
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            remove_stream(inner, &key);
        }
    }

    fn publish(&self, inner: &Inner, evicted: u64) {
        self.metrics.replay_bytes.set(inner.bytes as i64);
        self.metrics.replay_streams.set(inner.streams.len() as i64);
        if evicted > 0 {
            self.metrics.replay_evicted.inc_by(evicted);
        }
    }

    /// The events after `last_event_id`, and, while the stream is open, the ones that
    /// follow until its answer. `session` must be the stream's own.
    fn replay(&self, session: &str, last_event_id: &str) -> Result<EventStream, String> {
        let (key, seq) = last_event_id
            .rsplit_once('_')
            .and_then(|(k, n)| Some((k.to_string(), n.parse::<u64>().ok()?)))
            .ok_or_else(|| "this Last-Event-ID is not one of this server's".to_string())?;
        let inner = self.lock();
        let kept = inner
            .streams
            .get(&key)
            .ok_or_else(|| "no kept events for this Last-Event-ID: the stream expired, was evicted or never existed".to_string())?;
        if kept.session.as_deref().is_some_and(|s| s != session) {
            return Err("this Last-Event-ID belongs to another session".into());
        }
        self.metrics.replays.inc();
        if kept.done {
            let missed: Vec<ServerSseMessage> = kept.after(seq).map(|(_, e)| e).collect();
            return Ok(Box::pin(futures::stream::iter(missed)));
        }
        // Still open: a follower sends what was missed, then what follows, to the answer.
        let listening = kept.listeners.as_ref().map(Listeners::listen);
        let changed = kept.changed.clone();
        drop(inner);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let store = self.weak.clone();
        tokio::spawn(async move {
            let _listening = listening;
            let mut after = seq;
            loop {
                // Registered before reading, so an event kept in between still wakes it.
                let notified = changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let Some((next, done)) = store.upgrade().and_then(|s| s.after(&key, after)) else {
                    return;
                };
                for (n, e) in next {
                    after = n;
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
                if done {
                    return;
                }
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tx.closed() => return,
                    _ = tokio::time::sleep(OPEN_STREAM_IDLE) => return,
                }
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    /// A stream's events after `seq`, and whether it is finished; `None` once it is gone.
    #[allow(clippy::type_complexity)]
    fn after(&self, key: &str, seq: u64) -> Option<(Vec<(u64, ServerSseMessage)>, bool)> {
        let inner = self.lock();
        let kept = inner.streams.get(key)?;
        Some((kept.after(seq).collect(), kept.done))
    }
}

/// Removes streams chosen by `candidate` (never `keep`), finished and least recently active
/// first, until `fits`; if only `keep` is left, its oldest events go. Returns how many
/// events were dropped.
fn evict_until(
    inner: &mut Inner,
    keep: &str,
    fits: impl Fn(&Inner) -> bool,
    candidate: impl Fn(&Kept) -> bool,
) -> u64 {
    let mut evicted = 0;
    while !fits(inner) {
        let oldest = inner
            .streams
            .iter()
            .filter(|(key, k)| key.as_str() != keep && candidate(k))
            .min_by_key(|(_, k)| (!k.done, k.last_event))
            .map(|(key, _)| key.clone());
        match oldest {
            Some(key) => evicted += remove_stream(inner, &key),
            None => {
                evicted += trim_front(inner, keep);
                break;
            }
        }
    }
    evicted
}

/// Removes one stream; returns how many events went with it.
fn remove_stream(inner: &mut Inner, key: &str) -> u64 {
    let Some(kept) = inner.streams.remove(key) else {
        return 0;
    };
    inner.keys.remove(&kept.stream_id);
    inner.bytes -= kept.bytes.min(inner.bytes);
    if let Some(s) = &kept.session {
        if let Some(b) = inner.session_bytes.get_mut(s) {
            *b -= kept.bytes.min(*b);
        }
    }
    // A follower waiting on it finds it gone and ends.
    kept.changed.notify_waiters();
    kept.events.len() as u64
}

/// Drops the oldest kept events of one stream but its last.
fn trim_front(inner: &mut Inner, key: &str) -> u64 {
    let Some(kept) = inner.streams.get_mut(key) else {
        return 0;
    };
    let mut freed = 0;
    let mut evicted = 0;
    while kept.events.len() > 1 {
        if let Some((_, _, b)) = kept.events.pop_front() {
            kept.bytes -= b;
            freed += b;
            evicted += 1;
        }
    }
    let session = kept.session.clone();
    inner.bytes -= freed.min(inner.bytes);
    if let Some(s) = session {
        if let Some(b) = inner.session_bytes.get_mut(&s) {
            *b -= freed.min(*b);
        }
    }
    evicted
}

/// The answer of a call ends its stream.
fn is_answer(event: &ServerSseMessage) -> bool {
    matches!(
        event.message.as_deref(),
        Some(ServerJsonRpcMessage::Response(_) | ServerJsonRpcMessage::Error(_))
    )
}

/// Bytes an event takes as JSON (what a replay would send), counted without building it
/// and only up to `limit`: past it the count is `limit + 1` (an event that large is not
/// kept, so a 20 MB export is not serialised a second time to the end).
fn event_size(event: &ServerSseMessage, limit: usize) -> usize {
    struct Count {
        n: usize,
        limit: usize,
    }
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.n += buf.len();
            if self.n > self.limit {
                return Err(std::io::Error::other("over the limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count { n: 64, limit };
    if let Some(m) = &event.message {
        // A failure is the limit reached (rmcp's message types always serialise).
        if serde_json::to_writer(&mut count, m.as_ref()).is_err() {
            return limit.saturating_add(1);
        }
    }
    count.n
}

#[async_trait::async_trait]
impl EventStore for ReplayStore {
    async fn store_event(
        &self,
        stream_id: &str,
        event: &ServerSseMessage,
    ) -> Result<EventId, EventStoreError> {
        Ok(self.keep(stream_id, event))
    }

    async fn replay_events_after(
        &self,
        _last_event_id: &str,
    ) -> Result<EventStream, EventStoreError> {
        // Only reached through `ResumableSessions::resume`, which knows the session.
        Err("resume through ResumableSessions".into())
    }
}

/// rmcp's session table (which `clients::Sessions` watches), the manager the HTTP service
/// uses (with replay when `server.replay` keeps events), and the `retry` hint streams carry:
/// none without replay, so no client is invited to reconnect to nothing.
pub fn session_managers(
    config: &crate::config::Config,
    metrics: &Arc<Metrics>,
) -> (
    Arc<LocalSessionManager>,
    Arc<ResumableSessions>,
    Option<Duration>,
) {
    let store = config
        .server
        .replay
        .enabled()
        .then(|| ReplayStore::new(config.server.replay.clone(), metrics.clone()));
    let sse_retry = store.is_some().then(|| Duration::from_secs(3));
    let mut manager = LocalSessionManager::default();
    manager.session_config.keep_alive = Some(Duration::from_secs_f64(
        config.server.session_idle_secs.max(1.0),
    ));
    manager.session_config.sse_retry = sse_retry;
    let manager = Arc::new(match &store {
        Some(store) => manager.with_event_store(store.clone()),
        None => manager,
    });
    let resumable = Arc::new(ResumableSessions::new(manager.clone(), store));
    (manager, resumable, sse_retry)
}

/// rmcp's session manager with resumption through `ReplayStore` (see the module comment).
pub struct ResumableSessions {
    inner: Arc<LocalSessionManager>,
    /// `None` when replay is off (`server.replay.retention_secs = 0`).
    store: Option<Arc<ReplayStore>>,
}

impl ResumableSessions {
    pub fn new(inner: Arc<LocalSessionManager>, store: Option<Arc<ReplayStore>>) -> Self {
        Self { inner, store }
    }
}

fn store_error(message: String) -> LocalSessionManagerError {
    LocalSessionManagerError::SessionError(SessionError::EventStore(message.into()))
}

impl SessionManager for ResumableSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        if let Some(store) = &self.store {
            store.forget_session(id);
        }
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let listeners = match &message {
            ClientJsonRpcMessage::Request(r) => r
                .request
                .extensions()
                .get::<http::request::Parts>()
                .and_then(|p| p.extensions.get::<ClientGone>())
                .map(|g| g.0.clone()),
            _ => None,
        };
        let stream = self.inner.create_stream(id, message).await?;
        // The stream's first event (its priming event, sent before this returns) names it:
        // tie it to the session and the call's listeners then.
        let mut pending = self
            .store
            .clone()
            .map(|store| (store, id.to_string(), listeners));
        Ok(stream.inspect(move |event| {
            if let Some(event_id) = &event.event_id {
                if let Some((store, session, listeners)) = pending.take() {
                    store.bind(event_id, &session, listeners);
                }
            }
        }))
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        match &self.store {
            Some(store) => store.replay(id, &last_event_id).map_err(store_error),
            None => Err(store_error(
                "this server keeps no events to resume from (server.replay.retention_secs = 0)"
                    .into(),
            )),
        }
    }

    async fn restore_session(
        &self,
        _id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        Ok(RestoreOutcome::NotSupported)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.store.clone().map(|s| s as Arc<dyn EventStore>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use rmcp::model::{
        EmptyResult, JsonRpcResponse, JsonRpcVersion2_0, NumberOrString, ServerResult,
    };

    fn limits(events: usize, session: u64, total: u64) -> ReplayConfig {
        ReplayConfig {
            retention_secs: 60.0,
            hangup_grace_secs: 1.0,
            max_events_per_stream: events,
            max_session_bytes: session,
            max_bytes: total,
        }
    }

    fn store(events: usize, session: u64, total: u64) -> Arc<ReplayStore> {
        ReplayStore::new(limits(events, session, total), Arc::new(Metrics::new()))
    }

    fn priming() -> ServerSseMessage {
        ServerSseMessage::retry(Duration::from_secs(3))
    }

    fn answer(id: i64) -> ServerSseMessage {
        ServerSseMessage::from_message(ServerJsonRpcMessage::Response(JsonRpcResponse {
            jsonrpc: JsonRpcVersion2_0,
            id: NumberOrString::Number(id),
            result: ServerResult::EmptyResult(EmptyResult {}),
        }))
    }

    fn replayed(store: &ReplayStore, session: &str, after: &str) -> Vec<String> {
        let stream = store.replay(session, after).expect("a replay");
        futures::executor::block_on(stream.collect::<Vec<_>>())
            .into_iter()
            .map(|e| e.event_id.unwrap_or_default())
            .collect()
    }

    #[test]
    fn a_finished_stream_replays_what_follows_the_id_to_its_session_only() {
        let s = store(16, 1 << 20, 1 << 20);
        let first = s.keep("call-1", &priming());
        s.bind(&first, "a", None);
        let second = s.keep("call-1", &answer(1));
        assert_eq!(replayed(&s, "a", &first), vec![second.clone()]);
        assert!(replayed(&s, "a", &second).is_empty());
        assert!(s.replay("b", &first).is_err(), "another session");
        assert!(s.replay("a", "nonsense").is_err());
        assert!(s.replay("a", "ffff_0").is_err());
        // Ids are unguessable: two streams share no key.
        let other = s.keep("call-2", &priming());
        assert_ne!(first.split('_').next(), other.split('_').next());
        assert_eq!(first.split('_').next().map(str::len), Some(32));
    }

    #[test]
    fn a_stream_keeps_its_last_events_up_to_the_count() {
        let s = store(3, 1 << 20, 1 << 20);
        let first = s.keep("call", &priming());
        s.bind(&first, "a", None);
        let ids: Vec<String> = (0..4).map(|_| s.keep("call", &priming())).collect();
        let last = s.keep("call", &answer(1));
        // The first three of the five after `first` were dropped: the answer is kept.
        assert_eq!(
            replayed(&s, "a", &first),
            vec![ids[2].clone(), ids[3].clone(), last]
        );
    }

    #[test]
    fn a_session_over_its_share_loses_its_oldest_streams_not_other_sessions() {
        let one = event_size(&answer(1), usize::MAX) + event_size(&priming(), usize::MAX);
        let s = store(16, (one * 2) as u64, 1 << 20);
        let theirs = s.keep("b-call", &priming());
        s.bind(&theirs, "b", None);
        s.keep("b-call", &answer(9));
        let mut firsts = Vec::new();
        for n in 0..3 {
            let name = format!("a-call-{n}");
            let first = s.keep(&name, &priming());
            s.bind(&first, "a", None);
            s.keep(&name, &answer(n));
            firsts.push(first);
        }
        assert!(s.replay("a", &firsts[0]).is_err(), "the oldest went");
        assert_eq!(replayed(&s, "a", &firsts[2]).len(), 1);
        assert_eq!(replayed(&s, "b", &theirs).len(), 1, "b's stream stays");
        assert!(s.lock().session_bytes["a"] <= one * 2);
    }

    #[test]
    fn the_whole_store_is_bounded_and_forgets_ended_sessions() {
        let one = event_size(&answer(1), usize::MAX) + event_size(&priming(), usize::MAX);
        let s = store(16, 1 << 20, (one * 3) as u64);
        for n in 0..10 {
            let name = format!("call-{n}");
            let first = s.keep(&name, &priming());
            s.bind(&first, &format!("s{}", n % 2), None);
            s.keep(&name, &answer(n));
        }
        assert!(s.lock().bytes <= one * 3);
        assert!(s.lock().streams.len() <= 3);
        s.forget_session("s1");
        s.forget_session("s0");
        let inner = s.lock();
        assert_eq!(
            (inner.bytes, inner.streams.len(), inner.keys.len()),
            (0, 0, 0)
        );
    }

    #[test]
    fn finished_streams_expire_after_the_retention() {
        // Replaying a running stream starts a follower task.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _inside = runtime.enter();
        let s = store(16, 1 << 20, 1 << 20);
        let first = s.keep("call", &priming());
        s.keep("call", &answer(1));
        let open = s.keep("running", &priming());
        let later = Instant::now() + Duration::from_secs(61);
        s.sweep(&mut s.lock(), later);
        assert!(s.replay("x", &first).is_err(), "finished: expired");
        assert!(s.replay("x", &open).is_ok(), "still running: kept");
    }

    #[test]
    fn an_open_stream_is_followed_until_its_answer() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let s = store(16, 1 << 20, 1 << 20);
            let listeners = Listeners::new();
            let first = s.keep("call", &priming());
            s.bind(&first, "a", Some(listeners.clone()));
            let mut follow = s.replay("a", &first).expect("a replay");
            // The replay counts as a listener while it lasts.
            assert!(listeners.abandoned(Duration::ZERO).now_or_never().is_none());
            let answer_id = s.keep("call", &answer(1));
            let got = tokio::time::timeout(Duration::from_secs(10), follow.next())
                .await
                .expect("the answer is followed");
            assert_eq!(got.and_then(|e| e.event_id), Some(answer_id));
            let end = tokio::time::timeout(Duration::from_secs(10), follow.next())
                .await
                .expect("the follow ends after the answer");
            assert!(end.is_none());
        });
    }

    #[test]
    fn sizes_are_counted_only_up_to_the_limit() {
        let whole = event_size(&answer(1), usize::MAX);
        assert!(whole > 64);
        assert_eq!(event_size(&answer(1), whole), whole);
        assert_eq!(event_size(&answer(1), 70), 71);
    }

    #[test]
    fn listeners_abandon_only_when_nobody_listens() {
        let listeners = Listeners::new();
        let one = listeners.listen();
        let two = listeners.listen();
        drop(one);
        assert!(listeners.abandoned(Duration::ZERO).now_or_never().is_none());
        drop(two);
        assert!(listeners.abandoned(Duration::ZERO).now_or_never().is_some());
    }
}
