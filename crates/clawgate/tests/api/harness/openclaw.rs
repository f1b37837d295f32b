//! The built OpenClaw plugin (`integrations/openclaw`) run by `node test/live-hook.mjs`: one
//! `before_tool_call` of `exec`, bounded in time, and what the hook did.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a hook run may take in these tests before it is killed (the plugin's own timeouts are
/// far shorter; this only stops a hung `node`).
const HOOK_DEADLINE: Duration = Duration::from_secs(90);

pub(crate) const COMMAND: &str = "rm -rf ./old-data";

fn plugin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../integrations/openclaw")
}

/// The plugin folder, or `None` (skip) when node or the built plugin is missing and CI did not
/// ask for these tests.
pub(crate) fn built_plugin() -> Option<PathBuf> {
    let dir = plugin_dir();
    let node = Command::new("node").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    let problem = if !node.is_ok_and(|s| s.success()) {
        Some("`node` is not on PATH".to_owned())
    } else if !dir.join("dist/index.js").is_file() {
        Some(format!(
            "the plugin is not built ({} is missing; run `npm ci && npm run build` in integrations/openclaw)",
            dir.join("dist/index.js").display()
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        let required = std::env::var("CLAWGATE_REQUIRE_NODE").is_ok_and(|v| v == "1");
        assert!(!required, "CLAWGATE_REQUIRE_NODE=1 but {problem}");
        crate::harness::skip(&crate::harness::current_test(), &problem);
        return None;
    }
    Some(dir)
}

/// One `before_tool_call` of `exec` with `command`, as `node test/live-hook.mjs` runs it.
pub(crate) struct HookRun {
    dir: PathBuf,
    server_url: String,
    api_key: String,
    pub(crate) command: String,
    pub(crate) timeout_seconds: u32,
    /// `failOpenWhenUnreachable`.
    pub(crate) fail_open: bool,
    /// OpenClaw's id of the call (its idempotency key on clawgate is made from it).
    pub(crate) tool_call_id: String,
}

/// What the hook did: its result (`Value::Null` when it let the call through) and its logs.
pub(crate) struct HookOutcome {
    pub(crate) result: Value,
    pub(crate) logs: String,
    pub(crate) elapsed: Duration,
}

impl HookOutcome {
    #[track_caller]
    pub(crate) fn block_reason(&self) -> &str {
        assert_eq!(self.result["block"], true, "the call must be blocked: {}", self.result);
        self.result["blockReason"].as_str().expect("a block reason")
    }
}

impl HookRun {
    pub(crate) fn new(dir: &Path, server_url: &str, api_key: &str) -> Self {
        Self {
            dir: dir.to_owned(),
            server_url: server_url.to_owned(),
            api_key: api_key.to_owned(),
            command: COMMAND.to_owned(),
            timeout_seconds: 60,
            fail_open: false,
            tool_call_id: "call-42".to_owned(),
        }
    }

    /// Starts `node` in the background; the outcome arrives when the hook has answered.
    pub(crate) fn start(self) -> tokio::task::JoinHandle<HookOutcome> {
        let child = Command::new("node")
            .arg("test/live-hook.mjs")
            .current_dir(&self.dir)
            .env("CLAWGATE_URL", &self.server_url)
            .env("CLAWGATE_API_KEY", &self.api_key)
            .env("HOOK_COMMAND", &self.command)
            .env("HOOK_TIMEOUT_SECONDS", self.timeout_seconds.to_string())
            .env("HOOK_FAIL_OPEN", if self.fail_open { "1" } else { "0" })
            .env("HOOK_RUN_ID", "run-7")
            .env("HOOK_TOOL_CALL_ID", &self.tool_call_id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node");
        let started = Instant::now();
        tokio::task::spawn_blocking(move || {
            let pid = child.id();
            // A watchdog: a hook that hangs past the deadline is killed, and the test fails below.
            let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
            let watchdog = std::thread::spawn(move || {
                if done_rx.recv_timeout(HOOK_DEADLINE).is_err() {
                    let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
                }
            });
            let output = child.wait_with_output().expect("wait for node");
            let _ = done_tx.send(());
            let _ = watchdog.join();
            let elapsed = started.elapsed();
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            let status = output.status;
            assert!(
                status.success(),
                "live-hook.mjs failed ({status}) after {elapsed:?}: {stderr}\n{stdout}"
            );
            let line = stdout.lines().last().unwrap_or_default();
            let out: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("live-hook.mjs printed no JSON line ({e}): {stdout}\n{stderr}"));
            let logs = out["logs"]
                .as_array()
                .map(|l| l.iter().filter_map(|e| e["message"].as_str()).collect::<Vec<_>>().join("\n"))
                .unwrap_or_default();
            HookOutcome { result: out["result"].clone(), logs, elapsed }
        })
    }

    pub(crate) async fn run(self) -> HookOutcome {
        self.start().await.expect("the hook run finished")
    }
}
