//! The passkey signs the action, in the browser (issue 19, item 1): Chromium's virtual
//! authenticator is asked to sign exactly the challenge derived from the approve page's request,
//! and the page refuses to ask it at all when the server's content is not the request shown.

use crate::harness::browser::{Tab, chrome, new_key_in_page, sign_up};
use crate::harness::evidence::derived_challenge;
use crate::harness::{Auth, TestApp};
use clawgate::config::Backend;
use serde_json::json;

/// Records, in the page, each approval ceremony the server starts and each challenge the
/// authenticator is asked to sign (as base64url).
const RECORD: &str = "(() => {
  window.__starts = []; window.__challenges = [];
  const fetch0 = window.fetch;
  window.fetch = async (...args) => {
    const answer = await fetch0(...args);
    if (String(args[0]).includes('/passkey/authenticate/start')) answer.clone().json().then((j) => window.__starts.push(j));
    return answer;
  };
  const get0 = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = (options) => {
    const bytes = new Uint8Array(options.publicKey.challenge);
    window.__challenges.push(btoa(String.fromCharCode(...bytes)).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, ''));
    return get0(options);
  };
  return true;
})()";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_approve_page_signs_the_challenge_derived_from_its_request() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    let key = new_key_in_page(&tab, "deploy bot").await;
    let asked = app
        .post(
            "/api/v1/approval/request",
            &Auth::Bearer(key.clone()),
            json!({ "action": "deploy api@v2 to production", "agentId": "release-bot", "context": { "commit": "4f2a9c1" } }),
        )
        .await
        .expect(201);
    let id = asked.body["requestId"].as_str().expect("id").to_owned();
    tab.navigate(&format!("{}/approve/{id}", app.origin)).await;
    tab.wait("document.querySelector('#approve')", "the approve button").await;
    assert_eq!(tab.eval(RECORD).await, json!(true));
    tab.click("#approve").await;
    tab.wait("document.querySelector('.badge.APPROVED')", "the approved badge").await;

    let starts = tab.eval("window.__starts").await;
    let challenges = tab.eval("window.__challenges").await;
    let start = &starts[0];
    let signing = &start["signing"];
    assert_eq!(signing["content"]["requestId"], id.as_str());
    assert_eq!(signing["content"]["action"], "deploy api@v2 to production");
    assert_eq!(signing["content"]["context"], json!({ "commit": "4f2a9c1" }));
    assert_eq!(
        challenges,
        json!([derived_challenge(signing)]),
        "the authenticator signed the derived challenge, once"
    );
    assert_eq!(app.status(&key, &id).await.expect(200).body["status"], "APPROVED");

    // A context only a faithful RFC 8785 reads alike in the browser and the server (an integer
    // beyond 2^53, a fraction, keys outside ASCII): the page's challenge still matches.
    let tricky = app
        .post(
            "/api/v1/approval/request",
            &Auth::Bearer(key.clone()),
            json!({ "action": "export the ledger", "context": { "n": 12345678901234567890u64, "ratio": 0.1, "é": 1e21, "\u{1f600}": "x", "\u{fb33}": "y" } }),
        )
        .await
        .expect(201);
    let tricky_id = tricky.body["requestId"].as_str().expect("id").to_owned();
    tab.navigate(&format!("{}/approve/{tricky_id}", app.origin)).await;
    tab.wait("document.querySelector('#approve')", "the approve button").await;
    tab.click("#approve").await;
    tab.wait("document.querySelector('.badge.APPROVED')", "the approved badge").await;
    assert_eq!(app.status(&key, &tricky_id).await.expect(200).body["status"], "APPROVED");

    // Content the page did not show (another action) is refused before the passkey is asked.
    let second = app.ask(&key, "rotate the database password").await;
    tab.navigate(&format!("{}/approve/{}", app.origin, second.id)).await;
    tab.wait("document.querySelector('#approve')", "the approve button").await;
    assert_eq!(tab.eval(RECORD).await, json!(true));
    tab.eval(
        "(() => { const f = window.fetch; window.fetch = async (...a) => { const r = await f(...a); \
         if (!String(a[0]).includes('/passkey/authenticate/start')) return r; const j = await r.json(); \
         j.signing.content.action = 'something else'; return new Response(JSON.stringify(j), { status: 200, headers: { 'content-type': 'application/json' } }); }; return true; })()",
    )
    .await;
    tab.click("#approve").await;
    tab.wait(
        "document.querySelector('.error')?.textContent.includes('something other than this request')",
        "the refusal",
    )
    .await;
    assert_eq!(tab.eval("window.__challenges.length").await, json!(0), "the passkey was never asked");
    assert_eq!(app.status(&key, &second.id).await.expect(200).body["status"], "PENDING");
}
