//! The few operating-system settings the server depends on: the file-creation mask, the
//! open-file limit, file modes and free space. Safe wrappers only (`rustix`).

use std::path::Path;

/// Files the server creates from now on (the SQLite database, its `-wal` and `-shm`, anything
/// else) are readable by its own user only: they hold the server's secrets.
pub fn restrict_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// Raises the soft open-file limit to the hard one (each connection is a file). Returns the
/// limit before and after; `None` when it is unlimited or unknown.
pub fn raise_open_file_limit() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let before = limit.current?;
        // An unlimited hard limit still has a kernel ceiling (Linux: fs.nr_open).
        let target = limit.maximum.or_else(kernel_open_file_ceiling)?;
        if target > before {
            let raised = Rlimit { current: Some(target), maximum: limit.maximum };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                return Some((before, target));
            }
        }
        Some((before, before))
    }
    #[cfg(not(unix))]
    None
}

#[cfg(unix)]
fn kernel_open_file_ceiling() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open").ok()?.trim().parse().ok()
}

/// Bytes an unprivileged user can still write on the file system holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let stat = rustix::fs::statvfs(path).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// What was found about a folder that holds secrets.
#[derive(Debug, PartialEq, Eq)]
pub enum FolderAccess {
    /// Only its owner, the server's user, can enter it.
    Private,
    /// Others could enter it; it was ours, so it is now 0700. Holds the mode it had.
    Fixed(u32),
}

/// Whether users other than the owner may enter or read `dir`.
pub fn others_can_enter(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir).is_ok_and(|m| m.mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        false
    }
}

/// Makes `dir` reachable by the server's user only (0700) when others can reach it, or refuses
/// when it also belongs to someone else.
pub fn make_folder_private(dir: &Path) -> anyhow::Result<FolderAccess> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = std::fs::metadata(dir)
            .map_err(|e| anyhow::anyhow!("cannot inspect the data folder {}: {e}", dir.display()))?;
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 == 0 {
            return Ok(FolderAccess::Private);
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            // Someone else's folder is theirs to close: changing it behind their back would
            // surprise them, and leaving it open would show them the secrets.
            anyhow::bail!(
                "the data folder {} can be read by other users (mode {mode:o}) and belongs to another user \
                 (uid {}; clawgate runs as uid {me}): its owner should run `chmod 700 {}`, or use a folder \
                 of your own for DATA_DIR (or for the SQLite path in DATABASE_URL)",
                dir.display(),
                meta.uid(),
                dir.display()
            );
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            anyhow::anyhow!(
                "the data folder {} can be read by other users (mode {mode:o}) and cannot be fixed ({e}): \
                 run `chmod 700 {}`",
                dir.display(),
                dir.display()
            )
        })?;
        Ok(FolderAccess::Fixed(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(FolderAccess::Private)
    }
}

/// Makes an existing file readable and writable by its owner only (0600); a missing file is
/// fine (it will be created under [`restrict_umask`]).
pub fn make_file_private(file: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(file) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => anyhow::bail!("cannot inspect {}: {e}", file.display()),
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
                anyhow::anyhow!(
                    "{} can be read by other users and cannot be fixed ({e}): run `chmod 600 {}`",
                    file.display(),
                    file.display()
                )
            })?;
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}
