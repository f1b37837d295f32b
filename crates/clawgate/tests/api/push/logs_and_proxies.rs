//! Review R's R11 and the push client's proxy (`docs/src/security.md`; findings 3 and 4 of the "push
//! & text" slice) on the real binary, whose environment and output the test owns: a failed push
//! logs no endpoint URL even at trace level, and the push client ignores proxy settings.

use crate::harness::push::{PushService, WAIT};
use crate::harness::serve::{Server, clawgate, free_port, http_client, post};
use clawgate_testkit::SoftKey;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A person with a passkey and an API key on the running binary: (session, API key).
async fn person_with_api_key(http: &reqwest::Client, server: &Server) -> (String, String) {
    let url = |p: &str| format!("{}{p}", server.base);
    let reg = post(http, url("/api/v1/auth/register"), None, json!({ "email": "ada@example.com" })).await;
    let email_session = reg["token"].as_str().expect("token").to_owned();
    let start = post(http, url("/api/v1/passkey/register/start"), Some(&email_session), json!({})).await;
    let mut key = SoftKey::new(&server.origin);
    let credential = key.create(&start["publicKey"]).await;
    let body = json!({ "ceremonyId": start["ceremonyId"], "credential": credential });
    let done = post(http, url("/api/v1/passkey/register/complete"), Some(&email_session), body).await;
    let session = done["token"].as_str().expect("token").to_owned();
    let created = post(http, url("/api/v1/auth/api-keys"), Some(&session), json!({})).await;
    (session, created["key"].as_str().expect("key").to_owned())
}

/// A TCP listener that takes connections, counts them and drops them at once (a connection
/// reset, or a close before any answer, for whoever sent something).
async fn dropping_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, seen)
}

/// Reads the binary's lines until `count` of them contain `needle`; returns every line read.
fn lines_until(server: &Server, needle: &str, count: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    while seen.iter().filter(|l: &&String| l.contains(needle)).count() < count {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match server.lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "no {count} lines with {needle:?} within {WAIT:?}; the binary said:\n{}",
                seen.join("\n")
            ),
        }
    }
    seen
}

/// R3: pushes that fail (a reset, a refused connection) are logged with the push service's host
/// only; the endpoint's path, the capability to push to that browser, appears in no line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_push_never_logs_its_endpoint() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let (reset_port, attempts) = dropping_listener().await;
    let refused_port = free_port();
    let mut cmd = clawgate(dir.path());
    cmd.env("PORT", port.to_string())
        .env("LOG_LEVEL", "trace")
        .env("LOG_FORMAT", "json")
        .env("PUSH_ALLOW_HTTP_LOOPBACK", "true");
    let server = Server::start(cmd, port);
    let http = http_client();
    let (session, api_key) = person_with_api_key(&http, &server).await;

    // Real browser keys, so that each push is built and sent, and fails on the way.
    let keys = PushService::start().await;
    let capability = "capability-3f9c1e7a5b2d48e6";
    let endpoints = [
        format!("http://127.0.0.1:{reset_port}/push/{capability}-reset"),
        format!("http://127.0.0.1:{refused_port}/push/{capability}-refused"),
    ];
    for endpoint in &endpoints {
        post(
            &http,
            format!("{}/api/v1/push/subscribe", server.base),
            Some(&session),
            keys.subscription(endpoint),
        )
        .await;
    }
    let ask = json!({ "action": "rm -rf ./old", "agentId": "bot" });
    post(&http, format!("{}/api/v1/approval/request", server.base), Some(&api_key), ask).await;
    let mut logs = lines_until(&server, "push not delivered", 2);
    logs.extend(server.stop().lines().map(str::to_owned));

    assert!(attempts.load(Ordering::SeqCst) >= 1, "the push reached the resetting endpoint");
    let failures: Vec<&String> = logs.iter().filter(|l| l.contains("push not delivered")).collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(
        failures.iter().all(|l| l.contains("127.0.0.1")),
        "the push service's host is named: {failures:?}"
    );
    let leaks: Vec<&String> = logs.iter().filter(|l| l.contains(capability)).collect();
    assert!(
        leaks.is_empty(),
        "endpoint paths in the log:\n{}",
        leaks.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("\n")
    );
}

/// R4: with every proxy variable pointing at a listener, the push still goes straight to the
/// push service (where the address check applies) and the proxy sees no connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_never_go_through_a_proxy() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let (proxy_port, proxied) = dropping_listener().await;
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    let mut service = PushService::start().await;
    let mut cmd = clawgate(dir.path());
    cmd.env("PORT", port.to_string()).env("PUSH_ALLOW_HTTP_LOOPBACK", "true");
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
        cmd.env(var, &proxy);
    }
    let server = Server::start(cmd, port);
    let http = http_client();
    let (session, api_key) = person_with_api_key(&http, &server).await;
    let endpoint = service.endpoint("/push/direct");
    post(
        &http,
        format!("{}/api/v1/push/subscribe", server.base),
        Some(&session),
        service.subscription(&endpoint),
    )
    .await;
    let ask = json!({ "action": "rm -rf ./old", "agentId": "bot" });
    post(&http, format!("{}/api/v1/approval/request", server.base), Some(&api_key), ask).await;

    let push = service.next_of("approval_request").await;
    assert_eq!(push.path, "/push/direct");
    assert_eq!(proxied.load(Ordering::SeqCst), 0, "the proxy was used");
    server.stop();
}
