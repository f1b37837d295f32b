//! `clawgate keys list`, `rotate` and `revoke`: the Ed25519 keys that sign approval and gate
//! tokens.
//!
//! A rotation stores a new key that signs only after [`PUBLISH_DELAY_MS`]: every instance reloads
//! the keys every [`KEY_RELOAD_EVERY_MS`] and publishes the new one in its JWKS, and JWKS copies
//! cached before that have gone stale, before any token carries it. The key it supersedes keeps
//! verifying until every token it signed has expired ([`RETIRE_AFTER_MS`] after the takeover),
//! then drops out of the JWKS and is deleted.
//!
//! A revocation is for a key believed leaked: it is out of use at once on every instance (see
//! `service::tokens`), and if it was signing, a fresh key takes over at once, unpublished until
//! then: the price is that offline verifiers may refuse the fresh key's tokens until they fetch
//! the JWKS again.

use crate::clock::{Clock, Millis, SystemClock, to_rfc3339};
use crate::config::DatabaseArgs;
use crate::config::{Backend, DatabaseSettings};
use crate::store::signing_keys::Revocation;
use crate::store::{Db, StoreError};
use crate::tokens::keys::{
    JWKS_MAX_AGE_SECS, KEY_RELOAD_EVERY_MS, KeyInfo, KeyState, PUBLISH_DELAY_MS, RETIRE_AFTER_MS,
    generate_seed, schedule, signing_number,
};
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// List the approval signing keys: kid, created, active from, retires at, state (next, active,
    /// verifying-only, retired, revoked).
    List(DatabaseArgs),
    /// Add a new approval signing key. Every instance publishes it within a reload (30 s); it signs
    /// new tokens 6 minutes after this command; the key it replaces verifies the tokens it signed
    /// until they have all expired (11 minutes after the takeover), then retires.
    Rotate(RotateArgs),
    /// Revoke a signing key believed leaked: on every instance its tokens are refused and it leaves
    /// /.well-known/jwks.json at once. If it was signing, a fresh key takes over at once.
    #[command(long_about = REVOKE_ABOUT)]
    Revoke(RevokeArgs),
}

const REVOKE_ABOUT: &str = "\
Revoke a signing key believed leaked. At once, on every instance: its tokens (approvals and gate \
tokens alike) are refused online (verify-token, clawgate verify) and it leaves \
/.well-known/jwks.json. Instances stop signing with it as they reload their keys: at once on \
PostgreSQL, within 30 s on a shared SQLite file (a token signed meanwhile is refused like the \
others). If it was the key signing now, a fresh key is stored and signs at once, without the \
6-minute publish delay of `keys rotate`.

Consequences:
  - every live token it signed is refused from now on: agents holding one must ask again;
  - offline verifiers holding a cached JWKS (max-age 300 s) may accept its tokens until their copy \
expires, 5 minutes at most;
  - offline verifiers may refuse the fresh key's tokens (unknown_key) until they fetch the JWKS \
again, 5 minutes at most.

To replace a key that is not compromised, use `keys rotate`: nothing is refused.

Examples:
  clawgate keys list
  clawgate keys revoke 2
  clawgate keys revoke 3qGx1bQ0cR8mZ2Lk";

#[derive(Debug, Clone, Args)]
pub struct RevokeArgs {
    /// The key: its number or its kid, as `keys list` shows them.
    #[arg(value_name = "NUMBER|KID", allow_hyphen_values = true)]
    pub key: String,

    #[command(flatten)]
    pub db: DatabaseArgs,
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
        KeysCommand::Revoke(args) => {
            let (db, now) = open(&args.db).await?;
            let result = revoke(&db, now, &args.key).await;
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

/// The key `which` names: a number, else a kid.
fn find<'a>(infos: &'a [KeyInfo], which: &str) -> anyhow::Result<&'a KeyInfo> {
    let which = which.trim();
    let by_number = which.parse::<i64>().ok().and_then(|n| infos.iter().find(|k| k.number == n));
    by_number.or_else(|| infos.iter().find(|k| k.kid == which)).ok_or_else(|| {
        anyhow::anyhow!(
            "no signing key is numbered or has the kid `{which}`: `clawgate keys list` shows them"
        )
    })
}

async fn revoke(db: &Db, now: Millis, which: &str) -> anyhow::Result<ExitCode> {
    let infos = schedule(&db.signing_keys().await?);
    let key = find(&infos, which)?;
    if let Some(at) = key.revoked_at {
        anyhow::bail!("key {} ({}) was already revoked at {}", key.number, key.kid, to_rfc3339(at));
    }
    let signing = signing_number(&infos, now);
    let others_can_sign =
        infos.iter().any(|k| k.number != key.number && k.revoked_at.is_none() && k.active_from <= now);
    // A fresh key takes over from a revoked signing key (never an older, superseded one), and
    // whenever no other key could sign yet (one in its publish delay must wait it out).
    let successor = (signing == Some(key.number) || !others_can_sign).then(generate_seed);
    let revoked = match db.revoke_signing_key(key.number, &key.kid, now, successor).await? {
        Revocation::Revoked { successor } => successor,
        Revocation::NotRevocable => anyhow::bail!("key {} was revoked by someone else just now", key.number),
    };
    println!(
        "revoked signing key {} ({}): every instance refuses its tokens and drops it from /.well-known/jwks.json \
         now, and stops signing with it as it reloads its keys (at once on PostgreSQL, within {} s otherwise)",
        key.number,
        key.kid,
        KEY_RELOAD_EVERY_MS / 1000
    );
    match revoked {
        Some(number) => {
            let infos = schedule(&db.signing_keys().await?);
            let new = infos.iter().find(|k| k.number == number).map(|k| k.kid.as_str()).unwrap_or("?");
            println!("new signing key {number}: kid {new}");
            println!("it signs new approval and gate tokens from now on, on every instance");
        }
        None => {
            if let Some(current) = signing.and_then(|n| infos.iter().find(|k| k.number == n)) {
                println!("key {} ({}) keeps signing", current.number, current.kid);
            }
        }
    }
    println!("consequences:");
    println!(
        "  - every live token key {} signed (approvals and gate tokens) is refused from now on: agents holding one \
         must ask again",
        key.number
    );
    let cache = minutes(JWKS_MAX_AGE_SECS * 1000);
    println!(
        "  - offline verifiers holding a cached JWKS may accept its tokens until their copy expires, by {} ({cache} \
         at most)",
        to_rfc3339(now + JWKS_MAX_AGE_SECS * 1000)
    );
    if revoked.is_some() {
        println!(
            "  - offline verifiers may refuse the new key's tokens (unknown_key) until they fetch \
             /.well-known/jwks.json again ({cache} at most)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::KeysCommand;
    use clap::Parser;

    /// `clawgate keys …` as the binary parses it.
    #[derive(Debug, Parser)]
    struct Keys {
        #[command(subcommand)]
        command: KeysCommand,
    }

    #[test]
    fn a_kid_may_start_with_a_hyphen() {
        // base64url kids start with `-` one time in 64: a value, not an unknown flag.
        let parsed = Keys::try_parse_from(["keys", "revoke", "-Kx3vR9sQ0aLm2PzQ"]);
        match parsed.map(|k| k.command) {
            Ok(KeysCommand::Revoke(args)) => assert_eq!(args.key, "-Kx3vR9sQ0aLm2PzQ"),
            other => panic!("parsed as {other:?}"),
        }
    }
}
