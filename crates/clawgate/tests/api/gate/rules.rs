//! A person's rule set over the API (issue 10): the defaults until a save, saves over the version
//! read (compare-and-swap, also under concurrency), bad sets refused whole, only a passkey session
//! may change them, each person sees only their own, and the dry-run names the version it used.
//! Issue 17: a tool name in the wrong case or a failing example refuses a save; what else cannot
//! match comes back as warnings, and each example with its outcome, on the save and every read.

use crate::harness::{Auth, Person, TestApp, on_both_databases};
use clawgate::domain::rules::defaults;
use serde_json::{Value, json};

on_both_databases!(
    rules_are_the_defaults_at_version_0_until_a_save,
    a_save_is_read_back_and_each_save_names_the_version_it_replaces,
    a_set_that_does_not_parse_is_refused_naming_the_rule_and_field_and_nothing_is_stored,
    of_concurrent_saves_over_the_same_version_exactly_one_wins,
    only_a_persons_passkey_session_may_change_rules,
    each_person_reads_and_changes_only_their_own_rules,
    explain_decides_with_the_current_rules_and_names_their_version,
    a_tool_name_in_the_wrong_case_is_refused_with_the_fix_and_nothing_is_stored,
    rules_that_cannot_match_are_saved_with_warnings_shown_on_every_read,
    examples_are_checked_on_every_save_and_read_back_with_their_outcomes,
    a_failing_example_refuses_the_save_naming_what_it_got_and_nothing_is_stored,
    a_set_saved_before_these_checks_shows_what_they_find_as_warnings,
);

const RULES: &str = "/api/v1/rules";
const EXPLAIN: &str = "/api/v1/rules/explain";

/// Allows everything but `curl`; `rm -rf build` falls to the default.
fn allow_all_but_curl() -> Value {
    json!({"default": "allow", "rules": [
        {"name": "no curl", "outcome": "deny", "reason": "no downloads", "tool": "Bash", "command": "curl*"}
    ]})
}

async fn save(app: &TestApp, who: &Person, rules: Value, expected: i64) -> crate::harness::Resp {
    app.put(RULES, &who.auth(), json!({ "rules": rules, "expectedVersion": expected })).await
}

async fn audit_rows(app: &TestApp) -> i64 {
    app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE event = 'rules.changed'").await
}

async fn rules_are_the_defaults_at_version_0_until_a_save(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let read = app.get(RULES, &ada.auth()).await.expect(200);
    assert_eq!(read.body["version"], 0);
    assert_eq!(read.body["source"], "defaults");
    assert_eq!(read.body["rules"], defaults::json());
}

async fn a_save_is_read_back_and_each_save_names_the_version_it_replaces(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let first = allow_all_but_curl();
    let saved = save(&app, &ada, first.clone(), 0).await.expect(200);
    assert_eq!(
        saved.body,
        json!({"version": 1, "source": "saved", "rules": first, "warnings": [], "examples": []})
    );
    let read = app.get(RULES, &ada.auth()).await.expect(200);
    assert_eq!(read.body, saved.body, "read back as saved");
    // The audit trail has the change, with the new version.
    assert_eq!(audit_rows(&app).await, 1);
    let with_version = app
        .scalar_i64(
            "SELECT COUNT(*) FROM audit_events WHERE event = 'rules.changed' AND detail = '1' \
             AND user_id IN (SELECT id FROM users)",
        )
        .await;
    assert_eq!(with_version, 1, "the audit row names version 1");

    let second = json!({"default": "ask"});
    save(&app, &ada, second.clone(), 1).await.expect(200);
    let read = app.get(RULES, &ada.auth()).await.expect(200);
    assert_eq!(
        read.body,
        json!({"version": 2, "source": "saved", "rules": second, "warnings": [], "examples": []})
    );

    // Stale versions (and "nothing saved yet", once something is) are refused; nothing changes.
    for stale in [1, 0, 3, -1] {
        let refused = save(&app, &ada, first.clone(), stale).await;
        if stale < 0 {
            refused.expect(400);
            continue;
        }
        let refused = refused.expect_error(409, "version_conflict");
        assert!(refused.text.contains("version 2"), "says the current version: {}", refused.text);
    }
    assert_eq!(app.get(RULES, &ada.auth()).await.expect(200).body["rules"], second);
    assert_eq!(audit_rows(&app).await, 2, "one audit row per save, none for refusals");
}

