//! Acceptance list G (`shared/docs/security.md`), G33, G34 and G37, concurrency: whatever arrives
//! together, a request leaves PENDING exactly once, never flips, and has one audit row for its
//! decision. G35 and G36 (kill -9, restart with pending requests) are in `kill9.rs` and
//! `restart.rs` beside this file.
//!
//! The list asks for 1000 rounds; CI runs `CLAWGATE_RACE_ROUNDS` (default 30) to stay fast.
//! `CLAWGATE_RACE_ROUNDS=1000 cargo test --test api faults::races` runs the full count.

use crate::harness::{TestApp, on_both_databases};
use clawgate::domain::ids::RequestId;
use serde_json::json;

on_both_databases!(
    g33_one_approval_and_many_denials_together_have_exactly_one_winner,
    g34_approval_and_expiry_at_the_same_moment_never_both_happen,
    g37_idempotent_retries_create_one_request,
);

fn rounds() -> usize {
    std::env::var("CLAWGATE_RACE_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(30)
}

/// The decisions recorded for a request (its audit trail without the creation).
async fn decisions(app: &TestApp, id: &str) -> Vec<String> {
    let id = RequestId::parse(id).expect("request id");
    let trail = app.state.db.audit_of_request(&id).await.expect("audit trail");
    trail.into_iter().map(|e| e.event).filter(|e| e != "request.created").collect()
}

async fn g33_one_approval_and_many_denials_together_have_exactly_one_winner(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let rounds = rounds();
    let (mut approvals, mut denials) = (0, 0);
    for round in 0..rounds {
        // A key per round: three denied requests would suspend a key (that rule has its own test).
        let key = app.api_key(&ada).await;
        let asked = app.ask(&key, &format!("round {round}")).await;
        let start = app.approval_ceremony(&asked.id).await.expect(200);
        let signed = ada.key.get(&start.body["publicKey"]).await;
        let approve = app.send_approval(&asked.id, &start.body["ceremonyId"], &signed);
        // Denials set off 0–7 ms after the approval, so that either side sometimes wins; the
        // assertions hold whoever does.
        let head_start = std::time::Duration::from_millis(u64::try_from(round % 8).unwrap_or(0));
        let denies = async {
            tokio::time::sleep(head_start).await;
            futures::future::join_all((0..49).map(|_| app.deny(&ada, &asked.id))).await
        };
        let (approve, denies) = tokio::join!(approve, denies);
        let outcomes: Vec<u16> =
            std::iter::once(&approve).chain(&denies).map(|r| r.status.as_u16()).collect();
        assert_eq!(outcomes.iter().filter(|s| **s == 200).count(), 1, "round {round}: {outcomes:?}");
        assert!(outcomes.iter().all(|s| [200, 409].contains(s)), "round {round}: {outcomes:?}");
        let status = app.status(&key, &asked.id).await.expect(200);
        let expected = if approve.status.as_u16() == 200 {
            approvals += 1;
            assert!(status.body["token"].is_string(), "a token iff approved");
            "APPROVED"
        } else {
            denials += 1;
            assert!(status.body.get("token").is_none(), "a token iff approved");
            "DENIED"
        };
        assert_eq!(status.body["status"], expected);
        assert_eq!(
            decisions(&app, &asked.id).await.len(),
            1,
            "round {round}: one audit row for one decision"
        );
        // It never flips: later attempts change nothing.
        app.deny(&ada, &asked.id).await.expect(409);
        assert_eq!(app.status(&key, &asked.id).await.expect(200).body["status"], expected);
    }
    eprintln!("g33 {:?}: {rounds} rounds, approval won {approvals}, a denial won {denials}", app.backend());
}

async fn g34_approval_and_expiry_at_the_same_moment_never_both_happen(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let rounds = rounds();
    let (mut approved, mut expired) = (0, 0);
    for round in 0..rounds {
        let r = app
            .post(
                "/api/v1/approval/request",
                &crate::harness::Auth::Bearer(key.clone()),
                json!({ "action": format!("edge {round}"), "expiresInSeconds": 30 }),
            )
            .await
            .expect(201);
        let id = r.body["requestId"].as_str().expect("id").to_owned();
        let start = app.approval_ceremony(&id).await.expect(200);
        let signed = ada.key.get(&start.body["publicKey"]).await;
        // Put the clock within 5 ms of the expiry, either side, and let the sweeper and the
        // approval race.
        let offset = i64::try_from(round % 11).unwrap_or(0) - 5;
        app.clock.advance_ms(30_000 + offset);
        let (approval, swept) = tokio::join!(
            app.send_approval(&id, &start.body["ceremonyId"], &signed),
            app.state.expire_lapsed(None)
        );
        swept.expect("sweep");
        let status = app.status(&key, &id).await.expect(200);
        match status.body["status"].as_str() {
            Some("APPROVED") => {
                approved += 1;
                assert_eq!(approval.status.as_u16(), 200);
                assert!(offset < 0, "approved only before the expiry (offset {offset} ms)");
                assert!(status.body["token"].is_string());
            }
            Some("EXPIRED") => {
                expired += 1;
                assert!(approval.status.is_client_error(), "{}", approval.text);
                assert!(status.body.get("token").is_none(), "never EXPIRED with a token");
            }
            other => panic!("round {round}: unexpected status {other:?}"),
        }
        assert_eq!(decisions(&app, &id).await.len(), 1, "round {round}: exactly one transition");
    }
    eprintln!("g34 {:?}: {rounds} rounds, approved {approved}, expired {expired}", app.backend());
    assert!(approved > 0 && expired > 0, "both sides of the edge were exercised");
}

/// The same Idempotency-Key and body ten times, five of them at once: one request, one answer.
/// The same key with another body: 422.
async fn g37_idempotent_retries_create_one_request(app: TestApp) {
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
