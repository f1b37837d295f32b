//! A person's Web Push subscriptions: saved only for endpoints Web Push may go to (see
//! `push_policy`) and keys of the right size, never moved between accounts; removed; listed.

use super::Shared;
use crate::clock::{Clock, Millis};
use crate::domain::ids::{SubscriptionId, UserId};
use crate::push::PushSender;
use crate::push_policy::{EndpointError, check_endpoint};
use crate::store::push::PushSubscription;
use crate::store::{Db, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Arc;

/// Why a subscription was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// Not an endpoint Web Push may go to.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("`keys.p256dh` must be a base64url P-256 public key (65 bytes)")]
    BadP256dh,
    #[error("`keys.auth` must be a base64url 16-byte secret")]
    BadAuth,
    /// The endpoint is registered to another account.
    #[error("the push endpoint is another account's")]
    EndpointTaken,
    /// Unknown, or not the caller's (the two look the same).
    #[error("push subscription not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type SubscriptionResult<T> = Result<T, SubscriptionError>;

/// The push subscription service. Cheap to clone: handles.
#[derive(Clone)]
pub struct PushSubscriptions {
    db: Db,
    clock: Arc<dyn Clock>,
    /// Holds the endpoint policy.
    push: Arc<PushSender>,
}

fn decoded_len(b64: &str) -> Option<usize> {
    URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).ok().map(|v| v.len())
}

impl PushSubscriptions {
    pub fn new(shared: &Shared) -> Self {
        Self { db: shared.db.clone(), clock: shared.clock.clone(), push: shared.push.clone() }
    }

    fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// Saves `user`'s subscription at `endpoint` with the browser's keys (base64url), or renews
    /// the keys of the one they have there; its id.
    pub async fn subscribe(
        &self,
        user: &UserId,
        endpoint: String,
        p256dh: String,
        auth: String,
    ) -> SubscriptionResult<SubscriptionId> {
        check_endpoint(&endpoint, self.push.policy())?;
        if decoded_len(&p256dh) != Some(65) {
            return Err(SubscriptionError::BadP256dh);
        }
        if decoded_len(&auth) != Some(16) {
            return Err(SubscriptionError::BadAuth);
        }
        let sub = PushSubscription {
            id: SubscriptionId::generate(),
            user_id: user.clone(),
            endpoint,
            p256dh,
            auth,
            created_at: self.now(),
        };
        self.db.upsert_push_subscription(&sub).await?.ok_or(SubscriptionError::EndpointTaken)
    }

    /// Removes `user`'s subscription at `endpoint`.
    pub async fn unsubscribe(&self, user: &UserId, endpoint: &str) -> SubscriptionResult<()> {
        if !self.db.delete_push_subscription(user, endpoint).await? {
            return Err(SubscriptionError::NotFound);
        }
        Ok(())
    }

    /// `user`'s subscriptions: where Web Push tells them of new requests.
    pub async fn list(&self, user: &UserId) -> SubscriptionResult<Vec<PushSubscription>> {
        Ok(self.db.push_subscriptions_of(user).await?)
    }
}
