//! Issue 17, item 10, the server's side of what a new user's afternoon found: registration asks
//! for a discoverable passkey (so signing in needs no email), the person's view of a request
//! says whether an agent still waits for the answer (on every instance), and History is in the
//! order of the time it shows first. The pages themselves: `web_app/daily_use.rs`.

use crate::harness::waiting::until_waiting;
use crate::harness::{Auth, Resp, TestApp, on_both_databases};
use clawgate::clock::{Clock, to_rfc3339};
use serde_json::json;

on_both_databases!(
    registration_asks_for_a_discoverable_passkey_and_still_verifies,
    the_person_sees_when_no_agent_waits_any_longer,
    a_wait_on_another_instance_counts_as_waiting,
    a_busy_poller_is_recorded_every_few_seconds_not_at_every_read,
    history_is_in_the_order_requests_were_asked,
);

async fn registration_asks_for_a_discoverable_passkey_and_still_verifies(app: TestApp) {
    let (session, user_id) = app.register("ada@example.com").await;
    let auth = Auth::Bearer(session.clone());
    let start = app.post("/api/v1/passkey/register/start", &auth, json!({})).await.expect(200);
    let selection = &start.body["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "preferred", "{selection}");
    assert_eq!(selection["requireResidentKey"], false, "preferred, never required: {selection}");
    assert_eq!(selection["userVerification"], "required", "{selection}");

    // Finishing still verifies, and the passkey signs in with no email given.
    let mut key = clawgate_testkit::SoftKey::new(&app.origin);
    let credential = key.create(&start.body["publicKey"]).await;
    let done = app
        .post(
            "/api/v1/passkey/register/complete",
            &auth,
            json!({ "ceremonyId": start.body["ceremonyId"], "credential": credential, "name": "phone" }),
        )
        .await
        .expect(201);
    assert_eq!(done.body["method"], "passkey");
    let signed_in = app.login(None, &mut key).await.expect(200);
    assert_eq!(signed_in.body["user"]["id"], user_id.as_str());
}

/// The person's view of request `id`.
async fn view(app: &TestApp, who: &Auth, id: &str) -> Resp {
    app.get(&format!("/api/v1/approval/{id}"), who).await.expect(200)
}

async fn the_person_sees_when_no_agent_waits_any_longer(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "restart the database").await;
    let asked_at = app.clock.now_ms();

    // Just asked: its agent is taken to be there, though it has not read the request yet.
    let v = view(&app, &ada.auth(), &asked.id).await;
    assert_eq!(v.body["agentWaiting"], true, "{}", v.text);
    assert_eq!(v.body["agentWaitingUntil"], to_rfc3339(asked_at + 30_000));
    assert!(v.body.get("agentCheckedAt").is_none(), "{}", v.text);

    // Half a minute on, with no read: nobody waits.
    app.clock.advance_ms(31_000);
    let v = view(&app, &ada.auth(), &asked.id).await;
    assert_eq!(v.body["agentWaiting"], false, "{}", v.text);
    assert!(v.body.get("agentCheckedAt").is_none(), "{}", v.text);

    // The agent reads its status: waiting again, checked now.
    let checked_at = app.clock.now_ms();
    assert_eq!(app.status(&key, &asked.id).await.expect(200).body["status"], "PENDING");
    let v = view(&app, &ada.auth(), &asked.id).await;
    assert_eq!(v.body["agentWaiting"], true, "{}", v.text);
    assert_eq!(v.body["agentCheckedAt"], to_rfc3339(checked_at));

    // Four minutes without a read: nobody waits, and the view says when it last checked.
    app.clock.advance_ms(4 * 60_000);
    let v = view(&app, &ada.auth(), &asked.id).await;
    assert_eq!(v.body["agentWaiting"], false, "{}", v.text);
    assert_eq!(v.body["agentCheckedAt"], to_rfc3339(checked_at));
    assert_eq!(v.body["status"], "PENDING", "approving is still possible");

    // Decided: the question no longer arises.
    app.deny(&ada, &asked.id).await.expect(200);
    let v = view(&app, &ada.auth(), &asked.id).await;
    assert!(v.body.get("agentWaiting").is_none() && v.body.get("agentWaitingUntil").is_none(), "{}", v.text);
    assert_eq!(v.body["agentCheckedAt"], to_rfc3339(checked_at), "when it last checked is kept");
    // A decided request's reads are not recorded.
    app.status(&key, &asked.id).await.expect(200);
    let v = view(&app, &ada.auth(), &asked.id).await;
    assert_eq!(v.body["agentCheckedAt"], to_rfc3339(checked_at));
}

