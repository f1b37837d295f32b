//! A rule set's own examples: parsed with the set, decided as the gate decides, and a failing one
//! refuses the save naming the example, what it got and what decided.

use crate::rules::{Outcome, RuleSet};
use serde_json::{Value, json};

fn with_examples(examples: Value) -> Result<RuleSet, String> {
    RuleSet::from_value(json!({
        "default": "allow",
        "rules": [
            {"name": "no force pushes", "outcome": "deny", "tool": "Bash", "command": "git push --force*"},
            {"name": "outside", "outcome": "ask", "tool": ["Write", "Edit"], "path": {"outside": ["{cwd}"]}},
            {"name": "ci", "outcome": "ask", "agent": "ci-*", "tool": "Bash", "command": "cargo publish"},
        ],
        "examples": examples,
    }))
    .map_err(|e| e.to_string())
}

#[test]
fn examples_are_decided_as_the_gate_decides_them() {
    let set = with_examples(json!([
        {"command": "git push --force origin main", "expect": "deny"},
        {"command": "ls && git push -f", "expect": "allow"},
        {"tool": "Write", "input": {"file_path": "/etc/hosts", "content": "x"}, "cwd": "/srv/app", "expect": "ask"},
        {"tool": "Write", "input": {"file_path": "src/main.rs"}, "cwd": "/srv/app", "expect": "allow"},
        {"command": "cargo publish", "agent": "ci-bot", "expect": "ask"},
        {"tool": "Bash", "command": "cargo publish", "expect": "allow"},
    ]))
    .expect("parses");
    let review = set.review();
    assert_eq!(review.refusal(), None, "{review:?}");
    let got: Vec<(usize, &str, Outcome, bool)> =
        review.examples.iter().map(|r| (r.index, r.shown.as_str(), r.decision.outcome, r.passes())).collect();
    assert_eq!(
        got,
        vec![
            (0, "git push --force origin main", Outcome::Deny, true),
            (1, "ls && git push -f", Outcome::Allow, true),
            (2, "Write /etc/hosts", Outcome::Ask, true),
            (3, "Write src/main.rs", Outcome::Allow, true),
            (4, "cargo publish", Outcome::Ask, true),
            (5, "cargo publish", Outcome::Allow, true),
        ]
    );
}

#[test]
fn failing_examples_refuse_the_set_saying_what_each_got_and_what_decided() {
    let set = with_examples(json!([
        {"command": "git push origin main", "expect": "deny"},
        {"command": "git push --force", "expect": "deny"},
        {"tool": "Write", "input": {"file_path": "/etc/hosts"}, "cwd": "/srv/app", "expect": "allow"},
    ]))
    .expect("parses");
    let review = set.review();
    assert_eq!(
        review.refusal().map(ToString::to_string).as_deref(),
        Some(
            "rule set: field `examples`: example 1 `git push origin main` should be denied but is allowed by the \
             default; example 3 `Write /etc/hosts` should be allowed but is asked by rule 2 \"outside\""
        )
    );
    assert_eq!(review.examples.iter().filter(|r| r.passes()).count(), 1);
    // Many failures are counted past the first five.
    let many: Vec<Value> = (0..8).map(|i| json!({"command": format!("ls {i}"), "expect": "deny"})).collect();
    let refusal = with_examples(json!(many)).expect("parses").review().refusal().map(ToString::to_string);
    assert!(refusal.is_some_and(|r| r.ends_with("; and 3 more")));
}

#[test]
fn a_tool_case_refusal_comes_before_the_examples() {
    let set = RuleSet::from_value(json!({
        "rules": [{"outcome": "deny", "tool": "bash", "command": "rm*"}],
        "examples": [{"command": "rm x", "expect": "deny"}],
    }))
    .expect("parses");
    let review = set.review();
    assert_eq!(review.refusals.len(), 2);
    assert!(review.refusal().is_some_and(|r| r.field == Some("tool")), "{review:?}");
}

#[test]
fn each_kind_of_bad_example_is_refused_naming_it() {
    for (example, message) in [
        (json!({"command": "ls"}), "example 1: `expect` is required (allow, ask or deny)"),
        (json!({"command": "ls", "expect": "maybe"}), "example 1: unknown variant `maybe`"),
        (json!({"expect": "ask"}), "example 1: give `command` (a Bash command line) or `tool` and `input`"),
        (json!({"input": {}, "expect": "ask"}), "example 1: `input` needs `tool`"),
        (
            json!({"tool": "Write", "command": "ls", "expect": "ask"}),
            "example 1: `command` is for Bash calls",
        ),
        (json!({"tool": "Bash", "command": "ls", "input": {}, "expect": "ask"}), "not both"),
        (json!({"tool": "bash", "input": {"command": "ls"}, "expect": "ask"}), "did you mean `Bash`?"),
        (json!({"command": "ls", "cwd": "srv", "expect": "ask"}), "`cwd` must be an absolute path"),
        (json!({"command": "ls", "agent": "", "expect": "ask"}), "`agent` must be 1 to 128 characters"),
        (json!({"command": "ls", "expect": "ask", "why": "x"}), "unknown field `why`"),
        (json!({"command": "x".repeat(17_000), "expect": "ask"}), "longer than 16384 bytes"),
    ] {
        let refused = with_examples(json!([example])).expect_err("refused");
        assert!(refused.starts_with("rule set: field `examples`: "), "{refused}");
        assert!(refused.contains(message), "{message}: {refused}");
    }
    let many: Vec<Value> = (0..101).map(|_| json!({"command": "ls", "expect": "allow"})).collect();
    assert_eq!(
        with_examples(json!(many)).expect_err("too many"),
        "rule set: field `examples`: 101 examples; at most 100"
    );
    assert!(with_examples(json!({"command": "ls"})).expect_err("not a list").contains("field `examples`"));
}
