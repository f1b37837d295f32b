//! Acceptance list C (`shared/docs/security.md`), C14–C18: enrolment and account takeover.

use crate::harness::{Auth, TestApp, on_both_databases};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clawgate_testkit::SoftKey;
use serde_json::{Value, json};

on_both_databases!(
    c14_registering_a_known_email_creates_a_separate_account,
    c15_a_pre_registered_email_hijacks_nothing,
    c16_sensitive_changes_need_a_passkey_session,
    c17_a_credential_id_already_registered_is_refused,
    c18_a_ceremony_finishes_only_for_its_starter_and_once,
);

/// The same answer shape for a new and a known email, and never the existing account.
async fn c14_registering_a_known_email_creates_a_separate_account(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    app.ask(&key, "ada's request").await;

    let first = app.post("/api/v1/auth/register", &Auth::None, json!({ "email": "new@example.com" })).await;
    let again = app.post("/api/v1/auth/register", &Auth::None, json!({ "email": "ADA@example.com" })).await;
    assert_eq!(first.status, again.status);
    assert_eq!(shape(&first.body), shape(&again.body), "the answer does not tell whether the email is known");
    assert_ne!(again.body["user"]["id"].as_str(), Some(ada.user_id.as_str()));
    let intruder = Auth::Bearer(again.body["token"].as_str().expect("token").to_owned());
    let pending = app.get("/api/v1/approval/pending", &intruder).await.expect(200);
    assert_eq!(pending.body["requests"], json!([]));
    assert_eq!(app.get("/api/v1/auth/api-keys", &intruder).await.expect(200).body["apiKeys"], json!([]));
    assert_eq!(app.get("/api/v1/passkey", &intruder).await.expect(200).body["passkeys"], json!([]));
    // Bad input is still refused.
    let bad = app.post("/api/v1/auth/register", &Auth::None, json!({ "email": "not an email" })).await;
    bad.expect_error(400, "invalid_request");
}

/// The keys of a JSON document, recursively, without the values.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        _ => Value::Null,
    }
}

/// clawgate does not verify emails (list item 15 assumes it does): an email is a contact, not an
/// identity. So an attacker who registers the victim's email first gets an account of their own,
/// and the victim's account, passkeys and requests stay theirs.
async fn c15_a_pre_registered_email_hijacks_nothing(app: TestApp) {
    let mut attacker = app.person("victim@example.com").await;
    let mut victim = app.person("victim@example.com").await;
    assert_ne!(attacker.user_id, victim.user_id);

    // Signing in "as victim@example.com" with the attacker's passkey lands in the attacker's account.
    let login = app.login(Some("victim@example.com"), &mut attacker.key).await.expect(200);
    assert_eq!(login.body["user"]["id"], attacker.user_id.as_str());
    let login = app.login(Some("victim@example.com"), &mut victim.key).await.expect(200);
    assert_eq!(login.body["user"]["id"], victim.user_id.as_str());

    // Requests of the victim's agents reach only the victim.
    let key = app.api_key(&victim).await;
    let asked = app.ask(&key, "pay the invoice").await;
    let seen = app.get("/api/v1/approval/pending", &attacker.auth()).await.expect(200);
    assert_eq!(seen.body["requests"], json!([]));
    let start = app.approval_ceremony(&asked.id).await.expect(200);
    let mut options = start.body["publicKey"].clone();
    options["allowCredentials"] = json!([]);
    let signed = attacker.key.get(&options).await;
    let r = app.send_approval(&asked.id, &start.body["ceremonyId"], &signed).await;
    r.expect_error(400, "passkey_verification_failed");
}

async fn c16_sensitive_changes_need_a_passkey_session(app: TestApp) {
    let (email_session, _) = app.register("ada@example.com").await;
    let email_auth = Auth::Bearer(email_session.clone());
    // Without any passkey, no API key: only a person who can approve may hold agent keys.
    app.post("/api/v1/auth/api-keys", &email_auth, json!({})).await.expect_error(403, "passkey_required");

    let mut key = SoftKey::new(&app.origin);
    let added = app.add_passkey(&email_session, &mut key).await.expect(201);
    let passkey_id = added.body["passkey"]["id"].as_str().expect("id").to_owned();

    // The email session (think: stolen) can no longer add or delete passkeys or mint keys.
    app.post("/api/v1/passkey/register/start", &email_auth, json!({}))
        .await
        .expect_error(403, "step_up_required");
    app.post("/api/v1/auth/api-keys", &email_auth, json!({})).await.expect_error(403, "step_up_required");
    app.delete(&format!("/api/v1/passkey/{passkey_id}"), &email_auth)
        .await
        .expect_error(403, "step_up_required");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM api_keys").await, 0);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM passkeys").await, 1);

    // A ceremony started while the account had no passkey cannot land a second one later.
    let (other_session, _) = app.register("bob@example.com").await;
    let other = Auth::Bearer(other_session.clone());
    let early = app.post("/api/v1/passkey/register/start", &other, json!({})).await.expect(200);
    let mut first = SoftKey::new(&app.origin);
    app.add_passkey(&other_session, &mut first).await.expect(201);
    let mut second = SoftKey::new(&app.origin);
    let credential = second.create(&early.body["publicKey"]).await;
    let late = app
        .post(
            "/api/v1/passkey/register/complete",
            &other,
            json!({ "ceremonyId": early.body["ceremonyId"], "credential": credential }),
        )
        .await;
    late.expect_error(403, "step_up_required");

    // A passkey session can.
    let session = Auth::Bearer(added.body["token"].as_str().expect("token").to_owned());
    app.post("/api/v1/auth/api-keys", &session, json!({})).await.expect(201);
}

