//! `clawgate mcp` driven by an MCP client that is not ours: the official Python SDK
//! (`tests/mcp_client.py`) starts the real binary over stdio and prints what it hears, one JSON
//! line at a time.

use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The longest any single step may take (Python starting, a call answering).
const WAIT: Duration = Duration::from_secs(60);

/// `tests/mcp_client.py` running `clawgate mcp`; killed when dropped.
pub(crate) struct McpClient {
    child: Child,
    lines: mpsc::UnboundedReceiver<Value>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl McpClient {
    /// `clawgate mcp --ask-only`: the two tools these tests pinned before the gate was offered by
    /// default (issue 17).
    pub(crate) fn start(python: &Path, url: &str, key: &str, tool: &str, arguments: &Value) -> Self {
        Self::start_with(python, url, key, tool, arguments, &[("CLAWGATE_MCP_ASK_ONLY", "1")])
    }

    /// `start`, with more `CLAWGATE_*` settings for the server (the client passes them on).
    pub(crate) fn start_with(
        python: &Path,
        url: &str,
        key: &str,
        tool: &str,
        arguments: &Value,
        settings: &[(&str, &str)],
    ) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py");
        let mut child = Command::new(python)
            .arg(&script)
            .args([env!("CARGO_BIN_EXE_clawgate"), tool, &arguments.to_string()])
            // Nothing from the developer's environment but PATH and what the server needs.
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CLAWGATE_URL", url)
            .env("CLAWGATE_API_KEY", key)
            .env("LOG_LEVEL", "warn")
            .envs(settings.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        // Lines arrive as the process says things: the test waits on them, not on a clock.
        let lines = crate::harness::json_lines(child.stdout.take().expect("piped stdout"));
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Self { child, lines, stderr: Some(stderr) }
    }

    /// The next line, which must be `{"<key>": …}`: the value of `key`, or the whole line for
    /// "result" (it has the progress messages too).
    pub(crate) async fn line(&mut self, key: &str) -> Value {
        let line = match tokio::time::timeout(WAIT, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the MCP client ended before printing {key}; its stderr:\n{}", self.stderr()),
            Err(_) => panic!("nothing from the MCP client within {WAIT:?}"),
        };
        assert!(line.get(key).is_some(), "expected {key}, got {line}; stderr:\n{}", self.stderr());
        if key == "result" { line } else { line[key].clone() }
    }

    /// Runs to the end: the call's result.
    pub(crate) async fn result(mut self) -> Value {
        self.line("initialize").await;
        self.line("tools").await;
        let result = self.line("result").await["result"].clone();
        self.finish();
        result
    }

    /// The client exits once its call is answered, closing the server's stdin: both end.
    pub(crate) fn finish(mut self) {
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "the MCP client did not exit after its call");
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = self.child.wait().expect("exited");
        assert!(status.success(), "the MCP client failed ({status}); stderr:\n{}", self.stderr());
    }

    fn stderr(&mut self) -> String {
        let _ = self.child.kill();
        self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
