//! A retried request never creates two approvals: a proxy lets the first
//! `POST /api/v1/approval/request` reach the server but drops the connection before the answer
//! gets back; the client retries with the same `Idempotency-Key` and gets the same request.

use crate::harness::TestApp;
use clawgate::config::Backend;
use clawgate_client::{ApprovalRequest, Client};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A proxy to `upstream` that swallows the answer to the first approval request. Its address,
/// and whether it has swallowed one yet.
async fn lossy_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("addr");
    let swallowed = Arc::new(AtomicBool::new(false));
    let flag = swallowed.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(client, upstream, flag.clone()));
        }
    });
    (addr, swallowed)
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, swallowed: Arc<AtomicBool>) {
    let Some(request) = read_message(&mut client).await else { return };
    let mut server = TcpStream::connect(upstream).await.expect("upstream");
    server.write_all(&request).await.expect("forward");
    let first_ask =
        request.starts_with(b"POST /api/v1/approval/request ") && !swallowed.load(Ordering::SeqCst);
    if first_ask {
        // The server answers (so the request is stored), but the answer never gets back.
        let answer = read_message(&mut server).await.expect("the server answers");
        assert!(answer.starts_with(b"HTTP/1.1 201"), "{}", String::from_utf8_lossy(&answer));
        swallowed.store(true, Ordering::SeqCst);
        return; // both connections close here
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

/// One HTTP/1.1 message (headers and a Content-Length body), or `None` if the peer closed.
async fn read_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let body_len = content_length(&buf[..end]);
            if buf.len() >= end + 4 + body_len {
                return Some(buf);
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_never_creates_two_approvals() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let upstream: SocketAddr = app.base.trim_start_matches("http://").parse().expect("server address");
    let (proxy, swallowed) = lossy_proxy(upstream).await;

    let client = Client::new(&format!("http://{proxy}"), &key).expect("client");
    let created =
        client.request(&ApprovalRequest::new("charge card 42 EUR")).await.expect("created on retry");

    assert!(swallowed.load(Ordering::SeqCst), "the first answer was lost on the way");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 1, "one approval, not two");
    let pending = app.get("/api/v1/approval/pending", &ada.auth()).await.expect(200);
    assert_eq!(pending.body["requests"][0]["requestId"], created.request_id.as_str());
    // Through the same proxy, the request goes on normally: one more call, one more row.
    client.status(&created.request_id).await.expect("status through the proxy");
    client.request(&ApprovalRequest::new("another")).await.expect("second request");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 2);
}
