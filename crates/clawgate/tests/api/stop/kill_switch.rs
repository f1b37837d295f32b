//! The kill switch (issue 10): `POST /api/v1/stop` with a passkey session denies every pending
//! request of the person, revokes their grants and suspends their keys, at once (waiting agents
//! are answered DENIED); keys are resumed one by one; nobody else's agents are touched.

use crate::harness::waiting::until_waiting;
use crate::harness::{Auth, Person, Resp, TestApp, on_both_databases};
use clawgate::clock::Clock;
use clawgate::domain::ids::GrantId;
use serde_json::{Value, json};
use std::time::Duration;

on_both_databases!(
    a_passkey_session_stops_every_agent_of_its_person_at_once,
    a_resumed_key_asks_again_while_the_other_stays_suspended,
    only_a_persons_passkey_session_may_stop_and_a_refusal_changes_nothing,
    revoked_keys_and_lapsed_requests_are_not_counted_and_a_second_stop_finds_nothing,
    concurrent_stops_stop_each_thing_once,
);

const STOP: &str = "/api/v1/stop";
const REASON: &str = "every agent was stopped by their owner";

/// Far below the 60 s wait: an answer within this came from the stop, not the clock.
const PROMPT: Duration = Duration::from_secs(15);

async fn stop(app: &TestApp, who: &Person) -> Resp {
    app.post(STOP, &who.auth(), json!({})).await
}

/// A new API key for the person: the key and its id.
async fn new_key(app: &TestApp, who: &Person) -> (String, String) {
    let r = app.post("/api/v1/auth/api-keys", &who.auth(), json!({ "name": "bot" })).await.expect(201);
    (r.body["key"].as_str().expect("key").to_owned(), r.body["id"].as_str().expect("id").to_owned())
}

async fn key_view(app: &TestApp, who: &Person, id: &str) -> Value {
    let listed = app.get("/api/v1/auth/api-keys", &who.auth()).await.expect(200);
    listed.body["apiKeys"]
        .as_array()
        .expect("apiKeys")
        .iter()
        .find(|k| k["id"] == id)
        .expect("the key")
        .clone()
}

/// What the person sees of one of their requests.
async fn request_view(app: &TestApp, who: &Person, id: &str) -> Value {
    app.get(&format!("/api/v1/approval/{id}"), &who.auth()).await.expect(200).body
}

/// Asks with `key` and expects the suspended key's refusal.
async fn refused_as_suspended(app: &TestApp, key: &str) {
    let r = app
        .post("/api/v1/approval/request", &Auth::Bearer(key.to_owned()), json!({ "action": "again" }))
        .await;
    r.expect_error(403, "api_key_suspended");
}

/// A count from the server's database, with text parameters.
async fn count(app: &TestApp, sql: &str, params: &[&str]) -> i64 {
    let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()));
    for p in params {
        q = q.bind(p.to_string());
    }
    q.fetch_one(app.state.db.pool()).await.expect("query")
}

/// A standing grant of `who` for `key`, written straight into the database (no route makes one
/// yet): live, or lapsed `expires_in_ms` before now when negative. Its id.
async fn grant(app: &TestApp, who: &Person, key: &str, expires_in_ms: i64) -> String {
    let id = GrantId::generate().as_str().to_owned();
    let now = app.clock.now_ms();
    sqlx::query(
        "INSERT INTO grants (id, user_id, api_key_id, scope, description, request_id, credential_id, \
         created_at, expires_at, max_uses, uses, revoked_at) VALUES ($1, $2, $3, '{}', 'test', 'req_x', 'cred', $4, $5, NULL, 0, NULL)",
    )
    .bind(id.clone())
    .bind(who.user_id.clone())
    .bind(key.to_owned())
    .bind(now - 1000)
    .bind(now + expires_in_ms)
    .execute(app.state.db.pool())
    .await
    .expect("grant inserted");
    id
}

