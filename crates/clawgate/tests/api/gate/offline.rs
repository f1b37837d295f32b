//! Never silently off (issue 17): the gates keep the person's rules and the key's grants as the
//! server signed them (`GET /api/v1/gate/policy`) and, with the server stopped, decide by them:
//! a deny or an ask blocks, an allow passes and says it was decided offline; a kept copy edited
//! on disk is never obeyed; with nothing kept every call blocks unless `--fail-open`. Real
//! processes against a stopped server.

use crate::harness::cli::{assert_exit, clawgate_at, run, run_with_stdin, text};
use crate::harness::{Auth, TestApp, on_both_databases};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;

on_both_databases!(
    the_policy_is_signed_for_the_key_and_tagged_by_its_content,
    with_the_server_stopped_every_gate_decides_by_the_kept_rules,
    a_kept_grant_without_a_use_limit_allows_offline,
);

/// Deny pushes, allow listing, ask about the rest.
fn rules() -> Value {
    json!({"default": "ask", "rules": [
        {"name": "no pushes", "outcome": "deny", "reason": "history is shared", "tool": "Bash", "command": "git push"},
        {"name": "listing", "outcome": "allow", "tool": "Bash", "command": "ls"},
    ]})
}

fn event(command: &str) -> String {
    json!({"hook_event_name": "PreToolUse", "tool_name": "Bash", "cwd": "/srv/app",
           "tool_input": {"command": command}})
    .to_string()
}

/// The hook, keeping its rules in `cache`.
async fn hook(url: &str, key: &str, cache: &Path, command: &str, fail_open: bool) -> Output {
    let mut cmd = clawgate_at(url, key);
    cmd.args(["hook", "claude-code", "--timeout", "20"])
        .env("CLAWGATE_CACHE_DIR", cache)
        .env("CLAWGATE_AGENT_ID", "claude");
    if fail_open {
        cmd.env("CLAWGATE_FAIL_OPEN", "1");
    }
    run_with_stdin(cmd, &event(command)).await
}

/// `clawgate gate -- ARGS`, keeping its rules in `cache`.
async fn gate_cli(url: &str, key: &str, cache: &Path, args: &[&str]) -> Output {
    let mut cmd = clawgate_at(url, key);
    cmd.args(["gate", "--timeout", "20", "--cwd", "/srv/app", "--"])
        .args(args)
        .env("CLAWGATE_CACHE_DIR", cache);
    run(cmd).await
}

#[track_caller]
fn says(out: &Output, words: &str) {
    let stderr = text(&out.stderr);
    assert!(stderr.contains(words), "expected {words:?} in: {stderr}");
}

/// A person with [`rules`], an agent key, the server's URL, and the hook run once with the server
/// up (so it keeps the policy).
async fn kept(app: &TestApp, cache: &Path) -> String {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    app.save_rules(&ada, rules()).await;
    let out = hook(&app.base, &key, cache, "ls -la", false).await;
    assert_exit(&out, 0);
    key
}

async fn the_policy_is_signed_for_the_key_and_tagged_by_its_content(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let agent = Auth::Bearer(key.clone());
    let first = app.get("/api/v1/gate/policy", &agent).await.expect(200);
    assert_eq!(first.body["ruleVersion"], 0, "the built-in rules until the person saves theirs");
    let tag = first.body["tag"].as_str().expect("tag").to_owned();
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(app.get("/.well-known/jwks.json", &Auth::None).await.expect(200).body)
            .expect("jwks");
    let jwt = first.body["policy"].as_str().expect("policy");
    let policy = clawgate_client::verify_policy(&jwks, jwt, None, &key).expect("signed for this key");
    assert_eq!(policy.rule_version, 0);
    assert_eq!(policy.rules["default"], "allow", "the built-in set");
    assert_eq!(
        clawgate_client::verify_policy(&jwks, jwt, None, "ag_someone_else"),
        Err(clawgate_client::PolicyError::OtherKey)
    );
    // No verifier of approvals or gate tokens takes it.
    let refused = app.verify(json!({"token": jwt, "accept": ["rule", "grant"]})).await;
    assert_eq!(refused.body["valid"], false, "{}", refused.text);

    // Unchanged: 304 for the tag it has; a save changes it.
    let same = app
        .http
        .get(app.url("/api/v1/gate/policy"))
        .bearer_auth(&key)
        .header("if-none-match", format!("\"{tag}\""))
        .send()
        .await
        .expect("sent");
    assert_eq!(same.status().as_u16(), 304);
    app.save_rules(&ada, rules()).await;
    let after = app.get("/api/v1/gate/policy", &agent).await.expect(200);
    assert_ne!(after.body["tag"], tag.as_str());
    assert_eq!(after.body["ruleVersion"], 1);
    // It is the agent's: a person's session gets none.
    app.get("/api/v1/gate/policy", &ada.auth()).await.expect(401);
}

