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
}

macro_rules! select {
    ($tail:literal) => {
        concat!(
            "SELECT id, user_id, name, display_prefix, created_at, last_used_at, revoked_at FROM api_keys ",
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

    /// Records use at most once a minute, so polling agents do not write on every request.
    pub async fn touch_api_key(&self, id: &ApiKeyId, now: Millis) -> StoreResult<()> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 \
             AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(now)
        .bind(id.as_str())
        .bind(now - 60_000)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
