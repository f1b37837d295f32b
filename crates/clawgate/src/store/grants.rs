//! Standing grants: calls of one key that a person allowed ahead of time, within a scope, until
//! the grant expires, is used up or is revoked. A use is taken by one conditional UPDATE in the
//! transaction that records the decision it allows, so N uses means N on every instance, and a
//! grant revoked (or lapsed) before that statement allows nothing.

use super::audit::{self, AuditEvent};
use super::{Db, StoreError, StoreResult, opt_i64};
use crate::clock::Millis;
use crate::domain::ids::{ApiKeyId, GrantId, RequestId, UserId};
use crate::domain::rules::Scope;
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, PartialEq)]
pub struct GrantRecord {
    pub id: GrantId,
    pub user_id: UserId,
    /// Only this key's calls are covered.
    pub api_key_id: ApiKeyId,
    pub scope: Scope,
    /// The scope in words, as the person read it when they chose it.
    pub description: String,
    /// The approval that created it, and the passkey that made that approval.
    pub request_id: RequestId,
    pub credential_id: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    /// `None`: any number of uses until it expires.
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub revoked_at: Option<Millis>,
}

impl GrantRecord {
    /// Whether it may still allow a call at `now` (before taking a use, which re-checks).
    pub fn live_at(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && now < self.expires_at && self.max_uses.is_none_or(|max| self.uses < max)
    }
}

macro_rules! columns {
    () => {
        "id, user_id, api_key_id, scope, description, request_id, credential_id, created_at, \
         expires_at, max_uses, uses, revoked_at"
    };
}

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<GrantRecord> {
    let scope: String = row.try_get("scope")?;
    Ok(GrantRecord {
        id: GrantId::from_trusted(row.try_get("id")?),
        user_id: UserId::from_trusted(row.try_get("user_id")?),
        api_key_id: ApiKeyId::from_trusted(row.try_get("api_key_id")?),
        scope: serde_json::from_str(&scope)
            .map_err(|e| StoreError::Corrupt(format!("a grant's scope does not parse: {e}")))?,
        description: row.try_get("description")?,
        request_id: RequestId::from_trusted(row.try_get("request_id")?),
        credential_id: row.try_get("credential_id")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        max_uses: opt_i64(row, "max_uses")?,
        uses: row.try_get("uses")?,
        revoked_at: opt_i64(row, "revoked_at")?,
    })
}

impl Db {
    /// The grants of `key` that may still allow a call at `now`, oldest first.
    pub async fn live_grants_of_key(&self, key: &ApiKeyId, now: Millis) -> StoreResult<Vec<GrantRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM grants WHERE api_key_id = $1 AND expires_at > $2 AND revoked_at IS NULL \
             AND (max_uses IS NULL OR uses < max_uses) ORDER BY created_at, id"
        ))
        .bind(key.as_str())
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// `user`'s grants, newest first, revoked and lapsed ones included (at most `limit`).
    pub async fn grants_of(&self, user: &UserId, limit: i64) -> StoreResult<Vec<GrantRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM grants WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(user.as_str())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The grant `user` made when approving `request`, if they chose one.
    pub async fn grant_made_by(
        &self,
        user: &UserId,
        request: &RequestId,
    ) -> StoreResult<Option<GrantRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM grants WHERE user_id = $1 AND request_id = $2 ORDER BY created_at, id LIMIT 1"
        ))
        .bind(user.as_str())
        .bind(request.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// One of `user`'s grants; `None` for unknown and foreign alike.
    pub async fn grant_of(&self, user: &UserId, id: &GrantId) -> StoreResult<Option<GrantRecord>> {
        let row = sqlx::query(concat!("SELECT ", columns!(), " FROM grants WHERE id = $1 AND user_id = $2"))
            .bind(id.as_str())
            .bind(user.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Revokes `g` at `now` with its audit row (`grant.revoked`), in one write. False if it was
    /// already revoked or had expired (nothing is written then).
    pub async fn revoke_grant(&self, g: &GrantRecord, now: Millis, ip: Option<String>) -> StoreResult<bool> {
        let g = g.clone();
        self.write_in_chain(
            &g.user_id.clone(),
            Box::new(move |conn| {
                Box::pin(async move {
                    if revoke(conn, &g.user_id, Some(&g.id), now).await? == 0 {
                        return Ok(false);
                    }
                    let event = AuditEvent {
                        request_id: Some(g.request_id.clone()),
                        api_key_id: Some(g.api_key_id.clone()),
                        ip,
                        detail: Some(format!("grant {}: {}", g.id, g.description)),
                        ..AuditEvent::new("grant.revoked", now, &g.user_id)
                    };
                    audit::append(conn, &event).await?;
                    Ok(true)
                })
            }),
        )
        .await
    }
}

/// The audit detail of a new grant: which, what it covers, for how long, how many uses.
pub(crate) fn created_detail(g: &GrantRecord) -> String {
    let uses = g.max_uses.map_or("any number of uses".to_owned(), |n| format!("at most {n} uses"));
    format!("grant {}: {}; for {} s; {uses}", g.id, g.description, (g.expires_at - g.created_at) / 1000)
}

/// Inserts `g` on `conn`: inside the transaction of the approval that creates it.
pub(crate) async fn insert(conn: &mut AnyConnection, g: &GrantRecord) -> StoreResult<()> {
    let scope = serde_json::to_string(&g.scope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(concat!(
        "INSERT INTO grants (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(g.id.as_str())
    .bind(g.user_id.as_str())
    .bind(g.api_key_id.as_str())
    .bind(scope)
    .bind(&g.description)
    .bind(g.request_id.as_str())
    .bind(&g.credential_id)
    .bind(g.created_at)
    .bind(g.expires_at)
    .bind(g.max_uses)
    .bind(g.uses)
    .bind(g.revoked_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes one use of grant `id` on `conn` if it is still live at `now`: the uses it has had
/// since, this one included, or `None` if it allows nothing (revoked, lapsed or used up).
pub(crate) async fn take_use(
    conn: &mut AnyConnection,
    id: &GrantId,
    now: Millis,
) -> StoreResult<Option<i64>> {
    let rows = sqlx::query(
        "UPDATE grants SET uses = uses + 1 WHERE id = $1 AND expires_at > $2 AND revoked_at IS NULL \
         AND (max_uses IS NULL OR uses < max_uses) RETURNING uses",
    )
    .bind(id.as_str())
    .bind(now)
    // fetch_all steps the statement to the end, so SQLite can checkpoint its WAL.
    .fetch_all(conn)
    .await?;
    rows.first().map(|row| row.try_get("uses")).transpose().map_err(Into::into)
}

/// Revokes every live grant of `user` on `conn` (the kill switch, or one tap on the grant list
/// when `only` names one): how many it revoked.
pub(crate) async fn revoke(
    conn: &mut AnyConnection,
    user: &UserId,
    only: Option<&GrantId>,
    now: Millis,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE grants SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND expires_at > $1 \
         AND ($3 = '' OR id = $3)",
    )
    .bind(now)
    .bind(user.as_str())
    .bind(only.map(|g| g.as_str().to_owned()).unwrap_or_default())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