async fn a_set_that_does_not_parse_is_refused_naming_the_rule_and_field_and_nothing_is_stored(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let bad_command = json!({"default": "allow", "rules": [
        {"name": "fine", "outcome": "ask", "tool": "Bash"},
        {"name": "broken", "outcome": "deny", "command": []}
    ]});
    let refused = save(&app, &ada, bad_command, 0).await.expect_error(400, "invalid_rules");
    let message = refused.body["error"]["message"].as_str().expect("message");
    assert!(message.contains("rule 2 \"broken\""), "names the rule: {message}");
    assert!(message.contains("`command`"), "names the field: {message}");
    let read = app.get(RULES, &ada.auth()).await.expect(200);
    assert_eq!((read.body["version"].clone(), read.body["source"].clone()), (json!(0), json!("defaults")));

    // Over a saved set too: the saved one stays, whole.
    save(&app, &ada, allow_all_but_curl(), 0).await.expect(200);
    let bad_outcome = json!({"rules": [{"name": "typo", "outcome": "allw", "tool": "Bash"}]});
    let refused = save(&app, &ada, bad_outcome, 1).await.expect_error(400, "invalid_rules");
    assert!(refused.text.contains("`outcome`"), "{}", refused.text);
    for not_a_set in [json!("allow"), json!([]), json!({"default": "allow", "extra": 1})] {
        save(&app, &ada, not_a_set, 1).await.expect_error(400, "invalid_rules");
    }
    let read = app.get(RULES, &ada.auth()).await.expect(200);
    assert_eq!(
        read.body,
        json!({"version": 1, "source": "saved", "rules": allow_all_but_curl(), "warnings": [], "examples": []})
    );
    assert_eq!(audit_rows(&app).await, 1);
}

async fn of_concurrent_saves_over_the_same_version_exactly_one_wins(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    for expected in [0, 1] {
        let sets: Vec<Value> =
            (0..6).map(|i| json!({"default": "ask", "rules": [{"name": format!("r{i}"), "outcome": "deny", "tool": "X"}]})).collect();
        let saves = sets.iter().map(|set| save(&app, &ada, set.clone(), expected));
        let results = futures::future::join_all(saves).await;
        let won: Vec<_> = results.iter().filter(|r| r.status.as_u16() == 200).collect();
        assert_eq!(won.len(), 1, "exactly one save over version {expected} wins");
        for lost in results.iter().filter(|r| r.status.as_u16() != 200) {
            assert_eq!((lost.status.as_u16(), lost.code()), (409, "version_conflict"), "{}", lost.text);
        }
        let read = app.get(RULES, &ada.auth()).await.expect(200);
        assert_eq!(read.body["version"], expected + 1);
        assert_eq!(read.body["rules"], won[0].body["rules"], "the winner's set is the one stored");
    }
    assert_eq!(audit_rows(&app).await, 2);
}

async fn only_a_persons_passkey_session_may_change_rules(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let body = json!({ "rules": allow_all_but_curl(), "expectedVersion": 0 });
    let explain = json!({"tool": "Bash", "input": {"command": "ls"}});
    for agent in [Auth::Bearer(key.clone()), Auth::ApiKey(key)] {
        app.get(RULES, &agent).await.expect_error(401, "agent_key_not_allowed");
        app.put(RULES, &agent, body.clone()).await.expect_error(401, "agent_key_not_allowed");
        app.post(EXPLAIN, &agent, explain.clone()).await.expect_error(401, "agent_key_not_allowed");
    }
    app.put(RULES, &Auth::None, body.clone()).await.expect_error(401, "unauthorized");

    // An email-only session of an account without a passkey may read and ask, not change.
    let (email_session, _) = app.register("bob@example.com").await;
    let email = Auth::Bearer(email_session.clone());
    app.get(RULES, &email).await.expect(200);
    app.post(EXPLAIN, &email, explain.clone()).await.expect(200);
    app.put(RULES, &email, body.clone()).await.expect_error(403, "passkey_required");
    // Once the account has a passkey, its email session can do nothing but sign out.
    let mut key = clawgate_testkit::SoftKey::new(&app.origin);
    let with_passkey = app.add_passkey(&email_session, &mut key).await.expect(201);
    app.put(RULES, &email, body.clone()).await.expect_error(403, "step_up_required");
    // The passkey session made then may.
    let passkey = Auth::Bearer(with_passkey.body["token"].as_str().expect("token").to_owned());
    app.put(RULES, &passkey, body).await.expect(200);
    assert_eq!(app.get(RULES, &ada.auth()).await.expect(200).body["version"], 0, "ada's are untouched");
    assert_eq!(audit_rows(&app).await, 1);
}

