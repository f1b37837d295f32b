//! What decided a call or a request, for the person's list of decisions: a rule (which one, in
//! which version of their rule set), a standing grant, the person, the kill switch, or nobody in
//! time. Each says itself in plain words ("Allowed by rule 3 "tests" (version 4)").

use serde::Serialize;
use utoipa::ToSchema;

/// A decision's outcome as the list says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
    /// Nobody decided before the request lapsed.
    Expired,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Verdict::Allow, Verdict::Deny, Verdict::Expired].into_iter().find(|v| v.as_str() == s)
    }
}

/// Who or what decided, without the particulars: the list's `decider` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeciderKind {
    Rule,
    Grant,
    Person,
    Stop,
    Expiry,
}

impl DeciderKind {
    pub const ALL: [DeciderKind; 5] =
        [DeciderKind::Rule, DeciderKind::Grant, DeciderKind::Person, DeciderKind::Stop, DeciderKind::Expiry];

    pub fn as_str(self) -> &'static str {
        match self {
            DeciderKind::Rule => "rule",
            DeciderKind::Grant => "grant",
            DeciderKind::Person => "person",
            DeciderKind::Stop => "stop",
            DeciderKind::Expiry => "expiry",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Decided by the gate alone (a `gate_decisions` row), not a request.
    pub fn is_gate(self) -> bool {
        matches!(self, DeciderKind::Rule | DeciderKind::Grant)
    }
}

/// Which rule of which version, from a gate decision's reference (`v3#2`, `v3#default`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub version: i64,
    /// 1-based; `None` for the rule set's default.
    pub index: Option<i64>,
}

impl RuleRef {
    pub fn parse(s: &str) -> Option<Self> {
        let (version, which) = s.strip_prefix('v')?.split_once('#')?;
        let version = version.parse().ok()?;
        let index = match which {
            "default" => None,
            n => Some(n.parse().ok().filter(|n: &i64| *n >= 1)?),
        };
        Some(Self { version, index })
    }
}

/// What decided, with what the words need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decider {
    /// A rule (or the default) of the person's rule set; `rule` is `None` if its reference is
    /// not one this server writes.
    Rule {
        rule: Option<RuleRef>,
        name: Option<String>,
    },
    /// A standing grant, and what it covers as the person read it (absent if it is gone).
    Grant {
        description: Option<String>,
    },
    /// The person, with their reason for a denial, or what the grant they chose with an approval
    /// covers.
    Person {
        reason: Option<String>,
        grant: Option<String>,
    },
    Stop,
    Expiry,
}

impl Decider {
    pub fn kind(&self) -> DeciderKind {
        match self {
            Decider::Rule { .. } => DeciderKind::Rule,
            Decider::Grant { .. } => DeciderKind::Grant,
            Decider::Person { .. } => DeciderKind::Person,
            Decider::Stop => DeciderKind::Stop,
            Decider::Expiry => DeciderKind::Expiry,
        }
    }

    /// The decision in plain words: `Allowed by rule 3 "tests" (version 4)`, `Allowed by your
    /// grant: …`, `Denied by you: …`, `Denied: you stopped all agents`, `Expired: nobody answered`.
    pub fn words(&self, verdict: Verdict) -> String {
        let done = match verdict {
            Verdict::Allow => "Allowed",
            Verdict::Deny => "Denied",
            Verdict::Expired => "Expired",
        };
        match self {
            Decider::Rule { rule: Some(r), name } => {
                let which = match (r.index, name) {
                    (Some(i), Some(n)) => format!("rule {i} {n:?}"),
                    (Some(i), None) => format!("rule {i}"),
                    (None, _) => "the default of your rules".to_owned(),
                };
                let version = match r.version {
                    0 => "the built-in rules".to_owned(),
                    v => format!("version {v}"),
                };
                format!("{done} by {which} ({version})")
            }
            Decider::Rule { rule: None, .. } => format!("{done} by your rules"),
            Decider::Grant { description: Some(d) } => format!("{done} by your grant: {d}"),
            Decider::Grant { description: None } => format!("{done} by a grant of yours"),
            Decider::Person { reason: Some(r), .. } if verdict == Verdict::Deny && !r.trim().is_empty() => {
                format!("{done} by you: {r}")
            }
            Decider::Person { grant: Some(g), .. } if verdict == Verdict::Allow => {
                format!("{done} by you, with a grant: {g}")
            }
            Decider::Person { .. } => format!("{done} by you"),
            Decider::Stop => "Denied: you stopped all agents".to_owned(),
            Decider::Expiry => "Expired: nobody answered".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_references_parse_as_the_gate_writes_them() {
        assert_eq!(RuleRef::parse("v3#2"), Some(RuleRef { version: 3, index: Some(2) }));
        assert_eq!(RuleRef::parse("v0#default"), Some(RuleRef { version: 0, index: None }));
        for bad in ["", "v#1", "3#2", "v3#0", "v3#x", "v3", "vx#1"] {
            assert_eq!(RuleRef::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn each_decider_says_itself_in_plain_words() {
        let rule = |r: &str, name: Option<&str>| Decider::Rule {
            rule: RuleRef::parse(r),
            name: name.map(str::to_owned),
        };
        assert_eq!(
            rule("v4#3", Some("tests")).words(Verdict::Allow),
            "Allowed by rule 3 \"tests\" (version 4)"
        );
        assert_eq!(rule("v4#1", None).words(Verdict::Deny), "Denied by rule 1 (version 4)");
        assert_eq!(
            rule("v0#default", None).words(Verdict::Allow),
            "Allowed by the default of your rules (the built-in rules)"
        );
        let grant = Decider::Grant { description: Some("git push in /srv/app".into()) };
        assert_eq!(grant.words(Verdict::Allow), "Allowed by your grant: git push in /srv/app");
        let denied = Decider::Person { reason: Some("use git revert instead".into()), grant: None };
        assert_eq!(denied.words(Verdict::Deny), "Denied by you: use git revert instead");
        assert_eq!(Decider::Person { reason: None, grant: None }.words(Verdict::Allow), "Allowed by you");
        let granted = Decider::Person { reason: None, grant: Some("exactly ls, by agent a, in /x".into()) };
        assert_eq!(
            granted.words(Verdict::Allow),
            "Allowed by you, with a grant: exactly ls, by agent a, in /x"
        );
        assert_eq!(Decider::Stop.words(Verdict::Deny), "Denied: you stopped all agents");
        assert_eq!(Decider::Expiry.words(Verdict::Expired), "Expired: nobody answered");
    }

    #[test]
    fn filters_parse_exactly() {
        assert_eq!(Verdict::parse("expired"), Some(Verdict::Expired));
        assert_eq!(Verdict::parse("Allow"), None);
        assert_eq!(DeciderKind::parse("expiry"), Some(DeciderKind::Expiry));
        assert_eq!(DeciderKind::parse("passkey"), None);
        assert!(DeciderKind::Grant.is_gate() && !DeciderKind::Stop.is_gate());
    }
}
