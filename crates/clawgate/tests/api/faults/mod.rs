//! Faults, tested the way databases people trust test theirs (Jepsen, SQLite's crash tests,
//! PostgreSQL's TAP tests): clients record what they were told (done, refused, or unknown because
//! the answer never came), a real fault strikes under load, and the record is then checked
//! against what the database holds.
//!
//! - `kill -9` of the server binary under a load of creates and denials (SQLite);
//! - a restart with pending requests, some of which lapse while the server is down;
//! - PostgreSQL crashing (`pg_ctl stop -m immediate`) under load, then coming back;
//! - an instance whose clock is five minutes off (libfaketime) on a shared PostgreSQL database.
//!
//! Beside them, what arrives together and what wears the server down:
//!
//! - races: an approval, denials and expiry at once, and retries (acceptance list G, `races.rs`);
//! - connections that never finish their request or stay idle, and too many of them (review R's
//!   R3, `connections.rs`, over raw sockets);
//! - a full disk, on a real tmpfs (`full_disk.rs`).

use crate::harness::{Auth, TestApp, TestDb, on_both_databases};
use clawgate::clock::Clock;
use clawgate::config::Backend;
use clawgate_testkit::SoftKey;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod clock_skew;
mod connections;
mod full_disk;
mod kill9;
mod pg_crash;
mod races;
mod restart;

// ---------------------------------------------------------------------------------------------
// Shared helpers: the binary as a process, HTTP answers, bounded waits.

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v == "true")
}

/// An RFC 3339 timestamp of the API, in milliseconds since the epoch.
fn parse_ms(value: &Value) -> i64 {
    let text = value.as_str().unwrap_or_else(|| panic!("a timestamp, not {value}"));
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"));
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).expect("fits")
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// A client whose every request ends within 15 s: an answer slower than that is a hang, and is
/// recorded as one.
fn http_client() -> reqwest::Client {
    clawgate::app::install_tls_provider();
    reqwest::Client::builder().timeout(Duration::from_secs(15)).build().expect("http client")
}

/// What a client was told.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Value,
    retry_after: bool,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    fn is_503(&self) -> bool {
        self.status == 503 && self.code() == "service_unavailable" && self.retry_after
    }
}

/// Sends; `Err` when no complete answer came back (the outcome is unknown to the client).
async fn send(req: reqwest::RequestBuilder) -> Result<Answer, String> {
    let r = req.send().await.map_err(|e| format!("{e:?}"))?;
    let status = r.status().as_u16();
    let retry_after = r.headers().contains_key("retry-after");
    let text = r.text().await.map_err(|e| format!("{e:?}"))?;
    Ok(Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), retry_after })
}

#[track_caller]
fn expect(answer: Result<Answer, String>, status: u16) -> Answer {
    let answer = answer.unwrap_or_else(|e| panic!("no answer: {e}"));
    assert_eq!(answer.status, status, "unexpected answer: {}", answer.body);
    answer
}

/// Waits until `done` holds, checking every 20 ms; `None` when `limit` passes first.
async fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done().then(|| start.elapsed())
}

/// `clawgate serve` as a process of its own, seeing only the environment the test gives it.
struct Clawgate {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    printed: Vec<String>,
    base: String,
    _cwd: tempfile::TempDir,
}

