//! Review round S (issue 16, `docs/src/security.md`), C1: an agent key alone got tokens every
//! pre-gate verifier took for a person's approval. A call the gate allows by a rule or a grant now
//! gets a gate token (header `typ` `clawgate-gate+jwt`, `aud` `clawgate:gate`, claim `typ` `gate`),
//! which `verify-token`, `clawgate verify` (online and offline), the Rust client and any verifier
//! checking the approval audience refuse unless they accept its decider; a refused token is never
//! consumed. A person's passkey approval verifies everywhere as before.

use crate::harness::cli::{assert_exit, clawgate, run, text};
use crate::harness::grants::{asking_person, bash, granted};
use crate::harness::{Auth, TestApp, on_both_databases, test_python};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clawgate_client::{Accept, Client, OfflineError, verify_offline, verify_offline_accepting};
use serde_json::{Value, json};

on_both_databases!(
    c1_a_rule_token_fails_verify_token_unless_rule_is_accepted,
    c1_a_grant_token_fails_unless_grant_is_accepted,
    c1_clawgate_verify_refuses_a_rule_token_online_and_offline,
    c1_the_rust_client_refuses_a_rule_token_unless_it_accepts_rules,
    c1_a_passkey_approval_still_verifies_everywhere,
    c1_a_gate_token_fails_a_third_party_verifier_of_the_approval_audience,
);

const ACTION: &str = "delete ./old-data";

/// The finding's call: a fresh account's key brings `delete ./old-data` to the gate, and the
/// built-in rules allow it. The key and the token.
async fn rule_token(app: &TestApp) -> (String, String) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let call = json!({"tool": "Bash", "input": {"command": ACTION}});
    let allowed = app.post("/api/v1/gate", &Auth::Bearer(key.clone()), call).await.expect(200);
    assert_eq!((&allowed.body["decision"], &allowed.body["decidedBy"]), (&json!("allow"), &json!("rule")));
    (key, allowed.body["token"].as_str().expect("an allow carries a token").to_owned())
}

/// A JWT's header and claims, as anyone can read them.
fn parts(token: &str) -> (Value, Value) {
    let part = |i: usize| -> Value {
        let text = token.split('.').nth(i).expect("three parts");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).expect("base64url")).expect("JSON")
    };
    (part(0), part(1))
}

fn reason(r: &crate::harness::Resp) -> &str {
    assert_eq!(r.body["valid"], false, "{}", r.text);
    assert!(r.body.get("claims").is_none(), "no claims for an invalid token: {}", r.text);
    r.body["reason"].as_str().unwrap_or("")
}

async fn c1_a_rule_token_fails_verify_token_unless_rule_is_accepted(app: TestApp) {
    let (_, token) = rule_token(&app).await;
    let (header, claims) = parts(&token);
    assert_eq!(header["typ"], "clawgate-gate+jwt");
    assert_eq!((&claims["aud"], &claims["typ"]), (&json!("clawgate:gate"), &json!("gate")));
    assert_eq!((&claims["decidedBy"], &claims["userVerified"]), (&json!("rule"), &json!(false)));

    // The Tokens chapter's guard, as the finding ran it: refused, and not consumed by the refusal.
    let check = |accept: Option<Value>| {
        let mut body = json!({"token": token, "action": ACTION, "consume": true});
        if let Some(a) = accept {
            body["accept"] = a;
        }
        app.verify(body)
    };
    assert_eq!(reason(&check(None).await), "not_person_approved");
    assert_eq!(reason(&check(Some(json!(["passkey"]))).await), "not_person_approved");
    assert_eq!(reason(&check(Some(json!(["grant"]))).await), "not_person_approved");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM used_tokens").await, 0, "a refused token stays unused");

    // Accepted: valid once, with claims that say a rule decided; then used.
    let accepted = check(Some(json!(["rule"]))).await;
    assert_eq!(accepted.body["valid"], true, "{}", accepted.text);
    assert_eq!(accepted.body["claims"]["decidedBy"], "rule");
    assert_eq!(reason(&check(Some(json!(["passkey", "rule", "grant"]))).await), "already_used");

    // An unknown decider is a mistake in the request, said in words.
    let unknown = app
        .post(
            "/api/v1/approval/verify-token",
            &Auth::None,
            json!({"token": token, "accept": ["rule", "robot"]}),
        )
        .await
        .expect_error(400, "invalid_request");
    let message = unknown.body["error"]["message"].as_str().unwrap_or_default();
    assert!(["passkey", "rule", "grant", "robot"].iter().all(|w| message.contains(w)), "{message}");
}

