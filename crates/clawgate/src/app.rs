//! Wiring: the state every request shares, background upkeep, and serving.

use crate::clock::{Clock, Millis};
use crate::config::{Secret, Settings};
use crate::domain::approval::Status;
use crate::domain::ids::UserId;
use crate::events::{ApprovalEvent, Events};
use crate::http::rate_limit::RateLimiter;
use crate::push::PushSender;
use crate::secrets::ServerSecrets;
use crate::store::Db;
use crate::store::StoreResult;
use crate::tokens::approval::ApprovalSigner;
use crate::tokens::session::SessionKeys;
use axum::serve::ListenerExt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// How often lapsed requests, ceremonies and used-token records are cleaned up.
const UPKEEP_EVERY: Duration = Duration::from_secs(30);
/// Used-token records are kept this long past the token's expiry.
const USED_TOKEN_GRACE_MS: Millis = 24 * 3600 * 1000;

pub struct AppState {
    pub settings: Settings,
    pub db: Db,
    pub webauthn: Webauthn,
    pub sessions: SessionKeys,
    pub approvals: ApprovalSigner,
    pub api_key_secret: Secret,
    pub vapid_public: String,
    /// Sends Web Push messages signed with the VAPID key.
    pub push: Arc<PushSender>,
    pub clock: Arc<dyn Clock>,
    pub auth_limiter: RateLimiter,
    pub events: Events,
}

impl AppState {
    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// Records lapsed requests (of everyone, or of one person) as expired and tells whoever
    /// waits on them. How many it expired.
    pub async fn expire_lapsed(&self, user: Option<&UserId>) -> StoreResult<usize> {
        let expired = self.db.expire_due(self.now(), user).await?;
        for r in &expired {
            self.events.publish(ApprovalEvent {
                user_id: r.user_id.clone(),
                api_key_id: r.api_key_id.clone(),
                request_id: r.id.clone(),
                status: Status::Expired,
            });
        }
        Ok(expired.len())
    }
}

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
    let webauthn = build_webauthn(&settings)?;
    let db = Db::connect(&settings.database).await?;
    db.migrate().await?;
    let secrets = ServerSecrets::load(&db, &settings, clock.now_ms()).await?;
    let issuer = settings.issuer();
    let vapid_private = std::str::from_utf8(secrets.vapid_private.expose())
        .map_err(|_| anyhow::anyhow!("the VAPID private key is not text"))?;
    let push = PushSender::new(vapid_private, &settings.vapid_subject, settings.push_allow_http_loopback)?;
    Ok(Arc::new(AppState {
        webauthn,
        sessions: SessionKeys::new(secrets.jwt.expose(), issuer.clone(), settings.session_ttl_secs),
        approvals: ApprovalSigner::new(&secrets.signing_seeds, issuer, settings.approval_token_ttl_secs)?,
        api_key_secret: secrets.api_key,
        vapid_public: secrets.vapid_public,
        push: Arc::new(push),
        auth_limiter: RateLimiter::new(settings.auth_rate_limit_per_min),
        events: Events::default(),
        db,
        clock,
        settings,
    }))
}

/// One pass of cleanup; safe to run on several instances at once.
pub async fn upkeep(state: &AppState) -> anyhow::Result<()> {
    let now = state.now();
    let expired = state.expire_lapsed(None).await?;
    state.db.delete_expired_ceremonies(now).await?;
    state.db.delete_old_used_tokens(now - USED_TOKEN_GRACE_MS).await?;
    if expired > 0 {
        tracing::info!(expired, "lapsed requests marked expired");
    }
    Ok(())
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
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
    let router = crate::http::router(state.clone());
    let closing = state.clone();
    let shutdown = async move {
        shutdown.await;
        // Long waits and event streams end now, so the graceful shutdown does not wait on them.
        closing.events.close();
    };
    // No Nagle delay: an event pushed to a waiting agent leaves at once, not 40 ms later.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    upkeep_task.abort();
    state.db.close().await;
    Ok(result?)
}
