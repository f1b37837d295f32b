//! Rules that act on stored state and tell people about it: lapsed requests are expired (and
//! whoever waits on them told), and a key whose requests keep being denied is suspended (and its
//! owner told). The pure rules live in `domain`; these need the database and the event hub.

use crate::domain::ids::{ApiKeyId, UserId};
use crate::events::KeyEvent;
use crate::state::AppState;
use crate::store::StoreResult;

/// Denials within this window count towards suspending a key.
pub const DENIAL_WINDOW_MS: i64 = 10 * 60 * 1000;

impl AppState {
    /// Records lapsed requests (of everyone, or of one person) as expired and tells whoever
    /// waits on them. How many it expired.
    pub async fn expire_lapsed(&self, user: Option<&UserId>) -> StoreResult<usize> {
        let expired = self.db.expire_due(self.now(), user).await?;
        for r in &expired {
            self.announce(r.event());
        }
        Ok(expired.len())
    }

    /// After a denial: if the key's requests were denied `SUSPEND_AFTER_DENIALS` times within
    /// ten minutes, suspend it and notify its owner. Someone feeding a real agent's stream with
    /// requests (approval fatigue) gets a handful of tries, not an hour of them. True if this
    /// call suspended the key.
    pub async fn suspend_if_denied_too_often(&self, user: &UserId, key_id: &ApiKeyId) -> StoreResult<bool> {
        let Some(threshold) = self.settings.suspend_after_denials else { return Ok(false) };
        let now = self.now();
        if self.db.denials_since(key_id, now - DENIAL_WINDOW_MS).await? < threshold {
            return Ok(false);
        }
        let Some(key) = self.db.api_key_of(user, key_id).await? else { return Ok(false) };
        let detail = format!("{threshold} denials within 10 minutes");
        if !self.db.suspend_api_key(&key, now, &detail).await? {
            return Ok(false);
        }
        tracing::warn!(user.id = %user, key.id = %key.id, security_event = "api_key_suspended", "API key suspended after repeated denials");
        // Waits and streams of this key end now, on every instance, without a token.
        self.announce_key(KeyEvent::suspended(key.id.clone()));
        self.push.notify_key_suspended(self.db.clone(), &key);
        Ok(true)
    }
}
