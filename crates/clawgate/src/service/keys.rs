//! Agent API keys: created for a person who can approve (shown once), listed, revoked (every
//! waiting agent is told at once) and resumed after a suspension.

use super::Shared;
use crate::clock::{Clock, Millis};
use crate::config::Secret;
use crate::domain::api_key::ApiKeySecret;
use crate::domain::ids::{ApiKeyId, UserId};
use crate::domain::label::{self, LabelError};
use crate::events::{Events, KeyEvent};
use crate::store::api_keys::ApiKeyRecord;
use crate::store::{Db, StoreError};
use std::sync::Arc;

/// Why an API key operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Unknown, or not the caller's (the two look the same).
    #[error("API key not found")]
    NotFound,
    /// Only a person who can approve (who has a passkey) may hold agent keys.
    #[error("a passkey is required")]
    PasskeyRequired,
    /// The name is not a label (see `domain::label`).
    #[error(transparent)]
    InvalidName(#[from] LabelError),
    /// Resume: the key is not suspended (or was revoked).
    #[error("the key is not suspended")]
    NotSuspended,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type KeyResult<T> = Result<T, KeyError>;

/// The API key service: the part of the shared state key management needs, which the key
/// routes extract (axum `FromRef`, see `http::substates`). Cheap to clone.
#[derive(Clone)]
pub struct Keys {
    db: Db,
    clock: Arc<dyn Clock>,
    events: Arc<Events>,
    /// Keys are stored as an HMAC under this secret.
    secret: Arc<Secret>,
}

impl Keys {
    pub fn new(shared: &Shared) -> Self {
        Self {
            db: shared.db.clone(),
            clock: shared.clock.clone(),
            events: shared.events.clone(),
            secret: shared.api_key_secret.clone(),
        }
    }

    fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// A new key named `name` (default `agent`) for `user`, who has `passkeys` passkeys; the
    /// secret is only returned here, the store keeps its keyed hash.
    pub async fn create(
        &self,
        user: &UserId,
        passkeys: i64,
        name: Option<String>,
    ) -> KeyResult<(ApiKeyRecord, ApiKeySecret)> {
        if passkeys == 0 {
            return Err(KeyError::PasskeyRequired);
        }
        let name = label::parse(name, "agent")?;
        let app = self;
        let secret = ApiKeySecret::generate();
        let record = ApiKeyRecord {
            id: ApiKeyId::generate(),
            user_id: user.clone(),
            name,
            display_prefix: secret.display_prefix(),
            created_at: app.now(),
            last_used_at: None,
            revoked_at: None,
            suspended_at: None,
            suspended_because: None,
        };
        app.db.insert_api_key(&record, &secret.hash(app.secret.expose())).await?;
        tracing::info!(user.id = %record.user_id, key.id = %record.id, "API key created");
        Ok((record, secret))
    }

    /// The live (not revoked) key `secret` is, if any, whether suspended or not: how an agent
    /// is known.
    pub async fn presented(&self, secret: &ApiKeySecret) -> KeyResult<Option<ApiKeyRecord>> {
        Ok(self.db.active_api_key_by_hash(&secret.hash(self.secret.expose())).await?)
    }

    /// `user`'s keys, newest first (revoked ones included).
    pub async fn list(&self, user: &UserId) -> KeyResult<Vec<ApiKeyRecord>> {
        Ok(self.db.api_keys_of(user).await?)
    }

    /// Revokes `user`'s key `id` and tells the agents waiting with it.
    pub async fn revoke(&self, user: &UserId, id: ApiKeyId) -> KeyResult<()> {
        let app = self;
        if !app.db.revoke_api_key(user, &id, app.now()).await? {
            return Err(KeyError::NotFound);
        }
        tracing::info!(user.id = %user, key.id = %id, "API key revoked");
        // Agents already waiting with it (here or on another instance) are told now, not at their
        // next read: no token may reach it from here on.
        app.events.publish_key(&KeyEvent::revoked(id));
        Ok(())
    }

    /// Resumes `user`'s suspended key `id`; the key as it now stands.
    pub async fn resume(&self, user: &UserId, id: &ApiKeyId) -> KeyResult<ApiKeyRecord> {
        let app = self;
        let key = app.db.api_key_of(user, id).await?.ok_or(KeyError::NotFound)?;
        if !app.db.resume_api_key(&key, app.now()).await? {
            return Err(KeyError::NotSuspended);
        }
        tracing::info!(user.id = %user, key.id = %id, "API key resumed");
        app.db.api_key_of(user, id).await?.ok_or(KeyError::NotFound)
    }
}
