//! `clawgate keys list` and `clawgate keys rotate`: the Ed25519 keys that sign approval tokens.
//!
//! A rotation stores a new key that signs only after [`PUBLISH_DELAY_MS`]: every instance reloads
//! the keys every [`KEY_RELOAD_EVERY_MS`] and publishes the new one in its JWKS, and JWKS copies
//! cached before that have gone stale, before any token carries it. The key it supersedes keeps
//! verifying until every token it signed has expired ([`RETIRE_AFTER_MS`] after the takeover),
//! then drops out of the JWKS and is deleted.

use crate::cli::DatabaseArgs;
use crate::clock::{Clock, Millis, SystemClock, to_rfc3339};
use crate::config::{Backend, DatabaseSettings};
use crate::store::{Db, StoreError};
use crate::tokens::keys::{
    KEY_RELOAD_EVERY_MS, KeyState, PUBLISH_DELAY_MS, RETIRE_AFTER_MS, generate_seed, schedule, signing_number,
};
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// List the approval signing keys: kid, created, active from, retires at, state.
    List(DatabaseArgs),
    /// Add a new approval signing key. Every instance publishes it within a reload (30 s); it signs
    /// new tokens 6 minutes after this command; the key it replaces verifies the tokens it signed
    /// until they have all expired (11 minutes after the takeover), then retires.
    Rotate(RotateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
}

/// Connects and migrates (as the server does at start), with a first key stored if none is.
async fn open(args: &DatabaseArgs) -> anyhow::Result<(Db, Millis)> {
    crate::os::restrict_umask();
    let settings = DatabaseSettings::from_args(args)?;
    let db = Db::connect(&settings).await?;
    db.migrate().await?;
    // PostgreSQL's clock, as the servers use by default: activation is one moment for all.
    let now = match db.backend() {
        Backend::Postgres => db.database_time_ms().await?.unwrap_or_else(|| SystemClock.now_ms()),
        Backend::Sqlite => SystemClock.now_ms(),
    };
    crate::secrets::signing_keys(&db, now).await?;
    Ok((db, now))
}

pub async fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::List(args) => {
            let (db, now) = open(&args).await?;
            let result = list(&db, now).await;
            db.close().await;
            result
        }
        KeysCommand::Rotate(args) => {
            let (db, now) = open(&args.db).await?;
            let result = rotate(&db, now).await;
            db.close().await;
            result
        }
    }
}

fn when(ms: Option<Millis>) -> String {
    match ms {
        Some(0) => "always".to_owned(),
        Some(ms) => to_rfc3339(ms),
        None => "-".to_owned(),
    }
}

async fn list(db: &Db, now: Millis) -> anyhow::Result<ExitCode> {
    let infos = schedule(&db.signing_keys().await?);
    let signing = signing_number(&infos, now);
    println!(
        "{:<3} {:<16}  {:<24}  {:<24}  {:<24}  STATE",
        "#", "KID", "CREATED", "ACTIVE FROM", "RETIRES AT"
    );
    for k in &infos {
        println!(
            "{:<3} {:<16}  {:<24}  {:<24}  {:<24}  {}",
            k.number,
            k.kid,
            when(Some(k.created_at)),
            when(Some(k.active_from)),
            when(k.retires_at),
            k.state(signing, now).as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn minutes(ms: Millis) -> String {
    let secs = ms / 1000;
    if secs % 60 == 0 { format!("{} minutes", secs / 60) } else { format!("{secs} seconds") }
}

async fn rotate(db: &Db, now: Millis) -> anyhow::Result<ExitCode> {
    let infos = schedule(&db.signing_keys().await?);
    let signing = signing_number(&infos, now);
    if let Some(next) = infos.iter().find(|k| k.state(signing, now) == KeyState::Next) {
        anyhow::bail!(
            "key {} ({}) is already waiting to take over at {}: rotate again after that",
            next.number,
            next.kid,
            to_rfc3339(next.active_from)
        );
    }
    let active_from = now + PUBLISH_DELAY_MS;
    let number = match db.insert_next_signing_key(&generate_seed(), now, active_from).await {
        Ok(n) => n,
        Err(StoreError::Conflict) => {
            anyhow::bail!("another rotation happened at the same moment: list the keys")
        }
        Err(e) => return Err(e.into()),
    };
    let infos = schedule(&db.signing_keys().await?);
    let new = infos
        .iter()
        .find(|k| k.number == number)
        .ok_or_else(|| anyhow::anyhow!("the new key {number} is not stored after all"))?;
    println!("new signing key {number}: kid {}", new.kid);
    println!(
        "every instance publishes it in /.well-known/jwks.json within {} s; it signs new approval tokens from \
         {} (in {})",
        KEY_RELOAD_EVERY_MS / 1000,
        to_rfc3339(active_from),
        minutes(PUBLISH_DELAY_MS)
    );
    if let Some(old) = signing.and_then(|n| infos.iter().find(|k| k.number == n)) {
        println!(
            "key {} ({}) signs until then, and verifies the tokens it signed until {} ({} after the takeover), \
             when it retires",
            old.number,
            old.kid,
            to_rfc3339(active_from + RETIRE_AFTER_MS),
            minutes(RETIRE_AFTER_MS)
        );
    }
    Ok(ExitCode::SUCCESS)
}
