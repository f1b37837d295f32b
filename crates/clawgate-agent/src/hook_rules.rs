//! What the hook blocks when the server cannot decide: every call the built-in rule set
//! ([`RuleSet::defaults`], the rules a person starts with on the server) does not allow, the
//! user's own regex patterns (a tool-name regex and a regex over what the call does), and an
//! optional guard on writes outside the project.

use clawgate_proto::rules::{Call, Outcome, RuleSet, by_words};
use regex::Regex;
use serde::Deserialize;
use std::path::{Component, Path, PathBuf};

/// Tools that write files, and where they name the file.
const FILE_TOOLS: [(&str, &str); 4] = [
    ("Write", "file_path"),
    ("Edit", "file_path"),
    ("MultiEdit", "file_path"),
    ("NotebookEdit", "notebook_path"),
];

/// One of the user's patterns: it matches a call whose tool name matches `tool` (the whole name)
/// and whose subject (see [`Call::subject`]) matches `pattern`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    tool: Regex,
    pattern: Regex,
}

impl Rule {
    pub fn new(name: &str, tool: &str, pattern: &str) -> Result<Self, String> {
        let tool = Regex::new(&format!("^(?:{tool})$")).map_err(|e| format!("tool regex `{tool}`: {e}"))?;
        let pattern = Regex::new(pattern).map_err(|e| format!("pattern `{pattern}`: {e}"))?;
        Ok(Self { name: name.to_owned(), tool, pattern })
    }

    fn matches(&self, tool_name: &str, subject: &str) -> bool {
        self.tool.is_match(tool_name) && self.pattern.is_match(subject)
    }
}

/// A rule as written in JSON: a bare string is a Bash pattern.
#[derive(Deserialize)]
#[serde(untagged)]
enum RuleSpec {
    Bash(String),
    Full {
        #[serde(default = "bash")]
        tool: String,
        pattern: String,
        name: Option<String>,
    },
}

fn bash() -> String {
    "Bash".into()
}

/// Rules from text: a JSON array (of pattern strings or `{"tool", "pattern", "name"}` objects),
/// or else one Bash pattern per line (blank lines and lines starting with `#` are skipped).
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, String> {
    if let Ok(specs) = serde_json::from_str::<Vec<RuleSpec>>(text) {
        return specs
            .into_iter()
            .map(|spec| match spec {
                RuleSpec::Bash(p) => Rule::new(&p, "Bash", &p),
                RuleSpec::Full { tool, pattern, name } => {
                    Rule::new(name.as_deref().unwrap_or(&pattern), &tool, &pattern)
                }
            })
            .collect();
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|p| Rule::new(p, "Bash", p))
        .collect()
}

/// What blocks a call while the server cannot decide.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The built-in rule set, unless turned off (`--no-default-patterns`): a call it does not
    /// allow (asks about or denies) is blocked.
    pub builtin: Option<RuleSet>,
    /// The user's own patterns: a call matching one is blocked.
    pub rules: Vec<Rule>,
    /// Also block a file tool that writes outside the project folder.
    pub outside_project: bool,
}

impl Policy {
    /// Why this call is blocked while the server cannot decide, in words ("the built-in rules
    /// ask about it (by rule 6 "rm -r/-f")"), or `None` to let it pass.
    pub fn blocks(&self, call: &Call, project: &Path) -> Option<String> {
        if let Some(decision) = self.builtin.as_ref().map(|set| set.decide(call))
            && decision.outcome != Outcome::Allow
        {
            return Some(format!(
                "the built-in rules {} it ({})",
                if decision.outcome == Outcome::Deny { "deny" } else { "ask about" },
                by_words(&decision.decided_by)
            ));
        }
        let subject = call.subject();
        if let Some(rule) = self.rules.iter().find(|r| r.matches(&call.tool, &subject)) {
            return Some(format!("it matches your local pattern \"{}\"", rule.name));
        }
        let writes = FILE_TOOLS.iter().any(|(t, _)| *t == call.tool);
        if self.outside_project && writes && !inside(Path::new(&subject), project) {
            return Some("it writes outside the project".into());
        }
        None
    }
}

