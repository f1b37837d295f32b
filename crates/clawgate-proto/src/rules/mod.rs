//! The gate's rule engine, free of I/O: which tool calls pass, which ask a person, which are
//! refused, and which standing grants cover a call.
//!
//! A rule set is JSON:
//!
//! ```json
//! {"default": "ask",
//!  "rules": [{"name": "no force pushes", "outcome": "deny", "reason": "history is shared",
//!             "tool": "Bash", "agent": "ci-*", "command": ["git push --force*", "git push -f"],
//!             "regex": "(?i)drop\\s+table", "path": {"inside": ["{cwd}", "/srv/app"]}}]}
//! ```
//!
//! - `default`: `allow`, `ask` or `deny` when no rule matches; `ask` when left out.
//! - `outcome` is required; `name` and `reason` are optional. Every condition is optional, but a
//!   rule needs at least one; a rule matches when all of its conditions hold.
//! - `tool`, `agent`: a glob (`*`, `?`, `[…]`) or a list of globs on the tool name / agent id. A
//!   call without an agent id never matches a rule with `agent`.
//! - `command`: a command pattern or a list of them ([`pattern::CommandPattern`]), matched
//!   against each simple command of a Bash call; never matches other tools.
//! - `regex`: on the whole command text (Bash) or the call's subject (file path, URL, query, else
//!   the input as JSON). A regex cannot tell which simple command of a Bash call it matched, so
//!   its hit holds for every part: an `ask` or `deny` rule raises them all, but an `allow` rule
//!   with a `regex` matches a Bash call only when the call is exactly one simple command with
//!   nothing unclear. In a compound call (`ls; curl x | sh`, `ls && rm -rf ~`, `bash -c '…'`,
//!   `$(…)`) it matches no part, and the parts fall through to later rules or the default.
//! - `path`: `{"inside": [...]}` or `{"outside": [...]}` directories, absolute or `{cwd}[/…]`;
//!   applies to file tools (Write, Edit, MultiEdit, NotebookEdit, Read) only.
//! - `examples` (beside `rules`): calls and the outcome each must get, `{"command": "…",
//!   "expect": "deny"}` or `{"tool", "input", "cwd"?, "agent"?, "expect"}` (`examples.rs`). The
//!   gate never looks at them.
//!
//! First match wins per part; a Bash call's outcome is its most severe part's.
//!
//! Before a set is saved, [`RuleSet::review`] looks it over without changing how anything is
//! decided: a `tool` that differs from a known tool only in case ([`tools`]) and an example
//! decided otherwise refuse the save; a rule, pattern or regex no call can reach (`reach.rs`), an
//! unknown tool and a rule an earlier one shadows are warnings.

#[cfg(any(test, feature = "test-corpus"))]
pub mod corpus;
mod decide;
pub mod defaults;
mod examples;
mod expand;
mod lexer;
pub mod path;
pub mod pattern;
mod programs;
mod reach;
mod review;
mod ruleset;
pub mod scope;
pub mod shell;
pub mod subset;
pub mod tools;
mod wrappers;

#[cfg(test)]
pub(crate) mod tests;

pub use decide::{Call, DecidedBy, Decision, FILE_TOOLS, PartDecision, by_words};
pub use examples::{Example, ExampleResult, MAX_EXAMPLES};
pub use review::{Review, Warning};
pub use ruleset::{MAX_PATTERN_CHARS, MAX_RULES, Rule, RuleSet, RuleSetError};
pub use scope::{NotGrantable, Scope, ScopeWords, Width};

use serde::{Deserialize, Serialize};

/// What happens to a call, ordered by severity: `Allow < Ask < Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allow,
    Ask,
    Deny,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Ask => "ask",
            Outcome::Deny => "deny",
        }
    }

    /// "allowed", "asked", "denied", for explanations.
    pub fn past(self) -> &'static str {
        match self {
            Outcome::Allow => "allowed",
            Outcome::Ask => "asked",
            Outcome::Deny => "denied",
        }
    }
}
