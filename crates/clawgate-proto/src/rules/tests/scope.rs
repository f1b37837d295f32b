use super::decide::bash;
use crate::rules::{Call, NotGrantable, Scope, Width};
use serde_json::json;

fn agent(command: &str, agent: &str) -> Call {
    Call { agent_id: Some(agent.into()), ..bash(command) }
}

#[test]
fn an_exact_grant_covers_only_that_command() {
    let call = agent("cargo test --release", "a1");
    let scope = Scope::from_call(&call, Width::ExactCommand).expect("grantable");
    assert_eq!(scope.argv_prefix, Some(vec!["cargo".into(), "test".into(), "--release".into()]));
    assert!(scope.exact);
    assert_eq!(scope.cwd.as_deref(), Some("/p"));
    assert!(scope.covers(&call));
    assert!(scope.covers(&agent("cargo  test \"--release\"", "a1")), "same words, other quoting");
    assert!(scope.covers(&Call { cwd: Some("/p/./x/..".into()), ..call.clone() }), "cwd is normalised");
    assert!(!scope.covers(&agent("cargo test --release -- --ignored", "a1")));
    assert!(!scope.covers(&agent("cargo test", "a1")));
    assert!(!scope.covers(&agent("cargo test --release", "a2")), "other agent");
    assert!(!scope.covers(&Call { agent_id: None, ..call.clone() }), "no agent");
    assert!(!scope.covers(&Call { cwd: Some("/q".into()), ..call.clone() }), "other cwd");
    assert!(!scope.covers(&Call { cwd: None, ..call.clone() }), "unknown cwd");
    assert!(!scope.covers(&Call { tool: "Other".into(), ..call.clone() }));
}

#[test]
fn a_prefix_grant_covers_longer_commands_word_for_word() {
    let call = agent("git push origin main", "a1");
    let scope = Scope::from_call(&call, Width::ArgvPrefix(3)).expect("grantable");
    assert!(!scope.exact);
    assert!(scope.covers(&agent("git push origin main", "a1")));
    assert!(scope.covers(&agent("git push origin feature", "a1")));
    assert!(!scope.covers(&agent("git push", "a1")));
    assert!(!scope.covers(&agent("git push upstream main", "a1")));
    assert!(!scope.covers(&agent("git pus? origin main", "a1")), "prefix words are not globs");
    assert!(!scope.covers(&agent("/usr/bin/git push origin main", "a1")), "words compare exactly");
    assert!(!scope.covers(&agent("sudo git push origin main", "a1")), "wrappers are words too");
    assert!(!scope.covers(&agent("GIT_SSH_COMMAND=x git push origin main", "a1")));
}

#[test]
fn a_grant_never_covers_a_compound_or_unclear_command() {
    let scope = Scope::from_call(&agent("ls -la", "a1"), Width::ArgvPrefix(1)).expect("grantable");
    assert!(scope.covers(&agent("ls -la /tmp", "a1")));
    for command in [
        "ls; rm -rf ~",
        "ls && rm x",
        "ls | sh",
        "ls $(rm -rf x)",
        "ls `rm x`",
        "ls <(rm x)",
        "ls $DIR",
        "ls > /etc/passwd",
        "ls 'open",
        "ls <<EOF",
        "bash -c 'ls'",
        "(ls)",
    ] {
        assert!(!scope.covers(&agent(command, "a1")), "must not cover: {command}");
    }
    assert!(scope.covers(&agent("ls 2>/dev/null", "a1")), "/dev/null is harmless");
}

