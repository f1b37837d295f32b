//! `clawgate keys rotate`, `keys revoke` and `keys list`, run as the real binary against a live
//! server's database: a rotated key is published before it signs, takes over at its time, and the
//! old one keeps verifying (online and offline) the tokens it signed until they have all expired;
//! a revoked key is out of use at once on every instance, and a fresh key takes over.
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
    let out = keys_run(app, &[command]).await;
    assert!(out.status.success(), "keys {command} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `clawgate keys ARGS…` against the server's database, however it ends.
async fn keys_run(app: &TestApp, args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clawgate"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.state.settings.database.url)
        .arg("keys")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn clawgate");
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("clawgate finishes within a minute")
        .expect("output")
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
    // The person's chain records it: their tokens and checkpoints are signed with these keys.
    let chain = crate::audit::receipts::chain_of(&app, &person, 100).await;
    let rotated = chain.last().expect("receipts");
    assert_eq!(rotated["kind"], "signing_key.rotated", "{rotated}");
    assert_eq!(rotated["content"]["kid"], new_kid.as_str());

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
    // Migrations 8 and 9 made and altered `signing_keys`; later ones touch other tables.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version IN (8, 9)").execute(pool).await.expect("delete");
    let db = app.stop().await;

    let again = TestApp::spawn_on(db, |_| {}).await;
    assert_eq!(jwks_kids(&again).await, kids, "the same key, under the same kid");
    let left = "SELECT COUNT(*) FROM server_secrets WHERE name = 'approval_signing_key_1'";
    assert_eq!(again.scalar_i64(left).await, 0, "moved, not copied");
    let listed = keys(&again, "list").await;
    let row = listed.lines().find(|l| l.contains(&kids[0])).unwrap_or_default();
    assert!(row.contains("always") && row.ends_with("active"), "{listed}");
}

/// The token of a call the instance's gate allows by the default rules (a gate token).
async fn gate_token(app: &TestApp, key: &str) -> String {
    let call = json!({"tool": "Bash", "input": {"command": "ls -la"}});
    let allowed = app.post("/api/v1/gate", &Auth::Bearer(key.to_owned()), call).await.expect(200);
    assert_eq!(allowed.body["decidedBy"], "rule", "{}", allowed.text);
    allowed.body["token"].as_str().expect("token").to_owned()
}

/// `verify-token` for either kind of token: valid, or the reason.
async fn checked(app: &TestApp, token: &str, consume: bool) -> Result<(), String> {
    let r = app.verify(json!({ "token": token, "consume": consume, "accept": ["rule", "grant"] })).await;
    if r.body["valid"] == true {
        Ok(())
    } else {
        Err(r.body["reason"].as_str().unwrap_or_default().to_owned())
    }
}

/// Until `app` has heard (PostgreSQL NOTIFY) that `kid` is revoked, without asking it anything.
async fn until_dropped(app: &TestApp, kid: &str) {
    let started = std::time::Instant::now();
    while app.state.signer.jwks(app.clock.now_ms())["keys"]
        .as_array()
        .is_some_and(|keys| keys.iter().any(|k| k["kid"] == kid))
    {
        assert!(started.elapsed() < Duration::from_secs(10), "the revocation never reached the instance");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn keys_revoke_refuses_its_tokens_at_once_on_every_instance(backend: Backend) {
    let Some(a) = TestApp::spawn_with(backend, |a| a.approval_token_ttl_seconds = 600).await else { return };
    let b = a.second_instance_with(|a| a.approval_token_ttl_seconds = 600).await;
    let mut person = a.person("revoke@example.com").await;
    let key = a.api_key(&person).await;
    let approval = token(&a, &mut person, &key, "signed before the revocation").await;
    let gate = gate_token(&b, &key).await;
    let old_kid = kid_of(&approval);
    assert_eq!(kid_of(&gate), old_kid);
    for app in [&a, &b] {
        assert_eq!(checked(app, &approval, false).await, Ok(()));
        assert_eq!(checked(app, &gate, false).await, Ok(()));
    }

    let out = keys_run(&a, &["revoke", &old_kid]).await;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains(&format!("revoked signing key 1 ({old_kid})")), "{said}");
    let new_kid = rotated_kid(&said);
    assert_ne!(new_kid, old_kid);
    let chain = crate::audit::receipts::chain_of(&a, &person, 100).await;
    let kinds: Vec<(&Value, &Value)> =
        chain.iter().rev().take(2).map(|r| (&r["kind"], &r["content"]["kid"])).collect();
    assert_eq!(
        kinds,
        [(&json!("signing_key.rotated"), &json!(new_kid)), (&json!("signing_key.revoked"), &json!(old_kid))],
        "the revocation and its successor, in the person's chain"
    );
    for consequence in
        ["is refused from now on", "cached JWKS may accept its tokens", "may refuse the new key's tokens"]
    {
        assert!(said.contains(consequence), "says `{consequence}`: {said}");
    }
    if backend == Backend::Postgres {
        // Told by NOTIFY: b drops the key before anyone asks it anything.
        until_dropped(&b, &old_kid).await;
    }

    // At once, on both instances (SQLite: neither was told; each asks the store): its tokens are
    // refused, also for consumption (and not consumed), and the JWKS no longer lists it.
    for app in [&a, &b] {
        for t in [&approval, &gate] {
            assert_eq!(checked(app, t, true).await, Err("unknown_key".to_owned()));
        }
        assert_eq!(jwks_kids(app).await, std::slice::from_ref(&new_kid));
    }
    assert_eq!(a.scalar_i64("SELECT COUNT(*) FROM used_tokens").await, 0);

    // The fresh key signs at once on both, and each verifies the other's tokens online and offline.
    let from_a = token(&a, &mut person, &key, "signed after the revocation").await;
    let from_b = gate_token(&b, &key).await;
    assert_eq!((kid_of(&from_a), kid_of(&from_b)), (new_kid.clone(), new_kid.clone()));
    assert_eq!(checked(&b, &from_a, true).await, Ok(()));
    assert_eq!(checked(&a, &from_b, false).await, Ok(()));
    verify_offline(&b, &from_a).await.expect("the new key is published");
    assert!(verify_offline(&a, &approval).await.is_err_and(|e| e.contains("not published")));

    // Listed as revoked; a second revocation is refused; the row goes once its tokens expired.
    let listed = keys(&a, "list").await;
    let row = |kid: &str| listed.lines().find(|l| l.contains(kid)).unwrap_or_default().to_owned();
    assert!(row(&old_kid).ends_with("revoked") && row(&new_kid).ends_with("active"), "{listed}");
    let again = keys_run(&a, &["revoke", "1"]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already revoked"), "{again:?}");
    let revoked_at = a.scalar_i64("SELECT revoked_at FROM signing_keys WHERE number = 1").await;
    a.clock.set_ms(revoked_at + RETIRE_AFTER_MS + 1_000);
    upkeep(&a.state).await.expect("upkeep");
    assert_eq!(a.scalar_i64("SELECT COUNT(*) FROM signing_keys").await, 1);
}

/// Revoking a key that no longer signs leaves the signing key in place: nothing new is stored.
async fn keys_revoke_of_a_superseded_key_keeps_the_signing_key(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |a| a.approval_token_ttl_seconds = 600).await else {
        return;
    };
    let mut person = app.person("superseded@example.com").await;
    let key = app.api_key(&person).await;
    let old = token(&app, &mut person, &key, "signed by key 1").await;
    let new_kid = rotated_kid(&keys(&app, "rotate").await);
    // Key 2 took over a moment ago, by the clock the CLI reads too (the real one).
    let now = clawgate::clock::SystemClock.now_ms();
    sqlx::query("UPDATE signing_keys SET active_from = $1 WHERE number = 2")
        .bind(now - 1_000)
        .execute(app.state.db.pool())
        .await
        .expect("update");
    app.clock.set_ms(now);
    upkeep(&app.state).await.expect("upkeep");
    let new = token(&app, &mut person, &key, "signed by key 2").await;
    assert_eq!(kid_of(&new), new_kid);

    let said = String::from_utf8_lossy(&keys_run(&app, &["revoke", "1"]).await.stdout).into_owned();
    assert!(
        said.contains(&format!("({new_kid}) keeps signing")) && !said.contains("new signing key"),
        "{said}"
    );
    assert!(!verifies_online(&app, &old).await, "the superseded key's token is refused");
    assert!(verifies_online(&app, &new).await, "the signing key's is not");
    assert_eq!(jwks_kids(&app).await, std::slice::from_ref(&new_kid));
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM signing_keys").await, 2, "no key was added");
    let unknown = keys_run(&app, &["revoke", "no-such-kid"]).await;
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("keys list"), "{unknown:?}");
}

on_both_backends!(
    keys_revoke_refuses_its_tokens_at_once_on_every_instance,
    keys_revoke_of_a_superseded_key_keeps_the_signing_key,
    the_key_of_an_older_database_becomes_key_1_and_keeps_its_kid,
    a_token_signed_before_rotation_verifies_after_the_new_key_takes_over,
    a_second_instance_publishes_the_new_key_before_either_signs_with_it,
);