async fn a_wait_on_another_instance_counts_as_waiting(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "scale down the cluster").await;
    let other = app.second_instance().await;
    other.clock.set_ms(app.clock.now_ms());
    app.clock.advance_ms(31_000);
    other.clock.advance_ms(31_000);
    let v = view(&app, &ada.auth(), &asked.id).await;
    assert_eq!(v.body["agentWaiting"], false, "{}", v.text);

    // The agent waits (up to 30 s) on the other instance; this one says someone waits.
    let req =
        other.http.get(other.url(&format!("/api/v1/approval/status/{}?wait=30", asked.id))).bearer_auth(&key);
    let waiting =
        tokio::spawn(async move { crate::harness::into_resp(req.send().await.expect("sent")).await });
    until_waiting(&other, 1).await;
    let v = view(&app, &ada.auth(), &asked.id).await;
    assert_eq!(v.body["agentWaiting"], true, "{}", v.text);
    assert_eq!(v.body["agentCheckedAt"], to_rfc3339(other.clock.now_ms()));
    // Beyond the grace after a mere read, the wait itself keeps it waiting.
    app.clock.advance_ms(45_000);
    let v = view(&app, &ada.auth(), &asked.id).await;
    assert_eq!(v.body["agentWaiting"], true, "the wait lasts 30 s, plus 30 s for the next: {}", v.text);
    app.clock.advance_ms(20_000);
    let v = view(&app, &ada.auth(), &asked.id).await;
    assert_eq!(v.body["agentWaiting"], false, "{}", v.text);

    // Denied on the instance the agent waits on (SQLite instances do not tell each other).
    other.deny(&ada, &asked.id).await.expect(200);
    let answer = waiting.await.expect("waiter").expect(200);
    assert_eq!(answer.body["status"], "DENIED");
}

async fn a_busy_poller_is_recorded_every_few_seconds_not_at_every_read(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "tail the logs").await;
    let first = app.clock.now_ms();
    app.status(&key, &asked.id).await.expect(200);
    let seen = "SELECT agent_seen_at FROM approval_requests";
    assert_eq!(app.scalar_i64(seen).await, first);
    // Reads within a few seconds write nothing …
    for _ in 0..3 {
        app.clock.advance_ms(3_000);
        app.status(&key, &asked.id).await.expect(200);
        assert_eq!(app.scalar_i64(seen).await, first, "throttled");
    }
    // … and the next one after ten seconds does.
    app.clock.advance_ms(2_000);
    let later = app.clock.now_ms();
    app.status(&key, &asked.id).await.expect(200);
    assert_eq!(app.scalar_i64(seen).await, later);
    let v = view(&app, &ada.auth(), &asked.id).await;
    assert_eq!(v.body["agentWaitingUntil"], to_rfc3339(later + 30_000));
}

async fn history_is_in_the_order_requests_were_asked(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let older = app.ask(&key, "asked first, decided last").await;
    app.clock.advance_ms(60_000);
    let newer = app.ask(&key, "asked last, decided first").await;
    app.clock.advance_ms(60_000);
    app.deny(&ada, &newer.id).await.expect(200);
    app.clock.advance_ms(60_000);
    app.deny(&ada, &older.id).await.expect(200);

    let page = app.get("/api/v1/approval/history", &ada.auth()).await.expect(200);
    let requests = page.body["requests"].as_array().expect("requests");
    let ids: Vec<&str> = requests.iter().filter_map(|r| r["requestId"].as_str()).collect();
    assert_eq!(
        ids,
        [newer.id.as_str(), older.id.as_str()],
        "newest asked first, whatever the decision order"
    );
    // The time the page shows first is the one the list is in: when it was asked, newest first.
    let asked: Vec<&str> = requests.iter().filter_map(|r| r["createdAt"].as_str()).collect();
    assert!(asked[0] > asked[1], "{asked:?}");
    let decided: Vec<&str> = requests.iter().filter_map(|r| r["decidedAt"].as_str()).collect();
    assert!(decided[0] < decided[1], "the decisions came the other way round: {decided:?}");
}
