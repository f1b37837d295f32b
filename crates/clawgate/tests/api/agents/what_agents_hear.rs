//! Issue 17 (items 3, 4, 8) where the agent runs: `clawgate request`, `exec` and `gate`, the Claude
//! Code hook and `clawgate mcp`, run as the real binary, and the built OpenClaw plugin in `node`. Each says the binding code and the approve
//! page on stderr (MCP: in a progress notification) as soon as the request exists, while it waits,
//! and with a denial what the person said: their reason, marked, or that they stopped every agent.

use crate::harness::cli::clawgate;
use crate::harness::openclaw::{HookRun, built_plugin};
use crate::harness::waiting::until_waiting;
use crate::harness::{Person, TestApp, on_both_databases};
use serde_json::{Value, json};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::time::timeout;

on_both_databases!(
    clawgate_request_shows_code_and_page_while_waiting_and_the_reason_marked_after,
    clawgate_exec_and_gate_show_code_and_page_while_waiting_and_the_reason_after,
    the_hook_shows_code_and_page_at_once_and_blocks_with_the_persons_reason,
    mcp_tells_the_reason_in_words_and_data_and_its_progress_carries_code_and_page,
    a_stop_reaches_the_cli_the_hook_and_mcp_as_a_stop,
    the_openclaw_plugin_names_the_page_and_blocks_with_the_persons_reason_or_the_stop,
);

const REASON: &str = "use git revert instead";
const STOPPED: &str = "stopped by the person (Stop all agents)";
/// Longest a step of the binary may take (starting, asking, answering after a decision).
const STEP: Duration = Duration::from_secs(30);

/// The binary, running, its stderr read line by line while it waits.
struct Running {
    child: Child,
    stderr: Lines<BufReader<ChildStderr>>,
    /// Every stderr line read so far.
    said: Vec<String>,
}

impl Running {
    fn start(mut cmd: Command, stdin: Option<&str>) -> Self {
        let mut child =
            cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).spawn().expect("spawn");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            let input = input.to_owned();
            tokio::spawn(async move {
                pipe.write_all(input.as_bytes()).await.expect("write stdin");
            });
        }
        let stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        Self { child, stderr, said: Vec::new() }
    }

    /// The first stderr line holding `words`, read while the binary still runs.
    async fn line_with(&mut self, words: &str) -> String {
        let found = timeout(STEP, async {
            while let Some(line) = self.stderr.next_line().await.expect("stderr") {
                self.said.push(line.clone());
                if line.contains(words) {
                    return line;
                }
            }
            panic!("stderr ended without {words:?}: {:?}", self.said)
        })
        .await;
        found.unwrap_or_else(|_| panic!("no {words:?} on stderr in time: {:?}", self.said))
    }

    /// Waits for the end: the exit status, stdout and the whole of stderr.
    async fn finish(mut self) -> (ExitStatus, String, String) {
        let mut stdout = String::new();
        let mut out: ChildStdout = self.child.stdout.take().expect("stdout");
        let ended = timeout(STEP, async {
            out.read_to_string(&mut stdout).await.expect("stdout");
            while let Some(line) = self.stderr.next_line().await.expect("stderr") {
                self.said.push(line);
            }
            self.child.wait().await.expect("exit")
        })
        .await
        .expect("the binary ends after the decision");
        (ended, stdout, self.said.join("\n"))
    }
}

/// The person's pending request, once there (bounded).
async fn pending(app: &TestApp, who: &Person) -> Value {
    crate::harness::cli::the_pending_request(app, who).await
}

async fn deny(app: &TestApp, who: &Person, id: &str, reason: &str) {
    app.post(&format!("/api/v1/approval/deny/{id}"), &who.auth(), json!({ "reason": reason }))
        .await
        .expect(200);
}

/// The waiting line names the request's binding code and its approve page on this server.
#[track_caller]
fn assert_names_code_and_page(app: &TestApp, line: &str, request: &Value) {
    let id = request["requestId"].as_str().expect("id");
    let code = request["bindingCode"].as_str().expect("code");
    let page = format!("{}/approve/{id}", app.origin);
    assert!(
        line.contains(&format!("code {code}")) && line.contains(&page),
        "{line:?} should name {code} and {page}"
    );
}

/// A PreToolUse event for a Bash command, as Claude Code sends it.
fn bash_event(command: &str) -> String {
    json!({
        "session_id": "s1", "cwd": "/home/ada/demo", "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_input": { "command": command }, "tool_use_id": "toolu_17"
    })
    .to_string()
}

