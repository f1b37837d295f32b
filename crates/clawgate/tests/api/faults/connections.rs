//! Review R's R3 (`docs/src/security.md`; finding 1 of the "ops" slice): slow-header and idle
//! connections were never closed and connections had no cap, so a few hundred sockets exhausted the
//! file descriptors and `/health` stopped answering.

use crate::harness::{Auth, TestApp};
use clawgate::config::Backend;
use clawgate::config::ServeArgs;
use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};

/// Longest any one wait in these tests may take before the test fails instead of hanging.
const BOUND: Duration = Duration::from_secs(15);

async fn spawn(tweak: impl FnOnce(&mut ServeArgs)) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, tweak).await.expect("a SQLite server")
}

fn address(app: &TestApp) -> SocketAddr {
    app.base.trim_start_matches("http://").parse().expect("the server's address")
}

/// A connection to the server from `from` (any 127.0.0.0/8 address is this machine).
async fn connect_from(app: &TestApp, from: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::from((from, 0))).expect("bind the client's address");
    timeout(BOUND, socket.connect(address(app))).await.expect("connects in time").expect("connect")
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n{extra}\r\n")
}

/// One response read off the socket: status, head, body (by Content-Length).
async fn read_response(stream: &mut TcpStream) -> (u16, String, String) {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().expect("a length"))
                    .expect("a content-length");
                if data.len() >= end + 4 + length {
                    let body = String::from_utf8_lossy(&data[end + 4..end + 4 + length]).into_owned();
                    let status = head[9..12].parse().expect("a status");
                    return (status, head, body);
                }
            }
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "the connection closed before a whole response: {:?}",
                String::from_utf8_lossy(&data)
            );
            data.extend_from_slice(&chunk[..n]);
        }
    };
    timeout(BOUND, read).await.expect("a response in time")
}

