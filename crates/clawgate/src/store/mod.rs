//! Storage: one set of SQL statements for SQLite and PostgreSQL through sqlx's `Any` driver.
//!
//! Portable SQL only: `$N` placeholders, `RETURNING`, TEXT identifiers and JSON, BIGINT
//! milliseconds. Every acknowledged change is committed (SQLite: WAL with `synchronous=FULL`)
//! before the HTTP response leaves. State transitions are single conditional statements, so a
//! race between instances can never decide a request twice.

pub mod api_keys;
pub mod approvals;
pub mod audit;
pub mod ceremonies;
pub mod chain_writer;
pub mod decision_log;
pub mod decisions;
pub mod files;
pub mod gate;
pub mod grants;
pub mod key_cache;
pub mod passkeys;
pub mod pruning;
pub mod push;
pub mod receipts;
pub mod rules;
pub mod secrets;
pub mod sessions;
pub mod signing_keys;
pub mod stop;
pub mod tokens;
pub mod users;
pub mod writer;

use crate::clock::Millis;
use crate::config::{Backend, DatabaseSettings, redact_url};
use crate::domain::ids::{ApiKeyId, UserId};
use crate::events::{
    ApprovalEvent, DECISION_EVENTS_CHANNEL, DecisionEvent, EVENTS_CHANNEL, KEY_EVENTS_CHANNEL, KeyEvent,
    SIGNING_KEYS_CHANNEL,
};
use crate::startup_errors::cannot_open_database;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, Connection, Executor};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use writer::{Work, Writer};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is shutting down: the caller should answer 503.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database's disk is full: writes fail until space is freed (503, not 500).
    #[error("the database's storage is full: {0}")]
    Full(#[source] sqlx::Error),
    /// A unique constraint refused the write.
    #[error("conflict on a unique value")]
    Conflict,
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A step the caller runs inside the transaction failed (signing a token); nothing is kept.
    #[error("{0}")]
    Aborted(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The same error, as one more value: one failed commit answers every write it carried.
    pub fn duplicate(&self) -> StoreError {
        let copy = |e: &sqlx::Error| sqlx::Error::Protocol(e.to_string());
        match self {
            StoreError::Unavailable(e) => StoreError::Unavailable(copy(e)),
            StoreError::Full(e) => StoreError::Full(copy(e)),
            StoreError::Conflict => StoreError::Conflict,
            StoreError::Other(e) => StoreError::Other(copy(e)),
            StoreError::Corrupt(s) => StoreError::Corrupt(s.clone()),
            StoreError::Aborted(s) => StoreError::Aborted(s.clone()),
        }
    }
}

/// What a database error means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Try again shortly (connection lost, busy, shutting down).
    Unavailable,
    /// No space left for writes.
    Full,
    Other,
}

/// Classifies a database error code: SQLite result codes (an extended code carries its
/// primary code in the low byte: 517 SQLITE_BUSY_SNAPSHOT is 5 SQLITE_BUSY) or SQLSTATEs.
pub fn classify_code(backend: Backend, code: &str) -> ErrorClass {
    match backend {
        Backend::Sqlite => match code.parse::<i64>().map(|c| c & 0xff) {
            // SQLITE_BUSY, SQLITE_LOCKED
            Ok(5 | 6) => ErrorClass::Unavailable,
            // SQLITE_FULL
            Ok(13) => ErrorClass::Full,
            _ => ErrorClass::Other,
        },
        Backend::Postgres => match code {
            // disk_full
            "53100" => ErrorClass::Full,
            // out_of_memory and too_many_connections pass; so do classes 08 (connection) and
            // 57P (shutdown).
            "53200" | "53300" => ErrorClass::Unavailable,
            c if c.starts_with("08") || c.starts_with("57P") => ErrorClass::Unavailable,
            _ => ErrorClass::Other,
        },
    }
}

fn backend_of(db: &dyn sqlx::error::DatabaseError, code: &str) -> Backend {
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        Backend::Sqlite
    } else if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() || code.len() == 5 {
        // SQLSTATEs are five characters; SQLite codes are numbers below 10,000.
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => StoreError::Full(e),
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) => {
                if db.is_unique_violation() {
                    return StoreError::Conflict;
                }
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                match classify_code(backend_of(db.as_ref(), &code), &code) {
                    ErrorClass::Unavailable => StoreError::Unavailable(e),
                    ErrorClass::Full => StoreError::Full(e),
                    ErrorClass::Other => StoreError::Other(e),
                }
            }
            _ => StoreError::Other(e),
        }
    }
}

