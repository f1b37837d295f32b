//! Server-side sessions: a row per session token, so signing out ends a session at once and
//! deleting a passkey ends every session it made (`ON DELETE CASCADE`).

use super::users::{User, from_row as user_from_row};
use super::writer::WriteStatement;
use super::{Db, StoreResult};
use crate::clock::Millis;
use crate::domain::ids::{PasskeyId, UserId};
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// The token's `jti`.
    pub id: &'a str,
    pub user_id: &'a UserId,
    /// The passkey that made the session; `None` for an email-only session.
    pub passkey_id: Option<&'a PasskeyId>,
    /// `email` or `passkey`.
    pub method: &'a str,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// Whose a live session is, and what the account has now.
#[derive(Debug, Clone)]
pub struct SessionHolder {
    pub user: User,
    pub passkeys: i64,
}

impl Db {
    pub async fn insert_session(&self, s: &NewSession<'_>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, passkey_id, method, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(s.id)
        .bind(s.user_id.as_str())
        .bind(s.passkey_id.map(PasskeyId::as_str))
        .bind(s.method)
        .bind(s.created_at)
        .bind(s.expires_at)
        .written(self)
        .await?;
        Ok(())
    }

    /// The account of session `id` if it is still live and belongs to `user`, with its passkey
    /// count (one round trip per request).
    pub async fn session_holder(
        &self,
        id: &str,
        user: &UserId,
        now: Millis,
    ) -> StoreResult<Option<SessionHolder>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.webauthn_handle, u.created_at, \
             (SELECT COUNT(*) FROM passkeys p WHERE p.user_id = u.id) AS passkeys \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.user_id = $2 AND s.expires_at > $3",
        )
        .bind(id)
        .bind(user.as_str())
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => {
                Ok(Some(SessionHolder { user: user_from_row(&row)?, passkeys: row.try_get("passkeys")? }))
            }
            None => Ok(None),
        }
    }

    /// Ends a session (sign-out); false if it had already ended.
    pub async fn delete_session(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id).written(self).await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_expired_sessions(&self, now: Millis) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).written(self).await?;
        Ok(done.rows_affected())
    }
}
