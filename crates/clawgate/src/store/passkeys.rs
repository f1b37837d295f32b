use super::audit::{self, AuditEvent, ReceiptBody};
use super::writer::WriteStatement;
use super::{Db, StoreError, StoreResult, opt_i64};
use crate::clock::Millis;
use crate::domain::ids::{PasskeyId, UserId};
use clawgate_proto::evidence::receipt::{Registration, kind};
use serde_json::json;
use sqlx::Row;
use webauthn_rs::prelude::Passkey;

#[derive(Debug, Clone)]
pub struct StoredPasskey {
    pub id: PasskeyId,
    pub user_id: UserId,
    /// base64url of the WebAuthn credential ID.
    pub credential_id: String,
    pub name: String,
    pub passkey: Passkey,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    /// The record's JSON exactly as read, so an update can insist nothing changed it meanwhile.
    pub stored_json: String,
}

/// What adding a passkey came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyAdded {
    Added,
    /// The account already has a passkey, and only a passkey session may add another.
    NotFirst,
}

macro_rules! select {
    ($tail:literal) => {
        concat!(
            "SELECT id, user_id, credential_id, name, passkey, created_at, last_used_at FROM passkeys ",
            $tail
        )
    };
}

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<StoredPasskey> {
    let json: String = row.try_get("passkey")?;
    let passkey =
        serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("passkey record: {e}")))?;
    Ok(StoredPasskey {
        id: PasskeyId::from_trusted(row.try_get("id")?),
        user_id: UserId::from_trusted(row.try_get("user_id")?),
        credential_id: row.try_get("credential_id")?,
        name: row.try_get("name")?,
        passkey,
        created_at: row.try_get("created_at")?,
        last_used_at: opt_i64(row, "last_used_at")?,
        stored_json: json,
    })
}

fn to_json(passkey: &Passkey) -> StoreResult<String> {
    serde_json::to_string(passkey).map_err(|e| StoreError::Corrupt(format!("passkey record: {e}")))
}

impl Db {
    /// Adds a passkey. With `first_only` (an email-only session) it is added only while the
    /// account has none: the check and the insert are one step, under the account's row lock
    /// (PostgreSQL) or the single writer (SQLite), so concurrent completions cannot both land.
    /// Fails with `Conflict` when the credential ID is already registered (to anyone).
    /// `registration`: the browser's answer (client data and attestation), for its receipt.
    pub async fn insert_passkey(
        &self,
        p: &StoredPasskey,
        first_only: bool,
        registration: &Registration,
    ) -> StoreResult<PasskeyAdded> {
        let (p, json) = (p.clone(), to_json(&p.passkey)?);
        let receipt = ReceiptBody {
            content: json!({ "credentialId": p.credential_id, "name": p.name }),
            evidence: serde_json::to_value(registration).ok(),
        };
        self.write_in_chain(&p.user_id.clone(), Box::new(move |conn| {
            Box::pin(async move {
                // A write first: it takes the lock before anything is read.
                sqlx::query("UPDATE users SET webauthn_handle = webauthn_handle WHERE id = $1")
                    .bind(p.user_id.as_str())
                    .execute(&mut *conn)
                    .await?;
                if first_only {
                    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
                        .bind(p.user_id.as_str())
                        .fetch_one(&mut *conn)
                        .await?;
                    if existing > 0 {
                        return Ok(PasskeyAdded::NotFirst);
                    }
                }
                sqlx::query(
                    "INSERT INTO passkeys (id, user_id, credential_id, name, passkey, created_at, last_used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, NULL)",
                )
                .bind(p.id.as_str())
                .bind(p.user_id.as_str())
                .bind(&p.credential_id)
                .bind(&p.name)
                .bind(json)
                .bind(p.created_at)
                .execute(&mut *conn)
                .await?;
                let event = AuditEvent {
                    credential_id: Some(p.credential_id.clone()),
                    receipt: Some(receipt),
                    ..AuditEvent::new(kind::PASSKEY_REGISTERED, p.created_at, &p.user_id)
                };
                audit::append(conn, &event).await?;
                Ok(PasskeyAdded::Added)
            })
        }))
        .await
    }

    /// The passkeys of every account registered with `email` (one query, whether or not any exist).
    pub async fn passkeys_by_email(&self, email: &str) -> StoreResult<Vec<StoredPasskey>> {
        let rows = sqlx::query(
            "SELECT p.id, p.user_id, p.credential_id, p.name, p.passkey, p.created_at, p.last_used_at \
             FROM passkeys p JOIN users u ON u.id = p.user_id WHERE u.email = $1 ORDER BY p.created_at, p.id",
        )
        .bind(email)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn passkeys_of(&self, user: &UserId) -> StoreResult<Vec<StoredPasskey>> {
        let rows = sqlx::query(select!("WHERE user_id = $1 ORDER BY created_at, id"))
            .bind(user.as_str())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn count_passkeys(&self, user: &UserId) -> StoreResult<i64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
            .bind(user.as_str())
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }

    pub async fn passkey_by_credential(&self, credential_id: &str) -> StoreResult<Option<StoredPasskey>> {
        let row = sqlx::query(select!("WHERE credential_id = $1"))
            .bind(credential_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Saves the updated signature counter and backup state after a successful assertion, only
    /// if the record is still the one `p` was read as (compare-and-swap); false if it changed.
    pub async fn touch_passkey(&self, p: &StoredPasskey, now: Millis) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE passkeys SET passkey = $1, last_used_at = $2 WHERE id = $3 AND passkey = $4")
                .bind(to_json(&p.passkey)?)
                .bind(now)
                .bind(p.id.as_str())
                .bind(&p.stored_json)
                .written(self)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn rename_passkey(&self, user: &UserId, id: &PasskeyId, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3")
            .bind(name)
            .bind(id.as_str())
            .bind(user.as_str())
            .written(self)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes `user`'s passkey `id` at `now` (with its audit row and receipt); false if there
    /// is no such passkey of theirs.
    pub async fn delete_passkey(&self, user: &UserId, id: &PasskeyId, now: Millis) -> StoreResult<bool> {
        let owner = user;
        let (user, id) = (user.clone(), id.clone());
        self.write_in_chain(
            owner,
            Box::new(move |conn| {
                Box::pin(async move {
                    let rows = sqlx::query(
                        "DELETE FROM passkeys WHERE id = $1 AND user_id = $2 RETURNING credential_id",
                    )
                    .bind(id.as_str())
                    .bind(user.as_str())
                    .fetch_all(&mut *conn)
                    .await?;
                    let Some(row) = rows.first() else { return Ok(false) };
                    let credential_id: String = row.try_get("credential_id")?;
                    let event = AuditEvent {
                        credential_id: Some(credential_id.clone()),
                        receipt: Some(ReceiptBody {
                            content: json!({ "credentialId": credential_id }),
                            evidence: None,
                        }),
                        ..AuditEvent::new(kind::PASSKEY_DELETED, now, &user)
                    };
                    audit::append(conn, &event).await?;
                    Ok(true)
                })
            }),
        )
        .await
    }
}
