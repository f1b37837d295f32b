//! The gate: one tool call in, one decision out. The person's rules decide first (a `deny` is
//! final, whatever grants exist); a call they would ask about passes under a standing grant whose
//! scope covers the call as made; anything else becomes a pending request for the person.
//!
//! A decision made alone is recorded (with its audit row) as a gate decision; an allowed call
//! gets a signed token saying what allowed it. A call that asks is an approval request like any.

use super::Shared;
use super::approvals::{ApprovalError, ApprovalResult, Approvals};
use super::rules::{Rules, RulesError};
use crate::clock::{Millis, to_rfc3339};
use crate::domain::approval::{self, Status};
use crate::domain::denial;
use crate::domain::gate::GateCall;
use crate::domain::ids::{DecisionId, GrantId};
use crate::domain::rules::{self, Decision, Outcome};
use crate::events::Events;
use crate::metrics::{self, Metrics};
use crate::store::Db;
use crate::store::api_keys::ApiKeyRecord;
use crate::store::approvals::{ApprovalRecord, KeyStanding};
use crate::store::gate::{GateDecision, Recorded};
use crate::store::grants::GrantRecord;
use crate::tokens::approval::{ApprovalFacts, ApprovalSigner, DecidedBy, SignedApproval};
use clawgate_proto::wire::Decider;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// What the gate answered, and why.
#[derive(Debug)]
pub struct Answer {
    /// What the agent must do now: `allow` (run it), `deny` (do not), `ask` (still waiting for
    /// the person: read the request's status).
    pub outcome: Outcome,
    /// Who decided: `rule`, `grant`, the person (`passkey` for an approval, `person` for a
    /// denial) or the kill switch (`stop`); `None` while pending or when it expired.
    pub decided_by: Option<Decider>,
    /// A decision made alone.
    pub decision: Option<DecisionId>,
    /// The request a call that asked became.
    pub request: Option<ApprovalRecord>,
    /// An allow's token and when it expires.
    pub token: Option<(String, Millis)>,
    /// The version of the person's rule set that decided (0: the built-in defaults).
    pub rule_version: i64,
    /// Which rule decided (`v3#2`, `v3#default`), when one did.
    pub rule: Option<String>,
    /// The grant that allowed it.
    pub grant: Option<GrantId>,
    /// Why it was denied, or why it asks.
    pub reason: Option<String>,
    /// What the rules made of the call, in words.
    pub explanation: String,
    pub at: Millis,
}

/// What the gate would do with a call (a dry-run): what `decide` would answer, grants included.
#[derive(Debug, Clone)]
pub struct Explained {
    /// `allow` also when a grant would allow a call the rules ask about.
    pub outcome: Outcome,
    /// `rule` or `grant`; `None` when the person would be asked.
    pub decided_by: Option<Decider>,
    /// Which rule would decide (`v3#2`, `v3#default`), when one would.
    pub rule: Option<String>,
    pub rule_version: i64,
    /// The same words `decide` would answer with.
    pub explanation: String,
    /// The live grant that would allow the call the rules ask about.
    pub grant: Option<GrantId>,
}

/// The gate service (see `http::substates`).
#[derive(Clone)]
pub struct Gate {
    approvals: Approvals,
    rules: Rules,
    db: Db,
    signer: Arc<ApprovalSigner>,
    metrics: Arc<Metrics>,
    events: Arc<Events>,
}

/// The rules' verdict on a call, with the version that gave it.
struct Ruled {
    /// `None` when the saved set no longer parses: the call asks.
    decision: Option<Decision>,
    version: i64,
    explanation: String,
}

impl Ruled {
    fn outcome(&self) -> Outcome {
        self.decision.as_ref().map_or(Outcome::Ask, |d| d.outcome)
    }

    /// Which rule decided: `v3#2` (rule 2 of version 3) or `v3#default`.
    fn rule_ref(&self) -> String {
        match self.decision.as_ref().map(|d| &d.decided_by) {
            Some(rules::DecidedBy::Rule { index, .. }) => format!("v{}#{}", self.version, index + 1),
            _ => format!("v{}#default", self.version),
        }
    }

