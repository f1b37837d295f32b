//! The state every request shares: settings, the database, signing keys, limiters, the event
//! hub and the services, built once (WebAuthn and the session keys are the identity services'). Built and served by [`crate::app`]; read by
//! `http`. The services never see it: each was handed what it needs (`service::Shared`).

use crate::clock::{Clock, DatabaseClock, Millis};
use crate::config::Settings;
use crate::domain::ids::{ApiKeyId, UserId};
use crate::events::{ApprovalEvent, Events, KeyEvent};
use crate::push::PushSender;
use crate::rate_limit::RateLimiter;
use crate::service::Services;
use crate::store::Db;
use crate::store::StoreResult;
use crate::tokens::approval::ApprovalSigner;
use std::sync::Arc;

pub struct AppState {
    pub settings: Settings,
    pub db: Db,
    /// Signs approval and gate tokens, publishes the JWKS.
    pub signer: Arc<ApprovalSigner>,
    pub vapid_public: String,
    /// Sends Web Push messages signed with the VAPID key.
    pub push: Arc<PushSender>,
    pub clock: Arc<dyn Clock>,
    /// When the clock is the database's: re-measured at every upkeep.
    pub database_clock: Option<Arc<DatabaseClock>>,
    pub auth_limiter: RateLimiter,
    /// Status reads without `?wait=`, per API key.
    pub poll_limiter: RateLimiter<ApiKeyId>,
    /// Gate calls, per API key.
    pub gate_limiter: RateLimiter<ApiKeyId>,
    pub events: Arc<Events>,
    /// Request, decision and wait counters for `/metrics` (see [`crate::metrics`]).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Every service, built once (the rules service keeps the rule sets it parsed).
    pub services: Services,
}

impl AppState {
    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// Records lapsed requests as expired and tells whoever waits on them (see
    /// `Approvals::expire_lapsed`); for upkeep.
    pub async fn expire_lapsed(&self, user: Option<&UserId>) -> StoreResult<usize> {
        self.services.approvals.expire_lapsed(user).await
    }

    /// Tells listeners here. Other instances were told by the transaction that committed the
    /// change (see `store::Announcer`), so an agent waiting on one instance learns of a decision
    /// made on another.
    pub fn announce(&self, event: ApprovalEvent) {
        self.events.publish(event);
    }

    /// Call once a key's revocation or suspension is committed: agents waiting with it here
    /// re-check it now (other instances were told with the commit), so their waits and streams
    /// end without a token.
    pub fn announce_key(&self, event: KeyEvent) {
        self.events.publish_key(&event);
    }
}
