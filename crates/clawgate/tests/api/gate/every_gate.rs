//! The gates' side of review round S (issue 16, `docs/src/security.md`): a 429 blocks in every gate
//! (M1), every gate is bounded by its own timeout and then blocks (L3), a grant for a folder never
//! covers a file a symlink leads out of it (L2), what the person is shown for a call is the call
//! itself (L1), the hook's fallback is the server's own built-in rule set (M3), and a shell tool
//! spelt otherwise is still decided as Bash.

use crate::harness::cli::{assert_exit, clawgate_at, finish, run, run_with_stdin, text};
use crate::harness::{Auth, Resp, TestApp, on_both_backends, on_both_databases};
use clawgate::config::Backend;
use serde_json::{Value, json};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

on_both_databases!(
    tool_names_spelling_bash_are_decided_as_bash,
    l1_an_agents_cwd_in_its_context_is_never_shown_as_the_calls,
    l2_a_write_grant_for_a_folder_never_covers_a_symlink_out_of_it,
);
on_both_backends!(m1_a_key_with_no_place_left_is_blocked_by_every_gate);

const GATE: &str = "/api/v1/gate";

async fn gate(app: &TestApp, key: &str, call: Value) -> Resp {
    app.post(GATE, &Auth::Bearer(key.to_owned()), call).await.expect(200)
}

async fn tool_names_spelling_bash_are_decided_as_bash(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    app.save_rules(&ada, json!({"default": "allow", "rules": [
        {"name": "no pushes", "outcome": "deny", "reason": "pushing is for people", "tool": "Bash", "command": "git push*"}
    ]}))
    .await;
    for tool in ["bash", "BASH", "Bash ", "Bash"] {
        let call = json!({"tool": tool, "input": {"command": "git status && git push origin main"}, "cwd": "/srv/app"});
        let r = gate(&app, &key, call).await;
        assert_eq!(r.body["decision"], "deny", "{tool:?}: {}", r.text);
        assert_eq!(r.body["rule"], "v1#1", "{tool:?}: {}", r.text);
    }
    // The person is shown the agent's own spelling of the tool.
    let shown = app
        .scalar_i64("SELECT COUNT(*) FROM gate_decisions WHERE tool = 'bash' AND action = 'bash: git status && git push origin main'")
        .await;
    assert_eq!(shown, 1);
}

async fn l1_an_agents_cwd_in_its_context_is_never_shown_as_the_calls(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    app.save_rules(&ada, json!({"default": "ask"})).await;
    let call = json!({"tool": "Bash", "input": {"command": "cargo test"}, "context": {"cwd": "/srv/app", "ticket": 7}});
    let asked = gate(&app, &key, call).await;
    assert_eq!(asked.body["decision"], "ask", "{}", asked.text);
    let id = asked.body["requestId"].as_str().expect("requestId");
    let one = app.get(&format!("/api/v1/approval/{id}"), &ada.auth()).await.expect(200);
    let context = &one.body["context"];
    assert!(context.get("cwd").is_none(), "no directory is shown for a call without one: {context}");
    assert_eq!(context["ticket"], 7, "the rest of the agent's context stays: {context}");
    let offered: Vec<&str> = one.body["grantOptions"]
        .as_array()
        .expect("grantOptions")
        .iter()
        .filter_map(|o| o["description"].as_str())
        .collect();
    assert!(offered.iter().all(|d| !d.contains("/srv/app")), "{offered:?}");

    // With a directory of its own, that one is shown, whatever the context says.
    let call = json!({"tool": "Bash", "input": {"command": "cargo test"}, "cwd": "/srv/real", "context": {"cwd": "/srv/app"}});
    let asked = gate(&app, &key, call).await;
    let id = asked.body["requestId"].as_str().expect("requestId");
    let one = app.get(&format!("/api/v1/approval/{id}"), &ada.auth()).await.expect(200);
    assert_eq!(one.body["context"]["cwd"], "/srv/real");
}

/// A PreToolUse event for a Bash command, as Claude Code sends it.
fn bash_event(command: &str) -> String {
    json!({
        "session_id": "s1", "cwd": "/home/ada/demo", "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_input": { "command": command }, "tool_use_id": "toolu_1"
    })
    .to_string()
}

