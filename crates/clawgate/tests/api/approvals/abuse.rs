//! Acceptance list E (`shared/docs/security.md`), E24, E25, E27 and E29: abuse, fatigue and denial
//! of service. E26 (hostile agent text) and E30 (push payloads and endpoints) are proved in
//! `web_app/pages.rs` and `push/delivery.rs`; E28 (oversized and deep bodies, huge page sizes) in
//! `operations/http_edges.rs` and `approvals/end_to_end.rs`.

use crate::harness::{Auth, TestApp, on_both_backends, on_both_databases};
use clawgate::config::Backend;
use clawgate::domain::ids::RequestId;
use clawgate::store::writer::WriteStatement;
use serde_json::json;

on_both_databases!(
    e24_a_key_may_have_only_so_many_requests_waiting,
    e24_lapsed_requests_free_their_places_before_anything_sweeps_them,
    e24_a_counter_that_counts_too_many_refuses_no_request_there_is_room_for,
    e25_a_key_denied_again_and_again_is_suspended_until_its_owner_resumes_it,
    e27_polling_too_fast_is_slowed_down_but_waiting_never_is,
);
on_both_backends!(e29_failed_passkey_attempts_are_limited_per_client);

async fn e24_a_key_may_have_only_so_many_requests_waiting(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let other_key = app.api_key(&ada).await;
    // Twenty at once against a cap of ten: exactly ten get in, whatever the interleaving.
    let agent = Auth::Bearer(key.clone());
    let asks = (0..20)
        .map(|i| app.post("/api/v1/approval/request", &agent, json!({ "action": format!("flood {i}") })));
    let results = futures::future::join_all(asks).await;
    let created: Vec<_> = results.iter().filter(|r| r.status.as_u16() == 201).collect();
    assert_eq!(created.len(), 10, "{:?}", crate::harness::concurrency::statuses(&results));
    for refused in results.iter().filter(|r| r.status.as_u16() != 201) {
        assert_eq!(refused.status.as_u16(), 429, "{}", refused.text);
        assert_eq!(refused.code(), "too_many_pending");
        let wait: u64 = refused.headers["retry-after"].to_str().expect("ascii").parse().expect("seconds");
        assert!((1..=300).contains(&wait), "Retry-After says when the first one lapses: {wait}");
    }
    // Another key of the same person is not affected; deciding one frees a place.
    app.ask(&other_key, "unrelated").await;
    let first = created[0].body["requestId"].as_str().expect("id").to_owned();
    app.deny(&ada, &first).await.expect(200);
    app.post(
        "/api/v1/approval/request",
        &Auth::Bearer(key.clone()),
        json!({ "action": "now there is room" }),
    )
    .await
    .expect(201);
    let extra =
        app.post("/api/v1/approval/request", &Auth::Bearer(key), json!({ "action": "but no more" })).await;
    extra.expect_error(429, "too_many_pending");
}

/// The key's counter of pending requests may count more than there are (a crash between taking a
/// place and creating the request, on PostgreSQL), never fewer. At the cap the exact count
/// decides: there is room, so the request gets in, and the cap still holds for real requests.
async fn e24_a_counter_that_counts_too_many_refuses_no_request_there_is_room_for(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let agent = Auth::Bearer(key.clone());
    let overcount = sqlx::query("UPDATE api_keys SET pending = 10");
    overcount.written(&app.state.db).await.expect("the counter set past the cap");
    for i in 0..10 {
        let asked =
            app.post("/api/v1/approval/request", &agent, json!({ "action": format!("real {i}") })).await;
        asked.expect(201);
    }
    let extra = app.post("/api/v1/approval/request", &agent, json!({ "action": "the eleventh" })).await;
    extra.expect_error(429, "too_many_pending");
}

/// The cap counts requests still waiting: one that lapsed frees its place at once, though
/// nothing has marked it expired yet (the key's counter of pending requests still includes it).
async fn e24_lapsed_requests_free_their_places_before_anything_sweeps_them(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let agent = Auth::Bearer(key.clone());
    let ask = |action: String, lifetime: u64| {
        app.post(
            "/api/v1/approval/request",
            &agent,
            json!({ "action": action, "expiresInSeconds": lifetime }),
        )
    };
    for i in 0..9 {
        ask(format!("long {i}"), 600).await.expect(201);
    }
    ask("short".to_owned(), 30).await.expect(201);
    ask("one too many".to_owned(), 600).await.expect_error(429, "too_many_pending");
    // The short one lapses; nothing sweeps it (no status read, no upkeep), yet its place is free.
    app.clock.advance_ms(31_000);
    ask("in the freed place".to_owned(), 600).await.expect(201);
    ask("but no more".to_owned(), 600).await.expect_error(429, "too_many_pending");
    let pending = app.scalar_i64("SELECT COUNT(*) FROM approval_requests WHERE status = 'PENDING'").await;
    assert_eq!(pending, 11, "the lapsed one is still stored as PENDING; ten wait");
    // Deciding and expiring give places back to the counter: once swept, one denial frees one.
    app.state.expire_lapsed(None).await.expect("sweep");
    let first = app.get("/api/v1/approval/pending", &ada.auth()).await.expect(200);
    let id = first.body["requests"][0]["requestId"].as_str().expect("id").to_owned();
    app.deny(&ada, &id).await.expect(200);
    ask("after a denial".to_owned(), 600).await.expect(201);
    ask("full again".to_owned(), 600).await.expect_error(429, "too_many_pending");
    let counter = app.scalar_i64("SELECT pending FROM api_keys").await;
    assert_eq!(counter, 10, "the counter matches what waits once lapsed requests are swept");
}

