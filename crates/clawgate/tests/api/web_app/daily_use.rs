//! Issue 17, item 10, in the page: what a new user's afternoon found, one test each. Signing in
//! without an email says to enter it when the passkey is not discoverable; the approve page says
//! when no agent waits; Approve and Deny are in view on a phone; the pending page says when its
//! live connection is lost; History shows first the time it is sorted by; an unnamed agent has one
//! name; a revoked new key leaves the page; a passkey error goes when the person acts again;
//! blocked notifications are said, with no button that cannot work. The server's side:
//! `approvals/daily_use.rs`.

use crate::harness::browser::{Tab, chrome, sign_up};
use crate::harness::{Auth, TestApp};
use chromiumoxide::cdp::browser_protocol::browser::{
    PermissionDescriptor, PermissionSetting, SetPermissionParams,
};
use clawgate::clock::{Clock, SystemClock};
use clawgate::config::Backend;
use serde_json::{Value, json};

/// A new API key, made by the page's own API helper (with its session and CSRF token).
async fn key_in_page(tab: &Tab) -> String {
    let js = "import('/api.js').then(m => m.api('POST', '/auth/api-keys', { name: 'bot' })).then(r => r.key)";
    tab.eval(js).await.as_str().expect("a key").to_owned()
}

/// To the pending page (loaded: it must not land over the next page) and back to `path`.
async fn away_and_back(tab: &Tab, path: &str) {
    tab.click("nav a[href='/']").await;
    tab.wait("document.querySelector('#pending')", "the pending page").await;
    tab.click(&format!("nav a[href='{path}']")).await;
}