/// `clawgate hook claude-code` on `event`, with `--timeout SECS`.
async fn hook(url: &str, key: &str, secs: u64, event: &str) -> Output {
    let mut cmd = clawgate_at(url, key);
    cmd.args(["hook", "claude-code"]).env("CLAWGATE_HOOK_TIMEOUT", secs.to_string());
    run_with_stdin(cmd, event).await
}

/// The hook against a server it never reached, opted into failing open (issue 17): the built-in
/// rules decide.
async fn hook_failing_open(url: &str, key: &str, event: &str) -> Output {
    let mut cmd = clawgate_at(url, key);
    cmd.args(["hook", "claude-code", "--fail-open"]).env("CLAWGATE_HOOK_TIMEOUT", "20");
    run_with_stdin(cmd, event).await
}

/// `clawgate gate --timeout SECS -- ls -la`.
async fn gate_cli(url: &str, key: &str, secs: u64) -> Output {
    let mut cmd = clawgate_at(url, key);
    cmd.args(["gate", "--timeout", &secs.to_string(), "--", "ls", "-la"]);
    run(cmd).await
}

/// `clawgate exec --gate --timeout SECS -- touch FILE` (`--gate` is the default since issue 17): whether FILE was made, and the output.
async fn exec_gate(url: &str, key: &str, secs: u64) -> (bool, Output) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("ran");
    let mut cmd = clawgate_at(url, key);
    cmd.args(["exec", "--gate", "--timeout", &secs.to_string(), "--", "touch"]).arg(&file);
    let out = run(cmd).await;
    (file.exists(), out)
}

/// `clawgate mcp --gate`, driven by hand (JSON-RPC lines on stdin and stdout): the result of one
/// `gate_tool_call` of `ls -la` with `timeoutSeconds: SECS`.
async fn mcp_gate(url: &str, key: &str, secs: u64) -> Value {
    let mut cmd = clawgate_at(url, key);
    cmd.args(["mcp", "--gate"]).env("LOG_LEVEL", "error").stdin(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn clawgate mcp");
    let mut stdin = child.stdin.take().expect("stdin");
    let call =
        json!({"tool": "Bash", "input": {"command": "ls -la"}, "cwd": "/srv/app", "timeoutSeconds": secs});
    for message in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "gate_tool_call", "arguments": call}}),
    ] {
        stdin.write_all(format!("{message}\n").as_bytes()).await.expect("write");
    }
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let answer = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            let message: Value = serde_json::from_str(&line).expect("JSON-RPC");
            if message["id"] == 2 {
                return message["result"].clone();
            }
        }
        panic!("clawgate mcp ended without answering the call")
    })
    .await
    .expect("clawgate mcp answers");
    drop(stdin);
    finish(child).await;
    answer
}

/// The words of an MCP tool result, which must be a "no".
#[track_caller]
fn refused(result: &Value) -> &str {
    assert_eq!(result["isError"], true, "{result}");
    result["content"][0]["text"].as_str().expect("text")
}

#[track_caller]
fn assert_says(out: &Output, words: &str) {
    let stderr = text(&out.stderr);
    assert!(stderr.contains(words), "stderr should say {words:?}: {stderr}");
}

/// M1: a key whose pending places are all taken gets 429 from the gate. A call the person's rules
/// ask about (here every call) is then blocked by every gate, never passed as if the server were
/// down; the Retry-After beyond the gate's timeout is not waited out.
async fn m1_a_key_with_no_place_left_is_blocked_by_every_gate(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |a| a.max_pending_per_key = 1).await else { return };
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    app.save_rules(&ada, json!({"default": "ask"})).await;
    app.ask(&key, "take the only place").await;
    let full = app
        .post(GATE, &Auth::Bearer(key.clone()), json!({"tool": "Bash", "input": {"command": "ls -la"}}))
        .await;
    full.expect_error(429, "too_many_pending");

    let started = Instant::now();
    let out = hook(&app.base, &key, 20, &bash_event("ls -la")).await;
    assert_exit(&out, 2);
    assert_says(&out, "429");
    assert!(out.stdout.is_empty(), "no allow: {}", text(&out.stdout));

    let out = gate_cli(&app.base, &key, 20).await;
    assert_exit(&out, 1);
    assert_says(&out, "too_many_pending");
    assert!(!text(&out.stdout).contains("allow"), "{}", text(&out.stdout));

    let (ran, out) = exec_gate(&app.base, &key, 20).await;
    assert!(!ran, "the command must not run: {}", text(&out.stderr));
    assert_says(&out, "too_many_pending");

    let result = mcp_gate(&app.base, &key, 20).await;
    assert!(refused(&result).contains("too_many_pending"), "{result}");
    // The Retry-After (the place frees in 300 s) is beyond every gate's 20 s: none waited for it.
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM gate_decisions").await, 0);
}

