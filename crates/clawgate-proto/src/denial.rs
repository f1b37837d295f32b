//! What an agent hears about a "no": the person's reason for a denial, that the person stopped
//! every agent, or why its key is suspended.
//!
//! A reason is a person's words, but it reaches terminals, logs and models: it is handed over
//! with invisible and control characters marked (the one rule in `text`) and held to a length.

use super::text;
use serde::{Deserialize, Serialize};

/// What every agent-facing answer says about a request Stop all agents denied.
pub const STOPPED: &str = "stopped by the person (Stop all agents)";

/// The longest reason an agent is given, in characters, once marked. A person may write
/// `approval::MAX_REASON_CHARS`; marking can make that longer (`[U+202E]` for one character).
pub const MAX_AGENT_REASON_CHARS: usize = 1000;

/// What `decided_by` says for a request denied by Stop all agents.
pub const DECIDED_BY_STOP: &str = "stop";

/// Why an API key is suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SuspendedBecause {
    /// Its requests were denied `SUSPEND_AFTER_DENIALS` times within ten minutes.
    Denials,
    /// Its owner stopped every agent.
    Stop,
}

impl SuspendedBecause {
    pub fn as_str(self) -> &'static str {
        match self {
            SuspendedBecause::Denials => "denials",
            SuspendedBecause::Stop => "stop",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "denials" => Some(SuspendedBecause::Denials),
            "stop" => Some(SuspendedBecause::Stop),
            _ => None,
        }
    }

    /// The cause, in words, as the agent's refusal names it.
    pub fn words(self) -> &'static str {
        match self {
            SuspendedBecause::Denials => {
                "its owner denied its requests again and again (repeated denials within 10 minutes \
                 suspend a key)"
            }
            SuspendedBecause::Stop => "its owner stopped every agent (Stop all agents)",
        }
    }
}

/// A person's reason as an agent is given it: marked, and cut to [`MAX_AGENT_REASON_CHARS`]
/// (ending in `…`) when longer. `None` for no reason or only blanks.
pub fn reason_for_agent(reason: &str) -> Option<String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return None;
    }
    let marked = text::marked(reason);
    if marked.chars().nth(MAX_AGENT_REASON_CHARS).is_none() {
        return Some(marked);
    }
    // Longer: the first characters and `…`, within the bound.
    let cut = marked.char_indices().nth(MAX_AGENT_REASON_CHARS - 1).map_or(marked.len(), |(i, _)| i);
    Some(format!("{}…", &marked[..cut]))
}

/// What an agent is told about a denied request: [`STOPPED`] for Stop all agents, else the
/// person's reason (see [`reason_for_agent`]), if they gave one.
pub fn denial_for_agent(decided_by: Option<&str>, reason: Option<&str>) -> Option<String> {
    if decided_by == Some(DECIDED_BY_STOP) {
        return Some(STOPPED.to_owned());
    }
    reason.and_then(reason_for_agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_marked_and_bounded() {
        assert_eq!(reason_for_agent("use git revert instead").as_deref(), Some("use git revert instead"));
        assert_eq!(reason_for_agent("  \n "), None);
        assert_eq!(reason_for_agent("a\u{1b}[2Jb\u{202E}c").as_deref(), Some("a[U+001B][2Jb[U+202E]c"));
        let hidden: String = std::iter::repeat_n('\u{E0041}', 500).collect();
        let given = reason_for_agent(&hidden).expect("a reason");
        assert_eq!(given.chars().count(), MAX_AGENT_REASON_CHARS);
        assert!(given.ends_with('…') && given.starts_with("[U+E0041][U+E0041]"), "{given}");
        assert!(!given.chars().any(text::is_marked), "{given}");
        let exact = "x".repeat(MAX_AGENT_REASON_CHARS);
        assert_eq!(reason_for_agent(&exact), Some(exact), "a reason that fits is not cut");
    }

    #[test]
    fn a_stop_says_it_was_a_stop() {
        assert_eq!(denial_for_agent(Some("stop"), Some("anything")).as_deref(), Some(STOPPED));
        assert_eq!(denial_for_agent(None, Some("not today")).as_deref(), Some("not today"));
        assert_eq!(denial_for_agent(None, None), None);
        for cause in [SuspendedBecause::Denials, SuspendedBecause::Stop] {
            assert_eq!(SuspendedBecause::parse(cause.as_str()), Some(cause));
        }
        assert_eq!(SuspendedBecause::parse("other"), None);
    }
}
