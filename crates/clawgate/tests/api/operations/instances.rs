//! Acceptance list H (`shared/docs/security.md`), several instances on one PostgreSQL (`h38_…`): a
//! ceremony started on one finishes on another, decisions reach agents waiting on any instance, and
//! a token consumed on one is spent on all. Items 38 (clock skew), 39 (PostgreSQL crash) are in
//! `faults/`; 40 (a 30-minute soak) is a benchmark, not a CI test (see docs/src/performance.md).

use crate::harness::TestApp;
use clawgate::config::Backend;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h38_two_instances_act_as_one() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else { return };
    let b = a.second_instance().await;
    let mut ada = a.person("ada@example.com").await;
    let key = a.api_key(&ada).await;

    // Asked on A; the agent waits on A; the ceremony starts on A and finishes on B.
    let asked = a.ask(&key, "migrate the database").await;
    let waiting = {
        let req =
            a.http.get(a.url(&format!("/api/v1/approval/status/{}?wait=30", asked.id))).bearer_auth(&key);
        tokio::spawn(async move {
            let r = crate::harness::into_resp(req.send().await.expect("sent")).await;
            (r, Instant::now())
        })
    };
    crate::harness::waiting::until_waiting(&a, 1).await;
    let start = a.approval_ceremony(&asked.id).await.expect(200);
    let signed = ada.key.get(&start.body["publicKey"]).await;
    b.send_approval(&asked.id, &start.body["ceremonyId"], &signed).await.expect(200);
    let decided = Instant::now();
    let (answer, answered) = waiting.await.expect("waiter");
    let answer = answer.expect(200);
    assert_eq!(answer.body["status"], "APPROVED", "A's waiting agent learns of B's decision");
    let delay = answered.saturating_duration_since(decided);
    eprintln!("h38: a decision on instance B reached an agent waiting on instance A after {delay:?}");
    assert!(delay < Duration::from_secs(25), "woken by the decision, not by the wait running out");

    // Verified on B, consumed on B, spent on A too.
    let token = answer.body["token"].as_str().expect("token").to_owned();
    assert_eq!(b.verify(json!({ "token": token })).await.body["valid"], true);
    assert_eq!(b.verify(json!({ "token": token, "consume": true })).await.body["valid"], true);
    let replay = a.verify(json!({ "token": token, "consume": true })).await;
    assert_eq!(replay.body["reason"], "already_used");

    // A denial on A reaches a stream on B.
    let second = a.ask(&key, "drop the old replica").await;
    let waiting_on_b = {
        let req =
            b.http.get(b.url(&format!("/api/v1/approval/status/{}?wait=30", second.id))).bearer_auth(&key);
        tokio::spawn(async move { crate::harness::into_resp(req.send().await.expect("sent")).await })
    };
    crate::harness::waiting::until_waiting(&b, 1).await;
    a.deny(&ada, &second.id).await.expect(200);
    let denied = Instant::now();
    assert_eq!(waiting_on_b.await.expect("waiter").expect(200).body["status"], "DENIED");
    eprintln!(
        "h38: a denial on instance A reached an agent waiting on instance B after {:?}",
        denied.elapsed()
    );
    assert!(denied.elapsed() < Duration::from_secs(25), "woken by the denial");
}