async fn c1_a_grant_token_fails_unless_grant_is_accepted(app: TestApp) {
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    let grant = json!({"width": "exactCommand", "ttlSeconds": 900, "maxUses": 2});
    granted(&app, &mut ada, &key, "cargo test", grant).await;
    let allowed = app.post("/api/v1/gate", &Auth::Bearer(key.clone()), bash("cargo test")).await.expect(200);
    assert_eq!(allowed.body["decidedBy"], "grant", "{}", allowed.text);
    let token = allowed.body["token"].as_str().expect("token");
    let (header, claims) = parts(token);
    assert_eq!((&header["typ"], &claims["aud"]), (&json!("clawgate-gate+jwt"), &json!("clawgate:gate")));

    let check = |accept: Value| app.verify(json!({"token": token, "consume": true, "accept": accept}));
    assert_eq!(reason(&app.verify(json!({"token": token, "consume": true})).await), "not_person_approved");
    assert_eq!(reason(&check(json!(["rule"])).await), "not_person_approved");
    let accepted = check(json!(["grant"])).await;
    assert_eq!(accepted.body["valid"], true, "{}", accepted.text);
    assert_eq!(accepted.body["claims"]["decidedBy"], "grant");
    assert_eq!(reason(&check(json!(["grant"])).await), "already_used");
}

async fn c1_clawgate_verify_refuses_a_rule_token_online_and_offline(app: TestApp) {
    let (_, token) = rule_token(&app).await;
    let verify = |args: &[&str]| {
        let mut cmd = clawgate(&app, "");
        cmd.args(["verify", &token, "--action", ACTION, "--issuer", &app.origin]).args(args);
        run(cmd)
    };
    for args in [
        &["--consume"][..],
        &["--offline"],
        &["--consume", "--accept", "passkey"],
        &["--offline", "--accept", "grant"],
    ] {
        let out = verify(args).await;
        assert_exit(&out, 5);
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
        let said = text(&out.stderr);
        assert!(
            said.contains("not_person_approved") && said.contains("no person approved"),
            "{args:?}: {said}"
        );
    }
    // The Tokens chapter's guard runs only when told that a rule is enough; the refusals consumed nothing.
    for args in [&["--offline", "--accept", "rule"][..], &["--consume", "--accept", "rule,grant"]] {
        let out = verify(args).await;
        assert_exit(&out, 0);
        let claims: Value = serde_json::from_slice(&out.stdout).expect("the claims as JSON");
        assert_eq!(claims["decidedBy"], "rule", "{args:?}");
    }
    let again = verify(&["--consume", "--accept", "rule"]).await;
    assert_exit(&again, 5);
    assert!(text(&again.stderr).contains("already_used"), "{}", text(&again.stderr));
    assert_exit(&verify(&["--accept", "robot"]).await, 2);
}

async fn c1_the_rust_client_refuses_a_rule_token_unless_it_accepts_rules(app: TestApp) {
    let (key, token) = rule_token(&app).await;
    let client = Client::new(&app.base, &key).expect("client");
    let refused = client.verify(&token, true, Some(ACTION)).await.expect("answered");
    assert!(!refused.valid && refused.claims.is_none());
    assert_eq!(refused.reason.map(|r| r.as_str()), Some("not_person_approved"));
    let only_grants = Accept { rule: false, grant: true };
    let refused = client.verify_accepting(&token, true, None, only_grants).await.expect("answered");
    assert_eq!(refused.reason.map(|r| r.as_str()), Some("not_person_approved"));

    let jwks = client.jwks().await.expect("jwks");
    let offline = verify_offline(&jwks, &token, Some(&app.origin), Some(ACTION));
    assert_eq!(offline, Err(OfflineError::NotPersonApproved));
    let claims = verify_offline_accepting(&jwks, &token, Some(&app.origin), Some(ACTION), Accept::ANY)
        .expect("accepted offline");
    assert_eq!(claims.decided_by.as_str(), "rule");
    let accepted = client.verify_accepting(&token, true, Some(ACTION), Accept::ANY).await.expect("answered");
    assert!(accepted.valid, "{accepted:?}");
    assert_eq!(accepted.claims.map(|c| c.decided_by.as_str()), Some("rule"));
}

