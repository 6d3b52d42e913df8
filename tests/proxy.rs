//! The fault proxy, each fault proven end to end: a client talks through the proxy to a
//! tiny echo server, all on 127.0.0.1.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use music21_prod::stress::proxy::{Fault, FaultProxy, ProxyHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// Long enough for anything that should happen; every test stays well under 3 s.
const PATIENCE: Duration = Duration::from_secs(2);

/// Echoes every byte back; when the client half-closes, half-closes too.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the echo server");
    let addr = listener.local_addr().expect("echo address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

async fn proxy_to_echo() -> ProxyHandle {
    let upstream = echo_server().await;
    FaultProxy::start(([127, 0, 0, 1], 0).into(), upstream)
        .await
        .expect("start the proxy")
}

async fn connect(proxy: &ProxyHandle) -> TcpStream {
    let stream = TcpStream::connect(proxy.addr())
        .await
        .expect("connect to the proxy");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Sends `msg` and reads back as many bytes, returning how long the round trip took.
async fn round_trip(stream: &mut TcpStream, msg: &[u8]) -> Duration {
    let started = Instant::now();
    stream.write_all(msg).await.expect("write");
    let mut back = vec![0u8; msg.len()];
    timeout(PATIENCE, stream.read_exact(&mut back))
        .await
        .expect("echo in time")
        .expect("read the echo");
    assert_eq!(back, msg);
    started.elapsed()
}

/// Bytes that are easy to tell apart when out of order.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Writes `data`, half-closes, and reads everything that comes back.
async fn send_all_read_all(stream: TcpStream, data: Vec<u8>) -> (Vec<u8>, usize) {
    let (mut r, mut w) = stream.into_split();
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.expect("write");
        w.shutdown().await.expect("half-close");
    });
    let mut back = Vec::new();
    let mut reads = 0;
    let mut buf = [0u8; 64 * 1024];
    timeout(PATIENCE, async {
        loop {
            let n = r.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            reads += 1;
            back.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the whole echo in time");
    writer.await.expect("writer task");
    (back, reads)
}

/// The first error a reset connection gives: a write (which may still be accepted by the
/// kernel before the RST arrives) then a read.
async fn first_error(stream: &mut TcpStream) -> ErrorKind {
    let outcome = timeout(PATIENCE, async {
        if let Err(e) = stream.write_all(b"ping").await {
            return Err(e.kind());
        }
        let mut buf = [0u8; 16];
        match stream.read(&mut buf).await {
            Err(e) => Err(e.kind()),
            Ok(n) => Ok(n),
        }
    })
    .await
    .expect("an answer in time");
    match outcome {
        Err(kind) => kind,
        Ok(n) => panic!("expected a reset, read {n} bytes"),
    }
}

#[tokio::test]
async fn no_fault_passes_bytes_unchanged() {
    let proxy = proxy_to_echo().await;
    let data = pattern(300_000);
    let (back, _) = send_all_read_all(connect(&proxy).await, data.clone()).await;
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the echo differs");
    let stats = proxy.stats();
    assert_eq!(stats.connections, 1);
    assert_eq!((stats.bytes_up, stats.bytes_down), (300_000, 300_000));
    assert_eq!(proxy.fault(), Fault::None);
    proxy.shutdown().await;
}

#[tokio::test]
async fn latency_delays_each_direction_of_new_and_existing_connections() {
    let proxy = proxy_to_echo().await;
    let mut existing = connect(&proxy).await;
    let fast = round_trip(&mut existing, b"hello").await;
    assert!(
        fast < Duration::from_millis(250),
        "{fast:?} without a fault"
    );

    proxy.set_fault(Fault::Latency {
        ms: 150,
        jitter_ms: 0,
    });
    let slow = round_trip(&mut existing, b"hello").await;
    assert!(
        slow >= Duration::from_millis(300),
        "existing connection: {slow:?}"
    );
    let mut fresh = connect(&proxy).await;
    let slow = round_trip(&mut fresh, b"hello").await;
    assert!(
        slow >= Duration::from_millis(300),
        "new connection: {slow:?}"
    );
    assert!(
        slow < Duration::from_millis(1_500),
        "new connection: {slow:?}"
    );

    // Jitter adds up to jitter_ms each way, never less than ms.
    proxy.set_fault(Fault::Latency {
        ms: 50,
        jitter_ms: 100,
    });
    for _ in 0..3 {
        let t = round_trip(&mut fresh, b"x").await;
        assert!(
            t >= Duration::from_millis(100) && t < Duration::from_millis(1_000),
            "{t:?}"
        );
    }

    proxy.clear();
    let fast = round_trip(&mut existing, b"hello").await;
    assert!(fast < Duration::from_millis(250), "{fast:?} after clear");
    proxy.shutdown().await;
}

#[tokio::test]
async fn bandwidth_takes_at_least_size_over_rate() {
    let proxy = proxy_to_echo().await;
    proxy.set_fault(Fault::Bandwidth {
        bytes_per_sec: 40_000,
    });
    let data = pattern(30_000);
    let started = Instant::now();
    let (back, _) = send_all_read_all(connect(&proxy).await, data.clone()).await;
    let took = started.elapsed();
    assert!(back == data, "the echo differs");
    // 30,000 bytes at 40,000 B/s: at least 0.75 s each way (the two ways overlap).
    assert!(took >= Duration::from_millis(750), "{took:?}");
    assert!(took < Duration::from_millis(2_500), "{took:?}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn reset_gives_the_client_connection_reset() {
    let proxy = proxy_to_echo().await;
    let mut existing = connect(&proxy).await;
    round_trip(&mut existing, b"hello").await;

    // A new connection under Reset { 1.0 } is reset at once.
    proxy.set_fault(Fault::Reset { probability: 1.0 });
    let mut fresh = connect(&proxy).await;
    assert_eq!(first_error(&mut fresh).await, ErrorKind::ConnectionReset);
    // The existing one drew once, when the fault was set.
    assert_eq!(first_error(&mut existing).await, ErrorKind::ConnectionReset);
    assert_eq!(proxy.stats().resets, 2);

    // Probability 0 resets nothing.
    proxy.set_fault(Fault::Reset { probability: 0.0 });
    let mut spared = connect(&proxy).await;
    round_trip(&mut spared, b"still here").await;
    assert_eq!(proxy.stats().resets, 2);
    proxy.shutdown().await;
}

#[tokio::test]
async fn blackhole_hangs_then_closes_when_cleared() {
    let proxy = proxy_to_echo().await;
    let mut existing = connect(&proxy).await;
    round_trip(&mut existing, b"hello").await;

    proxy.set_fault(Fault::Blackhole);
    let mut fresh = connect(&proxy).await;
    let mut buf = [0u8; 16];
    for stream in [&mut existing, &mut fresh] {
        stream
            .write_all(b"anyone?")
            .await
            .expect("writes are swallowed, not refused");
        let reply = timeout(Duration::from_millis(500), stream.read(&mut buf)).await;
        assert!(reply.is_err(), "no reply within 500 ms, got {reply:?}");
    }
    let stats = proxy.stats();
    assert_eq!(stats.blackholed, 2);
    assert!(stats.blackholed_bytes >= 14, "{stats:?}");

    proxy.clear();
    for stream in [&mut existing, &mut fresh] {
        let read = timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("closed in time");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "closed after clear, got {read:?}"
        );
    }
    // A new connection after the clear works.
    round_trip(&mut connect(&proxy).await, b"back").await;
    proxy.shutdown().await;
}

#[tokio::test]
async fn slicer_delivers_the_same_bytes_in_many_reads() {
    let proxy = proxy_to_echo().await;
    proxy.set_fault(Fault::Slicer {
        max_segment: 8,
        delay_ms: 4,
    });
    let data = pattern(400);
    let (back, reads) = send_all_read_all(connect(&proxy).await, data.clone()).await;
    assert!(back == data, "the echo differs");
    // 50 segments 4 ms apart arrive mostly one by one.
    assert!(reads >= 20, "only {reads} reads");
    proxy.shutdown().await;
}

#[tokio::test]
async fn half_close_ends_the_reply_but_not_the_request() {
    let proxy = proxy_to_echo().await;
    proxy.set_fault(Fault::HalfClose { after_bytes: 10 });
    let mut stream = connect(&proxy).await;
    stream.write_all(&pattern(100)).await.expect("write");
    let mut back = Vec::new();
    timeout(PATIENCE, stream.read_to_end(&mut back))
        .await
        .expect("EOF in time")
        .expect("read");
    assert_eq!(back, pattern(10), "exactly after_bytes, then EOF");
    // Our write half is still open: writes still succeed.
    for _ in 0..5 {
        stream
            .write_all(b"more")
            .await
            .expect("writes after the half-close");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = proxy.stats();
    assert_eq!(stats.half_closes, 1);
    assert!(stats.bytes_up >= 120, "{stats:?}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_refusing_upstream_closes_the_client_and_set_upstream_moves_on() {
    // A port with nothing behind it: bind, note it, close.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr")
    };
    let proxy = FaultProxy::start(([127, 0, 0, 1], 0).into(), dead)
        .await
        .expect("start");
    let mut stream = connect(&proxy).await;
    let mut buf = [0u8; 8];
    let read = timeout(PATIENCE, stream.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(proxy.stats().upstream_failures, 1);

    proxy.set_upstream(echo_server().await);
    round_trip(&mut connect(&proxy).await, b"found").await;
    proxy.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_everything_and_stops_accepting() {
    let proxy = proxy_to_echo().await;
    let addr = proxy.addr();
    let mut open = connect(&proxy).await;
    round_trip(&mut open, b"hi").await;
    let started = Instant::now();
    proxy.shutdown().await;
    assert!(started.elapsed() < PATIENCE);
    let mut buf = [0u8; 8];
    let read = timeout(PATIENCE, open.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
    assert_eq!(proxy.stats().active, 0);
    proxy.shutdown().await; // twice is fine
}
