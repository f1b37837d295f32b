//! Issue 17 (items 3, 4, 8): agents hear what the person said. A denial's reason reaches the
//! agent wherever it learns the decision (status, `?wait=`, the event stream, the gate), marked
//! and bounded; a stop says it was a stop; a suspended key's refusal and the owner's key list name
//! the cause; the denial that will suspend a key is announced before the person makes it; and the
//! request's approve page URL is handed to the agent with its binding code.

use crate::harness::waiting::until_waiting;
use crate::harness::waiting::{Events, open_stream};
use crate::harness::{Auth, Person, Resp, TestApp, on_both_databases};
use clawgate::domain::text::is_marked;
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::timeout;

on_both_databases!(
    a_persons_reason_reaches_the_agent_in_the_status_the_wait_the_stream_and_the_gate,
    a_reason_with_control_and_invisible_characters_reaches_the_agent_marked_and_bounded,
    a_stop_tells_every_waiting_agent_it_was_a_stop_and_the_keys_say_why,
    the_denial_that_will_suspend_a_key_is_announced_before_and_named_after,
);

const REASON: &str = "use git revert instead";
const STOPPED: &str = "stopped by the person (Stop all agents)";
/// Far below the 60 s waits: an answer within this came from the decision, not the clock.
const PROMPT: Duration = Duration::from_secs(15);
/// A command the built-in rules ask about.
const FORCE_PUSH: &str = "git push --force origin main";

fn agent(key: &str) -> Auth {
    Auth::Bearer(key.to_owned())
}

/// `GET path` as the agent, in the background.
fn in_background(app: &TestApp, key: &str, path: &str) -> tokio::task::JoinHandle<Resp> {
    let req = app.http.get(app.url(path)).bearer_auth(key);
    tokio::spawn(async move { crate::harness::into_resp(req.send().await.expect("sent")).await })
}

/// The force push brought to the gate with `?wait=60`, in the background.
fn gate_waiting(app: &TestApp, key: &str) -> tokio::task::JoinHandle<Resp> {
    let call = json!({ "tool": "Bash", "input": { "command": FORCE_PUSH }, "cwd": "/srv/app" });
    let req = app.http.post(app.url("/api/v1/gate?wait=60")).bearer_auth(key).json(&call);
    tokio::spawn(async move { crate::harness::into_resp(req.send().await.expect("sent")).await })
}

async fn answered(task: tokio::task::JoinHandle<Resp>) -> Resp {
    timeout(PROMPT, task).await.expect("answered at once, not after the wait").expect("task").expect(200)
}

/// The stream's next `status` event, which ends it.
async fn last_status(events: &mut Events) -> Value {
    let (event, data) = timeout(PROMPT, events.next()).await.expect("an event at once").expect("an event");
    assert_eq!(event, "status", "{data}");
    assert!(timeout(PROMPT, events.next()).await.expect("the stream ends").is_none(), "the stream ends");
    data
}

async fn deny(app: &TestApp, who: &Person, id: &str, reason: &str) -> Resp {
    app.post(&format!("/api/v1/approval/deny/{id}"), &who.auth(), json!({ "reason": reason }))
        .await
        .expect(200)
}

/// What the person's page reads for one request.
async fn request_view(app: &TestApp, who: &Person, id: &str) -> Value {
    app.get(&format!("/api/v1/approval/{id}"), &who.auth()).await.expect(200).body
}

/// The person's view of the API key with this secret (found by its prefix).
async fn key_view(app: &TestApp, who: &Person, key: &str) -> Value {
    let listed = app.get("/api/v1/auth/api-keys", &who.auth()).await.expect(200);
    let keys = listed.body["apiKeys"].as_array().expect("apiKeys").clone();
    keys.into_iter().find(|k| k["prefix"].as_str().is_some_and(|p| key.starts_with(p))).expect("the key")
}

/// A new request with `key` is refused as suspended; the refusal's words.
async fn refused_as_suspended(app: &TestApp, key: &str) -> String {
    let r = app.post("/api/v1/approval/request", &agent(key), json!({ "action": "again" })).await;
    let r = r.expect_error(403, "api_key_suspended");
    r.body["error"]["message"].as_str().expect("a message").to_owned()
}

