//! The chain as the API serves it (`/api/v1/audit/receipts`, `/api/v1/audit/checkpoint`): a
//! receipt for every kind of decision and change, linked by hashes the test recomputes on its own,
//! an approval's receipt holding what the passkey signed, checkpoints signed with the token key,
//! each person reading only their own chain.

use crate::harness::evidence::{canonical, derived_challenge};
use crate::harness::grants::{asking_person, bash, gate, granted};
use crate::harness::{Auth, Person, TestApp, on_both_databases};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

on_both_databases!(
    every_decision_and_change_leaves_a_receipt,
    an_approval_receipt_holds_what_the_passkey_signed,
    pages_and_a_checkpoint_of_the_head,
    each_person_reads_only_their_own_chain,
    two_instances_appending_at_once_keep_one_chain,
    each_decided_request_names_its_receipt,
    each_decision_of_the_gate_names_its_receipt,
);

pub(crate) const RECEIPTS: &str = "/api/v1/audit/receipts";
pub(crate) const CHECKPOINT: &str = "/api/v1/audit/checkpoint";

/// Every receipt of `who`'s chain, paging `limit` at a time.
pub(crate) async fn chain_of(app: &TestApp, who: &Person, limit: u32) -> Vec<Value> {
    let mut receipts = Vec::new();
    let mut after = 0;
    loop {
        let page = app.get(&format!("{RECEIPTS}?after={after}&limit={limit}"), &who.auth()).await.expect(200);
        assert_eq!(page.body["format"], "clawgate-chain/1");
        assert_eq!(page.body["account"], who.user_id.as_str());
        receipts.extend(page.body["receipts"].as_array().expect("receipts").iter().cloned());
        match page.body["next"].as_u64() {
            Some(next) => after = next,
            None => return receipts,
        }
    }
}

/// A receipt's hash as any verifier computes it: SHA-256 of the tag and the canonical JSON of
/// everything but `hash`.
fn hash_of(receipt: &Value) -> String {
    let mut hashed = receipt.clone();
    hashed.as_object_mut().expect("an object").remove("hash");
    let mut hash = Sha256::new();
    hash.update(b"clawgate receipt v1\0");
    hash.update(canonical(&hashed).as_bytes());
    hex::encode(hash.finalize())
}

/// Asserts the chain is whole: seqs 1, 2, …, each hash what its receipt gives, each `prev` the
/// hash before.
pub(crate) fn assert_linked(account: &str, receipts: &[Value]) {
    let mut prev = "0".repeat(64);
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!(r["seq"], i as u64 + 1, "{r}");
        assert_eq!(r["account"], account);
        assert_eq!(r["prev"], prev.as_str(), "receipt {} links to the one before", i + 1);
        assert_eq!(r["hash"], hash_of(r).as_str(), "receipt {}'s hash", i + 1);
        prev = hash_of(r);
    }
}

fn kinds(receipts: &[Value]) -> Vec<&str> {
    receipts.iter().map(|r| r["kind"].as_str().expect("kind")).collect()
}

