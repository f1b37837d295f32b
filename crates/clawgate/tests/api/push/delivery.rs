//! Web Push, checked by a push service that is not ours: `tests/push_receiver.py` verifies the
//! VAPID signature with `cryptography` and decrypts the payload with `http_ece`.
//!
//! The receiver runs on the Python of CLAWGATE_TEST_PYTHON (scripts/test prepares a venv at
//! target/test-venv and sets it) or, when unset, of target/test-venv. Without one the delivery
//! tests are skipped, unless CLAWGATE_REQUIRE_PUSH_TESTS=1 (CI) makes that a failure.

use crate::harness::{Auth, Resp, TestApp, on_both_backends};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clawgate::config::Backend;
use clawgate::domain::ids::UserId;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;
use tokio::sync::mpsc;

/// The longest any single wait in these tests may take.
const WAIT: Duration = Duration::from_secs(30);
/// What the agent asks for: it must never leave the server in a push.
const ACTION: &str = "transfer 4200 EUR to IBAN DE02120300000000202051";

on_both_backends!(pushes_reach_the_owners_browsers);

async fn pushes_reach_the_owners_browsers(backend: Backend) {
    let Some(mut receiver) = Receiver::start().await else { return };
    let Some(app) = TestApp::spawn_with(backend, |a| a.push_allow_http_loopback = true).await else {
        return;
    };
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let vapid =
        app.get("/api/v1/push/vapid-public-key", &Auth::None).await.expect(200).body["publicKey"].clone();
    // One browser that stays, and one whose push service says 410 Gone, but only once released.
    let ok = receiver.endpoint("/push/ok");
    let gone = receiver.endpoint("/push/gone-held");
    for endpoint in [&ok, &gone] {
        app.post("/api/v1/push/subscribe", &ada.auth(), receiver.subscription(endpoint)).await.expect(201);
    }
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM push_subscriptions").await, 2);

    let asked = app.ask(&key, ACTION).await;
    // The 201 is here while the held push cannot have been answered yet. Had the server waited
    // for its pushes, the held one would have timed out and its subscription would stay.
    receiver.release_held();

    let mut pushes = vec![receiver.next_line().await, receiver.next_line().await];
    pushes.sort_by_key(|p| p["path"].as_str().map(str::to_owned));
    assert_eq!(pushes[0]["path"], "/push/gone-held");
    assert_eq!(pushes[1]["path"], "/push/ok");
    for push in &pushes {
        assert_eq!(push["problems"], json!([]), "the push service found problems: {push}");
        assert_eq!(push["vapid_ok"], true, "VAPID refused: {push}");
        assert_eq!(push["k"], vapid, "signed with the server's VAPID key");
        assert_eq!(push["aud"], receiver.origin());
        assert_eq!(push["sub"], "mailto:admin@localhost");
        assert_payload_tells_no_secret(&push["payload"], &asked.id, &asked.binding_code);
        assert_headers(&push["headers"]);
    }
    assert_eq!(pushes[0]["headers"]["topic"], pushes[1]["headers"]["topic"], "one topic per person");

    wait_for_subscriptions(&app, 1).await;
    let left = app.state.db.push_subscriptions_of(&UserId::from_trusted(ada.user_id.clone())).await;
    let left: Vec<String> = left.expect("subscriptions").into_iter().map(|s| s.endpoint).collect();
    assert_eq!(left, vec![ok], "the gone subscription is removed, the other stays");
}

fn assert_payload_tells_no_secret(payload: &Value, request_id: &str, binding_code: &str) {
    assert_eq!(payload["type"], "approval_request", "{payload}");
    assert_eq!(payload["requestId"], request_id);
    assert_eq!(payload["agentId"], "bot");
    assert_eq!(payload["title"], "bot asks for approval");
    assert_eq!(payload["count"], 1);
    assert_eq!(payload.as_object().map(|o| o.len()), Some(5), "nothing but these five: {payload}");
    let text = payload.to_string();
    assert!(!text.contains("4200") && !text.contains("IBAN"), "no action text in a push: {text}");
    assert!(!text.contains(binding_code), "no binding code in a push: {text}");
}

fn assert_headers(headers: &Value) {
    assert_eq!(headers["urgency"], "high");
    assert_eq!(headers["content-encoding"], "aes128gcm");
    let ttl: u64 = headers["ttl"].as_str().and_then(|t| t.parse().ok()).expect("a numeric TTL");
    assert!((1..=300).contains(&ttl), "TTL {ttl} is at most the request's lifetime");
    let topic = headers["topic"].as_str().expect("a Topic");
    assert_eq!(topic.len(), 32, "RFC 8030: at most 32 characters");
    assert!(URL_SAFE_NO_PAD.decode(topic).is_ok(), "RFC 8030: base64url characters");
}

