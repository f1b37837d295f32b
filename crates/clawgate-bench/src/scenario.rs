//! The reqwest driver: runs one operation from many concurrent clients in the bench process for
//! a while (the passkey ceremony, which signs client-side), or starts it at a fixed rate (the
//! gate's decisions at the 1,000/s), and sums up how it went.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a scenario measured.
pub struct Figures {
    pub count: usize,
    pub elapsed: Duration,
    pub median: Duration,
    pub p99: Duration,
}

/// `concurrency` clients repeat `op` for `duration`; any failure stops the run with its error.
pub async fn run<F, Fut>(concurrency: usize, duration: Duration, op: F) -> anyhow::Result<Figures>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let deadline = started + duration;
    let clients = (0..concurrency).map(|_| {
        let op = op.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                op().await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        })
    });
    let mut all = Vec::new();
    for client in futures::future::join_all(clients).await {
        all.extend(client??);
    }
    figures(all, started.elapsed())
}

/// Starts `op` `rate` times a second for `duration`, each on its own task, whether or not the
/// earlier ones have finished (open loop). A latency counts from when the operation was due, not
/// from when it started: a server that falls behind shows as late answers, not as a lower rate.
pub async fn paced<F, Fut>(rate: u32, duration: Duration, op: F) -> anyhow::Result<Figures>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let period = Duration::from_secs(1) / rate.max(1);
    let started = Instant::now();
    let total = (duration.as_secs_f64() * f64::from(rate)) as u32;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + period * i;
        tokio::time::sleep_until(due.into()).await;
        let work = op();
        tasks.push(tokio::spawn(async move {
            work.await?;
            anyhow::Ok(due.elapsed())
        }));
    }
    let mut all = Vec::with_capacity(tasks.len());
    for task in futures::future::join_all(tasks).await {
        all.push(task??);
    }
    figures(all, started.elapsed())
}

fn figures(mut all: Vec<Duration>, elapsed: Duration) -> anyhow::Result<Figures> {
    anyhow::ensure!(!all.is_empty(), "nothing completed");
    all.sort();
    Ok(Figures {
        count: all.len(),
        elapsed,
        median: all[all.len() / 2],
        p99: all[(all.len() * 99 / 100).min(all.len() - 1)],
    })
}
