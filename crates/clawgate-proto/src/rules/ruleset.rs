//! A person's rule set, parsed from JSON and validated whole: a set that does not parse is
//! refused with the rule and field at fault, so it is never half-applied.

use super::Outcome;
use super::examples::{self, Example};
use super::path::{PathCondition, Root};
use super::pattern::{CommandPattern, Glob};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub const MAX_RULES: usize = 500;
/// Longest pattern, glob, regex or path in a rule.
pub const MAX_PATTERN_CHARS: usize = 1_000;
/// Most alternatives in one `tool`, `agent`, `command` or `path` list.
pub const MAX_ALTERNATIVES: usize = 100;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_REASON_CHARS: usize = 1_000;
/// Compiled size of one regex; keeps a hostile pattern from costing memory or time per call.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One rule; a condition left out holds for every call.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: Option<String>,
    pub outcome: Outcome,
    /// Shown to the agent on `deny` and to the person on `ask`.
    pub reason: Option<String>,
    /// Globs on the tool name (any of them).
    pub tool: Option<Vec<Glob>>,
    /// Globs on the agent id (any); a call without an agent id never meets this condition.
    pub agent: Option<Vec<Glob>>,
    /// Command patterns (any), matched against each simple command of a Bash call.
    pub command: Option<Vec<CommandPattern>>,
    /// Matched against the whole command text (Bash) or the call's subject (other tools). On a
    /// Bash call a hit holds for every part, so an `allow` rule's regex matches only a call that
    /// is exactly one simple command with nothing unclear; `ask` and `deny` raise every part.
    pub regex: Option<Regex>,
    /// Where the file of a file tool lies.
    pub path: Option<PathCondition>,
}

/// Rules in order (first match wins), the outcome when none matches, and the set's own
/// examples (checked when it is saved; the gate never looks at them).
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub default: Outcome,
    pub rules: Vec<Rule>,
    pub examples: Vec<Example>,
}

/// Why a rule set was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSetError {
    /// Position of the rule in `rules`, from 0; `None` for the set as a whole.
    pub rule: Option<usize>,
    pub rule_name: Option<String>,
    pub field: Option<&'static str>,
    pub message: String,
}

/// "rule 3 \"name\": field `command`: …" (rules numbered from 1 for people).
impl std::fmt::Display for RuleSetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.rule, &self.rule_name) {
            (Some(i), Some(name)) => write!(f, "rule {} {name:?}: ", i + 1)?,
            (Some(i), None) => write!(f, "rule {}: ", i + 1)?,
            _ => write!(f, "rule set: ")?,
        }
        if let Some(field) = self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuleSetError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    default: Option<Value>,
    #[serde(default)]
    rules: Vec<Value>,
    examples: Option<Value>,
}

/// A rule with each field kept as JSON, so each is parsed with its name in the error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<Value>,
    outcome: Option<Value>,
    reason: Option<Value>,
    tool: Option<Value>,
    agent: Option<Value>,
    command: Option<Value>,
    regex: Option<Value>,
    path: Option<Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum RawPath {
    Inside(Vec<String>),
    Outside(Vec<String>),
}

/// The context of one rule's errors.
struct At {
    index: usize,
    name: Option<String>,
}

impl At {
    fn err(&self, field: Option<&'static str>, message: impl Into<String>) -> RuleSetError {
        RuleSetError { rule: Some(self.index), rule_name: self.name.clone(), field, message: message.into() }
    }

    /// `value` as a `T`, the error naming `field`.
    fn typed<T: DeserializeOwned>(
        &self,
        field: &'static str,
        value: Option<Value>,
    ) -> Result<Option<T>, RuleSetError> {
        value.map(|v| serde_json::from_value(v).map_err(|e| self.err(Some(field), e.to_string()))).transpose()
    }