async fn grant_revoked(app: &TestApp, id: &str) -> bool {
    count(app, "SELECT COUNT(*) FROM grants WHERE id = $1 AND revoked_at IS NOT NULL", &[id]).await == 1
}

/// `GET status?wait=60` in the background.
fn long_poll(app: &TestApp, key: &str, id: &str) -> tokio::task::JoinHandle<Resp> {
    let req = app.http.get(app.url(&format!("/api/v1/approval/status/{id}?wait=60"))).bearer_auth(key);
    tokio::spawn(async move { crate::harness::into_resp(req.send().await.expect("sent")).await })
}

fn assert_counts(r: &Resp, denied: i64, grants: i64, keys: i64) {
    assert_eq!(
        (&r.body["deniedRequests"], &r.body["revokedGrants"], &r.body["suspendedKeys"]),
        (&json!(denied), &json!(grants), &json!(keys)),
        "{}",
        r.text
    );
    let at = r.body["stoppedAt"].as_str().expect("stoppedAt");
    let parsed = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339);
    assert!(parsed.is_ok(), "RFC 3339: {at}");
}

async fn a_passkey_session_stops_every_agent_of_its_person_at_once(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let ((first, first_id), (second, second_id)) = (new_key(&app, &ada).await, new_key(&app, &ada).await);
    let waited = app.ask(&first, "deploy to production").await;
    let also = app.ask(&first, "drop the staging database").await;
    let other = app.ask(&second, "email all customers").await;
    let live_grant = grant(&app, &ada, &first_id, 3_600_000).await;
    let lapsed_grant = grant(&app, &ada, &second_id, -1000).await;
    // Bob's agents are none of ada's business.
    let bob = app.person("bob@example.com").await;
    let (bobs_key, bobs_key_id) = new_key(&app, &bob).await;
    let bobs_request = app.ask(&bobs_key, "bob's own thing").await;
    let bobs_grant = grant(&app, &bob, &bobs_key_id, 3_600_000).await;

    let poll = long_poll(&app, &first, &waited.id);
    let second_poll = long_poll(&app, &second, &other.id);
    until_waiting(&app, 2).await;
    let stopped = stop(&app, &ada).await.expect(200);
    assert_counts(&stopped, 3, 1, 2);

    // The waiting agents are told at once: denied, with no token.
    for waiting in [poll, second_poll] {
        let answer = tokio::time::timeout(PROMPT, waiting).await.expect("answered at once").expect("poll");
        let answer = answer.expect(200);
        assert_eq!(answer.body["status"], "DENIED", "{}", answer.text);
        assert!(answer.body.get("token").is_none());
    }
    assert_eq!(app.state.events.waited_on(), 0, "nothing is left behind");
    for id in [&waited.id, &also.id, &other.id] {
        let seen = request_view(&app, &ada, id).await;
        assert_eq!((&seen["status"], &seen["denyReason"]), (&json!("DENIED"), &json!(REASON)), "{seen}");
    }
    let by_stop = count(
        &app,
        "SELECT COUNT(*) FROM approval_requests WHERE decided_by = 'stop' AND user_id = $1",
        &[&ada.user_id],
    )
    .await;
    assert_eq!(by_stop, 3, "recorded as decided by the stop");
    // Neither key may ask, nor read; both show as suspended to their owner.
    for (key, id) in [(&first, &first_id), (&second, &second_id)] {
        refused_as_suspended(&app, key).await;
        app.status(key, &waited.id).await.expect_error(403, "api_key_suspended");
        assert!(key_view(&app, &ada, id).await["suspendedAt"].is_string());
    }
    assert!(grant_revoked(&app, &live_grant).await, "the live grant is revoked");
    assert!(!grant_revoked(&app, &lapsed_grant).await, "a lapsed grant is left as it was");
    let pending = "SELECT CAST(COALESCE(SUM(pending), 0) AS BIGINT) FROM api_keys WHERE user_id = $1";
    assert_eq!(count(&app, pending, &[&ada.user_id]).await, 0, "the keys' pending places are given back");

    // The audit trail: one row per denial and per key, and the summary with the address.
    let rows = "SELECT COUNT(*) FROM audit_events WHERE event = $1 AND detail = $2 AND user_id = $3";
    let summary = "3 requests denied, 1 grant revoked, 2 keys suspended";
    assert_eq!(count(&app, rows, &["request.denied", REASON, &ada.user_id]).await, 3);
    assert_eq!(count(&app, rows, &["api_key.suspended", "stopped by its owner", &ada.user_id]).await, 2);
    assert_eq!(count(&app, rows, &["agents.stopped", summary, &ada.user_id]).await, 1);
    let with_ip = "SELECT COUNT(*) FROM audit_events WHERE event = 'agents.stopped' AND ip = '127.0.0.1'";
    assert_eq!(count(&app, with_ip, &[]).await, 1);

    // Bob's request, key and grant are untouched.
    assert_eq!(request_view(&app, &bob, &bobs_request.id).await["status"], "PENDING");
    app.ask(&bobs_key, "bob asks again").await;
    assert!(!grant_revoked(&app, &bobs_grant).await);
    assert!(key_view(&app, &bob, &bobs_key_id).await["suspendedAt"].is_null());
}

