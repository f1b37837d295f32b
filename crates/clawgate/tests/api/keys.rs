//! `clawgate keys rotate` and `keys list`, run as the real binary against a live server's
//! database: the new key is published before it signs, takes over at its time, and the old one
//! keeps verifying (online and offline) the tokens it signed until they have all expired.
//!
//! Time: the servers run on the harness's manual clock. The CLI stamps the new key's activation
//! with the real clock (the manual clock starts there); the tests then move the servers' clocks
//! past it. The periodic reload is `app::upkeep` (every 30 s when serving); the tests call it
//! where a server would have run it, rather than waiting.

use crate::harness::{Auth, Person, TestApp, on_both_backends};
use clawgate::app::upkeep;
use clawgate::clock::Clock;
use clawgate::config::Backend;
use clawgate::tokens::approval::AUDIENCE;
use clawgate::tokens::keys::{PUBLISH_DELAY_MS, RETIRE_AFTER_MS};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;

async fn keys(app: &TestApp, command: &str) -> String {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clawgate"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.state.settings.database.url)
        .args(["keys", command])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn clawgate");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("clawgate finishes within a minute")
        .expect("output");
    assert!(out.status.success(), "keys {command} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).expect("a JWT").kid.expect("a kid")
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks = app.get("/.well-known/jwks.json", &Auth::None).await.expect(200);
    jwks.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

/// Verifies `token` as a tool would, with nothing but the server's published JWKS.
async fn verify_offline(app: &TestApp, token: &str) -> Result<Value, String> {
    let jwks = app.get("/.well-known/jwks.json", &Auth::None).await.expect(200);
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.body).expect("a JWKS");
    let kid = kid_of(token);
    let jwk = set.find(&kid).ok_or_else(|| format!("kid {kid} is not published"))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&[AUDIENCE]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|d| d.claims).map_err(|e| e.to_string())
}

async fn verifies_online(app: &TestApp, token: &str) -> bool {
    let r = app.verify(json!({ "token": token })).await;
    r.body["valid"] == true
}

async fn token(app: &TestApp, person: &mut Person, key: &str, action: &str) -> String {
    app.approved(person, key, action).await.1
}

/// When the newest key takes over, as stored (the CLI stamps it by the real clock; the servers'
/// manual clocks stood still since they started).
async fn takeover_time(app: &TestApp) -> i64 {
    let at = app.scalar_i64("SELECT MAX(active_from) FROM signing_keys").await;
    assert!(at >= app.clock.now_ms() + PUBLISH_DELAY_MS - 60_000, "activation is a publish delay away");
    at
}

/// A new key's number and kid, from what `keys rotate` printed.
fn rotated_kid(said: &str) -> String {
    let line = said.lines().find(|l| l.starts_with("new signing key")).expect("names the new key");
    line.rsplit(' ').next().expect("kid").to_owned()
}

async fn a_token_signed_before_rotation_verifies_after_the_new_key_takes_over(backend: Backend) {
    // Tokens live 10 minutes: one signed before the takeover is still current after it.
    let Some(app) = TestApp::spawn_with(backend, |a| a.approval_token_ttl_seconds = 600).await else {
        return;
    };
    let mut person = app.person("rotate@example.com").await;
    let key = app.api_key(&person).await;
    let old = token(&app, &mut person, &key, "signed before the rotation").await;
    let old_kid = kid_of(&old);
    assert_eq!(jwks_kids(&app).await, std::slice::from_ref(&old_kid));

    let said = keys(&app, "rotate").await;
    let new_kid = rotated_kid(&said);
    assert_ne!(new_kid, old_kid);
    assert!(said.contains("signs new approval tokens from"), "says when it takes over: {said}");
    let listed = keys(&app, "list").await;
    let row = |kid: &str| listed.lines().find(|l| l.contains(kid)).unwrap_or_default().to_owned();
    assert!(row(&old_kid).ends_with("active"), "{listed}");
    assert!(row(&new_kid).ends_with("next"), "{listed}");

    // Published at the next reload, before it signs anything.
    upkeep(&app.state).await.expect("upkeep");
    let published = jwks_kids(&app).await;
    assert!(published.contains(&old_kid) && published.contains(&new_kid), "JWKS lists both: {published:?}");
    assert_eq!(kid_of(&token(&app, &mut person, &key, "still the old key").await), old_kid);

    // Takes over at its time.
    let takeover = takeover_time(&app).await;
    app.clock.set_ms(takeover + 1_000);
    upkeep(&app.state).await.expect("upkeep");
    let new = token(&app, &mut person, &key, "signed after the takeover").await;
    assert_eq!(kid_of(&new), new_kid);
    assert_eq!(jwks_kids(&app).await.len(), 2, "the old key is still published");
    assert!(verifies_online(&app, &old).await, "the old key's token still verifies online");
    assert!(verifies_online(&app, &new).await);
    let claims = verify_offline(&app, &old).await.expect("the old key's token verifies offline");
    assert_eq!(claims["action"], "signed before the rotation");
    verify_offline(&app, &new).await.expect("the new token verifies offline");

    // Retired once every token it signed has expired: gone from the JWKS and the database.
    app.clock.set_ms(takeover + RETIRE_AFTER_MS + 1_000);
    upkeep(&app.state).await.expect("upkeep");
    assert_eq!(jwks_kids(&app).await, std::slice::from_ref(&new_kid));
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM signing_keys").await, 1);
    assert!(!verifies_online(&app, &old).await);
    assert!(keys(&app, "list").await.contains(&new_kid));
}

