//! The Rust client library against a live server: ask, wait for the decision without polling,
//! verify the token online (once) and offline (with the published keys only).

use crate::harness::{TestApp, on_both_databases};
use clawgate_client::{ApprovalRequest, Client, Error, OfflineError, Status, verify_offline};
use serde_json::json;
use std::time::Duration;

on_both_databases!(the_client_asks_waits_and_verifies);

async fn the_client_asks_waits_and_verifies(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let client = Client::new(&app.base, &key).expect("client");

    let request = ApprovalRequest::new("terraform destroy staging")
        .agent("infra-bot")
        .context(json!({ "workspace": "staging" }))
        .expires_in(120);
    let created = client.request(&request).await.expect("created");
    assert_eq!(created.status, Status::Pending);

    // The person approves while the client waits.
    let mut seen = Vec::new();
    let waiting = client.wait(&created.request_id, Duration::from_secs(30), |s| seen.push(s.status));
    let approving = async {
        let pending = crate::harness::waiting::until_waiting(&app, 1);
        pending.await;
        app.approve(&created.request_id, &mut ada.key).await.expect(200);
    };
    let (decided, ()) = tokio::join!(waiting, approving);
    let decided = decided.expect("a decision");
    assert_eq!(decided.status, Status::Approved);
    assert_eq!(seen, vec![Status::Approved], "woken once, by the decision");
    let token = decided.token.expect("token");

    // Offline, with the published keys only; the issuer is the server's origin.
    let jwks = client.jwks().await.expect("jwks");
    let claims =
        verify_offline(&jwks, &token, Some(&app.origin), Some("terraform destroy staging")).expect("valid");
    assert_eq!(claims.agent_id.as_deref(), Some("infra-bot"));
    assert_eq!(
        verify_offline(&jwks, &token, None, Some("terraform apply")),
        Err(OfflineError::ActionMismatch)
    );
    // Issue 17: an issuer mismatch is named as such (it was `BadSignature` before).
    assert_eq!(
        verify_offline(&jwks, &token, Some("https://elsewhere.example"), None),
        Err(OfflineError::WrongIssuer { found: app.origin.clone() })
    );
    assert_eq!(verify_offline(&jwks, "nonsense", None, None), Err(OfflineError::Malformed));

    // Online, consumed once.
    assert!(client.verify(&token, true, None).await.expect("verified").valid);
    let again = client.verify(&token, true, None).await.expect("answered");
    assert!(!again.valid);
    assert_eq!(again.reason.map(|r| r.as_str()), Some("already_used"));

    // A wait that runs out says so, with the last status.
    let other = client.request(&ApprovalRequest::new("nobody looks")).await.expect("created");
    match client.wait(&other.request_id, Duration::from_secs(1), |_| {}).await {
        Err(Error::TimedOut(last)) => assert_eq!(last.status, Status::Pending),
        other => panic!("expected a timeout, got {other:?}"),
    }

    // The same idempotency key, twice: one request.
    let keyed = ApprovalRequest::new("charge card").idempotency_key("order-42");
    let a = client.request(&keyed).await.expect("first");
    let b = client.request(&keyed).await.expect("retry");
    assert_eq!(a.request_id, b.request_id);

    // Errors in words.
    let bad = Client::new(&app.base, "ag_wrong").expect("client");
    match bad.request(&ApprovalRequest::new("x")).await {
        Err(Error::Api { status: 401, code, .. }) => assert_eq!(code, "invalid_api_key"),
        other => panic!("expected 401, got {other:?}"),
    }
}
