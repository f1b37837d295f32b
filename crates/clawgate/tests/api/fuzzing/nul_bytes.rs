//! Review R's R12 (`docs/src/security.md`; finding 5 of the "push & text" slice): NUL is refused in
//! every JSON body, at any depth and in keys too, on both databases alike, and nothing is stored.

use crate::harness::push::subscription;
use crate::harness::{Auth, TestApp, on_both_databases};
use reqwest::Method;
use serde_json::json;

on_both_databases!(nul_in_any_text_field_is_refused_and_nothing_is_stored);

/// R5: U+0000 anywhere in a JSON body is a 400 naming the field, on both databases alike
/// (PostgreSQL answered 500, SQLite stored it), and nothing is stored.
async fn nul_in_any_text_field_is_refused_and_nothing_is_stored(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let agent = Auth::Bearer(key.clone());
    let refused = |r: crate::harness::Resp, field: &str| {
        let r = r.expect_error(400, "invalid_request");
        let message = r.body["error"]["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains(&format!("`{field}`")) && message.contains("U+0000"), "{message}");
    };

    for (body, field) in [
        (json!({ "action": "ls\u{0}; rm -rf /" }), "action"),
        (json!({ "action": "ls", "agentId": "bot\u{0}" }), "agentId"),
        (
            json!({ "action": "ls", "context": { "files": ["a", { "name": "b\u{0}" }] } }),
            "context.files[1].name",
        ),
        (json!({ "action": "ls", "context": { "k\u{0}": 1 } }), "context.k\\u0000"),
    ] {
        refused(app.post("/api/v1/approval/request", &agent, body).await, field);
    }
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 0);

    let asked = app.ask(&key, "ls").await;
    let deny = format!("/api/v1/approval/deny/{}", asked.id);
    refused(app.post(&deny, &ada.auth(), json!({ "reason": "no\u{0}" })).await, "reason");
    assert_eq!(app.status(&key, &asked.id).await.expect(200).body["status"], "PENDING");

    let endpoint = "https://fcm.googleapis.com/fcm/send/x\u{0}y";
    refused(app.post("/api/v1/push/subscribe", &ada.auth(), subscription(endpoint, 1)).await, "endpoint");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM push_subscriptions").await, 0);

    let keys_before = app.scalar_i64("SELECT COUNT(*) FROM api_keys").await;
    refused(app.post("/api/v1/auth/api-keys", &ada.auth(), json!({ "name": "bot\u{0}" })).await, "name");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM api_keys").await, keys_before);

    let passkeys = app.get("/api/v1/passkey", &ada.auth()).await.expect(200);
    let id = passkeys.body["passkeys"][0]["id"].as_str().expect("a passkey id").to_owned();
    let rename = app
        .call(
            Method::PATCH,
            &format!("/api/v1/passkey/{id}"),
            &ada.auth(),
            Some(&json!({ "name": "phone\u{0}" })),
        )
        .await;
    refused(rename, "name");
    let name: String =
        sqlx::query_scalar("SELECT name FROM passkeys").fetch_one(app.state.db.pool()).await.expect("name");
    assert_eq!(name, "test key", "the passkey keeps its name");

    refused(
        app.post("/api/v1/auth/register", &Auth::None, json!({ "email": "eve\u{0}@example.com" })).await,
        "email",
    );
}
