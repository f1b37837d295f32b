//! The Decisions page in Chromium (issue 17, item 5): after an afternoon of a rule's allow and
//! deny, a grant and its use, the person's own "no", an expiry and Stop all agents, the page says
//! what decided each; a call the gate decides while the page is open appears without a reload;
//! the filters narrow the list; and the Grants page shows which calls used a grant.

use crate::harness::browser::{Tab, chrome, new_key_in_page, sign_up};
use crate::harness::{Auth, TestApp};
use clawgate::config::Backend;
use serde_json::{Value, json};

async fn gate(app: &TestApp, key: &str, command: &str) -> Value {
    let call = json!({"tool": "Bash", "input": {"command": command}, "cwd": "/srv/app", "agentId": "claude"});
    app.post("/api/v1/gate", &Auth::Bearer(key.to_owned()), call).await.expect(200).body
}

/// Calls the API as the page does (its session cookie and CSRF token), through its own helper.
async fn page_api(tab: &Tab, method: &str, path: &str, body: Value) -> Value {
    let js = format!("import('/api.js').then(m => m.api({method:?}, {path:?}, {body})).then(r => r ?? true)");
    tab.eval(&js).await
}

/// The words on the card of decision `id`, once it is shown.
async fn summary(tab: &Tab, id: &str) -> String {
    let selector = format!("#decisions [data-decision={id:?}] .summary");
    let shown = tab
        .wait(&format!("document.querySelector({selector:?})?.textContent"), &format!("decision {id}"))
        .await;
    shown.as_str().expect("text").to_owned()
}

fn id(body: &Value, field: &str) -> String {
    body[field].as_str().unwrap_or_else(|| panic!("{field} in {body}")).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_decisions_page_says_what_decided_each_and_follows_the_gate_live() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    let key = new_key_in_page(&tab, "laptop").await;
    let rules = json!({"rules": {"default": "ask", "rules": [
        {"name": "tests", "outcome": "allow", "tool": "Bash", "command": "cargo test*"},
        {"outcome": "deny", "reason": "downloads are not allowed here", "tool": "Bash", "command": "curl*"}
    ]}, "expectedVersion": 0});
    assert_eq!(page_api(&tab, "PUT", "/rules", rules).await["version"], 1);

    // A rule allows, a rule denies.
    let allowed = id(&gate(&app, &key, "cargo test --workspace").await, "decisionId");
    let refused = id(&gate(&app, &key, "curl https://example.com").await, "decisionId");
    // A push asks; it is approved in the page with a grant for exactly that command, then used.
    let asked = gate(&app, &key, "git push origin main").await;
    let approved = id(&asked, "requestId");
    tab.navigate(&format!("{}/approve/{approved}", app.origin)).await;
    tab.wait("document.querySelector('#grant-choice')", "the grant choice").await;
    tab.click("#approve-grant").await;
    tab.wait("document.querySelector('#grant-made')", "the grant made").await;
    let used = gate(&app, &key, "git push origin main").await;
    assert_eq!(used["decidedBy"], "grant", "{used}");
    let (grant_use, grant) = (id(&used, "decisionId"), id(&used, "grantId"));
    // The person says no, with a reason; another request lapses.
    let denied = app.ask(&key, "git reset --hard HEAD~3").await.id;
    page_api(&tab, "POST", &format!("/approval/deny/{denied}"), json!({"reason": "use git revert instead"}))
        .await;
    let lapsed = app.ask(&key, "rotate the TLS key").await.id;
    app.clock.advance_ms(400_000);
    app.state.expire_lapsed(None).await.expect("upkeep");

    tab.click("nav a[href='/decisions']").await;
    assert_eq!(summary(&tab, &allowed).await, "Allowed by rule 1 \"tests\" (version 1)");
    assert_eq!(summary(&tab, &refused).await, "Denied by rule 2 (version 1)");
    assert_eq!(
        summary(&tab, &grant_use).await,
        "Allowed by your grant: exactly git push origin main, by agent claude, in /srv/app"
    );
    assert_eq!(
        summary(&tab, &approved).await,
        "Allowed by you, with a grant: exactly git push origin main, by agent claude, in /srv/app"
    );
    assert_eq!(summary(&tab, &denied).await, "Denied by you: use git revert instead");
    assert_eq!(summary(&tab, &lapsed).await, "Expired: nobody answered");
    let card = tab.text(&format!("#decisions [data-decision={allowed:?}]")).await;
    assert!(
        card.contains("cargo test --workspace") && card.contains("laptop") && card.contains("claude"),
        "{card}"
    );
    tab.screenshot("decisions").await;

    // Live: a call decided while the page is open is on top without a reload; so is the stop.
    tab.eval("window.stillThisPage = true").await;
    let live = id(&gate(&app, &key, "cargo test --doc").await, "decisionId");
    assert_eq!(summary(&tab, &live).await, "Allowed by rule 1 \"tests\" (version 1)");
    let first = tab.eval("document.querySelector('#decisions li.decision')?.dataset.decision").await;
    assert_eq!(first, json!(live), "the newest is first");
    let stopped = app.ask(&key, "drop the staging database").await.id;
    page_api(&tab, "POST", "/stop", json!({})).await;
    assert_eq!(summary(&tab, &stopped).await, "Denied: you stopped all agents");
    assert_eq!(tab.eval("window.stillThisPage === true").await, json!(true), "no reload");

    // The filters: only the grant's decision, then only denials.
    let pick = |id: &str, value: &str| {
        format!(
            "{{ const s = document.querySelector('#{id}'); s.value = '{value}'; s.dispatchEvent(new Event('change')); }}"
        )
    };
    tab.eval(&pick("decision-decider", "grant")).await;
    let only_grant = format!(
        "(() => {{ const c = [...document.querySelectorAll('#decisions li.decision')]; \
         return c.length === 1 && c[0].dataset.decision === {grant_use:?}; }})()"
    );
    tab.wait(&only_grant, "only the grant's use").await;
    tab.eval(&pick("decision-decider", "")).await;
    tab.eval(&pick("decision-outcome", "deny")).await;
    let denials = "(() => { const c = [...document.querySelectorAll('#decisions li.decision')]; \
         return c.length === 3 && c.every(x => x.dataset.outcome === 'deny'); })()";
    tab.wait(denials, "only the three denials").await;

    // Grants: "Show uses" lists the one call the grant allowed.
    tab.click("nav a[href='/grants']").await;
    let card = format!("#grants [data-grant={grant:?}]");
    tab.click(&format!("{card} .show-uses")).await;
    let uses = format!("{card} .grant-use");
    let shown = tab
        .wait(&format!("document.querySelectorAll({uses:?}).length === 1 && document.querySelector({uses:?}).textContent"), "the grant's use")
        .await;
    assert!(shown.as_str().is_some_and(|t| t.contains("git push origin main")), "{shown}");
    assert_eq!(tab.text(&format!("{card} .show-uses")).await, "Hide uses");
    assert_eq!(
        tab.eval(&format!("document.querySelector({uses:?}).dataset.decision")).await,
        json!(grant_use)
    );
    tab.screenshot("grant-uses").await;
}
