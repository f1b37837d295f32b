//! The server under test: the `clawgate` binary, started in a temp dir, with limits meant for
//! people raised so that the benchmark measures the work rather than the limiters.

use anyhow::Context;
use std::process::Stdio;
use tokio::process::{Child, Command};

pub struct Server {
    child: Child,
    _dir: tempfile::TempDir,
    pub binary: String,
    pub backend: String,
    base: String,
    pub origin: String,
    pub http: reqwest::Client,
}

impl Server {
    pub async fn start() -> anyhow::Result<Self> {
        let binary = std::env::var("CLAWGATE_BIN").unwrap_or_else(|_| "target/release/clawgate".to_owned());
        // Absolute: the server runs in a temp dir of its own.
        let path = std::fs::canonicalize(&binary)
            .with_context(|| format!("no server at {binary} (build it: cargo build --release)"))?;
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut cmd = Command::new(&path);
        cmd.arg("serve")
            .current_dir(dir.path())
            .env("PORT", port.to_string())
            .env("LOG_LEVEL", "warn")
            .env("AUTH_RATE_LIMIT", "100000000")
            .env("POLL_RATE_LIMIT", "100000000")
            .env("MAX_PENDING_PER_KEY", "0")
            .env("SUSPEND_AFTER_DENIALS", "0")
            // Every client of the benchmark is on loopback: one address for thousands of waiters.
            .env("MAX_CONNECTIONS_PER_IP", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let backend = match std::env::var("BENCH_DATABASE_URL") {
            Ok(url) => {
                cmd.env("DATABASE_URL", url);
                "PostgreSQL".to_owned()
            }
            Err(_) => "SQLite".to_owned(),
        };
        let child = cmd.spawn().with_context(|| format!("cannot start {binary}"))?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().pool_max_idle_per_host(10_000).build()?;
        // Ready when /health answers; the server logs only warnings here.
        let started = std::time::Instant::now();
        while http.get(format!("{base}/health")).send().await.is_err() {
            anyhow::ensure!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the server did not come up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(Self { child, _dir: dir, binary, backend, base, origin: format!("http://localhost:{port}"), http })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The server's resident memory (Linux), in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("the server has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
        line.split_whitespace().nth(1).context("no value")?.parse().context("not a number")
    }
}
