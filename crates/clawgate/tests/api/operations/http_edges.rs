//! The HTTP API's edges: limits on bodies, the error shape, security headers and CORS, an
//! unreachable database, upkeep expiring lapsed requests, SQLite's durable commits, and what
//! survives a restart. (Registration modes and the auth rate limit: `accounts/registration.rs`.)

use crate::harness::{Auth, TestApp, TestDb, into_resp, on_both_databases};
use clawgate::config::Backend;
use serde_json::json;

on_both_databases!(
    oversized_deep_and_malformed_bodies_get_clear_errors,
    unknown_routes_and_methods_answer_in_the_error_shape,
    security_headers_and_cors,
    the_database_going_away_gives_503_never_a_pass,
    lapsed_requests_are_expired_by_upkeep,
);

async fn oversized_deep_and_malformed_bodies_get_clear_errors(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    // A 3 MB body is refused from its declared length, before it is read: so the client sends
    // the headers only and reads the answer (sending the body races the server closing).
    let agent_key = app.api_key(&ada).await;
    let declared =
        declared_length_answer(&app, "/api/v1/approval/request", &agent_key, 3 * 1024 * 1024).await;
    assert!(declared.starts_with("HTTP/1.1 413"), "{declared}");
    assert!(declared.contains("payload_too_large"), "{declared}");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = app
        .http
        .post(app.url("/api/v1/approval/request"))
        .bearer_auth(app.api_key(&ada).await)
        .header("content-type", "application/json")
        .body(format!("{{\"action\":\"x\",\"context\":{{\"a\":{deep}}}}}"))
        .send()
        .await
        .expect("sent");
    into_resp(r).await.expect_error(400, "invalid_json");
    let r = app.http.post(app.url("/api/v1/auth/register")).body("{\"email\":").send().await.expect("sent");
    into_resp(r).await.expect_error(415, "unsupported_media_type");
    let r = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .expect("sent");
    into_resp(r).await.expect_error(400, "invalid_json");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 0);
}

/// The raw answer to a POST that declares a `length`-byte JSON body and sends none of it.
async fn declared_length_answer(app: &TestApp, path: &str, api_key: &str, length: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp =
        tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nX-API-Key: {api_key}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

async fn unknown_routes_and_methods_answer_in_the_error_shape(app: TestApp) {
    app.get("/api/v1/nothing-here", &Auth::None).await.expect_error(404, "not_found");
    let r = app.call(reqwest::Method::PUT, "/api/v1/approval/request", &Auth::None, None).await;
    r.expect_error(405, "method_not_allowed");
    app.get("/api/v1/auth/me", &Auth::None).await.expect_error(401, "unauthorized");
    app.get("/api/v1/auth/me", &Auth::Bearer("nonsense".into())).await.expect_error(401, "unauthorized");
}

async fn security_headers_and_cors(app: TestApp) {
    let r = app.get("/health", &Auth::None).await;
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(r.headers.get(name).and_then(|v| v.to_str().ok()), Some(value), "{name}");
    }
    assert!(r.headers.get("content-security-policy").is_some());
    assert!(r.headers.get("x-request-id").is_some());

    let preflight = |origin: &str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/approval/request"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
    };
    let evil = preflight("https://evil.example").await.expect("sent");
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    assert!(evil.headers().get("access-control-allow-credentials").is_none());
    let own = preflight(&app.origin).await.expect("sent");
    assert_eq!(
        own.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some(app.origin.as_str())
    );
}

async fn the_database_going_away_gives_503_never_a_pass(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let (_, token) = app.approved(&mut ada, &key, "before the outage").await;
    let asked = app.ask(&key, "during the outage").await;
    let start = app.approval_ceremony(&asked.id).await.expect(200);
    let signed = ada.key.get(&start.body["publicKey"]).await;

    app.state.db.close().await;
    let health = app.get("/health", &Auth::None).await.expect(503);
    assert_eq!(health.body["database"], "unreachable");
    let consume = app
        .post("/api/v1/approval/verify-token", &Auth::None, json!({ "token": token, "consume": true }))
        .await;
    consume.expect_error(503, "service_unavailable");
    let approve = app.send_approval(&asked.id, &start.body["ceremonyId"], &signed).await;
    approve.expect_error(503, "service_unavailable");
    app.status(&key, &asked.id).await.expect_error(503, "service_unavailable");
    app.post("/api/v1/auth/register", &Auth::None, json!({ "email": "x@example.com" })).await.expect(503);
}

async fn lapsed_requests_are_expired_by_upkeep(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "expire me").await;
    app.clock.advance_ms(300_000);
    clawgate::app::upkeep(&app.state).await.expect("upkeep");
    let stored: String = sqlx::query_scalar("SELECT status FROM approval_requests")
        .fetch_one(app.state.db.pool())
        .await
        .expect("row");
    assert_eq!(stored, "EXPIRED", "recorded, not only computed");
    let status = app.status(&key, &asked.id).await.expect(200);
    assert_eq!(status.body["status"], "EXPIRED");
    assert_eq!(status.body["decidedAt"], status.body["expiresAt"]);
}

#[tokio::test]
async fn sqlite_commits_are_durable_and_in_wal_mode() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let mode: String =
        sqlx::query_scalar("PRAGMA journal_mode").fetch_one(app.state.db.pool()).await.expect("pragma");
    assert_eq!(mode, "wal");
    let sync: i64 =
        sqlx::query_scalar("PRAGMA synchronous").fetch_one(app.state.db.pool()).await.expect("pragma");
    assert_eq!(sync, 2, "synchronous = FULL: an acknowledged commit survives power loss");
}

#[tokio::test]
async fn secrets_and_sessions_survive_a_restart() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn(backend).await else { continue };
        let mut ada = app.person("ada@example.com").await;
        let key = app.api_key(&ada).await;
        let (_, token) = app.approved(&mut ada, &key, "before restart").await;
        let jwks = app.get("/.well-known/jwks.json", &Auth::None).await.expect(200).body;
        let vapid = app.get("/api/v1/push/vapid-public-key", &Auth::None).await.expect(200).body;
        let origin = app.origin.clone();
        let db: TestDb = app.stop().await;

        // The same deployment (same public origin), a new process.
        let app = TestApp::spawn_on(db, |a| a.rp_origin = Some(origin)).await;
        assert_eq!(app.get("/.well-known/jwks.json", &Auth::None).await.expect(200).body, jwks);
        assert_eq!(app.get("/api/v1/push/vapid-public-key", &Auth::None).await.expect(200).body, vapid);
        app.get("/api/v1/auth/me", &ada.auth()).await.expect(200);
        app.ask(&key, "after restart").await;
        assert_eq!(app.verify(json!({ "token": token, "consume": true })).await.body["valid"], true);
        app.login(Some(&ada.email), &mut ada.key).await.expect(200);
    }
}
