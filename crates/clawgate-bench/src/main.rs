//! Benchmarks a running `clawgate serve` (the release binary, as a separate process). Run it with
//! `scripts/bench`; its header says what is measured and why.
//!
//! - throughput: `wrk` drives each scenario ([`wrk`]); the passkey ceremony, which needs
//!   client-side signing, stays on the in-process reqwest driver ([`scenario`]);
//! - ceilings measured in the same run ([`ceilings`]): a route that touches no database, raw
//!   durable commits on the same disk (and PostgreSQL's own), raw Ed25519 verification;
//! - memory ([`memory`]): the server idle and with `BENCH_WAITERS` long-polls parked, next to a
//!   bare axum server holding as many connections ([`bare`]);
//! - the table and `results-<backend>.json` ([`report`]).
//!
//! `clawgate-bench bare-server PORT` runs the bare axum server (the bench starts it itself).

mod actors;
mod bare;
mod ceilings;
mod memory;
mod pgdb;
mod report;
mod run;
mod scenario;
mod server;
mod wrk;

use std::time::Duration;

/// What the environment asks for (see `scripts/bench`).
pub struct Settings {
    pub seconds: Duration,
    pub threads: u32,
    pub connections: u32,
    pub concurrency: usize,
    pub waiters: usize,
    pub database_url: Option<String>,
    pub results_dir: std::path::PathBuf,
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

impl Settings {
    fn from_env() -> Self {
        let small = |name, default: u32| u32::try_from(setting(name, default.into())).unwrap_or(default);
        let count = |name, default: usize| usize::try_from(setting(name, default as u64)).unwrap_or(default);
        Self {
            seconds: Duration::from_secs(setting("BENCH_SECONDS", 5).max(1)),
            threads: small("BENCH_THREADS", 2).max(1),
            connections: small("BENCH_CONNECTIONS", 64).max(1),
            concurrency: count("BENCH_CONCURRENCY", 32).max(1),
            waiters: count("BENCH_WAITERS", 10_000).max(1),
            database_url: std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty()),
            results_dir: std::env::var_os("BENCH_RESULTS_DIR")
                .map_or_else(|| "target/bench".into(), std::path::PathBuf::from),
        }
    }
}

/// Raises the soft open-file limit to the hard one: thousands of waiting connections need as many
/// sockets here, and in the server and bare server, which inherit the limit. Returns the limit.
fn raise_open_files() -> anyhow::Result<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // Unlimited hard limits are capped by the kernel's nr_open; ask for a generous finite value.
    let wanted = limit.maximum.unwrap_or(1 << 20);
    setrlimit(Resource::Nofile, Rlimit { current: Some(wanted), maximum: limit.maximum })?;
    Ok(wanted)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("bare-server") {
        let port = args.get(2).and_then(|p| p.parse().ok());
        let port = anyhow::Context::context(port, "usage: clawgate-bench bare-server PORT")?;
        return bare::serve(port);
    }
    // Built together with the server, reqwest has the server's `rustls-no-provider` feature.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = Settings::from_env();
    let open_files = raise_open_files()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run::bench(settings, open_files))
}