async fn clawgate_request_shows_code_and_page_while_waiting_and_the_reason_marked_after(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let mut cmd = clawgate(&app, &key);
    cmd.args(["request", "git push --force origin main", "--wait"]);
    let mut running = Running::start(cmd, None);
    let line = running.line_with("waiting for approval").await;
    let request = pending(&app, &ada).await;
    assert_names_code_and_page(&app, &line, &request);
    // Said before anyone decided: the request is still pending.
    assert_eq!(request["status"], "PENDING");

    let id = request["requestId"].as_str().expect("id");
    deny(&app, &ada, id, &format!("{REASON}\u{1b}[2J")).await;
    let (status, stdout, stderr) = running.finish().await;
    assert_eq!(status.code(), Some(3), "denied: {stderr}");
    assert!(stdout.is_empty(), "no token: {stdout:?}");
    assert!(stderr.contains(&format!("DENIED; the person said: {REASON}[U+001B][2J")), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no escape reaches the terminal: {stderr:?}");

    // Without --wait the code and the page are said too.
    let mut cmd = clawgate(&app, &key);
    cmd.args(["request", "rotate the TLS key"]);
    let (status, stdout, stderr) = Running::start(cmd, None).finish().await;
    assert!(status.success(), "{stderr}");
    let id = stdout.trim();
    assert!(stderr.contains(&format!("{}/approve/{id}", app.origin)), "{stderr}");
}

async fn clawgate_exec_and_gate_show_code_and_page_while_waiting_and_the_reason_after(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("ran");
    let mut cmd = clawgate(&app, &key);
    cmd.args(["exec", "--ask", "--", "touch"]).arg(&file);
    let mut running = Running::start(cmd, None);
    let line = running.line_with("waiting for approval").await;
    let request = pending(&app, &ada).await;
    assert_names_code_and_page(&app, &line, &request);
    deny(&app, &ada, request["requestId"].as_str().expect("id"), REASON).await;
    let (status, _, stderr) = running.finish().await;
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&format!("the person said: {REASON}; the command was not run")), "{stderr}");
    assert!(!file.exists(), "the command never ran");

    // `clawgate gate` on a call the built-in rules ask about.
    let mut cmd = clawgate(&app, &key);
    cmd.args(["gate", "--command", "git push --force origin feature"]);
    let mut running = Running::start(cmd, None);
    let line = running.line_with("waiting for approval").await;
    let request = pending(&app, &ada).await;
    assert_names_code_and_page(&app, &line, &request);
    deny(&app, &ada, request["requestId"].as_str().expect("id"), REASON).await;
    let (status, stdout, stderr) = running.finish().await;
    assert_eq!((status.code(), stdout.as_str()), (Some(3), "deny\n"), "{stderr}");
    assert!(stderr.contains(&format!("the person said: {REASON}")), "{stderr}");
}

async fn the_hook_shows_code_and_page_at_once_and_blocks_with_the_persons_reason(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let mut cmd = clawgate(&app, &key);
    cmd.args(["hook", "claude-code"]);
    let mut running = Running::start(cmd, Some(&bash_event("git push --force origin main")));
    let line = running.line_with("waiting for approval").await;
    let request = pending(&app, &ada).await;
    assert_names_code_and_page(&app, &line, &request);
    deny(&app, &ada, request["requestId"].as_str().expect("id"), REASON).await;
    let (status, stdout, stderr) = running.finish().await;
    assert_eq!(status.code(), Some(2), "blocked: {stderr}");
    assert!(stdout.is_empty(), "no JSON with a block: {stdout:?}");
    let block = stderr.lines().skip_while(|l| !l.contains("DENIED")).collect::<Vec<_>>().join("\n");
    assert!(block.contains(&format!("and said: {REASON}")), "the block message carries the reason: {stderr}");
    // The message Claude gets names the code and the page again.
    assert_names_code_and_page(&app, &block, &request);
}

/// `clawgate mcp --gate` driven with JSON-RPC lines on stdin and stdout, as a client would.
struct Mcp {
    child: Child,
    stdin: tokio::process::ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Mcp {
    async fn start(app: &TestApp, key: &str) -> Self {
        let mut cmd = clawgate(app, key);
        cmd.args(["mcp", "--gate"]).env("LOG_LEVEL", "error").stdin(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn clawgate mcp");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut mcp = Self { child, stdin, lines };
        mcp.send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}})).await;
        mcp.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        mcp.next(|m| m["id"] == 0).await;
        mcp
    }

    async fn send(&mut self, message: Value) {
        self.stdin.write_all(format!("{message}\n").as_bytes()).await.expect("write");
    }

    /// Calls `tool` with a progress token (`id` doubles as the token).
    async fn call(&mut self, id: i64, tool: &str, arguments: Value) {
        let params = json!({"name": tool, "arguments": arguments, "_meta": {"progressToken": id}});
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})).await;
    }

    /// The next message that `pick` takes (others are skipped).
    async fn next(&mut self, pick: impl Fn(&Value) -> bool) -> Value {
        timeout(STEP, async {
            while let Some(line) = self.lines.next_line().await.expect("read") {
                let message: Value = serde_json::from_str(&line).expect("JSON-RPC");
                if pick(&message) {
                    return message;
                }
            }
            panic!("clawgate mcp ended early")
        })
        .await
        .expect("clawgate mcp answers in time")
    }

    /// The first progress notification of call `id`: its message.
    async fn progress(&mut self, id: i64) -> String {
        let note = self
            .next(|m| m["method"] == "notifications/progress" && m["params"]["progressToken"] == id)
            .await;
        note["params"]["message"].as_str().expect("a message").to_owned()
    }

    async fn result(&mut self, id: i64) -> Value {
        self.next(|m| m["id"] == id).await["result"].clone()
    }

    async fn end(mut self) {
        drop(self.stdin);
        let _ = timeout(STEP, self.child.wait()).await;
    }
}

