//! Acceptance list D (`shared/docs/security.md`), D19–D23: authorization and API keys.

use crate::harness::{Auth, TestApp, on_both_databases};
use reqwest::Method;
use serde_json::json;

on_both_databases!(
    d19_another_keys_request_looks_exactly_like_an_unknown_one,
    d20_an_agent_key_is_refused_on_every_persons_route,
    d21_mass_assignment_is_ignored_and_lifetimes_clamped,
    d22_a_revoked_key_stops_at_once_on_every_instance,
    d23_keys_are_stored_hashed_and_malformed_keys_never_reach_the_database,
);

async fn d19_another_keys_request_looks_exactly_like_an_unknown_one(app: TestApp) {
    let x = app.person("x@example.com").await;
    let y = app.person("y@example.com").await;
    let x_key = app.api_key(&x).await;
    let y_key = app.api_key(&y).await;
    let y_other_key = app.api_key(&y).await;
    let ys = app.ask(&y_key, "y's secret plan").await;

    let foreign = app.status(&x_key, &ys.id).await;
    let unknown = app.status(&x_key, "req_0000000000000000000000").await;
    let malformed = app.status(&x_key, "req_nope").await;
    assert_eq!(foreign.status.as_u16(), 404, "{}", foreign.text);
    assert_eq!(foreign.text, unknown.text, "byte-identical to an unknown id");
    assert_eq!(foreign.text, malformed.text);
    // Each key sees only its own requests, even within one account.
    assert_eq!(app.status(&y_other_key, &ys.id).await.text, unknown.text);
    // The person's routes behave the same way.
    let by_x = app.get(&format!("/api/v1/approval/{}", ys.id), &x.auth()).await;
    let nothing = app.get("/api/v1/approval/req_0000000000000000000000", &x.auth()).await;
    assert_eq!(by_x.status.as_u16(), 404);
    assert_eq!(by_x.text, nothing.text);
    let deny = app.deny(&x, &ys.id).await;
    assert_eq!(deny.status.as_u16(), 404);
    assert_eq!(app.status(&y_key, &ys.id).await.expect(200).body["status"], "PENDING");
    // Another person's API key or passkey cannot be revoked or deleted either.
    let y_keys = app.get("/api/v1/auth/api-keys", &y.auth()).await.expect(200);
    let y_key_id = y_keys.body["apiKeys"][0]["id"].as_str().expect("id").to_owned();
    app.delete(&format!("/api/v1/auth/api-keys/{y_key_id}"), &x.auth()).await.expect_error(404, "not_found");
    let y_passkeys = app.get("/api/v1/passkey", &y.auth()).await.expect(200);
    let y_pk = y_passkeys.body["passkeys"][0]["id"].as_str().expect("id").to_owned();
    app.delete(&format!("/api/v1/passkey/{y_pk}"), &x.auth()).await.expect_error(404, "not_found");
    assert_eq!(app.get("/api/v1/passkey", &y.auth()).await.expect(200).body, y_passkeys.body);
}

async fn d20_an_agent_key_is_refused_on_every_persons_route(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "x").await;
    let id = asked.id.as_str();
    let routes = [
        (Method::POST, format!("/api/v1/approval/approve/{id}")),
        (Method::POST, format!("/api/v1/approval/deny/{id}")),
        (Method::GET, "/api/v1/approval/pending".to_owned()),
        (Method::GET, "/api/v1/approval/history".to_owned()),
        (Method::GET, format!("/api/v1/approval/{id}")),
        (Method::POST, "/api/v1/auth/api-keys".to_owned()),
        (Method::GET, "/api/v1/auth/api-keys".to_owned()),
        (Method::DELETE, "/api/v1/auth/api-keys/key_0000000000000000000000".to_owned()),
        (Method::GET, "/api/v1/auth/me".to_owned()),
        (Method::POST, "/api/v1/passkey/register/start".to_owned()),
        (Method::POST, "/api/v1/passkey/register/complete".to_owned()),
        (Method::POST, "/api/v1/passkey/authenticate/start".to_owned()),
        (Method::POST, "/api/v1/passkey/authenticate/complete".to_owned()),
        (Method::GET, "/api/v1/passkey".to_owned()),
        (Method::DELETE, "/api/v1/passkey/pk_0000000000000000000000".to_owned()),
        (Method::POST, "/api/v1/push/subscribe".to_owned()),
        (Method::POST, "/api/v1/push/unsubscribe".to_owned()),
        (Method::POST, "/api/v1/auth/register".to_owned()),
    ];
    for auth in [Auth::Bearer(key.clone()), Auth::ApiKey(key.clone())] {
        for (method, path) in &routes {
            let r = app.call(method.clone(), path, &auth, Some(&json!({ "requestId": id }))).await;
            assert_eq!(r.status.as_u16(), 401, "{method} {path} with an agent key: {}", r.text);
            assert_eq!(r.code(), "agent_key_not_allowed", "{method} {path}: {}", r.text);
        }
    }
    assert_eq!(app.status(&key, id).await.expect(200).body["status"], "PENDING");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM api_keys").await, 1);
    // And a session token is no agent key.
    let r = app.post("/api/v1/approval/request", &ada.auth(), json!({ "action": "x" })).await;
    r.expect_error(401, "invalid_api_key");
}

