//! The passkey signs the action (issue 19, item 1): an approval ceremony's WebAuthn challenge is
//! derived from what is approved, `SHA-256("clawgate decision v1\0" ‖ canonical JSON of the
//! content ‖ 16-byte nonce)`, so the person's assertion proves the content. The tests recompute
//! the challenge on their own (sorted keys and SHA-256, not the server's code) and check that an
//! assertion over any other challenge is refused.

use crate::harness::evidence::{canonical, derived_challenge};
use crate::harness::grants::{asked, asking_person, bash, start_with};
use crate::harness::{TestApp, on_both_databases};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

on_both_databases!(
    the_challenge_is_derived_from_what_is_approved,
    an_assertion_over_another_challenge_is_refused,
    a_ceremony_kept_with_another_challenge_is_refused,
    a_request_changed_after_the_ceremony_began_is_not_approved,
    with_a_grant_the_passkey_signs_its_exact_scope,
);

async fn the_challenge_is_derived_from_what_is_approved(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "rm -rf ./old-data").await;
    let status = app.status(&key, &asked.id).await.expect(200);
    let start = app.approval_ceremony(&asked.id).await.expect(200);
    let signing = &start.body["signing"];
    assert_eq!(
        signing["content"],
        json!({
            "decision": "approve",
            "requestId": asked.id,
            "action": "rm -rf ./old-data",
            "agentId": "bot",
            "context": null,
            "bindingCode": asked.binding_code,
            "expiresAt": status.body["expiresAt"],
            "grant": null,
        })
    );
    let challenge = derived_challenge(signing);
    assert_eq!(
        start.body["publicKey"]["challenge"],
        challenge.as_str(),
        "the options carry the derived challenge"
    );
    assert_eq!(signing["challenge"], challenge.as_str());
    let hash = hex::encode(Sha256::digest(canonical(&signing["content"]).as_bytes()));
    assert_eq!(signing["contentHash"], hash.as_str());
    // Two ceremonies for the same request sign alike but for their nonces.
    let again = app.approval_ceremony(&asked.id).await.expect(200);
    assert_eq!(again.body["signing"]["content"], signing["content"]);
    assert_ne!(again.body["signing"]["nonce"], signing["nonce"]);
    // The person's passkey signs it, and the approval holds.
    let credential = ada.key.get(&start.body["publicKey"]).await;
    let client_data = credential["response"]["clientDataJSON"].as_str().expect("clientDataJSON");
    let client_data: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(client_data).expect("base64url")).expect("JSON");
    assert_eq!(client_data["challenge"], challenge.as_str(), "the assertion is over the derived challenge");
    app.send_approval(&asked.id, &start.body["ceremonyId"], &credential).await.expect(200);
    assert_eq!(app.status(&key, &asked.id).await.expect(200).body["status"], "APPROVED");
}

async fn an_assertion_over_another_challenge_is_refused(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "deploy to production").await;
    let start = app.approval_ceremony(&asked.id).await.expect(200);
    let mut options = start.body["publicKey"].clone();
    options["challenge"] = json!(URL_SAFE_NO_PAD.encode([9u8; 32]));
    let credential = ada.key.get(&options).await;
    app.send_approval(&asked.id, &start.body["ceremonyId"], &credential)
        .await
        .expect_error(400, "passkey_verification_failed");
    assert_eq!(app.status(&key, &asked.id).await.expect(200).body["status"], "PENDING");
}

/// A ceremony whose kept state checks assertions against a challenge that is not the one derived
/// from its content (its state rewritten in the database) is refused, even with an assertion
/// webauthn-rs alone would accept.
async fn a_ceremony_kept_with_another_challenge_is_refused(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "drop the staging database").await;
    let start = app.approval_ceremony(&asked.id).await.expect(200);
    let ceremony = start.body["ceremonyId"].as_str().expect("ceremonyId").to_owned();
    let pool = app.state.db.pool().clone();
    let text: String = sqlx::query_scalar("SELECT state FROM ceremonies WHERE id = $1")
        .bind(&ceremony)
        .fetch_one(&pool)
        .await
        .expect("ceremony state");
    let mut state: Value = serde_json::from_str(&text).expect("JSON state");
    let other = URL_SAFE_NO_PAD.encode([5u8; 32]);
    state["Known"]["ast"]["challenge"] = json!(other);
    sqlx::query("UPDATE ceremonies SET state = $1 WHERE id = $2")
        .bind(state.to_string())
        .bind(&ceremony)
        .execute(&pool)
        .await
        .expect("rewritten");
    let mut options = start.body["publicKey"].clone();
    options["challenge"] = json!(other);
    let credential = ada.key.get(&options).await;
    app.send_approval(&asked.id, &start.body["ceremonyId"], &credential)
        .await
        .expect_error(400, "invalid_ceremony");
    assert_eq!(app.status(&key, &asked.id).await.expect(200).body["status"], "PENDING");
}

async fn with_a_grant_the_passkey_signs_its_exact_scope(app: TestApp) {
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    let id = asked(&app, &key, bash("cargo test --release")).await;
    let start = start_with(&app, &id, json!({"width": "exactCommand", "ttlSeconds": 900, "maxUses": 5}))
        .await
        .expect(200);
    let signing = &start.body["signing"];
    let grant = &signing["content"]["grant"];
    assert_eq!((&grant["ttlSeconds"], &grant["maxUses"]), (&json!(900), &json!(5)), "{signing}");
    assert_eq!(start.body["publicKey"]["challenge"], derived_challenge(signing).as_str());
    let credential = ada.key.get(&start.body["publicKey"]).await;
    let approved = app.send_approval(&id, &start.body["ceremonyId"], &credential).await.expect(200);
    let grant_id = approved.body["grantId"].as_str().expect("a grant was made").to_owned();
    let listed = app.get("/api/v1/grants", &ada.auth()).await.expect(200);
    let made =
        listed.body["grants"].as_array().expect("grants").iter().find(|g| g["id"] == grant_id.as_str());
    assert_eq!(made.map(|g| &g["scope"]), Some(&grant["scope"]), "the grant made is the one signed");
}

/// The request rewritten in the database after its ceremony began (another action): the passkey
/// signed the action as it was, so the approval is refused and nothing is approved.
async fn a_request_changed_after_the_ceremony_began_is_not_approved(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "ls ./reports").await;
    let start = app.approval_ceremony(&asked.id).await.expect(200);
    sqlx::query("UPDATE approval_requests SET action = $1 WHERE id = $2")
        .bind("rm -rf ./reports")
        .bind(&asked.id)
        .execute(app.state.db.pool())
        .await
        .expect("rewritten");
    let credential = ada.key.get(&start.body["publicKey"]).await;
    app.send_approval(&asked.id, &start.body["ceremonyId"], &credential)
        .await
        .expect_error(400, "invalid_ceremony");
    assert_eq!(app.status(&key, &asked.id).await.expect(200).body["status"], "PENDING");
}