async fn every_decision_and_change_leaves_a_receipt(app: TestApp) {
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    // A second passkey, then deleted.
    let ids = |r: Value| -> Vec<String> {
        let listed = r["passkeys"].as_array().expect("passkeys").iter();
        listed.map(|p| p["id"].as_str().expect("id").to_owned()).collect()
    };
    let first = ids(app.get("/api/v1/passkey", &ada.auth()).await.expect(200).body);
    let mut spare = clawgate_testkit::SoftKey::new(&app.origin);
    app.add_passkey(&ada.session, &mut spare).await.expect(201);
    let both = ids(app.get("/api/v1/passkey", &ada.auth()).await.expect(200).body);
    let spare_id = both.iter().find(|id| !first.contains(id)).expect("the new passkey");
    app.delete(&format!("/api/v1/passkey/{spare_id}"), &ada.auth()).await.expect(204);
    // A request approved, one denied; a grant made, used by the gate, revoked.
    let asked = app.ask(&key, "rm -rf ./old-data").await;
    app.approve(&asked.id, &mut ada.key).await.expect(200);
    let refused = app.ask(&key, "drop the database").await;
    app.deny(&ada, &refused.id).await.expect(200);
    let grant = granted(
        &app,
        &mut ada,
        &key,
        "cargo test",
        json!({"width": "exactCommand", "ttlSeconds": 900, "maxUses": 5}),
    )
    .await;
    assert_eq!(gate(&app, &key, bash("cargo test")).await.body["decision"], "allow");
    app.delete(&format!("/api/v1/grants/{grant}"), &ada.auth()).await.expect(204);
    // Stop all agents suspends the key; its owner resumes it; then revokes it.
    app.ask(&key, "deploy").await;
    app.post("/api/v1/stop", &ada.auth(), json!({})).await.expect(200);
    let keys = app.get("/api/v1/auth/api-keys", &ada.auth()).await.expect(200);
    let key_id = keys.body["apiKeys"][0]["id"].as_str().expect("id").to_owned();
    app.post(&format!("/api/v1/auth/api-keys/{key_id}/resume"), &ada.auth(), json!({})).await.expect(200);
    app.delete(&format!("/api/v1/auth/api-keys/{key_id}"), &ada.auth()).await.expect(204);

    let receipts = chain_of(&app, &ada, 500).await;
    assert_linked(&ada.user_id, &receipts);
    let kinds = kinds(&receipts);
    for kind in [
        "account.created",
        "passkey.registered",
        "passkey.deleted",
        "api_key.created",
        "rules.changed",
        "request.approved",
        "request.denied",
        "grant.created",
        "gate.allowed",
        "grant.revoked",
        "agents.stopped",
        "api_key.suspended",
        "api_key.resumed",
        "api_key.revoked",
    ] {
        assert!(kinds.contains(&kind), "a {kind} receipt in {kinds:?}");
    }
    assert_eq!(kinds[0], "account.created");
    assert_eq!(receipts[0]["content"], json!({"email": "ada@example.com"}));
    assert_eq!(kinds[1], "passkey.registered", "the first passkey, registered with the account");
    // A registration's receipt holds what the browser sent: its client data and attestation.
    let registered = &receipts[1];
    let client_data = URL_SAFE_NO_PAD
        .decode(registered["evidence"]["clientDataJSON"].as_str().expect("clientDataJSON"))
        .expect("base64url");
    let client_data: Value = serde_json::from_slice(&client_data).expect("JSON");
    assert_eq!(client_data["type"], "webauthn.create");
    assert!(registered["evidence"]["attestationObject"].as_str().is_some_and(|a| !a.is_empty()));
    // The deletion names the passkey deleted.
    let deleted = receipts.iter().find(|r| r["kind"] == "passkey.deleted").expect("deleted");
    let second = receipts.iter().filter(|r| r["kind"] == "passkey.registered").nth(1).expect("second");
    assert_eq!(deleted["content"]["credentialId"], second["content"]["credentialId"]);
    // The chain's head, as the store keeps it, is the last receipt.
    let last = receipts.last().expect("receipts");
    let checkpoint = app.get(CHECKPOINT, &ada.auth()).await.expect(200);
    assert_eq!(checkpoint.body["claims"]["seq"], last["seq"]);
    assert_eq!(checkpoint.body["claims"]["head"], last["hash"]);
}

async fn an_approval_receipt_holds_what_the_passkey_signed(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "rm -rf ./old-data").await;
    let start = app.approval_ceremony(&asked.id).await.expect(200);
    let signing = start.body["signing"].clone();
    let credential = ada.key.get(&start.body["publicKey"]).await;
    app.send_approval(&asked.id, &start.body["ceremonyId"], &credential).await.expect(200);

    let receipts = chain_of(&app, &ada, 100).await;
    let approved = receipts.iter().find(|r| r["kind"] == "request.approved").expect("an approval receipt");
    assert_eq!(approved["content"], json!({"signed": signing["content"], "nonce": signing["nonce"]}));
    let evidence = &approved["evidence"];
    for field in ["clientDataJSON", "authenticatorData", "signature"] {
        assert_eq!(evidence[field], credential["response"][field], "{field} as the browser sent it");
    }
    assert_eq!(evidence["credentialId"], credential["rawId"]);
    // The content and nonce in the receipt give the challenge the passkey signed.
    let client_data =
        URL_SAFE_NO_PAD.decode(evidence["clientDataJSON"].as_str().expect("text")).expect("b64");
    let client_data: Value = serde_json::from_slice(&client_data).expect("JSON");
    let recomputed = derived_challenge(
        &json!({"content": approved["content"]["signed"], "nonce": approved["content"]["nonce"]}),
    );
    assert_eq!(client_data["challenge"], recomputed.as_str());
    assert_eq!(approved["content"]["signed"]["requestId"], asked.id.as_str());
    // An agent's asking decides nothing and leaves no receipt: the approval's holds the request.
    assert!(receipts.iter().all(|r| r["kind"] != "request.created"));
}