#[test]
fn only_narrow_scopes_are_offered() {
    // Before issue 16 this was `FOO=1 sudo rm -rf build`; an assignment and `sudo` now put a
    // command outside what a grant can cover, so a harmless wrapper shows the same bounds.
    let call = agent("nice -n 5 rm -rf build", "a1");
    assert_eq!(Scope::from_call(&call, Width::ArgvPrefix(3)), Err(NotGrantable::PrefixOutOfRange));
    assert!(Scope::from_call(&call, Width::ArgvPrefix(4)).is_ok());
    assert_eq!(Scope::from_call(&call, Width::ArgvPrefix(9)), Err(NotGrantable::PrefixOutOfRange));
    assert_eq!(Scope::from_call(&call, Width::ToolInCwd), Err(NotGrantable::WidthNotForTool));
    for outside in ["FOO=1 rm -rf build", "sudo rm -rf build", "git -c core.pager=x log", "ls < in"] {
        let call = agent(outside, "a1");
        assert_eq!(Scope::from_call(&call, Width::ExactCommand), Err(NotGrantable::Unclear), "{outside}");
    }
    assert_eq!(Scope::from_call(&agent("ls; pwd", "a1"), Width::ExactCommand), Err(NotGrantable::Compound));
    assert_eq!(Scope::from_call(&agent("eval ls", "a1"), Width::ExactCommand), Err(NotGrantable::Unclear));
    assert_eq!(Scope::from_call(&agent("rm $X", "a1"), Width::ExactCommand), Err(NotGrantable::Dynamic));
    assert_eq!(Scope::from_call(&agent("ls > out", "a1"), Width::ExactCommand), Err(NotGrantable::Redirect));
    assert_eq!(Scope::from_call(&agent("", "a1"), Width::ExactCommand), Err(NotGrantable::Compound));
    // Plain words, no Markdown backticks (issue 17: the page styles the command itself). Before,
    // these read "commands starting `git push`, …" and "exactly `git commit -m 'a b' ''`, …".
    let scope = Scope::from_call(&agent("git push origin main", "a1"), Width::ArgvPrefix(2)).expect("ok");
    assert_eq!(scope.describe(), "commands starting git push, by agent a1, in /p");
    let scope = Scope::from_call(&agent("git commit -m 'a b' ''", "a1"), Width::ExactCommand).expect("ok");
    assert_eq!(scope.describe(), "exactly git commit -m 'a b' '', by agent a1, in /p");
}

#[test]
fn a_scope_in_words_names_the_command_apart_and_quotes_what_would_blur_it() {
    let scope = Scope::from_call(&agent("echo a, b", "a1"), Width::ExactCommand).expect("ok");
    let words = scope.words();
    assert_eq!(
        (words.what.as_str(), words.command.as_deref(), words.agent.as_str(), words.place.as_str()),
        ("exactly", Some("echo 'a,' b"), "by agent a1", "in /p")
    );
    assert_eq!(scope.describe(), "exactly echo 'a,' b, by agent a1, in /p");
    let write = Call { tool: "Write".into(), input: json!({"file_path": "a"}), ..bash("") };
    let scope = Scope::from_call(&write, Width::ToolInCwd).expect("ok");
    assert_eq!(scope.describe(), "any Write call, by an agent without an id, in /p");
}

/// Issue 17: a grant is never wider than what the runtime told the server. A call that named no
/// working directory makes a grant for calls that name none, never for "any directory".
#[test]
fn a_grant_made_without_a_cwd_covers_only_calls_without_one() {
    let call = Call { cwd: None, ..agent("cargo test --release", "a1") };
    let scope = Scope::from_call(&call, Width::ArgvPrefix(2)).expect("grantable");
    assert_eq!(scope.cwd, None);
    assert!(scope.covers(&call));
    assert!(scope.covers(&Call { cwd: None, ..agent("cargo test --lib", "a1") }));
    for cwd in ["/p", "/", "/home/a"] {
        assert!(!scope.covers(&Call { cwd: Some(cwd.into()), ..call.clone() }), "{cwd}");
    }
    assert_eq!(
        scope.describe(),
        "commands starting cargo test, by agent a1, only in calls that name no working directory"
    );
}

#[test]
fn file_tool_grants_stay_inside_the_cwd() {
    let write = |path: &str, cwd: Option<&str>| Call {
        tool: "Write".into(),
        input: json!({"file_path": path}),
        cwd: cwd.map(Into::into),
        agent_id: Some("a1".into()),
    };
    let scope = Scope::from_call(&write("src/a.rs", Some("/p/")), Width::ToolInCwd).expect("grantable");
    assert_eq!(scope.cwd.as_deref(), Some("/p"));
    assert!(scope.covers(&write("src/b.rs", Some("/p"))));
    assert!(scope.covers(&write("/p/deep/c.rs", Some("/p"))));
    assert!(!scope.covers(&write("../etc/passwd", Some("/p"))));
    assert!(!scope.covers(&write("/home/a/.bashrc", Some("/p"))));
    assert!(!scope.covers(&write("src/b.rs", Some("/q"))));
    assert_eq!(Scope::from_call(&write("a", None), Width::ToolInCwd), Err(NotGrantable::NoCwd));
    assert_eq!(
        Scope::from_call(&write("a", Some("/p")), Width::ExactCommand),
        Err(NotGrantable::WidthNotForTool)
    );
}