/// Whether `path` (relative ones are taken from `root`) lies in `root`, by its components.
fn inside(path: &Path, root: &Path) -> bool {
    let root = normalize(root);
    !root.as_os_str().is_empty() && normalize(&root.join(path)).starts_with(&root)
}

/// `..` and `.` resolved without touching the disk.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawgate_proto::rules::corpus::{ORDINARY_COMMANDS, RISKY_COMMANDS};
    use serde_json::{Value, json};

    fn call(tool: &str, input: Value) -> Call {
        Call { tool: tool.into(), input, cwd: Some("/p".into()), agent_id: Some("claude-code".into()) }
    }

    fn builtin() -> Policy {
        Policy { builtin: Some(RuleSet::defaults()), rules: Vec::new(), outside_project: false }
    }

    fn blocks(command: &str) -> Option<String> {
        builtin().blocks(&call("Bash", json!({ "command": command })), Path::new("/p"))
    }

    #[test]
    fn risky_commands_are_blocked_by_the_built_in_rules() {
        for c in RISKY_COMMANDS {
            assert!(blocks(c).is_some_and(|why| why.starts_with("the built-in rules")), "should block: {c}");
        }
        let why = blocks("cd x && rm -r y").unwrap_or_default();
        assert!(
            why.starts_with("the built-in rules ask about it (by rule ") && why.ends_with(" \"rm -r/-f\")"),
            "{why}"
        );
        assert!(blocks("sudo rm -rf /").is_some_and(|why| why.starts_with("the built-in rules deny it")));
    }

    #[test]
    fn ordinary_commands_pass() {
        for c in ORDINARY_COMMANDS {
            assert_eq!(blocks(c), None, "should pass: {c}");
        }
        assert_eq!(
            builtin().blocks(&call("Read", json!({"file_path": "/etc/hosts"})), Path::new("/p")),
            None
        );
    }

    #[test]
    fn without_the_built_in_rules_only_the_users_patterns_block() {
        let policy = Policy {
            builtin: None,
            rules: parse_rules("\\bdeploy\\b").expect("one"),
            outside_project: false,
        };
        let bash = |c: &str| policy.blocks(&call("Bash", json!({ "command": c })), Path::new("/p"));
        assert_eq!(bash("rm -rf ./build"), None);
        assert_eq!(bash("./deploy prod").as_deref(), Some("it matches your local pattern \"\\bdeploy\\b\""));
    }

    #[test]
    fn rules_come_as_lines_or_json() {
        let lines = parse_rules("# mine\n\\bshutdown\\b\n\n^sudo ").expect("lines");
        assert_eq!(lines.len(), 2);
        let json = parse_rules(
            r#"["\\bshutdown\\b", {"tool": "Write|Edit", "pattern": "\\.env$", "name": "env files"}]"#,
        )
        .expect("json");
        let policy = Policy { builtin: None, rules: json, outside_project: false };
        let root = Path::new("/p");
        let why = |tool: &str, input: Value| policy.blocks(&call(tool, input), root);
        assert!(
            why("Bash", json!({"command": "shutdown now"})).is_some_and(|w| w.contains("\\bshutdown\\b"))
        );
        assert!(why("Edit", json!({"file_path": "/p/.env"})).is_some_and(|w| w.contains("env files")));
        assert_eq!(why("Write", json!({"file_path": "/p/src/a.rs"})), None);
        assert_eq!(why("Bash", json!({"command": "echo .env"})), None);
        assert!(parse_rules("(unclosed").is_err_and(|e| e.contains("(unclosed")));
    }

    #[test]
    fn writes_outside_the_project_can_be_guarded() {
        let policy = Policy { builtin: None, rules: Vec::new(), outside_project: true };
        let root = Path::new("/home/ada/project");
        let write = |p: &str| policy.blocks(&call("Write", json!({ "file_path": p })), root);
        assert_eq!(write("/home/ada/project/src/main.rs"), None);
        assert_eq!(write("src/main.rs"), None);
        assert!(write("/home/ada/.bashrc").is_some());
        assert!(write("/home/ada/project/../.ssh/authorized_keys").is_some());
        assert!(write("/home/ada/project-other/x").is_some());
        assert_eq!(policy.blocks(&call("Read", json!({ "file_path": "/etc/passwd" })), root), None);
    }
}