/// Tells other instances of a change (PostgreSQL NOTIFY) as part of the transaction that makes
/// it: delivered when that commits, never without it, and never lost to a failure of its own.
#[derive(Debug, Clone)]
pub(crate) struct Announcer {
    backend: Backend,
    instance_id: Arc<str>,
}

impl Announcer {
    pub(crate) async fn approval(&self, conn: &mut AnyConnection, event: &ApprovalEvent) -> StoreResult<()> {
        self.send(conn, EVENTS_CHANNEL, event.to_wire(&self.instance_id)).await
    }

    /// Tells other instances of `event`, committed already, by a NOTIFY of its own (in the
    /// background; a failure is logged).
    pub(crate) fn approval_after_commit(&self, pool: AnyPool, event: ApprovalEvent) {
        if self.backend != Backend::Postgres {
            return;
        }
        let payload = event.to_wire(&self.instance_id);
        tokio::spawn(async move {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(EVENTS_CHANNEL)
                .bind(payload)
                .execute(&pool)
                .await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "could not tell other instances of a new request");
            }
        });
    }

    /// What tells other instances of a decision the gate made alone (see
    /// [`DECISION_EVENTS_CHANNEL`]): the channel and the message, for a statement that sends it
    /// with the decision's own writes (PostgreSQL); `None` where there is no one to tell (SQLite).
    pub(crate) fn decision_message(&self, event: &DecisionEvent) -> Option<(&'static str, String)> {
        (self.backend == Backend::Postgres)
            .then(|| (DECISION_EVENTS_CHANNEL, event.to_wire(&self.instance_id)))
    }

    pub(crate) async fn key(&self, conn: &mut AnyConnection, event: &KeyEvent) -> StoreResult<()> {
        self.send(conn, KEY_EVENTS_CHANNEL, event.to_wire(&self.instance_id)).await
    }

    /// Tells other instances that the signing key `kid` was revoked: they reload their keys.
    pub(crate) async fn signing_key_revoked(&self, conn: &mut AnyConnection, kid: &str) -> StoreResult<()> {
        let payload = serde_json::json!({ "instance": &*self.instance_id, "revoked": kid }).to_string();
        self.send(conn, SIGNING_KEYS_CHANNEL, payload).await
    }

    async fn send(&self, conn: &mut AnyConnection, channel: &str, payload: String) -> StoreResult<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel.to_owned())
                .bind(payload)
                .execute(conn)
                .await?;
        }
        Ok(())
    }
}

/// The database handle shared by every request.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite database file, when that is the backend.
    sqlite_file: Option<PathBuf>,
    /// Set while writes fail for lack of space, for `/health`.
    out_of_space: Arc<AtomicBool>,
    /// SQLite's one writer (group commit); `None` on PostgreSQL, whose pool writes.
    writer: Option<Writer>,
    /// PostgreSQL: each account's appends to its chain, committed in groups; `None` on SQLite,
    /// whose one writer groups every write.
    chain_writer: Option<Arc<chain_writer::ChainWriter>>,
    /// Names this instance in what it announces to others, so it can ignore its own.
    instance_id: Arc<str>,
    /// API keys' last use, not yet written (see `Db::last_used`).
    last_use: Arc<std::sync::Mutex<std::collections::HashMap<ApiKeyId, Millis>>>,
    /// Live API keys by HMAC (see `key_cache`).
    pub(crate) keys: Arc<key_cache::KeyCache>,
    /// PostgreSQL lets this role write a message into its log (`pg_logical_emit_message`): a
    /// create may then commit asynchronously and wait for the flush after (see `approvals`).
    flush_barrier: bool,
    /// Writes per transaction and commit latency, for `/metrics`.
    stats: Arc<crate::metrics::StoreStats>,
}

/// Free space below which `/health` keeps reporting a full disk after a write failed for
/// lack of it: a few transactions' worth of 4 KiB pages.
const SPACE_HEADROOM_BYTES: u64 = 256 * 1024;

/// WAL lets readers run beside the writer; FULL makes each commit durable before it is
/// acknowledged, even across power loss.
async fn sqlite_pragmas(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA synchronous = FULL").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA busy_timeout = 5000").await?;
    conn.execute("PRAGMA journal_size_limit = 67108864").await?;
    Ok(())
}

