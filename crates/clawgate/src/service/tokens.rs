//! Approval and gate tokens, online: checking one as `verify-token` answers (signature, kind,
//! expiry, who decided against what the caller accepts, the action, the signing key's standing,
//! and only then consuming it: a token reported invalid is never consumed), the public keys, and
//! reloading the signing keys.
//!
//! A key `clawgate keys revoke` took out of use is refused at once on every instance: online
//! verification asks the store about the token's key, and the JWKS asks which keys are revoked.
//! An instance that finds it still holds a revoked key reloads its keys there and then, so it also
//! stops signing with it (PostgreSQL instances are told by NOTIFY besides; every instance reloads
//! at its upkeep anyway).

use super::Shared;
use crate::clock::{Clock, Millis};
use crate::store::{Db, StoreResult};
use crate::tokens::approval::{Accept, ApprovalClaims, ApprovalSigner, InvalidReason};
use crate::tokens::keys::schedule;
use std::sync::Arc;

/// The token service (see `http::substates`).
#[derive(Clone)]
pub struct Tokens {
    db: Db,
    signer: Arc<ApprovalSigner>,
    clock: Arc<dyn Clock>,
}

/// What the caller asks of a token.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    /// The token must approve exactly this action text.
    pub action: Option<&'a str>,
    /// Which deciders besides a person's passkey the caller takes.
    pub accept: Accept,
    /// Mark it used: valid this once, on every instance.
    pub consume: bool,
}

impl Tokens {
    pub fn new(shared: &Shared) -> Self {
        Self { db: shared.db.clone(), signer: shared.signer.clone(), clock: shared.clock.clone() }
    }

    /// The token's claims if it holds for `check`, or why not. An error when the store cannot
    /// say whether its key was revoked, or record its consumption: never "valid" then.
    pub async fn verify(
        &self,
        token: &str,
        check: Check<'_>,
    ) -> StoreResult<Result<ApprovalClaims, InvalidReason>> {
        let now = self.clock.now_ms();
        let verified = match self.signer.verify(token, now, check.accept) {
            Ok(v) => v,
            Err(reason) => return Ok(Err(reason)),
        };
        let claims = verified.claims;
        if check.action.is_some_and(|a| a != claims.action) {
            return Ok(Err(InvalidReason::ActionMismatch));
        }
        // Only a token that checked out costs a read: garbage never reaches the store.
        if self.db.signing_key_withdrawn(verified.key).await? {
            self.reload_logged(now).await;
            return Ok(Err(InvalidReason::UnknownKey));
        }
        // Last: every other reason to refuse has been ruled out, so a refused token stays unused.
        if check.consume && !self.db.consume_token(&claims.jti, claims.exp * 1000, now).await? {
            return Ok(Err(InvalidReason::AlreadyUsed));
        }
        Ok(Ok(claims))
    }

    /// The JSON Web Key Set: every key that may have signed a live token or is about to sign,
    /// never a revoked one. Should the store be unreachable, the keys as last loaded here.
    pub async fn jwks(&self) -> serde_json::Value {
        let now = self.clock.now_ms();
        match self.db.revoked_signing_keys().await {
            Ok(revoked) if self.signer.holds_any(&revoked) => self.reload_logged(now).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot check for revoked signing keys; serving the keys held")
            }
        }
        self.signer.jwks(now)
    }

    async fn reload_logged(&self, now: Millis) {
        if let Err(e) = self.reload_keys(now).await {
            tracing::warn!(error = %format!("{e:#}"), "cannot reload the signing keys; will retry at upkeep");
        }
    }

    /// Reloads the signing keys as stored: a key `clawgate keys rotate` stored is published here
    /// well before it signs (see `tokens::keys::PUBLISH_DELAY_MS`), a revoked one is dropped, and
    /// the rows of keys retired (or revoked) longer than any token they signed lives are deleted.
    pub async fn reload_keys(&self, now: Millis) -> anyhow::Result<()> {
        let keys = self.db.signing_keys().await?;
        let reloaded = self.signer.reload(&keys)?;
        for kid in &reloaded.added {
            tracing::info!(%kid, "a new approval signing key is published");
        }
        let infos = schedule(&keys);
        for kid in &reloaded.dropped {
            if infos.iter().any(|k| &k.kid == kid && k.revoked_at.is_some()) {
                tracing::warn!(%kid, "a revoked signing key is out of use here: it neither signs nor verifies");
            }
        }
        let gone: Vec<i64> =
            infos.iter().filter(|k| k.deletable_at().is_some_and(|at| at <= now)).map(|k| k.number).collect();
        if !gone.is_empty() {
            self.db.delete_signing_keys(&gone).await?;
            tracing::info!(keys = ?gone, "retired and revoked approval signing keys deleted: every token they signed has expired");
        }
        Ok(())
    }
}
