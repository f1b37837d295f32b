use super::audit::{self, AuditEvent, ReceiptBody};
use super::{Db, StoreResult, opt_i64};
use crate::clock::Millis;
use crate::domain::denial::SuspendedBecause;
use crate::domain::ids::{ApiKeyId, UserId};
use crate::events::KeyEvent;
use serde_json::json;
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
    /// Set after repeated denials or by Stop all agents; the key is refused until its owner
    /// resumes it.
    pub suspended_at: Option<Millis>,
    /// Why it is suspended (`None` while it is not).
    pub suspended_because: Option<SuspendedBecause>,
}

macro_rules! select {
    ($tail:literal) => {
        concat!(
            "SELECT id, user_id, name, display_prefix, created_at, last_used_at, revoked_at, suspended_at, \
             suspended_because FROM api_keys ",
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
        suspended_because: suspended_because(row, "suspended_because")?,
    })
}

/// The cause in column `column`; an unknown word reads as repeated denials, the older cause.
pub(crate) fn suspended_because(
    row: &sqlx::any::AnyRow,
    column: &str,
) -> StoreResult<Option<SuspendedBecause>> {
    let word: Option<String> = row.try_get(column)?;
    Ok(word.map(|w| SuspendedBecause::parse(&w).unwrap_or(SuspendedBecause::Denials)))
}