async fn with_the_server_stopped_every_gate_decides_by_the_kept_rules(app: TestApp) {
    let cache = tempfile::tempdir().expect("cache dir");
    let key = kept(&app, cache.path()).await;
    let file = std::fs::read_dir(cache.path()).expect("kept").flatten().next().expect("a kept policy").path();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).expect("file").permissions().mode() & 0o777, 0o600);
    let url = app.base.clone();
    drop(app.stop().await);

    // The hook: the allow passes and says so; the deny and the ask block, saying why.
    let out = hook(&url, &key, cache.path(), "ls -la", false).await;
    assert_exit(&out, 0);
    says(&out, "decided offline");
    says(&out, "allow it");
    let out = hook(&url, &key, cache.path(), "git push origin main", false).await;
    assert_exit(&out, 2);
    says(&out, "cannot be reached");
    says(&out, "deny it (by rule 1 \"no pushes\")");
    let out = hook(&url, &key, cache.path(), "python3 deploy.py --prod", false).await;
    assert_exit(&out, 2);
    says(&out, "ask about it");

    // The command line: 0, 3 (denied) and 4 (no decision), the same words.
    assert_exit(&gate_cli(&url, &key, cache.path(), &["ls", "-la"]).await, 0);
    let denied = gate_cli(&url, &key, cache.path(), &["git", "push", "origin", "main"]).await;
    assert_exit(&denied, 3);
    says(&denied, "deny it");
    assert_exit(&gate_cli(&url, &key, cache.path(), &["python3", "deploy.py"]).await, 4);

    // Edited on disk: never obeyed, everything blocks.
    let mut kept: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
    let jwt = kept["policy"].as_str().expect("policy").to_owned();
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&b64.decode(&parts[1]).expect("b64")).expect("claims");
    claims["rules"] = json!({"default": "allow"});
    parts[1] = b64.encode(claims.to_string());
    kept["policy"] = json!(parts.join("."));
    std::fs::write(&file, kept.to_string()).expect("write");
    let out = hook(&url, &key, cache.path(), "ls -la", false).await;
    assert_exit(&out, 2);
    says(&out, "do not check out");
    let out = hook(&url, &key, cache.path(), "git push origin main", true).await;
    assert_exit(&out, 2);

    // Nothing kept: everything blocks, unless the person opted into failing open.
    let empty = tempfile::tempdir().expect("empty cache");
    let out = hook(&url, &key, empty.path(), "ls -la", false).await;
    assert_exit(&out, 2);
    says(&out, "no rules of yours were kept");
    let out = hook(&url, &key, empty.path(), "ls -la", true).await;
    assert_exit(&out, 0);
    says(&out, "--fail-open");
    assert_exit(&hook(&url, &key, empty.path(), "rm -rf ./build", true).await, 2);
}

async fn a_kept_grant_without_a_use_limit_allows_offline(app: TestApp) {
    let cache = tempfile::tempdir().expect("cache dir");
    let (mut ada, key) = crate::harness::grants::asking_person(&app, "ada@example.com").await;
    let unlimited = json!({"width": {"argvPrefix": 2}, "ttlSeconds": 3600});
    crate::harness::grants::granted(&app, &mut ada, &key, "cargo test --release", unlimited).await;
    let limited = json!({"width": {"argvPrefix": 2}, "ttlSeconds": 3600, "maxUses": 5});
    crate::harness::grants::granted(&app, &mut ada, &key, "npm test --silent", limited).await;
    // With the server up the grants allow, and the hook keeps them.
    assert_exit(&hook(&app.base, &key, cache.path(), "cargo test --lib", false).await, 0);
    let url = app.base.clone();
    drop(app.stop().await);
    let out = hook(&url, &key, cache.path(), "cargo test --lib", false).await;
    assert_exit(&out, 0);
    says(&out, "your standing grant grt_");
    // A use limit cannot be counted offline: that grant allows nothing then.
    let out = hook(&url, &key, cache.path(), "npm test --silent", false).await;
    assert_exit(&out, 2);
    says(&out, "ask about it");
}
