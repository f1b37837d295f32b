//! PostgreSQL: the writes that append to one account's chain of receipts, committed in groups.
//!
//! A receipt is written in the transaction of the change it records, and appends to one chain
//! are serialised: the chain's head row stays locked until that transaction commits. Committed
//! one by one, an account's changes would then wait for each other's disk flush, and one busy
//! account (a gate answering a thousand calls a second) would queue on its own head until the
//! pool ran out. So, as SQLite's one writer does for every write, this instance runs the writes
//! waiting for one account in one transaction (each in a savepoint of its own, so one that fails
//! is undone alone), flushed once; other accounts' groups commit beside it.
//!
//! Each group locks its account's head first, before any write of it runs. Every write that
//! appends to an account's chain goes through here, so every transaction that holds a head took
//! it before any other row of that account: no two transactions can lock a head and a request or
//! grant crosswise (a group of several writes would otherwise hold the head from its first write
//! while a later one waits for a row another instance's group holds on its way to the head).

use super::receipts::{KnownHead, LOCKED_HEAD};
use super::writer::{Answer, Job, MAX_BATCH, Typed, Work, commit_batch};
use super::{StoreError, StoreResult};
use crate::domain::ids::UserId;
use crate::metrics::StoreStats;
use futures::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool, Executor, Row};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The groups being committed, by account.
pub struct ChainWriter {
    pool: AnyPool,
    stats: Arc<StoreStats>,
    /// Writes waiting, by account. An account is here while a task commits its groups: a write
    /// that finds it here joins the next group; one that does not starts the task.
    waiting: Mutex<HashMap<UserId, Vec<Box<dyn Job>>>>,
}

impl std::fmt::Debug for ChainWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let accounts = self.waiting.lock().map(|w| w.len()).unwrap_or_default();
        f.debug_struct("ChainWriter").field("accounts_committing", &accounts).finish()
    }
}

impl ChainWriter {
    pub fn new(pool: AnyPool, stats: Arc<StoreStats>) -> Arc<Self> {
        Arc::new(Self { pool, stats, waiting: Mutex::default() })
    }

    /// Runs `work` in the next group transaction of `user`'s chain; answers once that
    /// transaction is committed (or with the error that undid `work`, or the commit's). The group
    /// is committed by a task of its own: a caller that gives up waiting does not undo it.
    pub async fn write<T: Send + 'static>(self: &Arc<Self>, user: &UserId, work: Work<T>) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Typed { work, reply });
        let first = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            match waiting.get_mut(user) {
                Some(jobs) => {
                    jobs.push(job);
                    false
                }
                None => {
                    waiting.insert(user.clone(), vec![job]);
                    true
                }
            }
        };
        if first {
            let committer = Committer { chains: self.clone(), user: user.clone(), finished: false };
            tokio::spawn(committer.run());
        }
        answer.await.map_err(|_| StoreError::Unavailable(sqlx::Error::WorkerCrashed))?
    }

    /// Up to [`MAX_BATCH`] of `user`'s waiting writes; none (and the account is let go, so the
    /// next write starts a task again) when none wait.
    fn next_group(&self, user: &UserId) -> Vec<Box<dyn Job>> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let Some(jobs) = waiting.get_mut(user) else { return Vec::new() };
        if jobs.is_empty() {
            waiting.remove(user);
            return Vec::new();
        }
        let rest = jobs.split_off(jobs.len().min(MAX_BATCH));
        std::mem::replace(jobs, rest)
    }
}

/// The task that commits one account's groups while writes for it keep coming.
struct Committer {
    chains: Arc<ChainWriter>,
    user: UserId,
    /// Set when the task let the account go itself: otherwise (it panicked) dropping it does.
    finished: bool,
}

impl Committer {
    async fn run(mut self) {
        loop {
            let group = self.chains.next_group(&self.user);
            if group.is_empty() {
                self.finished = true;
                return;
            }
            let mut conn = match self.chains.pool.acquire().await {
                Ok(conn) => conn,
                Err(e) => {
                    let e = StoreError::from(e);
                    group.into_iter().for_each(|job| job.fail(e.duplicate()));
                    continue;
                }
            };
            let (begun, mut group) = match begin(&mut conn, &self.user).await {
                Ok(head) => {
                    let head = Arc::new(Mutex::new(head));
                    (Ok(()), group.into_iter().map(|job| WithHead::wrap(job, &head)).collect())
                }
                Err(e) => (Err(e), group),
            };
            if !commit_batch(&mut conn, begun, &mut group, &self.chains.stats).await {
                // It may still be inside the transaction: never handed to another caller.
                conn.close_on_drop();
            }
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The task ended without letting the account go: refuse what waits and let it go, so
        // later writes start a task of their own instead of waiting for nobody.
        let left = self.chains.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.user);
        for job in left.into_iter().flatten() {
            job.fail(StoreError::Corrupt("a write in the same transaction failed unexpectedly".to_owned()));
        }
    }
}

/// Begins a group's transaction: the account's head locked first (see the module's notes), then
/// the first write's savepoint; the head as it was locked. An account without a head yet (its
/// first receipt is in this group) has nothing to lock: its first append creates the head, and the
/// receipts' key refuses a second first receipt.
async fn begin(conn: &mut AnyConnection, user: &UserId) -> StoreResult<Option<KnownHead>> {
    conn.execute("BEGIN").await?;
    let head = sqlx::query("SELECT seq, head FROM chain_heads WHERE user_id = $1 FOR UPDATE")
        .bind(user.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    conn.execute("SAVEPOINT one_write").await?;
    let Some(head) = head else { return Ok(None) };
    let seq: i64 = head.try_get("seq")?;
    let seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("chain head at seq {seq}")))?;
    Ok(Some(KnownHead { user: user.clone(), seq, hash: head.try_get("head")? }))
}

/// A write of a group, run where its appends find the head the group holds
/// ([`LOCKED_HEAD`]); if it fails (its savepoint is rolled back), the head is put back as it was
/// before it.
struct WithHead {
    job: Box<dyn Job>,
    head: Arc<Mutex<Option<KnownHead>>>,
}

impl WithHead {
    fn wrap(job: Box<dyn Job>, head: &Arc<Mutex<Option<KnownHead>>>) -> Box<dyn Job> {
        Box::new(Self { job, head: head.clone() })
    }
}

impl Job for WithHead {
    fn run<'c>(self: Box<Self>, conn: &'c mut AnyConnection) -> BoxFuture<'c, (bool, Answer)> {
        let WithHead { job, head } = *self;
        Box::pin(async move {
            let before = head.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let (ok, answer) = LOCKED_HEAD.scope(head.clone(), job.run(conn)).await;
            if !ok {
                *head.lock().unwrap_or_else(|p| p.into_inner()) = before;
            }
            (ok, answer)
        })
    }

    fn fail(self: Box<Self>, e: StoreError) {
        self.job.fail(e);
    }
}
