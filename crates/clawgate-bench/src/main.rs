//! Benchmarks a running `clawgate serve` (the release binary, as a separate process) and prints
//! figures: requests per second and latency (median, p99) for what agents and people do, each as a
//! ratio to a ceiling measured in the same run (`GET /health`: the HTTP stack and nothing else),
//! and the memory a waiting agent costs. Run it with `scripts/bench`.
//!
//! Settings (environment): `BENCH_SECONDS` per scenario (default 5), `BENCH_CONCURRENCY` (32),
//! `BENCH_WAITERS` (2000), `BENCH_DATABASE_URL` (default: SQLite in a temp dir), `CLAWGATE_BIN`
//! (default target/release/clawgate).

mod scenario;
mod server;

use anyhow::Context;
use clawgate_testkit::SoftKey;
use scenario::{Figures, run};
use serde_json::{Value, json};
use server::Server;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// An account with a passkey, and an agent key: what the scenarios act as.
struct Actors {
    session: String,
    api_key: String,
    passkey: tokio::sync::Mutex<SoftKey>,
}

async fn post(http: &reqwest::Client, url: String, bearer: &str, body: Value) -> anyhow::Result<Value> {
    let mut req = http.post(&url).json(&body);
    if !bearer.is_empty() {
        req = req.bearer_auth(bearer);
    }
    let r = req.send().await?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
    Ok(body)
}

fn text(v: &Value, key: &str) -> anyhow::Result<String> {
    v[key].as_str().map(str::to_owned).with_context(|| format!("no `{key}` in {v}"))
}

async fn set_up(server: &Server) -> anyhow::Result<Actors> {
    let http = &server.http;
    let reg =
        post(http, server.url("/api/v1/auth/register"), "", json!({ "email": "bench@example.com" })).await?;
    let email_session = text(&reg, "token")?;
    let start = post(http, server.url("/api/v1/passkey/register/start"), &email_session, json!({})).await?;
    let mut key = SoftKey::new(&server.origin);
    let credential = key.create(&start["publicKey"]).await;
    let body = json!({ "ceremonyId": start["ceremonyId"], "credential": credential });
    let done = post(http, server.url("/api/v1/passkey/register/complete"), &email_session, body).await?;
    let session = text(&done, "token")?;
    let created =
        post(http, server.url("/api/v1/auth/api-keys"), &session, json!({ "name": "bench" })).await?;
    Ok(Actors { session, api_key: text(&created, "key")?, passkey: tokio::sync::Mutex::new(key) })
}

async fn ask(server: &Server, actors: &Actors, action: &str) -> anyhow::Result<String> {
    let r = post(
        &server.http,
        server.url("/api/v1/approval/request"),
        &actors.api_key,
        json!({ "action": action }),
    )
    .await?;
    text(&r, "requestId")
}

async fn approve(server: &Server, actors: &Actors, id: &str) -> anyhow::Result<()> {
    let start =
        post(&server.http, server.url("/api/v1/passkey/authenticate/start"), "", json!({ "requestId": id }))
            .await?;
    let credential = actors.passkey.lock().await.get(&start["publicKey"]).await;
    let body = json!({ "ceremonyId": start["ceremonyId"], "credential": credential });
    post(&server.http, server.url(&format!("/api/v1/approval/approve/{id}")), "", body).await?;
    Ok(())
}

