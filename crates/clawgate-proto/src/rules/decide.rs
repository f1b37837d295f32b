//! Deciding a call: each simple command of a Bash call on its own, the most severe outcome for
//! the call, and what decided each part, in words for `gate --explain` and the app's dry-run.

use super::Outcome;
use super::ruleset::{Rule, RuleSet};
use super::shell::{self, Part, SimpleCommand, UnclearWhy};
use serde::Serialize;
use serde_json::Value;

/// A tool call as a gate reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub tool: String,
    pub input: Value,
    pub cwd: Option<String>,
    pub agent_id: Option<String>,
}

/// Tools that name one file, and the input field that names it.
pub const FILE_TOOLS: [(&str, &str); 5] = [
    ("Write", "file_path"),
    ("Edit", "file_path"),
    ("MultiEdit", "file_path"),
    ("NotebookEdit", "notebook_path"),
    ("Read", "file_path"),
];

impl Call {
    /// The Bash command, when this is a Bash call with one.
    pub fn command(&self) -> Option<&str> {
        (self.tool == "Bash").then(|| self.input.get("command").and_then(Value::as_str)).flatten()
    }

    /// The file a file tool names.
    pub fn file(&self) -> Option<&str> {
        let (_, field) = FILE_TOOLS.iter().find(|(tool, _)| *tool == self.tool)?;
        self.input.get(*field).and_then(Value::as_str)
    }

    /// What a regex sees: the command, the file, the URL or query, else the input as JSON.
    pub fn subject(&self) -> String {
        let field = match self.tool.as_str() {
            "Bash" => Some("command"),
            "WebFetch" => Some("url"),
            "WebSearch" => Some("query"),
            _ => FILE_TOOLS.iter().find(|(tool, _)| *tool == self.tool).map(|(_, field)| *field),
        };
        match field.and_then(|f| self.input.get(f)).and_then(Value::as_str) {
            Some(text) => text.to_owned(),
            None => self.input.to_string(),
        }
    }
}

/// What decided one part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum DecidedBy {
    /// `index` is the rule's position in `rules`, from 0.
    Rule {
        index: usize,
        name: Option<String>,
    },
    Default,
    /// The splitter could not be sure of this part; it is asked at least.
    Unclear {
        why: UnclearWhy,
    },
}

/// One simple command (or the whole call for other tools) and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartDecision {
    pub text: String,
    pub outcome: Outcome,
    pub decided_by: DecidedBy,
    /// For a command outside the understood subset: what put it there (`-c core.fsmonitor=…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doubt: Option<String>,
    /// For a part the splitter could not be sure of: why, also when a rule decided it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unclear: Option<UnclearWhy>,
    /// For an unclear part about a command listed before it (the `sh` of `curl x | sh`, which
    /// reads its script from stdin): that command's index in `parts`. The explanation shows the
    /// two on one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// The most severe part's outcome.
    pub outcome: Outcome,
    /// What decided the part that caused the outcome (see `part`).
    pub decided_by: DecidedBy,
    /// That rule's `reason`.
    pub reason: Option<String>,
    pub parts: Vec<PartDecision>,
    /// Index in `parts` of the part that caused the outcome: of the parts with the most severe
    /// outcome, the first whose own words decided it (a rule's command pattern or path, a regex
    /// that matches its own text, or what the splitter could not be sure of), else the first part
    /// the splitter was unsure of, else the first. A rule without a command pattern (a `regex` on the whole text, a `tool`) holds
    /// for every part alike, so for `ls; curl x | sh` the cause is `sh` reading its script from
    /// stdin, not `ls`.
    pub part: usize,
}

/// What one rule looks at for one part.
struct Subject<'a> {
    call: &'a Call,
    command: Option<&'a SimpleCommand>,
}

fn any_glob(globs: &[super::pattern::Glob], text: &str) -> bool {
    globs.iter().any(|g| g.matches(text))
}

