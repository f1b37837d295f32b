//! `clawgate restore PATH`: puts a backup in place of the SQLite database, never destroying data.
//!
//! In order, stopping at the first thing that does not hold (nothing is changed until step 4):
//! 1. the backup is an SQLite database that passes `PRAGMA integrity_check`, was made by clawgate
//!    (it has the migrations table) and is not migrated further than this binary knows;
//! 2. no process has the current database open. In WAL mode every open connection keeps a shared
//!    lock on the database file for as long as it is open (that is what stops one of them from
//!    leaving WAL mode under the others), and a running server always has its writer connection
//!    open. So restore opens the database in exclusive locking mode and asks for an exclusive
//!    transaction with a short busy timeout: refused means someone (a server, a `clawgate`
//!    command, a `sqlite3` shell) has it open, and restore stops;
//! 3. holding that lock, it leaves WAL mode, which folds the write-ahead log into the file;
//! 4. the current database is renamed to `clawgate.db.before-restore-<UTC time>` (kept, never
//!    deleted), the backup is copied beside it under a temporary name, made 0600, synced, checked
//!    again and renamed into place. The server sets WAL mode again when it starts.

use super::backup::{
    EXIT_USE_PG_TOOLS, inspect, partial_name, postgres_lines, seal, sqlite_file, sync_folder_of,
};
use crate::config::DatabaseArgs;
use crate::config::{Backend, DatabaseSettings};
use crate::store::files;
use crate::store::signing_keys::newest_known_migration;
use clap::Args;
use sqlx::sqlite::{SqliteConnectOptions, SqliteLockingMode};
use sqlx::{ConnectOptions, Connection, Executor};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

pub const RESTORE_AFTER_HELP: &str = "Exit codes:\n  0  restored\n  1  refused or failed (the current database is \
untouched, or kept as clawgate.db.before-restore-<time>)\n  3  PostgreSQL: nothing done; the pg_restore line \
to run is printed\n\n\
Stop every server using the database first: restore refuses while the database is open anywhere. The \
current database is never deleted: it is kept beside the new one as clawgate.db.before-restore-<time>.";

#[derive(Debug, Clone, Args)]
#[command(
    about = "Put a backup made by `clawgate backup` in place of the SQLite database (the current one is kept)",
    after_help = RESTORE_AFTER_HELP
)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,

    /// The backup file (made by `clawgate backup`).
    pub path: PathBuf,
}

/// How long to wait for a lock before concluding the database is in use.
const LOCK_WAIT: Duration = Duration::from_millis(500);

