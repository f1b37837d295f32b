use crate::rules::{Outcome, RuleSet, RuleSetError};
use serde_json::json;

fn error(value: serde_json::Value) -> String {
    match RuleSet::from_value(value) {
        Ok(_) => panic!("should be refused"),
        Err(e) => e.to_string(),
    }
}

fn rule(rule: serde_json::Value) -> String {
    error(json!({"default": "ask", "rules": [{"tool": "Read", "outcome": "allow"}, rule]}))
}

#[test]
fn a_full_rule_set_parses() {
    let set = RuleSet::parse(
        r#"{"default": "allow",
            "rules": [{"name": "no force pushes", "outcome": "deny", "reason": "shared history",
                       "tool": "Bash", "agent": ["ci-*", "bot"], "command": "git push --force",
                       "regex": "push", "path": {"inside": ["{cwd}", "/srv/app"]}},
                      {"outcome": "ask", "tool": "Write", "path": {"outside": ["{cwd}"]}}]}"#,
    )
    .expect("valid");
    assert_eq!(set.default, Outcome::Allow);
    assert_eq!(set.rules.len(), 2);
    assert_eq!(set.rules[0].name.as_deref(), Some("no force pushes"));
    assert_eq!(set.rules[0].agent.as_ref().map(Vec::len), Some(2));
    assert_eq!(RuleSet::parse("{}").expect("empty").default, Outcome::Ask);
}

#[test]
fn each_kind_of_mistake_is_refused_with_the_rule_and_field() {
    assert_eq!(
        rule(json!({"name": "x", "outcome": "ask", "command": "rm [abc"})),
        "rule 2 \"x\": field `command`: `[abc` has an unclosed `[`"
    );
    assert_eq!(
        rule(json!({"outcome": "ask", "tool": ["Bash", "[x"]})),
        "rule 2: field `tool`: `[x` has an unclosed `[`"
    );
    assert!(
        rule(json!({"name": "r", "outcome": "ask", "regex": "(unclosed"}))
            .starts_with("rule 2 \"r\": field `regex`: regex parse error")
    );
    assert!(
        rule(json!({"name": "u", "outcome": "ask", "tool": "Bash", "comand": "rm"}))
            .starts_with("rule 2 \"u\": unknown field `comand`")
    );
    assert_eq!(
        rule(json!({"name": "e", "outcome": "ask"})),
        "rule 2 \"e\": has no condition (tool, agent, command, regex or path); use `default` for every call"
    );
    assert!(
        rule(json!({"name": "o", "outcome": "maybe", "tool": "Bash"}))
            .starts_with("rule 2 \"o\": field `outcome`: unknown variant `maybe`")
    );
    assert_eq!(rule(json!({"name": "n", "tool": "Bash"})), "rule 2 \"n\": field `outcome`: is required");
    assert!(rule(json!({"outcome": "ask", "tool": 3})).starts_with("rule 2: field `tool`: "));
    assert_eq!(
        rule(json!({"outcome": "ask", "tool": []})),
        "rule 2: field `tool`: must list 1 to 100 entries"
    );
    assert_eq!(
        rule(json!({"outcome": "ask", "path": {"inside": ["relative"]}})),
        "rule 2: field `path`: `relative` is neither an absolute path nor `{cwd}` or `{cwd}/…`"
    );
    assert!(
        rule(json!({"outcome": "ask", "path": {"near": ["/x"]}}))
            .starts_with("rule 2: field `path`: unknown variant `near`")
    );
    assert_eq!(rule(json!("rm")), "rule 2: a rule must be a JSON object");
    assert!(error(json!({"default": "sometimes"})).starts_with("rule set: field `default`: unknown variant"));
    assert!(error(json!({"default": "ask", "rule": []})).starts_with("rule set: unknown field `rule`"));
    assert!(RuleSet::parse("{").expect_err("not JSON").to_string().starts_with("rule set: "));
}

#[test]
fn limits_are_enforced() {
    let long = "a".repeat(1_001);
    assert_eq!(
        rule(json!({"outcome": "ask", "command": long})),
        "rule 2: field `command`: longer than 1000 characters"
    );
    assert_eq!(
        rule(json!({"outcome": "ask", "regex": long})),
        "rule 2: field `regex`: longer than 1000 characters"
    );
    let many: Vec<_> = (0..501).map(|_| json!({"tool": "Bash", "outcome": "ask"})).collect();
    assert_eq!(error(json!({"rules": many})), "rule set: 501 rules; at most 500");
    // Under 1,000 characters but compiling past the size limit.
    assert!(
        rule(json!({"outcome": "ask", "regex": "(?:\\w{1000}){1000}"}))
            .starts_with("rule 2: field `regex`: ")
    );
}

#[test]
fn the_error_names_the_rule_by_position_and_name() {
    let e = RuleSet::from_value(json!({"rules": [{"name": "a", "outcome": "ask", "tool": "["}]}))
        .expect_err("bad");
    assert_eq!(
        e,
        RuleSetError {
            rule: Some(0),
            rule_name: Some("a".into()),
            field: Some("tool"),
            message: "`[` has an unclosed `[`".into()
        }
    );
}
