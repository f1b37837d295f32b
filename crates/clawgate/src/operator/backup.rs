//! `clawgate backup PATH`: a consistent copy of the SQLite database, taken while the server runs.
//!
//! SQLite: `VACUUM INTO` writes the copy from one read transaction, so it is the database as of
//! one instant however many writes run beside it (WAL lets them), and it is a plain, compact
//! database file. The copy is written beside PATH under a temporary name, made 0600, checked
//! (`PRAGMA integrity_check`) and only then renamed to PATH: a failed backup never leaves a
//! half-written file at PATH nor replaces an older one there.
//!
//! PostgreSQL: clawgate does not run `pg_dump` itself (it would need the password on a command
//! line, and the right client version); it prints the `pg_dump` and `pg_restore` lines to run.

use crate::config::DatabaseArgs;
use crate::config::{Backend, DatabaseSettings, redact_url};
use crate::store::files;
use clap::Args;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection, Row};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Exit code of `backup` and `restore` on PostgreSQL: nothing was done here; the lines to run
/// `pg_dump` or `pg_restore` are on stdout.
pub const EXIT_USE_PG_TOOLS: u8 = 3;

pub const BACKUP_AFTER_HELP: &str = "Exit codes:\n  0  the backup is written and checked\n  1  error (nothing is \
written at PATH)\n  3  PostgreSQL: nothing done; the pg_dump and pg_restore lines to run are printed\n\n\
SQLite: a consistent copy (VACUUM INTO) while the server keeps running; the copy is 0600 and \
checked with PRAGMA integrity_check before it is put at PATH.\n\
PostgreSQL: clawgate does not run pg_dump itself; it prints the line to run (password shown as ***; \
give it with PGPASSWORD or ~/.pgpass).";

#[derive(Debug, Clone, Args)]
#[command(
    about = "Copy the database to PATH, consistently, while the server runs (SQLite; prints the pg_dump line for PostgreSQL)",
    after_help = BACKUP_AFTER_HELP
)]
pub struct BackupArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,

    /// The file to write. Refused if it exists, unless --force.
    pub path: PathBuf,

    /// Replace PATH if it exists (only once the new copy is written and checked).
    #[arg(long)]
    pub force: bool,
}

/// What a look inside a database file found.
#[derive(Debug)]
pub struct Inspection {
    pub bytes: u64,
    /// `PRAGMA integrity_check`'s findings; empty when it says `ok`.
    pub problems: Vec<String>,
    /// The newest migration applied (0: none, not a clawgate database).
    pub schema_version: i64,
    /// A migration that started and did not finish.
    pub failed_migration: bool,
    /// Rows per table, by name.
    pub tables: Vec<(String, i64)>,
}

impl Inspection {
    /// "12 KiB, integrity ok, schema version 8, 9 tables with 41 rows (users 2, …)".
    pub fn in_words(&self) -> String {
        let rows: i64 = self.tables.iter().map(|(_, n)| n).sum();
        let filled: Vec<String> =
            self.tables.iter().filter(|(_, n)| *n > 0).map(|(t, n)| format!("{t} {n}")).collect();
        let integrity =
            if self.problems.is_empty() { "integrity ok".to_owned() } else { self.problems_in_words() };
        format!(
            "{}, {integrity}, schema version {}, {} tables with {rows} rows{}",
            size_in_words(self.bytes),
            self.schema_version,
            self.tables.len(),
            if filled.is_empty() { String::new() } else { format!(" ({})", filled.join(", ")) }
        )
    }

    pub fn problems_in_words(&self) -> String {
        let shown: Vec<&str> = self.problems.iter().take(3).map(String::as_str).collect();
        format!("integrity check failed: {}", shown.join("; "))
    }
}

pub fn size_in_words(bytes: u64) -> String {
    const KIB: u64 = 1024;
    match bytes {
        b if b < KIB => format!("{b} bytes"),
        b if b < KIB * KIB => format!("{:.1} KiB", b as f64 / KIB as f64),
        b => format!("{:.1} MiB", b as f64 / (KIB * KIB) as f64),
    }
}

/// The SQLite file the settings name, or why there is none.
pub fn sqlite_file(settings: &DatabaseSettings) -> anyhow::Result<PathBuf> {
    files::sqlite_path(&settings.url).ok_or_else(|| {
        anyhow::anyhow!("DATABASE_URL names an in-memory database: there is no file to back up or restore")
    })
}

/// A connection to an existing SQLite file, never creating one.
pub async fn open_existing(path: &Path, read_only: bool) -> anyhow::Result<SqliteConnection> {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(read_only)
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot open {} as an SQLite database: {e}", path.display()))
}

/// Checks the database at `path` and counts what it holds; never writes to it.
pub async fn inspect(path: &Path) -> anyhow::Result<Inspection> {
    let bytes =
        std::fs::metadata(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?.len();
    let mut conn = open_existing(path, true).await?;
    let result = inspect_open(&mut conn, bytes).await;
    let _ = conn.close().await;
    result.map_err(|e| anyhow::anyhow!("{} is not a readable SQLite database: {e}", path.display()))
}

async fn inspect_open(conn: &mut SqliteConnection, bytes: u64) -> Result<Inspection, sqlx::Error> {
    let findings: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&mut *conn).await?;
    let problems = if findings.len() == 1 && findings[0] == "ok" { Vec::new() } else { findings };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         AND name NOT LIKE '\\_sqlx%' ESCAPE '\\' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {quoted}")))
            .fetch_one(&mut *conn)
            .await?;
        tables.push((name, count));
    }
    let has_migrations: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *conn)
    .await?;
    let (schema_version, failed_migration) = if has_migrations > 0 {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) AS version, COALESCE(SUM(success = 0), 0) AS failed \
             FROM _sqlx_migrations",
        )
        .fetch_one(&mut *conn)
        .await?;
        (row.try_get::<i64, _>("version")?, row.try_get::<i64, _>("failed")? > 0)
    } else {
        (0, false)
    };
    Ok(Inspection { bytes, problems, schema_version, failed_migration, tables })
}