async fn a_persons_reason_reaches_the_agent_in_the_status_the_wait_the_stream_and_the_gate(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    // One key per way of waiting: three denials of one key would suspend it.
    let (polling, streaming, gating) =
        (app.api_key(&ada).await, app.api_key(&ada).await, app.api_key(&ada).await);
    let created =
        app.post("/api/v1/approval/request", &agent(&polling), json!({ "action": FORCE_PUSH })).await;
    let created = created.expect(201);
    let polled = created.body["requestId"].as_str().expect("requestId").to_owned();
    let url = format!("{}/approve/{polled}", app.origin);
    assert_eq!(created.body["approveUrl"], url, "the approve page is named at once: {}", created.text);
    let pending = app.status(&polling, &polled).await.expect(200);
    assert_eq!(
        (&pending.body["approveUrl"], &pending.body["bindingCode"]),
        (&json!(url), &created.body["bindingCode"])
    );
    assert!(pending.body.get("denyReason").is_none(), "{}", pending.text);

    let streamed = app.ask(&streaming, FORCE_PUSH).await;
    let mut events = open_stream(&app, &streaming, &streamed.id).await;
    let asked = app
        .post(
            "/api/v1/gate",
            &agent(&gating),
            json!({ "tool": "Bash", "input": { "command": "git push --force" } }),
        )
        .await
        .expect(200);
    let gated = asked.body["requestId"].as_str().expect("requestId").to_owned();
    assert_eq!(asked.body["approveUrl"], format!("{}/approve/{gated}", app.origin), "{}", asked.text);
    let poll = in_background(&app, &polling, &format!("/api/v1/approval/status/{polled}?wait=60"));
    let gate = gate_waiting(&app, &gating);
    until_waiting(&app, 3).await;

    let gate_request = app.get("/api/v1/approval/pending", &ada.auth()).await.expect(200).body["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| {
            r["action"] == FORCE_PUSH
                && r["requestId"] != json!(polled)
                && r["requestId"] != json!(streamed.id)
        })
        .expect("the gate's waiting request")["requestId"]
        .as_str()
        .expect("id")
        .to_owned();
    for id in [&polled, &streamed.id, &gate_request, &gated] {
        deny(&app, &ada, id, REASON).await;
    }

    let waited = answered(poll).await;
    assert_eq!((&waited.body["status"], &waited.body["denyReason"]), (&json!("DENIED"), &json!(REASON)));
    assert!(
        waited.body.get("approveUrl").is_none() && waited.body.get("decidedBy").is_none(),
        "{}",
        waited.text
    );
    let plain = app.status(&polling, &polled).await.expect(200);
    assert_eq!(plain.body["denyReason"], REASON, "{}", plain.text);
    let seen = last_status(&mut events).await;
    assert_eq!((&seen["status"], &seen["denyReason"]), (&json!("DENIED"), &json!(REASON)), "{seen}");
    let gated = answered(gate).await;
    assert_eq!(
        (&gated.body["decision"], &gated.body["decidedBy"], &gated.body["reason"]),
        (&json!("deny"), &json!("person"), &json!(REASON)),
        "{}",
        gated.text
    );
}

async fn a_reason_with_control_and_invisible_characters_reaches_the_agent_marked_and_bounded(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "rm -rf ./build").await;
    let poll = in_background(&app, &key, &format!("/api/v1/approval/status/{}?wait=60", asked.id));
    until_waiting(&app, 1).await;
    // A terminal escape, a direction override and 477 tag characters: 500 characters, the most a
    // person may write; marked, far more than an agent is given.
    let tags: String = std::iter::repeat_n('\u{E0041}', 477).collect();
    let reason = format!("\u{1b}[2Jok\u{7}\r\u{202E}fine{}{tags}", "!".repeat(10));
    assert_eq!(reason.chars().count(), 500);
    deny(&app, &ada, &asked.id, &reason).await;

    let waited = answered(poll).await;
    let plain = app.status(&key, &asked.id).await.expect(200);
    for said in [&waited.body["denyReason"], &plain.body["denyReason"]] {
        let said = said.as_str().expect("a reason");
        assert!(said.starts_with("[U+001B][2Jok[U+0007][U+000D][U+202E]fine!!!"), "{said}");
        assert!(!said.chars().any(is_marked), "nothing invisible or controlling is handed over: {said:?}");
        assert_eq!(said.chars().count(), 1000, "bounded: {said}");
        assert!(said.ends_with("[U+E0041]…") || said.ends_with('…'), "cut, and says so: {said}");
    }
    // The person's own view keeps what they wrote (the page marks it as it shows it).
    assert_eq!(request_view(&app, &ada, &asked.id).await["denyReason"], reason);
}

