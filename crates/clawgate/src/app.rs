//! Wiring: the state every request shares, background upkeep, and serving.

use crate::clock::{Clock, DatabaseClock, Millis, SystemClock};
use crate::config::{Backend, Settings};
use crate::events::{
    ApprovalEvent, DECISION_EVENTS_CHANNEL, DecisionEvent, EVENTS_CHANNEL, Events, KEY_EVENTS_CHANNEL,
    KeyEvent, SIGNING_KEYS_CHANNEL,
};
use crate::push::PushSender;
use crate::rate_limit::RateLimiter;
use crate::secrets::ServerSecrets;
use crate::service::{IdentityKeys, Services, Shared};
pub use crate::state::AppState;
use crate::store::Db;
use crate::tokens::approval::ApprovalSigner;
use crate::tokens::keys::KEY_RELOAD_EVERY_MS;
use crate::tokens::session::SessionKeys;
use sqlx::postgres::PgListener;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// How often lapsed requests, ceremonies and used-token records are cleaned up, and the signing
/// keys reloaded.
const UPKEEP_EVERY: Duration = Duration::from_millis(KEY_RELOAD_EVERY_MS as u64);
/// Idempotency-Keys are honoured this long.
const IDEMPOTENCY_KEY_LIFETIME_MS: Millis = 24 * 3600 * 1000;
/// Used-token records are kept this long past the token's expiry.
const USED_TOKEN_GRACE_MS: Millis = 24 * 3600 * 1000;
/// Rows of old gate decisions (and as many audit rows) deleted per write, and writes per upkeep
/// pass: short writes that others interleave with, and a pass that ends.
const PRUNE_BATCH: u32 = 1000;
const PRUNE_BATCHES_PER_PASS: usize = 50;
/// Accounts whose gate receipts one upkeep pass prunes ([`PRUNE_BATCH`] each at most).
const PRUNE_ACCOUNTS_PER_PASS: i64 = 100;

pub fn build_webauthn(settings: &Settings) -> anyhow::Result<Webauthn> {
    let webauthn = WebauthnBuilder::new(&settings.rp_id, &settings.rp_origin)
        .map_err(|e| {
            anyhow::anyhow!("WebAuthn settings rejected ({e:?}): check WEBAUTHN_RP_ID and WEBAUTHN_RP_ORIGIN")
        })?
        .rp_name(&settings.rp_name)
        .build()
        .map_err(|e| anyhow::anyhow!("WebAuthn settings rejected: {e:?}"))?;
    Ok(webauthn)
}

