//! SQLite's one writer, with group commit.
//!
//! SQLite lets one connection write at a time; several pooled connections that all write only
//! queue on its busy handler, sleeping. Instead one task owns the only write connection. It takes
//! every write waiting in its queue, runs them in one transaction (each inside a savepoint of its
//! own, so one that fails is undone alone), commits once with `synchronous=FULL`, and only then
//! answers each caller. One durable commit serves many writes: throughput rises with concurrency
//! while nothing is acknowledged before it is on disk.
//!
//! On PostgreSQL the same [`Db::write`](super::Db::write) runs each write in a transaction of its
//! own from the pool: PostgreSQL groups concurrent commits itself.

use super::{StoreError, StoreResult};
use crate::metrics::StoreStats;
use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Connection, Executor};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};

/// One statement, ready to run (its values bound).
pub type Statement = sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>;

/// Runs a single statement as a write of its own: `.execute(pool)` and `.fetch_all(pool)` for
/// statements that change something, so that on SQLite they too go through the one writer.
pub trait WriteStatement {
    fn written(self, db: &super::Db) -> BoxFuture<'static, StoreResult<sqlx::any::AnyQueryResult>>;
    /// For `… RETURNING`: the rows.
    fn written_rows(self, db: &super::Db) -> BoxFuture<'static, StoreResult<Vec<sqlx::any::AnyRow>>>;
}

impl WriteStatement for Statement {
    fn written(self, db: &super::Db) -> BoxFuture<'static, StoreResult<sqlx::any::AnyQueryResult>> {
        let db = db.clone();
        Box::pin(async move {
            db.write(Box::new(move |conn| Box::pin(async move { Ok(self.execute(conn).await?) }))).await
        })
    }

    fn written_rows(self, db: &super::Db) -> BoxFuture<'static, StoreResult<Vec<sqlx::any::AnyRow>>> {
        let db = db.clone();
        Box::pin(async move {
            db.write(Box::new(move |conn| Box::pin(async move { Ok(self.fetch_all(conn).await?) }))).await
        })
    }
}

/// Most writes one transaction takes: bounds how long the first of them waits for its commit.
pub(super) const MAX_BATCH: usize = 256;

/// How many writes may queue before callers wait to enqueue (backpressure, not failure).
const QUEUE: usize = 4096;

/// A write: statements run on the connection inside a transaction it does not manage.
pub type Work<T> = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, StoreResult<T>> + Send>;

pub(super) type Answer = Box<dyn FnOnce(StoreResult<()>) + Send>;

/// Opens the writer's connection (on the writer's own thread).
pub type Connect = Box<dyn FnOnce() -> BoxFuture<'static, anyhow::Result<AnyConnection>> + Send>;

/// Keeps the calling thread, and the threads it starts from now on, to the core it is running
/// on (different ones for different servers on one machine, most likely). Best effort: where
/// that is refused, the writer runs unpinned, only slower.
fn keep_to_one_core() {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
    let Ok(allowed) = sched_getaffinity(None) else { return };
    let here = sched_getcpu();
    if allowed.count() < 2 || !allowed.is_set(here) {
        return;
    }
    let mut one = CpuSet::new();
    one.set(here);
    if let Err(e) = sched_setaffinity(None, &one) {
        tracing::debug!("the database writer could not be kept to one core: {e}");
    }
}

/// A queued write, its result type erased.
pub(super) trait Job: Send {
    /// Runs the work; whether to keep it, and how to answer once the commit is known.
    fn run<'c>(self: Box<Self>, conn: &'c mut AnyConnection) -> BoxFuture<'c, (bool, Answer)>;
    /// Answers without running (the transaction could not start).
    fn fail(self: Box<Self>, e: StoreError);
}

pub(super) struct Typed<T> {
    pub(super) work: Work<T>,
    pub(super) reply: oneshot::Sender<StoreResult<T>>,
}

impl<T: Send + 'static> Job for Typed<T> {
    fn run<'c>(self: Box<Self>, conn: &'c mut AnyConnection) -> BoxFuture<'c, (bool, Answer)> {
        let Typed { work, reply } = *self;
        Box::pin(async move {
            let result = work(conn).await;
            let ok = result.is_ok();
            let answer: Answer = Box::new(move |committed| {
                let _ = reply.send(committed.and(result));
            });
            (ok, answer)
        })
    }

    fn fail(self: Box<Self>, e: StoreError) {
        let _ = self.reply.send(Err(e));
    }
}

