//! The tokens the server signs for one action, which of them a check takes, and
//! `POST /api/v1/approval/verify-token`.
//!
//! A person's passkey approval is an approval token (header `typ` `clawgate-approval+jwt`, `aud`
//! `clawgate:approval`, claim `typ` `approval`, `decidedBy` `passkey`). A call the gate allowed
//! alone, by one of the person's rules or a standing grant, gets a gate token
//! (`clawgate-gate+jwt`, `clawgate:gate`, `gate`, `decidedBy` `rule` or `grant`): nobody looked at
//! that call, so checks refuse it unless told to [`Accept`] its decider. A verifier that checks
//! the audience `clawgate:approval` (as every pre-gate verifier does) can never take a token no
//! person approved.

use serde::{Deserialize, Serialize};

/// What decided a token's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

impl std::fmt::Display for DecidedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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

/// Which tokens a check takes: a person's passkey approval always; a gate token only for the
/// deciders set here, since no person looked at that call. The default ([`Accept::PERSON`])
/// takes only what a person approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accept {
    /// Also take tokens of calls one of the person's rules allowed.
    pub rule: bool,
    /// Also take tokens of calls a standing grant allowed.
    pub grant: bool,
}

impl Accept {
    /// Only what a person approved with a passkey: the default everywhere.
    pub const PERSON: Accept = Accept { rule: false, grant: false };
    /// Also what a rule or a standing grant allowed.
    pub const ANY: Accept = Accept { rule: true, grant: true };

    pub fn of(deciders: impl IntoIterator<Item = DecidedBy>) -> Self {
        deciders.into_iter().fold(Self::PERSON, |a, d| match d {
            DecidedBy::Passkey => a,
            DecidedBy::Rule => Accept { rule: true, ..a },
            DecidedBy::Grant => Accept { grant: true, ..a },
        })
    }

    /// From names as an API body gives them (`["rule", "grant"]`).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut deciders = Vec::with_capacity(names.len());
        for name in names {
            let name = name.as_ref();
            deciders.push(DecidedBy::parse(name).ok_or_else(|| {
                format!("`accept` takes passkey, rule and grant; `{name}` is none of them")
            })?);
        }
        Ok(Self::of(deciders))
    }

    /// From a comma-separated list, as a command line gives it (`"rule,grant"`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let names: Vec<&str> = list.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
        Self::from_names(&names)
    }

    pub fn accepts(self, decided_by: DecidedBy) -> bool {
        match decided_by {
            DecidedBy::Passkey => true,
            DecidedBy::Rule => self.rule,
            DecidedBy::Grant => self.grant,
        }
    }

    /// As `verify-token`'s `accept` field.
    pub fn deciders(self) -> Vec<DecidedBy> {
        DecidedBy::ALL.into_iter().filter(|d| self.accepts(*d)).collect()
    }
}

/// The claims of an approval or gate token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalClaims {
    /// The server that issued it (its public origin).
    pub iss: String,
    /// The person who approved, or whose rule or grant allowed it (user id).
    pub sub: String,
    /// `clawgate:approval` (a person approved) or `clawgate:gate` (a rule or grant allowed it).
    pub aud: String,
    /// `approval` or `gate`, as the audience.
    pub typ: String,
    /// Unique token id; `consume` uses it to allow one verification ever.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub request_id: String,
    /// The action exactly as the agent sent it.
    pub action: String,
    /// SHA-256 (hex) of the canonical `{action, agentId, context, requestId}`.
    pub action_hash: String,
    pub agent_id: Option<String>,
    /// What approved: `passkey` (the person, just now: an approval token), `rule` (one of their
    /// rules) or `grant` (a standing grant they made with a passkey): a gate token. Required: a
    /// token without it is malformed.
    pub decided_by: DecidedBy,
    /// The passkey credential (base64url) that approved: only when `decidedBy` is `passkey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// The authenticator verified the person (PIN or biometrics): true for every passkey
    /// approval, false when a rule or grant decided.
    pub user_verified: bool,
    /// The WebAuthn challenge the person's passkey signed (base64url), derived from the approved
    /// content: the assertion in the approval's receipt is over exactly this. Only on approval
    /// tokens (absent on those of a ceremony an older build started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// The hash (hex) of the approval's receipt in the person's chain
    /// (`clawgate verify --receipt`). Only with `challenge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// Why a token did not verify; the names are part of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvalidReason {
    /// Not a JWT, or not one this server could have issued.
    Malformed,
    /// Not an approval or gate token (for instance a session token), or one whose kind and
    /// `decidedBy` disagree.
    WrongType,
    /// Signed by a key this server does not know, or no longer accepts (retired or revoked).
    UnknownKey,
    /// The signature, issuer or audience does not check out.
    BadSignature,
    Expired,
    /// `consume` was asked and the token was used before.
    AlreadyUsed,
    /// The token approves a different action than the one given.
    ActionMismatch,
    /// A rule or a standing grant allowed the action (a gate token): no person approved it, and
    /// the caller did not `accept` that decider.
    NotPersonApproved,
}