async fn each_person_reads_and_changes_only_their_own_rules(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let bob = app.person("bob@example.com").await;
    save(&app, &ada, allow_all_but_curl(), 0).await.expect(200);
    let bobs = app.get(RULES, &bob.auth()).await.expect(200);
    assert_eq!((bobs.body["version"].clone(), bobs.body["source"].clone()), (json!(0), json!("defaults")));
    // Bob's save at ada's version is a conflict with his own (none saved), not a change of hers.
    save(&app, &bob, json!({"default": "deny"}), 1).await.expect_error(409, "version_conflict");
    save(&app, &bob, json!({"default": "deny"}), 0).await.expect(200);
    let adas = app.get(RULES, &ada.auth()).await.expect(200);
    assert_eq!(adas.body["rules"], allow_all_but_curl());
    let bobs = app.get(RULES, &bob.auth()).await.expect(200);
    assert_eq!(bobs.body["rules"], json!({"default": "deny"}));
    // Each dry-run uses its asker's rules.
    let call = json!({"tool": "Bash", "input": {"command": "ls"}});
    assert_eq!(
        app.post(EXPLAIN, &ada.auth(), call.clone()).await.expect(200).body["decision"]["outcome"],
        "allow"
    );
    assert_eq!(app.post(EXPLAIN, &bob.auth(), call).await.expect(200).body["decision"]["outcome"], "deny");
}

async fn explain_decides_with_the_current_rules_and_names_their_version(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let call =
        json!({"tool": "Bash", "input": {"command": "rm -rf build"}, "cwd": "/srv/app", "agentId": "bot"});
    let asked = app.post(EXPLAIN, &ada.auth(), call.clone()).await.expect(200);
    assert_eq!(asked.body["version"], 0);
    assert_eq!(asked.body["decision"]["outcome"], "ask");
    assert_eq!(asked.body["decision"]["decidedBy"]["kind"], "rule");
    let words = asked.body["explanation"].as_str().expect("explanation");
    assert!(words.contains("rm -r/-f") && words.contains("=> ask"), "{words}");

    save(&app, &ada, allow_all_but_curl(), 0).await.expect(200);
    let allowed = app.post(EXPLAIN, &ada.auth(), call).await.expect(200);
    assert_eq!(allowed.body["version"], 1);
    assert_eq!(allowed.body["decision"]["outcome"], "allow");
    assert_eq!(allowed.body["decision"]["decidedBy"]["kind"], "default");
    let denied =
        app.post(EXPLAIN, &ada.auth(), json!({"tool": "Bash", "input": {"command": "curl x | sh"}})).await;
    let denied = denied.expect(200);
    assert_eq!(denied.body["decision"]["outcome"], "deny");
    assert_eq!(denied.body["decision"]["reason"], "no downloads");
    // A dry-run changes nothing and writes no audit row.
    assert_eq!(audit_rows(&app).await, 1);
    // Its body is checked at the edge: unknown fields and a non-object input are refused.
    let typo = json!({"tool": "Bash", "input": {"command": "ls"}, "agent_id": "bot"});
    app.post(EXPLAIN, &ada.auth(), typo).await.expect_error(400, "invalid_request");
    let not_object = json!({"tool": "Bash", "input": "ls"});
    app.post(EXPLAIN, &ada.auth(), not_object).await.expect_error(400, "invalid_request");
}

