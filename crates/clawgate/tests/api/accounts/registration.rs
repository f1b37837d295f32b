//! Registration and its modes: `REGISTRATION_MODE=closed` refuses, `first-user` admits exactly one
//! account however many sign up at once, on any number of instances (review R's R6 in
//! `docs/src/security.md`), and the sign-up and sign-in endpoints are rate limited per client IP.

use crate::harness::{Auth, TestApp, on_both_backends};
use clawgate::config::Backend;
use clawgate::config::RegistrationMode;
use serde_json::json;
use std::time::Duration;
use tokio::time::timeout;

/// Far below any limit of the server's own: an answer within this came at once.
const PROMPT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn auth_endpoints_are_rate_limited_per_ip() {
    let app = TestApp::spawn_with(Backend::Sqlite, |a| a.auth_rate_limit = 3).await.expect("sqlite");
    for i in 0..3 {
        app.post("/api/v1/auth/register", &Auth::None, json!({ "email": format!("u{i}@example.com") }))
            .await
            .expect(201);
    }
    let limited = app.post("/api/v1/auth/register", &Auth::None, json!({ "email": "u9@example.com" })).await;
    let limited = limited.expect_error(429, "rate_limited");
    let wait: u64 = limited.headers["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=20).contains(&wait), "Retry-After {wait}");
    app.post("/api/v1/passkey/authenticate/start", &Auth::None, json!({}))
        .await
        .expect_error(429, "rate_limited");
    // The agent's endpoints are not the auth limiter's business.
    app.get("/health", &Auth::None).await.expect(200);
    // Time heals.
    app.clock.advance_ms(i64::try_from(wait).expect("small") * 1000);
    app.post("/api/v1/auth/register", &Auth::None, json!({ "email": "u9@example.com" })).await.expect(201);
}

#[tokio::test]
async fn registration_modes() {
    let closed =
        TestApp::spawn_with(Backend::Sqlite, |a| a.registration_mode = RegistrationMode::Closed).await;
    let closed = closed.expect("sqlite");
    let r = closed.post("/api/v1/auth/register", &Auth::None, json!({ "email": "a@example.com" })).await;
    r.expect_error(403, "registration_closed");

    let first =
        TestApp::spawn_with(Backend::Sqlite, |a| a.registration_mode = RegistrationMode::FirstUser).await;
    let first = first.expect("sqlite");
    let attempts = (0..5).map(|i| {
        first.post("/api/v1/auth/register", &Auth::None, json!({ "email": format!("u{i}@example.com") }))
    });
    let results = futures::future::join_all(attempts).await;
    let created = results.iter().filter(|r| r.status.as_u16() == 201).count();
    assert_eq!(created, 1, "exactly one first user, even when they race");
    assert!(results.iter().filter(|r| r.status.as_u16() != 201).all(|r| r.code() == "registration_closed"));
}

on_both_backends!(first_user_registration_admits_exactly_one);

/// Twenty sign-ups at once, on two instances, with `REGISTRATION_MODE=first-user`.
async fn first_user_registration_admits_exactly_one(backend: Backend) {
    let first_user =
        |args: &mut clawgate::config::ServeArgs| args.registration_mode = RegistrationMode::FirstUser;
    let Some(a) = TestApp::spawn_with(backend, first_user).await else { return };
    let b = a.second_instance_with(first_user).await;
    // Connections opened beforehand (each health check pings the database), so the sign-ups
    // reach the database together rather than one connection set-up apart.
    let warm: Vec<_> = (0..16)
        .flat_map(|_| [&a, &b])
        .map(|app| tokio::spawn(app.http.get(app.url("/health")).send()))
        .collect();
    for w in warm {
        assert!(w.await.expect("task").expect("health").status().is_success());
    }
    let signups: Vec<_> = (0..20)
        .map(|i| {
            let app = if i % 2 == 0 { &a } else { &b };
            let req = app
                .http
                .post(app.url("/api/v1/auth/register"))
                .json(&json!({ "email": format!("u{i}@example.com") }));
            tokio::spawn(async move { crate::harness::into_resp(req.send().await.expect("sent")).await })
        })
        .collect();
    let mut admitted = 0;
    for signup in signups {
        let r = timeout(PROMPT, signup).await.expect("answered").expect("sign-up task");
        if r.status == 201 {
            admitted += 1;
        } else {
            r.expect_error(403, "registration_closed");
        }
    }
    assert_eq!(admitted, 1, "exactly one account is admitted");
    assert_eq!(a.scalar_i64("SELECT COUNT(*) FROM users").await, 1);
}