#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
    /// Set by [`Writer::close`]: no write is taken any more.
    closing: watch::Sender<bool>,
    /// Answered (or dropped) when the writer's thread has closed the connection.
    stopped: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
}

impl Writer {
    /// Starts the writer on the connection `connect` opens, which must be the only one that
    /// writes.
    ///
    /// The writer gets an OS thread and a runtime of its own. Each write is a few round trips to
    /// the connection's own thread, one after another; as a task among the server's, the writer
    /// would wait behind every busy request at each of them (a wake-up from another thread lands
    /// in the runtime's shared queue). The connection is opened on the writer's thread after that
    /// thread is kept to one core, so the connection's thread (which inherits this) runs on the
    /// same core: each round trip is then a switch between two threads of one core, where waking
    /// an idle core costs tens of microseconds on a virtual machine.
    /// Each transaction's size and commit latency go to `stats`.
    pub async fn start(connect: Connect, stats: Arc<StoreStats>) -> anyhow::Result<Self> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let closing = watch::Sender::new(false);
        let (stopped_tx, stopped) = oneshot::channel();
        let (opened_tx, opened) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let until_closed = closing.subscribe();
        std::thread::Builder::new().name("sqlite-writer".to_owned()).spawn(move || {
            keep_to_one_core();
            runtime.block_on(async move {
                match connect().await {
                    Ok(conn) => {
                        let _ = opened_tx.send(Ok(()));
                        run(conn, jobs, until_closed, &stats).await;
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                    }
                }
            });
            let _ = stopped_tx.send(());
        })?;
        opened.await.map_err(|_| anyhow::anyhow!("the database writer's thread ended while opening"))??;
        Ok(Self { queue, closing, stopped: Arc::new(Mutex::new(Some(stopped))) })
    }

    /// Refuses further writes, lets the one in progress finish, and closes the connection.
    pub async fn close(&self) {
        self.closing.send_replace(true);
        let stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(stopped) = stopped {
            // An error only means the thread ended without saying so (it panicked): stopped too.
            let _ = stopped.await;
        }
    }

    /// Runs `work` in the next group transaction; answers once that transaction is committed
    /// (or with the error that undid `work`, or the commit's).
    pub async fn write<T: Send + 'static>(&self, work: Work<T>) -> StoreResult<T> {
        if *self.closing.borrow() {
            return Err(gone());
        }
        let (reply, answer) = oneshot::channel();
        self.queue.send(Box::new(Typed { work, reply })).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The writer has stopped (the server is shutting down).
fn gone() -> StoreError {
    StoreError::Unavailable(sqlx::Error::PoolClosed)
}

async fn run(
    mut conn: AnyConnection,
    mut jobs: mpsc::Receiver<Box<dyn Job>>,
    mut closing: watch::Receiver<bool>,
    stats: &StoreStats,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        tokio::select! {
            taken = jobs.recv_many(&mut batch, MAX_BATCH) => if taken == 0 { break },
            _ = closing.wait_for(|closing| *closing) => break,
        }
        // One round trip to the connection's thread begins the transaction and the first write's
        // savepoint; each write after that costs one more (see `run_batch`).
        let begun =
            conn.execute("BEGIN IMMEDIATE; SAVEPOINT one_write").await.map(|_| ()).map_err(StoreError::from);
        commit_batch(&mut conn, begun, &mut batch, stats).await;
    }
    // Writes queued after the close are refused, never left waiting.
    jobs.close();
    while let Ok(job) = jobs.try_recv() {
        job.fail(gone());
    }
    let _ = conn.close().await;
}

/// Runs `batch` in the transaction `begun` opened on `conn` (the first write's savepoint taken),
/// commits it and answers every write: each with its own error if it failed alone, all alike if
/// the transaction could not begin or commit. False if the connection may still be inside a
/// transaction (a rollback failed): it must not be used again.
pub(super) async fn commit_batch(
    conn: &mut AnyConnection,
    begun: StoreResult<()>,
    batch: &mut Vec<Box<dyn Job>>,
    stats: &StoreStats,
) -> bool {
    if let Err(e) = begun {
        let rolled_back = conn.execute("ROLLBACK").await.is_ok();
        for job in batch.drain(..) {
            job.fail(e.duplicate());
        }
        return rolled_back;
    }
    let writes = batch.len();
    let (answers, result) = match run_batch(conn, batch).await {
        Ok(answers) => {
            let started = std::time::Instant::now();
            let commit = conn.execute("COMMIT").await;
            stats.committed(writes, started.elapsed());
            (answers, commit.map(|_| ()).map_err(StoreError::from))
        }
        Err((answers, e)) => (answers, Err(e)),
    };
    // Whatever was left of the transaction goes; every write of it is refused alike.
    let clean = result.is_ok() || conn.execute("ROLLBACK").await.is_ok();
    for answer in answers {
        answer(result.as_ref().map(|_| ()).map_err(StoreError::duplicate));
    }
    clean
}