async fn a_tool_name_in_the_wrong_case_is_refused_with_the_fix_and_nothing_is_stored(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    // The afternoon: `bash` saved as version 2 and never matched `git push origin main`.
    let typo = json!({"default": "allow", "rules": [
        {"name": "no pushes", "outcome": "deny", "tool": "bash", "command": "git push*"}
    ]});
    let refused = save(&app, &ada, typo, 0).await.expect_error(400, "invalid_rules");
    assert_eq!(
        refused.body["error"]["message"],
        "rule 1 \"no pushes\": field `tool`: `bash` is not a tool name (tool names are case-sensitive); did you \
         mean `Bash`?"
    );
    let read = app.get(RULES, &ada.auth()).await.expect(200);
    assert_eq!((read.body["version"].clone(), read.body["source"].clone()), (json!(0), json!("defaults")));
    assert_eq!(audit_rows(&app).await, 0);
}

async fn rules_that_cannot_match_are_saved_with_warnings_shown_on_every_read(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let defaults = app.get(RULES, &ada.auth()).await.expect(200);
    assert_eq!(
        (defaults.body["warnings"].clone(), defaults.body["examples"].clone()),
        (json!([]), json!([]))
    );
    let set = json!({"default": "allow", "rules": [
        {"name": "no rm in files", "outcome": "deny", "tool": "Write", "command": "rm*"},
        {"outcome": "allow", "tool": "Bash", "command": ["cargo test*", "sudo *"]},
        {"outcome": "ask", "tool": "DeployTool"},
    ]});
    let saved = save(&app, &ada, set.clone(), 0).await.expect(200);
    assert_eq!(saved.body["version"], 1, "a warning does not stop the save");
    let warnings = saved.body["warnings"].as_array().expect("warnings");
    let found: Vec<(Value, Value)> =
        warnings.iter().map(|w| (w["rule"].clone(), w["field"].clone())).collect();
    assert_eq!(
        found,
        vec![(json!(0), json!("command")), (json!(1), json!("command")), (json!(2), json!("tool"))],
        "{warnings:?}"
    );
    let message = |i: usize| warnings[i]["message"].as_str().expect("message").to_owned();
    assert!(message(0).starts_with("command patterns match only Bash calls"), "{}", message(0));
    assert!(
        message(1).starts_with("`sudo *`: ") && message(1).contains("an allow never covers"),
        "{}",
        message(1)
    );
    assert!(message(2).contains("`DeployTool` is none of the tools the server knows"), "{}", message(2));
    let read = app.get(RULES, &ada.auth()).await.expect(200);
    assert_eq!(read.body, saved.body, "the read shows the same warnings");
    assert_eq!(read.body["rules"], set);
}

/// Denies force pushes and asks before edits outside the project, with examples of both.
fn with_examples(examples: Value) -> Value {
    json!({"default": "allow", "rules": [
        {"name": "no force pushes", "outcome": "deny", "tool": "Bash", "command": "git push --force*"},
        {"name": "outside", "outcome": "ask", "tool": ["Write", "Edit"], "path": {"outside": ["{cwd}"]}},
    ], "examples": examples})
}

async fn examples_are_checked_on_every_save_and_read_back_with_their_outcomes(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let set = with_examples(json!([
        {"command": "git push --force origin main", "expect": "deny"},
        {"command": "git push origin main", "expect": "allow"},
        {"tool": "Write", "input": {"file_path": "/etc/hosts", "content": "x"}, "cwd": "/srv/app", "expect": "ask"},
    ]));
    let saved = save(&app, &ada, set.clone(), 0).await.expect(200);
    assert_eq!(saved.body["warnings"], json!([]));
    let examples = saved.body["examples"].as_array().expect("examples");
    let got: Vec<Value> = examples
        .iter()
        .map(|e| {
            json!([e["index"], e["call"], e["expect"], e["outcome"], e["passes"], e["decidedBy"]["kind"]])
        })
        .collect();
    assert_eq!(
        got,
        vec![
            json!([0, "git push --force origin main", "deny", "deny", true, "rule"]),
            json!([1, "git push origin main", "allow", "allow", true, "default"]),
            json!([2, "Write /etc/hosts", "ask", "ask", true, "rule"]),
        ]
    );
    assert_eq!(examples[0]["decidedBy"], json!({"kind": "rule", "index": 0, "name": "no force pushes"}));
    let words = examples[2]["explanation"].as_str().expect("explanation");
    assert!(words.contains("rule 2 \"outside\"") && words.contains("=> ask"), "{words}");
    let read = app.get(RULES, &ada.auth()).await.expect(200);
    assert_eq!(read.body, saved.body);
    assert_eq!(read.body["rules"]["examples"], set["examples"], "the examples are kept in the set");
    // The gate never looks at them: the set decides as it would without.
    let explained = app
        .post(EXPLAIN, &ada.auth(), json!({"tool": "Bash", "input": {"command": "git push -f"}}))
        .await
        .expect(200);
    assert_eq!(explained.body["decision"]["outcome"], "allow");
}

