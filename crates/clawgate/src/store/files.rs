//! The SQLite database's files hold every server secret (session key, API-key HMAC key,
//! signing seed, VAPID key): they and their folder are for the server's user only, checked at
//! every start, not only when the folder is new.

use crate::os::{self, FolderAccess};
use std::path::{Path, PathBuf};

/// The database file a `sqlite:` URL names; `None` for an in-memory database.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:").split('?').next()?;
    if path.is_empty() || path.starts_with(':') {
        return None;
    }
    Some(PathBuf::from(path))
}

/// The folder holding `db` (the working directory for a bare file name).
pub fn folder_of(db: &Path) -> PathBuf {
    match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Before opening: creates the folder (0700) if missing, or closes an existing one to other
/// users (refusing if it is someone else's), and makes the files already there 0600. Only a
/// folder that holds nothing but the database is changed: a shared one (the working directory,
/// a home, /tmp) keeps its mode, since the files themselves are private, and a warning says so.
pub fn secure_before_open(db: &Path) -> anyhow::Result<()> {
    let dir = folder_of(db);
    if !dir.exists() {
        std::fs::create_dir_all(&dir).map_err(|e| crate::startup_errors::cannot_create_folder(&dir, &e))?;
    }
    if !holds_only_the_database(&dir, db) {
        if os::others_can_enter(&dir) {
            tracing::warn!(
                folder = %dir.display(),
                "the database's folder holds other files and is open to other users; its files are kept 0600, \
                 but give the database a folder of its own (DATA_DIR) so clawgate can close it"
            );
        }
        return secure_files(db);
    }
    if let FolderAccess::Fixed(mode) = os::make_folder_private(&dir)? {
        tracing::warn!(
            folder = %dir.display(),
            was = %format!("{mode:o}"),
            "the data folder could be read by other users; fixed it to 0700 (it holds the database and its secrets)"
        );
    }
    secure_files(db)
}

/// Whether every entry of `dir` is the database or one of its companion files.
fn holds_only_the_database(dir: &Path, db: &Path) -> bool {
    let Some(name) = db.file_name().map(|n| n.to_string_lossy().into_owned()) else { return false };
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.filter_map(Result::ok).all(|entry| {
        let entry = entry.file_name().to_string_lossy().into_owned();
        ["", "-wal", "-shm", "-journal"].iter().any(|suffix| entry == format!("{name}{suffix}"))
    })
}

/// The database and its `-wal` and `-shm` companions, 0600. Run again once they are open:
/// SQLite creates the companions with the database file's mode.
pub fn secure_files(db: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        os::make_file_private(Path::new(&name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite://./data/clawgate.db?mode=rwc"), Some("./data/clawgate.db".into()));
        assert_eq!(sqlite_path("sqlite:clawgate.db"), Some("clawgate.db".into()));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(folder_of(Path::new("clawgate.db")), PathBuf::from("."));
        assert_eq!(folder_of(Path::new("/srv/gate/clawgate.db")), PathBuf::from("/srv/gate"));
    }

    #[test]
    fn only_a_folder_of_the_database_alone_is_its_own() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("clawgate.db");
        assert!(holds_only_the_database(dir.path(), &db), "an empty folder");
        for companion in ["clawgate.db", "clawgate.db-wal", "clawgate.db-shm"] {
            std::fs::write(dir.path().join(companion), b"")?;
        }
        assert!(holds_only_the_database(dir.path(), &db));
        std::fs::write(dir.path().join("notes.txt"), b"")?;
        assert!(!holds_only_the_database(dir.path(), &db), "a folder shared with other files");
        Ok(())
    }
}