/// Runs each job in a savepoint of the open transaction (the first is taken with BEGIN). After a
/// job, one statement list ends its savepoint (kept, or rolled back and dropped) and takes the
/// next one's: a write costs its own statements plus one round trip. If a savepoint cannot be
/// taken or undone, what the transaction holds is unknown: the whole batch is refused.
async fn run_batch(
    conn: &mut AnyConnection,
    batch: &mut Vec<Box<dyn Job>>,
) -> Result<Vec<Answer>, (Vec<Answer>, StoreError)> {
    let mut answers = Vec::with_capacity(batch.len());
    let mut jobs = batch.drain(..).peekable();
    loop {
        let Some(job) = jobs.next() else { break };
        // A write that panics must not take the writer (and every later write) down with it: its
        // caller sees its reply dropped (503), and the batch is undone, since what the panic left
        // in the transaction is unknown.
        let (ok, answer) = match AssertUnwindSafe(job.run(conn)).catch_unwind().await {
            Ok(ran) => ran,
            Err(_) => {
                tracing::error!("a database write panicked; its batch is rolled back");
                let e = StoreError::Corrupt("a write in the same transaction failed unexpectedly".to_owned());
                jobs.for_each(|j| j.fail(e.duplicate()));
                return Err((answers, e));
            }
        };
        answers.push(answer);
        let next = jobs.peek().is_some();
        let between = match (ok, next) {
            (true, true) => "RELEASE one_write; SAVEPOINT one_write",
            (true, false) => "RELEASE one_write",
            (false, true) => "ROLLBACK TO one_write; RELEASE one_write; SAVEPOINT one_write",
            (false, false) => "ROLLBACK TO one_write; RELEASE one_write",
        };
        if let Err(e) = conn.execute(between).await {
            let e = StoreError::from(e);
            jobs.for_each(|j| j.fail(e.duplicate()));
            return Err((answers, e));
        }
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn memory_writer() -> (Writer, tempfile::TempDir) {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        let connect: Connect = Box::new(move || {
            Box::pin(async move {
                let mut conn = AnyConnection::connect(&url).await?;
                conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)").await?;
                Ok(conn)
            })
        });
        (Writer::start(connect, Arc::default()).await.expect("writer"), dir)
    }

    fn insert(n: i64) -> Work<()> {
        Box::new(move |conn| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (n) VALUES ($1)").bind(n).execute(conn).await?;
                Ok(())
            })
        })
    }

    fn count() -> Work<i64> {
        Box::new(|conn| {
            Box::pin(async move { Ok(sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(conn).await?) })
        })
    }

    #[tokio::test]
    async fn a_failed_write_is_undone_alone_and_the_others_commit() {
        let (writer, _dir) = memory_writer().await;
        // Sent together (usually one transaction, a savepoint each): the duplicate fails alone.
        let (a, b, c) =
            tokio::join!(writer.write(insert(1)), writer.write(insert(1)), writer.write(insert(2)));
        let failed = [a.is_err(), b.is_err(), c.is_err()].iter().filter(|f| **f).count();
        assert_eq!(failed, 1, "exactly the duplicate fails");
        assert_eq!(writer.write(count()).await.expect("count"), 2);
    }

    #[tokio::test]
    async fn a_write_that_panics_does_not_stop_the_writer() {
        let (writer, _dir) = memory_writer().await;
        let panics: Work<()> = Box::new(|_conn| Box::pin(async { panic!("a bug in a write") }));
        assert!(writer.write(panics).await.is_err(), "its caller is answered with an error");
        writer.write(insert(7)).await.expect("later writes still work");
        assert_eq!(writer.write(count()).await.expect("count"), 1);
        writer.close().await;
        assert!(writer.write(insert(8)).await.is_err(), "closed: writes are refused");
    }
}
