//! Agents waiting without polling: `?wait=N` answers the moment a request is decided, and the
//! per-request event stream pushes each change. The measured delay from decision to answer is
//! printed (run with `--nocapture` to see it).

use crate::harness::waiting::until_waiting;
use crate::harness::{Auth, Resp, TestApp, on_both_databases};
use futures::StreamExt;
use serde_json::Value;
use std::time::{Duration, Instant};

on_both_databases!(
    a_waiting_agent_is_woken_by_approval,
    a_waiting_agent_is_woken_by_denial,
    a_waiting_agent_is_woken_by_expiry,
    a_wait_that_runs_out_answers_pending,
    the_event_stream_follows_one_request_to_its_end,
);

/// Starts `GET status?wait=30` in the background; resolves to the answer and when it arrived.
fn wait_in_background(app: &TestApp, key: &str, id: &str) -> tokio::task::JoinHandle<(Resp, Instant)> {
    let req = app.http.get(app.url(&format!("/api/v1/approval/status/{id}?wait=30"))).bearer_auth(key);
    tokio::spawn(async move {
        let r = crate::harness::into_resp(req.send().await.expect("sent")).await;
        (r, Instant::now())
    })
}

async fn a_waiting_agent_is_woken_by_approval(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "restart the database").await;
    let waiting = wait_in_background(&app, &key, &asked.id);
    until_waiting(&app, 1).await;
    let start = app.approval_ceremony(&asked.id).await.expect(200);
    let signed = ada.key.get(&start.body["publicKey"]).await;
    app.send_approval(&asked.id, &start.body["ceremonyId"], &signed).await.expect(200);
    let decided = Instant::now();
    let (answer, answered) = waiting.await.expect("waiter");
    let answer = answer.expect(200);
    assert_eq!(answer.body["status"], "APPROVED");
    assert!(answer.body["token"].is_string(), "the token comes with the answer");
    let delay = answered.saturating_duration_since(decided);
    eprintln!("{:?}: approval reached the waiting agent {delay:?} after the approve response", app.backend());
    assert!(delay < Duration::from_secs(25), "woken by the decision, not by the 30 s wait running out");
    assert_eq!(app.state.events.waited_on(), 0, "nothing is left behind");
}

async fn a_waiting_agent_is_woken_by_denial(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "email all customers").await;
    let waiting = wait_in_background(&app, &key, &asked.id);
    until_waiting(&app, 1).await;
    app.deny(&ada, &asked.id).await.expect(200);
    let decided = Instant::now();
    let (answer, answered) = waiting.await.expect("waiter");
    assert_eq!(answer.expect(200).body["status"], "DENIED");
    let delay = answered.saturating_duration_since(decided);
    eprintln!("{:?}: denial reached the waiting agent {delay:?} after the deny response", app.backend());
    assert!(delay < Duration::from_secs(25));
}

async fn a_waiting_agent_is_woken_by_expiry(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "rotate the TLS key").await;
    let waiting = wait_in_background(&app, &key, &asked.id);
    until_waiting(&app, 1).await;
    // The request's time runs out (on the server's clock) and upkeep records it.
    app.clock.advance_ms(300_000);
    let expired = app.state.expire_lapsed(None).await.expect("upkeep");
    assert_eq!(expired, 1);
    let swept = Instant::now();
    let (answer, answered) = waiting.await.expect("waiter");
    let answer = answer.expect(200);
    assert_eq!(answer.body["status"], "EXPIRED");
    assert!(answer.body.get("token").is_none());
    let delay = answered.saturating_duration_since(swept);
    eprintln!("{:?}: expiry reached the waiting agent {delay:?} after it was recorded", app.backend());
    assert!(delay < Duration::from_secs(25));
}