async fn mcp_tells_the_reason_in_words_and_data_and_its_progress_carries_code_and_page(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let mut mcp = Mcp::start(&app, &key).await;
    mcp.call(1, "request_approval", json!({"action": "drop table customers", "timeoutSeconds": 60})).await;
    let said = mcp.progress(1).await;
    let request = pending(&app, &ada).await;
    assert_names_code_and_page(&app, &said, &request);
    let id = request["requestId"].as_str().expect("id").to_owned();
    deny(&app, &ada, &id, REASON).await;
    let result = mcp.result(1).await;
    assert_eq!(result["isError"], true, "a no: {result}");
    let text = result["content"][0]["text"].as_str().expect("text");
    assert!(text.contains("NOT APPROVED") && text.contains(&format!("said: {REASON}")), "{text}");
    let data = &result["structuredContent"];
    assert_eq!((&data["status"], &data["denyReason"]), (&json!("DENIED"), &json!(REASON)), "{data}");
    assert_eq!(data["approveUrl"], format!("{}/approve/{id}", app.origin), "{data}");

    // gate_tool_call on a call the built-in rules ask about.
    let call = json!({"tool": "Bash", "input": {"command": "git push --force origin main"}, "cwd": "/srv/app", "timeoutSeconds": 60});
    mcp.call(2, "gate_tool_call", call).await;
    let said = mcp.progress(2).await;
    let request = pending(&app, &ada).await;
    assert_names_code_and_page(&app, &said, &request);
    deny(&app, &ada, request["requestId"].as_str().expect("id"), REASON).await;
    let result = mcp.result(2).await;
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(result["structuredContent"]["denyReason"], REASON, "{result}");
    mcp.end().await;
}

async fn a_stop_reaches_the_cli_the_hook_and_mcp_as_a_stop(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let mut cmd = clawgate(&app, &key);
    cmd.args(["request", "deploy to production", "--wait"]);
    let mut request = Running::start(cmd, None);
    request.line_with("waiting for approval").await;
    let mut cmd = clawgate(&app, &key);
    cmd.args(["hook", "claude-code"]);
    let mut hook = Running::start(cmd, Some(&bash_event("git push --force origin main")));
    hook.line_with("waiting for approval").await;
    let mut mcp = Mcp::start(&app, &key).await;
    mcp.call(1, "request_approval", json!({"action": "drop table customers", "timeoutSeconds": 60})).await;
    mcp.progress(1).await;
    // All three are parked on their requests before the stop.
    until_waiting(&app, 3).await;
    app.post("/api/v1/stop", &ada.auth(), json!({})).await.expect(200);

    let (status, _, stderr) = request.finish().await;
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&format!("DENIED: {STOPPED}")), "{stderr}");
    let (status, _, stderr) = hook.finish().await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("DENIED: {STOPPED}")), "{stderr}");
    let result = mcp.result(1).await;
    let text = result["content"][0]["text"].as_str().expect("text");
    assert!(text.starts_with(&format!("NOT APPROVED: {STOPPED}")), "{text}");
    let data = &result["structuredContent"];
    assert_eq!((&data["decidedBy"], &data["denyReason"]), (&json!("stop"), &json!(STOPPED)), "{data}");
    mcp.end().await;

    // A new ask with the suspended key is refused, naming the stop.
    let mut cmd = clawgate(&app, &key);
    cmd.args(["request", "again"]);
    let (status, _, stderr) = Running::start(cmd, None).finish().await;
    assert_exit_code(status, 1, &stderr);
    assert!(stderr.contains("stopped every agent (Stop all agents)"), "{stderr}");
}

#[track_caller]
fn assert_exit_code(status: ExitStatus, code: i32, stderr: &str) {
    assert_eq!(status.code(), Some(code), "{stderr}");
}

async fn the_openclaw_plugin_names_the_page_and_blocks_with_the_persons_reason_or_the_stop(app: TestApp) {
    let Some(dir) = built_plugin() else { return };
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let hook = HookRun::new(&dir, &app.base, &key).start();
    let request = pending(&app, &ada).await;
    let id = request["requestId"].as_str().expect("id").to_owned();
    deny(&app, &ada, &id, REASON).await;
    let outcome = hook.await.expect("the hook run finished");
    let reason = outcome.block_reason();
    assert!(reason.contains(&format!("with the reason: \"{REASON}\"")), "{reason}");
    assert!(outcome.logs.contains(&format!("approve at {}/approve/{id}", app.origin)), "{}", outcome.logs);

    let mut run = HookRun::new(&dir, &app.base, &key);
    run.tool_call_id = "call-43".to_owned();
    let hook = run.start();
    pending(&app, &ada).await;
    until_waiting(&app, 1).await;
    app.post("/api/v1/stop", &ada.auth(), json!({})).await.expect(200);
    let outcome = hook.await.expect("the hook run finished");
    let reason = outcome.block_reason();
    assert!(reason.contains(STOPPED) && !reason.contains("a person denied"), "{reason}");
}