async fn a_resumed_key_asks_again_while_the_other_stays_suspended(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let ((first, first_id), (second, second_id)) = (new_key(&app, &ada).await, new_key(&app, &ada).await);
    app.ask(&first, "one").await;
    stop(&app, &ada).await.expect(200);
    let resumed = app
        .post(&format!("/api/v1/auth/api-keys/{first_id}/resume"), &ada.auth(), json!({}))
        .await
        .expect(200);
    assert!(resumed.body["suspendedAt"].is_null());
    let asked = app.ask(&first, "after the owner looked").await;
    assert_eq!(app.status(&first, &asked.id).await.expect(200).body["status"], "PENDING");
    refused_as_suspended(&app, &second).await;
    assert!(key_view(&app, &ada, &second_id).await["suspendedAt"].is_string());
    // Stopping again stops the resumed key and its new request only.
    assert_counts(&stop(&app, &ada).await.expect(200), 1, 0, 1);
    refused_as_suspended(&app, &first).await;
}

async fn only_a_persons_passkey_session_may_stop_and_a_refusal_changes_nothing(app: TestApp) {
    // Ada's email session is kept as well as her passkey session.
    let (email_session, user_id) = app.register("ada@example.com").await;
    let mut softkey = clawgate_testkit::SoftKey::new(&app.origin);
    let added = app.add_passkey(&email_session, &mut softkey).await.expect(201);
    let ada = Person {
        email: "ada@example.com".into(),
        user_id,
        session: added.body["token"].as_str().expect("token").to_owned(),
        key: softkey,
    };
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "deploy").await;

    for agent in [Auth::Bearer(key.clone()), Auth::ApiKey(key.clone())] {
        app.post(STOP, &agent, json!({})).await.expect_error(401, "agent_key_not_allowed");
    }
    app.post(STOP, &Auth::None, json!({})).await.expect_error(401, "unauthorized");
    // Her email session can only sign out, now that the account has a passkey.
    app.post(STOP, &Auth::Bearer(email_session), json!({})).await.expect_error(403, "step_up_required");
    // An account without a passkey has only email sessions: they may not stop.
    let (bobs_session, _) = app.register("bob@example.com").await;
    app.post(STOP, &Auth::Bearer(bobs_session), json!({})).await.expect_error(403, "passkey_required");

    assert_eq!(request_view(&app, &ada, &asked.id).await["status"], "PENDING");
    assert_eq!(app.status(&key, &asked.id).await.expect(200).body["status"], "PENDING");
    app.ask(&key, "still asking").await;
    let stops = count(&app, "SELECT COUNT(*) FROM audit_events WHERE event = 'agents.stopped'", &[]).await;
    assert_eq!(stops, 0, "nothing was stopped");
}

