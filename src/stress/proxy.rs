//! An in-process TCP fault proxy, between the virtual users and the server.
//!
//! Every accepted connection is relayed to the upstream address in two directions (up:
//! client to server, down: server to client). Each direction is a reader and a deliverer
//! joined by a small queue: the reader stamps every chunk with the moment it arrived, and
//! the deliverer applies the current [`Fault`] before writing it on. The fault lives in a
//! `watch` channel, so a change applies from that moment to new and existing connections
//! alike; a third future per connection watches it for the faults that act on the whole
//! connection (a reset, the end of a blackhole).
//!
//! Loopback only: the proxy refuses to listen on any other address. Every wait is bounded
//! by the fault (or by `shutdown`); no I/O error is unwrapped: an error closes the
//! connection.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// A network fault, as the stress configuration names it (`kind = "latency"`, ...).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Bytes pass unchanged.
    #[default]
    None,
    /// Each chunk, in each direction, is delivered `ms` (plus up to `jitter_ms`, seeded)
    /// after it arrived. Chunks stay in order; a round trip gains at least `2 * ms`.
    Latency {
        ms: u64,
        #[serde(default)]
        jitter_ms: u64,
    },
    /// Each direction of each connection is paced to this many bytes a second (0 is
    /// taken as 1).
    Bandwidth { bytes_per_sec: u64 },
    /// Each new connection, with this probability, is closed at once with a TCP RST; each
    /// existing connection draws once, when the fault is set.
    Reset { probability: f64 },
    /// Connections hang: what the client sends is read and discarded, nothing is forwarded
    /// either way, and nothing answers. When the fault changes, those connections close.
    Blackhole,
    /// Bytes are forwarded in segments of at most `max_segment` (0 is taken as 1), each
    /// after a pause of `delay_ms`.
    Slicer { max_segment: usize, delay_ms: u64 },
    /// After `after_bytes` more bytes have gone down to the client (counted from when the
    /// fault was set, or from the connection's start), the proxy shuts its write half
    /// towards the client (FIN) while still reading and forwarding what the client sends.
    /// With 0, the next chunk down triggers it.
    HalfClose { after_bytes: u64 },
}

/// How a fault reads in the run's timeline and on the dashboard.
impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::None => write!(f, "no fault"),
            Fault::Latency { ms, jitter_ms } => write!(f, "latency {ms} ms ± {jitter_ms} ms"),
            Fault::Bandwidth { bytes_per_sec } => write!(f, "bandwidth {bytes_per_sec} B/s"),
            Fault::Reset { probability } => {
                write!(f, "TCP reset, probability {probability}")
            }
            Fault::Blackhole => write!(f, "blackhole"),
            Fault::Slicer {
                max_segment,
                delay_ms,
            } => write!(f, "slicer, segments of {max_segment} B every {delay_ms} ms"),
            Fault::HalfClose { after_bytes } => {
                write!(f, "half-close after {after_bytes} B")
            }
        }
    }
}

/// Counters since the proxy started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStats {
    /// Connections accepted.
    pub connections: u64,
    /// Connections open now.
    pub active: u64,
    /// Bytes written to the upstream.
    pub bytes_up: u64,
    /// Bytes written to clients.
    pub bytes_down: u64,
    /// Connections closed with a TCP RST by the `Reset` fault.
    pub resets: u64,
    /// Connections hung by the `Blackhole` fault (new ones, and existing ones it caught).
    pub blackholed: u64,
    /// Bytes a blackhole swallowed, either way.
    pub blackholed_bytes: u64,
    /// Write halves shut by the `HalfClose` fault.
    pub half_closes: u64,
    /// Connections closed because the upstream refused (or did not answer) the connect.
    pub upstream_failures: u64,
    /// Connections closed by an I/O error on either side.
    pub io_errors: u64,
}

/// Starts proxies; see [`FaultProxy::start`].
pub struct FaultProxy;

impl FaultProxy {
    /// Listens on `listen` (a loopback address; port 0 picks one) and relays every
    /// connection to `upstream`, with no fault to begin with. Jitter and reset draws use a
    /// fixed seed; see [`FaultProxy::start_seeded`].
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> io::Result<ProxyHandle> {
        Self::start_seeded(listen, upstream, DEFAULT_SEED).await
    }

