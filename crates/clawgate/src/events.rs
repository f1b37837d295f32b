//! Decisions and new requests, announced inside this instance as they happen, so that pages
//! (and waiting agents) learn of them at once instead of polling the database.

use crate::domain::approval::Status;
use crate::domain::ids::{ApiKeyId, RequestId, UserId};
use tokio::sync::broadcast;

/// How many events a slow listener may fall behind before it is told to resynchronise.
const BACKLOG: usize = 1024;

/// A request was created or changed status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalEvent {
    pub user_id: UserId,
    pub api_key_id: ApiKeyId,
    pub request_id: RequestId,
    pub status: Status,
}

pub struct Events {
    tx: broadcast::Sender<ApprovalEvent>,
}

impl Default for Events {
    fn default() -> Self {
        Self { tx: broadcast::channel(BACKLOG).0 }
    }
}

impl Events {
    /// Tells every listener; nobody listening is fine.
    pub fn publish(&self, event: ApprovalEvent) {
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ApprovalEvent> {
        self.tx.subscribe()
    }
}
