use super::audit::{self, AuditEvent};
use super::{Db, StoreResult, opt_i64};
use crate::clock::Millis;
use crate::domain::ids::{ApiKeyId, UserId};
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub name: String,
    pub display_prefix: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
    /// Set after repeated denials; the key is refused until its owner resumes it.
    pub suspended_at: Option<Millis>,
}

macro_rules! select {
    ($tail:literal) => {
        concat!(
            "SELECT id, user_id, name, display_prefix, created_at, last_used_at, revoked_at, suspended_at FROM api_keys ",
            $tail
        )
    };
}

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: ApiKeyId::from_trusted(row.try_get("id")?),
        user_id: UserId::from_trusted(row.try_get("user_id")?),
        name: row.try_get("name")?,
        display_prefix: row.try_get("display_prefix")?,
        created_at: row.try_get("created_at")?,
        last_used_at: opt_i64(row, "last_used_at")?,
        revoked_at: opt_i64(row, "revoked_at")?,
        suspended_at: opt_i64(row, "suspended_at")?,
    })
}

impl Db {
    pub async fn insert_api_key(&self, key: &ApiKeyRecord, key_hash: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, display_prefix, key_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(key.id.as_str())
        .bind(key.user_id.as_str())
        .bind(&key.name)
        .bind(&key.display_prefix)
        .bind(key_hash)
        .bind(key.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The live (not revoked) key with this HMAC, if any.
    pub async fn active_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(select!("WHERE key_hash = $1 AND revoked_at IS NULL"))
            .bind(key_hash)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn api_keys_of(&self, user: &UserId) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(select!("WHERE user_id = $1 ORDER BY created_at DESC, id DESC"))
            .bind(user.as_str())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Revokes the user's key; false when there is no such live key of theirs.
    pub async fn revoke_api_key(&self, user: &UserId, id: &ApiKeyId, now: Millis) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id.as_str())
        .bind(user.as_str())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Suspends a live key (with its audit row); false if it was already suspended or revoked.
    pub async fn suspend_api_key(&self, key: &ApiKeyRecord, now: Millis, detail: &str) -> StoreResult<bool> {
        self.set_suspension(key, Some(now), "api_key.suspended", now, detail).await
    }

    /// Lifts a suspension (with its audit row); false if the key was not suspended.
    pub async fn resume_api_key(&self, key: &ApiKeyRecord, now: Millis) -> StoreResult<bool> {
        self.set_suspension(key, None, "api_key.resumed", now, "resumed by its owner").await
    }

    async fn set_suspension(
        &self,
        key: &ApiKeyRecord,
        suspended_at: Option<Millis>,
        event: &'static str,
        now: Millis,
        detail: &str,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE api_keys SET suspended_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL \
             AND (CASE WHEN $1 IS NULL THEN suspended_at IS NOT NULL ELSE suspended_at IS NULL END)",
        )
        .bind(suspended_at)
        .bind(key.id.as_str())
        .bind(key.user_id.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let audit = AuditEvent {
            api_key_id: Some(key.id.clone()),
            detail: Some(detail.to_owned()),
            ..AuditEvent::new(event, now, &key.user_id)
        };
        audit::append(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The user's key, live or not; `None` for unknown and foreign alike.
    pub async fn api_key_of(&self, user: &UserId, id: &ApiKeyId) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query(select!("WHERE id = $1 AND user_id = $2"))
            .bind(id.as_str())
            .bind(user.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }
}
