//! The whole approval flow, end to end, as an agent and a person would drive it.

use crate::harness::{Auth, TestApp, on_both_databases};
use clawgate_testkit::SoftKey;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::{Value, json};

on_both_databases!(
    register_passkey_login_key_request_approve_verify,
    deny_with_reason_reaches_the_agent,
    pending_and_history_pages,
    api_keys_list_and_revoke,
    passkeys_list_rename_delete,
    push_subscriptions_and_vapid_key,
    health_and_openapi,
);

async fn register_passkey_login_key_request_approve_verify(app: TestApp) {
    // Register: an email session.
    let (email_session, user_id) = app.register("ada@example.com").await;
    let me = app.get("/api/v1/auth/me", &Auth::Bearer(email_session.clone())).await.expect(200);
    assert_eq!(me.body["email"], "ada@example.com");
    assert_eq!(me.body["passkeyCount"], 0);
    assert_eq!(me.body["sessionMethod"], "email");

    // Add a passkey with the email session: the answer is a passkey session.
    let mut key = SoftKey::new(&app.origin);
    let added = app.add_passkey(&email_session, &mut key).await.expect(201);
    assert_eq!(added.body["method"], "passkey");
    assert_eq!(added.body["user"]["id"], user_id.as_str());
    assert_eq!(added.body["passkey"]["name"], "test key");

    // Sign in with the passkey, by email and by discoverable credential.
    let login = app.login(Some("ada@example.com"), &mut key).await.expect(200);
    assert_eq!(login.body["user"]["id"], user_id.as_str());
    let discoverable = app.login(None, &mut key).await.expect(200);
    assert_eq!(discoverable.body["user"]["id"], user_id.as_str());
    let session = Auth::Bearer(login.body["token"].as_str().expect("token").to_owned());
    let me = app.get("/api/v1/auth/me", &session).await.expect(200);
    assert_eq!(me.body["sessionMethod"], "passkey");
    assert_eq!(me.body["passkeyCount"], 1);

    // An API key for the agent, shown once.
    let created =
        app.post("/api/v1/auth/api-keys", &session, json!({ "name": "deploy bot" })).await.expect(201);
    let agent_key = created.body["key"].as_str().expect("key").to_owned();
    assert!(agent_key.starts_with("ag_"));
    assert!(agent_key.starts_with(created.body["prefix"].as_str().expect("prefix")));

    // The agent asks, with context.
    let agent = Auth::Bearer(agent_key.clone());
    let context = json!({ "path": "./old-data", "files": 3, "nested": { "b": [1, 2], "a": null } });
    let asked = app
        .post(
            "/api/v1/approval/request",
            &agent,
            json!({ "action": "delete ./old-data", "agentId": "cleaner", "context": context, "expiresInSeconds": 120 }),
        )
        .await
        .expect(201);
    assert_eq!(asked.body["status"], "PENDING");
    let request_id = asked.body["requestId"].as_str().expect("requestId").to_owned();
    assert!(request_id.starts_with("req_"));
    let binding = asked.body["bindingCode"].as_str().expect("bindingCode").to_owned();
    assert_eq!(
        asked.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/api/v1/approval/status/{request_id}").as_str())
    );

    let status = app.status(&agent_key, &request_id).await.expect(200);
    assert_eq!(status.body["status"], "PENDING");
    assert_eq!(status.body["action"], "delete ./old-data");
    assert_eq!(status.body["agentId"], "cleaner");
    assert!(status.body.get("token").is_none());

    // The person sees it, exactly as sent, with the same binding code.
    let pending = app.get("/api/v1/approval/pending", &session).await.expect(200);
    let shown = &pending.body["requests"][0];
    assert_eq!(shown["requestId"], request_id.as_str());
    assert_eq!(shown["context"], context);
    assert_eq!(shown["bindingCode"], binding.as_str());

    // Approve with the passkey.
    let approved = app.approve(&request_id, &mut key).await.expect(200);
    assert_eq!(approved.body["status"], "APPROVED");

    let status = app.status(&agent_key, &request_id).await.expect(200);
    assert_eq!(status.body["status"], "APPROVED");
    assert!(status.body["decidedAt"].is_string());
    assert!(status.body["tokenExpiresAt"].is_string());
    let token = status.body["token"].as_str().expect("token on approval").to_owned();

    // Offline: the JWKS alone verifies the token.
    let jwks: JwkSet =
        serde_json::from_value(app.get("/.well-known/jwks.json", &Auth::None).await.expect(200).body)
            .expect("a JWK set");
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("clawgate-approval+jwt"));
    let jwk = jwks.find(header.kid.as_deref().expect("kid")).expect("the signing key is published");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["clawgate:approval"]);
    validation.set_issuer(&[app.origin.as_str()]);
    validation.leeway = 0;
    let claims =
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(jwk).expect("key"), &validation)
            .expect("the token verifies offline")
            .claims;
    assert_eq!(claims["requestId"], request_id.as_str());
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["action"], "delete ./old-data");
    assert_eq!(claims["agentId"], "cleaner");
    assert_eq!(claims["typ"], "approval");
    assert_eq!(claims["userVerified"], true);
    assert_eq!(claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"), 120);
    // The action hash is the documented one: SHA-256 of the canonical JSON.
    assert_eq!(
        claims["actionHash"],
        clawgate::domain::approval::action_hash(
            &request_id,
            "delete ./old-data",
            Some("cleaner"),
            context.as_object()
        )
        .as_str()
    );
    assert_eq!(shown["actionHash"], claims["actionHash"]);

    // Online: valid without consuming, then consumed exactly once.
    let verify = |consume: bool| json!({ "token": token, "consume": consume });
    let online = app.post("/api/v1/approval/verify-token", &Auth::None, verify(false)).await.expect(200);
    assert_eq!(online.body["valid"], true);
    assert_eq!(online.body["claims"]["requestId"], request_id.as_str());
    let with_action = json!({ "token": token, "action": "delete ./old-data" });
    assert_eq!(app.post("/api/v1/approval/verify-token", &Auth::None, with_action).await.body["valid"], true);
    let first = app.post("/api/v1/approval/verify-token", &Auth::None, verify(true)).await.expect(200);
    assert_eq!(first.body["valid"], true);
    let again = app.post("/api/v1/approval/verify-token", &Auth::None, verify(true)).await.expect(200);
    assert_eq!(again.body["valid"], false);
    assert_eq!(again.body["reason"], "already_used");

    // History shows the approval with its evidence.
    let history = app.get("/api/v1/approval/history", &session).await.expect(200);
    assert_eq!(history.body["requests"][0]["status"], "APPROVED");
    assert_eq!(history.body["requests"][0]["approvedWith"], claims["credentialId"]);
    let evidence = app.scalar_i64("SELECT COUNT(*) FROM approval_requests WHERE user_verified = 1").await;
    assert_eq!(evidence, 1);
}

