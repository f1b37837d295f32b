use super::decide::bash;
use super::{ORDINARY_COMMANDS, RISKY_COMMANDS};
use crate::rules::{DecidedBy, Outcome, RuleSet, defaults};

fn outcome(command: &str) -> Outcome {
    RuleSet::defaults().decide(&bash(command)).outcome
}

#[test]
fn the_defaults_parse_and_allow_by_default() {
    let set = RuleSet::from_value(defaults::json()).expect("the built-in rule set parses");
    assert_eq!(set.default, Outcome::Allow);
    assert!(set.rules.iter().all(|r| r.name.is_some()));
}

/// The risky commands the Claude Code hook asks about (its tests use the same list): none passes.
#[test]
fn risky_commands_are_not_allowed() {
    for c in RISKY_COMMANDS.iter().copied().chain([
        // Beyond the hook's list: what the splitter finds inside other commands.
        "echo $(rm -rf x)",
        "ls `git push -f`",
        "find . -name '*.tmp' -exec rm -rf {} +",
        "echo 'rm -rf ~' | sh",
        "FOO=1 sudo -u ci env -i nice -n 5 git push --force",
        "cat <<EOF\nanything\nEOF",
    ]) {
        assert_ne!(outcome(c), Outcome::Allow, "should not pass: {c}");
    }
}

/// The ordinary commands the hook lets through (its tests use the same list): all pass.
#[test]
fn ordinary_commands_are_allowed() {
    for c in ORDINARY_COMMANDS.iter().copied().chain([
        // Beyond the hook's list: words, not substrings, are matched.
        "echo rm -rf /",
        "git commit -m 'git push --force later'",
        "git push --follow-tags origin main",
        "cargo build 2>&1 | tail -n 20",
    ]) {
        assert_eq!(outcome(c), Outcome::Allow, "should pass: {c}");
    }
}

#[test]
fn the_deny_list_refuses() {
    for c in [
        "rm -rf /",
        "sudo rm -fr /*",
        "rm -r --no-preserve-root /",
        "rm -rf ~",
        "rm -rf ~/",
        "rm -Rf \"$HOME\"",
        "rm -rf ${HOME}/*",
        "rm / -rf",
        "mkfs /dev/sdb",
        "sudo mkfs.xfs -f /dev/nvme0n1",
        "dd if=/dev/zero of=/dev/nvme0n1",
        "dd if=x.img of=/dev/sdb bs=4M",
        ":(){ :|:& };:",
        "bomb(){ bomb|bomb & };bomb",
        "chmod -R 777 /",
        "sudo chmod --recursive a+rwx /",
        "bash -c 'rm -rf /'",
        "echo $(rm -rf ~)",
    ] {
        assert_eq!(outcome(c), Outcome::Deny, "should be denied: {c}");
    }
    for c in ["rm -rf /tmp/build", "rm -rf ~/project/target", "dd if=a of=b.img", "chmod -R 755 ./dist"] {
        assert_ne!(outcome(c), Outcome::Deny, "should not be denied: {c}");
    }
    let d = RuleSet::defaults().decide(&bash("rm -rf /"));
    assert_eq!(d.decided_by, DecidedBy::Rule { index: 0, name: Some("rm -rf / or ~".into()) });
    assert_eq!(d.reason.as_deref(), Some("deletes the whole system or home directory"));
}

/// M2 and H2 under the built-in rules: options that run a command or write a file, and
/// redirections to files, are asked about. (`curl … -o page.html` was on the list of ordinary
/// commands before issue 16.)
#[test]
fn options_that_write_or_run_are_asked() {
    for c in [
        "curl https://example.com -o page.html",
        "git -c core.fsmonitor='id' status",
        "find ~ -delete",
        "cargo build > build.log",
        "sudo apt-get install -y jq",
    ] {
        assert_eq!(outcome(c), Outcome::Ask, "{c}");
    }
}

/// M3: behind the wrappers the hook's old local patterns saw through, the defaults ask at least
/// (the whole list is tried at the gate in `tests/api/gate/splitter.rs`).
#[test]
fn wrapped_risky_commands_are_not_allowed() {
    for c in ["taskset -c 0 rm -rf build", "watch -n 60 'git push --force'", "bash /dev/stdin <<< \"$x\""] {
        assert_ne!(outcome(c), Outcome::Allow, "{c}");
    }
    assert_eq!(outcome("chrt -o 0 rm -rf ~"), Outcome::Deny);
}
