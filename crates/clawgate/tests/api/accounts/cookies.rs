//! The web app's cookie sessions: HttpOnly and SameSite=Strict, with a CSRF token bound to the
//! session that every state-changing request must repeat (list item 31, with cookies).

use crate::harness::{Resp, TestApp, into_resp, on_both_databases};
use reqwest::Method;
use serde_json::{Value, json};

on_both_databases!(cookie_sessions_need_the_csrf_token_for_changes);

/// The `name=value` of each `Set-Cookie`, and the whole header lines.
fn set_cookies(r: &Resp) -> Vec<String> {
    r.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
}

fn cookie_value(lines: &[String], name: &str) -> String {
    let line =
        lines.iter().find(|l| l.starts_with(&format!("{name}="))).unwrap_or_else(|| panic!("{name} is set"));
    line.split(';').next().and_then(|kv| kv.split_once('=')).map(|(_, v)| v.to_owned()).unwrap_or_default()
}

struct Browser<'a> {
    app: &'a TestApp,
    session: String,
    csrf: String,
}

impl Browser<'_> {
    async fn send(
        &self,
        method: Method,
        path: &str,
        csrf: Option<&str>,
        origin: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self
            .app
            .http
            .request(method, self.app.url(path))
            .header("cookie", format!("clawgate_session={}; clawgate_csrf={}", self.session, self.csrf));
        if let Some(t) = csrf {
            req = req.header("x-csrf-token", t);
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        into_resp(req.send().await.expect("sent")).await
    }
}

async fn sign_up<'a>(app: &'a TestApp, email: &str) -> (Resp, Browser<'a>) {
    let r = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .header("x-clawgate-session", "cookie")
        .json(&json!({ "email": email }))
        .send()
        .await
        .expect("sent");
    let r = into_resp(r).await.expect(201);
    let lines = set_cookies(&r);
    let session = cookie_value(&lines, "clawgate_session");
    let csrf = cookie_value(&lines, "clawgate_csrf");
    (r, Browser { app, session, csrf })
}

async fn cookie_sessions_need_the_csrf_token_for_changes(app: TestApp) {
    let (registered, ada) = sign_up(&app, "ada@example.com").await;
    assert!(registered.body.get("token").is_none(), "no bearer token in the body for a cookie session");
    let lines = set_cookies(&registered);
    let session_line = lines.iter().find(|l| l.starts_with("clawgate_session=")).expect("session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session_line.contains(attribute), "{session_line} has {attribute}");
    }
    let csrf_line = lines.iter().find(|l| l.starts_with("clawgate_csrf=")).expect("csrf cookie");
    assert!(!csrf_line.contains("HttpOnly"), "the page reads the CSRF token");

    // Reading needs no CSRF token; changing does.
    ada.send(Method::GET, "/api/v1/auth/me", None, None, None).await.expect(200);
    let key_body = Some(json!({ "name": "x" }));
    let no_token = ada.send(Method::POST, "/api/v1/auth/api-keys", None, None, key_body.clone()).await;
    no_token.expect_error(403, "csrf_failed");
    let wrong = ada.send(Method::POST, "/api/v1/auth/api-keys", Some("guess"), None, key_body.clone()).await;
    wrong.expect_error(403, "csrf_failed");
    let csrf = ada.csrf.clone();
    let evil = ada
        .send(
            Method::POST,
            "/api/v1/auth/api-keys",
            Some(&csrf),
            Some("https://evil.example"),
            key_body.clone(),
        )
        .await;
    evil.expect_error(403, "csrf_failed");
    // With the token (and our own origin) the request goes through to the real rule.
    let own = app.origin.clone();
    let through =
        ada.send(Method::POST, "/api/v1/auth/api-keys", Some(&csrf), Some(&own), key_body.clone()).await;
    through.expect_error(403, "passkey_required");

    // Another session's CSRF token does not fit this session (a planted cookie gains nothing).
    let (_, bob) = sign_up(&app, "bob@example.com").await;
    let swapped = Browser { app: &app, session: ada.session.clone(), csrf: bob.csrf.clone() };
    let r = swapped.send(Method::POST, "/api/v1/auth/api-keys", Some(&bob.csrf), None, key_body).await;
    r.expect_error(403, "csrf_failed");

    // Sign-out needs the token too, and clears both cookies.
    ada.send(Method::POST, "/api/v1/auth/logout", None, None, None).await.expect_error(403, "csrf_failed");
    let out = ada.send(Method::POST, "/api/v1/auth/logout", Some(&csrf), None, None).await.expect(204);
    let cleared = set_cookies(&out);
    assert_eq!(cleared.iter().filter(|l| l.contains("Max-Age=0")).count(), 2, "{cleared:?}");

    // Bearer clients are unaffected: no cookies, no CSRF token.
    let (token, _) = app.register("carol@example.com").await;
    let r = app
        .http
        .post(app.url("/api/v1/auth/api-keys"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
    into_resp(r).await.expect_error(403, "passkey_required");
}
