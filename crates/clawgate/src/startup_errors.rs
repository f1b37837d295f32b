//! Why the server could not start, in words that name the fix: the operating system's and the
//! database's own messages say what failed, not what to change.

use std::io::ErrorKind;
use std::path::Path;

/// Binding `addr` (HOST:PORT) failed.
pub fn cannot_listen(host: &str, port: u16, e: &std::io::Error) -> anyhow::Error {
    let addr = format!("{host}:{port}");
    let fix = match e.kind() {
        ErrorKind::AddrInUse => format!(
            "Another program is listening on port {port} (`ss -ltnp 'sport = :{port}'` shows which). \
             Stop it, or give clawgate another port: PORT=… or --port …"
        ),
        ErrorKind::PermissionDenied if port < 1024 => format!(
            "Ports below 1024 need a privilege. Grant only that one: `sudo setcap \
             cap_net_bind_service=+ep {}` (the systemd unit in deploy/systemd does it with \
             AmbientCapabilities=), or use a port from 1024 up (PORT=3000)",
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "clawgate".into())
        ),
        ErrorKind::AddrNotAvailable => format!(
            "{host} is not an address of this machine. HOST=127.0.0.1 listens for this machine only, \
             HOST=0.0.0.0 on every network interface"
        ),
        _ if host.parse::<std::net::IpAddr>().is_err() && host != "localhost" => format!(
            "HOST must be an IP address of this machine, such as 127.0.0.1 (this machine only) or \
             0.0.0.0 (every network interface); `{host}` is not one"
        ),
        _ => "Check HOST and PORT".to_owned(),
    };
    anyhow::anyhow!("cannot listen on {addr}: {e}. {fix}")
}

/// Creating the database's folder failed.
pub fn cannot_create_folder(dir: &Path, e: &std::io::Error) -> anyhow::Error {
    let fix = match e.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => format!(
            "The user clawgate runs as ({}) may not write there. Create the folder for that user \
             (`sudo install -d -m 0700 -o $(id -un) {}`) or set DATA_DIR to a folder it owns",
            current_user(),
            dir.display()
        ),
        _ => "Set DATA_DIR to a folder clawgate can create and write".to_owned(),
    };
    anyhow::anyhow!("cannot create the data folder {}: {e}. {fix}", dir.display())
}

/// Opening the database at `redacted_url` (its password hidden) failed.
pub fn cannot_open_database(redacted_url: &str, e: &sqlx::Error) -> anyhow::Error {
    let fix = database_fix(e);
    anyhow::anyhow!("cannot open the database at {redacted_url}: {e}. {fix}")
}

fn database_fix(e: &sqlx::Error) -> String {
    let text = e.to_string();
    if text.contains("unable to open database file") {
        return format!(
            "SQLite cannot open or create the file: check that its folder exists and that the user \
             clawgate runs as ({}) may write there, or set DATA_DIR to a folder it owns",
            current_user()
        );
    }
    if let sqlx::Error::Database(db) = e {
        // PostgreSQL's SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
        return match db.code().as_deref() {
            Some("3D000") => "Create the database first (`createdb -h HOST -U USER NAME`), or fix its \
                              name in DATABASE_URL"
                .to_owned(),
            Some("28P01" | "28000") => "PostgreSQL refused the user or password in DATABASE_URL: check \
                                       them, and that pg_hba.conf lets this user in from this address"
                .to_owned(),
            Some("53300") => "PostgreSQL has no connections left (max_connections): each clawgate \
                              instance uses up to 33 (a pool of 32 and a listener); raise max_connections or run fewer instances"
                .to_owned(),
            _ => "Check DATABASE_URL".to_owned(),
        };
    }
    match e {
        sqlx::Error::Io(io) if io.kind() == ErrorKind::ConnectionRefused => {
            "Nothing listens at DATABASE_URL's host and port: is PostgreSQL running there?".to_owned()
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => {
            "No answer from DATABASE_URL's host and port: is PostgreSQL running and reachable from here?"
                .to_owned()
        }
        sqlx::Error::Tls(_) => {
            "The TLS connection to PostgreSQL failed: check sslmode in DATABASE_URL".to_owned()
        }
        sqlx::Error::Configuration(_) => {
            "DATABASE_URL is malformed: postgres://USER:PASSWORD@HOST:5432/DB or sqlite://PATH".to_owned()
        }
        _ => "Check DATABASE_URL".to_owned(),
    }
}

/// `name (uid N)` of the process, for messages about file permissions.
fn current_user() -> String {
    #[cfg(unix)]
    {
        let uid = rustix::process::getuid().as_raw();
        match std::env::var("USER") {
            Ok(name) if !name.is_empty() => format!("{name}, uid {uid}"),
            _ => format!("uid {uid}"),
        }
    }
    #[cfg(not(unix))]
    {
        "this user".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_listening_failure_names_its_fix() {
        let in_use = cannot_listen("127.0.0.1", 3000, &ErrorKind::AddrInUse.into()).to_string();
        assert!(in_use.contains("Another program") && in_use.contains("PORT="), "{in_use}");
        let privileged = cannot_listen("0.0.0.0", 443, &ErrorKind::PermissionDenied.into()).to_string();
        assert!(privileged.contains("cap_net_bind_service") && privileged.contains("1024"), "{privileged}");
        let foreign = cannot_listen("10.9.9.9", 3000, &ErrorKind::AddrNotAvailable.into()).to_string();
        assert!(foreign.contains("HOST=0.0.0.0"), "{foreign}");
        let name = cannot_listen("gate.example", 3000, &std::io::Error::other("lookup failed")).to_string();
        assert!(name.contains("HOST must be an IP address"), "{name}");
    }

    #[test]
    fn database_failures_name_their_fix() {
        let refused = sqlx::Error::Io(ErrorKind::ConnectionRefused.into());
        assert!(
            cannot_open_database("postgres://x@h/db", &refused).to_string().contains("is PostgreSQL running")
        );
        let timeout = cannot_open_database("postgres://x@h/db", &sqlx::Error::PoolTimedOut).to_string();
        assert!(timeout.contains("reachable from here"), "{timeout}");
        let folder =
            cannot_create_folder(Path::new("/srv/x"), &ErrorKind::PermissionDenied.into()).to_string();
        assert!(folder.contains("install -d -m 0700") && folder.contains("DATA_DIR"), "{folder}");
    }
}
