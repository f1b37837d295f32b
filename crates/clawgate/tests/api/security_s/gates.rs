//! The gates' side of review S: what the person is shown for a call is the call itself (L1), a
//! shell tool spelt otherwise is still decided as Bash.

use crate::harness::{Auth, Resp, TestApp, on_both_databases};
use serde_json::{Value, json};

on_both_databases!(
    tool_names_spelling_bash_are_decided_as_bash,
    l1_an_agents_cwd_in_its_context_is_never_shown_as_the_calls
);

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
