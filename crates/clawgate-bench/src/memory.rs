//! What waiting agents cost: the server's resident memory with `n` long-polls parked, next to a
//! bare axum server holding `n` waiting connections (the floor for any tokio + hyper server), and
//! how fast a decision reaches a waiting agent.

use crate::actors::{Actors, ask_many};
use crate::server::{Server, free_port};
use anyhow::Context;
use futures::StreamExt;
use std::time::{Duration, Instant};

/// A process's resident memory (Linux), in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    line.split_whitespace().nth(1).context("no value")?.parse().context("not a number")
}

fn open_files(pid: u32) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// Waits until `pid` holds `connections` more open files than `base` (every connection accepted)
/// and its memory has stopped growing; its RSS then. Gives up after 60 s.
async fn settled(pid: u32, base: usize, connections: usize) -> anyhow::Result<u64> {
    let started = Instant::now();
    let mut last = rss_kib(pid)?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rss_kib(pid)?;
        let open = open_files(pid)?;
        if open >= base + connections && now.abs_diff(last) < 64 {
            return Ok(now);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "pid {pid}: {open} open files, expected {} (more?)",
            base + connections
        );
        last = now;
    }
}

/// `n` requests to `url(i)` in flight at once, each on a connection of its own, opened 250 at
/// a time: each batch is accepted by `pid` (its open files grow past `base`) before the next, so
/// the listen backlog never overflows. Each task yields the body's JSON, the instant it arrived,
/// and how many times the wait lapsed (answered PENDING) and was sent again, as an agent does.
async fn park(
    http: &reqwest::Client,
    url: impl Fn(usize) -> String,
    bearer: &str,
    n: usize,
    (pid, base): (u32, usize),
) -> anyhow::Result<Vec<Parked>> {
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let mut req = http.get(url(i));
        if !bearer.is_empty() {
            req = req.bearer_auth(bearer);
        }
        handles.push(tokio::spawn(async move {
            let mut lapsed = 0;
            loop {
                let again = req.try_clone().context("the request cannot be sent again")?;
                let body: serde_json::Value = req.send().await?.json().await?;
                if body["status"] != "PENDING" {
                    return anyhow::Ok((body, Instant::now(), lapsed));
                }
                (req, lapsed) = (again, lapsed + 1);
            }
        }));
        if (i + 1) % 250 == 0 || i + 1 == n {
            let started = Instant::now();
            while open_files(pid)? < base + i + 1 {
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(60),
                    "pid {pid} holds {} of {} waiting connections after 60 s",
                    open_files(pid)?.saturating_sub(base),
                    i + 1
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    Ok(handles)
}

type Parked = tokio::task::JoinHandle<anyhow::Result<(serde_json::Value, Instant, u32)>>;

pub struct Waiters {
    pub waiters: usize,
    pub before_kib: u64,
    pub parked_kib: u64,
    pub median: Duration,
    pub p99: Duration,
    pub parking_took: Duration,
    pub denials_took: Duration,
    /// Waits that lapsed (60 s) before their denial and were sent again.
    pub lapsed: u32,
}

impl Waiters {
    pub fn kib_per_waiter(&self) -> f64 {
        self.parked_kib.saturating_sub(self.before_kib) as f64 / self.waiters as f64
    }
}

/// `n` agents each long-poll their own request (`?wait=60`, one key); then the person denies them
/// all, 8 denials at a time, and each agent's answer is timed from its denial's response. An
/// agent whose wait lapses before its denial (60 s) asks again at once, as agents do.
pub async fn waiting_agents(server: &Server, actors: &Actors, n: usize) -> anyhow::Result<Waiters> {
    let key = actors.key(server, "waiters").await?;
    let ids = ask_many(server, &key, n, "waiting").await?;
    let pid = server.pid()?;
    let base = open_files(pid)?;
    let before_kib = rss_kib(pid)?;
    let url = |i: usize| server.url(&format!("/api/v1/approval/status/{}?wait=60", ids[i]));
    // A client of their own: none of the setup's kept-alive connections is reused.
    let http = reqwest::Client::builder().pool_max_idle_per_host(100_000).build()?;
    let started = Instant::now();
    let handles = park(&http, url, &key, n, (pid, base)).await?;
    let parked_kib = settled(pid, base, n).await?;
    let parking_took = started.elapsed();
    let started = Instant::now();
    let denied: Vec<anyhow::Result<Instant>> = futures::stream::iter(&ids)
        .map(|id| async move { actors.deny(server, id).await.map(|()| Instant::now()) })
        .buffered(8)
        .collect()
        .await;
    let denials_took = started.elapsed();
    let (mut delays, mut lapsed) = (Vec::with_capacity(n), 0);
    for (handle, denied_at) in handles.into_iter().zip(denied) {
        let (denied_at, (body, answered, again)) = (denied_at?, handle.await??);
        lapsed += again;
        anyhow::ensure!(body["status"] == "DENIED", "a waiting agent saw {body}");
        delays.push(answered.saturating_duration_since(denied_at));
    }
    delays.sort();
    let median = delays[n / 2];
    let p99 = delays[(n * 99 / 100).min(n - 1)];
    Ok(Waiters { waiters: n, before_kib, parked_kib, median, p99, parking_took, denials_took, lapsed })
}

pub struct Floor {
    pub connections: usize,
    pub idle_kib: u64,
    pub parked_kib: u64,
}

impl Floor {
    pub fn kib_per_connection(&self) -> f64 {
        self.parked_kib.saturating_sub(self.idle_kib) as f64 / self.connections as f64
    }
}

/// The bare axum server (`clawgate-bench bare-server PORT`), idle and with `n` kept-alive
/// connections each waiting on its one route.
pub async fn bare_floor(n: usize) -> anyhow::Result<Floor> {
    let port = free_port()?;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["bare-server", &port.to_string()])
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("the bare server exited")?;
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "the bare server did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The same settle as for clawgate, from a server that has answered nothing yet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_kib = rss_kib(pid)?;
    let base = open_files(pid)?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(100_000).build()?;
    let parked_kib = async {
        let handles = park(&http, |_| format!("http://127.0.0.1:{port}/wait"), "", n, (pid, base)).await?;
        let kib = settled(pid, base, n).await;
        handles.iter().for_each(|h| h.abort());
        kib
    }
    .await;
    child.kill().await?;
    Ok(Floor { connections: n, idle_kib, parked_kib: parked_kib? })
}
