//! Review R (`docs/src/security.md`), the outside review's findings on passkey ceremonies and
//! sessions, each a test named after it: lock-out through public credential ids (R1), email
//! enumeration (R5), concurrent first-passkey registrations (R7), the cloned-key counter checked at
//! finish time (R9), framed ceremonies, and sessions that end on the server (sign-out, passkey
//! deleted, email-only after a passkey).

use crate::harness::{Auth, Resp, TestApp, on_both_backends, on_both_databases};
use clawgate::config::Backend;
use clawgate_testkit::SoftKey;
use serde_json::{Value, json};
use std::collections::BTreeSet;

on_both_backends!(r1_junk_assertions_with_public_credential_ids_never_lock_the_owner_out);
on_both_databases!(
    r5_known_and_unknown_emails_get_sign_in_options_of_one_shape,
    r7_concurrent_registrations_on_one_email_session_land_one_passkey,
    r9_the_counter_is_compared_with_the_stored_one_at_finish_time,
    framed_ceremonies_are_refused,
    an_email_session_can_only_sign_out_once_the_account_has_a_passkey,
    signing_out_ends_the_session_on_the_server,
    deleting_a_passkey_ends_the_sessions_it_made,
);

/// An assertion signed by `key` over `options`, then made to claim the credential `victim_id`:
/// what anyone can send after reading the victim's credential ids from a sign-in start.
async fn junk_assertion(key: &mut SoftKey, options: &Value, victim_id: &str) -> Value {
    let mut options = options.clone();
    options["allowCredentials"] = json!([]);
    let mut signed = key.get(&options).await;
    signed["id"] = json!(victim_id);
    signed["rawId"] = json!(victim_id);
    signed
}

async fn r1_junk_assertions_with_public_credential_ids_never_lock_the_owner_out(backend: Backend) {
    // Clients told apart by X-Forwarded-For: the attacker and the owner come from other addresses.
    let Some(app) = TestApp::spawn_with(backend, |a| a.trust_forwarded_for = true).await else { return };
    let mut victim = app.person("victim@example.com").await;
    let key = app.api_key(&victim).await;
    let asked = app.ask(&key, "deploy").await;
    // The attacker signs with a passkey of an account of their own.
    let mut attacker_key = app.person("mallory@example.com").await.key;
    let attacker = "203.0.113.7";

    let mut refused_at = None;
    for attempt in 0..14 {
        // The credential ids are public: a sign-in start with the email hands them out.
        let start = app
            .post_from(attacker, "/api/v1/passkey/authenticate/start", json!({ "email": victim.email }))
            .await
            .expect(200);
        let victim_id =
            start.body["publicKey"]["allowCredentials"][0]["id"].as_str().expect("an id").to_owned();
        let junk = junk_assertion(&mut attacker_key, &start.body["publicKey"], &victim_id).await;
        let done = app
            .post_from(
                attacker,
                "/api/v1/passkey/authenticate/complete",
                json!({ "ceremonyId": start.body["ceremonyId"], "credential": junk }),
            )
            .await;
        // The approval ceremony too: starting it is never refused, whoever asks.
        let start = app
            .post_from(attacker, "/api/v1/passkey/authenticate/start", json!({ "requestId": asked.id }))
            .await
            .expect(200);
        let junk = junk_assertion(&mut attacker_key, &start.body["publicKey"], &victim_id).await;
        let approve = app
            .post_from(
                attacker,
                &format!("/api/v1/approval/approve/{}", asked.id),
                json!({ "ceremonyId": start.body["ceremonyId"], "credential": junk }),
            )
            .await;
        for r in [done, approve] {
            match r.status.as_u16() {
                400 => assert_eq!(r.code(), "passkey_verification_failed", "{}", r.text),
                429 => {
                    refused_at.get_or_insert(attempt);
                    assert!(r.headers.contains_key("retry-after"), "429 says when: {:?}", r.headers);
                }
                other => panic!("a junk assertion is refused, not {other}: {}", r.text),
            }
        }
    }
    assert!(refused_at.is_some(), "the client sending junk is slowed down");

    // The owner is not: sign-in and approval work at once.
    let login = app.login(Some("victim@example.com"), &mut victim.key).await.expect(200);
    assert_eq!(login.body["user"]["id"], victim.user_id.as_str());
    app.approve(&asked.id, &mut victim.key).await.expect(200);
}

/// The JSON's shape: every path of object keys, with the kind of value found there.
fn shape(v: &Value, path: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                shape(v, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(items) => {
            out.insert(format!("{path}[]"));
            for item in items {
                shape(item, &format!("{path}[]"), out);
            }
        }
        Value::String(_) => {
            out.insert(format!("{path}: string"));
        }
        other => {
            out.insert(format!("{path}: {other}"));
        }
    }
}