async fn deny_with_reason_reaches_the_agent(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "npm publish").await;
    let code = asked.binding_code.as_bytes();
    assert!(code.len() == 7 && code[3] == b'-', "a binding code like 482-913: {}", asked.binding_code);
    let page = app.get(&format!("/api/v1/approval/{}", asked.id), &ada.auth()).await.expect(200);
    assert_eq!(page.body["bindingCode"], asked.binding_code.as_str(), "the person sees the agent's code");
    let denied = app
        .post(&format!("/api/v1/approval/deny/{}", asked.id), &ada.auth(), json!({ "reason": "not today" }))
        .await
        .expect(200);
    assert_eq!(denied.body["status"], "DENIED");
    let status = app.status(&key, &asked.id).await.expect(200);
    assert_eq!(status.body["status"], "DENIED");
    assert!(status.body.get("token").is_none());
    let one = app.get(&format!("/api/v1/approval/{}", asked.id), &ada.auth()).await.expect(200);
    assert_eq!(one.body["denyReason"], "not today");

    // A deny without a body is fine too.
    let second = app.ask(&key, "git push --force").await;
    let r = app
        .call(reqwest::Method::POST, &format!("/api/v1/approval/deny/{}", second.id), &ada.auth(), None)
        .await;
    r.expect(200);
}

