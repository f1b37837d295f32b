//! `clawgate mcp`: a Model Context Protocol server on stdin/stdout, so any MCP client (Claude
//! Desktop, Claude Code, Cursor, …) can ask a person for approval with the `request_approval` tool.
//!
//! The stdio transport: one JSON-RPC 2.0 message per line each way; stdout carries nothing else
//! (logs go to stderr). Spoken: the `initialize` handshake at protocol revisions 2024-11-05 to
//! 2025-11-25 (the requested one when known, else the newest), `ping`, `tools/list`, `tools/call`
//! (each call runs on its own, so a call waiting for a person holds up nothing, and
//! `notifications/cancelled` stops it), progress notifications while waiting when the client asks
//! for them. Anything else gets a JSON-RPC error (`server/discover` too, so a client of the
//! stateless 2026 revision falls back to the handshake). Batches are not accepted.
//!
//! Hand-written on serde_json rather than on the `rmcp` SDK: it is a few hundred lines for one
//! transport and two tools, every answer is visible here, and it adds no dependency.

mod answer;
mod gate_tool;
mod tools;
mod waiting;

use super::ServerArgs;
use clap::Args;
use clawgate_client::Client;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

/// The revisions reachable with `initialize`, oldest first.
const PROTOCOL_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// From this revision on, tools have an `outputSchema` and results `structuredContent`.
const STRUCTURED_SINCE: &str = "2025-06-18";

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// Messages to write to stdout, one line each.
pub type Outbox = mpsc::UnboundedSender<Value>;

/// What a person's agent sees in `initialize`: how to use the tools.
const INSTRUCTIONS: &str = "Before an action that needs a person's explicit yes (deleting data, \
spending money, publishing, sending messages on someone's behalf), call request_approval with the \
exact action. Show your user the binding code it answers. Perform the action only when the result \
says APPROVED, and exactly as approved.";

const ABOUT: &str = "Serve the Model Context Protocol (MCP) on stdin/stdout, so any MCP client \
(Claude Desktop, Claude Code, Cursor, …) can ask a person for approval before its agent acts. The \
client starts this command itself; stdout carries the protocol, logs go to stderr.

Tools:
  request_approval {action, context?, agentId?, wait? = true, timeoutSeconds? = 300 (at most 600)}
      Asks the owner of the API key to approve `action` (shown exactly as given) and, unless
      wait is false, waits for the decision (long-polling, no busy loop). APPROVED answers with
      the approval token; a denial, an expiry or a wait that runs out answer isError: true and
      say NOT approved (a denial with the person's reason, or that they stopped every agent).
      Every answer names the request id, the binding code and the approval page that shows it;
      with a progressToken, the first progress notification names them at once. The request expires after timeoutSeconds (clawgate gives at least 30).
  get_approval_status {requestId, wait? = false, timeoutSeconds? = 300}
      Reads, or waits for, a request made with wait: false.
  gate_tool_call {tool, input, cwd?, agentId?, timeoutSeconds? = 300}   (not with --ask-only)
      Brings a tool call the model is about to make (Bash {command}, Write {file_path}, …) to
      clawgate's gate: the key owner's rules allow it (ALLOWED, with a token) or refuse it at
      once, a standing grant allows it, or the person is asked and the call waits.
      timeoutSeconds bounds it all; a 429 or no answer in time is NOT ALLOWED.
A problem (server down, bad key) is a tool result with isError: true that says what is wrong.";

const SETUP: &str = "Setup: create an API key for the agent in the clawgate app, then add this \
server to your MCP client's configuration (Claude Desktop: claude_desktop_config.json; Claude Code: \
.mcp.json; Cursor: .cursor/mcp.json), with the full path of clawgate if it is not on the PATH:

  {
    \"mcpServers\": {
      \"clawgate\": {
        \"command\": \"clawgate\",
        \"args\": [\"mcp\"],
        \"env\": { \"CLAWGATE_URL\": \"http://localhost:3000\", \"CLAWGATE_API_KEY\": \"ag_…\" }
      }
    }
  }

or, with Claude Code:
  claude mcp add --transport stdio clawgate --env CLAWGATE_API_KEY=ag_… -- clawgate mcp

Settings come from the environment and flags only, never from a .env file: the client starts this \
command in the agent's project, where the agent itself could write one.";

/// Serve MCP on stdin/stdout.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Serve the Model Context Protocol on stdin/stdout: approvals for Claude, Cursor and other MCP clients",
    long_about = ABOUT,
    after_help = SETUP
)]
pub struct McpArgs {
    /// Who is asking, shown to the person when a call names no `agentId`. Default: the MCP
    /// client's name (from its `initialize`).
    #[arg(long, env = "CLAWGATE_AGENT_ID", value_name = "ID")]
    pub agent: Option<String>,

