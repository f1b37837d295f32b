//! `clawgate hook claude-code` as Claude Code runs it: a PreToolUse event on stdin, and an answer
//! in the hook protocol: allow JSON, exit 2 with the reason, or nothing at all. It fails closed.

use crate::harness::cli::{
    assert_exit, clawgate, clawgate_at, closed_port_url, finish, run_with_stdin, text,
};
use crate::harness::{Person, TestApp};
use clawgate::config::Backend;
use serde_json::{Value, json};
use std::process::{Output, Stdio};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// A PreToolUse event for a Bash command, as Claude Code sends it.
fn bash_event(command: &str) -> String {
    json!({
        "session_id": "abc123",
        "transcript_path": "/home/ada/.claude/projects/demo/abc123.jsonl",
        "cwd": "/home/ada/demo",
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": { "command": command, "description": "Remove the build folder" },
        "tool_use_id": "toolu_01ABC123"
    })
    .to_string()
}

fn hook(mut cmd: Command) -> Command {
    cmd.args(["hook", "claude-code"]);
    cmd
}

async fn requests(app: &TestApp) -> i64 {
    app.scalar_i64("SELECT COUNT(*) FROM approval_requests").await
}

async fn setup() -> (TestApp, Person, String) {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    (app, ada, key)
}

/// Starts the hook on `event` and returns once its request is waiting for a decision.
async fn hook_waiting(app: &TestApp, ada: &Person, key: &str, event: &str) -> (tokio::process::Child, Value) {
    let mut cmd = hook(clawgate(app, key));
    let mut child = cmd.stdin(Stdio::piped()).spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(event.as_bytes()).await.expect("event");
    drop(stdin);
    let request = crate::harness::cli::the_pending_request(app, ada).await;
    crate::harness::waiting::until_waiting(app, 1).await;
    (child, request)
}

