//! Which tool calls need a person's approval: rules (a tool-name regex and a regex over what the
//! call does), the built-in rules for risky shell commands, and an optional guard on files
//! outside the project.

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Component, Path, PathBuf};

/// Built-in rules over Bash commands: (name, regex).
pub const DEFAULT_RULES: [(&str, &str); 12] = [
    ("rm -r/-f", r"\brm\s+(?:[^;&|\n]*\s)?-(?:[a-zA-Z]*[rRf]|-recursive\b|-force\b)"),
    (
        "git push --force",
        r"\bgit\s+(?:[^;&|\n]*\s)?push\s(?:[^;&|\n]*\s)?(?:--force\b|-f\b|--mirror\b|--delete\b|\+\S)",
    ),
    ("git reset --hard / clean -f", r"\bgit\s+(?:[^;&|\n]*\s)?(?:reset\s+--hard\b|clean\s+-[a-zA-Z]*f)"),
    (
        "package publish",
        r"\b(?:npm|pnpm|yarn|cargo|poetry|uv|hatch|flit)\b[^;&|\n]*\spublish\b|\btwine\s+upload\b|\bgem\s+push\b",
    ),
    ("dd of=", r"\bdd\s+(?:[^;&|\n]*\s)?of="),
    ("mkfs / disk tools", r"\b(?:mkfs(?:\.\w+)?|mke2fs|wipefs|fdisk|sfdisk|parted)\b"),
    (
        "SQL DROP / TRUNCATE",
        r"(?i)\b(?:drop\s+(?:table|database|schema|view|index|user|role)\b|truncate\s+table\b)",
    ),
    ("SQL TRUNCATE", r"(?i)\btruncate\s+[a-z_]\w*\s*(?:;|$|,|\bcascade\b|\brestart\b)"),
    ("kubectl delete", r"\bkubectl\s+(?:[^;&|\n]*\s)?(?:delete|drain)\b|\bhelm\s+(?:uninstall|delete)\b"),
    ("terraform destroy", r"\b(?:terraform|tofu)\s+(?:[^;&|\n]*\s)?(?:destroy\b|apply\s[^;&|\n]*-destroy\b)"),
    ("curl | sh", r"\b(?:curl|wget)\b[^;&\n]*\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b"),
    ("sh <(curl)", r"\b(?:ba|z)?sh\s+(?:-c\s+)?[^;&|\n]*(?:<\(|\$\()\s*(?:curl|wget)\b"),
];

/// Tools that write files, and where they name the file.
const FILE_TOOLS: [(&str, &str); 4] = [
    ("Write", "file_path"),
    ("Edit", "file_path"),
    ("MultiEdit", "file_path"),
    ("NotebookEdit", "notebook_path"),
];

/// One rule: a tool call needs approval when its tool name matches `tool` (whole name) and
/// its subject (see [`subject`]) matches `pattern`.
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

pub fn default_rules() -> Result<Vec<Rule>, String> {
    DEFAULT_RULES.iter().map(|(name, pattern)| Rule::new(name, "Bash", pattern)).collect()
}

/// What a rule's pattern is matched against: the command for Bash, the file for file tools, the
/// URL for WebFetch, the query for WebSearch, and the input as compact JSON for anything else.
pub fn subject(tool_name: &str, input: &Value) -> String {
    let field = match tool_name {
        "Bash" => Some("command"),
        "Read" => Some("file_path"),
        "WebFetch" => Some("url"),
        "WebSearch" => Some("query"),
        _ => FILE_TOOLS.iter().find(|(t, _)| *t == tool_name).map(|(_, f)| *f),
    };
    match field.and_then(|f| input[f].as_str()) {
        Some(text) => text.to_owned(),
        None => input.to_string(),
    }
}

/// The rules and guards in force.
#[derive(Debug, Clone)]
pub struct Policy {
    pub rules: Vec<Rule>,
    /// Also ask before a file tool writes outside the project folder.
    pub outside_project: bool,
}

impl Policy {
    /// Why this tool call needs approval (a rule's name), or `None` to let it pass.
    pub fn needs_approval(&self, tool_name: &str, input: &Value, project: &Path) -> Option<String> {
        let subject = subject(tool_name, input);
        if let Some(rule) = self.rules.iter().find(|r| r.matches(tool_name, &subject)) {
            return Some(rule.name.clone());
        }
        let is_file_tool = FILE_TOOLS.iter().any(|(t, _)| *t == tool_name);
        if self.outside_project && is_file_tool && !inside(Path::new(&subject), project) {
            return Some("write outside the project".into());
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
    use crate::domain::rules::tests::{ORDINARY_COMMANDS, RISKY_COMMANDS};
    use serde_json::json;

    fn asks(command: &str) -> Option<String> {
        let policy = Policy { rules: default_rules().expect("valid defaults"), outside_project: false };
        policy.needs_approval("Bash", &json!({ "command": command }), Path::new("/p"))
    }

    #[test]
    fn risky_commands_need_approval() {
        for c in RISKY_COMMANDS {
            assert!(asks(c).is_some(), "should ask: {c}");
        }
    }

    #[test]
    fn ordinary_commands_pass() {
        for c in ORDINARY_COMMANDS {
            assert_eq!(asks(c), None, "should pass: {c}");
        }
    }

    #[test]
    fn rules_come_as_lines_or_json() {
        let lines = parse_rules("# mine\n\\bshutdown\\b\n\n^sudo ").expect("lines");
        assert_eq!(lines.len(), 2);
        let json = parse_rules(
            r#"["\\bshutdown\\b", {"tool": "Write|Edit", "pattern": "\\.env$", "name": "env files"}]"#,
        )
        .expect("json");
        let policy = Policy { rules: json, outside_project: false };
        let root = Path::new("/p");
        assert_eq!(
            policy.needs_approval("Bash", &json!({"command": "shutdown now"}), root).as_deref(),
            Some("\\bshutdown\\b")
        );
        assert_eq!(
            policy.needs_approval("Edit", &json!({"file_path": "/p/.env"}), root).as_deref(),
            Some("env files")
        );
        assert_eq!(policy.needs_approval("Write", &json!({"file_path": "/p/src/a.rs"}), root), None);
        assert_eq!(policy.needs_approval("Bash", &json!({"command": "echo .env"}), root), None);
        assert!(parse_rules("(unclosed").is_err_and(|e| e.contains("(unclosed")));
    }

    #[test]
    fn writes_outside_the_project_can_be_guarded() {
        let policy = Policy { rules: Vec::new(), outside_project: true };
        let root = Path::new("/home/ada/project");
        let write = |p: &str| policy.needs_approval("Write", &json!({ "file_path": p }), root);
        assert_eq!(write("/home/ada/project/src/main.rs"), None);
        assert_eq!(write("src/main.rs"), None);
        assert!(write("/home/ada/.bashrc").is_some());
        assert!(write("/home/ada/project/../.ssh/authorized_keys").is_some());
        assert!(write("/home/ada/project-other/x").is_some());
        assert_eq!(policy.needs_approval("Read", &json!({ "file_path": "/etc/passwd" }), root), None);
    }
}
