//! A standing grant's scope: exactly what a person chose on the approve page, checked against
//! the call actually made (its argv and cwd), never against the agent's description of it.

use super::Call;
use super::path;
use super::shell::{self, Part, SimpleCommand};
use serde::{Deserialize, Serialize};

/// What a grant covers. For Bash: one simple command whose words start with (or, when `exact`,
/// equal) `argv_prefix`. For other tools: any call of `tool` in `cwd` (a file tool's file must
/// lie inside `cwd`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    pub agent_id: Option<String>,
    pub tool: String,
    /// Every word of the command as run (assignments and wrappers included, so a grant for
    /// `cargo test` never covers `sudo cargo test` or `LD_PRELOAD=x cargo test`).
    pub argv_prefix: Option<Vec<String>>,
    /// The words must be exactly `argv_prefix`, nothing after: "this exact command".
    pub exact: bool,
    /// Normalised. `None` (the call named no working directory) covers only calls that name
    /// none either, never "any directory".
    pub cwd: Option<String>,
}

/// How wide a grant the person chose: `"exactCommand"`, `{"argvPrefix": n}` or `"toolInCwd"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum Width {
    /// This exact command (Bash).
    ExactCommand,
    /// Any command starting with the first N words of this one (Bash); N must reach the program.
    ArgvPrefix(usize),
    /// Any call of this (non-Bash) tool in this cwd. Never offered for Bash: "any command here"
    /// is wider than anyone reads it to be.
    ToolInCwd,
}

/// Why a call cannot be granted with the width asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotGrantable {
    #[error("the command runs more than one program")]
    Compound,
    #[error("the command holds something the splitter cannot be sure of")]
    Unclear,
    #[error("the command holds an expansion ($VAR, $(…), backticks)")]
    Dynamic,
    #[error("the command writes to a file by redirection")]
    Redirect,
    #[error("there is no command")]
    NoCommand,
    #[error("the prefix must reach the program and not pass the last word")]
    PrefixOutOfRange,
    #[error("this width is not offered for this tool")]
    WidthNotForTool,
    #[error("the call names no working directory")]
    NoCwd,
}

/// The one simple command of a Bash call, if it is clean enough to be granted.
fn single_command(call: &Call) -> Result<SimpleCommand, NotGrantable> {
    let parts = shell::split(call.command().ok_or(NotGrantable::NoCommand)?);
    if parts.iter().any(|p| matches!(p, Part::Unclear(_))) {
        return Err(NotGrantable::Unclear);
    }
    let mut parts = parts.into_iter();
    let (Some(Part::Command(cmd)), None) = (parts.next(), parts.next()) else {
        return Err(NotGrantable::Compound);
    };
    if cmd.nested {
        return Err(NotGrantable::Compound); // `(ls)`: a subshell is not the command granted
    }
    if cmd.words.iter().chain(cmd.redirects.iter().map(|r| &r.target)).any(|w| w.dynamic) {
        return Err(NotGrantable::Dynamic);
    }
    if cmd.redirects.iter().any(|r| r.writes_a_file()) {
        return Err(NotGrantable::Redirect);
    }
    // Outside the understood subset (an assignment, a risky option …): never covered.
    if cmd.doubt.is_some() {
        return Err(NotGrantable::Unclear);
    }
    Ok(cmd)
}

impl Scope {
    /// The scope the approve page offers for `call` at `width`.
    pub fn from_call(call: &Call, width: Width) -> Result<Scope, NotGrantable> {
        let cwd = call.cwd.as_deref().and_then(path::normalize);
        let base = Scope {
            agent_id: call.agent_id.clone(),
            tool: call.tool.clone(),
            argv_prefix: None,
            exact: false,
            cwd,
        };
        match (call.tool == "Bash", width) {
            (true, Width::ExactCommand | Width::ArgvPrefix(_)) => {
                let cmd = single_command(call)?;
                let words: Vec<String> = cmd.words.iter().map(|w| w.text.clone()).collect();
                let n = match width {
                    Width::ArgvPrefix(n) => n,
                    _ => words.len(),
                };
                if n <= cmd.program || n > words.len() {
                    return Err(NotGrantable::PrefixOutOfRange);
                }
                let exact = width == Width::ExactCommand;
                Ok(Scope { argv_prefix: Some(words[..n].to_vec()), exact, ..base })
            }
            (false, Width::ToolInCwd) if base.cwd.is_none() => Err(NotGrantable::NoCwd),
            (false, Width::ToolInCwd) => Ok(base),
            _ => Err(NotGrantable::WidthNotForTool),
        }
    }