/// `waiters` agents each long-polling their own request: the memory they cost the server, and how
/// fast a decision reaches them.
async fn waiting_agents(server: &Server, actors: &Arc<Actors>, waiters: usize) -> anyhow::Result<()> {
    let mut ids = Vec::with_capacity(waiters);
    for i in 0..waiters {
        ids.push(ask(server, actors, &format!("waiting {i}")).await?);
    }
    let before = server.rss_kib()?;
    let mut handles = Vec::with_capacity(waiters);
    for id in &ids {
        let req = server
            .http
            .get(server.url(&format!("/api/v1/approval/status/{id}?wait=60")))
            .bearer_auth(&actors.api_key);
        handles.push(tokio::spawn(async move {
            let r = req.send().await?;
            let body: Value = r.json().await?;
            anyhow::Ok((body["status"].as_str().unwrap_or("").to_owned(), Instant::now()))
        }));
    }
    // The waits are parked once the server's memory stops growing; a bench, so a settle time.
    let mut parked = server.rss_kib()?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = server.rss_kib()?;
        if now.abs_diff(parked) < 64 {
            break;
        }
        parked = now;
    }
    let per_waiter = (parked.saturating_sub(before) * 1024) as f64 / waiters as f64;
    let deny_started = Instant::now();
    let mut deny_times = Vec::with_capacity(waiters);
    for id in &ids {
        post(&server.http, server.url(&format!("/api/v1/approval/deny/{id}")), &actors.session, json!({}))
            .await?;
        deny_times.push(Instant::now());
    }
    let mut delays = Vec::with_capacity(waiters);
    for (handle, denied_at) in handles.into_iter().zip(deny_times) {
        let (status, answered) = handle.await??;
        anyhow::ensure!(status == "DENIED", "a waiting agent saw {status}");
        delays.push(answered.saturating_duration_since(denied_at));
    }
    delays.sort();
    let median = delays[delays.len() / 2];
    let p99 = delays[(delays.len() * 99 / 100).min(delays.len() - 1)];
    println!(
        "waiting agents   {waiters} long-polls parked: server RSS {before} KiB -> {parked} KiB, about {:.1} KiB per waiting agent",
        per_waiter / 1024.0
    );
    println!(
        "                 decision to waiting agent: median {median:?}, p99 {p99:?} ({} denials in {:?})",
        waiters,
        deny_started.elapsed()
    );
    Ok(())
}

fn report(name: &str, f: &Figures, ceiling: &Figures) {
    println!(
        "{name:<16} {:>8.0} req/s  ({:>5.1}% of ceiling)  median {:>9.3?}  p99 {:>9.3?}  n={}",
        f.per_second(),
        100.0 * f.per_second() / ceiling.per_second(),
        f.median,
        f.p99,
        f.count
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = Duration::from_secs(setting("BENCH_SECONDS", 5));
    let concurrency = usize::try_from(setting("BENCH_CONCURRENCY", 32)).unwrap_or(32);
    let waiters = usize::try_from(setting("BENCH_WAITERS", 2000)).unwrap_or(2000);
    let server = Arc::new(Server::start().await?);
    println!(
        "clawgate-bench: {} on {}, {concurrency} concurrent clients, {seconds:?} per scenario",
        server.binary, server.backend
    );
    let actors = Arc::new(set_up(&server).await?);
    let idle = server.rss_kib()?;

    let s = server.clone();
    let ceiling = run(concurrency, seconds, move || {
        let s = s.clone();
        async move {
            s.http.get(s.url("/health")).send().await?.error_for_status()?;
            Ok(())
        }
    })
    .await?;
    report("health (ceiling)", &ceiling, &ceiling);

    let (s, a) = (server.clone(), actors.clone());
    let create = run(concurrency, seconds, move || {
        let (s, a) = (s.clone(), a.clone());
        async move { ask(&s, &a, "bench create").await.map(|_| ()) }
    })
    .await?;
    report("create request", &create, &ceiling);

    let id = ask(&server, &actors, "bench status").await?;
    let (s, a) = (server.clone(), actors.clone());
    let status = run(concurrency, seconds, move || {
        let (s, a, id) = (s.clone(), a.clone(), id.clone());
        async move {
            s.http
                .get(s.url(&format!("/api/v1/approval/status/{id}")))
                .bearer_auth(&a.api_key)
                .send()
                .await?
                .error_for_status()?;
            Ok(())
        }
    })
    .await?;
    report("read status", &status, &ceiling);

    // One passkey signs at a time (it is one authenticator); the figure includes its signing.
    let (s, a) = (server.clone(), actors.clone());
    let approvals = run(concurrency, seconds, move || {
        let (s, a) = (s.clone(), a.clone());
        async move {
            let id = ask(&s, &a, "bench approve").await?;
            approve(&s, &a, &id).await
        }
    })
    .await?;
    report("ask + approve", &approvals, &ceiling);

    println!("memory           server RSS idle {idle} KiB, after the scenarios {} KiB", server.rss_kib()?);
    waiting_agents(&server, &actors, waiters).await?;
    Ok(())
}