async fn r5_known_and_unknown_emails_get_sign_in_options_of_one_shape(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let app = &app;
    let start = |email: &'static str| async move {
        app.post("/api/v1/passkey/authenticate/start", &Auth::None, json!({ "email": email }))
            .await
            .expect(200)
    };
    let known = start("ada@example.com").await;
    let unknown = start("nobody@example.com").await;
    let (mut known_shape, mut unknown_shape) = (BTreeSet::new(), BTreeSet::new());
    shape(&known.body, "", &mut known_shape);
    shape(&unknown.body, "", &mut unknown_shape);
    assert_eq!(known_shape, unknown_shape, "known: {}\nunknown: {}", known.text, unknown.text);
    let ids = |r: &Resp| r.body["publicKey"]["allowCredentials"].as_array().cloned().unwrap_or_default();
    let made_up = ids(&unknown).len();
    assert!(
        (1..=2).contains(&made_up),
        "one or two made-up credentials, as real accounts have: {}",
        unknown.text
    );
    assert_eq!(ids(&start("nobody@example.com").await), ids(&unknown), "the made-up ids are stable");
    assert!(!known.text.contains("uvm") && !unknown.text.contains("uvm"));
    // An account registered without a passkey looks like an unknown email too.
    app.register("pending@example.com").await;
    let pending = start("pending@example.com").await;
    let mut pending_shape = BTreeSet::new();
    shape(&pending.body, "", &mut pending_shape);
    assert_eq!(pending_shape, known_shape);

    // Signing in by email still works, and a made-up id signs nobody in.
    app.login(Some("ada@example.com"), &mut ada.key).await.expect(200);
    let mut stranger = SoftKey::new(&app.origin);
    assert!(
        stranger.try_get(&unknown.body["publicKey"]).await.is_err(),
        "no authenticator holds a made-up id"
    );
}

async fn r7_concurrent_registrations_on_one_email_session_land_one_passkey(app: TestApp) {
    let (email_session, user_id) = app.register("ada@example.com").await;
    let auth = Auth::Bearer(email_session.clone());
    let mut completions = Vec::new();
    for _ in 0..5 {
        let start = app.post("/api/v1/passkey/register/start", &auth, json!({})).await.expect(200);
        let credential = SoftKey::new(&app.origin).create(&start.body["publicKey"]).await;
        completions.push(json!({ "ceremonyId": start.body["ceremonyId"], "credential": credential }));
    }
    let app = &app;
    let results = futures::future::join_all(
        completions.iter().map(|body| app.post("/api/v1/passkey/register/complete", &auth, body.clone())),
    )
    .await;
    let landed = results.iter().filter(|r| r.status.as_u16() == 201).count();
    assert_eq!(
        landed,
        1,
        "exactly one first passkey: {:?}",
        results.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status.as_u16() != 201) {
        assert_eq!((r.status.as_u16(), r.code()), (403, "step_up_required"), "{}", r.text);
    }
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
        .bind(&user_id)
        .fetch_one(app.state.db.pool())
        .await
        .expect("count");
    assert_eq!(stored, 1);
}

async fn r9_the_counter_is_compared_with_the_stored_one_at_finish_time(app: TestApp) {
    let mut ada = app.person_with("ada@example.com", SoftKey::with_counter(&app.origin)).await;
    let key = app.api_key(&ada).await;
    let mut clone = ada.key.clone_key();
    // A ceremony started now remembers today's counter...
    let target = app.ask(&key, "target").await;
    let start = app.approval_ceremony(&target.id).await.expect(200);
    // ...then the real key is used three times, and the stored counter moves on.
    for action in ["one", "two", "three"] {
        let r = app.ask(&key, action).await;
        app.approve(&r.id, &mut ada.key).await.expect(200);
    }
    // The clone's next counter is above the ceremony's but below the stored one.
    let cloned = clone.get(&start.body["publicKey"]).await;
    let r = app
        .send_approval(&target.id, &start.body["ceremonyId"], &cloned)
        .await
        .expect_error(400, "passkey_verification_failed");
    assert!(r.text.contains("counter"), "refused for its counter: {}", r.text);
    let status = app.status(&key, &target.id).await.expect(200);
    assert_eq!(status.body["status"], "PENDING", "nothing was approved");
    app.approve(&target.id, &mut ada.key).await.expect(200);
}