    /// The name of the rule that decided, if it has one.
    fn rule_name(&self) -> Option<String> {
        match self.decision.as_ref().map(|d| &d.decided_by) {
            Some(rules::DecidedBy::Rule { name, .. }) => name.clone(),
            _ => None,
        }
    }

    /// The name of the rule that asks, for the person.
    fn asking_rule(&self) -> Option<String> {
        let part = self.decision.as_ref()?.deciding_part()?;
        match &part.decided_by {
            rules::DecidedBy::Rule { name, index } if part.outcome == Outcome::Ask => {
                Some(name.clone().unwrap_or_else(|| format!("rule {}", index + 1)))
            }
            _ => None,
        }
    }

    /// Why the call asks, for the person: the part that caused it and what made it ask.
    fn ask_reason(&self) -> String {
        let Some(d) = &self.decision else { return self.explanation.clone() };
        d.deciding_part()
            .filter(|p| p.outcome == Outcome::Ask)
            .map_or_else(|| d.explain(), |p| format!("`{}` is asked about {}", p.text, p.by_words()))
    }

    /// The explanation of a call `grant` allows: what the rules made of each part, and a verdict
    /// naming the grant (the rules alone would have asked).
    fn granted(&self, grant: &GrantRecord) -> String {
        let allowed = format!(
            "=> allow (by grant {} \"{}\", until {}; your rules alone would ask",
            grant.id,
            grant.scope.describe(),
            to_rfc3339(grant.expires_at)
        );
        match &self.decision {
            Some(d) => {
                let mut lines = d.part_lines();
                lines.push(format!("{allowed}, {})", d.cause()));
                lines.join("\n")
            }
            None => format!("{}\n{allowed})", self.explanation),
        }
    }
}

impl Gate {
    pub fn new(shared: &Shared, approvals: Approvals, rules: Rules) -> Self {
        Self {
            approvals,
            rules,
            db: shared.db.clone(),
            signer: shared.signer.clone(),
            metrics: shared.metrics.clone(),
            events: shared.events.clone(),
        }
    }

    /// What the person's rules make of `call`. A saved set that no longer parses asks about
    /// everything (never allows) until it is fixed.
    async fn rule(&self, key: &ApiKeyRecord, call: &GateCall) -> ApprovalResult<Ruled> {
        match self.rules.in_force(&key.user_id).await {
            Ok(in_force) => {
                let decision = in_force.rules.decide(&call.call);
                let explanation = decision.explain();
                Ok(Ruled { decision: Some(decision), version: in_force.version, explanation })
            }
            Err(RulesError::Unreadable { version, error }) => Ok(Ruled {
                decision: None,
                version,
                explanation: format!(
                    "the saved rule set (version {version}) no longer parses ({error}): every call asks"
                ),
            }),
            Err(RulesError::Store(e)) => Err(e.into()),
            Err(e) => Err(anyhow::anyhow!(e).into()),
        }
    }

    /// What `decide` would do with `call` of `key`, without recording or using anything: the
    /// rules' outcome, or for a call they ask about the grant that would allow it, with the same
    /// explanation.
    pub async fn explain(&self, key: &ApiKeyRecord, call: &GateCall) -> ApprovalResult<Explained> {
        let ruled = self.rule(key, call).await?;
        let outcome = ruled.outcome();
        if outcome == Outcome::Ask {
            let grants = self.db.live_grants_of_key(&key.id, self.approvals.now()).await?;
            if let Some(grant) = grants.into_iter().find(|g| g.scope.covers(&call.call)) {
                return Ok(Explained {
                    outcome: Outcome::Allow,
                    decided_by: Some(Decider::Grant),
                    rule: None,
                    rule_version: ruled.version,
                    explanation: ruled.granted(&grant),
                    grant: Some(grant.id),
                });
            }
        }
        let by_rule = outcome != Outcome::Ask;
        Ok(Explained {
            outcome,
            decided_by: by_rule.then_some(Decider::Rule),
            rule: by_rule.then(|| ruled.rule_ref()),
            rule_version: ruled.version,
            explanation: ruled.explanation,
            grant: None,
        })
    }