/// A server that accepts connections and never answers: its URL. It holds them until the test ends.
async fn stalled_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    url
}

/// How late past its own timeout a gate may answer: starting the process, nothing more.
const MARGIN: Duration = Duration::from_secs(2);

/// L3: against a server that accepts and never answers, every gate gives up at its own timeout
/// (connecting, the request and the wait all together), says it timed out, and blocks; a
/// harmless call is not let through as if the server were merely unreachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l3_every_gate_gives_up_at_its_own_timeout_and_blocks() {
    let url = stalled_server().await;
    let timeout = Duration::from_secs(2);
    let secs = timeout.as_secs();
    let timed = |started: Instant| {
        let took = started.elapsed();
        assert!(took < timeout + MARGIN, "answered after {took:?}, beyond its {timeout:?}");
    };

    let started = Instant::now();
    let out = hook(&url, "ag_x", secs, &bash_event("ls -la")).await;
    timed(started);
    assert_exit(&out, 2);
    assert_says(&out, "timed out");

    let started = Instant::now();
    let out = gate_cli(&url, "ag_x", secs).await;
    timed(started);
    assert_exit(&out, 1);
    assert_says(&out, "timed out");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));

    let started = Instant::now();
    let (ran, out) = exec_gate(&url, "ag_x", secs).await;
    timed(started);
    assert!(!ran, "the command must not run: {}", text(&out.stderr));
    assert_says(&out, "timed out");

    let started = Instant::now();
    let result = mcp_gate(&url, "ag_x", secs).await;
    timed(started);
    assert!(refused(&result).contains("timed out"), "{result}");
}

/// L3, the OpenClaw plugin: against a server that never answers, its gate request ends at the
/// plugin's `timeoutSeconds` and the call is blocked, a harmless one too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l3_the_openclaw_plugin_gives_up_at_its_own_timeout_and_blocks() {
    let Some(dir) = crate::harness::openclaw::built_plugin() else { return };
    let url = stalled_server().await;
    let mut run = crate::harness::openclaw::HookRun::new(&dir, &url, "ag_x");
    run.command = "ls -la".to_owned();
    run.timeout_seconds = 2;
    let outcome = run.run().await;
    let reason = outcome.block_reason();
    assert!(reason.contains("timed out") && !reason.contains("could not decide"), "{reason}");
    // Starting node and loading the plugin is most of the margin.
    assert!(outcome.elapsed < Duration::from_secs(2) + 2 * MARGIN, "blocked after {:?}", outcome.elapsed);
}

/// A PreToolUse event for a Write of `file` in `cwd` (each file its own tool call).
fn write_event(file: &std::path::Path, cwd: &std::path::Path) -> String {
    json!({
        "session_id": "s1", "cwd": cwd, "hook_event_name": "PreToolUse", "tool_name": "Write",
        "tool_input": { "file_path": file, "content": "export PATH=/tmp/evil:$PATH" },
        "tool_use_id": format!("toolu_{}", file.display())
    })
    .to_string()
}

