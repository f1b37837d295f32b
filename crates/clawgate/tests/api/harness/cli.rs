//! The agent's command line as the real binary against a live server: a `clawgate` command that
//! sees nothing from the developer's environment, runs bounded in time, and what it printed.

use crate::harness::{Person, TestApp};
use serde_json::Value;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

/// The binary with nothing from the developer's environment but PATH, pointed at `url`.
pub fn clawgate_at(url: &str, key: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawgate"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CLAWGATE_URL", url)
        .env("CLAWGATE_API_KEY", key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

pub fn clawgate(app: &TestApp, key: &str) -> Command {
    clawgate_at(&app.base, key)
}

/// A URL where nothing listens.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

pub async fn finish(child: Child) -> Output {
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("clawgate finishes")
        .expect("clawgate ran")
}

pub async fn run(mut cmd: Command) -> Output {
    finish(cmd.spawn().expect("spawn clawgate")).await
}

/// Runs `cmd` with `input` on stdin.
pub async fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).spawn().expect("spawn clawgate");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).await.expect("write stdin");
    drop(stdin);
    finish(child).await
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code; stdout: {:?}, stderr: {:?}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The person's one pending request, once the binary has created it (bounded wait).
pub async fn the_pending_request(app: &TestApp, person: &Person) -> Value {
    let started = Instant::now();
    loop {
        let list = app.get("/api/v1/approval/pending", &person.auth()).await.expect(200);
        if let Some(first) = list.body["requests"].as_array().and_then(|r| r.first()) {
            return first.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the request never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