    /// As [`FaultProxy::start`], with the seed of the jitter and reset draws: with the same
    /// seed, the n-th connection draws the same numbers.
    pub async fn start_seeded(
        listen: SocketAddr,
        upstream: SocketAddr,
        seed: u64,
    ) -> io::Result<ProxyHandle> {
        if !listen.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the fault proxy listens on loopback only, not {listen}"),
            ));
        }
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (fault, _) = watch::channel(FaultState {
            fault: Fault::None,
            epoch: 0,
        });
        let shared = Arc::new(Shared {
            fault,
            upstream: Mutex::new(upstream),
            counters: Counters::default(),
            seed,
            next_connection: AtomicU64::new(0),
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), stop_rx));
        Ok(ProxyHandle {
            addr,
            shared,
            stop,
            task: Mutex::new(Some(task)),
        })
    }
}

/// A running proxy. Dropping it stops the proxy too (without waiting); prefer `shutdown`.
pub struct ProxyHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl ProxyHandle {
    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Applies `fault` from now on, to new and existing connections.
    pub fn set_fault(&self, fault: Fault) {
        // The epoch makes setting the same fault again a new setting (a new reset draw, a
        // new half-close count).
        self.shared.fault.send_modify(|state| {
            state.fault = fault;
            state.epoch += 1;
        });
    }

    /// Back to no fault (closing the connections a blackhole holds).
    pub fn clear(&self) {
        self.set_fault(Fault::None);
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        self.shared.fault.borrow().fault.clone()
    }

    /// Where new connections go (existing ones keep theirs).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self
            .shared
            .upstream
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = upstream;
    }

    pub fn upstream(&self) -> SocketAddr {
        *self
            .shared
            .upstream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn stats(&self) -> ProxyStats {
        self.shared.counters.snapshot()
    }

    /// Stops accepting, closes every connection, and waits (at most about two seconds) for
    /// them to end. Calling it again does nothing.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

const DEFAULT_SEED: u64 = 0x5EED_0FFA_1700_0001;
/// Bytes read at once from either side.
const CHUNK: usize = 16 * 1024;
/// Chunks queued between a direction's reader and its deliverer: bounds the memory a slow
/// fault holds per connection (16 x 16 KiB each way).
const QUEUE: usize = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `shutdown` waits for connections to close before aborting them.
const DRAIN: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
struct FaultState {
    fault: Fault,
    /// Incremented by every `set_fault`.
    epoch: u64,
}

struct Shared {
    fault: watch::Sender<FaultState>,
    upstream: Mutex<SocketAddr>,
    counters: Counters,
    seed: u64,
    next_connection: AtomicU64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    active: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    resets: AtomicU64,
    blackholed: AtomicU64,
    blackholed_bytes: AtomicU64,
    half_closes: AtomicU64,
    upstream_failures: AtomicU64,
    io_errors: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> ProxyStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProxyStats {
            connections: get(&self.connections),
            active: get(&self.active),
            bytes_up: get(&self.bytes_up),
            bytes_down: get(&self.bytes_down),
            resets: get(&self.resets),
            blackholed: get(&self.blackholed),
            blackholed_bytes: get(&self.blackholed_bytes),
            half_closes: get(&self.half_closes),
            upstream_failures: get(&self.upstream_failures),
            io_errors: get(&self.io_errors),
        }
    }
}

/// Keeps `active` right however a connection ends.
struct ActiveGuard<'a>(&'a AtomicU64);

