//! The reqwest driver: runs one operation from many concurrent clients in the bench process for
//! a while and sums up how it went. Only the passkey ceremony uses it (it signs client-side).

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
    let elapsed = started.elapsed();
    anyhow::ensure!(!all.is_empty(), "nothing completed");
    all.sort();
    Ok(Figures {
        count: all.len(),
        elapsed,
        median: all[all.len() / 2],
        p99: all[(all.len() * 99 / 100).min(all.len() - 1)],
    })
}
