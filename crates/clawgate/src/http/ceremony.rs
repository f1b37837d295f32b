//! WebAuthn ceremonies shared by sign-in and approval: start one (state saved in the database),
//! take it back exactly once, and check an assertion against it.

use super::error::{ApiError, ApiResult};
use crate::app::AppState;
use crate::clock::Millis;
use crate::domain::ids::{CeremonyId, RequestId, UserId};
use crate::store::ceremonies::{CeremonyKind, NewCeremony};
use crate::store::passkeys::StoredPasskey;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, PasskeyAuthentication, PublicKeyCredential,
    WebauthnError,
};

/// How long a person has between "start" and "complete" (webauthn-rs' own default timeout).
pub const CEREMONY_TTL_MS: Millis = 300_000;

/// The state of an assertion ceremony: against a known set of passkeys, or discoverable
/// (the authenticator picks the account).
#[derive(Serialize, Deserialize)]
pub enum AssertionState {
    Known(PasskeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

pub fn credential_id_text(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

pub fn webauthn_failed(e: WebauthnError) -> ApiError {
    let reason = match e {
        WebauthnError::CredentialPossibleCompromise => {
            // A signature counter that went backwards: two copies of one authenticator exist.
            tracing::warn!(
                security_event = "passkey_counter_regressed",
                "a passkey's signature counter went backwards; it may have been cloned"
            );
            "the passkey's signature counter went backwards, so it may have been cloned".to_owned()
        }
        other => other.to_string(),
    };
    ApiError::bad_request(
        "passkey_verification_failed",
        format!("the passkey response did not verify: {reason}"),
    )
}

pub fn invalid_ceremony() -> ApiError {
    ApiError::bad_request(
        "invalid_ceremony",
        "this ceremony does not exist, has expired, was already used, or was started for something else; start again",
    )
}

pub async fn save<T: Serialize>(
    app: &AppState,
    kind: CeremonyKind,
    user_id: Option<UserId>,
    request_id: Option<RequestId>,
    state: &T,
    expires_at: Millis,
) -> ApiResult<CeremonyId> {
    let id = CeremonyId::generate();
    let now = app.now();
    let ceremony = NewCeremony {
        id: id.clone(),
        kind,
        user_id,
        request_id,
        state: serde_json::to_string(state).map_err(ApiError::internal)?,
        created_at: now,
        expires_at,
    };
    app.db.insert_ceremony(&ceremony).await?;
    Ok(id)
}

/// Takes the ceremony back (once, ever) if it matches kind, user and request.
pub async fn take<T: DeserializeOwned>(
    app: &AppState,
    id: &str,
    kind: CeremonyKind,
    user: Option<&UserId>,
    request: Option<&RequestId>,
) -> ApiResult<(Option<UserId>, T)> {
    let id = CeremonyId::parse(id).ok_or_else(invalid_ceremony)?;
    let taken =
        app.db.take_ceremony(&id, kind, user, request, app.now()).await?.ok_or_else(invalid_ceremony)?;
    let state = serde_json::from_str(&taken.state).map_err(ApiError::internal)?;
    Ok((taken.user_id, state))
}

/// Verifies an assertion and records the passkey's use (signature counter, last use).
/// Refuses an assertion without user verification.
pub async fn finish_assertion(
    app: &AppState,
    credential: &PublicKeyCredential,
    state: AssertionState,
) -> ApiResult<(StoredPasskey, AuthenticationResult)> {
    // The account the presented credential belongs to, if it is ours: failures count against it.
    let account = app.db.passkey_by_credential(&credential_id_text(credential.get_credential_id())).await?;
    let account = account.map(|p| p.user_id);
    if let Some(user) = &account {
        check_failures(app, user)?;
    }
    let verified = verify_assertion(app, credential, state).await;
    if let (Err(_), Some(user)) = (&verified, &account) {
        let _ = app.failure_limiter.check(user, app.clock.as_ref());
        tracing::warn!(user.id = %user, security_event = "passkey_assertion_failed", "a passkey assertion failed");
    }
    verified
}

/// Refuses with 429 while the account has had too many failed assertions lately.
pub fn check_failures(app: &AppState, user: &UserId) -> ApiResult<()> {
    app.failure_limiter.peek(user, app.clock.as_ref()).map_err(|retry_after| {
        let mut e = ApiError::rate_limited(retry_after);
        e.message =
            format!("too many failed passkey attempts for this account; try again in {retry_after} s");
        e
    })
}

async fn verify_assertion(
    app: &AppState,
    credential: &PublicKeyCredential,
    state: AssertionState,
) -> ApiResult<(StoredPasskey, AuthenticationResult)> {
    let (mut stored, result) = match state {
        AssertionState::Known(st) => {
            let result =
                app.webauthn.finish_passkey_authentication(credential, &st).map_err(webauthn_failed)?;
            let stored =
                app.db.passkey_by_credential(&credential_id_text(result.cred_id())).await?.ok_or_else(
                    || ApiError::bad_request("unknown_passkey", "that passkey is not registered here"),
                )?;
            (stored, result)
        }
        AssertionState::Discoverable(st) => {
            let (handle, cred_id) =
                app.webauthn.identify_discoverable_authentication(credential).map_err(webauthn_failed)?;
            let unknown = || ApiError::bad_request("unknown_passkey", "that passkey is not registered here");
            let stored =
                app.db.passkey_by_credential(&credential_id_text(cred_id)).await?.ok_or_else(unknown)?;
            // The user handle the authenticator returned must name the passkey's owner.
            let owner = app.db.user(&stored.user_id).await?.ok_or_else(unknown)?;
            if owner.webauthn_handle != handle.to_string() {
                return Err(unknown());
            }
            let result = app
                .webauthn
                .finish_discoverable_authentication_v2(credential, st, &stored.passkey)
                .map_err(webauthn_failed)?;
            (stored, result)
        }
    };
    if !result.user_verified() {
        return Err(ApiError::bad_request(
            "user_verification_required",
            "the authenticator did not verify the person (PIN or biometrics); nothing was approved",
        ));
    }
    stored.passkey.update_credential(&result);
    app.db.touch_passkey(&stored, app.now()).await?;
    Ok((stored, result))
}
