//! The protocol without a clawgate server: handshake, listing, JSON-RPC errors, refused arguments,
//! cancellation. Calls that reach a server are tested in `tests/api/agents/mcp.rs` with the Python SDK.

use super::*;
use serde_json::json;
use std::time::Duration;

/// A connection to `serve`, through the channels stdin and stdout would feed.
struct Conn {
    input: Option<mpsc::Sender<Vec<u8>>>,
    output: mpsc::UnboundedReceiver<Value>,
    server: tokio::task::JoinHandle<()>,
}

impl Conn {
    fn start(api_key: Option<&str>) -> Self {
        Self::start_with(api_key, false)
    }

    /// With `gate`: `clawgate mcp` (the gate is offered by default since issue 17); without it,
    /// `clawgate mcp --ask-only`, the old default these tests pinned.
    fn start_with(api_key: Option<&str>, gate: bool) -> Self {
        let args = McpArgs {
            agent: None,
            log_level: "off".into(),
            ask_only: !gate,
            gate: false,
            // Nothing listens on port 1: a call that gets this far cannot reach clawgate.
            server: ServerArgs { url: "http://127.0.0.1:1".into(), api_key: api_key.map(str::to_owned) },
        };
        let (input, lines) = mpsc::channel(16);
        let (out, output) = mpsc::unbounded_channel();
        let server = tokio::spawn(serve(Arc::new(Gate::new(&args)), lines, out));
        Self { input: Some(input), output, server }
    }

    async fn raw(&self, line: &str) {
        let input = self.input.as_ref().expect("open");
        input.send(format!("{line}\n").into_bytes()).await.expect("serving");
    }

    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), self.output.recv())
            .await
            .expect("an answer within 10 s")
            .expect("still serving")
    }

    async fn ask(&mut self, id: i64, method: &str, params: Value) -> Value {
        self.raw(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string())
            .await;
        let answer = self.next().await;
        assert_eq!(answer["id"], id, "{answer}");
        answer
    }

    async fn initialize(&mut self, version: &str) -> Value {
        let params = json!({
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": { "name": "test-client", "version": "1" }
        });
        let answer = self.ask(0, "initialize", params).await;
        self.raw(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).await;
        answer["result"].clone()
    }

    async fn call(&mut self, id: i64, name: &str, arguments: Value) -> Value {
        self.ask(id, "tools/call", json!({ "name": name, "arguments": arguments })).await["result"].clone()
    }
}

