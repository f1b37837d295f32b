//! The server under test: the `clawgate` binary, started in a temp dir, with limits meant for
//! people raised so that the benchmark measures the work rather than the limiters. The pending
//! cap and the gate's rate limit stay on (see [`MAX_PENDING_PER_KEY`], [`GATE_RATE_LIMIT`]).

use anyhow::Context;
use std::path::Path;
use std::process::Stdio;
use tokio::process::{Child, Command};

/// The pending cap during the bench: on, so that its check runs on every create, and above the
/// run's volume, so that no create is refused (the server's default is 10 per key).
pub const MAX_PENDING_PER_KEY: u32 = 1_000_000;
/// The gate's per-key limit during the bench (calls a minute, and as many at once): on, so that
/// its check runs on every gate call, and above the run's volume, so that no call is refused (the
/// server's default is 600).
pub const GATE_RATE_LIMIT: u32 = 1_000_000;

pub struct Server {
    child: Child,
    dir: tempfile::TempDir,
    pub binary: String,
    pub backend: &'static str,
    pub port: u16,
    pub origin: String,
    pub http: reqwest::Client,
}

impl Server {
    /// Starts the server on SQLite in a temp dir, or on `database_url` (PostgreSQL).
    pub async fn start(database_url: Option<&str>, waiters: usize) -> anyhow::Result<Self> {
        let binary = std::env::var("CLAWGATE_BIN").unwrap_or_else(|_| "target/release/clawgate".to_owned());
        // Absolute: the server runs in a temp dir of its own.
        let path = std::fs::canonicalize(&binary)
            .with_context(|| format!("no server at {binary} (build it: cargo build --release)"))?;
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let mut cmd = Command::new(&path);
        cmd.arg("serve")
            .current_dir(dir.path())
            .env("PORT", port.to_string())
            .env("LOG_LEVEL", "warn")
            .env("AUTH_RATE_LIMIT", "100000000")
            .env("POLL_RATE_LIMIT", "100000000")
            .env("MAX_PENDING_PER_KEY", MAX_PENDING_PER_KEY.to_string())
            .env("GATE_RATE_LIMIT", GATE_RATE_LIMIT.to_string())
            .env("SUSPEND_AFTER_DENIALS", "0")
            // Room for every waiting agent and the load generator's connections besides.
            .env("MAX_CONNECTIONS", (waiters + 2_000).max(10_000).to_string())
            // Every client of the benchmark is on loopback: one address for thousands of waiters.
            .env("MAX_CONNECTIONS_PER_IP", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let backend = match database_url {
            Some(url) => {
                cmd.env("DATABASE_URL", url);
                "PostgreSQL"
            }
            None => "SQLite",
        };
        let child = cmd.spawn().with_context(|| format!("cannot start {binary}"))?;
        let http = reqwest::Client::builder().pool_max_idle_per_host(100_000).build()?;
        let server =
            Self { child, dir, binary, backend, port, origin: format!("http://localhost:{port}"), http };
        // Ready when /health answers; the server logs only warnings here.
        let started = std::time::Instant::now();
        while server.http.get(server.url("/health")).send().await.is_err() {
            anyhow::ensure!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the server did not come up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// The temp dir the server runs in (and keeps its SQLite database under).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the server has exited")
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
