//! Denials, Stop all agents and rule sets signed with a passkey (issue 19, item 1): the challenge
//! is derived from what is decided, the server refuses an answer for any other decision, and the
//! decision's receipt carries the assertion, which the offline verifier checks against the key
//! registered in the chain.

use super::verify::{assert_fails, rewrite, verified};
use crate::harness::evidence::{canonical, derived_challenge};
use crate::harness::{Person, Resp, TestApp, on_both_databases};
use clawgate_agent::audit::Category;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

on_both_databases!(
    a_denial_signed_with_a_passkey_is_checked_offline,
    a_signed_denial_is_only_the_one_signed,
    a_stop_signed_with_a_passkey_is_checked_offline,
    a_rule_set_signed_with_a_passkey_is_the_set_saved,
    a_signed_decision_changed_in_the_chain_fails_its_evidence,
);

const DECIDE: &str = "/api/v1/passkey/decide/start";

/// Starts a decision ceremony, checks its challenge is derived from the content shown, and signs
/// it with `who`'s passkey: the start's `signing.content`, and the `passkey` answer to send.
async fn sign(app: &TestApp, who: &mut Person, decision: Value) -> (Value, Value) {
    let start = app.post(DECIDE, &who.auth(), decision).await.expect(200);
    assert_eq!(start.body["purpose"], "decide");
    let signing = &start.body["signing"];
    assert_eq!(
        start.body["publicKey"]["challenge"],
        derived_challenge(signing).as_str(),
        "derived challenge"
    );
    let credential = who.key.get(&start.body["publicKey"]).await;
    (signing["content"].clone(), json!({ "ceremonyId": start.body["ceremonyId"], "credential": credential }))
}

/// The receipts of `kind` in `who`'s chain, as served.
async fn receipts_of(app: &TestApp, who: &Person, kind: &str) -> Vec<Value> {
    let all = super::receipts::chain_of(app, who, 100).await;
    all.into_iter().filter(|r| r["kind"] == kind).collect()
}

fn refused(r: Resp, code: &str) {
    let r = r.expect(400);
    assert_eq!(r.code(), code, "{}", r.text);
}

async fn a_denial_signed_with_a_passkey_is_checked_offline(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "drop the database").await;
    let decision = json!({ "decision": "deny", "requestId": asked.id, "reason": "not today" });
    let (content, passkey) = sign(&app, &mut ada, decision).await;
    assert_eq!(content["decision"], "deny");
    assert_eq!(content["requestId"], asked.id.as_str());
    assert_eq!(content["action"], "drop the database");
    assert_eq!(content["bindingCode"], asked.binding_code.as_str());
    assert_eq!(content["reason"], "not today");
    assert!(content.get("grant").is_none(), "a denial makes no grant: {content}");

    let path = format!("/api/v1/approval/deny/{}", asked.id);
    let denied = app.post(&path, &ada.auth(), json!({ "reason": "not today", "passkey": passkey })).await;
    assert_eq!(denied.expect(200).body["status"], "DENIED");
    let status = app.status(&key, &asked.id).await.expect(200);
    assert_eq!(status.body["denyReason"], "not today");

    let receipt = receipts_of(&app, &ada, "request.denied").await.pop().expect("the denial's receipt");
    assert_eq!(receipt["content"]["signed"], content, "the receipt holds what was signed");
    assert!(receipt["evidence"]["signature"].is_string(), "{receipt}");
    let summary = verified(&app, &ada, vec![]).await.expect("the chain holds");
    assert_eq!(summary.passkey_checked.get("request.denied"), Some(&1), "{summary:?}");
    assert_eq!(summary.credentials[0].signed, 1, "{summary:?}");

    // A denial by session alone still works, and is the server's word only.
    let other = app.ask(&key, "rm -rf /").await;
    app.deny(&ada, &other.id).await.expect(200);
    let summary = verified(&app, &ada, vec![]).await.expect("the chain holds");
    assert_eq!(summary.server_only.get("request.denied"), Some(&1), "{summary:?}");
}

