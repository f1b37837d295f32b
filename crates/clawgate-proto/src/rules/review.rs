//! A parsed rule set looked over before it is saved: what must be fixed first (a tool name that
//! differs from a known one only in case, an example the rules decide otherwise) and what is
//! worth a warning (a rule or pattern no call can reach, a tool name no agent sends). Nothing here
//! changes how calls are decided.

use super::decide::FILE_TOOLS;
use super::examples::{self, ExampleResult};
use super::pattern::{CommandPattern, Glob};
use super::reach;
use super::ruleset::{Rule, RuleSetError};
use super::tools::{self, ToolReach};
use super::{Outcome, RuleSet};
use std::collections::HashSet;

/// Something in a saved rule set that is probably not what its author meant: the set is saved,
/// and the warning shown with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Position of the rule in `rules`, from 0; `None` for the set as a whole.
    pub rule: Option<usize>,
    pub rule_name: Option<String>,
    pub field: Option<&'static str>,
    pub message: String,
}

/// A refusal shown as a warning: for a saved set that would be refused today.
impl From<RuleSetError> for Warning {
    fn from(e: RuleSetError) -> Self {
        Self { rule: e.rule, rule_name: e.rule_name, field: e.field, message: e.message }
    }
}

/// Worded like [`RuleSetError`]: ``rule 3 "name": field `command`: …``.
impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let as_error = RuleSetError {
            rule: self.rule,
            rule_name: self.rule_name.clone(),
            field: self.field,
            message: self.message.clone(),
        };
        as_error.fmt(f)
    }
}

/// What a look over a rule set found.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// Reasons to refuse the set, in order: tool names that differ from known ones only in
    /// case, then the examples that fail (one entry for all of them).
    pub refusals: Vec<RuleSetError>,
    pub warnings: Vec<Warning>,
    /// Each example and what the set does with it.
    pub examples: Vec<ExampleResult>,
}

impl Review {
    /// Why the set must not be saved, if it must not: the first refusal.
    pub fn refusal(&self) -> Option<&RuleSetError> {
        self.refusals.first()
    }

    /// Everything found, refusals first, as warnings (for a set that is saved already).
    pub fn all_as_warnings(&self) -> Vec<Warning> {
        self.refusals.iter().cloned().map(Warning::from).chain(self.warnings.iter().cloned()).collect()
    }
}

/// Collects what is found about one rule.
struct Findings<'a> {
    index: usize,
    rule: &'a Rule,
    refusals: Vec<RuleSetError>,
    warnings: Vec<Warning>,
}

impl Findings<'_> {
    fn refuse(&mut self, field: &'static str, message: String) {
        let (rule, rule_name) = (Some(self.index), self.rule.name.clone());
        self.refusals.push(RuleSetError { rule, rule_name, field: Some(field), message });
    }

    fn warn(&mut self, field: Option<&'static str>, message: String) {
        let (rule, rule_name) = (Some(self.index), self.rule.name.clone());
        self.warnings.push(Warning { rule, rule_name, field, message });
    }
}

impl RuleSet {
    /// Looks the set over (see the module docs) and decides its examples.
    pub fn review(&self) -> Review {
        let mut refusals = Vec::new();
        let mut warnings = Vec::new();
        let lists: Vec<Lists<'_>> = self.rules.iter().map(Lists::of).collect();
        for (index, rule) in self.rules.iter().enumerate() {
            let mut found = Findings { index, rule, refusals: Vec::new(), warnings: Vec::new() };
            tool_names(&mut found);
            conditions(&mut found);
            let shadowing = (0..index).find(|&e| shadows(&self.rules[e], &lists[e], rule, &lists[index]));
            if let Some(earlier) = shadowing {
                found.warn(None, shadowed(earlier, &self.rules[earlier]));
            }
            refusals.append(&mut found.refusals);
            warnings.append(&mut found.warnings);
        }
        let examples = self.check_examples();
        refusals.extend(examples::failures(&examples));
        Review { refusals, warnings, examples }
    }
}

/// Each `tool` glob against the tools the server knows.
fn tool_names(found: &mut Findings<'_>) {
    let globs = found.rule.tool.iter().flatten();
    for glob in globs {
        let name = glob.as_str();
        match tools::reach(glob) {
            ToolReach::Known => {}
            ToolReach::ShellOnly => found.warn(
                Some("tool"),
                format!(
                    "`{name}` calls reach the rules as `Bash` (OpenClaw's shell tool is decided like Bash and \
                     shown as `exec: …`), so this never matches one: write `Bash`"
                ),
            ),
            ToolReach::CaseOf(names) => {
                let names = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
                let message = if tools::is_literal(name) {
                    format!("`{name}` is not a tool name (tool names are case-sensitive); did you mean {names}?")
                } else {
                    format!(
                        "`{name}` matches no tool name (tool names are case-sensitive), only {names} if case \
                         is ignored; did you mean to match those?"
                    )
                };
                found.refuse("tool", message);
            }
            ToolReach::Unknown { near } => {
                let hint = near.map(|n| format!("; did you mean `{n}`?")).unwrap_or_default();
                found.warn(
                    Some("tool"),
                    format!(
                        "`{name}` is none of the tools the server knows (Claude Code's `Bash`, `Read`, `Write`, \
                         `Edit`, `WebFetch` …, OpenClaw's `read`, `write`, `web_fetch` …, or an MCP tool \
                         `mcp__…`): the rule matches only a tool of exactly that name{hint}"
                    ),
                );
            }
        }
    }
}

