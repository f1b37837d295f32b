//! A rule set's own examples: calls and the outcome each must get (`{"command": "git push origin
//! main", "expect": "deny"}`), checked on every save so a change that breaks one is refused.

use super::decide::{Call, Decision, by_words};
use super::ruleset::RuleSetError;
use super::shell::snippet;
use super::{Outcome, RuleSet};
use serde::Deserialize;
use serde_json::{Map, Value};

pub const MAX_EXAMPLES: usize = 100;
/// One example as JSON, at most: a `Write` example carries its file's content.
pub const MAX_EXAMPLE_BYTES: usize = 16 * 1024;
/// Longest tool name, agent id or working directory, as the gate takes them.
const MAX_TOOL_CHARS: usize = 128;
const MAX_AGENT_CHARS: usize = 128;
const MAX_CWD_CHARS: usize = 4096;
/// Failing examples named one by one in a refusal; the rest are counted.
const NAMED_FAILURES: usize = 5;

/// A call and the outcome the rule set must give it.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub call: Call,
    pub expect: Outcome,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExample {
    tool: Option<String>,
    command: Option<String>,
    input: Option<Map<String, Value>>,
    cwd: Option<String>,
    agent: Option<String>,
    expect: Option<Outcome>,
}

fn error(index: usize, message: impl std::fmt::Display) -> RuleSetError {
    RuleSetError {
        rule: None,
        rule_name: None,
        field: Some("examples"),
        message: format!("example {}: {message}", index + 1),
    }
}

fn bounded(text: &str, max: usize) -> bool {
    let n = text.chars().count();
    n > 0 && n <= max && !text.chars().any(char::is_control)
}

/// The `examples` list of a rule set.
pub(super) fn parse(value: Option<Value>) -> Result<Vec<Example>, RuleSetError> {
    let Some(value) = value else { return Ok(Vec::new()) };
    let set_error =
        |message: String| RuleSetError { field: Some("examples"), ..super::ruleset::set_error(message) };
    let items: Vec<Value> = serde_json::from_value(value).map_err(|e| set_error(e.to_string()))?;
    if items.len() > MAX_EXAMPLES {
        return Err(set_error(format!("{} examples; at most {MAX_EXAMPLES}", items.len())));
    }
    items.into_iter().enumerate().map(|(i, v)| parse_one(i, v)).collect()
}

fn parse_one(index: usize, value: Value) -> Result<Example, RuleSetError> {
    if value.to_string().len() > MAX_EXAMPLE_BYTES {
        return Err(error(index, format!("longer than {MAX_EXAMPLE_BYTES} bytes as JSON")));
    }
    let raw: RawExample = serde_json::from_value(value).map_err(|e| error(index, e))?;
    let expect = raw.expect.ok_or_else(|| error(index, "`expect` is required (allow, ask or deny)"))?;
    if let Some(tool) = &raw.tool {
        if !bounded(tool, MAX_TOOL_CHARS) {
            return Err(error(index, format!("`tool` must be 1 to {MAX_TOOL_CHARS} characters")));
        }
        // The gate decides any spelling of `bash` as `Bash`: an example must name it so too.
        if tool != "Bash" && tool.trim().eq_ignore_ascii_case("bash") {
            return Err(error(index, format!("`tool`: `{tool}` is not a tool name; did you mean `Bash`?")));
        }
    }
    if let Some(cwd) = &raw.cwd
        && (!bounded(cwd, MAX_CWD_CHARS) || !cwd.starts_with('/'))
    {
        return Err(error(index, "`cwd` must be an absolute path"));
    }
    if let Some(agent) = &raw.agent
        && !bounded(agent, MAX_AGENT_CHARS)
    {
        return Err(error(index, format!("`agent` must be 1 to {MAX_AGENT_CHARS} characters")));
    }
    let (tool, input) = match (raw.command, raw.input, raw.tool) {
        (Some(command), None, None) => ("Bash".to_owned(), command_input(command)),
        (Some(command), None, Some(tool)) if tool == "Bash" => (tool, command_input(command)),
        (Some(_), None, Some(tool)) => {
            return Err(error(index, format!("`command` is for Bash calls; give `input` for `{tool}`")));
        }
        (None, Some(input), Some(tool)) => (tool, Value::Object(input)),
        (None, Some(_), None) => return Err(error(index, "`input` needs `tool`")),
        (Some(_), Some(_), _) => return Err(error(index, "give `command` or `input`, not both")),
        (None, None, _) => {
            return Err(error(index, "give `command` (a Bash command line) or `tool` and `input`"));
        }
    };
    Ok(Example { call: Call { tool, input, cwd: raw.cwd, agent_id: raw.agent }, expect })
}

fn command_input(command: String) -> Value {
    let mut input = Map::new();
    input.insert("command".into(), Value::String(command));
    Value::Object(input)
}

/// What the rule set does with one of its examples.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleResult {
    /// Position in `examples`, from 0.
    pub index: usize,
    /// The call in words: the command, or the tool and what it acts on.
    pub shown: String,
    pub expect: Outcome,
    pub decision: Decision,
}

impl ExampleResult {
    pub fn passes(&self) -> bool {
        self.decision.outcome == self.expect
    }

    /// ``example 2 `git push origin main` should be denied but is allowed by the default``.
    pub fn describe(&self) -> String {
        format!(
            "example {} `{}` should be {} but is {} {}",
            self.index + 1,
            snippet(&self.shown),
            self.expect.past(),
            self.decision.outcome.past(),
            by_words(&self.decision.decided_by)
        )
    }
}

impl Example {
    fn shown(&self) -> String {
        match self.call.command() {
            Some(command) => command.to_owned(),
            None => format!("{} {}", self.call.tool, self.call.subject()),
        }
    }
}

impl RuleSet {
    /// Each example decided by this rule set, in order.
    pub fn check_examples(&self) -> Vec<ExampleResult> {
        self.examples
            .iter()
            .enumerate()
            .map(|(index, example)| ExampleResult {
                index,
                shown: example.shown(),
                expect: example.expect,
                decision: self.decide(&example.call),
            })
            .collect()
    }
}

/// The refusal for the examples that fail, naming each (the first few) and what decided it.
pub(super) fn failures(results: &[ExampleResult]) -> Option<RuleSetError> {
    let failed: Vec<&ExampleResult> = results.iter().filter(|r| !r.passes()).collect();
    if failed.is_empty() {
        return None;
    }
    let mut message = failed.iter().take(NAMED_FAILURES).map(|r| r.describe()).collect::<Vec<_>>().join("; ");
    if failed.len() > NAMED_FAILURES {
        message.push_str(&format!("; and {} more", failed.len() - NAMED_FAILURES));
    }
    Some(RuleSetError { rule: None, rule_name: None, field: Some("examples"), message })
}
