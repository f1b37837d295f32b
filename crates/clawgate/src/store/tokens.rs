use super::writer::WriteStatement;
use super::{Db, StoreResult};
use crate::clock::Millis;

impl Db {
    /// Records that an approval token was used. False if its `jti` was used before, on any
    /// instance: the unique key makes "verify once" hold across the whole deployment.
    pub async fn consume_token(&self, jti: &str, expires_at: Millis, now: Millis) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO used_tokens (jti, expires_at, used_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .bind(now)
        .written(self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets used tokens long past expiry; they can no longer verify anyway.
    pub async fn delete_old_used_tokens(&self, before: Millis) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM used_tokens WHERE expires_at < $1").bind(before).written(self).await?;
        Ok(done.rows_affected())
    }

    /// Forgets Idempotency-Keys older than `before`: a retry comes within minutes, not days.
    pub async fn delete_old_idempotency_keys(&self, before: Millis) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before)
            .written(self)
            .await?;
        Ok(done.rows_affected())
    }
}
