//! An agent reading back its own request: at once, or after it changes (a decision, its expiry,
//! its key being revoked or suspended), parked on the event hub rather than polling.

use super::{ApprovalError, ApprovalResult, Approvals};
use crate::clock::Millis;
use crate::domain::approval::Status;
use crate::domain::ids::{ApiKeyId, RequestId};
use crate::store::approvals::{ApprovalRecord, KeyStanding};
use std::time::Duration;

/// How long after a read an agent is still taken to be waiting for the answer (it reads again
/// soon: a new wait, or its next poll), beyond the end of the wait it started.
pub const AGENT_GRACE_MS: Millis = 30_000;
/// An agent's read is recorded only when it moves "waiting until" on by more than this: a busy
/// poller costs a write every few seconds, not one per read.
pub const AGENT_NOTE_THROTTLE_MS: Millis = 10_000;

impl Approvals {
    /// The request, current, if `key` made it (unknown and foreign look the same) and the key is
    /// still live. Every answer to an agent is built from this read, so a key revoked or
    /// suspended after it was checked is refused here as well, and gets no token.
    pub async fn own(&self, key: &ApiKeyId, id: &RequestId) -> ApprovalResult<ApprovalRecord> {
        let record = self.read_own(key, id).await?;
        if record.status == Status::Pending && record.status_at(self.now()) == Status::Expired {
            self.expire_lapsed(Some(&record.user_id)).await?;
            return self.read_own(key, id).await;
        }
        Ok(record)
    }

    /// One statement reads the request and its key's standing together: no revocation committed
    /// before it can be missed, whichever instance made it.
    async fn read_own(&self, key: &ApiKeyId, id: &RequestId) -> ApprovalResult<ApprovalRecord> {
        let (record, standing) = self.db.approval_with_key(id).await?.ok_or(ApprovalError::NotFound)?;
        // Each key sees only the requests it made.
        if &record.api_key_id != key {
            return Err(ApprovalError::NotFound);
        }
        match standing {
            KeyStanding::Live => Ok(record),
            // A denial carries no token: an agent that was waiting when its owner stopped every
            // agent (which suspends the key in the same transaction) learns it was denied.
            // Mostly waits already under way get here: a new read is refused at the door
            // (`http::extract::Agent`) unless this instance has not heard of the suspension yet.
            KeyStanding::Suspended(_) if record.status == Status::Denied => Ok(record),
            KeyStanding::Suspended(because) => Err(ApprovalError::KeySuspended(because)),
            KeyStanding::Revoked => Err(ApprovalError::KeyRevoked),
        }
    }

    /// Reads `key`'s request and, while it is pending, waits up to `limit` for it to change (a
    /// decision, its expiry, its key being revoked or suspended, or the server shutting down),
    /// then reads it again. A wake-up that changed nothing (every waiter is woken to re-read
    /// after the connection that hears other instances was lost) goes back to waiting for what
    /// is left of `limit`: only a change or the end of the wait answers PENDING's successor.
    pub async fn read_after_change(
        &self,
        key: &ApiKeyId,
        id: &RequestId,
        limit: Duration,
    ) -> ApprovalResult<ApprovalRecord> {
        let app = self;
        if limit.is_zero() {
            // Nothing to wait for: no waiter is registered.
            let record = self.own(key, id).await?;
            self.note_agent(&record, limit).await;
            return Ok(record);
        }
        let deadline = tokio::time::Instant::now() + limit;
        // Whoever sees this wait (a test, the metrics) sees it recorded: noted before it starts.
        let first = self.own(key, id).await?;
        if first.status_at(self.now()) != Status::Pending || app.events.is_closed() {
            return Ok(first);
        }
        self.note_agent(&first, limit).await;
        let _counted = self.waiting();
        // Registered before the next read: a decision or key change made in between still wakes us.
        let (waiter, key_waiter) = (app.events.waiter(id), app.events.key_waiter(key));
        loop {
            let (changed, key_changed) = (waiter.changed(), key_waiter.changed());
            tokio::pin!(changed, key_changed);
            changed.as_mut().enable();
            key_changed.as_mut().enable();
            let record = self.own(key, id).await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if record.status_at(self.now()) != Status::Pending || left.is_zero() || app.events.is_closed() {
                return Ok(record);
            }
            tokio::select! {
                () = changed => {}
                () = key_changed => {}
                () = tokio::time::sleep(wait_budget(&record, self.now(), left)) => {}
                () = app.events.closed() => {}
            }
        }
    }

    /// Records, in the database (so every instance sees it), that the agent read `record` now
    /// and waits `waits` more for its answer: the approve page says when no agent waits any
    /// longer. Throttled (see [`AGENT_NOTE_THROTTLE_MS`]); a failed write only loses the note.
    pub(crate) async fn note_agent(&self, record: &ApprovalRecord, waits: Duration) {
        let now = self.now();
        if record.status_at(now) != Status::Pending {
            return;
        }
        let waits = Millis::try_from(waits.as_millis()).unwrap_or(Millis::MAX);
        let until = now.saturating_add(waits).saturating_add(AGENT_GRACE_MS);
        if record.agent_waiting_until.is_some_and(|known| known >= until - AGENT_NOTE_THROTTLE_MS) {
            return;
        }
        if let Err(e) = self.db.note_agent(&record.id, now, until, AGENT_NOTE_THROTTLE_MS).await {
            tracing::warn!(request.id = %record.id, error = %e, "could not record that an agent reads a request");
        }
    }
}

/// Whether an agent is taken to be waiting for `record`'s answer as of `now`: it read the request
/// within [`AGENT_GRACE_MS`] or is in a wait; before its first read, within the grace after asking.
pub fn agent_waiting(record: &ApprovalRecord, now: Millis) -> bool {
    now < record.agent_waiting_until.unwrap_or(record.created_at.saturating_add(AGENT_GRACE_MS))
}

/// How long a pending request may still be waited on: `limit`, or less if it expires first.
fn wait_budget(record: &ApprovalRecord, now: Millis, limit: Duration) -> Duration {
    let until_expiry = u64::try_from(record.expires_at.saturating_sub(now).max(0)).unwrap_or(0);
    // One millisecond past expiry, so the expiry itself is what the agent sees.
    limit.min(Duration::from_millis(until_expiry + 1))
}
