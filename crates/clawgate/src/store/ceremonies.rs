//! WebAuthn ceremony state between "start" and "complete".
//!
//! Kept in the database so any instance can finish what another started. Taking it is a single
//! `DELETE … RETURNING` that also checks kind, owner, request and expiry: it succeeds once.

use super::writer::WriteStatement;
use super::{Db, StoreResult};
use crate::clock::Millis;
use crate::domain::ids::{CeremonyId, RequestId, UserId};
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Adding a passkey to a signed-in account.
    Register,
    /// Signing in with a passkey.
    Login,
    /// Approving one request with a passkey.
    Approve,
    /// Another decision the signed-in person signs with a passkey: a denial, a stop, a rule set.
    Decide,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Register => "register",
            CeremonyKind::Login => "login",
            CeremonyKind::Approve => "approve",
            CeremonyKind::Decide => "decide",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewCeremony {
    pub id: CeremonyId,
    pub kind: CeremonyKind,
    pub user_id: Option<UserId>,
    pub request_id: Option<RequestId>,
    /// Serialized webauthn-rs state (JSON).
    pub state: String,
    /// For a decision: what its passkey signs (see `service::ceremonies`), as JSON.
    pub signed: Option<String>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// What a finished ceremony gives back.
#[derive(Debug, Clone)]
pub struct TakenCeremony {
    pub user_id: Option<UserId>,
    pub state: String,
    pub signed: Option<String>,
}

impl Db {
    pub async fn insert_ceremony(&self, c: &NewCeremony) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ceremonies (id, kind, user_id, request_id, state, created_at, expires_at, signed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(c.id.as_str())
        .bind(c.kind.as_str())
        .bind(c.user_id.as_ref().map(|u| u.as_str().to_owned()))
        .bind(c.request_id.as_ref().map(|r| r.as_str().to_owned()))
        .bind(&c.state)
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.signed.as_deref())
        .written(self)
        .await?;
        Ok(())
    }

    /// Removes and returns the ceremony if it is of this kind, unexpired, and (when given) belongs
    /// to this user and this request. Whatever the outcome, it can never be taken again.
    pub async fn take_ceremony(
        &self,
        id: &CeremonyId,
        kind: CeremonyKind,
        user: Option<&UserId>,
        request: Option<&RequestId>,
        now: Millis,
    ) -> StoreResult<Option<TakenCeremony>> {
        let rows = sqlx::query(
            "DELETE FROM ceremonies WHERE id = $1 AND kind = $2 AND expires_at > $3 \
             AND ($4 = '' OR user_id = $4) AND ($5 = '' OR request_id = $5) \
             RETURNING user_id, state, signed",
        )
        .bind(id.as_str())
        .bind(kind.as_str())
        .bind(now)
        .bind(user.map(|u| u.as_str()).unwrap_or_default())
        .bind(request.map(|r| r.as_str()).unwrap_or_default())
        .written_rows(self)
        .await?;
        let Some(row) = rows.first() else {
            // A ceremony offered with the wrong kind, user or request is burnt all the same.
            sqlx::query("DELETE FROM ceremonies WHERE id = $1").bind(id.as_str()).written(self).await?;
            return Ok(None);
        };
        let user_id: Option<String> = row.try_get("user_id")?;
        Ok(Some(TakenCeremony {
            user_id: user_id.map(UserId::from_trusted),
            state: row.try_get("state")?,
            signed: row.try_get("signed")?,
        }))
    }

    pub async fn delete_expired_ceremonies(&self, now: Millis) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM ceremonies WHERE expires_at <= $1").bind(now).written(self).await?;
        Ok(done.rows_affected())
    }
}