    /// A string or list of strings, each checked by `parse`.
    fn list<T>(
        &self,
        field: &'static str,
        value: Option<Value>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<Vec<T>>, RuleSetError> {
        let Some(items) = self.typed::<OneOrMany>(field, value)? else { return Ok(None) };
        let items = match items {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        };
        if items.is_empty() || items.len() > MAX_ALTERNATIVES {
            return Err(self.err(Some(field), format!("must list 1 to {MAX_ALTERNATIVES} entries")));
        }
        items
            .iter()
            .map(|item| {
                self.bounded(field, item).and_then(|i| parse(i).map_err(|e| self.err(Some(field), e)))
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    fn bounded<'a>(&self, field: &'static str, text: &'a str) -> Result<&'a str, RuleSetError> {
        let max = match field {
            "name" => MAX_NAME_CHARS,
            "reason" => MAX_REASON_CHARS,
            _ => MAX_PATTERN_CHARS,
        };
        if text.chars().count() > max {
            return Err(self.err(Some(field), format!("longer than {max} characters")));
        }
        Ok(text)
    }
}

impl RuleSet {
    /// A rule set from its JSON text (see the module docs for the format).
    pub fn parse(json: &str) -> Result<Self, RuleSetError> {
        let value = serde_json::from_str(json).map_err(|e| set_error(e.to_string()))?;
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Self, RuleSetError> {
        let raw: RawSet = serde_json::from_value(value).map_err(|e| set_error(e.to_string()))?;
        if raw.rules.len() > MAX_RULES {
            return Err(set_error(format!("{} rules; at most {MAX_RULES}", raw.rules.len())));
        }
        let default = match raw.default {
            None => Outcome::Ask,
            Some(v) => serde_json::from_value(v)
                .map_err(|e| RuleSetError { field: Some("default"), ..set_error(e.to_string()) })?,
        };
        let rules =
            raw.rules.into_iter().enumerate().map(|(i, v)| parse_rule(i, v)).collect::<Result<_, _>>()?;
        let examples = examples::parse(raw.examples)?;
        Ok(Self { default, rules, examples })
    }
}

pub(super) fn set_error(message: String) -> RuleSetError {
    RuleSetError { rule: None, rule_name: None, field: None, message }
}

fn parse_rule(index: usize, value: Value) -> Result<Rule, RuleSetError> {
    let name = value.get("name").and_then(Value::as_str).map(|n| n.chars().take(MAX_NAME_CHARS).collect());
    let at = At { index, name };
    if !value.is_object() {
        return Err(at.err(None, "a rule must be a JSON object"));
    }
    let raw: RawRule = serde_json::from_value(value).map_err(|e| at.err(None, e.to_string()))?;
    let text = |field, value: Option<Value>| -> Result<Option<String>, RuleSetError> {
        let text: Option<String> = at.typed(field, value)?;
        text.map(|t| at.bounded(field, &t).map(str::to_owned)).transpose()
    };
    let name = text("name", raw.name)?;
    let reason = text("reason", raw.reason)?;
    let outcome = at.typed("outcome", raw.outcome)?.ok_or_else(|| at.err(Some("outcome"), "is required"))?;
    let tool = at.list("tool", raw.tool, Glob::parse)?;
    let agent = at.list("agent", raw.agent, Glob::parse)?;
    let command = at.list("command", raw.command, CommandPattern::parse)?;
    let regex = text("regex", raw.regex)?
        .map(|r| {
            RegexBuilder::new(&r)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| at.err(Some("regex"), e.to_string()))
        })
        .transpose()?;
    let path = match at.typed::<RawPath>("path", raw.path)? {
        None => None,
        Some(RawPath::Inside(roots)) => Some(PathCondition::Inside(roots_of(&at, roots)?)),
        Some(RawPath::Outside(roots)) => Some(PathCondition::Outside(roots_of(&at, roots)?)),
    };
    if tool.is_none() && agent.is_none() && command.is_none() && regex.is_none() && path.is_none() {
        return Err(at.err(
            None,
            "has no condition (tool, agent, command, regex or path); use `default` for every call",
        ));
    }
    Ok(Rule { name, outcome, reason, tool, agent, command, regex, path })
}

fn roots_of(at: &At, roots: Vec<String>) -> Result<Vec<Root>, RuleSetError> {
    at.list("path", Some(Value::from(roots)), Root::parse).map(Option::unwrap_or_default)
}