    /// Log level of the messages on stderr (trace, debug, info, warn, error) or a tracing filter.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Offer only `request_approval` and `get_approval_status`, not `gate_tool_call` (before
    /// issue 17, the default). Without it the model may also bring each tool call it is about to
    /// make, and the key owner's rules and standing grants decide (or ask them).
    #[arg(long, env = "CLAWGATE_MCP_ASK_ONLY", value_parser = clap::builder::BoolishValueParser::new())]
    pub ask_only: bool,

    /// `gate_tool_call` is offered: the default now; kept so that older settings still start.
    #[arg(long, env = "CLAWGATE_MCP_GATE", value_parser = clap::builder::BoolishValueParser::new(), hide = true)]
    pub gate: bool,

    #[command(flatten)]
    pub server: ServerArgs,
}

/// Runs until stdin closes.
pub async fn run(args: McpArgs) -> anyhow::Result<()> {
    init_logging(&args.log_level);
    let gate = Gate::new(&args);
    match &gate.client {
        Ok(c) => tracing::info!(url = %c.base_url(), "clawgate mcp: serving MCP on stdin/stdout"),
        Err(problem) => tracing::warn!("{problem}"),
    }
    // Blocking reads and writes on threads of their own: a read pending at exit holds up nothing.
    let (lines_tx, lines) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if lines_tx.blocking_send(line).is_err() => break,
                Ok(_) => {}
            }
        }
    });
    let (out, mut outgoing) = mpsc::unbounded_channel::<Value>();
    let writer = std::thread::spawn(move || {
        let mut stdout = std::io::stdout().lock();
        while let Some(message) = outgoing.blocking_recv() {
            // Compact JSON has no raw newline: one message, one line.
            if writeln!(stdout, "{message}").and_then(|()| stdout.flush()).is_err() {
                break;
            }
        }
    });
    serve(Arc::new(gate), lines, out).await;
    // Every sender is gone now, so the writer ends once it has written what is left.
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    tracing::info!("clawgate mcp: stdin closed; exiting");
    Ok(())
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level.trim())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The connection to clawgate, or why there is none (told to the model on every call).
pub struct Gate {
    client: Result<Client, String>,
    /// The rules kept from the server, for `gate_tool_call` while it cannot be reached.
    keeper: Option<super::offline::Keeper>,
    agent: Option<String>,
    /// `gate_tool_call` is offered.
    offer_gate: bool,
}

impl Gate {
    pub fn new(args: &McpArgs) -> Self {
        let client = args.server.client().map_err(|e| {
            format!(
                "clawgate mcp is not set up: {e}. Set CLAWGATE_URL and CLAWGATE_API_KEY in the \
                 `env` of this server's entry in the MCP client's configuration."
            )
        });
        let agent = args.agent.clone().filter(|a| !a.trim().is_empty());
        Self { client, keeper: super::offline::Keeper::of(&args.server), agent, offer_gate: !args.ask_only }
    }
}

/// One connection's state, and the calls still running.
struct Session {
    gate: Arc<Gate>,
    out: Outbox,
    version: &'static str,
    client_name: Option<String>,
    calls: JoinSet<()>,
    running: HashMap<String, AbortHandle>,
}

/// Answers the messages in `lines` on `out` until `lines` ends; then stops the calls still running.
pub async fn serve(gate: Arc<Gate>, mut lines: mpsc::Receiver<Vec<u8>>, out: Outbox) {
    let latest = PROTOCOL_VERSIONS[PROTOCOL_VERSIONS.len() - 1];
    let mut session = Session {
        gate,
        out,
        version: latest,
        client_name: None,
        calls: JoinSet::new(),
        running: HashMap::new(),
    };
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => session.handle(&line),
                None => break,
            },
            Some(done) = session.calls.join_next(), if !session.calls.is_empty() => {
                if let Err(e) = done && e.is_panic() {
                    tracing::error!("a tool call failed unexpectedly: {e}");
                }
            }
        }
    }
    // Nobody is left to read an answer.
    session.calls.shutdown().await;
}

impl Session {
    fn send(&self, message: Value) {
        let _ = self.out.send(message);
    }