impl InvalidReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            InvalidReason::Malformed => "malformed",
            InvalidReason::WrongType => "wrong_type",
            InvalidReason::UnknownKey => "unknown_key",
            InvalidReason::BadSignature => "bad_signature",
            InvalidReason::Expired => "expired",
            InvalidReason::AlreadyUsed => "already_used",
            InvalidReason::ActionMismatch => "action_mismatch",
            InvalidReason::NotPersonApproved => "not_person_approved",
        }
    }
}

impl std::fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token to check online.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequest {
    pub token: String,
    /// Mark the token used: it verifies this once and never again, on any instance.
    #[serde(default)]
    pub consume: bool,
    /// The action the caller is about to perform; the token must approve exactly this text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// What may have decided the action. A person's passkey approval (`passkey`) is always
    /// accepted; add `rule` and/or `grant` to also accept a gate token (the gate allowed the call
    /// alone and nobody was asked). Default `["passkey"]`: a gate token is then `valid: false`
    /// with the reason `not_person_approved`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<DecidedBy>>))]
    pub accept: Option<Vec<String>>,
}

/// The answer of `verify-token`: `valid` says whether it holds, `reason` why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<ApprovalClaims>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<InvalidReason>,
}

impl Verification {
    /// The answer held to `accept`: a token it does not take is refused even if the answer said
    /// valid (a server older than token kinds ignores `accept` and calls a rule's token valid).
    pub fn held_to(self, accept: Accept) -> Self {
        match &self.claims {
            Some(c) if self.valid && !accept.accepts(c.decided_by) => {
                Verification { valid: false, claims: None, reason: Some(InvalidReason::NotPersonApproved) }
            }
            _ => self,
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
        assert_eq!(TokenKind::from_header_type("clawgate-approval+jwt"), Some(TokenKind::Approval));
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
        let rule = Accept::from_names(&["rule"]).expect("known");
        assert!(rule.accepts(DecidedBy::Rule) && !rule.accepts(DecidedBy::Grant));
        assert_eq!(Accept::from_names(&["passkey", "rule", "grant"]), Ok(Accept::ANY));
        assert_eq!(Accept::from_names::<&str>(&[]), Ok(Accept::PERSON));
        let unknown = Accept::from_names(&["robot"]).expect_err("unknown");
        assert!(unknown.contains("passkey, rule and grant") && unknown.contains("robot"), "{unknown}");
        assert_eq!(Accept::parse("rule, grant"), Ok(Accept::ANY));
        assert_eq!(Accept::parse("grant"), Ok(Accept { rule: false, grant: true }));
        assert!(Accept::parse("rule,robot").is_err_and(|e| e.contains("robot")));
        assert_eq!(Accept { rule: true, grant: false }.deciders(), [DecidedBy::Passkey, DecidedBy::Rule]);
    }

    #[test]
    fn reasons_say_themselves_as_the_wire_does() {
        use InvalidReason::*;
        for r in [
            Malformed,
            WrongType,
            UnknownKey,
            BadSignature,
            Expired,
            AlreadyUsed,
            ActionMismatch,
            NotPersonApproved,
        ] {
            assert_eq!(serde_json::to_value(r).ok(), Some(serde_json::Value::from(r.as_str())));
        }
    }

    #[test]
    fn a_gate_token_the_check_does_not_take_is_refused_even_if_called_valid() {
        let claims = |decided_by| ApprovalClaims {
            iss: "https://x".into(),
            sub: "usr_1".into(),
            aud: TokenKind::of(decided_by).audience().into(),
            typ: TokenKind::of(decided_by).claim_type().into(),
            jti: "j".into(),
            iat: 0,
            exp: 1,
            request_id: "dec_1".into(),
            action: "ls".into(),
            action_hash: "00".into(),
            agent_id: None,
            challenge: None,
            receipt: None,
            decided_by,
            credential_id: None,
            user_verified: false,
        };
        let valid = |d| Verification { valid: true, claims: Some(claims(d)), reason: None };
        let refused = valid(DecidedBy::Rule).held_to(Accept::PERSON);
        assert_eq!((refused.valid, refused.reason), (false, Some(InvalidReason::NotPersonApproved)));
        assert!(valid(DecidedBy::Rule).held_to(Accept::ANY).valid);
        assert!(valid(DecidedBy::Passkey).held_to(Accept::PERSON).valid);
    }
}
