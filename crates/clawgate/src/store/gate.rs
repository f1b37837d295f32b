//! Decisions the gate makes alone (by a rule or a standing grant): one row each in
//! `gate_decisions`, in one transaction with its audit row and, for a grant, the use it took.
//! They are not requests: nobody was asked. Upkeep deletes them, with their audit rows, once they
//! are older than the retention period.

use super::approvals::{KeyStanding, key_standing};
use super::audit::{self, AuditEvent};
use super::{Db, StoreError, StoreResult, grants};
use crate::clock::Millis;
use crate::domain::decided::{DeciderKind, Verdict};
use crate::domain::gate::stored_action;
use crate::domain::ids::{ApiKeyId, DecisionId, GrantId, UserId};
use crate::domain::rules::Outcome;
use crate::events::DecisionEvent;

/// The decision's row, written in the round trip of its audit row and receipt ($19–$32; $12 is
/// the receipt's seq); on PostgreSQL, other instances are told of it in the same statement (a
/// NOTIFY on channel $33 of message $34, sent as the decision commits: a SELECT in a WITH runs only
/// as far as something reads it, and the row's insert reads it).
macro_rules! insert_decision {
    ($told:expr) => {
        concat!(
            "INSERT INTO gate_decisions (id, agent_id, tool, action, cwd, outcome, decided_by, decision_ref, \
             reason, token_jti, rule_name, user_id, api_key_id, at, receipt_seq) \
             SELECT $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $12",
            $told
        )
    };
}
const DECIDED_SQLITE: &str = concat!(audit::with_receipt_sqlite!(), "; ", insert_decision!(""));
const DECIDED_POSTGRES: &str = audit::with_receipt_postgres!(concat!(
    ", told AS (SELECT pg_notify($33, $34)), decided AS (",
    insert_decision!(" WHERE EXISTS (SELECT 1 FROM told)"),
    ")"
));

/// A decision the gate made alone.
#[derive(Debug, Clone, PartialEq)]
pub struct GateDecision {
    pub id: DecisionId,
    pub user_id: UserId,
    pub api_key_id: ApiKeyId,
    pub agent_id: Option<String>,
    pub tool: String,
    /// What the call does, as a person would be shown it (recorded bounded: see
    /// [`stored_action`]).
    pub action: String,
    pub cwd: Option<String>,
    /// `Allow` or `Deny`.
    pub outcome: Outcome,
    /// `rule` or `grant`.
    pub decided_by: &'static str,
    /// `v3#2` (rule 2 of version 3), `v3#default`, or the grant's id.
    pub decision_ref: String,
    pub reason: Option<String>,
    /// The name of the rule that decided, if it has one (rule sets keep only their latest version).
    pub rule_name: Option<String>,
    /// The id of an allow's token.
    pub token_jti: Option<String>,
    pub at: Millis,
}

impl GateDecision {
    /// The announcement of this decision (for the person's list of decisions).
    pub fn event(&self) -> DecisionEvent {
        DecisionEvent {
            user_id: self.user_id.clone(),
            api_key_id: self.api_key_id.clone(),
            decision_id: self.id.clone(),
            outcome: if self.outcome == Outcome::Allow { Verdict::Allow } else { Verdict::Deny },
            decided_by: if self.decided_by == "grant" { DeciderKind::Grant } else { DeciderKind::Rule },
        }
    }
}

/// What became of recording a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Committed; for a grant, the uses it has had, this one included.
    Recorded { grant_uses: Option<i64> },
    /// The key was revoked or suspended by the time of the write: nothing was written.
    KeyNotLive(KeyStanding),
    /// The grant was revoked, lapsed or used up by the time of the write: nothing was written.
    GrantSpent,
}

