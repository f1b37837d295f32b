//! Decisions: PENDING → APPROVED, DENIED or EXPIRED. Each is one conditional UPDATE (`… AND
//! status = 'PENDING' AND expires_at > now`), so whatever races with it, a request is decided
//! exactly once; the audit row is written in the same transaction.

use super::audit::{self, AuditEvent, ReceiptBody};
use super::grants::{self, GrantRecord};
use super::{Db, StoreError, StoreResult};
use crate::clock::Millis;
use crate::domain::approval::Status;
use crate::domain::ids::{ApiKeyId, RequestId, UserId};
use crate::events::ApprovalEvent;
use sqlx::Row;

/// An approval token, as signed.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub jti: String,
    pub expires_at: Millis,
}

/// Signs the approval's token inside its transaction, once its receipt's hash is known (none for
/// an approval without a receipt body).
pub type SignToken = Box<dyn FnOnce(Option<&str>) -> anyhow::Result<IssuedToken> + Send>;

/// Evidence written with an approval, in the transaction that decides it.
pub struct ApprovalEvidence {
    pub sign: SignToken,
    pub credential_id: String,
    pub user_verified: bool,
    pub ip: Option<String>,
    /// The approval's receipt: what the passkey signed and its assertion.
    pub receipt: Option<ReceiptBody>,
}

/// The approval's token and its receipt's seq, written with its audit row and receipt (values
/// $19–$23).
const APPROVED_SQLITE: &str = concat!(
    audit::with_receipt_sqlite!(),
    "; UPDATE approval_requests SET token = $19, token_jti = $20, token_expires_at = $21, \
     receipt_seq = $23 WHERE id = $22"
);
const APPROVED_POSTGRES: &str = audit::with_receipt_postgres!(
    ", tokened AS (UPDATE approval_requests SET token = $19, token_jti = $20, token_expires_at = $21, \
     receipt_seq = $23 WHERE id = $22)"
);
/// A decided request's receipt's seq ($19; $20 the request), written with its audit row and
/// receipt.
const NOTED_SQLITE: &str =
    concat!(audit::with_receipt_sqlite!(), "; UPDATE approval_requests SET receipt_seq = $19 WHERE id = $20");
const NOTED_POSTGRES: &str = audit::with_receipt_postgres!(
    ", noted AS (UPDATE approval_requests SET receipt_seq = $19 WHERE id = $20)"
);

/// Appends `event`, the decision of request `id`, and notes its receipt's seq on the request.
pub(crate) async fn append_decision(
    conn: &mut sqlx::AnyConnection,
    event: &AuditEvent,
    id: &RequestId,
) -> StoreResult<()> {
    let receipt = audit::take_place(conn, event).await?;
    let along = receipt.as_ref().map(|r| {
        let (seq, id) = (i64::try_from(r.seq).unwrap_or(i64::MAX), id.as_str().to_owned());
        audit::Along {
            sqlite: NOTED_SQLITE,
            postgres: NOTED_POSTGRES,
            bind: Box::new(move |statement| statement.bind(seq).bind(id)),
        }
    });
    audit::write(conn, event, receipt.as_ref(), along).await
}

/// A request that `expire_due` moved to EXPIRED.
#[derive(Debug, Clone)]
pub struct ExpiredRequest {
    pub id: RequestId,
    pub user_id: UserId,
    pub api_key_id: ApiKeyId,
}

impl ExpiredRequest {
    pub fn event(&self) -> ApprovalEvent {
        ApprovalEvent {
            user_id: self.user_id.clone(),
            api_key_id: self.api_key_id.clone(),
            request_id: self.id.clone(),
            status: Status::Expired,
        }
    }
}

