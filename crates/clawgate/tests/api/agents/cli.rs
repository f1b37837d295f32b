//! The agent's command line, run as the real binary against a live server: `request`, `exec`
//! and `verify`, their exit codes, and stdout holding nothing but the result.

use crate::harness::cli::{
    assert_exit, clawgate, clawgate_at, closed_port_url, finish, run, run_with_stdin, text,
    the_pending_request,
};
use crate::harness::{Person, TestApp};
use clawgate::config::Backend;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::process::Command;

/// Until the binary is waiting on its request, then that request's id.
async fn asked_and_waiting(app: &TestApp, person: &Person) -> String {
    let request = the_pending_request(app, person).await;
    crate::harness::waiting::until_waiting(app, 1).await;
    request["requestId"].as_str().expect("requestId").to_owned()
}

async fn setup() -> (TestApp, Person, String) {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    (app, ada, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_wait_prints_only_the_token_once_approved() {
    let (app, mut ada, key) = setup().await;
    let mut cmd = clawgate(&app, &key);
    cmd.args([
        "request",
        "delete ./old-data",
        "--agent",
        "cleaner",
        "--context",
        r#"{"files": 3}"#,
        "--wait",
    ]);
    let child = cmd.spawn().expect("spawn");
    let id = asked_and_waiting(&app, &ada).await;
    let request = the_pending_request(&app, &ada).await;
    assert_eq!(request["action"], "delete ./old-data");
    assert_eq!(request["agentId"], "cleaner");
    assert_eq!(request["context"], json!({ "files": 3 }));
    app.approve(&id, &mut ada.key).await.expect(200);
    let out = finish(child).await;
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    let token = stdout.strip_suffix('\n').expect("one line");
    assert!(!token.contains(char::is_whitespace), "nothing but the token on stdout: {stdout:?}");
    let checked = app.verify(json!({ "token": token, "action": "delete ./old-data" })).await;
    assert_eq!(checked.body["valid"], true, "{}", checked.text);
    assert_eq!(checked.body["claims"]["requestId"], id.as_str());
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&id) && stderr.contains("APPROVED"), "{stderr}");
    assert!(
        stderr.contains(request["bindingCode"].as_str().expect("code")),
        "the binding code is shown: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_without_wait_prints_the_request_id() {
    let (app, ada, key) = setup().await;
    let out = run({
        let mut c = clawgate(&app, &key);
        c.args(["request", "rotate the TLS key"]);
        c
    })
    .await;
    assert_exit(&out, 0);
    let request = the_pending_request(&app, &ada).await;
    assert_eq!(text(&out.stdout), format!("{}\n", request["requestId"].as_str().expect("id")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_request_exits_3() {
    let (app, ada, key) = setup().await;
    let mut cmd = clawgate(&app, &key);
    cmd.args(["request", "email all customers", "--wait"]);
    let child = cmd.spawn().expect("spawn");
    let id = asked_and_waiting(&app, &ada).await;
    app.deny(&ada, &id).await.expect(200);
    let out = finish(child).await;
    assert_exit(&out, 3);
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("DENIED"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_request_exits_4() {
    let (app, ada, key) = setup().await;
    let mut cmd = clawgate(&app, &key);
    cmd.args(["request", "scale down the cluster", "--wait", "--expires", "60"]);
    let child = cmd.spawn().expect("spawn");
    asked_and_waiting(&app, &ada).await;
    app.clock.advance_ms(61_000);
    assert_eq!(app.state.expire_lapsed(None).await.expect("upkeep"), 1);
    let out = finish(child).await;
    assert_exit(&out, 4);
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("expired"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_runs_out_exits_4() {
    let (app, _ada, key) = setup().await;
    let started = Instant::now();
    let out = run({
        let mut c = clawgate(&app, &key);
        c.args(["request", "nobody looks", "--wait", "--timeout", "1"]);
        c
    })
    .await;
    assert_exit(&out, 4);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("no decision"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_exits_1_quickly_in_words() {
    let started = Instant::now();
    let out = run({
        let mut c = clawgate_at(&closed_port_url(), "ag_whatever");
        c.args(["request", "anything", "--wait"]);
        c
    })
    .await;
    assert_exit(&out, 1);
    assert!(started.elapsed() < Duration::from_secs(15), "gave up after {:?}", started.elapsed());
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("cannot reach clawgate"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_1_with_the_servers_message() {
    let (app, _ada, key) = setup().await;
    let out = run({
        let mut c = clawgate(&app, &key);
        c.args(["request", "x", "--context", "[1]"]);
        c
    })
    .await;
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("400") && stderr.contains("must be a JSON object"), "{stderr}");
    // Not JSON at all: refused before asking.
    let out = run({
        let mut c = clawgate(&app, &key);
        c.args(["request", "x", "--context", "{files"]);
        c
    })
    .await;
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("not JSON"));
    // No key: says how to get one.
    let out = run({
        let mut c = clawgate(&app, "");
        c.args(["request", "x"]);
        c
    })
    .await;
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("CLAWGATE_API_KEY"));
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 0);
}

const EXEC_SCRIPT: &str = r#"echo "$CLAWGATE_TOKEN" > out; echo "$CLAWGATE_REQUEST_ID" > id; exit 7"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_the_approved_command_with_the_token_and_passes_its_exit_code() {
    let (app, mut ada, key) = setup().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = clawgate(&app, &key);
    cmd.current_dir(dir.path()).args(["exec", "--ask", "--", "sh", "-c", EXEC_SCRIPT]);
    let child = cmd.spawn().expect("spawn");
    let id = asked_and_waiting(&app, &ada).await;
    let request = the_pending_request(&app, &ada).await;
    // What the person sees is exactly what runs: the line shell-quoted, and each argument.
    let line = format!("sh -c '{EXEC_SCRIPT}'");
    assert_eq!(request["action"], line.as_str());
    assert_eq!(request["context"]["argv"], json!(["sh", "-c", EXEC_SCRIPT]));
    app.approve(&id, &mut ada.key).await.expect(200);
    let out = finish(child).await;
    assert_exit(&out, 7);
    assert!(out.stdout.is_empty(), "the command wrote nothing to stdout");
    let token = std::fs::read_to_string(dir.path().join("out")).expect("the command ran");
    let checked = app.verify(json!({ "token": token.trim(), "action": line, "consume": true })).await;
    assert_eq!(checked.body["valid"], true, "{}", checked.text);
    assert_eq!(std::fs::read_to_string(dir.path().join("id")).expect("id").trim(), id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_never_runs_a_denied_command() {
    let (app, ada, key) = setup().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = clawgate(&app, &key);
    cmd.current_dir(dir.path()).args(["exec", "--ask", "--", "touch", "marker"]);
    let child = cmd.spawn().expect("spawn");
    let id = asked_and_waiting(&app, &ada).await;
    app.deny(&ada, &id).await.expect(200);
    let out = finish(child).await;
    assert_exit(&out, 3);
    assert!(!dir.path().join("marker").exists(), "a denied command never runs");
    assert!(text(&out.stderr).contains("not run"), "{}", text(&out.stderr));
    // Nor one that times out, nor one the server never heard of.
    let mut timed_out = clawgate(&app, &key);
    timed_out.current_dir(dir.path()).args(["exec", "--ask", "--timeout", "1", "--", "touch", "marker"]);
    assert_exit(&run(timed_out).await, 4);
    let mut unreachable = clawgate_at(&closed_port_url(), &key);
    unreachable.current_dir(dir.path()).args(["exec", "--ask", "--", "touch", "marker"]);
    assert_exit(&run(unreachable).await, 1);
    assert!(!dir.path().join("marker").exists());
}

fn verify_cmd(app: &TestApp, args: &[&str]) -> Command {
    let mut c = clawgate(app, "");
    c.arg("verify").args(args);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_online_once_offline_and_against_the_action() {
    let (app, mut ada, key) = setup().await;
    let (id, token) = app.approved(&mut ada, &key, "deploy v2").await;

    let out = run(verify_cmd(&app, &[&token])).await;
    assert_exit(&out, 0);
    let claims: Value = serde_json::from_slice(&out.stdout).expect("only JSON on stdout");
    assert_eq!(claims["requestId"], id.as_str());
    assert_eq!(claims["action"], "deploy v2");

    // Offline, with the published keys; the issuer is the server's origin.
    let out = run(verify_cmd(&app, &[&token, "--offline", "--issuer", &app.origin])).await;
    assert_exit(&out, 0);
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).expect("JSON")["action"], "deploy v2");
    let out = run(verify_cmd(&app, &[&token, "--offline"])).await;
    assert_exit(&out, 5);
    // Issue 17: an issuer mismatch is named as such (it was `bad_signature` before).
    assert!(text(&out.stderr).contains("wrong_issuer"), "another issuer: {}", text(&out.stderr));

    // The action must match, online and offline.
    for offline in [false, true] {
        let mut args = vec![token.as_str(), "--action", "deploy v3", "--issuer", &app.origin];
        if offline {
            args.push("--offline");
        }
        let out = run(verify_cmd(&app, &args)).await;
        assert_exit(&out, 5);
        assert!(out.stdout.is_empty());
        assert!(text(&out.stderr).contains("action_mismatch"), "{}", text(&out.stderr));
    }

    // From stdin, consumed: valid once, then never again.
    let out = run_with_stdin(verify_cmd(&app, &["-", "--consume"]), &format!("{token}\n")).await;
    assert_exit(&out, 0);
    let out = run(verify_cmd(&app, &[&token, "--consume"])).await;
    assert_exit(&out, 5);
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("already_used"), "{}", text(&out.stderr));

    // Not a token at all; a server that is not there.
    assert_exit(&run(verify_cmd(&app, &["nonsense"])).await, 5);
    let mut down = clawgate_at(&closed_port_url(), "");
    down.args(["verify", &token]);
    assert_exit(&run(down).await, 1);
}