/// How long after `since` the server closed the connection (end of stream or reset).
async fn closed_after(stream: &mut TcpStream, since: Instant) -> Duration {
    let mut chunk = [0u8; 1024];
    let closed = async {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => since.elapsed(),
            Ok(n) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&chunk[..n])),
        }
    };
    timeout(BOUND, closed).await.expect("the server closes the connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_connection_is_closed_after_the_header_timeout() {
    let app = spawn(|a| {
        a.header_timeout_seconds = 1;
        a.idle_timeout_seconds = 60;
    })
    .await;
    let mut slow = connect_from(&app, Ipv4Addr::LOCALHOST).await;
    let start = Instant::now();
    // Half a request head, and then nothing: the slowloris pattern.
    slow.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\nx-slow: ").await.expect("write");
    let after = closed_after(&mut slow, start).await;
    assert!(after >= Duration::from_millis(900), "closed before the header timeout: {after:?}");
    // A connection that sends nothing at all is held to the same deadline.
    let mut silent = connect_from(&app, Ipv4Addr::LOCALHOST).await;
    let after = closed_after(&mut silent, Instant::now()).await;
    assert!(after < Duration::from_secs(5), "{after:?}");
    app.get("/health", &Auth::None).await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn(|a| {
        a.header_timeout_seconds = 1;
        a.idle_timeout_seconds = 3;
    })
    .await;
    let mut conn = connect_from(&app, Ipv4Addr::LOCALHOST).await;
    conn.write_all(get("/health", "").as_bytes()).await.expect("write");
    let (status, head, _) = read_response(&mut conn).await;
    assert_eq!(status, 200);
    assert!(!head.contains("connection: close"), "kept alive: {head}");
    // Idle past the header timeout (1 s) but within the idle one (3 s): still open and usable.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    conn.write_all(get("/health", "").as_bytes()).await.expect("write");
    assert_eq!(read_response(&mut conn).await.0, 200, "an idle connection is not held to the header timeout");
    let after = closed_after(&mut conn, Instant::now()).await;
    assert!(after >= Duration::from_millis(2_900), "closed after {after:?}, before the idle timeout (3 s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_longer_than_the_idle_timeout_still_answers() {
    let app = spawn(|a| {
        a.header_timeout_seconds = 1;
        a.idle_timeout_seconds = 1;
    })
    .await;
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "restart the queue").await;
    let mut conn = connect_from(&app, Ipv4Addr::LOCALHOST).await;
    let start = Instant::now();
    let wait = get(&format!("/api/v1/approval/status/{}?wait=3", asked.id), &format!("x-api-key: {key}\r\n"));
    conn.write_all(wait.as_bytes()).await.expect("write");
    let (status, _, body) = read_response(&mut conn).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["status"], "PENDING");
    assert!(start.elapsed() >= Duration::from_millis(2_900), "the wait was held: {:?}", start.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_outlives_the_idle_timeout() {
    let app = spawn(|a| {
        a.header_timeout_seconds = 1;
        a.idle_timeout_seconds = 1;
    })
    .await;
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "rotate the logs").await;
    let mut conn = connect_from(&app, Ipv4Addr::LOCALHOST).await;
    let stream =
        get(&format!("/api/v1/approval/status/{}/events", asked.id), &format!("x-api-key: {key}\r\n"));
    conn.write_all(stream.as_bytes()).await.expect("write");
    let mut seen = String::new();
    let mut chunk = [0u8; 4096];
    while !seen.contains("PENDING") {
        let n = timeout(BOUND, conn.read(&mut chunk)).await.expect("the first event").expect("read");
        assert!(n > 0, "the stream ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    // Twice the idle timeout with nothing sent either way: a stream is a request in flight.
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.approve(&asked.id, &mut ada.key).await.expect(200);
    while !seen.contains("APPROVED") {
        let n = timeout(BOUND, conn.read(&mut chunk)).await.expect("the approval event").expect("read");
        assert!(n > 0, "the stream was closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_cap_refuses_another_connection_from_the_same_address() {
    let app = spawn(|a| a.max_connections_per_ip = 2).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = connect_from(&app, Ipv4Addr::LOCALHOST).await;
        conn.write_all(get("/health", "").as_bytes()).await.expect("write");
        assert_eq!(read_response(&mut conn).await.0, 200);
        held.push(conn);
    }
    let mut third = connect_from(&app, Ipv4Addr::LOCALHOST).await;
    third.write_all(get("/health", "").as_bytes()).await.expect("write");
    let (status, head, body) = read_response(&mut third).await;
    assert_eq!(status, 503, "{body}");
    assert!(head.contains("retry-after: "), "{head}");
    let body: Value = serde_json::from_str(&body).expect("the API's error shape");
    assert_eq!(body["error"]["code"], "too_many_connections");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| m.contains("MAX_CONNECTIONS_PER_IP")),
        "{body}"
    );
    closed_after(&mut third, Instant::now()).await;

    // Another address is not affected.
    let mut other = connect_from(&app, Ipv4Addr::new(127, 0, 0, 2)).await;
    other.write_all(get("/health", "").as_bytes()).await.expect("write");
    assert_eq!(read_response(&mut other).await.0, 200);
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overall_connection_cap_refuses_clearly_and_frees_places() {
    let app = spawn(|a| {
        a.max_connections = 2;
        a.max_connections_per_ip = 0;
    })
    .await;
    let mut held = Vec::new();
    for last in [2, 3] {
        let mut conn = connect_from(&app, Ipv4Addr::new(127, 0, 0, last)).await;
        conn.write_all(get("/health", "").as_bytes()).await.expect("write");
        assert_eq!(read_response(&mut conn).await.0, 200);
        held.push(conn);
    }
    let mut refused = connect_from(&app, Ipv4Addr::new(127, 0, 0, 4)).await;
    refused.write_all(get("/health", "").as_bytes()).await.expect("write");
    let (status, head, body) = read_response(&mut refused).await;
    assert_eq!(status, 503, "{body}");
    assert!(head.contains("retry-after: "), "{head}");
    let body: Value = serde_json::from_str(&body).expect("the API's error shape");
    assert_eq!(body["error"]["code"], "too_many_connections");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("MAX_CONNECTIONS")), "{body}");

    // Closing a connection gives its place back (once the server has seen it close).
    drop(held.pop());
    let freed = async {
        loop {
            let mut conn = connect_from(&app, Ipv4Addr::new(127, 0, 0, 4)).await;
            conn.write_all(get("/health", "").as_bytes()).await.expect("write");
            if read_response(&mut conn).await.0 == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    timeout(BOUND, freed).await.expect("a place is given back when a connection closes");
}