    /// Whether this grant covers `call`, checked against the call as made.
    pub fn covers(&self, call: &Call) -> bool {
        if call.tool != self.tool || call.agent_id != self.agent_id {
            return false;
        }
        // The directory as the runtime named it: a grant made where none was named covers calls
        // that name none, not calls in whatever directory they name.
        let same_cwd = match (&self.cwd, call.cwd.as_deref()) {
            (Some(cwd), Some(call_cwd)) => path::normalize(call_cwd).as_ref() == Some(cwd),
            (None, None) => true,
            _ => false,
        };
        if !same_cwd {
            return false;
        }
        match (&self.argv_prefix, call.tool == "Bash") {
            (Some(prefix), true) => {
                let Ok(cmd) = single_command(call) else { return false };
                let words: Vec<&str> = cmd.words.iter().map(|w| w.text.as_str()).collect();
                let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
                // The prefix must reach the program, so a grant never covers "any sudo command".
                prefix.len() > cmd.program
                    && if self.exact { words == prefix } else { words.starts_with(&prefix) }
            }
            (None, false) => match (call.file(), &self.cwd) {
                (Some(file), Some(cwd)) => {
                    let inside = path::PathCondition::Inside(vec![path::Root::Absolute(cwd.clone())]);
                    inside.holds(file, Some(cwd))
                }
                (Some(_), None) => false,
                (None, cwd) => cwd.is_some(),
            },
            _ => false,
        }
    }

    /// The scope in words, for the approve page, the grant list and explanations: plain text,
    /// the command as shell words (`commands starting git push --force origin, by agent claude,
    /// in /srv/app`).
    pub fn describe(&self) -> String {
        self.words().to_string()
    }

    /// The scope in words, in pieces, for a page that shows the command in its own styling.
    pub fn words(&self) -> ScopeWords {
        let (what, command) = match &self.argv_prefix {
            Some(words) if self.exact => ("exactly".to_owned(), Some(shown(words))),
            Some(words) => ("commands starting".to_owned(), Some(shown(words))),
            None => (format!("any {} call", self.tool), None),
        };
        let agent =
            self.agent_id.as_deref().map_or("by an agent without an id".into(), |a| format!("by agent {a}"));
        let place = self
            .cwd
            .as_deref()
            .map_or("only in calls that name no working directory".into(), |c| format!("in {c}"));
        ScopeWords { what, command, agent, place }
    }
}

/// What a scope covers, in words: `what` (`commands starting`, `exactly`, `any Write call`),
/// the `command` it names, if any, as shell words, the `agent` (`by agent claude`) and the
/// `place` (`in /srv/app`). Together, comma-separated: [`Scope::describe`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeWords {
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub agent: String,
    pub place: String,
}

impl std::fmt::Display for ScopeWords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.command {
            Some(command) => write!(f, "{} {command}, {}, {}", self.what, self.agent, self.place),
            None => write!(f, "{}, {}, {}", self.what, self.agent, self.place),
        }
    }
}

/// Words joined by spaces, those with blanks, quotes or commas single-quoted so word boundaries
/// show (and a comma never reads as the end of the command).
fn shown(words: &[String]) -> String {
    let quote = |w: &String| {
        if w.is_empty() || w.chars().any(|c| c.is_whitespace() || "'\"\\,".contains(c)) {
            format!("'{}'", w.replace('\'', r"'\''"))
        } else {
            w.clone()
        }
    };
    words.iter().map(quote).collect::<Vec<_>>().join(" ")
}