async fn a_signed_denial_is_only_the_one_signed(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let bob = app.person("bob@example.com").await;
    let key = app.api_key(&ada).await;
    let first = app.ask(&key, "first").await;
    let second = app.ask(&key, "second").await;
    let deny = |id: &str| format!("/api/v1/approval/deny/{id}");

    // Another reason than the one signed, or another request: refused, nothing denied.
    let (_, passkey) =
        sign(&app, &mut ada, json!({ "decision": "deny", "requestId": first.id, "reason": "no" })).await;
    refused(
        app.post(&deny(&first.id), &ada.auth(), json!({ "reason": "yes", "passkey": passkey })).await,
        "signed_decision_mismatch",
    );
    let (_, passkey) = sign(&app, &mut ada, json!({ "decision": "deny", "requestId": first.id })).await;
    refused(
        app.post(&deny(&second.id), &ada.auth(), json!({ "passkey": passkey })).await,
        "signed_decision_mismatch",
    );
    // A ceremony is answered only by its own person's session (Bob, denying his own request with
    // it, burns it), and once.
    let (_, passkey) = sign(&app, &mut ada, json!({ "decision": "deny", "requestId": first.id })).await;
    let bobs = app.ask(&app.api_key(&bob).await, "bob's").await;
    let r = app.post(&deny(&first.id), &bob.auth(), json!({ "passkey": passkey.clone() })).await;
    assert_eq!(r.expect(404).code(), "not_found", "Ada's request is not Bob's to see");
    refused(
        app.post(&deny(&bobs.id), &bob.auth(), json!({ "passkey": passkey.clone() })).await,
        "invalid_ceremony",
    );
    refused(app.post(&deny(&first.id), &ada.auth(), json!({ "passkey": passkey })).await, "invalid_ceremony");
    let (_, passkey) = sign(&app, &mut ada, json!({ "decision": "deny", "requestId": first.id })).await;
    app.post(&deny(&first.id), &ada.auth(), json!({ "passkey": passkey.clone() })).await.expect(200);
    refused(app.post(&deny(&first.id), &ada.auth(), json!({ "passkey": passkey })).await, "invalid_ceremony");
    // A stop's ceremony does not deny, and a denial's does not stop.
    let (_, stop) = sign(&app, &mut ada, json!({ "decision": "stop" })).await;
    refused(
        app.post(&deny(&first.id), &ada.auth(), json!({ "passkey": stop })).await,
        "signed_decision_mismatch",
    );
    let (_, denial) = sign(&app, &mut ada, json!({ "decision": "deny", "requestId": second.id })).await;
    refused(
        app.post("/api/v1/stop", &ada.auth(), json!({ "passkey": denial })).await,
        "signed_decision_mismatch",
    );
    assert_eq!(app.status(&key, &second.id).await.expect(200).body["status"], "PENDING");
    // Bob cannot start a denial of Ada's request; nobody can start one of a decided request.
    let r = app.post(DECIDE, &bob.auth(), json!({ "decision": "deny", "requestId": first.id })).await;
    assert_eq!(r.expect(404).code(), "not_found");
    app.deny(&ada, &second.id).await.expect(200);
    let r = app.post(DECIDE, &ada.auth(), json!({ "decision": "deny", "requestId": second.id })).await;
    assert_eq!(r.status.as_u16(), 409, "{}", r.text);
    let r = app.post(DECIDE, &ada.auth(), json!({ "decision": "approve", "requestId": first.id })).await;
    assert_eq!(r.expect(400).code(), "invalid_request");
}

async fn a_stop_signed_with_a_passkey_is_checked_offline(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let pending = app.ask(&key, "deploy").await;
    let (content, passkey) = sign(&app, &mut ada, json!({ "decision": "stop" })).await;
    assert_eq!(content["decision"], "stop");
    assert_eq!(content["account"], ada.user_id.as_str());
    assert!(content["at"].is_string(), "{content}");

    let stopped = app.post("/api/v1/stop", &ada.auth(), json!({ "passkey": passkey })).await.expect(200);
    assert_eq!(stopped.body["deniedRequests"], 1);
    assert_eq!(stopped.body["suspendedKeys"], 1);
    assert_eq!(app.status(&key, &pending.id).await.status.as_u16(), 403, "the key is suspended");

    let receipt = receipts_of(&app, &ada, "agents.stopped").await.pop().expect("the stop's receipt");
    assert_eq!(receipt["content"]["signed"], content);
    let summary = verified(&app, &ada, vec![]).await.expect("the chain holds");
    assert_eq!(summary.passkey_checked.get("agents.stopped"), Some(&1), "{summary:?}");
    // The request the stop denied is the server's word: no passkey signed that one denial.
    assert_eq!(summary.server_only.get("request.denied"), Some(&1), "{summary:?}");
}

