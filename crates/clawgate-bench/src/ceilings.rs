//! Ceilings measured in the same run, without the server: what the disk (or PostgreSQL) allows
//! in durable commits, and what one core allows in Ed25519 verifications.

use crate::scenario::Figures;
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use std::path::Path;
use std::time::{Duration, Instant};

fn figures(mut latencies: Vec<Duration>, elapsed: Duration) -> anyhow::Result<Figures> {
    anyhow::ensure!(!latencies.is_empty(), "nothing completed");
    latencies.sort();
    let n = latencies.len();
    Ok(Figures { count: n, elapsed, median: latencies[n / 2], p99: latencies[(n * 99 / 100).min(n - 1)] })
}

/// One connection commits one small row per transaction to `file` (WAL, `synchronous=FULL`, as
/// the server's SQLite) for `duration`.
pub async fn sqlite_commits(file: &Path, duration: Duration) -> anyhow::Result<Figures> {
    let mut conn = SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await?;
    sqlx::query("CREATE TABLE commits (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, note TEXT NOT NULL)")
        .execute(&mut conn)
        .await?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < duration {
        let t = Instant::now();
        let mut tx = conn.begin().await?;
        sqlx::query("INSERT INTO commits (at, note) VALUES ($1, 'bench')")
            .bind(i64::try_from(latencies.len())?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    conn.close().await?;
    figures(latencies, elapsed)
}

/// What PostgreSQL says about durability (`synchronous_commit`, `fsync`), for the report.
pub async fn postgres_durability(url: &str) -> anyhow::Result<String> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let sync: String = sqlx::query_scalar("SHOW synchronous_commit").fetch_one(&mut conn).await?;
    let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(&mut conn).await?;
    conn.close().await?;
    Ok(format!("synchronous_commit={sync}, fsync={fsync}"))
}

/// `connections` connections each INSERT one row per statement (a commit each) into a scratch
/// table for `duration`: PostgreSQL's own group-commit ceiling on this machine.
pub async fn postgres_commits(url: &str, connections: u32, duration: Duration) -> anyhow::Result<Figures> {
    let table = format!("bench_commits_{}", std::process::id());
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(connections).connect(url).await?;
    let create =
        format!("CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, note TEXT NOT NULL)");
    sqlx::raw_sql(AssertSqlSafe(create)).execute(&pool).await?;
    let insert = format!("INSERT INTO {table} (at, note) VALUES ($1, 'bench')");
    let started = Instant::now();
    let workers = (0..connections).map(|_| {
        let (pool, insert) = (pool.clone(), insert.clone());
        tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let t = Instant::now();
                sqlx::query(AssertSqlSafe(insert.as_str())).bind(1_i64).execute(&mut *conn).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        })
    });
    let mut all = Vec::new();
    for worker in futures::future::join_all(workers).await {
        all.extend(worker??);
    }
    let elapsed = started.elapsed();
    sqlx::raw_sql(AssertSqlSafe(format!("DROP TABLE {table}"))).execute(&pool).await?;
    pool.close().await;
    figures(all, elapsed)
}

/// Verifies the server's own approval token (its Ed25519 signature over `header.payload`, with
/// the key from the server's JWKS) on one thread for `duration`: signature checks alone, no JSON.
pub async fn ed25519_verifies(token: &str, jwks: &Value, duration: Duration) -> anyhow::Result<Figures> {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let (signed, signature) = token.rsplit_once('.').context("not a JWT")?;
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(signed.split('.').next().context("not a JWT")?)?)?;
    let keys = jwks["keys"].as_array().context("no keys in the JWKS")?;
    let jwk =
        keys.iter().find(|k| k["kid"] == header["kid"]).context("the token's key is not in the JWKS")?;
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().context("no x in the JWK")?)?;
    let key = VerifyingKey::from_bytes(&x.as_slice().try_into().context("not an Ed25519 key")?)?;
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature)?)?;
    let message = signed.as_bytes().to_vec();
    key.verify(&message, &signature).context("the server's token does not verify")?;
    // A thread of its own: one core's worth, with nothing else of the bench running meanwhile.
    tokio::task::spawn_blocking(move || {
        let mut latencies = Vec::new();
        let started = Instant::now();
        while started.elapsed() < duration {
            let t = Instant::now();
            key.verify(&message, &signature)?;
            latencies.push(t.elapsed());
        }
        figures(latencies, started.elapsed())
    })
    .await?
}