/// Chooses ring as the process's TLS crypto (the one sqlx already uses), once; outgoing HTTPS
/// (Web Push) needs it. Safe to call many times.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Connects, migrates, loads or creates the server's secrets, and assembles the shared state.
pub async fn build_state(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<AppState>> {
    install_tls_provider();
    // Before any file is created: the database and its companions hold the secrets.
    crate::os::restrict_umask();
    let webauthn = build_webauthn(&settings)?;
    let db = Db::connect(&settings.database).await?;
    db.migrate().await?;
    let database_clock = settings.use_database_clock.then(|| Arc::new(DatabaseClock::default()));
    let clock: Arc<dyn Clock> = match &database_clock {
        Some(c) => {
            sync_clock(&db, c).await?;
            c.clone()
        }
        None => clock,
    };
    let secrets = ServerSecrets::load(&db, &settings, clock.now_ms()).await?;
    let issuer = settings.issuer();
    let vapid_private = std::str::from_utf8(secrets.vapid_private.expose())
        .map_err(|_| anyhow::anyhow!("the VAPID private key is not text"))?;
    let push = PushSender::new(
        vapid_private,
        &settings.vapid_subject,
        settings.push_policy.clone(),
        settings.push_min_interval,
    )?;
    let shared = Shared {
        db,
        clock,
        events: Arc::new(Events::default()),
        push: Arc::new(push),
        signer: Arc::new(ApprovalSigner::new(
            &secrets.signing_keys,
            issuer.clone(),
            settings.approval_token_ttl_secs,
        )?),
        metrics: Arc::default(),
        api_key_secret: Arc::new(secrets.api_key),
    };
    let identity = IdentityKeys {
        webauthn,
        sessions: SessionKeys::new(secrets.jwt.expose(), issuer, settings.session_ttl_secs),
    };
    let services = Services::new(&shared, &settings, identity);
    let Shared { db, clock, events, push, signer, metrics, .. } = shared;
    Ok(Arc::new(AppState {
        signer,
        vapid_public: secrets.vapid_public,
        push,
        auth_limiter: RateLimiter::new(settings.auth_rate_limit_per_min),
        poll_limiter: RateLimiter::new(settings.poll_rate_limit_per_min),
        gate_limiter: RateLimiter::new(settings.gate_rate_limit_per_min),
        events,
        metrics,
        services,
        database_clock,
        db,
        clock,
        settings,
    }))
}

/// Disagreements with the database's clock beyond this are worth a warning.
const CLOCK_SKEW_WARNING_MS: Millis = 2_000;

/// Measures the local clock against the database's and corrects it.
async fn sync_clock(db: &Db, clock: &DatabaseClock) -> anyhow::Result<()> {
    let before = SystemClock.now_ms();
    let Some(database) = db.database_time_ms().await? else { return Ok(()) };
    clock.set_offset(before, database, SystemClock.now_ms());
    if clock.offset_ms().abs() > CLOCK_SKEW_WARNING_MS {
        tracing::warn!(
            offset_ms = clock.offset_ms(),
            "this machine's clock disagrees with the database's; using the database's"
        );
    }
    Ok(())
}

/// One pass of cleanup; safe to run on several instances at once.
pub async fn upkeep(state: &AppState) -> anyhow::Result<()> {
    if let Some(clock) = &state.database_clock {
        sync_clock(&state.db, clock).await?;
    }
    let now = state.now();
    reload_signing_keys(state, now).await?;
    state.db.flush_last_use().await?;
    let expired = state.expire_lapsed(None).await?;
    state.db.delete_expired_ceremonies(now).await?;
    state.db.delete_expired_sessions(now).await?;
    state.db.delete_old_used_tokens(now - USED_TOKEN_GRACE_MS).await?;
    state.db.delete_old_idempotency_keys(now - IDEMPOTENCY_KEY_LIFETIME_MS).await?;
    if expired > 0 {
        tracing::info!(expired, "lapsed requests marked expired");
    }
    if let Some(retention) = state.settings.decision_retention {
        let kept_ms = Millis::try_from(retention.as_millis()).unwrap_or(Millis::MAX);
        let before = now.saturating_sub(kept_ms);
        let pruned = prune_old_decisions(state, before).await?;
        if pruned > 0 {
            tracing::info!(
                rows = pruned,
                "gate decisions past DECISION_RETENTION_DAYS deleted, with their audit"
            );
        }
        // Their receipts are emptied, not deleted: each chain still holds (see `store::pruning`).
        let batch = i64::from(PRUNE_BATCH);
        let emptied = state.services.receipts.prune(before, batch, PRUNE_ACCOUNTS_PER_PASS).await?;
        if emptied > 0 {
            tracing::info!(receipts = emptied, "gate receipts past DECISION_RETENTION_DAYS emptied");
        }
    }
    Ok(())
}

/// Deletes the gate's decisions made before `before`, and their audit rows, a batch at a time
/// (at most [`PRUNE_BATCHES_PER_PASS`] batches; the next pass goes on). Rows deleted.
async fn prune_old_decisions(state: &AppState, before: Millis) -> anyhow::Result<u64> {
    let mut pruned = 0;
    for _ in 0..PRUNE_BATCHES_PER_PASS {
        let deleted = state.db.prune_gate_decisions(before, i64::from(PRUNE_BATCH)).await?;
        pruned += deleted;
        // Fewer than a batch in all: neither table has any left.
        if deleted < u64::from(PRUNE_BATCH) {
            break;
        }
    }
    Ok(pruned)
}

/// Reloads the approval signing keys (see [`Tokens::reload_keys`]).
pub async fn reload_signing_keys(state: &AppState, now: Millis) -> anyhow::Result<()> {
    state.services.tokens.reload_keys(now).await
}

/// Listens for decisions, API key and signing key changes others announce (PostgreSQL NOTIFY).
async fn listen_for_others(state: &AppState) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(&state.settings.database.url).await?;
    listener
        .listen_all([EVENTS_CHANNEL, KEY_EVENTS_CHANNEL, SIGNING_KEYS_CHANNEL, DECISION_EVENTS_CHANNEL])
        .await?;
    Ok(listener)
}

/// A signing key was revoked (by `clawgate keys revoke`): this instance stops signing with it,
/// accepting it and publishing it now, not at its next upkeep.
async fn reload_after_revocation(state: &AppState) {
    if let Err(e) = reload_signing_keys(state, state.now()).await {
        tracing::warn!(error = %format!("{e:#}"), "cannot reload the signing keys after a revocation; will retry at upkeep");
    }
}