impl Rule {
    /// Every condition but `regex`, which is matched once per call (see [`RuleSet::decide`]), and
    /// for an `allow` rule on a Bash call only when the call is one simple command. An `allow`
    /// rule's command patterns match in place, an `ask` or `deny` rule's broadly.
    fn matches(&self, s: &Subject<'_>) -> bool {
        let allow = self.outcome == Outcome::Allow;
        self.tool.as_ref().is_none_or(|globs| any_glob(globs, &s.call.tool))
            && self
                .agent
                .as_ref()
                .is_none_or(|globs| s.call.agent_id.as_deref().is_some_and(|a| any_glob(globs, a)))
            && self.command.as_ref().is_none_or(|pats| {
                s.command.is_some_and(|c| {
                    pats.iter().any(|p| if allow { p.matches_in_place(c) } else { p.matches(c) })
                })
            })
            && self
                .path
                .as_ref()
                .is_none_or(|cond| s.call.file().is_some_and(|f| cond.holds(f, s.call.cwd.as_deref())))
    }
}

impl RuleSet {
    /// The outcome for `call`: for Bash, every simple command is decided on its own (first
    /// matching rule, else the default) and the most severe wins (deny > ask > allow); a part the
    /// splitter is unsure of, or that lies outside the subset of bash it understands
    /// ([`super::subset`]), is asked at least: no `allow` rule matches it and an `allow` default
    /// asks instead. Other tools are one part. An `allow` rule with a `regex` matches a Bash call
    /// only when it splits into exactly one understood simple command and nothing unclear: the
    /// regex sees the whole text, so its hit must not allow other parts.
    pub fn decide(&self, call: &Call) -> Decision {
        let text = call.subject();
        let bash = call.tool == "Bash";
        let split = bash.then(|| {
            call.command().map(shell::split).unwrap_or_else(|| {
                vec![Part::Unclear(shell::Unclear {
                    why: UnclearWhy::NoCommand,
                    near: shell::snippet(&text),
                })]
            })
        });
        // A regex on a Bash call cannot tell which part it matched, so an `allow` must not spread
        // from one part to another: an allowing regex only matches a call that is exactly one
        // simple command with nothing unclear. Asking and denying regexes raise every part.
        let one_command =
            split.as_ref().is_none_or(|s| matches!(s.as_slice(), [Part::Command(c)] if c.doubt.is_none()));
        // A regex sees the same text for every part: match it once, not once per part.
        let hits: Vec<bool> = self
            .rules
            .iter()
            .map(|r| match &r.regex {
                None => true,
                Some(_) if r.outcome == Outcome::Allow && !one_command => false,
                Some(re) => re.is_match(&text),
            })
            .collect();
        let hits = hits.as_slice();
        let parts = match &split {
            None => vec![self.decide_part(call, hits, format!("{} {}", call.tool, text), None, None)],
            Some(split) => {
                let mut parts: Vec<PartDecision> = split
                    .iter()
                    .map(|part| match part {
                        Part::Command(cmd) => {
                            self.decide_part(call, hits, cmd.display(), Some(cmd), cmd.doubt.as_ref())
                        }
                        Part::Unclear(u) => self.decide_part(call, hits, u.near.clone(), None, Some(u)),
                    })
                    .collect();
                attach_unclear_parts(split, &mut parts);
                if parts.is_empty() {
                    // Nothing runs (empty, a comment): only rules without a `command` pattern can
                    // match.
                    parts.push(self.decide_part(call, hits, text.clone(), None, None));
                }
                parts
            }
        };
        let worst = parts.iter().map(|p| p.outcome).max().unwrap_or(Outcome::Ask);
        let part = (0..parts.len())
            .filter(|&i| parts[i].outcome == worst)
            .min_by_key(|&i| self.cause_rank(&parts[i]))
            .unwrap_or(0);
        let decided_by = parts.get(part).map_or(DecidedBy::Default, |p| p.decided_by.clone());
        let reason = match &decided_by {
            DecidedBy::Rule { index, .. } => self.rules.get(*index).and_then(|r| r.reason.clone()),
            _ => None,
        };
        Decision { outcome: worst, decided_by, reason, parts, part }
    }