async fn a_failing_example_refuses_the_save_naming_what_it_got_and_nothing_is_stored(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    save(&app, &ada, with_examples(json!([])), 0).await.expect(200);
    let failing = with_examples(json!([
        {"command": "git push --force", "expect": "deny"},
        {"command": "git push origin main", "expect": "deny"},
        {"tool": "Edit", "input": {"file_path": "/etc/hosts"}, "cwd": "/srv/app", "expect": "allow"},
    ]));
    let refused = save(&app, &ada, failing, 1).await.expect_error(400, "invalid_rules");
    assert_eq!(
        refused.body["error"]["message"],
        "rule set: field `examples`: example 2 `git push origin main` should be denied but is allowed by the \
         default; example 3 `Edit /etc/hosts` should be allowed but is asked by rule 2 \"outside\""
    );
    let bad = json!({"rules": [], "examples": [{"command": "ls"}]});
    let refused = save(&app, &ada, bad, 1).await.expect_error(400, "invalid_rules");
    assert!(refused.text.contains("example 1: `expect` is required"), "{}", refused.text);
    let read = app.get(RULES, &ada.auth()).await.expect(200);
    assert_eq!(
        (read.body["version"].clone(), read.body["rules"].clone()),
        (json!(1), with_examples(json!([])))
    );
    assert_eq!(audit_rows(&app).await, 1, "only the first save");
}

async fn a_set_saved_before_these_checks_shows_what_they_find_as_warnings(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    save(&app, &ada, json!({"default": "allow"}), 0).await.expect(200);
    // Saved by an older build, which took `bash`: still in force (it parses), never matching.
    sqlx::query(
        "UPDATE rule_sets SET rules = '{\"default\": \"allow\", \"rules\": [{\"outcome\": \"deny\", \"tool\": \
         \"bash\", \"command\": \"git push*\"}]}', version = 2",
    )
    .execute(app.state.db.pool())
    .await
    .expect("update");
    let read = app.get(RULES, &ada.auth()).await.expect(200);
    assert_eq!(read.body["version"], 2);
    let warnings = read.body["warnings"].as_array().expect("warnings");
    // What a save would refuse comes first, then the rest (`git push*` never meets a `bash` call).
    let found: Vec<(Value, Value)> =
        warnings.iter().map(|w| (w["rule"].clone(), w["field"].clone())).collect();
    assert_eq!(found, vec![(json!(0), json!("tool")), (json!(0), json!("command"))], "{warnings:?}");
    assert!(
        warnings[0]["message"].as_str().is_some_and(|m| m.ends_with("did you mean `Bash`?")),
        "{warnings:?}"
    );
    let call = json!({"tool": "Bash", "input": {"command": "git push origin main"}});
    let passed = app.post("/api/v1/gate", &crate::harness::Auth::Bearer(key), call).await.expect(200);
    assert_eq!(passed.body["decision"], "allow", "decided as saved: {}", passed.text);
    // One that no longer parses says so, as its one warning.
    sqlx::query("UPDATE rule_sets SET rules = '{\"default\": \"sometimes\"}', version = 3")
        .execute(app.state.db.pool())
        .await
        .expect("update");
    let read = app.get(RULES, &ada.auth()).await.expect(200);
    let message = read.body["warnings"][0]["message"].as_str().expect("message");
    assert!(
        message.starts_with("rule set: field `default`: ") && message.ends_with("until the set is fixed"),
        "{message}"
    );
}
