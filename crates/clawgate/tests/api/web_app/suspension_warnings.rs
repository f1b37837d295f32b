//! Issue 17 (item 8) in the page: the approve page says, before the person denies, that this
//! denial will suspend the agent's key, and the API keys page gives each suspension its real
//! cause (repeated denials, or Stop all agents).

use crate::harness::browser::{Tab, chrome, new_key_in_page, sign_up};
use crate::harness::{Auth, TestApp};
use clawgate::config::Backend;
use serde_json::json;

/// The person's own API call, made by the page's helper (with its session and CSRF token).
async fn deny_in_page(tab: &Tab, id: &str) {
    let js = format!(
        "import('/api.js').then(m => m.api('POST', '/approval/deny/{id}', {{ reason: 'no' }})).then(r => r.status)"
    );
    assert_eq!(tab.eval(&js).await, json!("DENIED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_page_warns_before_the_denial_that_suspends_a_key_and_names_each_suspensions_cause() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    let key = new_key_in_page(&tab, "claude").await;

    // The first denial warns of nothing; the second is made elsewhere.
    let first = app.ask(&key, "suspicious 0").await;
    tab.navigate(&format!("{}/approve/{}", app.origin, first.id)).await;
    tab.wait("document.querySelector('#deny')", "the deny button").await;
    assert_eq!(tab.text("#deny").await, "Deny");
    assert_eq!(tab.eval("document.querySelector('#deny-suspends') === null").await, json!(true));
    tab.click("#deny").await;
    tab.wait("document.querySelector('.badge.DENIED')", "the first denial").await;
    deny_in_page(&tab, &app.ask(&key, "suspicious 1").await.id).await;

    // The third would suspend the key: the page says so before the person denies.
    let third = app.ask(&key, "suspicious 2").await;
    tab.navigate(&format!("{}/approve/{}", app.origin, third.id)).await;
    let warning = tab.wait("document.querySelector('#deny-suspends')?.textContent", "the warning").await;
    assert!(warning.as_str().is_some_and(|w| w.contains("suspends the agent’s API key")), "{warning}");
    assert_eq!(tab.text("#deny").await, "Deny and suspend the key");
    tab.screenshot("approval-deny-suspends").await;
    tab.click("#deny").await;
    tab.wait("document.querySelector('.badge.DENIED')", "the third denial").await;
    let refused =
        app.post("/api/v1/approval/request", &Auth::Bearer(key.clone()), json!({ "action": "again" })).await;
    refused.expect_error(403, "api_key_suspended");

    // API keys: suspended for repeated denials; resumed there.
    tab.click("nav a[href='/keys']").await;
    let cause = "document.querySelector('#keys [data-suspended-because]')";
    let said = tab.wait(&format!("{cause}?.dataset.suspendedBecause"), "the suspension's cause").await;
    assert_eq!(said, json!("denials"));
    assert!(tab.text("#keys [data-suspended-because]").await.contains("denied again and again"));
    tab.click("#keys .resume").await;
    tab.wait(&format!("{cause} === null"), "the key resumed").await;

    // Stop all agents: the key is suspended again, and the page says it was the stop.
    tab.click("#stop-all").await;
    tab.click("#stop-confirm").await;
    tab.wait("document.querySelector('#stop-counts')", "what the stop did").await;
    tab.click("#stop-to-keys").await;
    let said = tab.wait(&format!("{cause}?.dataset.suspendedBecause"), "the suspension's cause").await;
    assert_eq!(said, json!("stop"));
    let text = tab.text("#keys [data-suspended-because]").await;
    assert!(
        text.contains("you stopped all agents (Stop all agents)") && !text.contains("denied again"),
        "{text}"
    );
    tab.screenshot("keys-stopped").await;
}