#[track_caller]
fn assert_blocked(out: &Output, why: &str) {
    assert_exit(out, 2);
    assert!(out.stdout.is_empty(), "no JSON with exit 2: {}", text(&out.stdout));
    assert!(text(&out.stderr).contains(why), "stderr should say {why:?}: {}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_risky_command_is_allowed() {
    let (app, mut ada, key) = setup().await;
    let (child, request) = hook_waiting(&app, &ada, &key, &bash_event("rm -rf ./build")).await;
    // The person sees the exact command, who asks, and why.
    assert_eq!(request["action"], "rm -rf ./build");
    assert_eq!(request["agentId"], "claude-code");
    assert_eq!(request["context"]["tool"], "Bash");
    assert_eq!(request["context"]["rule"], "rm -r/-f");
    assert_eq!(request["context"]["cwd"], "/home/ada/demo");
    assert_eq!(request["context"]["description"], "Remove the build folder");
    let id = request["requestId"].as_str().expect("id");
    app.approve(id, &mut ada.key).await.expect(200);
    let out = finish(child).await;
    assert_exit(&out, 0);
    let answer: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    assert_eq!(answer["hookSpecificOutput"]["hookEventName"], "PreToolUse");
    assert_eq!(answer["hookSpecificOutput"]["permissionDecision"], "allow");
    let reason = answer["hookSpecificOutput"]["permissionDecisionReason"].as_str().expect("reason");
    assert!(reason.contains(id), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_command_is_blocked_with_the_reason() {
    let (app, ada, key) = setup().await;
    let (child, request) = hook_waiting(&app, &ada, &key, &bash_event("git push --force origin main")).await;
    app.deny(&ada, request["requestId"].as_str().expect("id")).await.expect(200);
    assert_blocked(&finish(child).await, "DENIED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_decision_in_time_is_a_block() {
    let (app, _ada, key) = setup().await;
    let mut cmd = hook(clawgate(&app, &key));
    cmd.env("CLAWGATE_HOOK_TIMEOUT", "1");
    let out = run_with_stdin(cmd, &bash_event("terraform destroy -auto-approve")).await;
    assert_blocked(&out, "no decision");
    assert_eq!(requests(&app).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_or_misconfigured_clawgate_blocks() {
    let (app, _ada, key) = setup().await;
    let event = bash_event("npm publish");
    let out = run_with_stdin(hook(clawgate_at(&closed_port_url(), &key)), &event).await;
    assert_blocked(&out, "cannot reach clawgate");
    let out = run_with_stdin(hook(clawgate(&app, "")), &event).await;
    assert_blocked(&out, "misconfigured");
    let out = run_with_stdin(hook(clawgate(&app, "ag_not_a_real_key")), &event).await;
    assert_blocked(&out, "401");
    let mut bad_rule = hook(clawgate(&app, &key));
    bad_rule.env("CLAWGATE_HOOK_PATTERNS", "(unclosed");
    // A broken rule could miss anything: every call is blocked, even a harmless one.
    let out = run_with_stdin(bad_rule, &bash_event("ls -la")).await;
    assert_blocked(&out, "misconfigured");
    assert_eq!(requests(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harmless_calls_pass_through_untouched() {
    let (app, _ada, key) = setup().await;
    for event in [
        bash_event("ls -la"),
        bash_event("cargo test"),
        json!({
            "session_id": "abc123", "transcript_path": "/t.jsonl", "cwd": "/home/ada/demo",
            "hook_event_name": "PreToolUse", "tool_name": "Read",
            "tool_input": { "file_path": "/home/ada/demo/README.md" }
        })
        .to_string(),
    ] {
        let out = run_with_stdin(hook(clawgate(&app, &key)), &event).await;
        assert_exit(&out, 0);
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "no output at all: {}", text(&out.stderr));
    }
    assert_eq!(requests(&app).await, 0, "nothing was asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_input_fails_closed() {
    let (app, _ada, key) = setup().await;
    for (input, why) in [
        ("", "not PreToolUse JSON"),
        ("{not json", "not PreToolUse JSON"),
        (r#"{"hook_event_name": "PreToolUse"}"#, "not PreToolUse JSON"),
        (
            r#"{"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}}"#,
            "handles PreToolUse events",
        ),
    ] {
        assert_blocked(&run_with_stdin(hook(clawgate(&app, &key)), input).await, why);
    }
    assert_eq!(requests(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_configurable() {
    // Against a server that is not there: a call that needs approval is blocked, one that
    // does not passes without asking.
    let down = closed_port_url();
    let configured = |cmd: &mut Command| {
        cmd.args(["--no-default-patterns", "--pattern", r"\bdeploy\b"]).env(
            "CLAWGATE_HOOK_PATTERNS",
            r#"[{"tool": "Write|Edit", "pattern": "\\.env$", "name": "env files"}]"#,
        );
    };
    let write_env = json!({
        "hook_event_name": "PreToolUse", "tool_name": "Write", "cwd": "/p",
        "tool_input": { "file_path": "/p/.env", "content": "CLAWGATE_URL=http://evil" }
    })
    .to_string();
    for (event, blocked) in
        [(bash_event("./deploy prod"), true), (write_env, true), (bash_event("rm -rf ./build"), false)]
    {
        let mut cmd = hook(clawgate_at(&down, "ag_x"));
        configured(&mut cmd);
        // Nothing was kept from a server never reached: only opting in lets calls through.
        cmd.arg("--fail-open");
        let out = run_with_stdin(cmd, &event).await;
        assert_exit(&out, if blocked { 2 } else { 0 });
    }
}

/// The settings `--print-settings` prints fail closed and outlast the hook's wait, and they are
/// the ones the book's Claude Code chapter shows.
#[test]
fn the_printed_settings_fail_closed_and_are_the_books() {
    let print = |extra: &[&str]| -> Value {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawgate"))
            .args(["hook", "claude-code", "--print-settings"])
            .args(extra)
            .env_clear()
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("JSON settings")
    };
    let settings = print(&[]);
    let entry = &settings["hooks"]["PreToolUse"][0];
    let hook = &entry["hooks"][0];
    assert_eq!((entry["matcher"].as_str(), hook["type"].as_str()), (Some("Bash"), Some("command")));
    assert_eq!(hook["onFailure"], "block", "a hook that cannot start or is killed must block");
    assert_eq!(hook["timeout"], 330, "above the hook's own 300 s wait");
    assert_eq!(settings["env"]["CLAWGATE_API_KEY"], "ag_…", "never a real key");

    let wider = print(&["--timeout", "500", "--outside-project"]);
    let (entry, hook) = (&wider["hooks"]["PreToolUse"][0], &wider["hooks"]["PreToolUse"][0]["hooks"][0]);
    assert_eq!(hook["timeout"], 530);
    // Issue 17: every flag given reaches the command (`--outside-project` was dropped before).
    assert_eq!(hook["command"], "clawgate hook claude-code --timeout 500 --outside-project");
    let own = print(&["--pattern", r"\bdeploy\b", "--fail-open", "--agent", "ci bot"]);
    assert_eq!(
        own["hooks"]["PreToolUse"][0]["hooks"][0]["command"],
        r"clawgate hook claude-code --agent 'ci bot' --fail-open --pattern '\bdeploy\b'"
    );
    assert!(entry["matcher"].as_str().is_some_and(|m| m.split('|').any(|t| t == "Write")));

    // The chapter's first JSON block is the settings.
    let chapter = crate::harness::repo::read(CLAUDE_CODE_CHAPTER);
    let block = chapter.split("```json\n").nth(1).and_then(|b| b.split("```").next()).expect("a JSON block");
    let shown: Value = serde_json::from_str(block).expect("the chapter's settings parse");
    assert_eq!(shown, settings, "{CLAUDE_CODE_CHAPTER} shows what --print-settings prints");
}

/// The book's chapter on the Claude Code hook, from the repository's root.
const CLAUDE_CODE_CHAPTER: &str = "docs/src/integrations/claude-code.md";