/// Whether this role may write a message into PostgreSQL's log, the barrier that waits for an
/// asynchronous commit to reach the disk. Some hosted services refuse it; creates then commit
/// durably in their own statement, only slower with one busy key.
async fn flush_barrier_works(pool: &AnyPool) -> bool {
    match sqlx::query(FLUSH_BARRIER).execute(pool).await {
        Ok(_) => true,
        Err(e) => {
            tracing::info!("creates commit durably one by one: pg_logical_emit_message is refused ({e})");
            false
        }
    }
}

/// A transactional message into PostgreSQL's log, committed durably: its flush carries every
/// commit of this session before it.
pub(crate) const FLUSH_BARRIER: &str = "SELECT pg_logical_emit_message(true, 'clawgate', 'flushed')::text";

async fn open_writer(url: &str) -> anyhow::Result<AnyConnection> {
    let mut conn =
        AnyConnection::connect(url).await.map_err(|e| cannot_open_database(&redact_url(url), &e))?;
    sqlite_pragmas(&mut conn).await?;
    Ok(conn)
}

impl Db {
    /// Connects (creating the SQLite file and its folder if needed); does not migrate.
    pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        install_default_drivers();
        let sqlite_file =
            if settings.backend == Backend::Sqlite { files::sqlite_path(&settings.url) } else { None };
        if let Some(file) = &sqlite_file {
            files::secure_before_open(file)?;
        }
        let backend = settings.backend;
        if backend == Backend::Postgres {
            // One connection first: a pool that cannot connect says only "pool timed out".
            let probe = tokio::time::timeout(Duration::from_secs(10), AnyConnection::connect(&settings.url))
                .await
                .unwrap_or(Err(sqlx::Error::PoolTimedOut))
                .map_err(|e| cannot_open_database(&redact_url(&settings.url), &e))?;
            let _ = probe.close().await;
        }
        let pool = AnyPoolOptions::new()
            // PostgreSQL groups the commits of concurrent transactions into one flush: enough
            // connections let it (per instance; mind the server's max_connections).
            .max_connections(if backend == Backend::Sqlite { 8 } else { 32 })
            .min_connections(0)
            // Fail fast when the database is gone, so callers answer 503 instead of hanging.
            .acquire_timeout(Duration::from_secs(3))
            // A connection that died is found by the query that uses it (and answered 503), not by
            // a round trip before every checkout.
            .test_before_acquire(false)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlite_pragmas(conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&settings.url)
            .await
            .map_err(|e| cannot_open_database(&redact_url(&settings.url), &e))?;
        let stats = Arc::new(crate::metrics::StoreStats::default());
        let writer = match &sqlite_file {
            Some(_) => {
                let url = settings.url.clone();
                let connect: writer::Connect =
                    Box::new(move || Box::pin(async move { open_writer(&url).await }));
                Some(Writer::start(connect, stats.clone()).await?)
            }
            None => None,
        };
        if let Some(file) = &sqlite_file {
            // Opening created the -wal and -shm files.
            files::secure_files(file)?;
        }
        let chain_writer = match backend {
            Backend::Postgres => Some(chain_writer::ChainWriter::new(pool.clone(), stats.clone())),
            Backend::Sqlite => None,
        };
        let instance_id = crate::domain::random::base62_string(16).into();
        let flush_barrier = backend == Backend::Postgres && flush_barrier_works(&pool).await;
        Ok(Self {
            pool,
            backend,
            sqlite_file,
            out_of_space: Arc::default(),
            writer,
            chain_writer,
            instance_id,
            last_use: Arc::default(),
            keys: Arc::default(),
            flush_barrier,
            stats,
        })
    }

    /// See the field: whether a create may commit asynchronously and then wait for the flush.
    pub(crate) fn flush_barrier(&self) -> bool {
        self.flush_barrier
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.map_err(|e| anyhow::anyhow!("database migration failed: {e}"))
    }

    /// Writes per transaction and commit latency (see [`crate::metrics::StoreStats`]).
    pub fn store_stats(&self) -> &crate::metrics::StoreStats {
        &self.stats
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The database server's clock (PostgreSQL only; SQLite has no clock of its own).
    pub async fn database_time_ms(&self) -> StoreResult<Option<i64>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let ms: i64 = sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(ms))
    }

    /// Runs `work` in a transaction and commits it: on SQLite in the writer's next group commit,
    /// on PostgreSQL in a transaction of its own. An error undoes everything `work` did.
    pub async fn write<T: Send + 'static>(&self, work: Work<T>) -> StoreResult<T> {
        if let Some(writer) = &self.writer {
            return writer.write(work).await;
        }
        let mut tx = self.pool.begin().await?;
        match work(&mut tx).await {
            Ok(done) => {
                let started = std::time::Instant::now();
                let committed = tx.commit().await;
                self.stats.committed(1, started.elapsed());
                committed?;
                Ok(done)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    /// Runs `work`, which appends to `user`'s chain of receipts (and to no other), in a
    /// transaction and commits it: on SQLite as [`Db::write`] does; on PostgreSQL in the next
    /// group commit of that account's appends on this instance (see [`chain_writer`]). Every
    /// write that appends to one account's chain must come here.
    pub async fn write_in_chain<T: Send + 'static>(&self, user: &UserId, work: Work<T>) -> StoreResult<T> {
        match &self.chain_writer {
            Some(chains) => chains.write(user, work).await,
            None => self.write(work).await,
        }
    }

    /// This instance's name in its announcements.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// What announces this instance's changes to the others, inside the writes that make them.
    pub(crate) fn announcer(&self) -> Announcer {
        Announcer { backend: self.backend, instance_id: self.instance_id.clone() }
    }

    /// One round trip, for `/health`.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }

    /// Writes are failing for lack of space (seen by the HTTP layer on a `storage_full` answer).
    pub fn note_out_of_space(&self) {
        if !self.out_of_space.swap(true, Ordering::Relaxed) {
            tracing::error!("the database cannot take writes: its disk is full. Free space on it");
        }
    }

    /// A write succeeded: whatever space problem there was is over.
    pub fn note_write_succeeded(&self) {
        if self.out_of_space.swap(false, Ordering::Relaxed) {
            tracing::warn!("the database takes writes again");
        }
    }

    /// Whether writes failed for lack of space and none has succeeded since. While they do,
    /// a probe write (and, on SQLite, a look at the free space) checks whether that is over.
    pub async fn out_of_space(&self) -> bool {
        if !self.out_of_space.load(Ordering::Relaxed) {
            return false;
        }
        // SQLite reuses space its write-ahead log already holds, so a small write can pass
        // while larger ones fail: ask the file system too.
        if let Some(file) = &self.sqlite_file
            && crate::os::free_bytes(&files::folder_of(file)).is_some_and(|free| free < SPACE_HEADROOM_BYTES)
        {
            return true;
        }
        // Rewrites one row as it is: a real write that changes nothing.
        let probe = sqlx::query(
            "UPDATE server_secrets SET created_at = created_at \
             WHERE name = (SELECT MIN(name) FROM server_secrets)",
        )
        .execute(&self.pool)
        .await;
        match probe.map_err(StoreError::from) {
            Ok(_) => {
                self.note_write_succeeded();
                false
            }
            Err(StoreError::Full(_)) => true,
            // Another failure is for /health's ping to report, not a space problem.
            Err(_) => false,
        }
    }
}