    fn error(&self, id: Value, code: i64, message: String) {
        self.send(json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } }));
    }

    fn handle(&mut self, line: &[u8]) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let message = match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                let why = "expected one JSON-RPC message (an object); batches are not accepted";
                return self.error(Value::Null, INVALID_REQUEST, why.into());
            }
            Err(e) => return self.error(Value::Null, PARSE_ERROR, format!("not JSON: {e}")),
        };
        let id = message.get("id").cloned();
        if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return self.error(
                id.unwrap_or(Value::Null),
                INVALID_REQUEST,
                "`jsonrpc` must be \"2.0\"".into(),
            );
        }
        let params = match message.get("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(p)) => p.clone(),
            Some(_) => {
                return self.error(
                    id.unwrap_or(Value::Null),
                    INVALID_PARAMS,
                    "`params` must be an object".into(),
                );
            }
        };
        let Some(method) = message.get("method").and_then(Value::as_str) else {
            // A response: this server sends no requests, so there is nothing waiting for it.
            tracing::debug!("ignoring a message without a method");
            return;
        };
        match id {
            None => self.notification(method, &params),
            Some(id @ (Value::String(_) | Value::Number(_))) => self.request(id, method, params),
            Some(other) => self.error(other, INVALID_REQUEST, "`id` must be a string or a number".into()),
        }
    }

    fn notification(&mut self, method: &str, params: &Map<String, Value>) {
        match method {
            "notifications/cancelled" => {
                let id = params.get("requestId").map(Value::to_string).unwrap_or_default();
                if let Some(call) = self.running.remove(&id) {
                    tracing::info!(request = %id, "call cancelled by the client");
                    call.abort();
                }
            }
            // `notifications/initialized` and anything else need nothing from us.
            _ => tracing::debug!(method, "notification"),
        }
    }

    fn request(&mut self, id: Value, method: &str, params: Map<String, Value>) {
        let result = match method {
            "initialize" => self.initialize(&params),
            "ping" => Ok(json!({})),
            "tools/list" => Ok(tools::list(self.structured(), self.gate.offer_gate)),
            "tools/call" => return self.call(id, params),
            _ => Err((METHOD_NOT_FOUND, format!("method not found: {method}"))),
        };
        match result {
            Ok(result) => self.send(json!({ "jsonrpc": "2.0", "id": id, "result": result })),
            Err((code, message)) => self.error(id, code, message),
        }
    }

    fn structured(&self) -> bool {
        let index = |v: &str| PROTOCOL_VERSIONS.iter().position(|known| *known == v);
        index(self.version) >= index(STRUCTURED_SINCE)
    }

    fn initialize(&mut self, params: &Map<String, Value>) -> Result<Value, (i64, String)> {
        let Some(asked) = params.get("protocolVersion").and_then(Value::as_str) else {
            return Err((INVALID_PARAMS, "initialize needs `protocolVersion`".into()));
        };
        // The one asked for when we speak it, else our newest: the client decides whether to go on.
        self.version = PROTOCOL_VERSIONS.iter().find(|v| **v == asked).copied().unwrap_or(self.version);
        self.client_name = params
            .get("clientInfo")
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty() && n.chars().count() <= 128)
            .map(str::to_owned);
        tracing::info!(version = self.version, client = ?self.client_name, "initialized");
        Ok(json!({
            "protocolVersion": self.version,
            "capabilities": { "tools": { "listChanged": false } },
            "serverInfo": { "name": "clawgate", "title": "clawgate", "version": env!("CARGO_PKG_VERSION") },
            "instructions": INSTRUCTIONS,
        }))
    }

    fn call(&mut self, id: Value, params: Map<String, Value>) {
        let name = params.get("name").and_then(Value::as_str).unwrap_or_default();
        let offered = [tools::REQUEST_APPROVAL, tools::GET_APPROVAL_STATUS].contains(&name)
            || (self.gate.offer_gate && name == gate_tool::GATE_TOOL_CALL);
        if !offered {
            return self.error(id, INVALID_PARAMS, format!("unknown tool: `{name}`"));
        }
        let args = match params.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(a)) => a.clone(),
            Some(_) => return self.error(id, INVALID_PARAMS, "`arguments` must be an object".into()),
        };
        let agent = self.gate.agent.as_deref().or(self.client_name.as_deref());
        let parsed = tools::parse(name, &args, agent);
        let token = params.get("_meta").and_then(|m| m.get("progressToken")).cloned();
        let progress = tools::Progress { token, out: self.out.clone() };
        let (gate, out, structured) = (self.gate.clone(), self.out.clone(), self.structured());
        let key = id.to_string();
        let call = self.calls.spawn(async move {
            let result = match parsed {
                Ok(call) => {
                    let client = gate.client.as_ref().map_err(String::as_str);
                    tools::run(client, gate.keeper.as_ref(), call, progress, structured).await
                }
                Err(problem) => json!({ "content": [{ "type": "text", "text": problem }], "isError": true }),
            };
            let _ = out.send(json!({ "jsonrpc": "2.0", "id": id, "result": result }));
        });
        self.running.retain(|_, c| !c.is_finished());
        self.running.insert(key, call);
    }
}

#[cfg(test)]
mod tests;