async fn d21_mass_assignment_is_ignored_and_lifetimes_clamped(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let bob = app.person("bob@example.com").await;
    let key = app.api_key(&ada).await;
    let sneaky = json!({
        "action": "harmless",
        "status": "APPROVED",
        "userId": bob.user_id, "user_id": bob.user_id,
        "expiresAt": "2099-01-01T00:00:00Z", "expires_at": 4_102_444_800_000_i64,
        "token": "eyJhbGciOiJub25lIn0.e30.",
        "expiresInSeconds": 31_536_000,
    });
    let r = app.post("/api/v1/approval/request", &Auth::Bearer(key.clone()), sneaky).await.expect(201);
    assert_eq!(r.body["status"], "PENDING");
    let id = r.body["requestId"].as_str().expect("id").to_owned();
    let status = app.status(&key, &id).await.expect(200);
    assert_eq!(status.body["status"], "PENDING");
    assert!(status.body.get("token").is_none());
    let lifetime = app.scalar_i64("SELECT expires_at - created_at FROM approval_requests").await;
    assert_eq!(lifetime, 600_000, "held to 10 minutes");
    assert_eq!(
        app.get("/api/v1/approval/pending", &bob.auth()).await.expect(200).body["requests"],
        json!([])
    );
    assert_eq!(
        app.get("/api/v1/approval/pending", &ada.auth()).await.expect(200).body["requests"][0]["requestId"],
        id.as_str()
    );

    let short = json!({ "action": "quick", "expiresInSeconds": 1 });
    app.post("/api/v1/approval/request", &Auth::Bearer(key.clone()), short).await.expect(201);
    let shortest = app.scalar_i64("SELECT MIN(expires_at - created_at) FROM approval_requests").await;
    assert_eq!(shortest, 30_000, "raised to 30 s so a person can read it");

    for bad in [
        json!({}),
        json!({ "action": "" }),
        json!({ "action": 42 }),
        json!({ "action": "x".repeat(4001) }),
        json!({ "action": "x", "context": [1, 2] }),
        json!({ "action": "x", "context": "text" }),
        json!({ "action": "x", "agentId": "" }),
        json!({ "action": "x", "agentId": "a\u{7}b" }),
        json!({ "action": "x", "expiresInSeconds": "soon" }),
    ] {
        let r = app.post("/api/v1/approval/request", &Auth::Bearer(key.clone()), bad.clone()).await;
        r.expect_error(400, "invalid_request");
    }
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 2, "bad input stores nothing");
}

async fn d22_a_revoked_key_stops_at_once_on_every_instance(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let other = app.second_instance().await;
    let asked = other.ask(&key, "works on both").await;
    app.status(&key, &asked.id).await.expect(200);

    let keys = app.get("/api/v1/auth/api-keys", &ada.auth()).await.expect(200);
    let id = keys.body["apiKeys"][0]["id"].as_str().expect("id").to_owned();
    app.delete(&format!("/api/v1/auth/api-keys/{id}"), &ada.auth()).await.expect(204);
    for server in [&app, &other] {
        server.status(&key, &asked.id).await.expect_error(401, "invalid_api_key");
        let r = server
            .post("/api/v1/approval/request", &Auth::ApiKey(key.clone()), json!({ "action": "x" }))
            .await;
        r.expect_error(401, "invalid_api_key");
    }
}

async fn d23_keys_are_stored_hashed_and_malformed_keys_never_reach_the_database(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let stored: Vec<(String, String, String)> =
        sqlx::query_as("SELECT key_hash, display_prefix, name FROM api_keys")
            .fetch_all(app.state.db.pool())
            .await
            .expect("rows");
    assert_eq!(stored.len(), 1);
    let (hash, prefix, _) = &stored[0];
    assert!(!hash.contains(&key[3..]), "only a keyed hash is stored");
    assert_eq!(hash.len(), 64);
    assert!(key.starts_with(prefix.as_str()) && prefix.len() < 12, "only a short prefix, to recognise it");

    // With the database gone, a malformed key is still refused for what it is (no lookup was
    // needed), while a well-formed one cannot be checked and gets 503, never a pass.
    app.state.db.close().await;
    let mut typo = key.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");
    for bad in [typo.as_str(), "ag_short", "ag_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"] {
        let r = app
            .post("/api/v1/approval/request", &Auth::Bearer(bad.to_owned()), json!({ "action": "x" }))
            .await;
        r.expect_error(401, "invalid_api_key");
    }
    let r = app.post("/api/v1/approval/request", &Auth::Bearer(key), json!({ "action": "x" })).await;
    let r = r.expect_error(503, "service_unavailable");
    assert!(r.headers.get("retry-after").is_some());
}