impl Db {
    /// Inserts a key (with its audit row and receipt: its id, name and prefix, never the key).
    pub async fn insert_api_key(&self, key: &ApiKeyRecord, key_hash: &str) -> StoreResult<()> {
        let (key, key_hash) = (key.clone(), key_hash.to_owned());
        self.write_in_chain(&key.user_id.clone(), Box::new(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO api_keys (id, user_id, name, display_prefix, key_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(key.id.as_str())
                .bind(key.user_id.as_str())
                .bind(&key.name)
                .bind(&key.display_prefix)
                .bind(&key_hash)
                .bind(key.created_at)
                .execute(&mut *conn)
                .await?;
                let content =
                    json!({ "apiKeyId": key.id.as_str(), "name": key.name, "prefix": key.display_prefix });
                let event = AuditEvent {
                    api_key_id: Some(key.id.clone()),
                    receipt: Some(ReceiptBody { content, evidence: None }),
                    ..AuditEvent::new("api_key.created", key.created_at, &key.user_id)
                };
                audit::append(conn, &event).await?;
                Ok(())
            })
        }))
        .await
    }

    /// The live (not revoked) key with this HMAC, if any.
    pub async fn active_api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        if let Some(key) = self.keys.get(key_hash) {
            return Ok(Some(key));
        }
        let generation = self.keys.generation();
        let row = sqlx::query(select!("WHERE key_hash = $1 AND revoked_at IS NULL"))
            .bind(key_hash)
            .fetch_optional(self.pool())
            .await?;
        let key = row.as_ref().map(from_row).transpose()?;
        if let Some(key) = &key {
            self.keys.put(key_hash, key, generation);
        }
        Ok(key)
    }

    /// Forgets a key another instance revoked or suspended (or every key: `None`).
    pub fn forget_api_key(&self, id: Option<&ApiKeyId>) {
        match id {
            Some(id) => self.keys.forget(id),
            None => self.keys.forget_all(),
        }
    }

    pub async fn api_keys_of(&self, user: &UserId) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query(select!("WHERE user_id = $1 ORDER BY created_at DESC, id DESC"))
            .bind(user.as_str())
            .fetch_all(self.pool())
            .await?;
        let mut keys = rows.iter().map(from_row).collect::<StoreResult<Vec<_>>>()?;
        for key in &mut keys {
            key.last_used_at = key.last_used_at.max(self.unflushed_last_use(&key.id));
        }
        Ok(keys)
    }

    /// Records that `key` was used at `at`. Kept in memory and written in batches by
    /// [`Db::flush_last_use`]: a write per request would make every request of one key wait on
    /// the key's row.
    pub fn last_used(&self, key: &ApiKeyId, at: Millis) {
        let mut pending = self.last_use.lock().unwrap_or_else(|p| p.into_inner());
        let slot = pending.entry(key.clone()).or_insert(at);
        *slot = (*slot).max(at);
    }

    fn unflushed_last_use(&self, key: &ApiKeyId) -> Option<Millis> {
        self.last_use.lock().unwrap_or_else(|p| p.into_inner()).get(key).copied()
    }

    /// Writes the uses recorded since the last flush (upkeep, and shutdown).
    pub async fn flush_last_use(&self) -> StoreResult<()> {
        let pending: Vec<(ApiKeyId, Millis)> =
            std::mem::take(&mut *self.last_use.lock().unwrap_or_else(|p| p.into_inner()))
                .into_iter()
                .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let batch = pending.clone();
        let written = self
            .write(Box::new(move |conn| {
                Box::pin(async move {
                    for (key, at) in &batch {
                        sqlx::query(
                            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 \
                             AND (last_used_at IS NULL OR last_used_at < $1)",
                        )
                        .bind(*at)
                        .bind(key.as_str())
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok(())
                })
            }))
            .await;
        if written.is_err() {
            // Kept for the next flush, unless newer uses were recorded meanwhile.
            for (key, at) in pending {
                self.last_used(&key, at);
            }
        }
        written
    }

    /// Revokes the user's key; false when there is no such live key of theirs.
    pub async fn revoke_api_key(&self, user: &UserId, id: &ApiKeyId, now: Millis) -> StoreResult<bool> {
        let owner = user;
        let (user, id, key_id, announcer) = (user.clone(), id.clone(), id.clone(), self.announcer());
        self.write_in_chain(owner, Box::new(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(id.as_str())
                .bind(user.as_str())
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                let event = AuditEvent { api_key_id: Some(id.clone()), ..AuditEvent::new("api_key.revoked", now, &user) };
                audit::append(conn, &event).await?;
                announcer.key(conn, &KeyEvent::revoked(id)).await?;
                Ok(true)
            })
        }))
        .await
        .inspect(|&revoked| {
            if revoked {
                self.keys.forget(&key_id);
            }
        })
    }

    /// Suspends a live key after repeated denials (with its audit row); false if it was already
    /// suspended or revoked. (Stop all agents suspends keys in `store::stop`.)
    pub async fn suspend_api_key(&self, key: &ApiKeyRecord, now: Millis, detail: &str) -> StoreResult<bool> {
        let suspension = Some((now, SuspendedBecause::Denials));
        self.set_suspension(key, suspension, "api_key.suspended", now, detail).await
    }

    /// Lifts a suspension (with its audit row); false if the key was not suspended.
    pub async fn resume_api_key(&self, key: &ApiKeyRecord, now: Millis) -> StoreResult<bool> {
        self.set_suspension(key, None, "api_key.resumed", now, "resumed by its owner").await
    }

    async fn set_suspension(
        &self,
        key: &ApiKeyRecord,
        suspension: Option<(Millis, SuspendedBecause)>,
        event: &'static str,
        now: Millis,
        detail: &str,
    ) -> StoreResult<bool> {
        // Forgotten before the write too: a suspended key's requests are refused from now on.
        self.keys.forget(&key.id);
        let key_id = key.id.clone();
        let (key, detail, announcer) = (key.clone(), detail.to_owned(), self.announcer());
        let (suspended_at, because) = (suspension.map(|(at, _)| at), suspension.map(|(_, b)| b.as_str()));
        self.write_in_chain(&key.user_id.clone(), Box::new(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE api_keys SET suspended_at = $1, suspended_because = $4 WHERE id = $2 AND user_id = $3 \
                     AND revoked_at IS NULL \
                     AND (CASE WHEN $1 IS NULL THEN suspended_at IS NOT NULL ELSE suspended_at IS NULL END)",
                )
                .bind(suspended_at)
                .bind(key.id.as_str())
                .bind(key.user_id.as_str())
                .bind(because)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                let audit = AuditEvent {
                    api_key_id: Some(key.id.clone()),
                    detail: Some(detail),
                    ..AuditEvent::new(event, now, &key.user_id)
                };
                audit::append(conn, &audit).await?;
                // Resuming needs no announcement: nobody waits on a suspended key, and keys are
                // remembered only while live.
                if suspended_at.is_some() {
                    announcer.key(conn, &KeyEvent::suspended(key.id.clone())).await?;
                }
                Ok(true)
            })
        }))
        .await
        .inspect(|_| self.keys.forget(&key_id))
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
