//! The `clawgate` binary itself: zero-setup start, `.env`, refusals at start, `migrate`, `--help`,
//! and logs that never carry a secret.

use crate::harness::serve::{Server, clawgate, free_port, http_client, post};
use clawgate_testkit::SoftKey;
use serde_json::{Value, json};

/// With nothing configured but a port, in an empty folder: it starts, creates ./data, keeps its
/// secrets there, and its logs (at trace level, as JSON) never contain a token or a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_with_nothing_configured_and_never_logs_secrets() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let mut cmd = clawgate(dir.path());
    cmd.env("PORT", port.to_string()).env("LOG_LEVEL", "trace").env("LOG_FORMAT", "json");
    let server = Server::start(cmd, port);
    let http = http_client();
    let url = |p: &str| format!("{}{p}", server.base);

    let health: Value = http.get(url("/health")).send().await.expect("health").json().await.expect("json");
    assert_eq!(health["status"], "ok");

    let reg = post(&http, url("/api/v1/auth/register"), None, json!({ "email": "ada@example.com" })).await;
    let email_session = reg["token"].as_str().expect("token").to_owned();
    let start = post(&http, url("/api/v1/passkey/register/start"), Some(&email_session), json!({})).await;
    let mut key = SoftKey::new(&server.origin);
    let credential = key.create(&start["publicKey"]).await;
    let done = post(
        &http,
        url("/api/v1/passkey/register/complete"),
        Some(&email_session),
        json!({ "ceremonyId": start["ceremonyId"], "credential": credential }),
    )
    .await;
    let session = done["token"].as_str().expect("token").to_owned();
    let api_key = post(&http, url("/api/v1/auth/api-keys"), Some(&session), json!({})).await["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let asked =
        post(&http, url("/api/v1/approval/request"), Some(&api_key), json!({ "action": "rm -rf ./old" }))
            .await;
    let id = asked["requestId"].as_str().expect("id").to_owned();
    let ceremony =
        post(&http, url("/api/v1/passkey/authenticate/start"), None, json!({ "requestId": id })).await;
    let signed = key.get(&ceremony["publicKey"]).await;
    post(
        &http,
        url(&format!("/api/v1/approval/approve/{id}")),
        None,
        json!({ "ceremonyId": ceremony["ceremonyId"], "credential": signed }),
    )
    .await;
    let status: Value = http
        .get(url(&format!("/api/v1/approval/status/{id}")))
        .header("x-api-key", &api_key)
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    let token = status["token"].as_str().expect("approved").to_owned();
    post(&http, url("/api/v1/approval/verify-token"), None, json!({ "token": token, "consume": true })).await;

    let logs = server.stop();
    assert!(logs.lines().count() > 10, "trace logging printed something: {logs}");
    assert!(
        logs.lines().filter(|l| l.starts_with('{')).all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "one JSON object per line"
    );
    for (what, secret) in [
        ("email session", &email_session),
        ("passkey session", &session),
        ("API key", &api_key),
        ("approval token", &token),
    ] {
        assert!(!logs.contains(secret.as_str()), "the {what} appears in the logs");
    }
    // Its signature alone (the part no one else can make) must not appear either.
    assert!(!logs.contains(token.rsplit('.').next().expect("signature")));

    let data = dir.path().join("data");
    assert!(data.join("clawgate.db").exists(), "the database lives in ./data");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).expect("data dir").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "only the owner can read the database and its secrets");
    }
}

/// A `.env` file in the working directory is read; real environment variables win over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_a_dot_env_file() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    std::fs::write(
        dir.path().join(".env"),
        format!("PORT={port}\nWEBAUTHN_RP_NAME=\"From dotenv\"\nDATA_DIR=./elsewhere\n"),
    )
    .expect("write .env");
    let mut cmd = clawgate(dir.path());
    cmd.env("WEBAUTHN_RP_NAME", "From the environment");
    let server = Server::start(cmd, port);
    let http = http_client();
    let reg = post(
        &http,
        format!("{}/api/v1/auth/register", server.base),
        None,
        json!({ "email": "a@example.com" }),
    )
    .await;
    let token = reg["token"].as_str().expect("token").to_owned();
    let start =
        post(&http, format!("{}/api/v1/passkey/register/start", server.base), Some(&token), json!({})).await;
    assert_eq!(start["publicKey"]["rp"]["name"], "From the environment");
    server.stop();
    assert!(dir.path().join("elsewhere/clawgate.db").exists());
}

/// `DATABASE_URL=sqlite:///…/clawgate.db`, the Configuration chapter's form without `?mode=rwc`: the file and its
/// folders are created on first start (it used to fail with "unable to open database file").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_url_without_a_mode_creates_its_database() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("var/lib/clawgate/clawgate.db");
    let port = free_port();
    let mut cmd = clawgate(dir.path());
    cmd.env("PORT", port.to_string()).env("DATABASE_URL", format!("sqlite://{}", file.display()));
    let server = Server::start(cmd, port);
    let health = http_client().get(format!("{}/health", server.base)).send().await.expect("health");
    assert!(health.status().is_success(), "{}", health.status());
    server.stop();
    assert!(file.exists(), "the database file was created at {}", file.display());
}

