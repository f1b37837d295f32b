//! Review round S (issue 16, `docs/src/security.md`), M4: one agent key cannot fill the disk with
//! gate decisions. Its gate calls are rate limited (another key is unaffected), a long action is
//! recorded as a prefix, its hash and its length, and upkeep deletes decisions past their retention
//! with their audit rows, while what a person decided with a passkey keeps its audit.

use crate::harness::cli::{assert_exit, clawgate, run_with_stdin, text};
use crate::harness::{Auth, Resp, TestApp, on_both_backends, on_both_databases};
use clawgate::config::Backend;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

on_both_backends!(m4_gate_calls_are_rate_limited_per_key);
on_both_databases!(
    m4_long_actions_are_stored_bounded,
    m4_old_gate_decisions_are_pruned_and_passkey_audit_kept
);

const GATE: &str = "/api/v1/gate";
const DAY_MS: i64 = 24 * 3600 * 1000;

fn bash(command: &str) -> Value {
    json!({"tool": "Bash", "input": {"command": command}, "cwd": "/srv/app", "agentId": "claude"})
}

async fn gate(app: &TestApp, key: &str, command: &str) -> Resp {
    app.post(GATE, &Auth::Bearer(key.to_owned()), bash(command)).await
}

async fn text_of(app: &TestApp, sql: &'static str) -> String {
    sqlx::query_scalar::<_, String>(sql).fetch_one(app.state.db.pool()).await.expect("query")
}

async fn m4_gate_calls_are_rate_limited_per_key(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |a| a.gate_rate_limit = 5).await else { return };
    let ada = app.person("ada@example.com").await;
    let (key, other) = (app.api_key(&ada).await, app.api_key(&ada).await);
    for _ in 0..5 {
        gate(&app, &key, "ls -la").await.expect(200);
    }
    let limited = gate(&app, &key, "ls -la").await.expect_error(429, "gate_rate_limited");
    assert_eq!(limited.headers["retry-after"], "12", "5 a minute: the next one in 12 s");
    assert_eq!(
        gate(&app, &other, "ls -la").await.expect(200).body["decision"],
        "allow",
        "another key is unaffected"
    );

    // The Claude Code hook blocks on it (its Retry-After is beyond the hook's 5 s), never passes.
    let mut hook = clawgate(&app, &key);
    hook.args(["hook", "claude-code"]).env("CLAWGATE_HOOK_TIMEOUT", "5");
    let event = json!({"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls -la"}, "cwd": "/srv/app"});
    let out = run_with_stdin(hook, &event.to_string()).await;
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("gate_rate_limited"), "{}", text(&out.stderr));

    app.clock.advance_ms(12_000);
    gate(&app, &key, "ls -la").await.expect(200);
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM gate_decisions").await,
        7,
        "refused calls record nothing"
    );
}

async fn m4_long_actions_are_stored_bounded(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let long = format!("echo {}", "x".repeat(60_000));
    let allowed = gate(&app, &key, &long).await.expect(200);
    assert_eq!(allowed.body["decision"], "allow", "{}", &allowed.text[..200]);

    // Recorded: the first 1,000 characters, the SHA-256 and the length of the whole.
    let stored = text_of(&app, "SELECT action FROM gate_decisions").await;
    let hash = hex::encode(Sha256::digest(long.as_bytes()));
    let suffix = format!("… (sha256 {hash}, 60005 characters)");
    assert!(stored.len() == 1000 + suffix.len(), "{} bytes recorded", stored.len());
    assert!(stored.starts_with(&long[..1000]) && stored.ends_with(&suffix), "{}", &stored[990..]);
    let audit = app
        .scalar_i64(
            "SELECT CAST(MAX(LENGTH(detail)) AS BIGINT) FROM audit_events WHERE event = 'gate.allowed'",
        )
        .await;
    assert!(audit < 200, "the audit row names the decision, not the command: {audit} characters");

    // The token still names the whole action, exactly (checked offline: it is too large to send).
    let token = allowed.body["token"].as_str().expect("token");
    let jwks = app.get("/.well-known/jwks.json", &Auth::None).await.expect(200);
    let jwks = serde_json::from_value(jwks.body).expect("a JWK set");
    let accept = clawgate_client::Accept::ANY;
    let claims = clawgate_client::verify_offline_accepting(&jwks, token, None, Some(&long), accept)
        .expect("valid for the whole action");
    assert_eq!(claims.action, long);

    // What the person is shown when a call asks is unchanged: the whole command.
    let asking = format!("rm -rf ./build && echo {}", "y".repeat(3000));
    let asked = gate(&app, &key, &asking).await.expect(200);
    assert_eq!(asked.body["decision"], "ask", "{}", asked.text);
    let pending = app.get("/api/v1/approval/pending", &ada.auth()).await.expect(200);
    assert_eq!(pending.body["requests"][0]["action"], asking);
}

async fn count(app: &TestApp, sql: &'static str, request: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .bind(request.to_owned())
        .fetch_one(app.state.db.pool())
        .await
        .expect("query")
}

async fn m4_old_gate_decisions_are_pruned_and_passkey_audit_kept(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    app.save_rules(
        &ada,
        json!({"default": "allow", "rules": [
            {"outcome": "deny", "tool": "Bash", "command": "curl*"},
            {"outcome": "ask", "tool": "Bash", "command": "rm -r*"}
        ]}),
    )
    .await;
    // Day 0: a rule's allow, a rule's deny, and a call the person approves with their passkey.
    assert_eq!(gate(&app, &key, "ls -la").await.expect(200).body["decision"], "allow");
    assert_eq!(gate(&app, &key, "curl x").await.expect(200).body["decision"], "deny");
    let asked = gate(&app, &key, "rm -rf ./build").await.expect(200);
    let request = asked.body["requestId"].as_str().expect("requestId").to_owned();
    app.approve(&request, &mut ada.key).await.expect(200);
    let trail = count(&app, "SELECT COUNT(*) FROM audit_events WHERE request_id = $1", &request).await;
    assert!(trail >= 2, "created and approved: {trail}");

    // Day 60: another decision, within the retention period at the end.
    app.clock.advance_ms(60 * DAY_MS);
    assert_eq!(gate(&app, &key, "cargo test").await.expect(200).body["decision"], "allow");
    // Day 91: upkeep deletes the day-0 decisions (90 days by default) and their audit rows only.
    app.clock.advance_ms(31 * DAY_MS);
    clawgate::app::upkeep(&app.state).await.expect("upkeep");

    assert_eq!(
        text_of(&app, "SELECT action FROM gate_decisions").await,
        "cargo test",
        "only day 60's is left"
    );
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM gate_decisions").await, 1);
    let gate_audit = app
        .scalar_i64("SELECT COUNT(*) FROM audit_events WHERE event IN ('gate.allowed', 'gate.denied')")
        .await;
    assert_eq!(gate_audit, 1);
    // The person's passkey decision keeps its request and its whole audit trail.
    assert_eq!(count(&app, "SELECT COUNT(*) FROM approval_requests WHERE id = $1", &request).await, 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_events WHERE request_id = $1", &request).await, trail);
    let approved = count(
        &app,
        "SELECT COUNT(*) FROM audit_events WHERE request_id = $1 AND event = 'request.approved' AND credential_id IS NOT NULL",
        &request,
    )
    .await;
    assert_eq!(approved, 1);
}
