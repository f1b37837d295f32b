//! The kill switch: one person stops every agent of theirs in one transaction. Their pending
//! requests are denied, their live grants revoked and their live keys suspended, each with its
//! audit row and announcement, and one summary row says what was stopped.

use super::audit::{self, AuditEvent, ReceiptBody};
use super::{Announcer, Db, StoreResult, grants};
use crate::clock::Millis;
use crate::domain::approval::Status;
use crate::domain::denial::{DECIDED_BY_STOP, SuspendedBecause};
use crate::domain::ids::{ApiKeyId, RequestId, UserId};
use crate::events::{ApprovalEvent, KeyEvent};
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;

/// Why each request was denied (the request's `deny_reason` and its audit row's detail).
pub const STOP_REASON: &str = "every agent was stopped by their owner";
/// The detail of each suspended key's audit row.
const KEY_DETAIL: &str = "stopped by its owner";

/// What one stop changed.
#[derive(Debug, Clone, Default)]
pub struct Stopped {
    /// The requests it denied, each with the key that asked.
    pub denied: Vec<(RequestId, ApiKeyId)>,
    pub revoked_grants: u64,
    /// The keys it suspended.
    pub suspended: Vec<ApiKeyId>,
}

impl Stopped {
    /// The announcements of the denials, for the waiters on this instance.
    pub fn denial_events(&self, user: &UserId) -> impl Iterator<Item = ApprovalEvent> + '_ {
        let user = user.clone();
        self.denied.iter().map(move |(request_id, api_key_id)| ApprovalEvent {
            user_id: user.clone(),
            api_key_id: api_key_id.clone(),
            request_id: request_id.clone(),
            status: Status::Denied,
        })
    }

    /// The summary audit row's detail: `3 requests denied, 1 grant revoked, 2 keys suspended`.
    pub fn summary(&self) -> String {
        let count = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{} denied, {} revoked, {} suspended",
            count(self.denied.len() as u64, "request", "requests"),
            count(self.revoked_grants, "grant", "grants"),
            count(self.suspended.len() as u64, "key", "keys"),
        )
    }
}

impl Db {
    /// Stops every agent of `user` at `now` (asked from `ip`): see the module. Live keys are
    /// forgotten by the key cache before the write and every key it suspended after it, as
    /// [`Db::suspend_api_key`] does, so no cached key gets through.
    pub async fn stop_all(
        &self,
        user: &UserId,
        now: Millis,
        ip: Option<&str>,
        signed: Option<ReceiptBody>,
    ) -> StoreResult<Stopped> {
        for key in self.api_keys_of(user).await? {
            if key.revoked_at.is_none() && key.suspended_at.is_none() {
                self.keys.forget(&key.id);
            }
        }
        let owner = user;
        let (user, ip, announcer) = (user.clone(), ip.map(str::to_owned), self.announcer());
        let stopped = self
            .write_in_chain(
                owner,
                Box::new(move |conn| {
                    Box::pin(async move {
                        let mut stopped = Stopped {
                            denied: deny_pending(conn, &announcer, &user, now, ip.as_deref()).await?,
                            revoked_grants: grants::revoke(conn, &user, None, now).await?,
                            suspended: suspend_live_keys(conn, &announcer, &user, now).await?,
                        };
                        // On PostgreSQL a create whose key had nothing pending locks no row the denial
                        // above touched, so it may commit between that statement and the suspension.
                        // Its request is denied too: the key is suspended and locked by now, so no
                        // later create of it can slip in.
                        stopped
                            .denied
                            .extend(deny_pending(conn, &announcer, &user, now, ip.as_deref()).await?);
                        let summary = AuditEvent {
                            ip,
                            detail: Some(stopped.summary()),
                            receipt: signed,
                            ..AuditEvent::new("agents.stopped", now, &user)
                        };
                        audit::append(conn, &summary).await?;
                        Ok(stopped)
                    })
                }),
            )
            .await?;
        for key in &stopped.suspended {
            self.keys.forget(key);
        }
        Ok(stopped)
    }
}

/// Denies every pending, unexpired request of `user` on `conn`, as [`Db::deny`] does one: each
/// with its audit row and announcement, the keys' pending places given back. Those it denied.
async fn deny_pending(
    conn: &mut AnyConnection,
    announcer: &Announcer,
    user: &UserId,
    now: Millis,
    ip: Option<&str>,
) -> StoreResult<Vec<(RequestId, ApiKeyId)>> {
    let rows = sqlx::query(
        "UPDATE approval_requests SET status = 'DENIED', decided_at = $1, deny_reason = $2, decided_by = $4 \
         WHERE user_id = $3 AND status = 'PENDING' AND expires_at > $1 RETURNING id, api_key_id",
    )
    .bind(now)
    .bind(STOP_REASON)
    .bind(user.as_str())
    .bind(DECIDED_BY_STOP)
    // fetch_all steps the statement to the end, so SQLite can checkpoint its WAL.
    .fetch_all(&mut *conn)
    .await?;
    let mut denied = Vec::with_capacity(rows.len());
    for row in &rows {
        denied.push((
            RequestId::from_trusted(row.try_get("id")?),
            ApiKeyId::from_trusted(row.try_get("api_key_id")?),
        ));
    }
    // Listed in a fixed order, so the audit trail and announcements do not depend on the plan.
    denied.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    for (request_id, api_key_id) in &denied {
        let event = AuditEvent {
            request_id: Some(request_id.clone()),
            api_key_id: Some(api_key_id.clone()),
            ip: ip.map(str::to_owned),
            detail: Some(STOP_REASON.to_owned()),
            ..AuditEvent::new("request.denied", now, user)
        };
        super::decisions::append_decision(conn, &event, request_id).await?;
        let decided = ApprovalEvent {
            user_id: user.clone(),
            api_key_id: api_key_id.clone(),
            request_id: request_id.clone(),
            status: Status::Denied,
        };
        announcer.approval(conn, &decided).await?;
    }
    // One update per key, in a fixed order (no two transactions lock keys crosswise).
    let mut per_key = BTreeMap::<&str, i64>::new();
    for (_, key) in &denied {
        *per_key.entry(key.as_str()).or_default() += 1;
    }
    for (key, n) in per_key {
        super::decisions::release_pending_places(conn, &ApiKeyId::from_trusted(key.to_owned()), n).await?;
    }
    Ok(denied)
}

/// Suspends every key of `user` that is neither revoked nor suspended, each with its audit row
/// and announcement (as [`Db::suspend_api_key`] does one). Those it suspended.
async fn suspend_live_keys(
    conn: &mut AnyConnection,
    announcer: &Announcer,
    user: &UserId,
    now: Millis,
) -> StoreResult<Vec<ApiKeyId>> {
    let rows = sqlx::query(
        "UPDATE api_keys SET suspended_at = $1, suspended_because = $3 WHERE user_id = $2 \
         AND revoked_at IS NULL AND suspended_at IS NULL RETURNING id",
    )
    .bind(now)
    .bind(user.as_str())
    .bind(SuspendedBecause::Stop.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let mut suspended = rows
        .iter()
        .map(|row| Ok(ApiKeyId::from_trusted(row.try_get("id")?)))
        .collect::<StoreResult<Vec<_>>>()?;
    suspended.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    for key in &suspended {
        let event = AuditEvent {
            api_key_id: Some(key.clone()),
            detail: Some(KEY_DETAIL.to_owned()),
            ..AuditEvent::new("api_key.suspended", now, user)
        };
        audit::append(conn, &event).await?;
        announcer.key(conn, &KeyEvent::suspended(key.clone())).await?;
    }
    Ok(suspended)
}
