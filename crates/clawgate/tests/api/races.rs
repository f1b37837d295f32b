//! Races: whatever arrives together, a request leaves PENDING exactly once.

use crate::harness::{TestApp, on_both_databases};
use serde_json::json;

on_both_databases!(approve_and_deny_together_have_exactly_one_winner, idempotent_retries_create_one_request);

const ROUNDS: usize = 25;

async fn approve_and_deny_together_have_exactly_one_winner(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let (mut approvals, mut denials) = (0, 0);
    for round in 0..ROUNDS {
        let asked = app.ask(&key, &format!("round {round}")).await;
        // Two approval ceremonies (two devices of the same person) and two denials, all at once.
        let one = app.approval_ceremony(&asked.id).await.expect(200);
        let two = app.approval_ceremony(&asked.id).await.expect(200);
        let signed_one = ada.key.get(&one.body["publicKey"]).await;
        let signed_two = ada.key.get(&two.body["publicKey"]).await;
        let (approve, approve_again, deny, deny_again) = tokio::join!(
            app.send_approval(&asked.id, &one.body["ceremonyId"], &signed_one),
            app.send_approval(&asked.id, &two.body["ceremonyId"], &signed_two),
            app.deny(&ada, &asked.id),
            app.deny(&ada, &asked.id),
        );
        let outcomes =
            [approve.status, approve_again.status, deny.status, deny_again.status].map(|s| s.as_u16());
        assert_eq!(outcomes.iter().filter(|s| **s == 200).count(), 1, "round {round}: {outcomes:?}");
        assert!(outcomes.iter().all(|s| [200, 409].contains(s)), "round {round}: {outcomes:?}");
        let status = app.status(&key, &asked.id).await.expect(200);
        if outcomes[..2].contains(&200) {
            approvals += 1;
            assert_eq!(status.body["status"], "APPROVED");
            assert!(status.body["token"].is_string());
        } else {
            denials += 1;
            assert_eq!(status.body["status"], "DENIED");
            assert!(status.body.get("token").is_none());
        }
    }
    let decided = app.scalar_i64("SELECT COUNT(*) FROM approval_requests WHERE status <> 'PENDING'").await;
    assert_eq!(decided as usize, ROUNDS);
    let tokens = app.scalar_i64("SELECT COUNT(*) FROM approval_requests WHERE token IS NOT NULL").await;
    assert_eq!(tokens, approvals);
    eprintln!("{ROUNDS} rounds on {:?}: {approvals} approved first, {denials} denied first", app.backend());
}

/// The same Idempotency-Key and body ten times, five of them at once: one request, one answer.
/// The same key with another body: 422.
async fn idempotent_retries_create_one_request(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let body = json!({ "action": "charge card", "context": { "amount": 12, "currency": "EUR" } });
    let send = |body: serde_json::Value| {
        let req = app
            .http
            .post(app.url("/api/v1/approval/request"))
            .bearer_auth(&key)
            .header("idempotency-key", "charge-42")
            .json(&body);
        async move { crate::harness::into_resp(req.send().await.expect("sent")).await }
    };
    let first = send(body.clone()).await.expect(201);
    let concurrent = futures::future::join_all((0..5).map(|_| send(body.clone()))).await;
    let mut sequential = Vec::new();
    for _ in 0..4 {
        // Same content, keys in another order: the same body.
        sequential.push(
            send(json!({ "context": { "currency": "EUR", "amount": 12 }, "action": "charge card" })).await,
        );
    }
    for r in concurrent.iter().chain(&sequential) {
        assert_eq!(r.status.as_u16(), 201, "{}", r.text);
        assert_eq!(r.body, first.body, "every retry gets the same answer");
        assert_eq!(r.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    }
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 1);

    let other =
        send(json!({ "action": "charge card", "context": { "amount": 1200, "currency": "EUR" } })).await;
    other.expect_error(422, "idempotency_key_reused");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 1);
    // Another agent key may use the same Idempotency-Key for its own request.
    let key2 = app.api_key(&ada).await;
    let r = app
        .http
        .post(app.url("/api/v1/approval/request"))
        .header("x-api-key", &key2)
        .header("idempotency-key", "charge-42")
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 2);
}
