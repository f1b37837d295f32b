//! A person's requests, listed: those pending now, and all of them a page at a time.

use super::{ApprovalResult, Approvals};
use crate::clock::Millis;
use crate::domain::approval::Status;
use crate::domain::ids::UserId;
use crate::store::approvals::ApprovalRecord;

impl Approvals {
    /// `user`'s requests pending at `now`, newest first.
    pub async fn pending_of(&self, user: &UserId, now: Millis) -> ApprovalResult<Vec<ApprovalRecord>> {
        Ok(self.db.pending_of(user, now).await?)
    }

    /// At most `limit` of `user`'s requests (only of `status`, if given), newest first, from
    /// just before `before` (the creation time and id of the last one already seen).
    pub async fn history_of(
        &self,
        user: &UserId,
        status: Option<Status>,
        before: Option<(Millis, &str)>,
        limit: i64,
    ) -> ApprovalResult<Vec<ApprovalRecord>> {
        // Lapsed requests are recorded as expired first, so the status filter is exact.
        self.expire_lapsed(Some(user)).await?;
        Ok(self.db.history_of(user, status, before, limit).await?)
    }
}