async fn pending_and_history_pages(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(app.ask(&key, &format!("action {i}")).await.id);
        app.clock.advance_ms(10);
    }
    app.deny(&ada, &ids[0]).await.expect(200);

    let pending = app.get("/api/v1/approval/pending", &ada.auth()).await.expect(200);
    assert_eq!(pending.body["requests"].as_array().map(Vec::len), Some(6));
    assert_eq!(pending.body["requests"][0]["requestId"], ids[6].as_str(), "newest first");

    // Pages of 3: 3 + 3 + 1, newest first, no repeats, no gaps.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/approval/history?limit=3&cursor={c}"),
            None => "/api/v1/approval/history?limit=3".to_owned(),
        };
        let page = app.get(&path, &ada.auth()).await.expect(200);
        for r in page.body["requests"].as_array().expect("requests") {
            seen.push(r["requestId"].as_str().expect("id").to_owned());
        }
        match page.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let denied = app.get("/api/v1/approval/history?status=DENIED", &ada.auth()).await.expect(200);
    assert_eq!(denied.body["requests"].as_array().map(Vec::len), Some(1));
    let lower = app.get("/api/v1/approval/history?status=denied", &ada.auth()).await.expect(200);
    assert_eq!(lower.body["requests"].as_array().map(Vec::len), Some(1));

    // Expired requests are listed as such once their time is up.
    app.clock.advance_ms(301_000);
    let expired = app.get("/api/v1/approval/history?status=EXPIRED", &ada.auth()).await.expect(200);
    assert_eq!(expired.body["requests"].as_array().map(Vec::len), Some(6));
    let pending = app.get("/api/v1/approval/pending", &ada.auth()).await.expect(200);
    assert_eq!(pending.body["requests"].as_array().map(Vec::len), Some(0));

    app.get("/api/v1/approval/history?status=MAYBE", &ada.auth()).await.expect_error(400, "invalid_request");
    app.get("/api/v1/approval/history?cursor=bogus", &ada.auth()).await.expect_error(400, "invalid_request");
    let huge = app.get("/api/v1/approval/history?limit=1000000", &ada.auth()).await.expect(200);
    assert_eq!(huge.body["requests"].as_array().map(Vec::len), Some(7), "clamped, not refused");
}

async fn api_keys_list_and_revoke(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    app.ask(&key, "first").await;
    let list = app.get("/api/v1/auth/api-keys", &ada.auth()).await.expect(200);
    let keys = list.body["apiKeys"].as_array().expect("apiKeys").clone();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].get("key").is_none(), "the key itself is never shown again");
    assert!(keys[0]["lastUsedAt"].is_string());
    let id = keys[0]["id"].as_str().expect("id");

    app.delete(&format!("/api/v1/auth/api-keys/{id}"), &ada.auth()).await.expect(204);
    let r = app.post("/api/v1/approval/request", &Auth::Bearer(key.clone()), json!({ "action": "x" })).await;
    r.expect_error(401, "invalid_api_key");
    let list = app.get("/api/v1/auth/api-keys", &ada.auth()).await.expect(200);
    assert!(list.body["apiKeys"][0]["revokedAt"].is_string());
    app.delete(&format!("/api/v1/auth/api-keys/{id}"), &ada.auth()).await.expect_error(404, "not_found");

    // X-API-Key works the same as Bearer.
    let key2 = app.api_key(&ada).await;
    app.post("/api/v1/approval/request", &Auth::ApiKey(key2), json!({ "action": "y" })).await.expect(201);
}

async fn passkeys_list_rename_delete(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let mut second = SoftKey::new(&app.origin);
    let added = app.add_passkey(&ada.session, &mut second).await.expect(201);
    let second_id = added.body["passkey"]["id"].as_str().expect("id").to_owned();
    let list = app.get("/api/v1/passkey", &ada.auth()).await.expect(200);
    assert_eq!(list.body["passkeys"].as_array().map(Vec::len), Some(2));

    let patch = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/passkey/{second_id}"),
            &ada.auth(),
            Some(&json!({ "name": "YubiKey" })),
        )
        .await;
    patch.expect(204);
    let list = app.get("/api/v1/passkey", &ada.auth()).await.expect(200);
    assert!(list.body["passkeys"].as_array().expect("list").iter().any(|p| p["name"] == "YubiKey"));

    app.delete(&format!("/api/v1/passkey/{second_id}"), &ada.auth()).await.expect(204);
    app.delete(&format!("/api/v1/passkey/{second_id}"), &ada.auth()).await.expect_error(404, "not_found");
    // The deleted passkey no longer signs in; the remaining one does.
    let start = app.post("/api/v1/passkey/authenticate/start", &Auth::None, json!({})).await.expect(200);
    let credential = second.get(&start.body["publicKey"]).await;
    let r = app
        .post(
            "/api/v1/passkey/authenticate/complete",
            &Auth::None,
            json!({ "ceremonyId": start.body["ceremonyId"], "credential": credential }),
        )
        .await;
    r.expect_error(400, "unknown_passkey");
    app.login(Some(&ada.email), &mut ada.key).await.expect(200);
}