fn refusal(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = clawgate(dir.path());
    cmd.arg("serve").args(args).envs(env.iter().copied()).env("PORT", free_port().to_string());
    let out = cmd.output().expect("run");
    assert!(!out.status.success(), "clawgate must refuse to start with {args:?} {env:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_broken_dot_env_file_is_an_error_not_half_applied() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join(".env"), "PORT=1\nWEBAUTHN_RP_NAME=two words\n").expect("write .env");
    let out = clawgate(dir.path()).arg("serve").output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(".env"), "{err}");
}

#[test]
fn unsafe_settings_are_refused_at_start_with_a_reason() {
    let short = refusal(&[], &[("JWT_SECRET", "too-short")]);
    assert!(short.contains("JWT_SECRET") && short.contains("32"), "{short}");
    let weak = refusal(&[], &[("API_KEY_SECRET", "changeme-changeme-changeme-changeme-changeme")]);
    assert!(weak.contains("API_KEY_SECRET") && weak.contains("placeholder"), "{weak}");
    let origin = refusal(&["--rp-id", "example.com", "--rp-origin", "https://evil.com"], &[]);
    assert!(origin.contains("not under WEBAUTHN_RP_ID"), "{origin}");
    let insecure =
        refusal(&[], &[("WEBAUTHN_RP_ID", "example.com"), ("WEBAUTHN_RP_ORIGIN", "http://example.com")]);
    assert!(insecure.contains("https"), "{insecure}");
    let db = refusal(&["--database-url", "mysql://root@localhost/x"], &[]);
    assert!(db.contains("DATABASE_URL"), "{db}");
    let vapid = refusal(&[], &[("VAPID_PUBLIC_KEY", "abc")]);
    assert!(vapid.contains("VAPID_PRIVATE_KEY"), "{vapid}");
}

/// Issue 17: an empty setting is an error, as documented, not the default in disguise.
#[test]
fn an_empty_setting_is_an_error_not_the_default() {
    let empty = refusal(&[], &[("LOG_LEVEL", ""), ("DATABASE_URL", " ")]);
    assert!(
        empty.contains("LOG_LEVEL") && empty.contains("DATABASE_URL") && empty.contains("empty"),
        "{empty}"
    );
}

/// Issue 17: the log is plain text where it is not shown on a terminal (a pipe here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_has_no_colours_off_a_terminal() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let mut cmd = clawgate(dir.path());
    cmd.env("PORT", port.to_string()).env("LOG_FORMAT", "text");
    // `start` read up to the line that says it listens; the rest of the log is here.
    let log = Server::start(cmd, port).stop();
    assert!(log.contains("INFO") && log.contains("shutting down"), "{log}");
    assert!(!log.contains('\u{1b}'), "no terminal escapes: {log:?}");
}

/// What the operating system or the database says is not enough to act on: each refusal names
/// the fix as well.
#[test]
fn startup_failures_name_the_fix() {
    let dir = tempfile::tempdir().expect("dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = clawgate(dir.path()).args(["serve", "--port", &port]).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Another program is listening") && err.contains("PORT="),
        "{err}"
    );

    let nobody = format!("postgres://clawgate@127.0.0.1:{}/clawgate", free_port());
    let err = refusal(&["--database-url", &nobody], &[]);
    assert!(err.contains("is PostgreSQL running"), "{err}");

    std::fs::write(dir.path().join("a-file"), "").expect("write");
    let err = refusal(&["--data-dir", &dir.path().join("a-file/data").display().to_string()], &[]);
    assert!(err.contains("cannot create the data folder") && err.contains("Set DATA_DIR"), "{err}");
    drop(taken);
}

#[test]
fn migrate_creates_the_schema_and_help_documents_every_setting() {
    let dir = tempfile::tempdir().expect("dir");
    let out = clawgate(dir.path()).arg("migrate").output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("data/clawgate.db").exists());
    let again = clawgate(dir.path()).arg("migrate").output().expect("run");
    assert!(again.status.success(), "migrating twice is harmless");

    let help = clawgate(dir.path()).args(["serve", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&help.stdout);
    for var in [
        "DATABASE_URL",
        "WEBAUTHN_RP_ID",
        "WEBAUTHN_RP_ORIGIN",
        "WEBAUTHN_RP_NAME",
        "JWT_SECRET",
        "API_KEY_SECRET",
        "PORT",
        "CORS_ORIGINS",
        "LOG_LEVEL",
        "VAPID_PUBLIC_KEY",
        "VAPID_PRIVATE_KEY",
        "VAPID_SUBJECT",
        "REGISTRATION_MODE",
    ] {
        assert!(help.contains(&format!("[env: {var}")), "`serve --help` documents {var}");
    }
    // And says how to put them together for the usual set-ups.
    for setup in ["ACME_DOMAIN=gate.example.com", "TLS_CERT=", "DATABASE_URL=postgres://", "METRICS_ADDR="] {
        assert!(help.contains(setup), "`serve --help` shows {setup} in its set-ups");
    }
}