/// The request's approve page, loaded, with its buttons.
/// (Loaded anew when it is open already: the old document is marked, so it is never mistaken for
/// the new one.)
async fn open_request(tab: &Tab, app: &TestApp, id: &str) {
    tab.eval("window.__before = true").await;
    tab.navigate(&format!("{}/approve/{id}", app.origin)).await;
    let loaded = "!window.__before && document.querySelector('#approve') && document.querySelector('#deny')";
    tab.wait(loaded, "the buttons").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signing_in_without_an_email_says_to_enter_it_when_the_passkey_is_not_discoverable() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    // An authenticator that cannot keep discoverable passkeys (like many security keys).
    let tab = Tab::open_with(&chrome, &app.origin, false).await;
    sign_up(&tab, "ada@example.com").await;
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM passkeys").await, 1, "registration still works");
    tab.click("#signout").await;
    tab.wait("document.querySelector('#signin')", "the sign-in form").await;

    // No email: the authenticator has no passkey to offer, and the page says what to do.
    tab.click("#signin").await;
    let said = tab.wait("document.querySelector('form .notice.error')?.textContent", "the failure").await;
    let said = said.as_str().unwrap_or("");
    assert!(said.contains("Enter your email above and try again"), "{said}");
    assert!(said.contains("without an email"), "the cause is named: {said}");
    assert_eq!(tab.eval("document.activeElement?.id").await, json!("signin-email"));
    tab.screenshot("signin-needs-email").await;

    // With the email, the same passkey signs in; the hint is gone with the retry.
    tab.type_into("#signin-email", "ada@example.com").await;
    tab.click("#signin").await;
    tab.wait("document.querySelector('h1')?.textContent === 'Waiting for you'", "the pending page").await;
    assert_eq!(tab.eval("document.querySelectorAll('.notice.error').length").await, json!(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_approve_page_says_when_no_agent_is_waiting_for_the_answer() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    let key = key_in_page(&tab).await;
    // The page judges time by the server's Date header, which is the real clock's.
    app.clock.set_ms(SystemClock.now_ms());
    let asked = app.ask(&key, "restart the database").await;
    let notice = "document.querySelector('#no-agent-waiting')";

    // Just asked: the agent is there, nothing is said.
    open_request(&tab, &app, &asked.id).await;
    assert_eq!(tab.eval(&format!("{notice}?.hidden")).await, json!(true));

    // Half a minute without the agent reading it: the page says nobody waits, and what that means.
    app.clock.advance_ms(31_000);
    open_request(&tab, &app, &asked.id).await;
    let said = tab.wait(&format!("!{notice}?.hidden && {notice}.textContent"), "the notice").await;
    let said = said.as_str().unwrap_or("");
    assert!(
        said.starts_with("No agent is waiting for this answer now (it has not checked since it asked"),
        "{said}"
    );
    assert!(said.ends_with("approving still records it, but nothing may act on it."), "{said}");
    tab.screenshot("approval-nobody-waiting").await;

    // The agent reads its status: it waits again, and the page, looking again by itself (no
    // reload), says nothing any more.
    tab.eval("window.__same = true").await;
    app.status(&key, &asked.id).await.expect(200);
    tab.wait(&format!("{notice}?.hidden === true && window.__same === true"), "the notice to go").await;

    // Four minutes later: it last checked then.
    app.clock.advance_ms(4 * 60_000);
    open_request(&tab, &app, &asked.id).await;
    let said = tab.wait(&format!("!{notice}?.hidden && {notice}.textContent"), "the notice").await;
    assert!(
        said.as_str()
            .is_some_and(|s| s.starts_with("No agent is waiting for this answer now (it last checked ")),
        "{said}"
    );

    // Approving still works (and records it).
    tab.click("#approve").await;
    tab.wait("document.querySelector('.badge.APPROVED')", "the approval").await;
    assert_eq!(tab.eval(notice).await, Value::Null, "a decided request says nothing of waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approve_and_deny_are_in_view_on_a_phone_without_scrolling() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    let key = key_in_page(&tab).await;
    // A long action and context: the page is several screens long on a phone.
    let action = format!(
        "deploy api@v2 to production: {}",
        "kubectl rollout restart deployment/api-worker && ".repeat(30)
    );
    let context: Value = json!({ "commit": "4f2a9c1", "services": (0..40).map(|i| format!("service-{i}")).collect::<Vec<_>>() });
    let asked = app
        .post(
            "/api/v1/approval/request",
            &Auth::Bearer(key.clone()),
            json!({ "action": action, "agentId": "release-bot", "context": context }),
        )
        .await
        .expect(201);
    let id = asked.body["requestId"].as_str().expect("id").to_owned();

    tab.set_viewport(390, 844, true).await;
    open_request(&tab, &app, &id).await;
    let geometry = "(() => { const box = (s) => { const r = document.querySelector(s).getBoundingClientRect(); \
         return { top: r.top, bottom: r.bottom, left: r.left, right: r.right }; }; \
         const hit = (s) => { const r = document.querySelector(s).getBoundingClientRect(); \
         return document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2)?.closest(s) !== null; }; \
         return { w: innerWidth, h: innerHeight, y: scrollY, page: document.documentElement.scrollHeight, \
         wide: document.documentElement.scrollWidth, approve: box('#approve'), deny: box('#deny'), \
         approveHit: hit('#approve'), denyHit: hit('#deny') }; })()";
    let g = tab.eval(geometry).await;
    assert_eq!((g["w"].as_f64(), g["h"].as_f64()), (Some(390.0), Some(844.0)), "{g}");
    assert_eq!(g["y"], json!(0), "not scrolled: {g}");
    assert!(g["page"].as_f64().unwrap_or(0.0) > 1.5 * 844.0, "the page is long: {g}");
    assert!(g["wide"].as_f64().unwrap_or(f64::MAX) <= 390.0, "nothing runs off the side: {g}");
    for button in ["approve", "deny"] {
        let b = &g[button];
        let inside = b["top"].as_f64().is_some_and(|t| t >= 0.0)
            && b["bottom"].as_f64().is_some_and(|v| v <= 844.0)
            && b["left"].as_f64().is_some_and(|v| v >= 0.0)
            && b["right"].as_f64().is_some_and(|v| v <= 390.0);
        assert!(inside, "#{button} is in view without scrolling: {g}");
        assert_eq!(g[format!("{button}Hit")], json!(true), "#{button} is not covered: {g}");
    }
    // Everything is still there, readable: the action whole, the binding code, the context.
    assert_eq!(tab.text("#binding-code").await, asked.body["bindingCode"].as_str().expect("code"));
    assert!(tab.text("pre.action").await.contains(&action));
    assert!(tab.text("main").await.contains("service-39"));
    assert_eq!(tab.eval("!!document.querySelector('#deny-reason')").await, json!(true));
    tab.screenshot("approval-phone-long").await;
    tab.set_viewport(390, 844, true).await;

    // Still in view at the end of the page, and the deny button works from there.
    tab.eval("window.scrollTo(0, document.documentElement.scrollHeight)").await;
    let g = tab.eval(geometry).await;
    assert!(g["deny"]["bottom"].as_f64().is_some_and(|v| v <= 844.0), "{g}");
    tab.click("#deny").await;
    tab.wait("document.querySelector('.badge.DENIED')", "the denial").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pending_page_says_when_its_live_connection_is_lost_and_catches_up_when_back() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    let key = key_in_page(&tab).await;
    tab.wait("document.querySelector('#nothing-pending')", "the empty list").await;
    let lost = "document.querySelector('#live-lost')";
    assert_eq!(tab.eval(&format!("{lost}.hidden")).await, json!(true), "connected: nothing said");

    // The server goes away: the stream breaks, and the page says so.
    let port = app.port();
    let db = app.stop().await;
    let said = tab.wait(&format!("!{lost}.hidden && {lost}.textContent"), "the notice").await;
    assert_eq!(said, json!("Live updates paused — reconnecting; this page may be out of date."));
    tab.screenshot("pending-live-lost").await;

    // Back (the same address): the notice goes, and the list shows what was asked meanwhile.
    let app = TestApp::spawn_on_port(db, port, |_| {}).await;
    let asked = app.ask(&key, "asked while the page was not listening").await;
    tab.wait(&format!("{lost}.hidden"), "the notice to go").await;
    tab.wait(&format!("document.querySelector('[data-request={:?}]')", asked.id), "the request").await;
    assert_eq!(tab.eval("document.querySelector('h1')?.textContent").await, json!("Waiting for you"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn history_shows_first_the_time_it_is_in_the_order_of() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    let key = key_in_page(&tab).await;
    let older = app.ask(&key, "asked first").await;
    app.clock.advance_ms(60_000);
    let newer = app.ask(&key, "asked second").await;
    app.clock.advance_ms(60_000);
    // Decided the other way round: the newer first.
    for id in [&newer.id, &older.id] {
        let js = format!(
            "import('/api.js').then(m => m.api('POST', '/approval/deny/{id}', {{}})).then(r => r.status)"
        );
        assert_eq!(tab.eval(&js).await, json!("DENIED"));
        app.clock.advance_ms(60_000);
    }
    tab.click("nav a[href='/history']").await;
    tab.wait("document.querySelectorAll('#history [data-request]').length === 2", "both requests").await;
    let shown = tab
        .eval(
            "[...document.querySelectorAll('#history [data-request]')].map(li => ({ id: li.dataset.request, \
             asked: li.querySelector('[data-asked]')?.dataset.asked, text: li.querySelector('[data-asked]')?.textContent }))",
        )
        .await;
    let rows = shown.as_array().expect("rows");
    assert_eq!(rows[0]["id"], newer.id.as_str(), "{shown}");
    assert_eq!(rows[1]["id"], older.id.as_str(), "{shown}");
    let asked: Vec<&str> = rows.iter().filter_map(|r| r["asked"].as_str()).collect();
    assert!(asked.len() == 2 && asked[0] > asked[1], "in the order of the time shown first: {shown}");
    for row in rows {
        let text = row["text"].as_str().unwrap_or("");
        assert!(text.starts_with("Asked ") && text.contains(" · decided "), "both times, named: {text}");
    }
    assert!(tab.text("#history-order").await.contains("by when the agent asked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unnamed_agent_has_one_name_on_every_page() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    let key = key_in_page(&tab).await;
    let asked = app
        .post("/api/v1/approval/request", &Auth::Bearer(key), json!({ "action": "clean the cache" }))
        .await
        .expect(201);
    let id = asked.body["requestId"].as_str().expect("id").to_owned();
    let card = tab
        .wait(&format!("document.querySelector('[data-request={id:?}] strong')?.textContent"), "the card")
        .await;
    assert_eq!(card, json!("An unnamed agent"));
    open_request(&tab, &app, &id).await;
    let facts = tab.text("dl.facts").await;
    assert!(facts.contains("AgentAn unnamed agent"), "{facts}");
    // The notification the service worker shows says the same.
    let sw = tab.eval("fetch('/sw.js').then(r => r.text())").await;
    assert!(sw.as_str().is_some_and(|s| s.contains("'An unnamed agent is waiting for your decision.'")));
    let app_js = tab.eval("fetch('/views/requests.js').then(r => r.text())").await;
    let app_js = app_js.as_str().unwrap_or("");
    assert!(!app_js.contains("'not named'") && !app_js.contains("'An agent'"), "no other wording is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoking_the_new_key_takes_its_secret_off_the_page() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    tab.eval("window.confirm = () => true").await;
    tab.click("nav a[href='/keys']").await;
    let t = &tab;
    let create = |name: &'static str| async move {
        t.type_into("#key-name", name).await;
        t.click("form button[type=submit]").await;
        t.wait(&format!("document.querySelector('#keys')?.textContent.includes({name:?}) && document.querySelector('#new-key-value')?.value"), "the new key").await
    };
    // An older key, then the new one: revoking the older leaves the new one's box alone.
    create("old bot").await;
    let fresh = create("new bot").await;
    let shown_for = |name: &str| {
        format!("[...document.querySelectorAll('#keys li')].find(li => li.textContent.includes({name:?}))")
    };
    let old_key = tab.eval(&format!("{}?.dataset.key", shown_for("old bot"))).await;
    tab.click(&format!("#keys li[data-key={old_key}] button.danger")).await;
    tab.wait(&format!("{}?.textContent.includes('revoked')", shown_for("old bot")), "the old key revoked")
        .await;
    assert_eq!(
        tab.eval("document.querySelector('#new-key-value')?.value").await,
        fresh,
        "still there to copy"
    );

    // Revoking the key the box shows takes the box away.
    let new_key = tab.eval(&format!("{}?.dataset.key", shown_for("new bot"))).await;
    tab.click(&format!("#keys li[data-key={new_key}] button.danger")).await;
    tab.wait("document.querySelector('#new-key-value') === null", "the secret to go").await;
    assert_eq!(tab.eval("document.querySelector('#new-key').children.length").await, json!(0));
    assert!(tab.text("#keys").await.contains("revoked"));

    // Leaving the page takes a shown key away too.
    create("third bot").await;
    away_and_back(&tab, "/keys").await;
    tab.wait("document.querySelector('#keys li')", "the key list").await;
    assert_eq!(tab.eval("document.querySelector('#new-key-value')").await, Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_passkey_error_goes_when_the_person_acts_again() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    tab.click("nav a[href='/passkeys']").await;
    tab.wait("document.querySelector('#passkeys li')", "the passkey list").await;

    // The same authenticator again: the browser refuses, and the page says why.
    tab.click("#add-passkey").await;
    let said = tab.wait("document.querySelector('.notice.error')?.textContent", "the error").await;
    assert_eq!(said, json!("This passkey is already registered with ClawGate."));

    // Renaming the passkey is acting again: the old error goes.
    tab.eval("document.querySelector('#passkeys input').value = 'Laptop'").await;
    tab.click("#passkeys li button").await;
    tab.wait("document.querySelector('#toast')?.textContent === 'Renamed.'", "the rename").await;
    assert_eq!(tab.eval("document.querySelectorAll('main .notice.error').length").await, json!(0));

    // So does trying again.
    tab.click("#add-passkey").await;
    tab.wait("document.querySelector('.notice.error')", "the error").await;
    assert_eq!(
        tab.eval("document.querySelectorAll('main .notice.error').length").await,
        json!(1),
        "one at a time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blocked_notifications_are_said_with_no_button_that_cannot_work() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    let set = |setting: PermissionSetting| {
        SetPermissionParams::builder()
            .permission(PermissionDescriptor::new("notifications"))
            .setting(setting)
            .origin(app.origin.clone())
            .build()
            .expect("permission")
    };
    chrome.browser().execute(set(PermissionSetting::Denied)).await.expect("notifications blocked");
    tab.click("nav a[href='/notifications']").await;
    let ready = tab.wait("document.querySelector('#push-state')?.dataset.ready", "the state").await;
    assert_eq!(ready, json!("blocked"));
    let said = tab.text("#push-state").await;
    assert!(said.contains("blocked for this site") && said.contains("site settings"), "{said}");
    assert_eq!(tab.eval("document.querySelector('#push-toggle').hidden").await, json!(true), "no button");
    tab.screenshot("notifications-blocked").await;

    // Allowed in the browser: the page offers the button again.
    chrome.browser().execute(set(PermissionSetting::Granted)).await.expect("notifications allowed");
    away_and_back(&tab, "/notifications").await;
    let ready = tab
        .wait("document.querySelector('#push-state')?.dataset.ready !== 'blocked' && document.querySelector('#push-state')?.dataset.ready", "the state")
        .await;
    // Headless Chromium may have no push service: then the page says that instead.
    if ready == json!("off") || ready == json!("on") {
        assert_eq!(tab.eval("document.querySelector('#push-toggle').hidden").await, json!(false));
    } else {
        assert!(["unsupported", "unavailable"].contains(&ready.as_str().unwrap_or("")), "{ready}");
    }
}

/// An answer for a page the person has left never lands over the page they went to: here the
/// pending list's answer is held back until API keys is shown, then let through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_answer_never_lands_over_the_next_page() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    // The page's fetches of the pending list wait for `__release()`; every body read counts in
    // `__read` once the page's code after it has run (a task after the read's own continuations).
    tab.eval(
        "(() => {
            const fetch0 = window.fetch.bind(window);
            window.__held = [];
            window.__release = () => window.__held.splice(0).forEach((go) => go());
            window.fetch = (url, options) => {
                const answer = fetch0(url, options);
                if (!String(url).includes('/approval/pending')) return answer;
                return new Promise((resolve) => window.__held.push(() => resolve(answer)));
            };
            const text0 = Response.prototype.text;
            window.__read = 0;
            Response.prototype.text = function () {
                const body = text0.call(this);
                body.then(() => setTimeout(() => { window.__read += 1; }, 0));
                return body;
            };
            return true;
        })()",
    )
    .await;
    tab.click("nav a[href='/history']").await;
    tab.wait("document.querySelector('h1')?.textContent === 'History'", "history").await;
    tab.click("nav a[href='/']").await;
    tab.wait("window.__held.length === 1", "the pending list asked for").await;
    tab.click("nav a[href='/keys']").await;
    tab.wait("document.querySelector('h1')?.textContent === 'API keys'", "API keys").await;

    tab.eval("window.__read = 0; window.__release(); true").await;
    tab.wait("window.__read >= 1", "the held answer read").await;
    assert_eq!(tab.eval("document.querySelector('h1')?.textContent").await, json!("API keys"));
    assert_eq!(tab.eval("document.querySelector('#pending')").await, Value::Null, "no pending list here");
    assert_eq!(tab.eval("location.pathname").await, json!("/keys"));
}