async fn a_rule_set_signed_with_a_passkey_is_the_set_saved(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let rules = json!({ "default": "ask", "rules": [{ "name": "tests", "outcome": "allow", "tool": "Bash", "command": "cargo test*" }] });
    let (content, passkey) =
        sign(&app, &mut ada, json!({ "decision": "rules", "rules": rules, "expectedVersion": 0 })).await;
    let hash = hex::encode(Sha256::digest(canonical(&rules).as_bytes()));
    assert_eq!(content, json!({ "decision": "rules", "version": 1, "rulesHash": hash }));

    // Another set under the same signature: refused, nothing saved.
    let other = json!({ "default": "allow" });
    let body = json!({ "rules": other, "expectedVersion": 0, "passkey": passkey.clone() });
    refused(app.put("/api/v1/rules", &ada.auth(), body).await, "signed_decision_mismatch");
    assert_eq!(app.get("/api/v1/rules", &ada.auth()).await.expect(200).body["version"], 0);
    let (_, passkey) =
        sign(&app, &mut ada, json!({ "decision": "rules", "rules": rules, "expectedVersion": 0 })).await;
    let body = json!({ "rules": rules, "expectedVersion": 0, "passkey": passkey });
    assert_eq!(app.put("/api/v1/rules", &ada.auth(), body).await.expect(200).body["version"], 1);

    let receipt = receipts_of(&app, &ada, "rules.changed").await.pop().expect("the save's receipt");
    assert_eq!(receipt["content"]["signed"]["rulesHash"], hash.as_str());
    let summary = verified(&app, &ada, vec![]).await.expect("the chain holds");
    assert_eq!(summary.passkey_checked.get("rules.changed"), Some(&1), "{summary:?}");

    // What the save would refuse is refused before the passkey is asked.
    let bad = json!({ "decision": "rules", "rules": { "default": "maybe" }, "expectedVersion": 1 });
    assert_eq!(app.post(DECIDE, &ada.auth(), bad).await.expect(400).code(), "invalid_rules");
    let stale = json!({ "decision": "rules", "rules": rules, "expectedVersion": 0 });
    assert_eq!(app.post(DECIDE, &ada.auth(), stale).await.expect(409).code(), "version_conflict");
}

async fn a_signed_decision_changed_in_the_chain_fails_its_evidence(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "drop the database").await;
    let (_, passkey) =
        sign(&app, &mut ada, json!({ "decision": "deny", "requestId": asked.id, "reason": "no" })).await;
    let path = format!("/api/v1/approval/deny/{}", asked.id);
    app.post(&path, &ada.auth(), json!({ "reason": "no", "passkey": passkey })).await.expect(200);
    let seq = receipts_of(&app, &ada, "request.denied").await[0]["seq"].as_u64().expect("seq");

    // The reason rewritten, every hash recomputed: the passkey did not sign that.
    rewrite(&app, &ada, |receipts| {
        let denial = receipts.iter_mut().find(|r| r.kind == "request.denied").expect("denial");
        denial.content["signed"]["reason"] = json!("yes, all of it");
    })
    .await;
    assert_fails(verified(&app, &ada, vec![]).await, Category::Evidence, seq, "challenge");

    // The signed denial passed off as an approval: the kind it signed is not the receipt's.
    rewrite(&app, &ada, |receipts| {
        let denial = receipts.iter_mut().find(|r| r.kind == "request.denied").expect("denial");
        denial.content["signed"]["reason"] = json!("no");
        denial.kind = "request.approved".into();
    })
    .await;
    assert_fails(verified(&app, &ada, vec![]).await, Category::Evidence, seq, "another kind");
}
