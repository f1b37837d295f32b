//! Checking an assertion against its ceremony: the signature (webauthn-rs), the owner of a
//! discoverable credential, user verification, and the signature counter (a cloned key);
//! failures counted against the client that sent them.
//!
//! Failures are counted against the client that sent them (its IP), never against the account a
//! presented credential id names: credential ids are public, so charging their owner would let
//! anyone lock that person out. An account is charged only for an assertion whose signature
//! verified and was refused all the same (a signature counter that went back: a cloned key).

use super::{AssertionState, Ceremonies, CeremonyError, CeremonyResult};
use crate::domain::ids::{UserId, credential_id_text};
use crate::store::StoreError;
use crate::store::passkeys::StoredPasskey;
use std::net::IpAddr;
use webauthn_rs::prelude::{AuthenticationResult, Credential, PublicKeyCredential, WebauthnError};

impl Ceremonies {
    /// Verifies an assertion and records the passkey's use (signature counter, last use).
    /// Refuses an assertion without user verification.
    pub(super) async fn finish_assertion(
        &self,
        ip: IpAddr,
        credential: &PublicKeyCredential,
        state: AssertionState,
    ) -> CeremonyResult<(StoredPasskey, AuthenticationResult)> {
        let clock = self.clock.as_ref();
        self.assertion_failures.peek(&ip, clock).map_err(too_many_failures)?;
        match self.verify_assertion(credential, state).await {
            Ok((stored, result)) => {
                // Only someone holding the passkey gets this far: an account that has seen cloned
                // assertions lately waits here, whoever asks.
                self.cloned_assertions.peek(&stored.user_id, clock).map_err(too_many_failures)?;
                Ok((stored, result))
            }
            Err(Refused::Unverified(e)) => {
                let _ = self.assertion_failures.check(&ip, clock);
                let code = e.code().unwrap_or_default();
                tracing::warn!(%ip, code, security_event = "passkey_assertion_failed", "a passkey assertion failed");
                Err(e)
            }
            Err(Refused::Verified(user, e)) => {
                let _ = self.assertion_failures.check(&ip, clock);
                let _ = self.cloned_assertions.check(&user, clock);
                Err(e)
            }
            Err(Refused::Unavailable(e)) => Err(e),
        }
    }

    async fn verify_assertion(
        &self,
        credential: &PublicKeyCredential,
        state: AssertionState,
    ) -> Result<(StoredPasskey, AuthenticationResult), Refused> {
        refuse_cross_origin(&credential.response.client_data_json)?;
        let result = match state {
            AssertionState::Known(st) => self.webauthn.finish_passkey_authentication(credential, &st),
            AssertionState::Discoverable(st) => {
                let (handle, cred_id) = self
                    .webauthn
                    .identify_discoverable_authentication(credential)
                    .map_err(CeremonyError::NotVerified)?;
                let stored = self
                    .db
                    .passkey_by_credential(&credential_id_text(cred_id))
                    .await?
                    .ok_or(CeremonyError::UnknownPasskey)?;
                // The user handle the authenticator returned must name the passkey's owner.
                let owner = self.db.user(&stored.user_id).await?.ok_or(CeremonyError::UnknownPasskey)?;
                if owner.webauthn_handle != handle.to_string() {
                    return Err(CeremonyError::UnknownPasskey.into());
                }
                self.webauthn.finish_discoverable_authentication_v2(credential, st, &stored.passkey)
            }
        };
        let result = match result {
            Ok(r) => r,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                // webauthn-rs checks the counter after the signature: this one verified.
                let id = credential_id_text(credential.get_credential_id());
                let stored =
                    self.db.passkey_by_credential(&id).await?.ok_or(CeremonyError::UnknownPasskey)?;
                return Err(counter_regressed(&stored, None));
            }
            Err(e) => return Err(CeremonyError::NotVerified(e).into()),
        };
        if !result.user_verified() {
            return Err(CeremonyError::UserVerificationRequired.into());
        }
        self.record_use(&result).await
    }

    /// Checks the signature counter against the one stored *now* (not the one the ceremony
    /// started with) and saves the new one, as one compare-and-swap: of two assertions racing
    /// with the same counter, one is refused.
    async fn record_use(
        &self,
        result: &AuthenticationResult,
    ) -> Result<(StoredPasskey, AuthenticationResult), Refused> {
        let id = credential_id_text(result.cred_id());
        for _ in 0..3 {
            let mut stored =
                self.db.passkey_by_credential(&id).await?.ok_or(CeremonyError::UnknownPasskey)?;
            let known = Credential::from(stored.passkey.clone()).counter;
            let presented = result.counter();
            // Counters of 0 and 0: a synced passkey that keeps no counter.
            if (presented != 0 || known != 0) && presented <= known {
                return Err(counter_regressed(&stored, Some((presented, known))));
            }
            stored.passkey.update_credential(result);
            if self.db.touch_passkey(&stored, self.now()).await? {
                return Ok((stored, result.clone()));
            }
            // Another assertion of this passkey landed in between: compare with its counter.
        }
        Err(CeremonyError::PasskeyBusy.into())
    }
}

fn too_many_failures(retry_after_secs: u64) -> CeremonyError {
    CeremonyError::TooManyFailures { retry_after_secs }
}

/// Why an assertion was not accepted, as far as counting failures goes.
enum Refused {
    /// Nothing proved possession of a passkey: charged to the client only.
    Unverified(CeremonyError),
    /// The signature verified, yet the assertion was refused (a cloned key): charged to the
    /// passkey's account too.
    Verified(UserId, CeremonyError),
    /// The database failed: nobody is charged.
    Unavailable(CeremonyError),
}

impl From<CeremonyError> for Refused {
    fn from(e: CeremonyError) -> Self {
        if e.server_side() { Refused::Unavailable(e) } else { Refused::Unverified(e) }
    }
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        CeremonyError::from(e).into()
    }
}

/// Refuses client data collected for a framed page (WebAuthn L3 `crossOrigin` / `topOrigin`):
/// clawgate's pages are never framed, so such a ceremony was run by someone else's page.
pub(super) fn refuse_cross_origin(client_data_json: &[u8]) -> CeremonyResult<()> {
    let data: serde_json::Value =
        serde_json::from_slice(client_data_json).map_err(|_| CeremonyError::ClientDataNotJson)?;
    let cross_origin = data.get("crossOrigin").is_some_and(|v| v != &serde_json::Value::Bool(false));
    if cross_origin || data.get("topOrigin").is_some() {
        return Err(CeremonyError::CrossOrigin);
    }
    Ok(())
}

fn counter_regressed(stored: &StoredPasskey, counters: Option<(u32, u32)>) -> Refused {
    let (presented, known) = counters.unzip();
    // Two copies of one authenticator exist, or an old assertion was replayed.
    tracing::warn!(
        user.id = %stored.user_id,
        passkey.id = %stored.id,
        presented,
        known,
        security_event = "passkey_counter_regressed",
        "a passkey's signature counter did not increase; it may have been cloned"
    );
    Refused::Verified(stored.user_id.clone(), CeremonyError::CounterRegressed)
}