async fn revoked_keys_and_lapsed_requests_are_not_counted_and_a_second_stop_finds_nothing(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let ((revoked, revoked_id), live) = (new_key(&app, &ada).await, app.api_key(&ada).await);
    // A request past its expiry is not denied: it lapsed already.
    let lapsed = app.ask(&live, "asked long ago").await;
    app.clock.advance_ms(301_000);
    let fresh = app.ask(&live, "asked just now").await;
    app.ask(&revoked, "asked before the key was revoked").await;
    app.delete(&format!("/api/v1/auth/api-keys/{revoked_id}"), &ada.auth()).await.expect(204);

    // The revoked key's pending request is the person's too, and is denied; its key is not counted.
    assert_counts(&stop(&app, &ada).await.expect(200), 2, 0, 1);
    assert_eq!(request_view(&app, &ada, &lapsed.id).await["status"], "EXPIRED");
    assert_eq!(request_view(&app, &ada, &fresh.id).await["status"], "DENIED");
    assert!(
        key_view(&app, &ada, &revoked_id).await["suspendedAt"].is_null(),
        "a revoked key stays as it was"
    );

    let again = stop(&app, &ada).await.expect(200);
    assert_counts(&again, 0, 0, 0);
    let summaries = "SELECT COUNT(*) FROM audit_events WHERE event = 'agents.stopped'";
    assert_eq!(count(&app, summaries, &[]).await, 2, "each stop is recorded, the empty one too");
    let zero = "SELECT COUNT(*) FROM audit_events WHERE event = 'agents.stopped' \
                AND detail = '0 requests denied, 0 grants revoked, 0 keys suspended'";
    assert_eq!(count(&app, zero, &[]).await, 1);
}

async fn concurrent_stops_stop_each_thing_once(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let keys = [new_key(&app, &ada).await, new_key(&app, &ada).await, new_key(&app, &ada).await];
    for (i, (key, _)) in keys.iter().enumerate() {
        for j in 0..3 {
            app.ask(key, &format!("task {i}.{j}")).await;
        }
    }
    grant(&app, &ada, &keys[0].1, 3_600_000).await;
    let stops = futures::future::join_all((0..4).map(|_| stop(&app, &ada))).await;
    let total = |field: &str| stops.iter().map(|r| r.body[field].as_i64().expect("a count")).sum::<i64>();
    for r in &stops {
        assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    }
    assert_eq!((total("deniedRequests"), total("revokedGrants"), total("suspendedKeys")), (9, 1, 3));
    let denials = count(&app, "SELECT COUNT(*) FROM audit_events WHERE event = 'request.denied'", &[]).await;
    assert_eq!(denials, 9, "each request denied once");
    assert_eq!(count(&app, "SELECT CAST(COALESCE(SUM(pending), 0) AS BIGINT) FROM api_keys", &[]).await, 0);
}

/// Several instances on one PostgreSQL: a stop on A reaches an agent waiting on B at once, and B,
/// which remembered the key from its last use, refuses it from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_on_one_instance_stops_the_agents_waiting_on_another() {
    let Some(a) = TestApp::spawn(clawgate::config::Backend::Postgres).await else { return };
    let b = a.second_instance().await;
    let ada = a.person("ada@example.com").await;
    let key = a.api_key(&ada).await;
    // Asked on B: B now remembers the key.
    let asked = b.ask(&key, "migrate the database").await;
    let waiting = long_poll(&b, &key, &asked.id);
    until_waiting(&b, 1).await;
    assert_counts(&stop(&a, &ada).await.expect(200), 1, 0, 1);
    let answer = tokio::time::timeout(PROMPT, waiting).await.expect("answered at once").expect("poll");
    assert_eq!(answer.expect(200).body["status"], "DENIED", "B's waiting agent learns of A's stop");
    refused_as_suspended(&b, &key).await;
    b.status(&key, &asked.id).await.expect_error(403, "api_key_suspended");
}
