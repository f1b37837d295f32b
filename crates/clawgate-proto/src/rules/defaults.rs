//! The rule set a person starts with: a short `deny` list of commands nobody approves by a tap,
//! then the risky patterns hooks used to match on their own as `ask` rules. It is also what the
//! Claude Code hook blocks by when the server cannot decide (`commands::hook_rules`): one list.
//!
//! The default outcome is `allow`. Today's hooks let every call through that no pattern flags;
//! a default of `ask` would send a person every `ls` and `cargo test`, and a gate that floods its
//! person is either rubber-stamped or switched off (the issue's "Why"). Routine calls therefore
//! pass, the patterns below ask, the deny list refuses, and a part the splitter cannot be sure of
//! still asks whatever the default is.

use super::RuleSet;
use serde_json::{Value, json};

/// Targets that make a recursive `rm` or `chmod` wreck a machine or a home directory. `\*` is a
/// literal `*` (the word the shell would expand to everything under `/`).
const ROOTS: [&str; 2] = ["/", "/\\*"];
const HOMES: [&str; 9] =
    ["~", "~/", "~/\\*", "$HOME", "$HOME/", "$HOME/\\*", "${HOME}", "${HOME}/", "${HOME}/\\*"];
/// `-r`, `-rf`, `-fR`, `--recursive`; not `--force` alone.
const RECURSIVE: [&str; 3] = ["-[rR]*", "-[!-]*[rR]*", "--recursive"];

fn rm_everything() -> Vec<String> {
    let mut patterns = Vec::new();
    for target in ROOTS.iter().chain(&HOMES) {
        for flag in RECURSIVE {
            patterns.push(format!("rm {flag} {target}"));
            patterns.push(format!("rm {target} {flag}"));
        }
    }
    patterns
}

fn chmod_everything() -> Vec<String> {
    let mut patterns = Vec::new();
    for flag in ["-R", "-[!-]*R*", "--recursive"] {
        for mode in ["777", "0777", "a+rwx", "ugo+rwx"] {
            for target in ROOTS {
                patterns.push(format!("chmod {flag} {mode} {target}"));
            }
        }
    }
    patterns
}

fn deny(name: &str, reason: &str, command: Value) -> Value {
    json!({"name": name, "outcome": "deny", "reason": reason, "tool": "Bash", "command": command})
}

fn ask(name: &str, command: &[&str]) -> Value {
    json!({"name": name, "outcome": "ask", "tool": "Bash", "command": command})
}

fn ask_regex(name: &str, regex: &str) -> Value {
    json!({"name": name, "outcome": "ask", "tool": "Bash", "regex": regex})
}

/// The default rule set as JSON, as the app shows it for editing.
pub fn json() -> Value {
    let disks = ["sd", "nvme", "hd", "vd", "xvd", "mmcblk", "disk"].map(|d| format!("dd of=/dev/{d}*"));
    json!({
        "default": "allow",
        "rules": [
            deny("rm -rf / or ~", "deletes the whole system or home directory", json!(rm_everything())),
            deny("mkfs", "creates a file system, erasing the device", json!(["mkfs", "mkfs.*"])),
            deny("dd onto a disk", "overwrites a disk device", json!(disks)),
            {"name": "fork bomb", "outcome": "deny", "reason": "exhausts the machine's processes",
             "tool": "Bash", "regex": r"[\w:.]+\s*\(\s*\)\s*\{\s*[\w:.]+\s*\|\s*[\w:.]+\s*&\s*;?\s*\}"},
            deny("chmod -R 777 /", "makes every file writable by everyone", json!(chmod_everything())),
            ask("rm -r/-f", &["rm -[rRf]*", "rm -[!-]*[rRf]*", "rm --recursive*", "rm --force*"]),
            ask(
                "git push --force",
                &[
                    "git push --force*", "git push -f*", "git push -[!-]*f*", "git push --mirror",
                    "git push --delete", "git push -d", "git push +*", "git push :*",
                ],
            ),
            ask(
                "git reset --hard / clean -f",
                &["git reset --hard", "git clean -f*", "git clean -[!-]*f*", "git clean --force"],
            ),
            ask(
                "package publish",
                &[
                    "npm publish", "npm unpublish", "pnpm publish", "yarn publish", "bun publish",
                    "cargo publish", "poetry publish", "uv publish", "hatch publish", "flit publish",
                    "twine upload", "gem push",
                ],
            ),
            ask("dd of=", &["dd of=*"]),
            ask(
                "mkfs / disk tools",
                &["mke2fs", "mkswap", "wipefs", "fdisk", "sfdisk", "cfdisk", "gdisk", "sgdisk", "parted"],
            ),
            ask_regex(
                "SQL DROP / TRUNCATE",
                r"(?i)\b(?:drop\s+(?:table|database|schema|view|index|user|role)\b|truncate\s+table\b)",
            ),
            ask_regex("SQL TRUNCATE", r"(?i)\btruncate\s+[a-z_]\w*\s*(?:;|$|,|\bcascade\b|\brestart\b)"),
            ask("kubectl delete", &["kubectl delete", "kubectl drain", "oc delete", "helm uninstall", "helm delete"]),
            ask(
                "terraform destroy",
                &["terraform destroy", "tofu destroy", "terraform apply -destroy", "tofu apply -destroy"],
            ),
            ask_regex("curl | sh", r"\b(?:curl|wget)\b[^;&\n]*\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b"),
            ask_regex("sh <(curl)", r"\b(?:ba|z)?sh\s+(?:-c\s+)?[^;&|\n]*(?:<\(|\$\()\s*(?:curl|wget)\b"),
        ]
    })
}

impl RuleSet {
    /// The built-in rule set (see the module docs).
    pub fn defaults() -> RuleSet {
        // The JSON above is constant and parsed by a unit test, so this cannot fail at run time.
        #[allow(clippy::expect_used)]
        RuleSet::from_value(json()).expect("the built-in rule set parses")
    }
}