/// Bounded: the push is answered in the background, after the agent's 201.
async fn wait_for_subscriptions(app: &TestApp, expected: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let n = app.scalar_i64("SELECT COUNT(*) FROM push_subscriptions").await;
        if n == expected {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{n} subscriptions, not {expected}, after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_only_on_loopback_and_only_when_allowed() {
    let Some(dev) = TestApp::spawn_with(Backend::Sqlite, |a| a.push_allow_http_loopback = true).await else {
        return;
    };
    let ada = dev.person("ada@example.com").await;
    for refused in [
        "http://example.com/x",
        "http://10.0.0.1/x",
        "http://localhost.example.com/x",
        "http://user:pw@127.0.0.1:9/x",
        "https://user@fcm.googleapis.com/x",
        "ftp://127.0.0.1/x",
        // Server-side request forgery: only known push services, by name, on the default port.
        "https://push.example.net/x",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/x",
        "https://fcm.googleapis.com:8443/x",
        "https://fcm.googleapis.com.evil.example/x",
    ] {
        subscribe(&dev, &ada.auth(), refused).await.expect_error(400, "invalid_request");
    }
    for accepted in [
        "http://127.0.0.1:9/x",
        "http://[::1]:9/x",
        "http://localhost:9/x",
        "https://fcm.googleapis.com/fcm/send/x",
    ] {
        subscribe(&dev, &ada.auth(), accepted).await.expect(201);
    }

    let Some(prod) = TestApp::spawn(Backend::Sqlite).await else { return };
    let bob = prod.person("bob@example.com").await;
    for refused in ["http://127.0.0.1:9/x", "http://localhost:9/x"] {
        subscribe(&prod, &bob.auth(), refused).await.expect_error(400, "invalid_request");
    }
}

/// A person gets at most one request push per interval; what arrives in between is collapsed into
/// one "N requests are waiting" when the interval ends (approval fatigue).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_are_paced_and_collapsed_per_person() {
    let Some(mut receiver) = Receiver::start().await else { return };
    let tweak = |a: &mut clawgate::config::ServeArgs| {
        a.push_allow_http_loopback = true;
        a.push_min_interval_seconds = 2;
    };
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, tweak).await else { return };
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let endpoint = receiver.endpoint("/push/ok");
    app.post("/api/v1/push/subscribe", &ada.auth(), receiver.subscription(&endpoint)).await.expect(201);

    let first = app.ask(&key, "one").await;
    let now = receiver.next_line().await;
    assert_eq!(now["payload"]["requestId"], first.id.as_str());
    assert_eq!(now["payload"]["count"], 1);
    // Three more inside the interval: one push when it ends, naming the newest and the count.
    app.ask(&key, "two").await;
    app.ask(&key, "three").await;
    let newest = app.ask(&key, "four").await;
    let later = receiver.next_line().await;
    assert_eq!(later["payload"]["requestId"], newest.id.as_str());
    assert_eq!(later["payload"]["count"], 3);
    assert_eq!(later["payload"]["title"], "3 approval requests are waiting");
    assert_eq!(later["headers"]["topic"], now["headers"]["topic"], "the push service may collapse them too");
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await,
        4,
        "pacing never drops a request"
    );
}

async fn subscribe(app: &TestApp, auth: &Auth, endpoint: &str) -> Resp {
    let keys = json!({ "p256dh": URL_SAFE_NO_PAD.encode(browser_point()), "auth": URL_SAFE_NO_PAD.encode([7u8; 16]) });
    let body = json!({ "endpoint": endpoint, "expirationTime": null, "keys": keys });
    app.post("/api/v1/push/subscribe", auth, body).await
}

/// A valid uncompressed P-256 point (the generator), standing in for a browser's key.
fn browser_point() -> Vec<u8> {
    let x = "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296";
    let y = "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5";
    let mut point = vec![4u8];
    point.extend(hex_bytes(x));
    point.extend(hex_bytes(y));
    point
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
}

/// `tests/push_receiver.py`, running; killed when dropped.
struct Receiver {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<Value>,
    port: u16,
    p256dh: String,
    auth: String,
}

impl Receiver {
    async fn start() -> Option<Self> {
        let python = crate::harness::test_python("http_ece", "Web Push delivery tests")?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/push_receiver.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        // Lines arrive as the process says things: the test waits on them, not on a clock.
        let lines = crate::harness::json_lines(child.stdout.take().expect("piped stdout"));
        let stdin = child.stdin.take();
        let mut receiver = Self { child, stdin, lines, port: 0, p256dh: String::new(), auth: String::new() };
        let ready = receiver.next_line().await;
        receiver.port = ready["port"].as_u64().and_then(|p| u16::try_from(p).ok()).expect("port");
        receiver.p256dh = ready["p256dh"].as_str().expect("p256dh").to_owned();
        receiver.auth = ready["auth"].as_str().expect("auth").to_owned();
        Some(receiver)
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// A browser's `PushSubscription` JSON for `endpoint`, with the receiver's keys.
    fn subscription(&self, endpoint: &str) -> Value {
        json!({ "endpoint": endpoint, "expirationTime": null, "keys": { "p256dh": self.p256dh, "auth": self.auth } })
    }

    async fn next_line(&mut self) -> Value {
        match tokio::time::timeout(WAIT, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!(
                "the push receiver exited (its stderr is above); does the test Python have http_ece \
                 and cryptography? scripts/test installs them"
            ),
            Err(_) => panic!("nothing from the push receiver within {WAIT:?}"),
        }
    }

    /// Lets the receiver answer pushes to paths containing "held".
    fn release_held(&mut self) {
        let stdin = self.stdin.as_mut().expect("the receiver's stdin");
        writeln!(stdin, "release").and_then(|()| stdin.flush()).expect("the receiver is running");
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Closing stdin is enough to stop it; kill is for a receiver that is stuck.
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