async fn a_second_instance_publishes_the_new_key_before_either_signs_with_it(backend: Backend) {
    let Some(a) = TestApp::spawn_with(backend, |a| a.approval_token_ttl_seconds = 600).await else { return };
    let b = a.second_instance_with(|a| a.approval_token_ttl_seconds = 600).await;
    let mut person = a.person("two@example.com").await;
    let key = a.api_key(&person).await;
    let from_b = token(&b, &mut person, &key, "signed on b before the rotation").await;
    let old_kid = kid_of(&from_b);

    let new_kid = rotated_kid(&keys(&a, "rotate").await);
    // Each instance reloads on its own upkeep; the key is published on both before it signs.
    upkeep(&b.state).await.expect("upkeep");
    upkeep(&a.state).await.expect("upkeep");
    for app in [&a, &b] {
        let published = jwks_kids(app).await;
        assert!(published.contains(&new_kid) && published.contains(&old_kid), "{published:?}");
        assert_eq!(
            kid_of(&token(app, &mut person, &key, "not yet").await),
            old_kid,
            "nobody signs with it yet"
        );
    }

    let takeover = takeover_time(&a).await;
    for app in [&a, &b] {
        app.clock.set_ms(takeover + 1_000);
    }
    let from_a = token(&a, &mut person, &key, "signed on a after the takeover").await;
    let from_b_new = token(&b, &mut person, &key, "signed on b after the takeover").await;
    assert_eq!(kid_of(&from_a), new_kid);
    assert_eq!(kid_of(&from_b_new), new_kid);
    // Each instance verifies what the other signed, with either key.
    assert!(verifies_online(&b, &from_a).await);
    assert!(verifies_online(&a, &from_b_new).await);
    assert!(verifies_online(&a, &from_b).await);
    verify_offline(&a, &from_b).await.expect("the old key is still published on a");
    verify_offline(&b, &from_a).await.expect("the new key is published on b");
}

/// A database from before rotation kept one key in `server_secrets`: it becomes key 1, active
/// since forever, with the same kid, so tokens already out keep verifying.
async fn the_key_of_an_older_database_becomes_key_1_and_keeps_its_kid(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let kids = jwks_kids(&app).await;
    // Put the database back as the previous version left it.
    let pool = app.state.db.pool();
    let seed: String = sqlx::query_scalar("SELECT seed FROM signing_keys WHERE number = 1")
        .fetch_one(pool)
        .await
        .expect("key 1");
    sqlx::query(
        "INSERT INTO server_secrets (name, value, created_at) VALUES ('approval_signing_key_1', $1, 0)",
    )
    .bind(seed)
    .execute(pool)
    .await
    .expect("insert");
    sqlx::query("DROP TABLE signing_keys").execute(pool).await.expect("drop");
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 8").execute(pool).await.expect("delete");
    let db = app.stop().await;

    let again = TestApp::spawn_on(db, |_| {}).await;
    assert_eq!(jwks_kids(&again).await, kids, "the same key, under the same kid");
    let left = "SELECT COUNT(*) FROM server_secrets WHERE name = 'approval_signing_key_1'";
    assert_eq!(again.scalar_i64(left).await, 0, "moved, not copied");
    let listed = keys(&again, "list").await;
    let row = listed.lines().find(|l| l.contains(&kids[0])).unwrap_or_default();
    assert!(row.contains("always") && row.ends_with("active"), "{listed}");
}

on_both_backends!(
    the_key_of_an_older_database_becomes_key_1_and_keeps_its_kid,
    a_token_signed_before_rotation_verifies_after_the_new_key_takes_over,
    a_second_instance_publishes_the_new_key_before_either_signs_with_it,
);