    /// How directly a part's own words gave it its outcome, lower first: a rule's command pattern
    /// or path, a regex that matches the part's own text, or what the splitter could not be sure
    /// of (0); a rule that holds for every part alike (a `regex` on the whole text, a `tool`) or
    /// the default, on a part the splitter is unsure of (1), or on any other (2).
    fn cause_rank(&self, part: &PartDecision) -> u8 {
        let own_words = match &part.decided_by {
            DecidedBy::Unclear { .. } => true,
            DecidedBy::Rule { index, .. } => self.rules.get(*index).is_some_and(|r| {
                r.command.is_some()
                    || r.path.is_some()
                    || r.regex.as_ref().is_some_and(|re| re.is_match(&part.text))
            }),
            DecidedBy::Default => false,
        };
        match (own_words, part.unclear.is_some()) {
            (true, _) => 0,
            (false, true) => 1,
            (false, false) => 2,
        }
    }

    /// The first rule that matches the part (no `allow` rule for a doubtful command), else the
    /// default; an unclear or doubtful part is asked at least.
    fn decide_part(
        &self,
        call: &Call,
        hits: &[bool],
        shown: String,
        command: Option<&SimpleCommand>,
        unclear: Option<&shell::Unclear>,
    ) -> PartDecision {
        let subject = Subject { call, command };
        let doubtful = command.is_some() && unclear.is_some();
        let (outcome, decided_by) =
            match self.rules.iter().zip(hits).position(|(r, hit)| {
                *hit && !(doubtful && r.outcome == Outcome::Allow) && r.matches(&subject)
            }) {
                Some(index) => (
                    self.rules[index].outcome,
                    DecidedBy::Rule { index, name: self.rules[index].name.clone() },
                ),
                None => (self.default, DecidedBy::Default),
            };
        let why = unclear.map(|u| u.why);
        match unclear {
            Some(u) if outcome < Outcome::Ask => PartDecision {
                text: shown,
                outcome: Outcome::Ask,
                decided_by: DecidedBy::Unclear { why: u.why },
                doubt: doubtful.then(|| u.near.clone()),
                unclear: why,
                about: None,
            },
            _ => PartDecision { text: shown, outcome, decided_by, doubt: None, unclear: why, about: None },
        }
    }
}

/// Marks each unclear part that is about a command listed before it: the splitter reports a
/// shell reading its script from stdin, or running a script held in an expansion, as the
/// command and then an unclear part for that same command.
fn attach_unclear_parts(split: &[Part], parts: &mut [PartDecision]) {
    for (i, part) in split.iter().enumerate() {
        let Part::Unclear(u) = part else { continue };
        if !matches!(u.why, UnclearWhy::ShellOnStdin | UnclearWhy::DynamicScript) {
            continue;
        }
        let command = split[..i].iter().rposition(|p| matches!(p, Part::Command(c) if c.display() == u.near));
        if let Some(part) = parts.get_mut(i) {
            part.about = command;
        }
    }
}

impl Decision {
    /// One line per part and a verdict, e.g. ``` `rm -rf build`: asked by rule 2 "rm -r/-f" ```.
    pub fn explain(&self) -> String {
        let mut lines = self.part_lines();
        lines.push(format!("=> {}", self.verdict()));
        lines.join("\n")
    }

    /// One line per part; an unclear part about a command is said on that command's line.
    pub fn part_lines(&self) -> Vec<String> {
        self.shown_parts()
            .into_iter()
            .map(|(p, about_it)| {
                let shown = self.said(p, about_it);
                let mut line =
                    format!("`{}`: {} {}", shell::snippet(&p.text), shown.outcome.past(), shown.by_words());
                if let Some(why) = about_it.filter(|u| !std::ptr::eq(*u, shown)).and_then(|u| u.unclear) {
                    line.push_str(&format!(" (also: {})", why.describe()));
                }
                line
            })
            .collect()
    }

