//! Approval-token signing keys (see `crate::tokens::keys` for what each is used for when).

use super::audit::{self, AuditEvent, ReceiptBody};
use super::writer::WriteStatement;
use super::{Db, StoreError, StoreResult, opt_i64};
use crate::clock::Millis;
use crate::domain::ids::UserId;
use crate::tokens::keys::{KeyRecord, kid_of};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clawgate_proto::evidence::receipt::kind;
use serde_json::{Value, json};
use sqlx::Row;

fn decode_seed(number: i64, text: &str) -> StoreResult<[u8; 32]> {
    let bytes = STANDARD
        .decode(text.as_bytes())
        .map_err(|_| StoreError::Corrupt(format!("signing key {number} is not base64")))?;
    bytes.try_into().map_err(|_| StoreError::Corrupt(format!("signing key {number} is not 32 bytes")))
}

/// Appends a receipt of a change to the server's signing keys to every account's chain, in the
/// change's transaction: every account's tokens and checkpoints are signed with them. Accounts in
/// a fixed order, so no two writers take their chains' heads crosswise.
async fn receipt_for_every_account(
    conn: &mut sqlx::AnyConnection,
    event: &'static str,
    content: Value,
    at: Millis,
) -> StoreResult<()> {
    let users: Vec<String> =
        sqlx::query_scalar("SELECT id FROM users ORDER BY id").fetch_all(&mut *conn).await?;
    let kid = content.get("kid").and_then(Value::as_str).map(str::to_owned);
    for user in users {
        let event = AuditEvent {
            detail: kid.clone(),
            receipt: Some(ReceiptBody { content: content.clone(), evidence: None }),
            ..AuditEvent::new(event, at, &UserId::from_trusted(user))
        };
        audit::append(conn, &event).await?;
    }
    Ok(())
}

impl Db {
    /// Every stored key, oldest first (revoked ones included).
    pub async fn signing_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let rows = sqlx::query(
            "SELECT number, seed, created_at, active_from, revoked_at FROM signing_keys ORDER BY number",
        )
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
                    revoked_at: opt_i64(row, "revoked_at")?,
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

    /// Stores `seed` as the next key, signing from `active_from`, with a `signing_key.rotated`
    /// receipt in every account's chain. `Conflict` when another rotation took that number at the
    /// same moment.
    pub async fn insert_next_signing_key(
        &self,
        seed: &[u8; 32],
        now: Millis,
        active_from: Millis,
    ) -> StoreResult<i64> {
        let (seed_text, kid) = (STANDARD.encode(seed), kid_of(seed));
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let number: i64 = sqlx::query_scalar(
                    "INSERT INTO signing_keys (number, seed, created_at, active_from) \
                     SELECT COALESCE(MAX(number), 0) + 1, $1, $2, $3 FROM signing_keys RETURNING number",
                )
                .bind(seed_text)
                .bind(now)
                .bind(active_from)
                .fetch_one(&mut *conn)
                .await?;
                let content = json!({ "kid": kid, "number": number, "activeFrom": active_from });
                receipt_for_every_account(conn, kind::SIGNING_KEY_ROTATED, content, now).await?;
                Ok(number)
            })
        }))
        .await
    }

    /// Revokes key `number` (whose kid is `kid`) at `now` and, with `successor`, stores that seed
    /// as a new key signing from `now`, in one transaction that tells every other instance
    /// (PostgreSQL NOTIFY) to reload its keys as it commits, with a `signing_key.revoked` receipt
    /// (and `signing_key.rotated` for the successor) in every account's chain.
    pub async fn revoke_signing_key(
        &self,
        number: i64,
        kid: &str,
        now: Millis,
        successor: Option<[u8; 32]>,
    ) -> StoreResult<Revocation> {
        let (kid, announcer) = (kid.to_owned(), self.announcer());
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE signing_keys SET revoked_at = $1 WHERE number = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(number)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(Revocation::NotRevocable);
                }
                let revoked = json!({ "kid": kid, "number": number });
                receipt_for_every_account(conn, kind::SIGNING_KEY_REVOKED, revoked, now).await?;
                let mut new = None;
                if let Some(seed) = successor {
                    let number: i64 = sqlx::query_scalar(
                        "INSERT INTO signing_keys (number, seed, created_at, active_from) \
                         SELECT COALESCE(MAX(number), 0) + 1, $1, $2, $2 FROM signing_keys RETURNING number",
                    )
                    .bind(STANDARD.encode(seed))
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await?;
                    let content = json!({ "kid": kid_of(&seed), "number": number, "activeFrom": now });
                    receipt_for_every_account(conn, kind::SIGNING_KEY_ROTATED, content, now).await?;
                    new = Some(number);
                }
                announcer.signing_key_revoked(conn, &kid).await?;
                Ok(Revocation::Revoked { successor: new })
            })
        }))
        .await
    }

    /// Whether key `number` may no longer verify: revoked, or deleted (once retired or revoked).
    /// What online verification asks, so that a revocation holds on every instance at once,
    /// whether or not it has heard of it.
    pub async fn signing_key_withdrawn(&self, number: i64) -> StoreResult<bool> {
        let row = sqlx::query("SELECT revoked_at FROM signing_keys WHERE number = $1")
            .bind(number)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) => opt_i64(&row, "revoked_at")?.is_some(),
            None => true,
        })
    }

    /// The numbers of the revoked keys still stored.
    pub async fn revoked_signing_keys(&self) -> StoreResult<Vec<i64>> {
        let numbers = sqlx::query_scalar("SELECT number FROM signing_keys WHERE revoked_at IS NOT NULL")
            .fetch_all(self.pool())
            .await?;
        Ok(numbers)
    }

    /// Deletes the keys numbered `numbers` (retired ones).
    pub async fn delete_signing_keys(&self, numbers: &[i64]) -> StoreResult<()> {
        for number in numbers {
            sqlx::query("DELETE FROM signing_keys WHERE number = $1").bind(*number).written(self).await?;
        }
        Ok(())
    }
}

/// What [`Db::revoke_signing_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Revoked, with the number of the key stored to sign in its place (when one was asked for).
    Revoked { successor: Option<i64> },
    /// No such key, or it was revoked already (by another `keys revoke` at the same moment).
    NotRevocable,
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
