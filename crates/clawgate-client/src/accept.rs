//! The two kinds of token the server signs, and which of them a check takes.
//!
//! A person's passkey approval is an approval token (header `typ` `clawgate-approval+jwt`,
//! `aud` `clawgate:approval`, claim `typ` `approval`, `decidedBy` `passkey`). A call the gate
//! allowed alone, by one of the person's rules or a standing grant, gets a gate token
//! (`clawgate-gate+jwt`, `clawgate:gate`, `gate`, `decidedBy` `rule` or `grant`): nobody looked at
//! that call, so checks refuse it unless told to [`Accept`] its decider.

/// Which tokens a check takes: a person's passkey approval always; a gate token only for the
/// deciders set here. The default ([`Accept::PERSON`]) takes only what a person approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accept {
    /// Also take tokens of calls one of the person's rules allowed.
    pub rule: bool,
    /// Also take tokens of calls a standing grant allowed.
    pub grant: bool,
}

impl Accept {
    /// Only what a person approved with a passkey.
    pub const PERSON: Accept = Accept { rule: false, grant: false };
    /// Also what a rule or a standing grant allowed.
    pub const ANY: Accept = Accept { rule: true, grant: true };

    /// From a comma-separated list of `passkey`, `rule` and `grant` (`"rule,grant"`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut accept = Self::PERSON;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "passkey" => {}
                "rule" => accept.rule = true,
                "grant" => accept.grant = true,
                other => {
                    return Err(format!("accept takes passkey, rule and grant; `{other}` is none of them"));
                }
            }
        }
        Ok(accept)
    }

    /// Whether a token whose `decidedBy` is `decided_by` is taken.
    pub fn accepts(self, decided_by: &str) -> bool {
        match decided_by {
            "passkey" => true,
            "rule" => self.rule,
            "grant" => self.grant,
            _ => false,
        }
    }

    /// As `verify-token`'s `accept` field.
    pub(crate) fn names(self) -> Vec<&'static str> {
        let mut names = vec!["passkey"];
        names.extend(self.rule.then_some("rule"));
        names.extend(self.grant.then_some("grant"));
        names
    }
}

/// What names one kind of token.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Kind {
    pub header_type: &'static str,
    pub audience: &'static str,
    pub claim_type: &'static str,
    /// The `decidedBy` values a token of this kind may carry.
    pub deciders: &'static [&'static str],
}

pub(crate) const APPROVAL: Kind = Kind {
    header_type: "clawgate-approval+jwt",
    audience: "clawgate:approval",
    claim_type: "approval",
    deciders: &["passkey"],
};

pub(crate) const GATE: Kind = Kind {
    header_type: "clawgate-gate+jwt",
    audience: "clawgate:gate",
    claim_type: "gate",
    deciders: &["rule", "grant"],
};

/// The kind a token's header `typ` names.
pub(crate) fn kind_of_header(typ: &str) -> Option<&'static Kind> {
    [&APPROVAL, &GATE].into_iter().find(|k| k.header_type == typ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_is_always_accepted_and_the_gate_only_when_asked() {
        assert_eq!(Accept::default(), Accept::PERSON);
        assert!(Accept::PERSON.accepts("passkey"));
        assert!(!Accept::PERSON.accepts("rule") && !Accept::PERSON.accepts("grant"));
        assert!(!Accept::ANY.accepts("robot"));
        assert_eq!(Accept::parse("rule, grant"), Ok(Accept::ANY));
        assert_eq!(Accept::parse("passkey,rule,grant"), Ok(Accept::ANY));
        assert_eq!(Accept::parse("grant"), Ok(Accept { rule: false, grant: true }));
        assert!(Accept::parse("rule,robot").is_err_and(|e| e.contains("robot")));
        assert_eq!(Accept { rule: true, grant: false }.names(), ["passkey", "rule"]);
    }

    #[test]
    fn the_kinds_name_themselves_apart() {
        assert_eq!(kind_of_header("clawgate-gate+jwt"), Some(&GATE));
        assert_eq!(kind_of_header("clawgate-approval+jwt"), Some(&APPROVAL));
        assert_eq!(kind_of_header("JWT"), None);
        assert_ne!(APPROVAL.audience, GATE.audience);
        assert_ne!(APPROVAL.claim_type, GATE.claim_type);
    }
}