async fn e25_a_key_denied_again_and_again_is_suspended_until_its_owner_resumes_it(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    for i in 0..3 {
        let asked = app.ask(&key, &format!("suspicious {i}")).await;
        app.deny(&ada, &asked.id).await.expect(200);
    }
    // Suspended: the agent is told in words, and can neither ask nor read.
    let r =
        app.post("/api/v1/approval/request", &Auth::Bearer(key.clone()), json!({ "action": "again" })).await;
    r.expect_error(403, "api_key_suspended");
    let listed = app.get("/api/v1/auth/api-keys", &ada.auth()).await.expect(200);
    let shown = &listed.body["apiKeys"][0];
    assert!(shown["suspendedAt"].is_string(), "the owner sees it: {shown}");
    let trail = app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE event = 'api_key.suspended'").await;
    assert_eq!(trail, 1, "recorded once");

    // Only a passkey session resumes it.
    let id = shown["id"].as_str().expect("id").to_owned();
    let (email_session, _) = app.register("other@example.com").await;
    let foreign = app
        .post(&format!("/api/v1/auth/api-keys/{id}/resume"), &Auth::Bearer(email_session), json!({}))
        .await;
    foreign.expect_error(404, "not_found");
    let resumed =
        app.post(&format!("/api/v1/auth/api-keys/{id}/resume"), &ada.auth(), json!({})).await.expect(200);
    assert!(resumed.body["suspendedAt"].is_null());
    app.post(&format!("/api/v1/auth/api-keys/{id}/resume"), &ada.auth(), json!({}))
        .await
        .expect_error(409, "not_suspended");
    app.ask(&key, "after the owner looked").await;

    // Denials older than ten minutes do not count.
    let slow = app.api_key(&ada).await;
    for i in 0..4 {
        let asked = app.ask(&slow, &format!("spread out {i}")).await;
        app.deny(&ada, &asked.id).await.expect(200);
        app.clock.advance_ms(6 * 60 * 1000);
    }
    app.ask(&slow, "still fine").await;
}

async fn e27_polling_too_fast_is_slowed_down_but_waiting_never_is(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "watched closely").await;
    let auth = Auth::Bearer(key.clone());
    for _ in 0..30 {
        app.get(&format!("/api/v1/approval/status/{}", asked.id), &auth).await.expect(200);
    }
    let r = app.get(&format!("/api/v1/approval/status/{}", asked.id), &auth).await;
    let r = r.expect_error(429, "slow_down");
    assert!(r.headers.get("retry-after").is_some());
    assert!(r.text.contains("wait=60"), "it says how to wait instead: {}", r.text);
    // Waiting is not limited: a decided request answers at once.
    app.deny(&ada, &asked.id).await.expect(200);
    let waited = app.get(&format!("/api/v1/approval/status/{}?wait=5", asked.id), &auth).await.expect(200);
    assert_eq!(waited.body["status"], "DENIED");
    // And time refills the allowance.
    app.clock.advance_ms(2_000);
    app.get(&format!("/api/v1/approval/status/{}", asked.id), &auth).await.expect(200);
}

/// Failures are counted against the client that sends them, never against the account a
/// (public) credential id names, and starting a ceremony is never refused: see
/// `accounts/passkeys.rs` for the lock-out this prevents.
async fn e29_failed_passkey_attempts_are_limited_per_client(backend: Backend) {
    // Clients told apart by X-Forwarded-For.
    let Some(app) = TestApp::spawn_with(backend, |a| a.trust_forwarded_for = true).await else { return };
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "guarded").await;
    let client = "198.51.100.4";
    let start = json!({ "requestId": asked.id });
    let approve = format!("/api/v1/approval/approve/{}", asked.id);
    let start_path = "/api/v1/passkey/authenticate/start";
    // Ten assertions that fail (answering the wrong ceremony); each is refused.
    for _ in 0..10 {
        let a = app.post_from(client, start_path, start.clone()).await.expect(200);
        let b = app.post_from(client, start_path, start.clone()).await.expect(200);
        let for_a = ada.key.get(&a.body["publicKey"]).await;
        app.post_from(client, &approve, json!({ "ceremonyId": b.body["ceremonyId"], "credential": for_a }))
            .await
            .expect_error(400, "passkey_verification_failed");
    }
    // Now that client waits, even with a correct assertion; starting a ceremony is never
    // refused, and other clients (the same person elsewhere, other accounts) do not wait.
    let a = app.post_from(client, start_path, start.clone()).await.expect(200);
    let signed = ada.key.get(&a.body["publicKey"]).await;
    let blocked = app
        .post_from(client, &approve, json!({ "ceremonyId": a.body["ceremonyId"], "credential": signed }))
        .await
        .expect_error(429, "rate_limited");
    assert!(blocked.headers.get("retry-after").is_some());
    app.post_from(client, start_path, json!({ "email": ada.email })).await.expect(200);
    let mut bob = app.person("bob@example.com").await;
    app.login(Some(&bob.email), &mut bob.key).await.expect(200);
    app.login(Some(&ada.email), &mut ada.key).await.expect(200);
    // A minute later one more try is allowed, and it succeeds.
    app.clock.advance_ms(60_000);
    let a = app.post_from(client, start_path, start).await.expect(200);
    let signed = ada.key.get(&a.body["publicKey"]).await;
    app.post_from(client, &approve, json!({ "ceremonyId": a.body["ceremonyId"], "credential": signed }))
        .await
        .expect(200);
    let id = RequestId::parse(&asked.id).expect("id");
    let trail = app.state.db.audit_of_request(&id).await.expect("trail");
    let events: Vec<&str> = trail.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["request.created", "request.approved"]);
}