    /// Decides `call` of `key` (made from `ip`); a call that asks waits up to `wait` for the
    /// person's decision.
    /// With `idempotency` (key, body hash), a retried call that asks gives the same request.
    pub async fn decide(
        &self,
        key: &ApiKeyRecord,
        call: GateCall,
        ip: IpAddr,
        wait: Duration,
        idempotency: Option<(&str, &str)>,
    ) -> ApprovalResult<Answer> {
        let ruled = self.rule(key, &call).await?;
        match ruled.outcome() {
            Outcome::Deny => {
                let reason = ruled
                    .decision
                    .as_ref()
                    .and_then(|d| d.reason.clone())
                    .unwrap_or_else(|| format!("denied by your rules ({})", ruled.rule_ref()));
                let mut d = self.decision(key, &call, Outcome::Deny, "rule", ruled.rule_ref());
                d.reason = Some(reason);
                d.rule_name = ruled.rule_name();
                self.record(d, None, ruled, ip).await
            }
            Outcome::Allow => {
                let mut d = self.decision(key, &call, Outcome::Allow, "rule", ruled.rule_ref());
                d.rule_name = ruled.rule_name();
                self.record(d, None, ruled, ip).await
            }
            Outcome::Ask => {
                if let Some(answer) = self.by_grant(key, &call, &ruled, ip).await? {
                    return Ok(answer);
                }
                self.ask(key, &call, ruled, ip, wait, idempotency).await
            }
        }
    }

    /// Allows `call` under the first live grant of `key` that covers it and still has a use.
    async fn by_grant(
        &self,
        key: &ApiKeyRecord,
        call: &GateCall,
        ruled: &Ruled,
        ip: IpAddr,
    ) -> ApprovalResult<Option<Answer>> {
        let now = self.approvals.now();
        for grant in self.db.live_grants_of_key(&key.id, now).await? {
            if !grant.scope.covers(&call.call) {
                continue;
            }
            let d = self.decision(key, call, Outcome::Allow, "grant", grant.id.to_string());
            let ruled = Ruled { decision: None, version: ruled.version, explanation: ruled.granted(&grant) };
            match self.record(d, Some(grant.id), ruled, ip).await {
                Err(ApprovalError::GrantSpent) => continue,
                answer => return answer.map(Some),
            }
        }
        Ok(None)
    }

    /// Asks the person: a pending request holding the call as made, then waits up to `wait`.
    async fn ask(
        &self,
        key: &ApiKeyRecord,
        call: &GateCall,
        ruled: Ruled,
        ip: IpAddr,
        wait: Duration,
        idempotency: Option<(&str, &str)>,
    ) -> ApprovalResult<Answer> {
        let why = ruled.ask_reason();
        let request = call
            .to_request(&why, ruled.asking_rule().as_deref())
            .map_err(|e| ApprovalError::Input(e.to_string()))?;
        let created = self.approvals.create_gated(key, request, call.stored(), idempotency, ip).await?;
        let record = self.approvals.read_after_change(&key.id, &created.record.id, wait).await?;
        let now = self.approvals.now();
        let (outcome, decided_by, reason) = match record.status_at(now) {
            Status::Pending => (Outcome::Ask, None, Some(why)),
            Status::Approved => (Outcome::Allow, Some(Decider::Passkey), None),
            // What the agent is told is what the status says (marked and bounded, or the stop).
            Status::Denied if record.decided_by.as_deref() == Some(denial::DECIDED_BY_STOP) => {
                (Outcome::Deny, Some(Decider::Stop), Some(denial::STOPPED.to_owned()))
            }
            Status::Denied => (
                Outcome::Deny,
                Some(Decider::Person),
                Some(
                    denial::denial_for_agent(None, record.deny_reason.as_deref())
                        .unwrap_or_else(|| "denied by the person".into()),
                ),
            ),
            Status::Expired => (Outcome::Deny, None, Some("the request expired without a decision".into())),
        };
        let token = record.token.clone().zip(record.token_expires_at).filter(|_| outcome == Outcome::Allow);
        Ok(Answer {
            outcome,
            decided_by,
            decision: None,
            request: Some(record),
            token,
            rule_version: ruled.version,
            rule: None,
            grant: None,
            reason,
            explanation: ruled.explanation,
            at: now,
        })
    }

