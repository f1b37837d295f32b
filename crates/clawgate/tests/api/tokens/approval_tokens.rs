//! Acceptance list B (`shared/docs/security.md`), B9–B12: approval tokens prove one approval, once.

use crate::harness::{Auth, TestApp, on_both_databases};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

on_both_databases!(
    b9_a_token_for_one_action_does_not_approve_another,
    b10_consume_verifies_once_even_concurrently_and_across_instances,
    b11_session_and_approval_tokens_cannot_pass_for_each_other,
    b12_forged_swapped_tampered_and_expired_tokens_are_refused,
);

fn reason(r: &crate::harness::Resp) -> &str {
    assert_eq!(r.body["valid"], false, "expected an invalid token: {}", r.text);
    assert!(r.body.get("claims").is_none());
    r.body["reason"].as_str().unwrap_or("")
}

async fn b9_a_token_for_one_action_does_not_approve_another(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let (_, token_a) = app.approved(&mut ada, &key, "deploy service A").await;
    let (_, token_b) = app.approved(&mut ada, &key, "deploy service B").await;

    let wrong = app.verify(json!({ "token": token_a, "action": "deploy service B" })).await;
    assert_eq!(reason(&wrong), "action_mismatch");
    let right = app.verify(json!({ "token": token_a, "action": "deploy service A" })).await;
    assert_eq!(right.body["valid"], true);
    // Each token names its own request and action hash.
    let a = app.verify(json!({ "token": token_a })).await;
    let b = app.verify(json!({ "token": token_b })).await;
    assert_ne!(a.body["claims"]["requestId"], b.body["claims"]["requestId"]);
    assert_ne!(a.body["claims"]["actionHash"], b.body["claims"]["actionHash"]);
    // A mismatch does not consume the token.
    let consume =
        app.verify(json!({ "token": token_a, "action": "deploy service B", "consume": true })).await;
    assert_eq!(reason(&consume), "action_mismatch");
    assert_eq!(app.verify(json!({ "token": token_a, "consume": true })).await.body["valid"], true);
}

async fn b10_consume_verifies_once_even_concurrently_and_across_instances(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;

    let (_, token) = app.approved(&mut ada, &key, "truncate logs").await;
    let calls = (0..20).map(|_| app.verify(json!({ "token": token, "consume": true })));
    let results = futures::future::join_all(calls).await;
    let valid = results.iter().filter(|r| r.body["valid"] == true).count();
    assert_eq!(valid, 1, "exactly one of 20 concurrent consumes is valid");
    assert!(results.iter().filter(|r| r.body["valid"] == false).all(|r| r.body["reason"] == "already_used"));

    // Another instance on the same database: consumed there, refused here, and the reverse.
    let other = app.second_instance().await;
    let (_, token) = app.approved(&mut ada, &key, "rotate keys").await;
    assert_eq!(other.verify(json!({ "token": token })).await.body["valid"], true, "the key is shared");
    assert_eq!(other.verify(json!({ "token": token, "consume": true })).await.body["valid"], true);
    assert_eq!(reason(&app.verify(json!({ "token": token, "consume": true })).await), "already_used");
    // Verifying without consuming still says whether it is authentic (it is), not whether unused.
    assert_eq!(app.verify(json!({ "token": token })).await.body["valid"], true);
}

async fn b11_session_and_approval_tokens_cannot_pass_for_each_other(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let (_, token) = app.approved(&mut ada, &key, "send newsletter").await;

    let as_approval = app.verify(json!({ "token": ada.session })).await;
    assert_eq!(reason(&as_approval), "wrong_type");
    let as_session = app.get("/api/v1/auth/me", &Auth::Bearer(token.clone())).await;
    as_session.expect_error(401, "unauthorized");
    let as_agent = app.get("/api/v1/approval/pending", &Auth::Bearer(token)).await;
    assert_eq!(as_agent.status.as_u16(), 401);
}

async fn b12_forged_swapped_tampered_and_expired_tokens_are_refused(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let (_, token) = app.approved(&mut ada, &key, "delete the bucket").await;
    let parts: Vec<&str> = token.split('.').collect();
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    let kid = header["kid"].as_str().expect("kid").to_owned();

    // alg=none with the genuine claims.
    let none_header = URL_SAFE_NO_PAD
        .encode(json!({ "alg": "none", "typ": "clawgate-approval+jwt", "kid": kid }).to_string());
    let unsigned = format!("{none_header}.{}.", parts[1]);
    assert!(["malformed", "wrong_type"].contains(&reason(&app.verify(json!({ "token": unsigned })).await)));

    // HS256 keyed with the public key (the classic algorithm swap).
    let jwks = app.get("/.well-known/jwks.json", &Auth::None).await.expect(200);
    let public = URL_SAFE_NO_PAD.decode(jwks.body["keys"][0]["x"].as_str().expect("x")).expect("b64");
    let mut hs = Header::new(Algorithm::HS256);
    hs.typ = Some("clawgate-approval+jwt".into());
    hs.kid = Some(kid.clone());
    for secret in [public.clone(), jwks.text.clone().into_bytes()] {
        let swapped = jsonwebtoken::encode(&hs, &claims, &EncodingKey::from_secret(&secret)).expect("encode");
        assert_eq!(reason(&app.verify(json!({ "token": swapped })).await), "wrong_type");
    }

    // Claims changed after signing.
    let mut edited = claims.clone();
    edited["action"] = json!("delete every bucket");
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(edited.to_string()), parts[2]);
    assert_eq!(reason(&app.verify(json!({ "token": tampered })).await), "bad_signature");

    // An unknown key id, and garbage.
    let mut other_kid = header.clone();
    other_kid["kid"] = json!("not-a-key");
    let unknown = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(other_kid.to_string()), parts[1], parts[2]);
    assert_eq!(reason(&app.verify(json!({ "token": unknown })).await), "unknown_key");
    assert_eq!(reason(&app.verify(json!({ "token": "not a token" })).await), "malformed");

    // Expiry: within the 5 s leeway it holds, 10 s past `exp` it does not.
    let lifetime_ms = (claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat")) * 1000;
    app.clock.advance_ms(lifetime_ms + 3_000);
    assert_eq!(app.verify(json!({ "token": token })).await.body["valid"], true);
    app.clock.advance_ms(7_000);
    assert_eq!(reason(&app.verify(json!({ "token": token, "consume": true })).await), "expired");
}