/// Reads an optional i64 column the same way on both backends.
pub(crate) fn opt_i64(row: &sqlx::any::AnyRow, col: &str) -> StoreResult<Option<i64>> {
    use sqlx::Row;
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_busy_and_locked_extended_codes_are_unavailable() {
        // SQLITE_BUSY, _RECOVERY (261), _SNAPSHOT (517), _TIMEOUT (773); SQLITE_LOCKED,
        // _SHAREDCACHE (262), _VTAB (518).
        for code in ["5", "261", "517", "773", "6", "262", "518"] {
            assert_eq!(classify_code(Backend::Sqlite, code), ErrorClass::Unavailable, "SQLite code {code}");
        }
        // SQLITE_IOERR_WRITE (778) and SQLITE_CONSTRAINT_CHECK (275) are not "try again".
        for code in ["778", "275", "1", "x"] {
            assert_eq!(classify_code(Backend::Sqlite, code), ErrorClass::Other, "SQLite code {code}");
        }
    }

    #[test]
    fn a_full_disk_is_classified_as_full_on_both_backends() {
        assert_eq!(classify_code(Backend::Sqlite, "13"), ErrorClass::Full);
        assert_eq!(classify_code(Backend::Postgres, "53100"), ErrorClass::Full);
        for code in ["53200", "53300", "08006", "57P01"] {
            assert_eq!(classify_code(Backend::Postgres, code), ErrorClass::Unavailable, "SQLSTATE {code}");
        }
        // A SQLSTATE is never read as a SQLite number (22005 & 0xff is 245; 00013 would be 13).
        for code in ["22005", "00013", "23505", "53400"] {
            assert_eq!(classify_code(Backend::Postgres, code), ErrorClass::Other, "SQLSTATE {code}");
        }
    }
}