async fn a_wait_that_runs_out_answers_pending(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "nobody answers").await;
    let started = Instant::now();
    let r =
        app.get(&format!("/api/v1/approval/status/{}?wait=1", asked.id), &Auth::Bearer(key.clone())).await;
    assert_eq!(r.expect(200).body["status"], "PENDING");
    assert!(started.elapsed() >= Duration::from_millis(900), "it did wait");
    // Decided already: no waiting at all. Bad values: refused in words.
    app.deny(&ada, &asked.id).await.expect(200);
    let r =
        app.get(&format!("/api/v1/approval/status/{}?wait=60", asked.id), &Auth::Bearer(key.clone())).await;
    assert_eq!(r.expect(200).body["status"], "DENIED");
    let bad =
        app.get(&format!("/api/v1/approval/status/{}?wait=soon", asked.id), &Auth::Bearer(key.clone())).await;
    bad.expect_error(400, "invalid_request");
    // A foreign request cannot be waited on either.
    let other = app.person("bob@example.com").await;
    let other_key = app.api_key(&other).await;
    let r = app.get(&format!("/api/v1/approval/status/{}?wait=5", asked.id), &Auth::Bearer(other_key)).await;
    r.expect_error(404, "not_found");
}

async fn the_event_stream_follows_one_request_to_its_end(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "scale down the cluster").await;
    let response = app
        .http
        .get(app.url(&format!("/api/v1/approval/status/{}/events", asked.id)))
        .header("x-api-key", &key)
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().is_ok_and(|t| t.starts_with("text/event-stream")));
    let mut events = sse_events(response);
    let first = events.next().await.expect("a first event");
    assert_eq!(first["status"], "PENDING");
    assert_eq!(first["bindingCode"], asked.binding_code.as_str());

    let decided = app.approve(&asked.id, &mut ada.key).await.expect(200);
    let sent = Instant::now();
    let last = events.next().await.expect("the approval");
    eprintln!(
        "{:?}: the stream carried the approval {:?} after the approve response",
        app.backend(),
        sent.elapsed()
    );
    assert_eq!(last["status"], "APPROVED");
    assert!(last["token"].is_string());
    assert_eq!(last["decidedAt"], decided.body["decidedAt"]);
    assert!(events.next().await.is_none(), "the stream ends after the final status");

    // Unknown requests are refused before any stream starts.
    let r = app.get("/api/v1/approval/status/req_0000000000000000000000/events", &Auth::Bearer(key)).await;
    r.expect_error(404, "not_found");
}

/// The `data:` of each event of a Server-Sent Events response, parsed.
fn sse_events(response: reqwest::Response) -> impl futures::Stream<Item = Value> + Unpin {
    crate::harness::waiting::sse_events(response).map(|(_, data)| data)
}

/// Hundreds of agents waiting at once: each is one parked request, and they all wake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_waiting_agents_park_and_all_wake() {
    let app = TestApp::spawn(clawgate::config::Backend::Sqlite).await.expect("server");
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "one request, many watchers").await;
    let watchers: Vec<_> = (0..200).map(|_| wait_in_background(&app, &key, &asked.id)).collect();
    // Two hundred waits on one request share one entry.
    let started = Instant::now();
    while app.state.events.waited_on() != 1 {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    app.deny(&ada, &asked.id).await.expect(200);
    for w in watchers {
        let (answer, _) = w.await.expect("watcher");
        assert_eq!(answer.expect(200).body["status"], "DENIED");
    }
    assert_eq!(app.state.events.waited_on(), 0);
}

/// Stopping the server ends long waits at once: a graceful stop does not wait out a `?wait=60`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_ends_waits_and_streams() {
    let app = TestApp::spawn(clawgate::config::Backend::Sqlite).await.expect("server");
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "still pending at shutdown").await;
    let waiting = wait_in_background(&app, &key, &asked.id);
    // Parked before the stream opens: the stream joins the same entry, so counting after it
    // would not prove the long-poll had arrived.
    until_waiting(&app, 1).await;
    let stream = app
        .http
        .get(app.url(&format!("/api/v1/approval/status/{}/events", asked.id)))
        .bearer_auth(&key)
        .send()
        .await
        .expect("stream");
    let mut events = sse_events(stream);
    assert_eq!(events.next().await.expect("first")["status"], "PENDING");
    let started = Instant::now();
    let _db = app.stop().await;
    assert!(started.elapsed() < Duration::from_secs(20), "the stop did not wait for the 60 s wait");
    let (answer, _) = waiting.await.expect("waiter");
    assert_eq!(answer.expect(200).body["status"], "PENDING");
    assert!(events.next().await.is_none(), "the stream ended");
}