pub async fn run(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    crate::os::restrict_umask();
    let settings = DatabaseSettings::from_args(&args.db)?;
    if settings.backend == Backend::Postgres {
        let (_, restore) = postgres_lines(&settings.url, &args.path);
        println!("{restore}");
        super::say(
            "the database is PostgreSQL: clawgate does not restore it itself. Stop every server, then run the \
             line above on a dump made with `pg_dump --format=custom` (the password is shown as ***: give it \
             with PGPASSWORD or ~/.pgpass)",
        );
        return Ok(ExitCode::from(EXIT_USE_PG_TOOLS));
    }
    let target = sqlite_file(&settings)?;
    let backup = &args.path;
    anyhow::ensure!(backup.is_file(), "there is no backup file at {}", backup.display());
    let same = std::fs::canonicalize(backup).ok() == std::fs::canonicalize(&target).ok();
    anyhow::ensure!(!same, "{} is the database itself, not a backup of it", backup.display());

    // 1. The backup.
    let found = inspect(backup).await.map_err(|e| anyhow::anyhow!("refused, nothing was changed: {e:#}"))?;
    anyhow::ensure!(
        found.problems.is_empty(),
        "refused, nothing was changed: {} is damaged ({})",
        backup.display(),
        found.problems_in_words()
    );
    anyhow::ensure!(
        found.schema_version > 0,
        "refused, nothing was changed: {} is not a clawgate database (it has no migrations table)",
        backup.display()
    );
    anyhow::ensure!(
        !found.failed_migration,
        "refused, nothing was changed: {} holds a migration that failed half-way",
        backup.display()
    );
    let known = newest_known_migration(Backend::Sqlite);
    anyhow::ensure!(
        found.schema_version <= known,
        "refused, nothing was changed: {} was made by a newer clawgate (schema version {}; this one knows up to \
         {known}): restore it with that version",
        backup.display(),
        found.schema_version
    );

    // 2 to 4. The current database, if there is one.
    files::secure_before_open(&target)?;
    let kept = if target.exists() { Some(set_aside(&target).await?) } else { None };

    let partial = partial_name(&target, "restoring")?;
    if let Err(e) = put_in_place(backup, &partial, &target).await {
        let _ = std::fs::remove_file(&partial);
        let kept_note = match &kept {
            Some(k) => format!("; the database it was to replace is kept as {}", k.display()),
            None => String::new(),
        };
        anyhow::bail!("{e:#}{kept_note}");
    }
    println!("restored {} into {}: {}", backup.display(), target.display(), found.in_words());
    if let Some(k) = kept {
        println!("the database it replaced is kept as {}", k.display());
    }
    if found.schema_version < known {
        println!(
            "the backup's schema (version {}) is older than this clawgate's ({known}): the server migrates it when \
             it starts",
            found.schema_version
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Steps 2 to 4 for the current database: refuses if it is open anywhere, folds its log into
/// it and renames it aside. Returns its new name.
async fn set_aside(target: &Path) -> anyhow::Result<PathBuf> {
    let mut lock = SqliteConnectOptions::new()
        .filename(target)
        .create_if_missing(false)
        .locking_mode(SqliteLockingMode::Exclusive)
        .busy_timeout(LOCK_WAIT)
        .connect()
        .await
        .map_err(|e| in_use_or(e, target))?;
    let taken = async {
        lock.execute("BEGIN EXCLUSIVE").await?;
        lock.execute("ROLLBACK").await?;
        // Exclusive locking mode keeps the lock after the transaction. Leaving WAL mode folds
        // the log into the database file and removes it: one file to keep.
        lock.execute("PRAGMA journal_mode = DELETE").await?;
        Ok::<(), sqlx::Error>(())
    }
    .await;
    if let Err(e) = taken {
        let _ = lock.close().await;
        return Err(in_use_or(e, target));
    }
    let kept = before_restore_name(target)?;
    // Renamed while the lock is held: nobody can open the old file in between.
    let renamed = std::fs::rename(target, &kept);
    let _ = lock.close().await;
    renamed.map_err(|e| {
        anyhow::anyhow!("refused, nothing was changed: cannot rename {}: {e}", target.display())
    })?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let companion = with_suffix(target, suffix);
        if companion.exists() {
            std::fs::rename(&companion, with_suffix(&kept, suffix)).map_err(|e| {
                anyhow::anyhow!(
                    "cannot move {} beside {} ({e}); move it there by hand before starting the server",
                    companion.display(),
                    kept.display()
                )
            })?;
        }
    }
    sync_folder_of(target);
    Ok(kept)
}

fn in_use_or(e: sqlx::Error, target: &Path) -> anyhow::Error {
    let busy = match &e {
        sqlx::Error::Database(db) => {
            db.code().and_then(|c| c.parse::<i64>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6))
        }
        _ => false,
    };
    if busy {
        anyhow::anyhow!(
            "refused, nothing was changed: the database {} is in use (a clawgate server, or another program, \
             has it open). Stop every server using it, then restore again",
            target.display()
        )
    } else {
        anyhow::anyhow!("refused, nothing was changed: cannot lock {}: {e}", target.display())
    }
}

/// `clawgate.db.before-restore-20261206T051500Z` beside `target`, unique.
fn before_restore_name(target: &Path) -> anyhow::Result<PathBuf> {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let stamp = now.format(&format).map_err(|e| anyhow::anyhow!("cannot format the time: {e}"))?;
    let base = with_suffix(target, &format!(".before-restore-{stamp}"));
    if !base.exists() {
        return Ok(base);
    }
    (2..1000)
        .map(|n| with_suffix(&base, &format!("-{n}")))
        .find(|p| !p.exists())
        .ok_or_else(|| anyhow::anyhow!("too many earlier restores beside {}", target.display()))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Copies `backup` to `partial`, seals and checks it, and renames it to `target`.
async fn put_in_place(backup: &Path, partial: &Path, target: &Path) -> anyhow::Result<()> {
    std::fs::copy(backup, partial)
        .map_err(|e| anyhow::anyhow!("cannot copy {} beside the database: {e}", backup.display()))?;
    seal(partial)?;
    let copy = inspect(partial).await?;
    anyhow::ensure!(copy.problems.is_empty(), "the copy does not check out: {}", copy.problems_in_words());
    anyhow::ensure!(
        !target.exists(),
        "{} appeared while restoring (was a server started?): nothing replaced it",
        target.display()
    );
    std::fs::rename(partial, target)
        .map_err(|e| anyhow::anyhow!("cannot put the backup at {}: {e}", target.display()))?;
    sync_folder_of(target);
    Ok(())
}
