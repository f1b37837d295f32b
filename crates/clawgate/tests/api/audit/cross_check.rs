//! The server (webauthn-rs) and the offline verifier (RustCrypto and its own parsing) held to each
//! other on one corpus of bad assertions, each made by the software passkey for a real approval
//! ceremony: the server refuses it, and the same assertion, put in a receipt as if the server had
//! taken it, is refused by the verifier. (That each good one passes both is every chain test.)

use super::verify::{download, options};
use crate::harness::evidence::derived_challenge;
use crate::harness::{Person, TestApp, on_both_databases};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clawgate_agent::audit::{Category, verify_chain};
use clawgate_proto::evidence::receipt::Receipt;
use clawgate_testkit::SoftKey;
use serde_json::{Value, json};

on_both_databases!(the_server_and_the_verifier_refuse_the_same_bad_assertions);

/// What the approval receipt of `signing`, answered by `credential`, would hold.
fn receipt_body(signing: &Value, credential: &Value) -> (Value, Value) {
    let response = &credential["response"];
    let content = json!({ "signed": signing["content"], "nonce": signing["nonce"] });
    let evidence = json!({
        "credentialId": credential["rawId"],
        "clientDataJSON": response["clientDataJSON"],
        "authenticatorData": response["authenticatorData"],
        "signature": response["signature"],
    });
    (content, evidence)
}

/// `b64` decoded, changed by `change`, encoded again.
fn altered(b64: &Value, change: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut bytes = URL_SAFE_NO_PAD.decode(b64.as_str().expect("base64url")).expect("base64url");
    change(&mut bytes);
    json!(URL_SAFE_NO_PAD.encode(bytes))
}

/// A bad assertion, made for the approval ceremony `start`, and what the verifier must say of it.
struct Case {
    name: &'static str,
    start: Value,
    credential: Value,
    says: &'static str,
}

async fn approval_start(app: &TestApp, key: &str) -> (String, Value) {
    let asked = app.ask(key, "deploy").await;
    let start = app.approval_ceremony(&asked.id).await.expect(200).body;
    assert_eq!(start["publicKey"]["challenge"], derived_challenge(&start["signing"]).as_str());
    (asked.id, start)
}

async fn the_server_and_the_verifier_refuse_the_same_bad_assertions(app: TestApp) {
    let mut ada: Person = app.person_with("ada@example.com", SoftKey::with_counter(&app.origin)).await;
    let key = app.api_key(&ada).await;
    let mut cases = Vec::new();

    // A cloned key whose counter did not grow: the original approves first. (First of all, so
    // the other cases' counters are above the one the chain holds.)
    let mut clone = ada.key.clone_key();
    let (first, _) = approval_start(&app, &key).await;
    app.approve(&first, &mut ada.key).await.expect(200);
    let (id, start) = approval_start(&app, &key).await;
    let credential = clone.get(&start["publicKey"]).await;
    cases.push((id, Case { name: "cloned, counter not grown", start, credential, says: "counter" }));
    // Signed at another origin (a phishing page).
    let (id, start) = approval_start(&app, &key).await;
    let credential = ada.key.at_origin("http://localhost:1").get(&start["publicKey"]).await;
    cases.push((
        id,
        Case { name: "another origin", start, credential, says: "used at origin http://localhost:1" },
    ));
    // In a frame of another site.
    let (id, start) = approval_start(&app, &key).await;
    let credential = ada
        .key
        .get_with_client_data(&start["publicKey"], json!({ "topOrigin": "https://evil.example" }))
        .await;
    cases.push((id, Case { name: "framed", start, credential, says: "frame of another site" }));
    // Over another challenge than the ceremony's derived one.
    let (id, start) = approval_start(&app, &key).await;
    let mut other = start["publicKey"].clone();
    other["challenge"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    let credential = ada.key.get(&other).await;
    cases.push((id, Case { name: "another challenge", start, credential, says: "another challenge" }));
    // A signature with one byte changed.
    let (id, start) = approval_start(&app, &key).await;
    let mut credential = ada.key.get(&start["publicKey"]).await;
    credential["response"]["signature"] = altered(&credential["response"]["signature"], |s| {
        let last = s.len() - 1;
        s[last] ^= 1;
    });
    cases.push((id, Case { name: "signature changed", start, credential, says: "does not verify" }));
    // Authenticator data claiming what was not signed (its user-verified flag flipped).
    let (id, start) = approval_start(&app, &key).await;
    let mut credential = ada.key.get(&start["publicKey"]).await;
    credential["response"]["authenticatorData"] =
        altered(&credential["response"]["authenticatorData"], |d| d[32] ^= 0x04);
    cases.push((id, Case { name: "flags changed", start, credential, says: "does not verify" }));

    let mut refused = Vec::new();
    for (id, case) in &cases {
        let r = app.send_approval(id, &case.start["ceremonyId"], &case.credential).await;
        assert_eq!(r.status.as_u16(), 400, "{}: the server refuses it: {}", case.name, r.text);
        refused.push(r.code().to_owned());
    }

    // Each, put in a receipt at the chain's end as if the server had taken it, fails the verifier
    // on its evidence.
    let chain = download(&app, &ada).await;
    let opts = options(&app, vec![]).await;
    verify_chain(&chain, &opts).expect("the real chain holds");
    for (_, case) in &cases {
        let (content, evidence) = receipt_body(&case.start["signing"], &case.credential);
        let mut forged = chain.clone();
        let last = chain.receipts.last().expect("receipts");
        let receipt = Receipt::new(
            &last.account,
            last.seq + 1,
            &last.hash,
            last.time,
            "request.approved",
            content,
            Some(evidence),
        );
        forged.receipts.push(receipt);
        let e = verify_chain(&forged, &opts).expect_err(case.name);
        assert_eq!((e.category, e.seq), (Category::Evidence, Some(last.seq + 1)), "{}: {e}", case.name);
        assert!(e.to_string().contains(case.says), "{}: {e} says {:?}", case.name, case.says);
    }
    assert!(
        refused.iter().all(|code| code.starts_with("passkey_") || code == "invalid_ceremony"),
        "{refused:?}"
    );
}
