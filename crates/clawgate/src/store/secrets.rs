use super::writer::WriteStatement;
use super::{Db, StoreResult};
use crate::clock::Millis;
use sqlx::Row;

impl Db {
    /// Returns the secret stored under `name`, storing `candidate` first if there is none.
    /// Several instances starting at once all end up with the same value.
    pub async fn secret_or_insert(&self, name: &str, candidate: &str, now: Millis) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now)
        .written(self)
        .await?;
        let row = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("value")?)
    }
}
