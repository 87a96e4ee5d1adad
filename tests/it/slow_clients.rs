//! Slow and piled-up clients (issue 11, item 1): connections that send half a header, drip
//! a body, or sit idle are closed in time; a flood of them cannot keep `/health` from
//! answering; and none of them holds SIGTERM open.

use crate::common::TestServer;
use crate::crash::Serve;
use agentx::config::Config;
use reqwest::StatusCode;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The start of a request whose headers never end.
const HALF_HEADER: &[u8] = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
/// A whole request, served on a kept-alive connection.
const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

async fn connect(base: &str) -> TcpStream {
    TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("connects")
}

/// Whether the server has closed `socket` (end of stream or reset) within `within`.
async fn closed_within(socket: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    match tokio::time::timeout(within, socket.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(n)) => panic!(
            "the server answered instead: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(_) => false,
    }
}

async fn health(url: &str) -> StatusCode {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let response = client.get(format!("{url}/health")).send().await;
    response.expect("/health answers").status()
}

fn limits(config: &mut Config, adjust: impl FnOnce(&mut agentx::config::ConnectionConfig)) {
    adjust(&mut config.server.connections);
}

/// 200 connections from one address that each send half a header: the server keeps at
/// most its per-address cap of them open (closing the oldest to make room), and `/health`
/// answers on both listeners throughout.
#[tokio::test]
async fn half_header_flood_is_shed_and_health_answers() {
    let cap = 16;
    let srv = TestServer::start_with(|c| {
        limits(c, |l| {
            l.max_connections_per_address = NonZeroUsize::new(cap).unwrap();
            l.max_connections = NonZeroUsize::new(4 * cap).unwrap();
            // Long, so that only the cap can be what closes them.
            l.header_read_timeout_ms = 60_000;
        })
    })
    .await;
    let mut flood = Vec::new();
    for _ in 0..200 {
        let mut socket = connect(&srv.base).await;
        socket.write_all(HALF_HEADER).await.unwrap();
        flood.push(socket);
    }
    assert_eq!(health(&srv.base).await, StatusCode::OK);
    assert_eq!(health(&srv.daemon).await, StatusCode::OK);
    let mut closed = 0;
    for socket in &mut flood {
        if closed_within(socket, Duration::from_millis(20)).await {
            closed += 1;
        }
    }
    assert!(
        closed >= flood.len() - cap,
        "{closed} of {} half-header connections closed; at most {cap} may stay open",
        flood.len()
    );
}

/// The cap on all connections (both listeners, every address) makes room by closing the
/// oldest connection with nothing in flight: with room for 8 and 8 kept-alive connections
/// open and idle, a 9th client is served, the first of the 8 is the one closed, and the
/// other 7 stay open.
#[tokio::test]
async fn the_total_cap_sheds_the_oldest_idle_connection() {
    let srv = TestServer::start_with(|c| {
        limits(c, |l| {
            l.max_connections = NonZeroUsize::new(8).unwrap();
            // Only the total cap, not the per-address one or a timeout, may close them.
            l.max_connections_per_address = NonZeroUsize::new(1_000).unwrap();
            l.header_read_timeout_ms = 60_000;
            l.idle_timeout_ms = 60_000;
        })
    })
    .await;
    let served = async || {
        let mut socket = connect(&srv.base).await;
        socket.write_all(HEALTH).await.unwrap();
        let mut buf = [0u8; 512];
        let n = socket.read(&mut buf).await.unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        socket
    };
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(served().await);
    }
    let _ninth = served().await;
    assert!(
        closed_within(&mut open[0], Duration::from_secs(5)).await,
        "the oldest idle connection is closed"
    );
    for (i, socket) in open.iter_mut().enumerate().skip(1) {
        assert!(
            !closed_within(socket, Duration::from_millis(50)).await,
            "connection {i} stays open"
        );
    }
}