async fn pages_and_a_checkpoint_of_the_head(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    for action in ["one", "two", "three"] {
        app.approved(&mut ada, &key, action).await;
    }
    let whole = chain_of(&app, &ada, 500).await;
    // Account, passkey, key, then one approval each.
    assert_eq!(whole.len(), 6, "{whole:#?}");
    assert_eq!(chain_of(&app, &ada, 2).await, whole, "pages of 2 add up to the whole");
    assert_linked(&ada.user_id, &whole);
    let beyond = app.get(&format!("{RECEIPTS}?after={}", whole.len()), &ada.auth()).await.expect(200);
    assert_eq!(beyond.body["receipts"], json!([]));
    assert_eq!(beyond.body["next"], Value::Null);
    for bad in ["after=-1", "after=x", "limit=0", "limit=", "after=1.5"] {
        app.get(&format!("{RECEIPTS}?{bad}"), &ada.auth()).await.expect_error(400, "invalid_filter");
    }

    // The checkpoint is a JWT signed with the token key, over the head.
    let checkpoint = app.get(CHECKPOINT, &ada.auth()).await.expect(200);
    let jwt = checkpoint.body["checkpoint"].as_str().expect("checkpoint");
    let header = jsonwebtoken::decode_header(jwt).expect("a JWT");
    assert_eq!(header.typ.as_deref(), Some("clawgate-checkpoint+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(app.get("/.well-known/jwks.json", &Auth::None).await.expect(200).body)
            .expect("JWKS");
    let jwk = jwks.find(header.kid.as_deref().expect("kid")).expect("a published key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(
        jwt,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
        &validation,
    )
    .expect("the checkpoint verifies against the published keys")
    .claims;
    let last = whole.last().expect("receipts");
    assert_eq!(claims["sub"], ada.user_id.as_str());
    assert_eq!(claims["seq"], last["seq"]);
    assert_eq!(claims["head"], last["hash"]);
    assert_eq!(claims, checkpoint.body["claims"]);
    // A checkpoint is never an approval: the token verifier refuses it.
    let verified = app.verify(json!({ "token": jwt })).await;
    assert_eq!(verified.body["valid"], false);
}

async fn each_person_reads_only_their_own_chain(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let bob = app.person("bob@example.com").await;
    let key = app.api_key(&ada).await;
    app.approved(&mut ada, &key, "one").await;
    let bobs = chain_of(&app, &bob, 100).await;
    assert!(bobs.iter().all(|r| r["account"] == bob.user_id.as_str()));
    assert_eq!(kinds(&bobs), ["account.created", "passkey.registered"]);
    assert_linked(&bob.user_id, &bobs);
    // Agents and strangers read nothing.
    for auth in [Auth::Bearer(key.clone()), Auth::None] {
        app.get(RECEIPTS, &auth).await.expect(401);
        app.get(CHECKPOINT, &auth).await.expect(401);
    }
    // A new account's chain already holds its creation.
    let (email_session, _) = app.register("cyd@example.com").await;
    let empty = app.get(CHECKPOINT, &Auth::Bearer(email_session)).await.expect(200);
    assert_eq!(empty.body["claims"]["seq"], 1, "the account's creation is its first receipt");
}

/// Two instances (one database) take an account's decisions at once: every receipt lands, in one
/// chain without gaps or forks.
async fn two_instances_appending_at_once_keep_one_chain(a: TestApp) {
    let mut ada = a.person("ada@example.com").await;
    let key = a.api_key(&ada).await;
    a.save_rules(&ada, json!({"default": "allow"})).await;
    let b = a.second_instance().await;
    let calls = (0..40).map(|i| {
        let (app, key) = (if i % 2 == 0 { &a } else { &b }, key.clone());
        async move { gate(app, &key, bash(&format!("echo {i}"))).await }
    });
    for answer in futures::future::join_all(calls).await {
        assert_eq!(answer.body["decision"], "allow", "{}", answer.text);
    }
    // A passkey approval through the other instance in between lands in the same chain.
    let asked = b.ask(&key, "deploy").await;
    b.approve(&asked.id, &mut ada.key).await.expect(200);
    let receipts = chain_of(&a, &ada, 500).await;
    assert_linked(&ada.user_id, &receipts);
    assert_eq!(receipts.iter().filter(|r| r["kind"] == "gate.allowed").count(), 40);
    assert_eq!(chain_of(&b, &ada, 7).await, receipts, "both instances serve the same chain");
    assert_eq!(receipts.last().expect("receipts")["kind"], "request.approved");
}

/// Each request a person, the clock or a stop decided names the receipt that records it
/// (`receiptSeq`, which the approve page links to); a pending one names none.
async fn each_decided_request_names_its_receipt(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let (approved, _) = app.approved(&mut ada, &key, "deploy").await;
    let denied = app.ask(&key, "drop the database").await.id;
    app.deny(&ada, &denied).await.expect(200);
    let expired = app.ask(&key, "wait forever").await.id;
    app.clock.advance_ms(301_000);
    let stopped = app.ask(&key, "rm -rf /").await.id;
    let view = |id: String| {
        let app = &app;
        let auth = ada.auth();
        async move { app.get(&format!("/api/v1/approval/{id}"), &auth).await.expect(200).body }
    };
    assert!(view(stopped.clone()).await.get("receiptSeq").is_none(), "pending: no receipt yet");
    app.post("/api/v1/stop", &ada.auth(), json!({})).await.expect(200);
    let mut named = Vec::new();
    for (id, kind) in [
        (approved, "request.approved"),
        (denied, "request.denied"),
        (expired, "request.expired"),
        (stopped, "request.denied"),
    ] {
        let seq = view(id.clone()).await["receiptSeq"].as_u64().expect("receiptSeq");
        named.push((id, kind, seq));
    }
    let chain = chain_of(&app, &ada, 100).await;
    let decisions = app.get("/api/v1/decisions", &ada.auth()).await.expect(200).body;
    for (id, kind, seq) in named {
        let listed = decisions["decisions"]
            .as_array()
            .expect("decisions")
            .iter()
            .find(|d| d["requestId"] == id.as_str());
        assert_eq!(listed.expect("listed")["receiptSeq"], seq, "the Decisions list names it too");
        let receipt = &chain[seq as usize - 1];
        assert_eq!(receipt["kind"], kind, "{id}: {receipt}");
        let names = receipt["content"]["requestId"] == id.as_str()
            || receipt["content"]["signed"]["requestId"] == id.as_str();
        assert!(names, "receipt {seq} is {id}'s: {receipt}");
    }
}

/// Each decision the gate made alone, by a rule (allow or deny) or by a grant, names the receipt
/// that records it on the Decisions list, and that receipt's summary names the decision.
async fn each_decision_of_the_gate_names_its_receipt(app: TestApp) {
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    let grant =
        granted(&app, &mut ada, &key, "make check", json!({"width": "exactCommand", "ttlSeconds": 900}))
            .await;
    app.save_rules(
        &ada,
        json!({"default": "ask", "rules": [
            {"outcome": "allow", "tool": "Bash", "command": "echo *"},
            {"outcome": "deny", "tool": "Bash", "command": "rm *"}
        ]}),
    )
    .await;
    let mut made = Vec::new();
    for (command, kind) in
        [("echo hi", "gate.allowed"), ("rm -rf build", "gate.denied"), ("make check", "gate.allowed")]
    {
        let answer = gate(&app, &key, bash(command)).await;
        let id = answer.body["decisionId"].as_str().unwrap_or_else(|| panic!("decisionId: {}", answer.text));
        made.push((id.to_owned(), kind));
    }
    let chain = chain_of(&app, &ada, 100).await;
    let decisions = app.get("/api/v1/decisions", &ada.auth()).await.expect(200).body;
    for (id, kind) in made {
        let listed =
            decisions["decisions"].as_array().expect("decisions").iter().find(|d| d["id"] == id.as_str());
        let listed = listed.unwrap_or_else(|| panic!("{id} listed: {decisions}"));
        let seq = listed["receiptSeq"].as_u64().unwrap_or_else(|| panic!("{id} names its receipt: {listed}"));
        let receipt = &chain[seq as usize - 1];
        assert_eq!(receipt["kind"], kind, "{id}: {receipt}");
        let detail = receipt["content"]["detail"].as_str().expect("a summary");
        assert!(detail.starts_with(&format!("{id} by ")), "receipt {seq} is {id}'s: {receipt}");
    }
    let by_grant = chain
        .iter()
        .filter(|r| r["kind"] == "gate.allowed")
        .filter(|r| {
            r["content"]["detail"].as_str().is_some_and(|d| d.ends_with(&format!("by grant {grant}")))
        })
        .count();
    assert_eq!(by_grant, 1, "the grant's use is summarised with the grant's id");
}