    /// A decision of `call` made now, not yet recorded.
    fn decision(
        &self,
        key: &ApiKeyRecord,
        call: &GateCall,
        outcome: Outcome,
        by: &'static str,
        decision_ref: String,
    ) -> GateDecision {
        let c = &call.call;
        GateDecision {
            id: DecisionId::generate(),
            user_id: key.user_id.clone(),
            api_key_id: key.id.clone(),
            agent_id: c.agent_id.clone(),
            tool: call.agent_tool.clone(),
            action: call.action(),
            cwd: c.cwd.clone(),
            outcome,
            decided_by: by,
            decision_ref,
            reason: None,
            rule_name: None,
            token_jti: None,
            at: self.approvals.now(),
        }
    }

    /// The token of an allow: a gate token (audience `clawgate:gate`, never a person's approval),
    /// the decision's id standing for the request id, and `decidedBy` saying a rule or a grant
    /// allowed it (no passkey, nobody verified).
    fn sign(&self, d: &GateDecision) -> ApprovalResult<SignedApproval> {
        let by = if d.decided_by == "grant" { DecidedBy::Grant } else { DecidedBy::Rule };
        Ok(self.signer.sign(
            ApprovalFacts {
                user_id: d.user_id.to_string(),
                request_id: d.id.to_string(),
                action: d.action.clone(),
                action_hash: approval::action_hash(d.id.as_str(), &d.action, d.agent_id.as_deref(), None),
                agent_id: d.agent_id.clone(),
                decided_by: by,
                credential_id: None,
                user_verified: false,
                challenge: None,
                receipt: None,
            },
            d.at,
        )?)
    }

    /// Signs (for an allow) and records `d`, and answers with it.
    async fn record(
        &self,
        mut d: GateDecision,
        grant: Option<GrantId>,
        ruled: Ruled,
        ip: IpAddr,
    ) -> ApprovalResult<Answer> {
        let signed = (d.outcome == Outcome::Allow).then(|| self.sign(&d)).transpose()?;
        d.token_jti = signed.as_ref().map(|s| s.jti.clone());
        match self.db.record_gate_decision(d.clone(), grant.clone(), Some(ip.to_string())).await? {
            Recorded::Recorded { .. } => {}
            Recorded::KeyNotLive(KeyStanding::Suspended(b)) => return Err(ApprovalError::KeySuspended(b)),
            Recorded::KeyNotLive(_) => return Err(ApprovalError::KeyRevoked),
            Recorded::GrantSpent => return Err(ApprovalError::GrantSpent),
        }
        // Committed: the person's list of decisions here hears of it (others with the commit).
        self.events.publish_decision(d.event());
        self.metrics.decided(
            match (d.outcome, d.decided_by) {
                (Outcome::Allow, "grant") => metrics::Decision::ApprovedByGrant,
                (Outcome::Allow, _) => metrics::Decision::ApprovedByRule,
                _ => metrics::Decision::DeniedByRule,
            },
            1,
        );
        let rule = (d.decided_by == "rule").then(|| d.decision_ref.clone());
        Ok(Answer {
            outcome: d.outcome,
            decided_by: Decider::parse(d.decided_by),
            decision: Some(d.id),
            request: None,
            token: signed.map(|s| (s.token, s.expires_at)),
            rule_version: ruled.version,
            rule,
            grant,
            reason: d.reason,
            explanation: ruled.explanation,
            at: d.at,
        })
    }
}