impl Db {
    /// PENDING → APPROVED, only if still pending and unexpired at `now`. True if this call decided it.
    /// With `grant`, the standing grant the person chose is created in the same transaction
    /// (with its `grant.created` audit row): it exists if and only if the approval does.
    pub async fn approve(
        &self,
        id: &RequestId,
        user: &UserId,
        now: Millis,
        evidence: ApprovalEvidence,
        grant: Option<&GrantRecord>,
    ) -> StoreResult<bool> {
        let owner = user;
        let (id, user, announcer) = (id.clone(), user.clone(), self.announcer());
        let grant = grant.cloned();
        self.write_in_chain(owner, Box::new(move |conn| {
            Box::pin(async move {
                let rows = sqlx::query(
                    "UPDATE approval_requests SET status = 'APPROVED', decided_at = $1, credential_id = $2, \
                     user_verified = $3 WHERE id = $4 AND user_id = $5 AND status = 'PENDING' AND expires_at > $1 \
                     RETURNING api_key_id",
                )
                .bind(now)
                .bind(&evidence.credential_id)
                .bind(i64::from(evidence.user_verified))
                .bind(id.as_str())
                .bind(user.as_str())
                // fetch_all steps the statement to the end, so SQLite can checkpoint its WAL.
                .fetch_all(&mut *conn)
                .await?;
                let Some(row) = rows.first() else { return Ok(false) };
                let key = ApiKeyId::from_trusted(row.try_get("api_key_id")?);
                release_pending_places(conn, &key, 1).await?;
                let event = AuditEvent {
                    request_id: Some(id.clone()),
                    credential_id: Some(evidence.credential_id.clone()),
                    user_verified: Some(evidence.user_verified),
                    ip: evidence.ip.clone(),
                    receipt: evidence.receipt.clone(),
                    ..AuditEvent::new("request.approved", now, &user)
                };
                let receipt = audit::take_place(conn, &event).await?;
                // Signed now, so the token can name its receipt; written in the round trip that
                // writes the receipt.
                let hash = receipt.as_ref().filter(|_| evidence.receipt.is_some()).map(|r| r.hash.as_str());
                let issued = (evidence.sign)(hash).map_err(|e| StoreError::Aborted(format!("{e:#}")))?;
                let request = id.as_str().to_owned();
                let seq = receipt.as_ref().map(|r| i64::try_from(r.seq).unwrap_or(i64::MAX));
                let along = audit::Along {
                    sqlite: APPROVED_SQLITE,
                    postgres: APPROVED_POSTGRES,
                    bind: Box::new(move |statement| {
                        let statement = statement.bind(issued.token).bind(issued.jti).bind(issued.expires_at);
                        statement.bind(request).bind(seq)
                    }),
                };
                audit::write(conn, &event, receipt.as_ref(), Some(along)).await?;
                if let Some(g) = &grant {
                    if g.api_key_id != key || g.user_id != user || g.request_id != id {
                        return Err(StoreError::Corrupt("a grant for another request's key or owner".into()));
                    }
                    grants::insert(conn, g).await?;
                    let created = AuditEvent {
                        request_id: Some(id.clone()),
                        api_key_id: Some(key.clone()),
                        credential_id: Some(g.credential_id.clone()),
                        user_verified: Some(evidence.user_verified),
                        ip: evidence.ip.clone(),
                        detail: Some(grants::created_detail(g)),
                        ..AuditEvent::new("grant.created", now, &user)
                    };
                    audit::append(conn, &created).await?;
                }
                let decided = ApprovalEvent {
                    user_id: user,
                    api_key_id: key,
                    request_id: id,
                    status: Status::Approved,
                };
                announcer.approval(conn, &decided).await?;
                Ok(true)
            })
        }))
        .await
    }

    /// PENDING → DENIED, only if still pending and unexpired at `now`. The key that asked, if this
    /// call decided it. `signed`: the receipt of a denial the person signed with a passkey.
    pub async fn deny(
        &self,
        id: &RequestId,
        user: &UserId,
        now: Millis,
        reason: Option<&str>,
        ip: Option<&str>,
        signed: Option<ReceiptBody>,
    ) -> StoreResult<Option<ApiKeyId>> {
        let owner = user;
        let (id, user, announcer) = (id.clone(), user.clone(), self.announcer());
        let (reason, ip) = (reason.map(str::to_owned), ip.map(str::to_owned));
        self.write_in_chain(owner, Box::new(move |conn| {
            Box::pin(async move {
                let rows = sqlx::query(
                    "UPDATE approval_requests SET status = 'DENIED', decided_at = $1, deny_reason = $2 \
                     WHERE id = $3 AND user_id = $4 AND status = 'PENDING' AND expires_at > $1 RETURNING api_key_id",
                )
                .bind(now)
                .bind(reason.clone())
                .bind(id.as_str())
                .bind(user.as_str())
                .fetch_all(&mut *conn)
                .await?;
                let Some(row) = rows.first() else { return Ok(None) };
                let key = ApiKeyId::from_trusted(row.try_get("api_key_id")?);
                release_pending_places(conn, &key, 1).await?;
                let event = AuditEvent {
                    request_id: Some(id.clone()),
                    api_key_id: Some(key.clone()),
                    ip,
                    detail: reason,
                    receipt: signed,
                    ..AuditEvent::new("request.denied", now, &user)
                };
                append_decision(conn, &event, &id).await?;
                let decided =
                    ApprovalEvent { user_id: user, api_key_id: key.clone(), request_id: id, status: Status::Denied };
                announcer.approval(conn, &decided).await?;
                Ok(Some(key))
            })
        }))
        .await
    }