async fn c17_a_credential_id_already_registered_is_refused(app: TestApp) {
    // Ada registers a passkey; we keep her authenticator's response.
    let (ada_session, _) = app.register("ada@example.com").await;
    let ada = Auth::Bearer(ada_session);
    let start = app.post("/api/v1/passkey/register/start", &ada, json!({})).await.expect(200);
    let mut key = SoftKey::new(&app.origin);
    let original = key.create(&start.body["publicKey"]).await;
    let body = json!({ "ceremonyId": start.body["ceremonyId"], "credential": original });
    let added = app.post("/api/v1/passkey/register/complete", &ada, body).await.expect(201);
    let ada = Auth::Bearer(added.body["token"].as_str().expect("token").to_owned());
    let ada_passkeys = app.get("/api/v1/passkey", &ada).await.expect(200);

    // Mallory replays it into her own ceremony: Ada's attestation (format `none`, unsigned) with a
    // client data that answers Mallory's challenge, to claim Ada's credential ID.
    let (mallory_session, _) = app.register("mallory@example.com").await;
    let mallory = Auth::Bearer(mallory_session);
    let theirs = app.post("/api/v1/passkey/register/start", &mallory, json!({})).await.expect(200);
    let mut data = client_data(&original);
    data["challenge"] = theirs.body["publicKey"]["challenge"].clone();
    let copied = with_client_data(&original, &data);
    let r = app
        .post(
            "/api/v1/passkey/register/complete",
            &mallory,
            json!({ "ceremonyId": theirs.body["ceremonyId"], "credential": copied }),
        )
        .await;
    r.expect_error(400, "credential_already_registered");
    assert_eq!(app.get("/api/v1/passkey", &mallory).await.expect(200).body["passkeys"], json!([]));
    assert_eq!(app.get("/api/v1/passkey", &ada).await.expect(200).body, ada_passkeys.body);
}

fn client_data(credential: &Value) -> Value {
    let b64 = credential["response"]["clientDataJSON"].as_str().expect("clientDataJSON");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).expect("b64")).expect("json")
}

fn with_client_data(credential: &Value, client_data: &Value) -> Value {
    let mut c = credential.clone();
    c["response"]["clientDataJSON"] = json!(URL_SAFE_NO_PAD.encode(client_data.to_string()));
    c
}

async fn c18_a_ceremony_finishes_only_for_its_starter_and_once(app: TestApp) {
    let (ada_session, _) = app.register("ada@example.com").await;
    let (bob_session, _) = app.register("bob@example.com").await;
    let ada = Auth::Bearer(ada_session.clone());
    let bob = Auth::Bearer(bob_session.clone());

    // Ada's ceremony, finished with Bob's session: refused, and burnt for Ada too.
    let start = app.post("/api/v1/passkey/register/start", &ada, json!({})).await.expect(200);
    let mut key = SoftKey::new(&app.origin);
    let credential = key.create(&start.body["publicKey"]).await;
    let body = json!({ "ceremonyId": start.body["ceremonyId"], "credential": credential });
    app.post("/api/v1/passkey/register/complete", &bob, body.clone())
        .await
        .expect_error(400, "invalid_ceremony");
    app.post("/api/v1/passkey/register/complete", &ada, body).await.expect_error(400, "invalid_ceremony");

    // A response made for one ceremony, sent with another's id.
    let one = app.post("/api/v1/passkey/register/start", &ada, json!({})).await.expect(200);
    let two = app.post("/api/v1/passkey/register/start", &ada, json!({})).await.expect(200);
    let mut key = SoftKey::new(&app.origin);
    let for_one = key.create(&one.body["publicKey"]).await;
    let r = app
        .post(
            "/api/v1/passkey/register/complete",
            &ada,
            json!({ "ceremonyId": two.body["ceremonyId"], "credential": for_one }),
        )
        .await;
    r.expect_error(400, "passkey_verification_failed");

    // Made-up and malformed ceremony ids.
    for id in ["cer_0000000000000000000000", "../../etc/passwd", ""] {
        let r = app
            .post(
                "/api/v1/passkey/register/complete",
                &ada,
                json!({ "ceremonyId": id, "credential": for_one }),
            )
            .await;
        r.expect_error(400, "invalid_ceremony");
    }
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM passkeys").await, 0);
}
