//! The two kinds of Ed25519 token and who accepts them.
//!
//! A token says what decided its action (`decidedBy`), and its kind follows from that: a person's
//! passkey makes an approval token, a rule or a standing grant makes a gate token. Each kind has
//! its own header `typ`, audience and claim `typ`, so a verifier that checks the audience
//! `clawgate:approval` (as every pre-gate verifier does) can never take a token no person approved.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What decided a token's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecidedBy {
    /// The person, with their passkey, just now.
    Passkey,
    /// One of the person's rules, alone.
    Rule,
    /// A standing grant the person made with a passkey, alone.
    Grant,
}

impl DecidedBy {
    pub const ALL: [DecidedBy; 3] = [DecidedBy::Passkey, DecidedBy::Rule, DecidedBy::Grant];

    pub const fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Passkey => "passkey",
            DecidedBy::Rule => "rule",
            DecidedBy::Grant => "grant",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

/// The kind of a token, which its `decidedBy` fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A person approved this one action with a passkey.
    Approval,
    /// The gate allowed the call alone, by a rule or a standing grant.
    Gate,
}

impl TokenKind {
    pub const ALL: [TokenKind; 2] = [TokenKind::Approval, TokenKind::Gate];

    pub const fn of(decided_by: DecidedBy) -> Self {
        match decided_by {
            DecidedBy::Passkey => TokenKind::Approval,
            DecidedBy::Rule | DecidedBy::Grant => TokenKind::Gate,
        }
    }

    /// The JWT header's `typ`.
    pub const fn header_type(self) -> &'static str {
        match self {
            TokenKind::Approval => "clawgate-approval+jwt",
            TokenKind::Gate => "clawgate-gate+jwt",
        }
    }

    pub const fn audience(self) -> &'static str {
        match self {
            TokenKind::Approval => "clawgate:approval",
            TokenKind::Gate => "clawgate:gate",
        }
    }

    /// The `typ` claim.
    pub const fn claim_type(self) -> &'static str {
        match self {
            TokenKind::Approval => "approval",
            TokenKind::Gate => "gate",
        }
    }

    pub fn from_header_type(typ: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.header_type() == typ)
    }
}

/// Which tokens a verifier takes. A person's passkey approval always; a token the gate issued
/// alone only for the deciders asked for, since no person looked at that call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accept {
    rule: bool,
    grant: bool,
}

impl Accept {
    /// Only what a person approved: the default everywhere.
    pub const PERSON: Accept = Accept { rule: false, grant: false };
    /// Also what a rule or a grant allowed.
    pub const ANY: Accept = Accept { rule: true, grant: true };

    pub fn of(deciders: impl IntoIterator<Item = DecidedBy>) -> Self {
        deciders.into_iter().fold(Self::PERSON, |a, d| match d {
            DecidedBy::Passkey => a,
            DecidedBy::Rule => Accept { rule: true, ..a },
            DecidedBy::Grant => Accept { grant: true, ..a },
        })
    }

    /// From names as an API body or a command line gives them (`["rule", "grant"]`).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut deciders = Vec::with_capacity(names.len());
        for name in names {
            let name = name.as_ref();
            deciders.push(DecidedBy::parse(name).ok_or_else(|| {
                format!("`accept` takes passkey, rule and grant; `{name}` is none of them")
            })?);
        }
        Ok(Self::of(deciders))
    }

    pub fn accepts(self, decided_by: DecidedBy) -> bool {
        match decided_by {
            DecidedBy::Passkey => true,
            DecidedBy::Rule => self.rule,
            DecidedBy::Grant => self.grant,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_names_itself_apart_from_the_other() {
        let [a, g] = TokenKind::ALL;
        assert_ne!(a.header_type(), g.header_type());
        assert_ne!(a.audience(), g.audience());
        assert_ne!(a.claim_type(), g.claim_type());
        assert_eq!(TokenKind::from_header_type("clawgate-gate+jwt"), Some(TokenKind::Gate));
        assert_eq!(TokenKind::from_header_type("JWT"), None);
        assert_eq!(TokenKind::of(DecidedBy::Passkey), TokenKind::Approval);
        assert_eq!(TokenKind::of(DecidedBy::Rule), TokenKind::Gate);
        assert_eq!(TokenKind::of(DecidedBy::Grant), TokenKind::Gate);
    }

    #[test]
    fn a_person_is_always_accepted_and_the_gate_only_when_asked() {
        assert_eq!(Accept::default(), Accept::PERSON);
        assert!(Accept::PERSON.accepts(DecidedBy::Passkey));
        assert!(!Accept::PERSON.accepts(DecidedBy::Rule) && !Accept::PERSON.accepts(DecidedBy::Grant));
        let rule = Accept::parse(&["rule"]).expect("known");
        assert!(rule.accepts(DecidedBy::Rule) && !rule.accepts(DecidedBy::Grant));
        assert_eq!(Accept::parse(&["passkey", "rule", "grant"]), Ok(Accept::ANY));
        assert_eq!(Accept::parse::<&str>(&[]), Ok(Accept::PERSON));
        let unknown = Accept::parse(&["robot"]).expect_err("unknown");
        assert!(unknown.contains("passkey, rule and grant") && unknown.contains("robot"), "{unknown}");
    }
}
