//! Whether this instance can do its work: its database reachable and taking writes.

use super::Shared;
use crate::store::Db;

/// What `/health` reports of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Ok,
    /// It cannot be reached (down, or the network to it).
    Unreachable,
    /// It answers, but its disk is full: writes fail until space is freed and one succeeds.
    Full,
}

#[derive(Clone)]
pub struct Health {
    db: Db,
}

impl Health {
    pub fn new(shared: &Shared) -> Self {
        Self { db: shared.db.clone() }
    }

    pub async fn standing(&self) -> Standing {
        if let Err(e) = self.db.ping().await {
            tracing::warn!(error = %e, "health check: database unreachable");
            return Standing::Unreachable;
        }
        if self.db.out_of_space().await { Standing::Full } else { Standing::Ok }
    }
}
