//! Decisions the gate makes without asking (by a rule or a standing grant): recorded as requests
//! already decided, so history, the audit trail and online token checks treat them as any other,
//! in one transaction with their audit row and, for a grant, the use it took.

use super::approvals::{ApprovalRecord, KeyStanding, key_standing};
use super::audit::{self, AuditEvent};
use super::{Db, StoreError, StoreResult, grants};
use crate::domain::approval::Status;
use crate::domain::ids::GrantId;

/// A request decided as it was made.
#[derive(Debug, Clone)]
pub struct AutoDecision {
    /// APPROVED (with its token) or DENIED (with its reason), `decided_by` and `decision_ref` set.
    pub record: ApprovalRecord,
    /// The grant whose use allows it.
    pub grant: Option<GrantId>,
    /// For the audit row: what decided, in words.
    pub detail: String,
    pub ip: Option<String>,
}

/// What became of recording an automatic decision.
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
    /// Records `d` if its key is live (and its grant, if any, still has a use) as of the write.
    pub async fn record_auto_decision(&self, d: AutoDecision) -> StoreResult<Recorded> {
        self.last_used(&d.record.api_key_id, d.record.created_at);
        let written = self
            .write(Box::new(move |conn| {
                Box::pin(async move {
                    let r = &d.record;
                    let event = match r.status {
                        Status::Approved => "request.approved",
                        Status::Denied => "request.denied",
                        other => return Err(StoreError::Corrupt(format!("an automatic decision of {other:?}"))),
                    };
                    let inserted = sqlx::query(
                        "INSERT INTO approval_requests (id, user_id, api_key_id, agent_id, action, context, \
                         binding_code, action_hash, status, created_at, expires_at, decided_at, deny_reason, \
                         token, token_jti, token_expires_at, user_verified, decided_by, decision_ref, gate_call) \
                         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $12, $13, $14, $15, 0, $16, \
                         $17, $18 WHERE EXISTS (SELECT 1 FROM api_keys WHERE id = $3 AND revoked_at IS NULL \
                         AND suspended_at IS NULL)",
                    )
                    .bind(r.id.as_str())
                    .bind(r.user_id.as_str())
                    .bind(r.api_key_id.as_str())
                    .bind(r.agent_id.clone())
                    .bind(r.action.clone())
                    .bind(r.context.clone())
                    .bind(r.binding_code.clone())
                    .bind(r.action_hash.clone())
                    .bind(r.status.as_str())
                    .bind(r.created_at)
                    .bind(r.expires_at)
                    .bind(r.deny_reason.clone())
                    .bind(r.token.clone())
                    .bind(r.token_jti.clone())
                    .bind(r.token_expires_at)
                    .bind(r.decided_by.clone())
                    .bind(r.decision_ref.clone())
                    .bind(r.gate_call.clone())
                    .execute(&mut *conn)
                    .await?;
                    if inserted.rows_affected() != 1 {
                        return Ok(Recorded::KeyNotLive(key_standing(conn, &r.api_key_id).await?));
                    }
                    let mut grant_uses = None;
                    if let Some(grant) = &d.grant {
                        // Spent since it was read: undo the insert (the error rolls this write
                        // back alone) and say so below.
                        grant_uses = Some(grants::take_use(conn, grant, r.created_at).await?.ok_or(StoreError::Conflict)?);
                    }
                    let audit = AuditEvent {
                        request_id: Some(r.id.clone()),
                        api_key_id: Some(r.api_key_id.clone()),
                        ip: d.ip.clone(),
                        detail: Some(d.detail.clone()),
                        ..AuditEvent::new(event, r.created_at, &r.user_id)
                    };
                    audit::append(conn, &audit).await?;
                    Ok(Recorded::Recorded { grant_uses })
                })
            }))
            .await;
        match written {
            // The only conflict this write can end in (its ids are random): no use was left.
            Err(StoreError::Conflict) => Ok(Recorded::GrantSpent),
            other => other,
        }
    }
}
