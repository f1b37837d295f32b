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
pub mod decisions;
pub mod passkeys;
pub mod push;
pub mod secrets;
pub mod sessions;
pub mod tokens;
pub mod users;

use crate::config::{Backend, DatabaseSettings, redact_url};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is shutting down: the caller should answer 503.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A unique constraint refused the write.
    #[error("conflict on a unique value")]
    Conflict,
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
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
                // PostgreSQL classes 08 (connection) and 57P (shutdown); SQLite 5/6 (busy, locked).
                if code.starts_with("08") || code.starts_with("57P") || code == "5" || code == "6" {
                    StoreError::Unavailable(e)
                } else {
                    StoreError::Other(e)
                }
            }
            _ => StoreError::Other(e),
        }
    }
}

/// The database handle shared by every request.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects (creating the SQLite file and its folder if needed); does not migrate.
    pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        install_default_drivers();
        if settings.backend == Backend::Sqlite {
            create_sqlite_parent(&settings.url)?;
        }
        let backend = settings.backend;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .min_connections(0)
            // Fail fast when the database is gone, so callers answer 503 instead of hanging.
            .acquire_timeout(Duration::from_secs(3))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; FULL makes each commit durable
                        // before it is acknowledged, even across power loss.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA journal_size_limit = 67108864").await?;
                    }
                    Ok(())
                })
            })
            .connect(&settings.url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database at {}: {e}", redact_url(&settings.url)))?;
        Ok(Self { pool, backend })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.map_err(|e| anyhow::anyhow!("database migration failed: {e}"))
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

    /// Sends `payload` to every instance listening on `channel` (PostgreSQL only).
    pub async fn notify(&self, channel: &str, payload: &str) -> StoreResult<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// One round trip, for `/health`.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn create_sqlite_parent(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path.starts_with(':') {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| anyhow::anyhow!("cannot create the data folder {}: {e}", parent.display()))?;
        // A folder we create holds the database and its secrets: owner only.
        restrict_permissions(parent);
    }
    Ok(())
}

#[cfg(unix)]
fn restrict_permissions(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

#[cfg(not(unix))]
fn restrict_permissions(_dir: &std::path::Path) {}

/// Reads an optional i64 column the same way on both backends.
pub(crate) fn opt_i64(row: &sqlx::any::AnyRow, col: &str) -> StoreResult<Option<i64>> {
    use sqlx::Row;
    Ok(row.try_get::<Option<i64>, _>(col)?)
}