/// Conditions no call can meet together, and patterns and regexes that never match.
fn conditions(found: &mut Findings<'_>) {
    let rule = found.rule;
    let can_be = |tool: &str| rule.tool.as_ref().is_none_or(|globs| globs.iter().any(|g| g.matches(tool)));
    let files = FILE_TOOLS.iter().map(|(tool, _)| *tool).collect::<Vec<_>>().join(", ");
    if rule.command.is_some() && rule.path.is_some() {
        found.warn(
            Some("path"),
            "`command` matches only Bash calls and `path` only file tools' calls: no call meets both, so the \
             rule never matches"
                .into(),
        );
    } else if rule.command.is_some() && !can_be("Bash") {
        found.warn(
            Some("command"),
            "command patterns match only Bash calls (and shell tools decided as Bash), and this rule's `tool` \
             never matches `Bash`: the rule never matches"
                .into(),
        );
    } else if rule.path.is_some() && !FILE_TOOLS.iter().any(|(tool, _)| can_be(tool)) {
        found.warn(
            Some("path"),
            format!(
                "`path` applies only to the file tools ({files}), and this rule's `tool` matches none of them: \
                 the rule never matches"
            ),
        );
    }
    let allow = rule.outcome == Outcome::Allow;
    for pattern in rule.command.iter().flatten() {
        if let Some(why) = reach::pattern_problem(pattern, allow) {
            found.warn(Some("command"), format!("`{}`: {why}", pattern.as_str()));
        }
    }
    if let Some(regex) = &rule.regex
        && let Some(why) = reach::regex_never_matches(regex)
    {
        found.warn(Some("regex"), format!("can never match anything ({why}): the rule never matches"));
    }
}

/// A rule's `tool`, `agent` and `command` lists as sets of their sources, made once per rule so
/// comparing every pair of rules stays cheap.
struct Lists<'a> {
    tool: Option<HashSet<&'a str>>,
    agent: Option<HashSet<&'a str>>,
    command: Option<HashSet<&'a str>>,
}

impl<'a> Lists<'a> {
    fn of(rule: &'a Rule) -> Self {
        let globs = |list: &'a Option<Vec<Glob>>| list.as_ref().map(|l| l.iter().map(Glob::as_str).collect());
        let patterns = rule.command.as_ref().map(|l| l.iter().map(CommandPattern::as_str).collect());
        Self { tool: globs(&rule.tool), agent: globs(&rule.agent), command: patterns }
    }
}

/// Whether `earlier` matches every call `later` matches: each of its conditions is absent or
/// holds whenever `later`'s does (the same regex and path, a superset of globs and patterns),
/// and it matches as broadly (an `allow` matches in place, so it shadows only another `allow`).
fn shadows(earlier: &Rule, e: &Lists<'_>, later: &Rule, l: &Lists<'_>) -> bool {
    fn covers(earlier: &Option<HashSet<&str>>, later: &Option<HashSet<&str>>) -> bool {
        match (earlier, later) {
            (None, _) => true,
            (Some(e), Some(l)) => l.is_subset(e),
            (Some(_), None) => false,
        }
    }
    let regex = match (&earlier.regex, &later.regex) {
        (None, _) => true,
        (Some(e), Some(l)) => e.as_str() == l.as_str(),
        (Some(_), None) => false,
    };
    (earlier.outcome != Outcome::Allow || later.outcome == Outcome::Allow)
        && regex
        && (earlier.path.is_none() || earlier.path == later.path)
        && covers(&e.tool, &l.tool)
        && covers(&e.agent, &l.agent)
        && covers(&e.command, &l.command)
}

fn shadowed(earlier: usize, rule: &Rule) -> String {
    let named = rule.name.as_ref().map(|n| format!(" {n:?}")).unwrap_or_default();
    format!(
        "never decides anything: rule {}{named} comes first and matches every call this one matches (and {} \
         it)",
        earlier + 1,
        match rule.outcome {
            Outcome::Allow => "allows",
            Outcome::Ask => "asks about",
            Outcome::Deny => "denies",
        }
    )
}
