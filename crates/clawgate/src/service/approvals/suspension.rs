//! Suspending a key whose requests its owner denied again and again (approval fatigue: someone
//! feeding a real agent's stream with requests gets a handful of tries, not an hour of them), and
//! saying so before the denial that does it.

use super::Approvals;
use crate::domain::approval::Status;
use crate::domain::ids::{ApiKeyId, UserId};
use crate::events::KeyEvent;
use crate::store::StoreResult;
use crate::store::approvals::ApprovalRecord;

/// Denials within this window count towards suspending a key.
pub const DENIAL_WINDOW_MS: i64 = 10 * 60 * 1000;

impl Approvals {
    /// After a denial: if the key's requests were denied `suspend_after_denials` times within
    /// ten minutes, suspend it (cause: repeated denials) and notify its owner. True if this call
    /// suspended the key.
    pub(super) async fn suspend_if_denied_too_often(
        &self,
        user: &UserId,
        key_id: &ApiKeyId,
    ) -> StoreResult<bool> {
        let Some(threshold) = self.suspend_after_denials else { return Ok(false) };
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
        self.events.publish_key(&KeyEvent::suspended(key.id.clone()));
        self.push.notify_key_suspended(self.db.clone(), &key);
        Ok(true)
    }

    /// Whether denying `record` now would suspend the key that asked: it is pending, its key is
    /// live, and its key's requests were denied one time short of `SUSPEND_AFTER_DENIALS` within
    /// the window. The approve page says so before the person denies.
    pub async fn denying_suspends_key(&self, record: &ApprovalRecord) -> StoreResult<bool> {
        let Some(threshold) = self.suspend_after_denials else { return Ok(false) };
        let now = self.now();
        if record.status_at(now) != Status::Pending {
            return Ok(false);
        }
        let key = self.db.api_key_of(&record.user_id, &record.api_key_id).await?;
        if !key.is_some_and(|k| k.revoked_at.is_none() && k.suspended_at.is_none()) {
            return Ok(false);
        }
        Ok(self.db.denials_since(&record.api_key_id, now - DENIAL_WINDOW_MS).await? + 1 >= threshold)
    }
}