#[tokio::test]
async fn negotiates_the_version_and_lists_the_tools() {
    for (asked, answered, structured) in [
        ("2025-11-25", "2025-11-25", true),
        ("2025-06-18", "2025-06-18", true),
        ("2024-11-05", "2024-11-05", false),
        ("2099-01-01", "2025-11-25", true),
    ] {
        let mut conn = Conn::start(Some("ag_test"));
        let init = conn.initialize(asked).await;
        assert_eq!(init["protocolVersion"], answered);
        assert_eq!(init["serverInfo"]["name"], "clawgate");
        assert_eq!(init["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(init["capabilities"]["tools"].is_object());
        let tools = conn.ask(1, "tools/list", json!({})).await["result"]["tools"].clone();
        let names: Vec<&str> =
            tools.as_array().expect("tools").iter().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(names, ["request_approval", "get_approval_status"]);
        assert_eq!(tools[0]["inputSchema"]["required"], json!(["action"]));
        assert_eq!(tools[0]["outputSchema"].is_object(), structured, "outputSchema at {answered}");
        assert_eq!(conn.ask(2, "ping", Value::Null).await["result"], json!({}));
    }
}

#[tokio::test]
async fn bad_messages_get_json_rpc_errors_and_the_server_goes_on() {
    let mut conn = Conn::start(Some("ag_test"));
    conn.raw("{not json").await;
    let parse = conn.next().await;
    assert_eq!((parse["id"].clone(), parse["error"]["code"].clone()), (Value::Null, json!(-32700)));
    conn.raw(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).await;
    assert_eq!(conn.next().await["error"]["code"], -32600);
    conn.raw(r#"{"jsonrpc":"1.0","id":"a","method":"ping"}"#).await;
    assert_eq!(conn.next().await["error"]["code"], -32600);
    assert_eq!(conn.ask(3, "resources/list", json!({})).await["error"]["code"], -32601);
    assert_eq!(conn.ask(4, "server/discover", json!({})).await["error"]["code"], -32601);
    assert_eq!(conn.ask(5, "initialize", json!({})).await["error"]["code"], -32602);
    let unknown = conn.ask(6, "tools/call", json!({ "name": "rm_rf", "arguments": {} })).await;
    assert_eq!(unknown["error"]["code"], -32602);
    assert!(unknown["error"]["message"].as_str().is_some_and(|m| m.contains("rm_rf")));
    let bad = conn.ask(7, "tools/call", json!({ "name": "request_approval", "arguments": [1] })).await;
    assert_eq!(bad["error"]["code"], -32602);
    // Notifications and blank lines are answered by nothing: the next answer is the ping's.
    conn.raw(r#"{"jsonrpc":"2.0","method":"notifications/whatever","params":{}}"#).await;
    conn.raw("   ").await;
    assert_eq!(conn.ask(8, "ping", json!({})).await["result"], json!({}));
    // A string id comes back as it was.
    conn.raw(r#"{"jsonrpc":"2.0","id":"x-1","method":"ping"}"#).await;
    assert_eq!(conn.next().await["id"], "x-1");
}

#[tokio::test]
async fn the_gate_tool_is_offered_only_with_gate_and_reads_its_arguments() {
    let mut conn = Conn::start(Some("ag_test"));
    conn.initialize("2025-11-25").await;
    let unknown = conn.ask(1, "tools/call", json!({ "name": "gate_tool_call", "arguments": {} })).await;
    assert_eq!(unknown["error"]["code"], -32602, "not offered without --gate: {unknown}");

    let mut conn = Conn::start_with(Some("ag_test"), true);
    conn.initialize("2025-11-25").await;
    let tools = conn.ask(2, "tools/list", json!({})).await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["request_approval", "get_approval_status", "gate_tool_call"]);
    for (arguments, says) in [
        (json!({ "input": {} }), "`tool` is required"),
        (json!({ "tool": "Bash" }), "`input` is required"),
        (json!({ "tool": "Bash", "input": "ls" }), "`input` is required"),
        (json!({ "tool": "Bash", "input": {}, "cwd": 3 }), "`cwd` must be a string"),
        (json!({ "tool": "Bash", "input": {}, "timeoutSeconds": 601 }), "at most 600"),
        (json!({ "tool": "Bash", "input": {}, "command": "ls" }), "unknown argument `command`"),
    ] {
        let result = conn.call(3, "gate_tool_call", arguments.clone()).await;
        assert_eq!(result["isError"], true, "{arguments}: {result}");
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        assert!(text.contains(says), "{arguments}: {text}");
    }
    // Nothing listens: the call fails closed, in words.
    let result =
        conn.call(4, "gate_tool_call", json!({ "tool": "Bash", "input": { "command": "ls" } })).await;
    assert_eq!(result["isError"], true, "{result}");
    assert!(result["content"][0]["text"].as_str().is_some_and(|t| t.contains("NOT approved")), "{result}");
}

#[tokio::test]
async fn wrong_arguments_are_tool_errors_the_model_can_read() {
    let mut conn = Conn::start(Some("ag_test"));
    conn.initialize("2025-11-25").await;
    for (arguments, says) in [
        (json!({}), "`action` is required"),
        (json!({ "action": "   " }), "`action` is required"),
        (json!({ "action": 5 }), "`action` must be a string"),
        (json!({ "action": "x", "timeoutSeconds": 601 }), "at most 600"),
        (json!({ "action": "x", "timeoutSeconds": 0 }), "above 0"),
        (json!({ "action": "x", "wait": "yes" }), "`wait` must be true or false"),
        (json!({ "action": "x", "context": "text" }), "`context` must be a JSON object"),
        (json!({ "action": "x", "timeout": 5 }), "unknown argument `timeout`"),
    ] {
        let result = conn.call(1, "request_approval", arguments.clone()).await;
        assert_eq!(result["isError"], true, "{arguments}: {result}");
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        assert!(text.contains(says), "{arguments}: {text}");
    }
    let result = conn.call(2, "get_approval_status", json!({})).await;
    assert!(result["content"][0]["text"].as_str().is_some_and(|t| t.contains("`requestId` is required")));
}

#[tokio::test]
async fn without_a_key_every_call_says_how_to_set_it_up() {
    let mut conn = Conn::start(None);
    conn.initialize("2025-11-25").await;
    let result = conn.call(1, "request_approval", json!({ "action": "deploy" })).await;
    assert_eq!(result["isError"], true);
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("CLAWGATE_API_KEY") && text.contains("NOT approved"), "{text}");
    assert!(result.get("structuredContent").is_none());
}

#[tokio::test]
async fn a_cancelled_call_is_not_answered_and_closing_stdin_ends_the_server() {
    let mut conn = Conn::start(Some("ag_test"));
    conn.initialize("2025-11-25").await;
    // Nothing listens: the client retries for a few seconds before it would answer.
    let call = json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/call",
                       "params": { "name": "request_approval", "arguments": { "action": "deploy" } } });
    conn.raw(&call.to_string()).await;
    conn.raw(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}"#).await;
    assert_eq!(conn.ask(10, "ping", json!({})).await["result"], json!({}));
    let late = tokio::time::timeout(Duration::from_secs(5), conn.output.recv()).await;
    assert!(late.is_err(), "the cancelled call answered: {late:?}");

    conn.input.take();
    tokio::time::timeout(Duration::from_secs(5), &mut conn.server).await.expect("ends").expect("no panic");
}