impl Db {
    /// Records `d` (from `ip`) if its key is live, and its grant (if one allowed it) still has a
    /// use, as of the write.
    pub async fn record_gate_decision(
        &self,
        d: GateDecision,
        grant: Option<GrantId>,
        ip: Option<String>,
    ) -> StoreResult<Recorded> {
        self.last_used(&d.api_key_id, d.at);
        let (announcer, owner) = (self.announcer(), d.user_id.clone());
        let written = self
            .write_in_chain(
                &owner,
                Box::new(move |conn| {
                    Box::pin(async move {
                        // The key as of this write. Revoking or suspending a key appends to this
                        // account's chain too, so none can come between this read and the decision's
                        // row: this write holds the chain (SQLite's one writer; on PostgreSQL its
                        // group holds the chain's head, taken before any write of the group ran).
                        let standing = key_standing(conn, &d.api_key_id).await?;
                        if standing != KeyStanding::Live {
                            return Ok(Recorded::KeyNotLive(standing));
                        }
                        let mut grant_uses = None;
                        if let Some(grant) = &grant {
                            // Spent since it was read: the error undoes this write alone (see below).
                            grant_uses =
                                Some(grants::take_use(conn, grant, d.at).await?.ok_or(StoreError::Conflict)?);
                        }
                        let event = match d.outcome {
                            Outcome::Allow => "gate.allowed",
                            _ => "gate.denied",
                        };
                        let audit = AuditEvent {
                            api_key_id: Some(d.api_key_id.clone()),
                            ip,
                            detail: Some(format!("{} by {} {}", d.id, d.decided_by, d.decision_ref)),
                            ..AuditEvent::new(event, d.at, &d.user_id)
                        };
                        let receipt = audit::take_place(conn, &audit).await?;
                        let told = announcer.decision_message(&d.event());
                        let along = audit::Along {
                            sqlite: DECIDED_SQLITE,
                            postgres: DECIDED_POSTGRES,
                            bind: Box::new(move |statement| {
                                let statement = statement
                                    .bind(d.id.as_str().to_owned())
                                    .bind(d.agent_id)
                                    .bind(d.tool)
                                    .bind(stored_action(&d.action))
                                    .bind(d.cwd)
                                    .bind(d.outcome.as_str())
                                    .bind(d.decided_by)
                                    .bind(d.decision_ref)
                                    .bind(d.reason)
                                    .bind(d.token_jti)
                                    .bind(d.rule_name)
                                    .bind(d.user_id.as_str().to_owned())
                                    .bind(d.api_key_id.as_str().to_owned())
                                    .bind(d.at);
                                match told {
                                    Some((channel, message)) => statement.bind(channel).bind(message),
                                    None => statement,
                                }
                            }),
                        };
                        audit::write(conn, &audit, receipt.as_ref(), Some(along)).await?;
                        Ok(Recorded::Recorded { grant_uses })
                    })
                }),
            )
            .await;
        match written {
            // The only conflict this write can end in (its ids are random): no use was left.
            Err(StoreError::Conflict) => Ok(Recorded::GrantSpent),
            other => other,
        }
    }
}

impl Db {
    /// Deletes at most `batch` decisions made before `before`, and at most `batch` of their audit
    /// rows (`gate.allowed`, `gate.denied`: no other event is deleted), in one short write; how
    /// many rows it deleted.
    pub async fn prune_gate_decisions(&self, before: Millis, batch: i64) -> StoreResult<u64> {
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let decisions = sqlx::query(
                    "DELETE FROM gate_decisions WHERE id IN \
                     (SELECT id FROM gate_decisions WHERE at < $1 ORDER BY at LIMIT $2)",
                )
                .bind(before)
                .bind(batch)
                .execute(&mut *conn)
                .await?;
                let audit = sqlx::query(
                    "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events \
                     WHERE event IN ('gate.allowed', 'gate.denied') AND at < $1 ORDER BY event, at LIMIT $2)",
                )
                .bind(before)
                .bind(batch)
                .execute(&mut *conn)
                .await?;
                Ok(decisions.rows_affected() + audit.rows_affected())
            })
        }))
        .await
    }
}