async fn push_subscriptions_and_vapid_key(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let vapid = app.get("/api/v1/push/vapid-public-key", &Auth::None).await.expect(200);
    let public = vapid.body["publicKey"].as_str().expect("publicKey");
    use base64::Engine;
    let point = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(public).expect("base64url");
    assert_eq!(point.len(), 65);
    assert_eq!(point[0], 4, "an uncompressed P-256 point");

    let p256dh = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(point);
    let auth = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 16]);
    let sub = json!({
        "endpoint": "https://fcm.googleapis.com/fcm/send/abc",
        "expirationTime": null,
        "keys": { "p256dh": p256dh, "auth": auth }
    });
    app.post("/api/v1/push/subscribe", &ada.auth(), sub.clone()).await.expect(201);
    app.post("/api/v1/push/subscribe", &ada.auth(), sub).await.expect(201);
    let n = app.scalar_i64("SELECT COUNT(*) FROM push_subscriptions").await;
    assert_eq!(n, 1, "subscribing twice keeps one subscription");

    let bad = json!({ "endpoint": "http://push.example.net/x", "keys": { "p256dh": p256dh, "auth": auth } });
    app.post("/api/v1/push/subscribe", &ada.auth(), bad).await.expect_error(400, "invalid_request");
    let bad_key =
        json!({ "endpoint": "https://push.example.net/y", "keys": { "p256dh": "AAAA", "auth": auth } });
    app.post("/api/v1/push/subscribe", &ada.auth(), bad_key).await.expect_error(400, "invalid_request");

    let gone = json!({ "endpoint": "https://fcm.googleapis.com/fcm/send/abc" });
    app.post("/api/v1/push/unsubscribe", &ada.auth(), gone.clone()).await.expect(204);
    app.post("/api/v1/push/unsubscribe", &ada.auth(), gone).await.expect_error(404, "not_found");
}

async fn health_and_openapi(app: TestApp) {
    let health = app.get("/health", &Auth::None).await.expect(200);
    assert_eq!(health.body["status"], "ok");
    let doc = app.get("/api/v1/openapi.json", &Auth::None).await.expect(200);
    assert!(doc.body["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc.body["paths"].as_object().expect("paths");
    // Every endpoint of the original ClawGate API, with its method.
    for (method, path) in SEED_ENDPOINTS {
        let item = paths.get(*path).unwrap_or_else(|| panic!("{path} is documented"));
        assert!(item.get(*method).is_some(), "{method} {path} is documented");
    }
    // And everything documented is served: no documented route answers "no such route".
    let mut documented = 0;
    for (path, item) in paths {
        for (method, _) in item.as_object().expect("path item") {
            let Ok(method) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else { continue };
            let concrete = path.replace("{id}", "x");
            let r = app.call(method.clone(), &concrete, &Auth::None, Some(&json!({}))).await;
            assert_ne!(r.code(), "method_not_allowed", "{method} {path}");
            assert!(!(r.status == 404 && r.text.contains("route not found")), "{method} {path} is served");
            assert!(r.status.as_u16() < 500, "{method} {path}: {}", r.text);
            documented += 1;
        }
    }
    assert!(documented >= SEED_ENDPOINTS.len());
}

/// The endpoint table of the original ClawGate API (its README), in OpenAPI path syntax.
pub const SEED_ENDPOINTS: &[(&str, &str)] = &[
    ("get", "/health"),
    ("post", "/api/v1/auth/register"),
    ("get", "/api/v1/auth/me"),
    ("post", "/api/v1/auth/api-keys"),
    ("get", "/api/v1/auth/api-keys"),
    ("delete", "/api/v1/auth/api-keys/{id}"),
    ("post", "/api/v1/passkey/register/start"),
    ("post", "/api/v1/passkey/register/complete"),
    ("post", "/api/v1/passkey/authenticate/start"),
    ("post", "/api/v1/passkey/authenticate/complete"),
    ("get", "/api/v1/passkey"),
    ("delete", "/api/v1/passkey/{id}"),
    ("post", "/api/v1/approval/request"),
    ("get", "/api/v1/approval/status/{id}"),
    ("post", "/api/v1/approval/approve/{id}"),
    ("post", "/api/v1/approval/deny/{id}"),
    ("get", "/api/v1/approval/pending"),
    ("get", "/api/v1/approval/history"),
    ("post", "/api/v1/approval/verify-token"),
    ("post", "/api/v1/push/subscribe"),
    ("post", "/api/v1/push/unsubscribe"),
];