async fn a_stop_tells_every_waiting_agent_it_was_a_stop_and_the_keys_say_why(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let polled = app.ask(&key, "deploy to production").await;
    let streamed = app.ask(&key, "drop the staging database").await;
    let poll = in_background(&app, &key, &format!("/api/v1/approval/status/{}?wait=60", polled.id));
    let mut events = open_stream(&app, &key, &streamed.id).await;
    let gate = gate_waiting(&app, &key);
    until_waiting(&app, 3).await;
    app.post("/api/v1/stop", &ada.auth(), json!({})).await.expect(200);

    let waited = answered(poll).await;
    let said = (&waited.body["status"], &waited.body["decidedBy"], &waited.body["denyReason"]);
    assert_eq!(said, (&json!("DENIED"), &json!("stop"), &json!(STOPPED)), "{}", waited.text);
    let seen = last_status(&mut events).await;
    assert_eq!((&seen["decidedBy"], &seen["denyReason"]), (&json!("stop"), &json!(STOPPED)), "{seen}");
    let gated = answered(gate).await;
    let said = (&gated.body["decision"], &gated.body["decidedBy"], &gated.body["reason"]);
    assert_eq!(said, (&json!("deny"), &json!("stop"), &json!(STOPPED)), "{}", gated.text);

    let refusal = refused_as_suspended(&app, &key).await;
    assert!(refusal.contains("stopped every agent (Stop all agents)"), "the cause is named: {refusal}");
    assert!(!refusal.contains("denied"), "and no other: {refusal}");
    let shown = key_view(&app, &ada, &key).await;
    assert_eq!(shown["suspendedBecause"], "stop", "{shown}");
    let id = shown["id"].as_str().expect("id");
    let resumed = app.post(&format!("/api/v1/auth/api-keys/{id}/resume"), &ada.auth(), json!({})).await;
    assert!(resumed.expect(200).body.get("suspendedBecause").is_none(), "a resumed key has no cause");
    let stored = app.scalar_i64("SELECT COUNT(*) FROM api_keys WHERE suspended_because IS NOT NULL").await;
    assert_eq!(stored, 0, "the cause is cleared with the suspension");
}

async fn the_denial_that_will_suspend_a_key_is_announced_before_and_named_after(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let (key, other) = (app.api_key(&ada).await, app.api_key(&ada).await);
    // Three denials within ten minutes suspend a key (SUSPEND_AFTER_DENIALS, default 3).
    for i in 0..2 {
        let asked = app.ask(&key, &format!("suspicious {i}")).await;
        let view = request_view(&app, &ada, &asked.id).await;
        assert!(view.get("denyingSuspendsKey").is_none(), "denial {} would not suspend: {view}", i + 1);
        let denied = deny(&app, &ada, &asked.id, "no").await;
        assert!(denied.body.get("keySuspended").is_none(), "{}", denied.text);
    }
    let third = app.ask(&key, "suspicious 2").await;
    let elsewhere = app.ask(&other, "fine").await;
    assert_eq!(request_view(&app, &ada, &third.id).await["denyingSuspendsKey"], true, "announced before");
    assert!(
        request_view(&app, &ada, &elsewhere.id).await.get("denyingSuspendsKey").is_none(),
        "only that key's"
    );
    // Lists are not asked (it is the one request's page that warns).
    let pending = app.get("/api/v1/approval/pending", &ada.auth()).await.expect(200);
    assert!(!pending.text.contains("denyingSuspendsKey"), "{}", pending.text);

    let denied = deny(&app, &ada, &third.id, "no").await;
    assert_eq!(
        denied.body["keySuspended"], true,
        "the answer says the key is now suspended: {}",
        denied.text
    );
    let refusal = refused_as_suspended(&app, &key).await;
    assert!(refusal.contains("denied its requests again and again"), "the cause is named: {refusal}");
    assert!(!refusal.contains("Stop all agents"), "and no other: {refusal}");
    assert_eq!(key_view(&app, &ada, &key).await["suspendedBecause"], "denials");
    assert!(key_view(&app, &ada, &other).await.get("suspendedBecause").is_none());
    // A decided request warns of nothing.
    assert!(request_view(&app, &ada, &third.id).await.get("denyingSuspendsKey").is_none());

    // Resumed within the window, the next denial would suspend it again: the page says so.
    let id = key_view(&app, &ada, &key).await["id"].as_str().expect("id").to_owned();
    app.post(&format!("/api/v1/auth/api-keys/{id}/resume"), &ada.auth(), json!({})).await.expect(200);
    let again = app.ask(&key, "after the owner looked").await;
    assert_eq!(request_view(&app, &ada, &again.id).await["denyingSuspendsKey"], true);
    // Ten minutes later the old denials no longer count.
    app.clock.advance_ms(10 * 60 * 1000 + 1000);
    let later = app.ask(&key, "much later").await;
    assert!(request_view(&app, &ada, &later.id).await.get("denyingSuspendsKey").is_none());
}