    /// PENDING → EXPIRED for every request past its expiry (all users, or one): those it expired.
    /// One write per account, since each appends to that account's chain (several accounts'
    /// writes still share commits: see [`Db::write_in_chain`]). An account whose write fails is
    /// left for the next sweep; the error is returned only if no account's write succeeded.
    pub async fn expire_due(&self, now: Millis, user: Option<&UserId>) -> StoreResult<Vec<ExpiredRequest>> {
        use futures::StreamExt;
        let owners = match user {
            Some(user) => vec![user.clone()],
            None => sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT user_id FROM approval_requests WHERE status = 'PENDING' AND expires_at <= $1",
            )
            .bind(now)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(UserId::from_trusted)
            .collect(),
        };
        let mut writes =
            futures::stream::iter(owners).map(|owner| self.expire_due_of(now, owner)).buffer_unordered(32);
        let (mut expired, mut failed) = (Vec::new(), None);
        while let Some(written) = writes.next().await {
            match written {
                Ok(done) => expired.extend(done),
                Err(e) => {
                    tracing::warn!(error = %e, "could not expire one account's lapsed requests");
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) if expired.is_empty() => Err(e),
            _ => Ok(expired),
        }
    }

    /// PENDING → EXPIRED for every request of `user` past its expiry: those it expired.
    async fn expire_due_of(&self, now: Millis, user: UserId) -> StoreResult<Vec<ExpiredRequest>> {
        let announcer = self.announcer();
        self.write_in_chain(
            &user.clone(),
            Box::new(move |conn| {
                Box::pin(async move {
                    let rows = sqlx::query(
                        "UPDATE approval_requests SET status = 'EXPIRED', decided_at = expires_at \
                     WHERE status = 'PENDING' AND expires_at <= $1 AND user_id = $2 \
                     RETURNING id, user_id, api_key_id, expires_at",
                    )
                    .bind(now)
                    .bind(user.as_str())
                    .fetch_all(&mut *conn)
                    .await?;
                    let mut expired = Vec::with_capacity(rows.len());
                    for row in &rows {
                        let r = ExpiredRequest {
                            id: RequestId::from_trusted(row.try_get("id")?),
                            user_id: UserId::from_trusted(row.try_get("user_id")?),
                            api_key_id: ApiKeyId::from_trusted(row.try_get("api_key_id")?),
                        };
                        let at: Millis = row.try_get("expires_at")?;
                        let event = AuditEvent {
                            request_id: Some(r.id.clone()),
                            api_key_id: Some(r.api_key_id.clone()),
                            ..AuditEvent::new("request.expired", at, &r.user_id)
                        };
                        append_decision(conn, &event, &r.id).await?;
                        announcer.approval(conn, &r.event()).await?;
                        expired.push(r);
                    }
                    // One update per key, in a fixed order (no two transactions lock keys crosswise).
                    let mut per_key = std::collections::BTreeMap::<&str, i64>::new();
                    for r in &expired {
                        *per_key.entry(r.api_key_id.as_str()).or_default() += 1;
                    }
                    for (key, n) in per_key {
                        release_pending_places(conn, &ApiKeyId::from_trusted(key.to_owned()), n).await?;
                    }
                    Ok(expired)
                })
            }),
        )
        .await
    }

    /// How many of this key's requests a person denied since `since` (a rule's or the kill
    /// switch's denials are not a person's patience running out).
    pub async fn denials_since(&self, key: &ApiKeyId, since: Millis) -> StoreResult<i64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM approval_requests WHERE api_key_id = $1 AND status = 'DENIED' \
             AND decided_at >= $2 AND decided_by IS NULL",
        )
        .bind(key.as_str())
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }
}

/// Gives back `n` places under the key's pending cap (see `approvals::take_pending_place`): its
/// requests left PENDING in this transaction.
pub(crate) async fn release_pending_places(
    conn: &mut sqlx::AnyConnection,
    key: &ApiKeyId,
    n: i64,
) -> StoreResult<()> {
    sqlx::query("UPDATE api_keys SET pending = pending - $1 WHERE id = $2")
        .bind(n)
        .bind(key.as_str())
        .execute(conn)
        .await?;
    Ok(())
}
