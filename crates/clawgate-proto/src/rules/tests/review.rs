//! Rules that cannot match, found when a set is saved: refused (a tool name that differs from a
//! known one only in case) or warned about (the rest), each naming the rule and field.

use crate::rules::{RuleSet, Warning};
use serde_json::{Value, json};

fn set(rules: Value) -> RuleSet {
    RuleSet::from_value(json!({"default": "allow", "rules": rules})).expect("parses")
}

/// The refusal of a set holding `rule` (after a harmless first rule), in words.
fn refusal(rule: Value) -> Option<String> {
    set(json!([{"tool": "Read", "outcome": "allow"}, rule])).review().refusal().map(ToString::to_string)
}

/// The warnings about `rules`, in words.
fn warnings(rules: Value) -> Vec<String> {
    set(rules).review().warnings.iter().map(ToString::to_string).collect()
}

/// The one warning about a set of this one rule.
fn warning(rule: Value) -> String {
    let found = warnings(json!([rule]));
    assert_eq!(found.len(), 1, "one warning: {found:?}");
    found[0].clone()
}

fn quiet(rule: Value) {
    let found = set(json!([rule.clone()])).review();
    assert!(found.refusals.is_empty() && found.warnings.is_empty(), "{rule}: {found:?}");
}

#[test]
fn a_tool_name_differing_only_in_case_is_refused_with_the_fix() {
    assert_eq!(
        refusal(json!({"name": "push", "outcome": "deny", "tool": "bash", "command": "git push*"}))
            .as_deref(),
        Some(
            "rule 2 \"push\": field `tool`: `bash` is not a tool name (tool names are case-sensitive); did you mean `Bash`?"
        )
    );
    let listed = refusal(json!({"outcome": "ask", "tool": ["Write", "webfetch"]})).expect("refused");
    assert!(
        listed.starts_with("rule 2: field `tool`: `webfetch`") && listed.ends_with("`WebFetch`?"),
        "{listed}"
    );
    let glob = refusal(json!({"outcome": "ask", "tool": "notebook*"})).expect("refused");
    assert!(glob.contains("only `NotebookEdit`, `NotebookRead` if case is ignored"), "{glob}");
    // OpenClaw's own lower-case names are tools of their own, not typos.
    for tool in ["write", "read", "edit", "web_fetch", "apply_patch"] {
        quiet(json!({"outcome": "ask", "tool": tool}));
    }
}

#[test]
fn known_tools_globs_and_mcp_tools_pass_quietly() {
    for tool in [json!("Bash"), json!(["Write", "Edit"]), json!("Web*"), json!("*"), json!("mcp__github__*")]
    {
        quiet(json!({"outcome": "ask", "tool": tool}));
    }
    quiet(json!({"outcome": "allow", "tool": "Bash", "command": ["cargo test*", "git status", "npm run *"]}));
    quiet(json!({"outcome": "ask", "tool": ["Write", "Edit"], "path": {"outside": ["{cwd}"]}}));
    let defaults = RuleSet::defaults().review();
    assert_eq!((defaults.refusals.len(), defaults.warnings.len()), (0, 0), "{defaults:?}");
}

#[test]
fn an_unknown_tool_name_is_warned_about_with_a_near_miss() {
    let typo = warning(json!({"outcome": "deny", "tool": "Bsh"}));
    assert!(typo.starts_with("rule 1: field `tool`: `Bsh` is none of the tools the server knows"), "{typo}");
    assert!(typo.ends_with("did you mean `Bash`?"), "{typo}");
    let custom = warning(json!({"outcome": "ask", "tool": "DeployTool"}));
    assert!(
        custom.ends_with("only a tool of exactly that name"),
        "no guess for a name far from any: {custom}"
    );
    let exec = warning(json!({"outcome": "deny", "tool": "exec", "regex": "rm"}));
    assert!(exec.contains("`exec` calls reach the rules as `Bash`"), "{exec}");
}

#[test]
fn conditions_no_call_can_meet_together_are_warned_about() {
    let not_bash = warning(json!({"name": "w", "outcome": "deny", "tool": "Write", "command": "rm*"}));
    assert!(
        not_bash.starts_with("rule 1 \"w\": field `command`: command patterns match only Bash calls"),
        "{not_bash}"
    );
    let not_file = warning(json!({"outcome": "ask", "tool": "WebFetch", "path": {"inside": ["/srv"]}}));
    assert!(
        not_file.starts_with("rule 1: field `path`: `path` applies only to the file tools"),
        "{not_file}"
    );
    let both = warning(json!({"outcome": "ask", "command": "rm*", "path": {"inside": ["/srv"]}}));
    assert!(both.contains("no call meets both"), "{both}");
}

#[test]
fn allow_patterns_outside_what_an_allow_covers_are_warned_about_with_why() {
    for (pattern, why) in [
        ("sudo *", "an allow never covers a command run through `sudo`"),
        ("xargs rm", "an allow never covers a command run through `xargs`"),
        ("git -c*", "an option that runs a command or writes a file (`-c`)"),
        ("git -C*", "(`-C`)"),
        ("sed -i *", "(`-i`)"),
        ("find . -delete", "(`-delete`)"),
        ("curl -o *", "(`-o`)"),
        ("git log $x", "an expansion whose value the program could take as an option (`$x`)"),
        ("source *", "a builtin that evaluates text or changes the shell (`source`)"),
        ("echo hi > out.txt", "`>` is a redirection, not a word"),
        ("cat x 2>/tmp/log", "`2>/tmp/log` is a redirection"),
        ("git log | head", "`|` separates commands"),
        ("FOO=1 make", "`FOO=1` is an assignment, not a program"),
        ("git commit -m \"wip\"", "holds a quote"),
    ] {
        let found = warning(json!({"outcome": "allow", "tool": "Bash", "command": pattern}));
        assert!(found.starts_with(&format!("rule 1: field `command`: `{pattern}`: ")), "{found}");
        assert!(found.contains(why), "{pattern}: {found}");
    }
}