/// Passes one announcement of another instance to this one's listeners.
fn relay(state: &AppState, channel: &str, payload: &str) {
    let ours = |from: &str| from == state.db.instance_id();
    if channel == KEY_EVENTS_CHANNEL {
        match KeyEvent::from_wire(payload) {
            Some((from, event)) if !ours(&from) => {
                state.db.forget_api_key(Some(&event.api_key_id));
                state.events.publish_key(&event);
            }
            Some(_) => {}
            None => tracing::warn!("ignored a malformed key event from another instance"),
        }
    } else if channel == DECISION_EVENTS_CHANNEL {
        match DecisionEvent::from_wire(payload) {
            Some((from, event)) if !ours(&from) => state.events.publish_decision(event),
            Some(_) => {}
            None => tracing::warn!("ignored a malformed gate decision from another instance"),
        }
    } else {
        match ApprovalEvent::from_wire(payload) {
            Some((from, event)) if !ours(&from) => state.events.publish(event),
            Some(_) => {}
            None => tracing::warn!("ignored a malformed event from another instance"),
        }
    }
}

/// Passes decisions announced by other instances to this one's listeners, from `first` (a
/// listener opened before serving began, so none is missed at start) and, whenever that
/// connection is lost, from a new one. Announcements made while no listener was connected are
/// lost with the connection, so every agent waiting here re-reads its request once a new one
/// listens: nobody waits out a decision that was announced into the gap.
async fn relay_other_instances(state: Arc<AppState>, first: Option<PgListener>) {
    let mut next = first;
    loop {
        let mut listener = match next.take() {
            Some(l) => l,
            None => match listen_for_others(&state).await {
                Ok(l) => {
                    state.db.forget_api_key(None);
                    state.events.wake_all();
                    // A revocation may have been announced into the gap too.
                    reload_after_revocation(&state).await;
                    l
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other instances' decisions; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            },
        };
        // `Ok(None)`: the connection was lost. Reconnect here rather than inside sqlx, so the
        // reconnection is known and followed by the wake-up above.
        while let Ok(Some(notification)) = listener.try_recv().await {
            if notification.channel() == SIGNING_KEYS_CHANNEL {
                reload_after_revocation(&state).await;
            } else {
                relay(&state, notification.channel(), notification.payload());
            }
        }
        tracing::warn!("lost the connection that hears other instances' decisions; reconnecting");
    }
}

/// Serves until `shutdown` resolves, then finishes in-flight requests. Binds METRICS_ADDR
/// itself when it is set.
pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = match state.settings.metrics_addr {
        Some(addr) => Some(crate::server::metrics::bind(addr).await?),
        None => None,
    };
    serve_with(state, listener, None, metrics, shutdown).await
}

/// [`serve`], over TLS when `tls` is given (see [`crate::tls::Tls::start`]), and with `/metrics`
/// served on `metrics` (METRICS_ADDR, bound by the caller) if given.
pub async fn serve_with(
    state: Arc<AppState>,
    listener: TcpListener,
    tls: Option<Arc<crate::tls::Tls>>,
    metrics: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let upkeep_state = state.clone();
    let upkeep_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = upkeep(&upkeep_state).await {
                tracing::warn!(error = %format!("{e:#}"), "upkeep failed; will retry");
            }
        }
    });
    let listener_task = if state.db.backend() == Backend::Postgres {
        // Listening before serving: a decision made elsewhere right after start is not missed.
        let first = match tokio::time::timeout(Duration::from_secs(5), listen_for_others(&state)).await {
            Ok(Ok(l)) => Some(l),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot listen for other instances' decisions yet; retrying");
                None
            }
            Err(_) => None,
        };
        Some(tokio::spawn(relay_other_instances(state.clone(), first)))
    } else {
        None
    };
    let metrics_task = metrics.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "metrics at http://{addr}/metrics");
        }
        tokio::spawn(crate::server::metrics::run(state.clone(), listener))
    });
    let router = crate::http::router(state.clone());
    let closing = state.clone();
    let shutdown = async move {
        shutdown.await;
        // Long waits and event streams end now, so the graceful shutdown does not wait on them.
        closing.events.close();
    };
    // Timeouts and connection caps live there (see crate::server).
    let result = crate::server::run(listener, router, &state.settings.connections, tls, shutdown).await;
    upkeep_task.abort();
    if let Some(task) = metrics_task {
        task.abort();
    }
    if let Some(task) = listener_task {
        task.abort();
    }
    if let Err(e) = state.db.flush_last_use().await {
        tracing::warn!(error = %e, "could not record the API keys' last use at shutdown");
    }
    state.db.close().await;
    Ok(result?)
}