    /// Which of a command and the unclear part about it its line says: the more severe; of two
    /// alike, the one that caused the outcome, else the unclear part unless the command was
    /// itself decided by what the splitter could not be sure of.
    fn said<'a>(&'a self, p: &'a PartDecision, about_it: Option<&'a PartDecision>) -> &'a PartDecision {
        let Some(u) = about_it else { return p };
        let deciding = self.parts.get(self.part);
        match u.outcome.cmp(&p.outcome) {
            std::cmp::Ordering::Greater => u,
            std::cmp::Ordering::Less => p,
            _ if deciding.is_some_and(|d| std::ptr::eq(d, u)) => u,
            _ if deciding.is_some_and(|d| std::ptr::eq(d, p)) => p,
            _ if matches!(p.decided_by, DecidedBy::Unclear { .. }) => p,
            _ => u,
        }
    }

    /// The parts as the explanation lists them: each but those about a command listed before
    /// them, with the unclear part about it if there is one.
    fn shown_parts(&self) -> Vec<(&PartDecision, Option<&PartDecision>)> {
        let mut attached: Vec<Option<&PartDecision>> = vec![None; self.parts.len()];
        for p in &self.parts {
            if let Some(slot) = p.about.and_then(|i| attached.get_mut(i)) {
                *slot = Some(p);
            }
        }
        self.parts.iter().zip(attached).filter(|(p, _)| p.about.is_none()).collect()
    }

    /// The outcome and what decided it, e.g. `ask (by rule 2 "rm -r/-f")`, with the rule's
    /// reason after a colon.
    pub fn verdict(&self) -> String {
        let mut verdict = format!("{} ({})", self.outcome.as_str(), self.cause());
        if let Some(reason) = &self.reason {
            verdict.push_str(&format!(": {reason}"));
        }
        verdict
    }

    /// What decided the outcome, e.g. `by rule 2 "rm -r/-f"`; when more than one listed part has
    /// that outcome, which one caused it (`…, at `sh`: a shell reading its script from stdin`).
    pub fn cause(&self) -> String {
        let mut cause = by_words(&self.decided_by);
        let severe = self
            .shown_parts()
            .iter()
            .filter(|(p, u)| u.map_or(p.outcome, |u| u.outcome.max(p.outcome)) == self.outcome)
            .count();
        if let Some(p) = self.parts.get(self.part).filter(|_| severe > 1) {
            cause.push_str(&format!(", at `{}`", shell::snippet(&p.text)));
            if let Some(why) = p.unclear.filter(|_| !matches!(p.decided_by, DecidedBy::Unclear { .. })) {
                cause.push_str(&format!(": {}", why.describe()));
            }
        }
        cause
    }

    /// The part that caused the outcome.
    pub fn deciding_part(&self) -> Option<&PartDecision> {
        self.parts.get(self.part)
    }
}

impl PartDecision {
    /// What decided this part, in words, with what the splitter could not be sure of when a rule
    /// decided it: `by rule 16 "curl | sh" (a shell reading its script from stdin)`.
    pub fn by_words(&self) -> String {
        let by = by_words(&self.decided_by);
        match (&self.doubt, self.unclear) {
            (Some(near), _) => format!("{by} (`{near}`)"),
            (None, Some(why)) if !matches!(self.decided_by, DecidedBy::Unclear { .. }) => {
                format!("{by} ({})", why.describe())
            }
            _ => by,
        }
    }
}

/// What decided a part, in words: `by rule 2 "name"`, `by the default`, `because it holds …`.
pub fn by_words(decided_by: &DecidedBy) -> String {
    match decided_by {
        DecidedBy::Rule { index, name: Some(name) } => format!("by rule {} {name:?}", index + 1),
        DecidedBy::Rule { index, name: None } => format!("by rule {}", index + 1),
        DecidedBy::Default => "by the default".into(),
        DecidedBy::Unclear { why } => format!("because it holds {}", why.describe()),
    }
}
