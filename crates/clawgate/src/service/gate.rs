//! The gate: one tool call in, one decision out. The person's rules decide first (a `deny` is
//! final, whatever grants exist); a call they would ask about passes under a standing grant whose
//! scope covers the call as made; anything else becomes a pending request for the person.
//!
//! Every decision is recorded as a request (decided at once when a rule or grant decided), with
//! its audit row naming what decided; an allowed call gets a signed token saying so.

use super::approvals::{ApprovalError, ApprovalResult, Approvals, new_record};
use super::rules::{Rules, RulesError};
use crate::clock::Millis;
use crate::domain::approval::{self, Status};
use crate::domain::gate::GateCall;
use crate::domain::ids::GrantId;
use crate::domain::rules::{self, Decision, Outcome};
use crate::state::AppState;
use crate::store::Db;
use crate::store::api_keys::ApiKeyRecord;
use crate::store::approvals::{ApprovalRecord, KeyStanding};
use crate::store::gate::{AutoDecision, Recorded};
use crate::tokens::approval::{ApprovalFacts, ApprovalSigner, DecidedBy};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// What the gate answered, and why.
#[derive(Debug, Clone)]
pub struct GateAnswer {
    /// What the agent must do now: `allow` (run it), `deny` (do not), `ask` (still waiting for
    /// the person: read the request's status).
    pub outcome: Outcome,
    /// Who decided: a rule, a grant, the person (`passkey` for an approval, `person` for a
    /// denial) or the kill switch (`stop`); `None` while pending or when it expired.
    pub decided_by: Option<&'static str>,
    /// The request the call was recorded as.
    pub record: ApprovalRecord,
    /// The version of the person's rule set that decided (0: the built-in defaults).
    pub rule_version: i64,
    /// What the rules made of the call, in words.
    pub explanation: String,
    /// Why it was denied, or why it asks.
    pub reason: Option<String>,
    /// The grant that allowed it.
    pub grant: Option<GrantId>,
    pub at: Millis,
}

/// What the gate would do with a call (a dry-run).
#[derive(Debug, Clone)]
pub struct Explained {
    /// The rules' outcome.
    pub outcome: Outcome,
    pub rule_version: i64,
    pub explanation: String,
    /// A live grant that would allow the call the rules ask about.
    pub grant: Option<GrantId>,
}

/// The gate service (see `http::substates`).
#[derive(Clone)]
pub struct Gate {
    approvals: Approvals,
    rules: Rules,
    db: Db,
    signer: Arc<ApprovalSigner>,
}

/// The rules' verdict on a call, with the version that gave it.
struct Ruled {
    decision: Option<Decision>,
    version: i64,
    explanation: String,
}

