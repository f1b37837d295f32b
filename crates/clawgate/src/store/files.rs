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
/// users (refusing if it is someone else's), and makes the files already there 0600.
pub fn secure_before_open(db: &Path) -> anyhow::Result<()> {
    let dir = folder_of(db);
    if !dir.exists() {
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create the data folder {}: {e}", dir.display()))?;
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
}