impl Clawgate {
    /// Starts it and waits (at most 60 s) for the line that says it listens.
    fn start(env: &[(&'static str, String)]) -> Self {
        let port = env.iter().find(|(k, _)| *k == "PORT").map(|(_, v)| v.clone()).expect("a PORT");
        // Its own working directory: nothing (no .env) but what the test gives it.
        let cwd = tempfile::tempdir().expect("dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_clawgate"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(cwd.path())
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn clawgate");
        let (tx, lines) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            // Ends by itself when the process's pipe closes.
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut server =
            Self { child, lines, printed: Vec::new(), base: format!("http://127.0.0.1:{port}"), _cwd: cwd };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match server.lines.recv_timeout(left) {
                Ok(line) => {
                    let listening = line.contains("clawgate is listening");
                    server.printed.push(line);
                    if listening {
                        return server;
                    }
                }
                Err(e) => panic!("clawgate did not say it listens ({e}); it printed:\n{}", server.output()),
            }
        }
    }

    /// Everything it printed so far.
    fn output(&mut self) -> String {
        self.printed.extend(self.lines.try_iter());
        self.printed.join("\n")
    }

    /// SIGKILL: no shutdown, no flush, nothing finished.
    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM, and a clean exit.
    fn stop(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "a graceful stop exits 0: {status:?}\n{}", self.output());
    }
}

impl Drop for Clawgate {
    fn drop(&mut self) {
        // A test that failed half-way leaves no server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Settings for a binary under load: no per-key limits, so the load is what it looks like.
fn server_env(port: u16, origin: &str, database: (&'static str, String)) -> Vec<(&'static str, String)> {
    vec![
        ("PORT", port.to_string()),
        ("WEBAUTHN_RP_ORIGIN", origin.to_owned()),
        database,
        ("LOG_LEVEL", "info".into()),
        ("MAX_PENDING_PER_KEY", "0".into()),
        ("SUSPEND_AFTER_DENIALS", "0".into()),
        ("POLL_RATE_LIMIT", "1000000".into()),
        ("AUTH_RATE_LIMIT", "100000".into()),
    ]
}

/// A person with a passkey, a passkey session and an API key, made over HTTP.
struct Owner {
    api_key: String,
    key: SoftKey,
}

async fn enroll(http: &reqwest::Client, base: &str, origin: &str, email: &str) -> Owner {
    let reg = expect(
        send(http.post(format!("{base}/api/v1/auth/register")).json(&json!({ "email": email }))).await,
        201,
    );
    let email_session = reg.body["token"].as_str().expect("token").to_owned();
    let start = http.post(format!("{base}/api/v1/passkey/register/start")).bearer_auth(&email_session);
    let start = expect(send(start.json(&json!({}))).await, 200);
    let mut key = SoftKey::new(origin);
    let credential = key.create(&start.body["publicKey"]).await;
    let done = http.post(format!("{base}/api/v1/passkey/register/complete")).bearer_auth(&email_session);
    let done = done.json(&json!({ "ceremonyId": start.body["ceremonyId"], "credential": credential }));
    let done = expect(send(done).await, 201);
    let session = done.body["token"].as_str().expect("passkey session").to_owned();
    let made = http.post(format!("{base}/api/v1/auth/api-keys")).bearer_auth(&session);
    let made = expect(send(made.json(&json!({ "name": "loader" }))).await, 201);
    Owner { api_key: made.body["key"].as_str().expect("key").to_owned(), key }
}

async fn create(http: &reqwest::Client, base: &str, key: &str, action: &str, lifetime: i64) -> Answer {
    let body = json!({ "action": action, "agentId": "faults", "expiresInSeconds": lifetime });
    expect(send(http.post(format!("{base}/api/v1/approval/request")).bearer_auth(key).json(&body)).await, 201)
}

async fn status_of(http: &reqwest::Client, base: &str, key: &str, id: &str) -> Result<Answer, String> {
    send(http.get(format!("{base}/api/v1/approval/status/{id}")).header("x-api-key", key)).await
}

async fn start_ceremony(http: &reqwest::Client, base: &str, id: &str) -> Result<Answer, String> {
    send(http.post(format!("{base}/api/v1/passkey/authenticate/start")).json(&json!({ "requestId": id })))
        .await
}

async fn send_approval(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    ceremony: &Value,
    credential: &Value,
) -> Result<Answer, String> {
    let body = json!({ "ceremonyId": ceremony, "credential": credential });
    send(http.post(format!("{base}/api/v1/approval/approve/{id}")).json(&body)).await
}

async fn verify_token(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    consume: bool,
) -> Result<Answer, String> {
    let body = json!({ "token": token, "consume": consume });
    send(http.post(format!("{base}/api/v1/approval/verify-token")).json(&body)).await
}

/// What a client knows of one operation, as Jepsen records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Acknowledged: it must have happened.
    Done,
    /// Refused with an answer (503 and the like): the server says it did not happen.
    Refused,
    /// No answer: it may or may not have happened.
    Unknown,
}
