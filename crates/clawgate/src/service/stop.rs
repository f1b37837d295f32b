//! The kill switch: a person stops every agent of theirs at once. Their pending requests are
//! denied, their grants revoked and their keys suspended in one transaction (see
//! `store::stop`); then whoever waits on this instance is told, as a denial or a suspension
//! tells them. Other instances hear it from the announcements committed with it. Keys are
//! resumed one by one (`Keys::resume`); there is no "resume all".

use super::Shared;
use crate::clock::{Clock, Millis};
use crate::domain::ids::UserId;
use crate::events::{Events, KeyEvent};
use crate::metrics::{Decision, Metrics};
use crate::store::audit::ReceiptBody;
use crate::store::stop::Stopped;
use crate::store::{Db, StoreError};
use std::net::IpAddr;
use std::sync::Arc;

/// Why stopping was refused.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// Stopping needs a session made with a passkey.
    #[error("a passkey session is required")]
    PasskeyRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a stop changed, and when.
#[derive(Debug, Clone)]
pub struct StopOutcome {
    pub stopped: Stopped,
    pub at: Millis,
}

/// The kill switch service: the part of the shared state it needs (see `http::substates`).
#[derive(Clone)]
pub struct Stop {
    db: Db,
    clock: Arc<dyn Clock>,
    events: Arc<Events>,
    metrics: Arc<Metrics>,
}

impl Stop {
    pub fn new(shared: &Shared) -> Self {
        Self {
            db: shared.db.clone(),
            clock: shared.clock.clone(),
            events: shared.events.clone(),
            metrics: shared.metrics.clone(),
        }
    }

    /// Stops every agent of `user` (asked from `ip`) and tells the agents waiting here. `signed`:
    /// the receipt of a stop the person signed with a passkey.
    pub async fn stop_all(
        &self,
        user: &UserId,
        ip: IpAddr,
        signed: Option<ReceiptBody>,
    ) -> Result<StopOutcome, StopError> {
        let now = self.clock.now_ms();
        let stopped = self.db.stop_all(user, now, Some(&ip.to_string()), signed).await?;
        tracing::warn!(
            user.id = %user,
            denied = stopped.denied.len(),
            grants = stopped.revoked_grants,
            keys = stopped.suspended.len(),
            security_event = "agents_stopped",
            "every agent stopped by its owner"
        );
        self.metrics.decided(Decision::DeniedByStop, stopped.denied.len() as u64);
        // Committed: waits and streams on this instance end now (others were told by the
        // announcements committed with it), as after a denial and a suspension.
        for event in stopped.denial_events(user) {
            self.events.publish(event);
        }
        for key in &stopped.suspended {
            self.events.publish_key(&KeyEvent::suspended(key.clone()));
        }
        Ok(StopOutcome { stopped, at: now })
    }
}