/// A client that sends its headers a byte at a time is cut off after the header-read
/// timeout, as is one that connects and sends nothing; a prompt client is served.
#[tokio::test]
async fn slow_headers_are_cut_off() {
    let timeout = Duration::from_millis(500);
    let srv = TestServer::start_with(|c| {
        limits(c, |l| l.header_read_timeout_ms = timeout.as_millis() as u64)
    })
    .await;

    let socket = connect(&srv.base).await;
    let (mut reader, mut writer) = socket.into_split();
    let started = Instant::now();
    // Keeps sending: each byte would reset a per-read timeout, not a header deadline.
    let drip = tokio::spawn(async move {
        let mut sent = writer.write_all(HALF_HEADER).await;
        while sent.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            sent = writer.write_all(b"X").await;
        }
    });
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the dripping client is cut off within 5 s: {read:?}"
    );
    let took = started.elapsed();
    assert!(took >= timeout, "not before the timeout: {took:?}");
    drip.abort();

    let mut silent = connect(&srv.base).await;
    assert!(
        closed_within(&mut silent, Duration::from_secs(5)).await,
        "a connection that sends nothing is closed too"
    );
    assert_eq!(health(&srv.base).await, StatusCode::OK);
}

/// A kept-alive connection is closed once it has sat idle for the idle timeout after its
/// last response, and not before: a request sent meanwhile is served on it, and the header
/// timeout (far longer here) does not decide.
#[tokio::test]
async fn idle_kept_alive_connections_are_closed() {
    let idle = Duration::from_millis(600);
    let srv = TestServer::start_with(|c| {
        limits(c, |l| {
            l.idle_timeout_ms = idle.as_millis() as u64;
            l.header_read_timeout_ms = 60_000;
        })
    })
    .await;
    let mut socket = connect(&srv.base).await;
    for _ in 0..2 {
        socket.write_all(HEALTH).await.unwrap();
        let mut buf = [0u8; 512];
        let n = socket.read(&mut buf).await.unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        // Served again after a pause shorter than the idle timeout.
        assert!(!closed_within(&mut socket, idle / 3).await, "closed early");
    }
    let idle_from = Instant::now();
    assert!(
        closed_within(&mut socket, Duration::from_secs(10)).await,
        "an idle connection is closed"
    );
    let took = idle_from.elapsed() + idle / 3;
    assert!(took >= idle, "not before the idle timeout: {took:?}");
}

/// A body sent a few bytes and then no more gets a JSON 4xx once the body-read timeout
/// has passed, instead of holding the request open.
#[tokio::test]
async fn stalled_body_times_out() {
    let srv = TestServer::start_with(|c| limits(c, |l| l.body_read_timeout_ms = 500)).await;
    let mut socket = connect(&srv.base).await;
    socket
        .write_all(
            b"POST /auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 200\r\n\r\n{\"email\": ",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        loop {
            let n = socket.read(&mut buf).await?;
            answer.extend_from_slice(&buf[..n]);
            if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                return Ok::<_, std::io::Error>(());
            }
        }
    })
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(read.is_ok(), "answered within 5 s: {answer:?}");
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    assert!(answer.contains("\"detail\""), "{answer}");
}

/// SIGTERM while one client has sent half a header and another half a body: the process
/// exits within the shutdown timeout instead of waiting for them forever.
#[tokio::test]
async fn sigterm_is_not_held_by_half_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agentx.json");
    std::fs::write(
        &config,
        r#"{"server": {"connections": {"shutdown_timeout_ms": 1000,
            "header_read_timeout_ms": 60000, "body_read_timeout_ms": 60000}}}"#,
    )
    .unwrap();
    let mut serve = Serve::start(&config, &dir.path().join("data")).await;
    let mut half_header = connect(&serve.base).await;
    half_header.write_all(b"GET /hea").await.unwrap();
    let mut half_body = connect(&serve.base).await;
    half_body
        .write_all(
            b"POST /auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 200\r\n\r\n{\"email\": ",
        )
        .await
        .unwrap();
    // Let the server take both in (the second one's request is now in flight).
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    serve.terminate();
    let status = tokio::time::timeout(Duration::from_secs(10), serve.child.wait())
        .await
        .expect("agentx exits within 10 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
}
