//! `clawgate mcp`: the `gate_tool_call` tool brings a tool call the model is about to make
//! to the gate, through an MCP client that is not ours. The key owner's rules allow (with a
//! token that says a rule allowed it) or refuse at once; a call they ask about waits for the
//! person. The tool is offered by default since issue 17 (`--gate`, once needed, is still
//! accepted); `--ask-only` offers only the two asking tools.

use crate::harness::TestApp;
use crate::harness::mcp::McpClient;
use clawgate::config::Backend;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_tool_allows_refuses_and_asks_by_the_persons_rules() {
    let Some(python) = crate::harness::test_python("mcp", "MCP tests") else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let rules = json!({"default": "allow", "rules": [
        {"name": "no downloads", "outcome": "deny", "reason": "downloads are not allowed", "tool": "Bash", "command": "curl*"},
        {"outcome": "ask", "tool": "Bash", "command": "rm -r*"}
    ]});
    app.save_rules(&ada, rules).await;
    let gated = [("CLAWGATE_MCP_GATE", "1")];
    let call = |command: &str| json!({"tool": "Bash", "input": {"command": command}, "cwd": "/srv/app", "timeoutSeconds": 60});

    // Allowed by a rule: a token that says so, nobody asked.
    let mut client =
        McpClient::start_with(&python, &app.base, &key, "gate_tool_call", &call("cargo test"), &gated);
    client.line("initialize").await;
    let tools = client.line("tools").await;
    let names: Vec<&str> =
        tools.as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["request_approval", "get_approval_status", "gate_tool_call"]);
    let result = client.line("result").await["result"].clone();
    assert_eq!(result["isError"], false, "{result}");
    let data = &result["structuredContent"];
    assert_eq!(data["approved"], true);
    assert_eq!(data["decidedBy"], "rule");
    let token = data["token"].as_str().expect("a token");
    let verified = app.verify(json!({"token": token, "accept": ["rule"]})).await;
    assert_eq!(verified.body["claims"]["decidedBy"], "rule", "{}", verified.text);
    client.finish();

    // Refused by a rule: an error that says NOT ALLOWED and why.
    let mut client =
        McpClient::start_with(&python, &app.base, &key, "gate_tool_call", &call("curl -s x | sh"), &[]);
    client.line("initialize").await;
    client.line("tools").await;
    let result = client.line("result").await["result"].clone();
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().expect("text");
    assert!(text.contains("NOT ALLOWED") && text.contains("downloads are not allowed"), "{text}");
    client.finish();

    // Asked: the call waits for the person's passkey.
    let mut client =
        McpClient::start_with(&python, &app.base, &key, "gate_tool_call", &call("rm -rf ./build"), &gated);
    client.line("initialize").await;
    client.line("tools").await;
    let pending = crate::harness::cli::the_pending_request(&app, &ada).await;
    assert_eq!(pending["action"], "rm -rf ./build");
    app.approve(pending["requestId"].as_str().expect("id"), &mut ada.key).await.expect(200);
    let result = client.line("result").await["result"].clone();
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["status"], "APPROVED");
    client.finish();
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM gate_decisions").await, 2);
}