async fn c1_a_passkey_approval_still_verifies_everywhere(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let (_, token) = app.approved(&mut ada, &key, ACTION).await;
    let (header, claims) = parts(&token);
    assert_eq!(header["typ"], "clawgate-approval+jwt");
    assert_eq!((&claims["aud"], &claims["typ"]), (&json!("clawgate:approval"), &json!("approval")));
    assert_eq!((&claims["decidedBy"], &claims["userVerified"]), (&json!("passkey"), &json!(true)));

    // verify-token, whatever else is accepted; the client online and offline; a third party.
    for accept in
        [None, Some(json!(["passkey"])), Some(json!(["rule"])), Some(json!(["passkey", "rule", "grant"]))]
    {
        let mut body = json!({"token": token, "action": ACTION});
        if let Some(a) = accept {
            body["accept"] = a;
        }
        let r = app.verify(body).await;
        assert_eq!(r.body["valid"], true, "{}", r.text);
    }
    let client = Client::new(&app.base, &key).expect("client");
    assert!(client.verify(&token, false, Some(ACTION)).await.expect("answered").valid);
    let jwks = client.jwks().await.expect("jwks");
    verify_offline(&jwks, &token, Some(&app.origin), Some(ACTION)).expect("valid offline");
    third_party_decode(&app, &token).await.expect("a verifier of the approval audience takes it");

    // clawgate verify offline and online, then the guard consumes it once.
    let verify = |args: &[&str]| {
        let mut cmd = clawgate(&app, "");
        cmd.args(["verify", &token, "--action", ACTION, "--issuer", &app.origin]).args(args);
        run(cmd)
    };
    assert_exit(&verify(&["--offline"]).await, 0);
    assert_exit(&verify(&[]).await, 0);
    assert_exit(&verify(&["--consume"]).await, 0);
    let again = verify(&["--consume"]).await;
    assert_exit(&again, 5);
    assert!(text(&again.stderr).contains("already_used"), "{}", text(&again.stderr));
}

/// Decodes `token` as a third-party tool would (jsonwebtoken with the published JWKS, EdDSA, the
/// approval audience, the server's issuer): the claims, or why not.
async fn third_party_decode(app: &TestApp, token: &str) -> Result<Value, jsonwebtoken::errors::ErrorKind> {
    let jwks = app.get("/.well-known/jwks.json", &Auth::None).await.expect(200);
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.body).expect("a JWKS");
    let kid = jsonwebtoken::decode_header(token).expect("a JWT").kid.expect("a kid");
    let key = jsonwebtoken::DecodingKey::from_jwk(set.find(&kid).expect("published")).expect("a key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["clawgate:approval"]);
    validation.set_issuer(&[&app.origin]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|d| d.claims).map_err(|e| e.into_kind())
}

/// The Tokens chapter's PyJWT check: `jwt.decode(…, audience="clawgate:approval")`.
const PYJWT_CHECK: &str = r#"
import json, sys, jwt
url, token, issuer = sys.argv[1:4]
key = jwt.PyJWKClient(url).get_signing_key_from_jwt(token)
try:
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="clawgate:approval", issuer=issuer)
    print(json.dumps({"decidedBy": claims["decidedBy"]}))
except jwt.InvalidTokenError as e:
    print(json.dumps({"refused": type(e).__name__}))
"#;

async fn c1_a_gate_token_fails_a_third_party_verifier_of_the_approval_audience(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let call = json!({"tool": "Bash", "input": {"command": ACTION}});
    let allowed = app.post("/api/v1/gate", &Auth::Bearer(key.clone()), call).await.expect(200);
    let rule = allowed.body["token"].as_str().expect("token").to_owned();
    assert_eq!(third_party_decode(&app, &rule).await, Err(jsonwebtoken::errors::ErrorKind::InvalidAudience));
    let (_, person) = app.approved(&mut ada, &key, ACTION).await;
    assert_eq!(third_party_decode(&app, &person).await.expect("valid")["decidedBy"], "passkey");

    let Some(python) = test_python("jwt", "the PyJWT verifier test") else { return };
    let url = app.url("/.well-known/jwks.json");
    for (token, said) in
        [(&rule, json!({"refused": "InvalidAudienceError"})), (&person, json!({"decidedBy": "passkey"}))]
    {
        let out = tokio::process::Command::new(&python)
            .args(["-c", PYJWT_CHECK, &url, token, &app.origin])
            .output()
            .await
            .expect("python runs");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(serde_json::from_slice::<Value>(&out.stdout).expect("JSON"), said);
    }
}
