//! `clawgate mcp`, driven by an MCP client that is not ours: the official Python SDK
//! (`tests/mcp_client.py`) starts the real binary over stdio, lists its tools and calls them
//! against a live server, while the person approves with a software passkey or denies.
//!
//! The client runs on the Python of CLAWGATE_TEST_PYTHON (scripts/test prepares a venv at
//! target/test-venv with the `mcp` package and sets it) or, when unset, of target/test-venv.
//! Without one that can `import mcp` these tests are skipped, unless CLAWGATE_REQUIRE_PUSH_TESTS=1
//! (CI's flag for the test venv) makes that a failure.

use crate::harness::mcp::McpClient;
use crate::harness::{Person, TestApp};
use clawgate::config::Backend;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The longest any single step may take (Python starting, a call answering).
const WAIT: Duration = Duration::from_secs(60);
const ACTION: &str = "drop table customers on db-prod-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_request_answers_the_token() {
    let Some(python) = crate::harness::test_python("mcp", "MCP tests") else { return };
    let (app, mut ada, key) = setup().await;
    let args = json!({ "action": ACTION, "context": { "rows": 120_000 }, "agentId": "db-bot", "timeoutSeconds": 120 });
    let mut client = McpClient::start(&python, &app.base, &key, "request_approval", &args);

    let init = client.line("initialize").await;
    assert_eq!(init["protocolVersion"], "2025-11-25", "the SDK's newest handshake revision");
    assert_eq!(init["serverInfo"]["name"], "clawgate");
    assert_eq!(init["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(init["capabilities"]["tools"].is_object());
    assert_tool_list(&client.line("tools").await);

    let pending = the_pending_request(&app, &ada).await;
    crate::harness::waiting::until_waiting(&app, 1).await;
    assert_eq!(pending["action"], ACTION, "the person sees the action exactly");
    assert_eq!(pending["agentId"], "db-bot");
    assert_eq!(pending["context"], json!({ "rows": 120_000 }));
    let id = pending["requestId"].as_str().expect("requestId").to_owned();
    let code = pending["bindingCode"].as_str().expect("bindingCode").to_owned();
    app.approve(&id, &mut ada.key).await.expect(200);

    let answer = client.line("result").await;
    let (result, progress) = (&answer["result"], &answer["progress"]);
    assert_eq!(result["isError"], false, "{result}");
    let data = &result["structuredContent"];
    assert_eq!(data["approved"], true);
    assert_eq!(data["status"], "APPROVED");
    assert_eq!(data["requestId"], id.as_str());
    assert_eq!(data["bindingCode"], code.as_str());
    let token = data["token"].as_str().expect("a token once approved");
    let text = result["content"][0]["text"].as_str().expect("text");
    for part in ["APPROVED", &id, &code, token] {
        assert!(text.contains(part), "the words name {part}: {text}");
    }
    assert_eq!(
        result["content"][1]["text"]
            .as_str()
            .map(serde_json::from_str::<Value>)
            .and_then(Result::ok)
            .as_ref(),
        Some(data),
        "the data also as JSON text"
    );
    let first = progress[0].as_str().unwrap_or_default();
    assert!(first.contains(&code), "progress while waiting shows the binding code: {progress}");

    let verified = app.verify(json!({ "token": token, "action": ACTION, "consume": true })).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);
    assert_eq!(verified.body["claims"]["requestId"], id.as_str());
    assert_eq!(verified.body["claims"]["agentId"], "db-bot");
    client.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_request_is_not_approved_and_carries_no_token() {
    let Some(python) = crate::harness::test_python("mcp", "MCP tests") else { return };
    let (app, ada, key) = setup().await;
    let mut client =
        McpClient::start(&python, &app.base, &key, "request_approval", &json!({ "action": ACTION }));
    client.line("initialize").await;
    client.line("tools").await;
    let pending = the_pending_request(&app, &ada).await;
    crate::harness::waiting::until_waiting(&app, 1).await;
    assert_eq!(pending["agentId"], "mcp-test-client", "without agentId or --agent: the MCP client's name");
    let id = pending["requestId"].as_str().expect("requestId").to_owned();
    app.deny(&ada, &id).await.expect(200);

    let result = client.line("result").await["result"].clone();
    assert_eq!(result["isError"], true, "a denial is never mistaken for a go-ahead: {result}");
    assert_eq!(result["structuredContent"]["approved"], false);
    assert_eq!(result["structuredContent"]["status"], "DENIED");
    assert_eq!(result["structuredContent"]["requestId"], id.as_str());
    assert!(result["structuredContent"].get("token").is_none());
    let text = result["content"][0]["text"].as_str().expect("text");
    assert!(text.contains("NOT APPROVED") && text.contains("denied") && text.contains(&id), "{text}");
    assert!(!text.contains("eyJ"), "no token in the words: {text}");
    client.finish();
}

/// `wait: false` answers the request id and binding code at once; `get_approval_status` then
/// waits for the decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_without_waiting_then_waiting_for_the_status() {
    let Some(python) = crate::harness::test_python("mcp", "MCP tests") else { return };
    let (app, mut ada, key) = setup().await;
    let args = json!({ "action": ACTION, "wait": false });
    let result = McpClient::start(&python, &app.base, &key, "request_approval", &args).result().await;
    assert_eq!(result["isError"], false, "{result}");
    let data = &result["structuredContent"];
    assert_eq!((data["approved"].clone(), data["status"].clone()), (json!(false), json!("PENDING")));
    let id = data["requestId"].as_str().expect("requestId").to_owned();
    let code = data["bindingCode"].as_str().expect("bindingCode").to_owned();
    let text = result["content"][0]["text"].as_str().expect("text");
    assert!(text.contains(&id) && text.contains(&code) && text.contains("NOT approved yet"), "{text}");
    assert_eq!(the_pending_request(&app, &ada).await["bindingCode"], code.as_str());

    // A wait that runs out is not a go-ahead either; the request stays open.
    let args = json!({ "requestId": id, "wait": true, "timeoutSeconds": 1 });
    let result = McpClient::start(&python, &app.base, &key, "get_approval_status", &args).result().await;
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(result["structuredContent"]["status"], "PENDING");
    assert_eq!(result["structuredContent"]["timedOut"], true);
    let text = result["content"][0]["text"].as_str().expect("text");
    assert!(text.contains("NOT APPROVED (yet)") && text.contains(&code), "{text}");

    let args = json!({ "requestId": id, "wait": true, "timeoutSeconds": 60 });
    let mut client = McpClient::start(&python, &app.base, &key, "get_approval_status", &args);
    client.line("initialize").await;
    client.line("tools").await;
    crate::harness::waiting::until_waiting(&app, 1).await;
    app.approve(&id, &mut ada.key).await.expect(200);
    let result = client.line("result").await["result"].clone();
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["status"], "APPROVED");
    let token = result["structuredContent"]["token"].as_str().expect("token");
    assert_eq!(app.verify(json!({ "token": token })).await.body["valid"], true);
    client.finish();
}

