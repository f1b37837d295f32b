//! Approval-token signing keys (see `crate::tokens::keys` for what each is used for when).

use super::writer::WriteStatement;
use super::{Db, StoreError, StoreResult};
use crate::clock::Millis;
use crate::tokens::keys::KeyRecord;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sqlx::Row;

fn decode_seed(number: i64, text: &str) -> StoreResult<[u8; 32]> {
    let bytes = STANDARD
        .decode(text.as_bytes())
        .map_err(|_| StoreError::Corrupt(format!("signing key {number} is not base64")))?;
    bytes.try_into().map_err(|_| StoreError::Corrupt(format!("signing key {number} is not 32 bytes")))
}

impl Db {
    /// Every stored key, oldest first.
    pub async fn signing_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let rows =
            sqlx::query("SELECT number, seed, created_at, active_from FROM signing_keys ORDER BY number")
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|row| {
                let number: i64 = row.try_get("number")?;
                let seed: String = row.try_get("seed")?;
                Ok(KeyRecord {
                    number,
                    seed: decode_seed(number, &seed)?,
                    created_at: row.try_get("created_at")?,
                    active_from: row.try_get("active_from")?,
                })
            })
            .collect()
    }

    /// Stores `seed` as key 1, active since forever, when there is no key at all. Several
    /// instances starting at once on an empty database keep one of theirs: the others' inserts
    /// conflict and are dropped.
    pub async fn insert_first_signing_key(&self, seed: &[u8; 32], now: Millis) -> StoreResult<()> {
        let inserted = sqlx::query(
            "INSERT INTO signing_keys (number, seed, created_at, active_from) \
             SELECT 1, $1, $2, 0 WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
        )
        .bind(STANDARD.encode(seed))
        .bind(now)
        .written(self)
        .await;
        match inserted {
            Ok(_) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Stores `seed` as the next key, signing from `active_from`. `Conflict` when another
    /// rotation took that number at the same moment.
    pub async fn insert_next_signing_key(
        &self,
        seed: &[u8; 32],
        now: Millis,
        active_from: Millis,
    ) -> StoreResult<i64> {
        let rows = sqlx::query(
            "INSERT INTO signing_keys (number, seed, created_at, active_from) \
             SELECT COALESCE(MAX(number), 0) + 1, $1, $2, $3 FROM signing_keys RETURNING number",
        )
        .bind(STANDARD.encode(seed))
        .bind(now)
        .bind(active_from)
        .written_rows(self)
        .await?;
        let row = rows.first().ok_or_else(|| StoreError::Corrupt("the new key has no number".into()))?;
        Ok(row.try_get("number")?)
    }

    /// Deletes the keys numbered `numbers` (retired ones).
    pub async fn delete_signing_keys(&self, numbers: &[i64]) -> StoreResult<()> {
        for number in numbers {
            sqlx::query("DELETE FROM signing_keys WHERE number = $1").bind(*number).written(self).await?;
        }
        Ok(())
    }
}

/// The newest migration this binary knows for `backend`: a database (or backup) migrated further
/// was made by a newer clawgate.
pub fn newest_known_migration(backend: crate::config::Backend) -> i64 {
    let migrator = match backend {
        crate::config::Backend::Sqlite => &super::SQLITE_MIGRATIONS,
        crate::config::Backend::Postgres => &super::POSTGRES_MIGRATIONS,
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}
