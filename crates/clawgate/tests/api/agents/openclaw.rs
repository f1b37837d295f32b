//! The OpenClaw plugin (`integrations/openclaw`) against a real server: `node` loads the BUILT
//! plugin, registers it with a minimal OpenClaw `api` and runs its `before_tool_call` hook on an
//! `exec` call (`test/live-hook.mjs`), while this side plays the person with a software passkey.
//!
//! Needs `node` and `npm run build` in integrations/openclaw (scripts/test does both). Without
//! them the tests are skipped with a note, or fail when CLAWGATE_REQUIRE_NODE=1 (CI).

use crate::harness::openclaw::{COMMAND, HookRun, built_plugin};
use crate::harness::{Person, TestApp};
use clawgate::config::Backend;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Longest the plugin may take to make its request visible on the server.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// The person's pending request with this action, once the plugin has made it (bounded wait).
async fn pending_request(app: &TestApp, person: &Person, action: &str) -> Value {
    let started = Instant::now();
    loop {
        let pending = app.get("/api/v1/approval/pending", &person.auth()).await.expect(200);
        let found = pending.body["requests"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["action"] == action).cloned());
        if let Some(request) = found {
            return request;
        }
        assert!(started.elapsed() < REQUEST_DEADLINE, "the plugin never asked: {}", pending.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn app_with_agent() -> (TestApp, Person, String) {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let person = app.person("ada@example.com").await;
    let key = app.api_key(&person).await;
    (app, person, key)
}

/// What the person sees is what the hook asked: the exact command, the tool and the call's ids.
fn assert_asked_for_the_command(request: &Value) {
    assert_eq!(request["action"], format!("exec: {COMMAND}"));
    assert_eq!(request["agentId"], "live-agent");
    assert_eq!(request["context"]["tool"], "exec");
    assert_eq!(request["context"]["params"]["command"], COMMAND);
    assert_eq!(request["context"]["runId"], "run-7");
    assert_eq!(request["context"]["toolCallId"], "call-42");
    assert_eq!(request["context"]["matched"][0]["id"], "rm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_risky_command_runs_once_the_person_approves_with_a_passkey() {
    let Some(dir) = built_plugin() else { return };
    let (app, mut person, key) = app_with_agent().await;
    let hook = HookRun::new(&dir, &app.base, &key).start();

    let request = pending_request(&app, &person, &format!("exec: {COMMAND}")).await;
    assert_asked_for_the_command(&request);
    let id = request["requestId"].as_str().expect("requestId").to_owned();
    let binding_code = request["bindingCode"].as_str().expect("bindingCode").to_owned();
    let approved_at = Instant::now();
    app.approve(&id, &mut person.key).await.expect(200);

    let outcome = hook.await.expect("the hook run finished");
    assert_eq!(outcome.result, Value::Null, "approved: the call is let through; logs:\n{}", outcome.logs);
    assert!(
        outcome.logs.contains(&binding_code),
        "the binding code is shown while waiting:\n{}",
        outcome.logs
    );
    assert!(outcome.logs.contains(&format!("{id} approved")), "{}", outcome.logs);
    // The decision reaches the hook promptly: by the long-poll, or by re-asking once a second.
    assert!(
        approved_at.elapsed() < Duration::from_secs(10),
        "the hook noticed late: {:?}",
        approved_at.elapsed()
    );

    let status = app.status(&key, &id).await.expect(200);
    assert_eq!(status.body["status"], "APPROVED");
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await,
        1,
        "one request, not one per poll"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_command_is_blocked_with_the_reason() {
    let Some(dir) = built_plugin() else { return };
    let (app, person, key) = app_with_agent().await;
    let hook = HookRun::new(&dir, &app.base, &key).start();

    let request = pending_request(&app, &person, &format!("exec: {COMMAND}")).await;
    assert_asked_for_the_command(&request);
    let id = request["requestId"].as_str().expect("requestId").to_owned();
    let binding_code = request["bindingCode"].as_str().expect("bindingCode").to_owned();
    app.deny(&person, &id).await.expect(200);

    let outcome = hook.await.expect("the hook run finished");
    let reason = outcome.block_reason();
    assert!(reason.contains("denied"), "{reason}");
    assert!(reason.contains(&binding_code) && reason.contains(&id), "{reason}");
    assert!(reason.contains(COMMAND), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_decision_in_time_blocks_the_command() {
    let Some(dir) = built_plugin() else { return };
    let (app, person, key) = app_with_agent().await;
    let mut run = HookRun::new(&dir, &app.base, &key);
    run.timeout_seconds = 3;
    let outcome = run.run().await;

    let reason = outcome.block_reason();
    assert!(reason.contains("no decision") && reason.contains("within 3 s"), "{reason}");
    assert!(
        outcome.elapsed >= Duration::from_millis(2900) && outcome.elapsed < Duration::from_secs(20),
        "blocked after {:?}",
        outcome.elapsed
    );
    // The request it made is still there, undecided, with the code the reason shows.
    let request = pending_request(&app, &person, &format!("exec: {COMMAND}")).await;
    assert!(reason.contains(request["bindingCode"].as_str().expect("bindingCode")), "{reason}");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_blocks_the_command_quickly() {
    let Some(dir) = built_plugin() else { return };
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("http://127.0.0.1:{port}");
    let outcome = HookRun::new(&dir, &url, "ag_not_used").run().await;

    let reason = outcome.block_reason();
    assert!(reason.contains("could not be reached") && reason.contains(&url), "{reason}");
    assert!(outcome.elapsed < Duration::from_secs(15), "blocked after {:?}", outcome.elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_harmless_command_runs_without_asking() {
    let Some(dir) = built_plugin() else { return };
    let (app, person, key) = app_with_agent().await;
    let mut run = HookRun::new(&dir, &app.base, &key);
    run.command = "ls -la".to_owned();
    let outcome = run.run().await;

    assert_eq!(outcome.result, Value::Null, "let through; logs:\n{}", outcome.logs);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 0, "nothing was asked");
    let pending = app.get("/api/v1/approval/pending", &person.auth()).await.expect(200);
    assert_eq!(pending.body["requests"].as_array().map(Vec::len), Some(0));
}

/// Saves `rules` as the person's rule set (the gate decides with it from now on).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_a_server_rule_denies_is_blocked_with_the_rules_reason() {
    let Some(dir) = built_plugin() else { return };
    let (app, person, key) = app_with_agent().await;
    app.save_rules(&person,
        serde_json::json!({"default": "allow", "rules": [
            {"name": "no downloads", "outcome": "deny", "reason": "downloads are not allowed here", "tool": "Bash", "command": "curl*"}
        ]}),
    )
    .await;
    // The local patterns find a plain download harmless; the person's rule decides.
    let mut run = HookRun::new(&dir, &app.base, &key);
    run.command = "curl -fsSL https://x.example/i.sh -o i.sh".to_owned();
    let outcome = run.run().await;

    let reason = outcome.block_reason();
    assert!(reason.contains("downloads are not allowed here"), "{reason}");
    assert!(reason.contains("v1#1") && reason.contains("rule"), "{reason}");
    assert!(outcome.elapsed < Duration::from_secs(15), "decided at once: {:?}", outcome.elapsed);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 0, "nobody was asked");
    let recorded = app
        .scalar_i64(
            "SELECT COUNT(*) FROM gate_decisions WHERE outcome = 'deny' AND decided_by = 'rule' \
             AND decision_ref = 'v1#1' AND action = 'exec: curl -fsSL https://x.example/i.sh -o i.sh' AND tool = 'exec'",
        )
        .await;
    assert_eq!(recorded, 1, "the rule's decision is recorded as the exact command, by the tool's own name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_a_server_rule_allows_runs_without_a_request() {
    let Some(dir) = built_plugin() else { return };
    let (app, person, key) = app_with_agent().await;
    // A command the local patterns (and the default rules) would ask about, allowed by a rule.
    app.save_rules(
        &person,
        serde_json::json!({"default": "ask", "rules": [
            {"name": "clean old data", "outcome": "allow", "tool": "Bash", "command": COMMAND}
        ]}),
    )
    .await;
    let outcome = HookRun::new(&dir, &app.base, &key).run().await;

    assert_eq!(outcome.result, Value::Null, "allowed by a rule: let through; logs:\n{}", outcome.logs);
    assert!(outcome.elapsed < Duration::from_secs(15), "decided at once: {:?}", outcome.elapsed);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 0, "nobody was asked");
    let pending = app.get("/api/v1/approval/pending", &person.auth()).await.expect(200);
    assert_eq!(pending.body["requests"].as_array().map(Vec::len), Some(0));
    let recorded = app
        .scalar_i64(
            "SELECT COUNT(*) FROM gate_decisions WHERE outcome = 'allow' AND decided_by = 'rule' \
             AND decision_ref = 'v1#1' AND action = 'exec: rm -rf ./old-data' AND token_jti IS NOT NULL",
        )
        .await;
    assert_eq!(recorded, 1, "the rule's allow is recorded, with its token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_server_down_the_local_patterns_decide_and_only_block() {
    let Some(dir) = built_plugin() else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("http://127.0.0.1:{port}");

    // A call matching a local pattern is blocked, saying clawgate could not decide.
    let outcome = HookRun::new(&dir, &url, "ag_not_used").run().await;
    let reason = outcome.block_reason();
    assert!(reason.contains("could not decide") && reason.contains(&url), "{reason}");
    assert!(reason.contains("(rm)"), "the local pattern that blocked it is named: {reason}");

    // Issue 17: by default a call matching none is blocked too, saying why.
    let mut run = HookRun::new(&dir, &url, "ag_not_used");
    run.command = "ls -la".to_owned();
    let reason = run.run().await.block_reason().to_owned();
    assert!(
        reason.contains("every call is blocked") && reason.contains("failOpenWhenUnreachable"),
        "{reason}"
    );

    // Failing open (the person's choice), a call matching none runs, as harmless calls did before;
    // the log says clawgate could not decide.
    let mut run = HookRun::new(&dir, &url, "ag_not_used");
    run.command = "ls -la".to_owned();
    run.fail_open = true;
    let outcome = run.run().await;
    assert_eq!(outcome.result, Value::Null, "a harmless call runs; logs:\n{}", outcome.logs);
    assert!(outcome.logs.contains("could not decide"), "{}", outcome.logs);
    assert!(outcome.elapsed < Duration::from_secs(15), "at once: {:?}", outcome.elapsed);
}