impl<'a> ActiveGuard<'a> {
    fn new(active: &'a AtomicU64) -> Self {
        active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(active)
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// xorshift64, seeded through splitmix64 (so that nearby seeds differ): enough for jitter
/// and coin flips, with no dependency.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        // xorshift must not start at zero.
        XorShift((z ^ (z >> 31)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// 0..=max.
    fn up_to(&mut self, max: u64) -> u64 {
        match max {
            0 => 0,
            u64::MAX => self.next_u64(),
            _ => self.next_u64() % (max + 1),
        }
    }

    /// True with probability `p` (clamped to 0..=1; NaN is 0).
    fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
                    connections.spawn(handle_connection(client, shared.clone(), stop.clone(), id));
                }
                // Out of descriptors or similar: back off rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            // Reap finished connections so the set does not grow over a long run.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            // A stop, or the handle dropped.
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    // Every connection watches the same stop signal; give them a moment to close cleanly.
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

/// How a relayed connection ended.
enum Ending {
    /// Both directions finished, or an I/O error, or a stop: close normally.
    Close,
    /// The `Reset` fault drew this connection: close with a RST.
    Reset,
}

async fn handle_connection(
    client: TcpStream,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    id: u64,
) {
    let counters = &shared.counters;
    Counters::add(&counters.connections, 1);
    let _active = ActiveGuard::new(&counters.active);
    let mut rng = XorShift::new(shared.seed ^ id.wrapping_mul(0xD1B5_4A32_D192_ED03));
    // Small writes (the slicer's segments, latency-delayed chunks) go out as they are.
    let _ = client.set_nodelay(true);
    let mut faults = shared.fault.subscribe();
    let initial = faults.borrow_and_update().fault.clone();
    match initial {
        Fault::Reset { probability } if rng.chance(probability) => {
            reset(client, counters);
            return;
        }
        Fault::Blackhole => {
            hang(client, faults, stop, counters).await;
            return;
        }
        _ => {}
    }
    let upstream_addr = *shared
        .upstream
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    // From the client's own loopback address, so the server sees each client as itself
    // (it keys its per-client limits by address) and not all of them as the proxy.
    let source = client
        .peer_addr()
        .ok()
        .map(|a| a.ip())
        .filter(|ip| ip.is_loopback() && ip.is_ipv4() == upstream_addr.is_ipv4());
    let upstream =
        match tokio::time::timeout(CONNECT_TIMEOUT, connect_from(source, upstream_addr)).await {
            Ok(Ok(upstream)) => upstream,
            // Refused (the server is restarting) or silent: dropping the client closes it.
            _ => {
                Counters::add(&counters.upstream_failures, 1);
                return;
            }
        };
    let _ = upstream.set_nodelay(true);
    relay(client, upstream, faults, stop, rng, counters).await;
}

/// Connects to `to`, from `source` when given (any port of it).
async fn connect_from(source: Option<std::net::IpAddr>, to: SocketAddr) -> io::Result<TcpStream> {
    let Some(ip) = source else {
        return TcpStream::connect(to).await;
    };
    let socket = if ip.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(to).await
}

/// Closes with a TCP RST: SO_LINGER 0, then close.
fn reset(client: TcpStream, counters: &Counters) {
    Counters::add(&counters.resets, 1);
    // If this fails the close below is a FIN instead; the connection still ends.
    let _ = client.set_zero_linger();
    drop(client);
}

/// A connection accepted under a blackhole: read and discard until the fault changes (then
/// close), the client leaves, or the proxy stops.
async fn hang(
    mut client: TcpStream,
    mut faults: watch::Receiver<FaultState>,
    mut stop: watch::Receiver<bool>,
    counters: &Counters,
) {
    Counters::add(&counters.blackholed, 1);
    let mut buf = vec![0u8; CHUNK];
    loop {
        tokio::select! {
            read = client.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => Counters::add(&counters.blackholed_bytes, n as u64),
            },
            changed = faults.changed() => {
                if changed.is_err() || faults.borrow_and_update().fault != Fault::Blackhole {
                    return;
                }
            }
            _ = stop.changed() => return,
        }
    }
}

async fn relay(
    mut client: TcpStream,
    mut upstream: TcpStream,
    faults: watch::Receiver<FaultState>,
    stop: watch::Receiver<bool>,
    mut rng: XorShift,
    counters: &Counters,
) {
    let ending = {
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        let up_rng = XorShift::new(rng.next_u64());
        let down_rng = XorShift::new(rng.next_u64());
        let up = pipe(
            client_read,
            upstream_write,
            Direction::Up,
            faults.clone(),
            up_rng,
            counters,
        );
        let down = pipe(
            upstream_read,
            client_write,
            Direction::Down,
            faults.clone(),
            down_rng,
            counters,
        );
        tokio::select! {
            both = async { tokio::try_join!(up, down) } => {
                if both.is_err() {
                    Counters::add(&counters.io_errors, 1);
                }
                Ending::Close
            }
            ending = watch_connection(faults, stop, &mut rng, counters) => ending,
        }
    };
    if let Ending::Reset = ending {
        reset(client, counters);
    }
    // Otherwise both streams drop here: a normal close.
}

/// Watches the fault for what acts on the whole connection: a reset draw when `Reset` is
/// set, and the end of a blackhole (which closes the connection). Also ends on a stop.
async fn watch_connection(
    mut faults: watch::Receiver<FaultState>,
    mut stop: watch::Receiver<bool>,
    rng: &mut XorShift,
    counters: &Counters,
) -> Ending {
    if *stop.borrow_and_update() {
        return Ending::Close;
    }
    let mut blackholed = false;
    loop {
        tokio::select! {
            changed = faults.changed() => {
                if changed.is_err() {
                    return Ending::Close;
                }
            }
            _ = stop.changed() => return Ending::Close,
        }
        let fault = faults.borrow_and_update().fault.clone();
        match fault {
            Fault::Reset { probability } if rng.chance(probability) => return Ending::Reset,
            Fault::Blackhole if !blackholed => {
                blackholed = true;
                Counters::add(&counters.blackholed, 1);
            }
            // Set again while in force: still the same blackhole.
            Fault::Blackhole => {}
            _ if blackholed => return Ending::Close,
            _ => {}
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Direction {
    /// Client to upstream.
    Up,
    /// Upstream to client.
    Down,
}

/// A chunk and the moment it was read (latency counts from then).
type Chunk = (Instant, Vec<u8>);

/// One direction: a reader and a deliverer joined by a bounded queue, so that a delayed
/// chunk does not stop the next ones from being read (latency is added, not multiplied).
async fn pipe<R, W>(
    reader: R,
    writer: W,
    direction: Direction,
    faults: watch::Receiver<FaultState>,
    rng: XorShift,
    counters: &Counters,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::try_join!(
        read_side(reader, tx),
        deliver(writer, rx, direction, faults, rng, counters)
    )?;
    Ok(())
}

/// Reads chunks until EOF (dropping the sender tells the deliverer) or until the deliverer
/// is gone (it half-closed on purpose, or failed).
async fn read_side<R: AsyncRead + Unpin>(mut reader: R, tx: mpsc::Sender<Chunk>) -> io::Result<()> {
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = tokio::select! {
            read = reader.read(&mut buf) => read?,
            _ = tx.closed() => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        buf.truncate(n);
        if tx.send((Instant::now(), buf)).await.is_err() {
            return Ok(());
        }
    }
}

/// Writes the chunks on, applying the fault in force for each piece of each chunk; at EOF,
/// passes the FIN on.
async fn deliver<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::Receiver<Chunk>,
    direction: Direction,
    mut faults: watch::Receiver<FaultState>,
    mut rng: XorShift,
    counters: &Counters,
) -> io::Result<()> {
    let forwarded = match direction {
        Direction::Up => &counters.bytes_up,
        Direction::Down => &counters.bytes_down,
    };
    let mut epoch = faults.borrow().epoch;
    // Bytes sent down since the fault in force was set (for HalfClose).
    let mut sent_under_fault: u64 = 0;
    // When the bandwidth budget next allows a byte.
    let mut next_free = Instant::now();
    while let Some((arrived, data)) = rx.recv().await {
        let mut rest: &[u8] = &data;
        while !rest.is_empty() {
            let state = faults.borrow_and_update().clone();
            if state.epoch != epoch {
                epoch = state.epoch;
                sent_under_fault = 0;
            }
            // How much of `rest` to write now, after waiting until when. A wait cut short by
            // a fault change writes nothing: the piece is looked at again under the new fault.
            let (piece, due) = match state.fault {
                Fault::None | Fault::Reset { .. } => (rest.len(), None),
                Fault::Latency { ms, jitter_ms } => {
                    let delay = ms.saturating_add(rng.up_to(jitter_ms));
                    (rest.len(), Some(arrived + Duration::from_millis(delay)))
                }
                Fault::Bandwidth { bytes_per_sec } => {
                    let rate = bytes_per_sec.max(1);
                    // Pieces of a tenth of a second keep the pace smooth.
                    let piece = rest.len().min((rate / 10).max(1) as usize);
                    next_free = next_free.max(Instant::now());
                    let due = next_free + Duration::from_secs_f64(piece as f64 / rate as f64);
                    (piece, Some(due))
                }
                Fault::Blackhole => {
                    Counters::add(&counters.blackholed_bytes, rest.len() as u64);
                    rest = &[];
                    continue;
                }
                Fault::Slicer {
                    max_segment,
                    delay_ms,
                } => (
                    rest.len().min(max_segment.max(1)),
                    Some(Instant::now() + Duration::from_millis(delay_ms)),
                ),
                Fault::HalfClose { after_bytes } if direction == Direction::Down => {
                    let left = after_bytes.saturating_sub(sent_under_fault);
                    if left == 0 {
                        writer.shutdown().await?;
                        Counters::add(&counters.half_closes, 1);
                        // Returning drops the queue, which stops this direction's reader.
                        return Ok(());
                    }
                    (
                        rest.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
                        None,
                    )
                }
                Fault::HalfClose { .. } => (rest.len(), None),
            };
            if let Some(due) = due {
                if !wait_until(due, &mut faults).await {
                    continue;
                }
                if matches!(state.fault, Fault::Bandwidth { .. }) {
                    next_free = due;
                }
            }
            writer.write_all(&rest[..piece]).await?;
            Counters::add(forwarded, piece as u64);
            sent_under_fault += piece as u64;
            rest = &rest[piece..];
            if let Fault::HalfClose { after_bytes } = state.fault {
                if direction == Direction::Down && sent_under_fault >= after_bytes {
                    writer.shutdown().await?;
                    Counters::add(&counters.half_closes, 1);
                    return Ok(());
                }
            }
        }
    }
    // The reader saw EOF: pass it on.
    writer.shutdown().await
}

/// Sleeps until `due`; false if the fault changed first.
async fn wait_until(due: Instant, faults: &mut watch::Receiver<FaultState>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(due) => true,
        changed = faults.changed() => {
            if changed.is_err() {
                // The proxy is going away; finish the wait rather than spin.
                tokio::time::sleep_until(due).await;
                return true;
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_from_toml_and_json() {
        let f: Fault = toml::from_str("kind = \"latency\"\nms = 20").expect("toml");
        assert_eq!(
            f,
            Fault::Latency {
                ms: 20,
                jitter_ms: 0
            }
        );
        let f: Fault =
            serde_json::from_str(r#"{"kind":"half_close","after_bytes":7}"#).expect("json");
        assert_eq!(f, Fault::HalfClose { after_bytes: 7 });
        let f: Fault = serde_json::from_str(r#"{"kind":"blackhole"}"#).expect("json");
        assert_eq!(f, Fault::Blackhole);
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"slicer","max_segment":1}"#).is_err());
        assert!(
            serde_json::from_str::<Fault>(r#"{"kind":"reset","probability":1,"x":2}"#).is_err()
        );
    }

    #[test]
    fn draws_are_seeded_and_bounded() {
        let draws = |seed| {
            let mut r = XorShift::new(seed);
            (0..64).map(|_| r.up_to(10)).collect::<Vec<_>>()
        };
        assert_eq!(draws(1), draws(1));
        assert_ne!(draws(1), draws(2));
        assert!(draws(3).iter().all(|&d| d <= 10));
        let mut r = XorShift::new(4);
        assert!((0..100).all(|_| r.chance(1.0)));
        assert!((0..100).all(|_| !r.chance(0.0) && !r.chance(f64::NAN)));
        let hits = (0..10_000).filter(|_| r.chance(0.25)).count();
        assert!((2_000..3_000).contains(&hits), "{hits}");
    }

    #[tokio::test]
    async fn refuses_to_listen_beyond_loopback() {
        let err = FaultProxy::start(([0, 0, 0, 0], 0).into(), ([127, 0, 0, 1], 9).into())
            .await
            .err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
    }
}