/// L2: with a standing grant "any Write in P", the hook's Write of `P/h/.bashrc`, where `h` is a
/// symlink out of P, is not allowed by the grant: the hook sends where the file really is, and the
/// person is asked about that file, shown the path as the agent wrote it too. A file really in P
/// still passes under the grant.
async fn l2_a_write_grant_for_a_folder_never_covers_a_symlink_out_of_it(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    app.save_rules(&ada, json!({"default": "ask"})).await;
    let (folder, outside) = (tempfile::tempdir().expect("P"), tempfile::tempdir().expect("elsewhere"));
    let p = folder.path().canonicalize().expect("P");
    let elsewhere = outside.path().canonicalize().expect("elsewhere");
    std::os::unix::fs::symlink(&elsewhere, p.join("h")).expect("symlink");
    std::fs::create_dir(p.join("real")).expect("P/real");

    // The grant: any Write by the hook's agent in P, chosen when approving a first Write there.
    let first = json!({"tool": "Write", "input": {"file_path": p.join("real/first"), "content": "x"}, "cwd": p, "agentId": "claude-code"});
    let asked = gate(&app, &key, first).await;
    let id = asked.body["requestId"].as_str().expect("requestId");
    let start = app
        .post(
            "/api/v1/passkey/authenticate/start",
            &Auth::None,
            json!({"requestId": id, "grant": {"width": "toolInCwd", "ttlSeconds": 3600}}),
        )
        .await
        .expect(200);
    let credential = ada.key.get(&start.body["publicKey"]).await;
    let approved = app.send_approval(id, &start.body["ceremonyId"], &credential).await.expect(200);
    let grant = approved.body["grantId"].as_str().expect("grantId").to_owned();

    let out = hook(&app.base, &key, 20, &write_event(&p.join("real/file"), &p)).await;
    assert_exit(&out, 0);
    let answer: Value = serde_json::from_slice(&out.stdout).expect("allow JSON");
    let reason = answer["hookSpecificOutput"]["permissionDecisionReason"].as_str().expect("reason");
    assert!(reason.contains(&grant), "a file in P passes under the grant: {reason}");

    // Through the symlink: the grant does not cover it; the person is asked about the real file.
    for file in [p.join("h/.bashrc"), std::path::PathBuf::from("h/.bashrc")] {
        let mut cmd = clawgate_at(&app.base, &key);
        cmd.args(["hook", "claude-code"]).env("CLAWGATE_HOOK_TIMEOUT", "20").stdin(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn the hook");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(write_event(&file, &p).as_bytes()).await.expect("event");
        drop(stdin);
        let request = crate::harness::cli::the_pending_request(&app, &ada).await;
        assert_eq!(request["action"], format!("Write {}", elsewhere.join(".bashrc").display()));
        assert_eq!(request["context"]["requestedPath"], json!(file));
        app.deny(&ada, request["requestId"].as_str().expect("id")).await.expect(200);
        let out = finish(child).await;
        assert_exit(&out, 2);
        assert_says(&out, "DENIED");
    }
    let uses = app.get("/api/v1/grants", &ada.auth()).await.expect(200);
    assert_eq!(uses.body["grants"][0]["uses"], 1, "{}", uses.text);
}

/// M3: when the server cannot decide, the hook blocks what the server's built-in rule set would
/// ask about, shell-aware (quoted programs, commands the old regexes never listed), and lets the
/// rest through: the same list the gate decides with, not a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m3_the_hooks_fallback_is_the_servers_built_in_rule_set() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let down = crate::harness::cli::closed_port_url();
    for (command, asked) in [
        ("'rm' -rf ./build", true),
        ("npm unpublish my-package", true),
        ("bun publish", true),
        ("helm delete web", true),
        ("ls -la", false),
        ("git push origin main", false),
    ] {
        let on_server = gate(&app, &key, json!({"tool": "Bash", "input": {"command": command}})).await;
        let expected = if asked { "ask" } else { "allow" };
        assert_eq!(on_server.body["decision"], expected, "{command}: {}", on_server.text);
        let out = hook_failing_open(&down, &key, &bash_event(command)).await;
        if asked {
            assert_exit(&out, 2);
            assert_says(&out, "could not decide");
            assert_says(&out, "the built-in rules ask about it");
        } else {
            assert_exit(&out, 0);
            // Issue 17: a call let through while the server is unreachable says so (it was
            // silent before).
            assert!(out.stdout.is_empty(), "{command}");
            assert_says(&out, "--fail-open lets it run");
        }
    }
}