/// `'text'` for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c)) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The `pg_dump` line for `url` into `path`, and the `pg_restore` line that reads it back; the
/// password is shown as `***`.
pub fn postgres_lines(url: &str, path: &Path) -> (String, String) {
    // Always quoted: a URL may hold `&`, `?` and the `***` standing for the password.
    let url = format!("'{}'", redact_url(url).replace('\'', "'\\''"));
    let file = shell_quote(&path.display().to_string());
    (
        format!("pg_dump --format=custom --file={file} {url}"),
        format!("pg_restore --clean --if-exists --no-owner --dbname={url} {file}"),
    )
}

/// A name beside `target` for a file being written, unique to this run.
pub fn partial_name(target: &Path, what: &str) -> anyhow::Result<PathBuf> {
    let name = target
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("{} names no file", target.display()))?
        .to_string_lossy()
        .into_owned();
    let suffix = crate::domain::random::base62_string(8);
    Ok(files::folder_of(target).join(format!(".{name}.{what}-{suffix}")))
}

/// 0600, synced to disk.
pub fn seal(file: &Path) -> anyhow::Result<()> {
    crate::os::make_file_private(file)?;
    std::fs::File::open(file)
        .and_then(|f| f.sync_all())
        .map_err(|e| anyhow::anyhow!("cannot sync {} to disk: {e}", file.display()))
}

/// Syncs the folder holding `file`, so a rename into it survives a crash.
pub fn sync_folder_of(file: &Path) {
    if let Ok(dir) = std::fs::File::open(files::folder_of(file)) {
        let _ = dir.sync_all();
    }
}

pub async fn run(args: BackupArgs) -> anyhow::Result<ExitCode> {
    crate::os::restrict_umask();
    let settings = DatabaseSettings::from_args(&args.db)?;
    if settings.backend == Backend::Postgres {
        let (dump, restore) = postgres_lines(&settings.url, &args.path);
        println!("{dump}");
        super::say(&format!(
            "the database is PostgreSQL: clawgate does not back it up itself. Run the line above (the password \
             is shown as ***: give it with PGPASSWORD or ~/.pgpass). To restore it later, with every server \
             stopped:\n  {restore}"
        ));
        return Ok(ExitCode::from(EXIT_USE_PG_TOOLS));
    }
    let source = sqlite_file(&settings)?;
    anyhow::ensure!(
        source.is_file(),
        "there is no database at {}: set DATA_DIR or DATABASE_URL as the server has them",
        source.display()
    );
    let target = &args.path;
    anyhow::ensure!(!target.is_dir(), "{} is a folder: give the backup file's name", target.display());
    anyhow::ensure!(
        args.force || !target.exists(),
        "{} exists already: choose another name, or add --force to replace it",
        target.display()
    );
    let folder = files::folder_of(target);
    anyhow::ensure!(folder.is_dir(), "the folder {} does not exist: create it first", folder.display());
    let same = std::fs::canonicalize(&source).ok() == std::fs::canonicalize(target).ok();
    anyhow::ensure!(!same, "{} is the database itself: back it up to another file", target.display());

    let partial = partial_name(target, "partial")?;
    let written = copy_and_check(&source, &partial).await;
    let inspection = match written {
        Ok(i) => i,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    if let Err(e) = std::fs::rename(&partial, target) {
        let _ = std::fs::remove_file(&partial);
        anyhow::bail!("cannot put the backup at {}: {e}", target.display());
    }
    sync_folder_of(target);
    println!("backup written to {}: {}", target.display(), inspection.in_words());
    Ok(ExitCode::SUCCESS)
}

/// `VACUUM INTO` `partial`, then seal and check it.
async fn copy_and_check(source: &Path, partial: &Path) -> anyhow::Result<Inspection> {
    let into = partial
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("{} is not UTF-8: choose a plainer name", partial.display()))?;
    let mut conn = open_existing(source, false).await?;
    // The file name is a bound value, not SQL: no quoting to get wrong.
    let copied = sqlx::query("VACUUM INTO ?").bind(into.to_owned()).execute(&mut conn).await;
    let _ = conn.close().await;
    copied.map_err(|e| anyhow::anyhow!("cannot copy {}: {e}", source.display()))?;
    seal(partial)?;
    let inspection = inspect(partial).await?;
    anyhow::ensure!(
        inspection.problems.is_empty(),
        "the copy does not check out ({}); nothing was written",
        inspection.problems_in_words()
    );
    Ok(inspection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_lines_hide_the_password_and_quote_for_the_shell() {
        let (dump, restore) =
            postgres_lines("postgres://gate:s3cret@db.example/gate", Path::new("/backups/it's.dump"));
        assert!(!dump.contains("s3cret") && !restore.contains("s3cret"));
        assert_eq!(
            dump,
            "pg_dump --format=custom --file='/backups/it'\\''s.dump' 'postgres://gate:***@db.example/gate'"
        );
        assert!(
            restore.starts_with("pg_restore --clean --if-exists --no-owner --dbname='postgres://gate:***@")
        );
    }

    #[test]
    fn sizes_read_as_words() {
        assert_eq!(size_in_words(512), "512 bytes");
        assert_eq!(size_in_words(2048), "2.0 KiB");
        assert_eq!(size_in_words(3 * 1024 * 1024), "3.0 MiB");
    }
}