/// A key the server refuses and a server that is not there are tool errors in words; the MCP
/// server goes on answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_are_tool_errors_in_words() {
    let Some(python) = crate::harness::test_python("mcp", "MCP tests") else { return };
    let (app, _ada, key) = setup().await;
    let args = json!({ "action": ACTION });

    let bad_key = format!("{}x", &key[..key.len() - 1]);
    let result = McpClient::start(&python, &app.base, &bad_key, "request_approval", &args).result().await;
    assert_eq!(result["isError"], true, "{result}");
    let text = result["content"][0]["text"].as_str().expect("text");
    assert!(text.contains("401") && text.contains("NOT approved"), "{text}");

    let down = format!("http://127.0.0.1:{}", free_port());
    let result = McpClient::start(&python, &down, &key, "request_approval", &args).result().await;
    assert_eq!(result["isError"], true, "{result}");
    assert!(result.get("structuredContent").is_none(), "no request, no data: {result}");
    let text = result["content"][0]["text"].as_str().expect("text");
    assert!(text.contains("cannot reach clawgate") && text.contains("NOT approved"), "{text}");
}

fn assert_tool_list(tools: &Value) {
    let tools = tools.as_array().expect("tools");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["request_approval", "get_approval_status"]);
    let request = &tools[0];
    assert!(request["description"].as_str().is_some_and(|d| d.contains("binding code")));
    let schema = &request["inputSchema"];
    assert_eq!(schema["required"], json!(["action"]));
    let mut properties: Vec<&str> =
        schema["properties"].as_object().expect("properties").keys().map(String::as_str).collect();
    properties.sort_unstable();
    assert_eq!(properties, ["action", "agentId", "context", "timeoutSeconds", "wait"]);
    assert_eq!(schema["properties"]["wait"]["default"], true);
    assert_eq!(schema["properties"]["timeoutSeconds"]["maximum"], 600);
    assert_eq!(tools[1]["inputSchema"]["required"], json!(["requestId"]));
    assert_eq!(request["outputSchema"]["required"], json!(["approved", "status", "requestId"]));
}

async fn setup() -> (TestApp, Person, String) {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    (app, ada, key)
}

/// The person's one pending request, once the MCP server has made it (bounded).
async fn the_pending_request(app: &TestApp, person: &Person) -> Value {
    let started = Instant::now();
    loop {
        let list = app.get("/api/v1/approval/pending", &person.auth()).await.expect(200);
        if let Some(first) = list.body["requests"].as_array().and_then(|r| r.first()) {
            return first.clone();
        }
        assert!(started.elapsed() < WAIT, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}