impl Gate {
    pub fn new(app: &AppState) -> Self {
        Self {
            approvals: Approvals::new(app),
            rules: Rules::new(app),
            db: app.db.clone(),
            signer: app.approvals.clone(),
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

    /// Decides `call` of `key` (made from `ip`); a call that asks waits up to `wait` for the
    /// person's decision.
    pub async fn decide(
        &self,
        key: &ApiKeyRecord,
        call: GateCall,
        ip: IpAddr,
        wait: Duration,
    ) -> ApprovalResult<GateAnswer> {
        let ruled = self.rule(key, &call).await?;
        let outcome = ruled.decision.as_ref().map_or(Outcome::Ask, |d| d.outcome);
        let rule_ref = match ruled.decision.as_ref().map(|d| &d.decided_by) {
            Some(rules::DecidedBy::Rule { index, .. }) => format!("v{}#{}", ruled.version, index + 1),
            _ => format!("v{}#default", ruled.version),
        };
        match outcome {
            Outcome::Deny => {
                let reason = ruled
                    .decision
                    .as_ref()
                    .and_then(|d| d.reason.clone())
                    .unwrap_or_else(|| format!("denied by your rules ({rule_ref})"));
                let mut record = self.decided_record(key, &call, &reason, Status::Denied, "rule")?;
                record.deny_reason = Some(reason.clone());
                record.decision_ref = Some(rule_ref.clone());
                let detail = format!("rule {rule_ref}: deny");
                self.record(record.clone(), detail, ip).await?;
                Ok(self.answer(record, Outcome::Deny, Some("rule"), ruled, Some(reason), None))
            }
            Outcome::Allow => {
                let mut record =
                    self.decided_record(key, &call, "allowed by a rule", Status::Approved, "rule")?;
                record.decision_ref = Some(rule_ref.clone());
                self.sign(&mut record, DecidedBy::Rule)?;
                self.record(record.clone(), format!("rule {rule_ref}: allow"), ip).await?;
                Ok(self.answer(record, Outcome::Allow, Some("rule"), ruled, None, None))
            }
            Outcome::Ask => {
                let why = ruled.decision.as_ref().map_or_else(|| ruled.explanation.clone(), ask_reason);
                if let Some(answer) = self.by_grant(key, &call, &ruled, ip).await? {
                    return Ok(answer);
                }
                let request = call.to_request(&why).map_err(|e| ApprovalError::Input(e.to_string()))?;
                let created = self.approvals.create_gated(key, request, call.stored(), ip).await?;
                let record = self.approvals.read_after_change(&key.id, &created.record.id, wait).await?;
                Ok(self.after_asking(record, ruled, why))
            }
        }
    }

    /// What would happen to `call` of `key`, without recording or using anything: the rules'
    /// outcome, the version and explanation, and the grant that would allow a call they ask.
    pub async fn explain(&self, key: &ApiKeyRecord, call: &GateCall) -> ApprovalResult<Explained> {
        let ruled = self.rule(key, call).await?;
        let outcome = ruled.decision.as_ref().map_or(Outcome::Ask, |d| d.outcome);
        let mut grant = None;
        if outcome == Outcome::Ask {
            let now = self.approvals.now();
            let grants = self.db.live_grants_of_key(&key.id, now).await?;
            grant = grants.into_iter().find(|g| g.scope.covers(&call.call)).map(|g| g.id);
        }
        Ok(Explained { outcome, rule_version: ruled.version, explanation: ruled.explanation, grant })
    }

    /// Allows `call` under the first live grant of `key` that covers it and still has a use.
    async fn by_grant(
        &self,
        key: &ApiKeyRecord,
        call: &GateCall,
        ruled: &Ruled,
        ip: IpAddr,
    ) -> ApprovalResult<Option<GateAnswer>> {
        let now = self.approvals.now();
        for grant in self.db.live_grants_of_key(&key.id, now).await? {
            if !grant.scope.covers(&call.call) {
                continue;
            }
            let mut record =
                self.decided_record(key, call, "allowed by a standing grant", Status::Approved, "grant")?;
            record.decision_ref = Some(grant.id.to_string());
            self.sign(&mut record, DecidedBy::Grant)?;
            let detail = format!("grant {}: {}", grant.id, grant.description);
            let decided = AutoDecision {
                record: record.clone(),
                grant: Some(grant.id.clone()),
                detail,
                ip: Some(ip.to_string()),
            };
            match self.db.record_auto_decision(decided).await? {
                Recorded::Recorded { .. } => {
                    let ruled = Ruled {
                        decision: None,
                        version: ruled.version,
                        explanation: ruled.explanation.clone(),
                    };
                    return Ok(Some(self.answer(
                        record,
                        Outcome::Allow,
                        Some("grant"),
                        ruled,
                        None,
                        Some(grant.id),
                    )));
                }
                Recorded::GrantSpent => continue,
                Recorded::KeyNotLive(standing) => return Err(not_live(standing)),
            }
        }
        Ok(None)
    }

    /// A request for `call`, decided as it is made.
    fn decided_record(
        &self,
        key: &ApiKeyRecord,
        call: &GateCall,
        why: &str,
        status: Status,
        by: &str,
    ) -> ApprovalResult<ApprovalRecord> {
        let request = call.to_request(why).map_err(|e| ApprovalError::Input(e.to_string()))?;
        let now = self.approvals.now();
        let mut record = new_record(key, request, now);
        record.status = status;
        record.expires_at = now;
        record.decided_at = Some(now);
        record.decided_by = Some(by.to_owned());
        record.gate_call = Some(call.stored());
        Ok(record)
    }

    /// Signs the token of an automatic approval into `record`.
    fn sign(&self, record: &mut ApprovalRecord, by: DecidedBy) -> ApprovalResult<()> {
        let context = record.context.as_deref().and_then(|c| serde_json::from_str(c).ok());
        let signed = self.signer.sign(
            ApprovalFacts {
                user_id: record.user_id.to_string(),
                request_id: record.id.to_string(),
                action: record.action.clone(),
                action_hash: approval::action_hash(
                    record.id.as_str(),
                    &record.action,
                    record.agent_id.as_deref(),
                    context.as_ref(),
                ),
                agent_id: record.agent_id.clone(),
                decided_by: by,
                credential_id: None,
                user_verified: false,
            },
            record.created_at,
        )?;
        record.token = Some(signed.token);
        record.token_jti = Some(signed.jti);
        record.token_expires_at = Some(signed.expires_at);
        Ok(())
    }

    /// Records a rule's decision.
    async fn record(&self, record: ApprovalRecord, detail: String, ip: IpAddr) -> ApprovalResult<()> {
        let decided = AutoDecision { record, grant: None, detail, ip: Some(ip.to_string()) };
        match self.db.record_auto_decision(decided).await? {
            Recorded::Recorded { .. } => Ok(()),
            Recorded::KeyNotLive(standing) => Err(not_live(standing)),
            Recorded::GrantSpent => Err(anyhow::anyhow!("a rule's decision found a grant spent").into()),
        }
    }

    fn answer(
        &self,
        record: ApprovalRecord,
        outcome: Outcome,
        decided_by: Option<&'static str>,
        ruled: Ruled,
        reason: Option<String>,
        grant: Option<GrantId>,
    ) -> GateAnswer {
        GateAnswer {
            outcome,
            decided_by,
            at: record.created_at,
            record,
            rule_version: ruled.version,
            explanation: ruled.explanation,
            reason,
            grant,
        }
    }

    /// The answer for a call that asked, as its request stands after the wait.
    fn after_asking(&self, record: ApprovalRecord, ruled: Ruled, why: String) -> GateAnswer {
        let now = self.approvals.now();
        let (outcome, decided_by, reason) = match record.status_at(now) {
            Status::Pending => (Outcome::Ask, None, Some(why)),
            Status::Approved => (Outcome::Allow, Some("passkey"), None),
            Status::Denied if record.decided_by.as_deref() == Some("stop") => {
                (Outcome::Deny, Some("stop"), record.deny_reason.clone())
            }
            Status::Denied => (
                Outcome::Deny,
                Some("person"),
                Some(record.deny_reason.clone().unwrap_or_else(|| "denied by the person".into())),
            ),
            Status::Expired => (Outcome::Deny, None, Some("the request expired without a decision".into())),
        };
        GateAnswer {
            outcome,
            decided_by,
            at: now,
            record,
            rule_version: ruled.version,
            explanation: ruled.explanation,
            reason,
            grant: None,
        }
    }
}

/// Why a call asks, for the person: the part that asks and what made it ask.
fn ask_reason(d: &Decision) -> String {
    d.parts.iter().find(|p| p.outcome == Outcome::Ask).map_or_else(
        || d.explain(),
        |p| format!("`{}` is asked about {}", p.text, rules::by_words(&p.decided_by)),
    )
}

fn not_live(standing: KeyStanding) -> ApprovalError {
    match standing {
        KeyStanding::Suspended => ApprovalError::KeySuspended,
        _ => ApprovalError::KeyRevoked,
    }
}