#[test]
fn allow_patterns_an_allow_can_cover_are_not_warned_about() {
    for pattern in [
        "git *",
        "git log *",
        "git config --get *",
        "sed -n *",
        "sed *",
        "awk *",
        "find *",
        "cargo test*",
        "npm run *",
        "make *",
        "cat $HOME/*",
        "echo *",
        "ls -la",
        "bash -c *",
        "env",
        "sudo -v",
        "rm -[rR]*",
        "curl -fsSL *",
        "git --no-pager log *",
    ] {
        quiet(json!({"outcome": "allow", "tool": "Bash", "command": pattern}));
    }
}

#[test]
fn patterns_that_match_no_command_are_warned_about_for_any_outcome() {
    let sudo = warning(json!({"outcome": "deny", "command": "sudo rm *"}));
    assert!(
        sudo.contains("only matches `sudo` running no command") && sudo.contains("use `regex`"),
        "{sudo}"
    );
    let nice = warning(json!({"outcome": "ask", "command": "nice cargo *"}));
    assert!(nice.contains("write the program's own pattern"), "{nice}");
    let eval = warning(json!({"outcome": "deny", "command": "eval *"}));
    assert!(eval.contains("`eval` is never split into a command"), "{eval}");
    let redirect = warning(json!({"outcome": "deny", "command": "echo * >> ~/.bashrc"}));
    assert!(redirect.contains("`>>` is a redirection"), "{redirect}");
    // A deny rule may name what an allow never covers: it matches such commands broadly.
    quiet(
        json!({"outcome": "deny", "command": ["git -c*", "sed -i*", "find * -delete", "find * -exec rm * \\;"]}),
    );
}

#[test]
fn a_regex_that_can_never_match_is_warned_about() {
    for regex in ["[^\\s\\S]", "a^b", "x$y", "(?:a\\z)b", "[a&&b]"] {
        let found = warning(json!({"outcome": "deny", "tool": "Bash", "regex": regex}));
        assert!(found.starts_with("rule 1: field `regex`: can never match anything"), "{regex}: {found}");
    }
    for regex in ["^git push", "push$", "(?m)a$\\nb", "a|^b", "\\bdrop\\s+table\\b"] {
        quiet(json!({"outcome": "deny", "tool": "Bash", "regex": regex}));
    }
}

#[test]
fn a_rule_shadowed_by_an_earlier_one_is_warned_about() {
    let found = warnings(json!([
        {"name": "no curl", "outcome": "deny", "tool": "Bash", "command": ["curl*", "wget*"]},
        {"outcome": "allow", "tool": "Bash", "command": "curl*"},
        {"outcome": "ask", "tool": "Bash", "command": "curl*", "agent": "ci-*"},
    ]));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("rule 2: never decides anything: rule 1 \"no curl\" comes first"),
        "{found:?}"
    );
    assert!(found[0].ends_with("(and denies it)"), "{found:?}");
    assert!(found[1].starts_with("rule 3: never decides anything: rule 1"), "{found:?}");
    // An earlier allow matches in place, more narrowly: a later deny of the same words still
    // decides (`git -C x push`), and narrower or different conditions shadow nothing.
    assert!(
        warnings(json!([
            {"outcome": "allow", "tool": "Bash", "command": "git push"},
            {"outcome": "deny", "tool": "Bash", "command": "git push"},
            {"outcome": "ask", "tool": "Bash", "command": "rm*", "agent": "ci"},
            {"outcome": "deny", "tool": "Bash", "command": "rm*"},
            {"outcome": "ask", "tool": "Bash", "regex": "a"},
            {"outcome": "ask", "tool": "Bash", "regex": "b"},
        ]))
        .is_empty()
    );
}

#[test]
fn a_warning_names_its_rule_by_position_and_name() {
    let found = set(json!([{"name": "w", "outcome": "ask", "tool": "Write", "command": "rm"}])).review();
    assert_eq!(
        found.warnings,
        vec![Warning {
            rule: Some(0),
            rule_name: Some("w".into()),
            field: Some("command"),
            message:
                "command patterns match only Bash calls (and shell tools decided as Bash), and this rule's \
                      `tool` never matches `Bash`: the rule never matches"
                    .into(),
        }]
    );
}

#[test]
fn the_largest_set_is_reviewed_in_well_under_a_save_s_time() {
    // 500 rules of 100 tools and 100 patterns each, alike but for their regex: every pair is
    // compared, none shadows another (about a second in a debug build).
    let tools: Vec<String> = (0..100).map(|i| format!("mcp__s__t{i}")).collect();
    let patterns: Vec<String> = (0..100).map(|i| format!("prog{i} *")).collect();
    let rules: Vec<Value> = (0..500)
        .map(|i| json!({"outcome": "ask", "tool": tools, "command": patterns, "regex": format!("r{i}")}))
        .collect();
    let started = std::time::Instant::now();
    let review = set(json!(rules)).review();
    assert!(review.warnings.iter().all(|w| w.field == Some("command")), "none shadowed");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
}