async fn framed_ceremonies_are_refused(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "deploy").await;
    let start = app.approval_ceremony(&asked.id).await.expect(200);
    let framed = ada
        .key
        .get_with_client_data(&start.body["publicKey"], json!({ "topOrigin": "https://evil.example" }))
        .await;
    let r = app.send_approval(&asked.id, &start.body["ceremonyId"], &framed).await;
    r.expect_error(400, "passkey_verification_failed");
    assert_eq!(app.status(&key, &asked.id).await.expect(200).body["status"], "PENDING");

    let start = app.post("/api/v1/passkey/authenticate/start", &Auth::None, json!({})).await.expect(200);
    let framed = ada
        .key
        .get_with_client_data(&start.body["publicKey"], json!({ "topOrigin": "https://evil.example" }))
        .await;
    app.post(
        "/api/v1/passkey/authenticate/complete",
        &Auth::None,
        json!({ "ceremonyId": start.body["ceremonyId"], "credential": framed }),
    )
    .await
    .expect_error(400, "passkey_verification_failed");
    app.approve(&asked.id, &mut ada.key).await.expect(200);
}

async fn an_email_session_can_only_sign_out_once_the_account_has_a_passkey(app: TestApp) {
    let (email_session, _) = app.register("ada@example.com").await;
    let email = Auth::Bearer(email_session.clone());
    // Before a passkey exists, the email session is what adds one.
    app.get("/api/v1/auth/me", &email).await.expect(200);
    let mut key = SoftKey::new(&app.origin);
    let added = app.add_passkey(&email_session, &mut key).await.expect(201);
    let passkey_id = added.body["passkey"]["id"].as_str().expect("id").to_owned();
    let passkey = Auth::Bearer(added.body["token"].as_str().expect("token").to_owned());
    let agent_key = app.post("/api/v1/auth/api-keys", &passkey, json!({ "name": "bot" })).await.expect(201);
    let key_id = agent_key.body["id"].as_str().expect("key id").to_owned();
    let asked = app.ask(agent_key.body["key"].as_str().expect("key"), "deploy").await;

    for (method, path, body) in [
        ("GET", "/api/v1/auth/me".to_owned(), None),
        ("GET", "/api/v1/approval/pending".to_owned(), None),
        ("GET", format!("/api/v1/approval/{}", asked.id), None),
        ("POST", format!("/api/v1/approval/deny/{}", asked.id), Some(json!({ "reason": "no" }))),
        ("DELETE", format!("/api/v1/auth/api-keys/{key_id}"), None),
        ("PATCH", format!("/api/v1/passkey/{passkey_id}"), Some(json!({ "name": "mine now" }))),
        ("GET", "/api/v1/passkey".to_owned(), None),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = app.call(method, &path, &email, body.as_ref()).await;
        r.expect_error(403, "step_up_required");
    }
    assert_eq!(
        app.get(&format!("/api/v1/approval/{}", asked.id), &passkey).await.expect(200).body["status"],
        "PENDING"
    );
    app.post("/api/v1/auth/logout", &email, json!({})).await.expect(204);
}

async fn signing_out_ends_the_session_on_the_server(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let second = app.login(Some("ada@example.com"), &mut ada.key).await.expect(200);
    let second = Auth::Bearer(second.body["token"].as_str().expect("token").to_owned());
    app.get("/api/v1/auth/me", &ada.auth()).await.expect(200);
    app.post("/api/v1/auth/logout", &ada.auth(), json!({})).await.expect(204);
    app.get("/api/v1/auth/me", &ada.auth()).await.expect_error(401, "unauthorized");
    // Other sessions of the same person go on.
    app.get("/api/v1/auth/me", &second).await.expect(200);
    // Another instance agrees at once: the session's end is in the database.
    let other = app.second_instance().await;
    other.get("/api/v1/auth/me", &ada.auth()).await.expect_error(401, "unauthorized");
    other.get("/api/v1/auth/me", &second).await.expect(200);
}

async fn deleting_a_passkey_ends_the_sessions_it_made(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let mut spare = SoftKey::new(&app.origin);
    let added = app.add_passkey(&ada.session, &mut spare).await.expect(201);
    let spare_session = Auth::Bearer(added.body["token"].as_str().expect("token").to_owned());
    let spare_id = added.body["passkey"]["id"].as_str().expect("id").to_owned();
    let from_spare = app.login(Some("ada@example.com"), &mut spare).await.expect(200);
    let from_spare = Auth::Bearer(from_spare.body["token"].as_str().expect("token").to_owned());
    app.get("/api/v1/auth/me", &from_spare).await.expect(200);

    app.delete(&format!("/api/v1/passkey/{spare_id}"), &ada.auth()).await.expect(204);
    for session in [&spare_session, &from_spare] {
        app.get("/api/v1/auth/me", session).await.expect_error(401, "unauthorized");
    }
    app.get("/api/v1/auth/me", &ada.auth()).await.expect(200);
    let again = app.login(Some("ada@example.com"), &mut ada.key).await.expect(200);
    assert_eq!(again.body["method"], "passkey");
}
