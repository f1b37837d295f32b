//! WebAuthn ceremonies shared by sign-in and approval: start one (state saved in the database),
//! take it back exactly once, and check an assertion against it. The shapes the passkey and
//! approval routes share (`CeremonyStart`, `AssertionBody`) live here, as does the start of an
//! approval ceremony, so neither route file imports the other.

use super::error::{ApiError, ApiResult};
use crate::clock::Millis;
use crate::domain::ids::{CeremonyId, RequestId, UserId};
use crate::service::approvals::ToApprove;
use crate::service::grants::{self, GrantChoice};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::ceremonies::{CeremonyKind, NewCeremony};
use crate::store::passkeys::StoredPasskey;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use utoipa::ToSchema;
use webauthn_rs::prelude::{
    AuthenticationResult, Credential, DiscoverableAuthentication, PasskeyAuthentication, PublicKeyCredential,
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

/// The state of an approval ceremony: the assertion against the owner's passkeys and the
/// standing grant chosen with it, if any. Stored as `{"Known": …, "grant": …}`, so a state saved
/// before grants existed (`AssertionState::Known`, `{"Known": …}`) reads as one without a grant.
#[derive(Serialize, Deserialize)]
pub struct ApprovalState {
    #[serde(rename = "Known")]
    pub assertion: PasskeyAuthentication,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantChoice>,
}

pub use crate::domain::ids::credential_id_text;

/// A WebAuthn ceremony to hand to `navigator.credentials.create()` or `.get()`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CeremonyStart {
    /// Send this back with the authenticator's response.
    pub ceremony_id: String,
    /// `register`, `login` or `approve`.
    pub purpose: String,
    /// WebAuthn options (`PublicKeyCredentialCreationOptions` or `…RequestOptions`), base64url binary fields.
    #[schema(value_type = Object)]
    pub public_key: serde_json::Value,
}

/// The `publicKey` member of webauthn-rs' challenge (`{"publicKey": {...}}`).
pub fn public_key_options<T: Serialize>(challenge: &T) -> ApiResult<serde_json::Value> {
    let mut value = serde_json::to_value(challenge).map_err(ApiError::internal)?;
    Ok(value.get_mut("publicKey").map(serde_json::Value::take).unwrap_or_default())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssertionBody {
    #[schema(pattern = r"^cer_[0-9A-Za-z]{22}$")]
    pub ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get()`, as JSON.
    #[schema(value_type = Object)]
    pub credential: PublicKeyCredential,
}

/// `authenticate/start` with a `requestId`: a ceremony that can only approve this request,
/// answerable only by one of its owner's passkeys. With `grant`, the standing grant chosen on
/// the approve page, checked now (400 `not_grantable`) and kept with the ceremony, so the
/// approval that finishes it creates exactly that grant.
pub async fn start_approval(
    app: &AppState,
    id: &RequestId,
    grant: Option<GrantChoice>,
) -> ApiResult<CeremonyStart> {
    let ToApprove { record, passkeys, at } = app.services.approvals.to_approve(id).await?;
    if let Some(choice) = &grant {
        grants::check_choice(&record, choice)?;
    }
    let (challenge, state) =
        app.webauthn.start_passkey_authentication(&passkeys).map_err(ApiError::internal)?;
    let expires = (at + CEREMONY_TTL_MS).min(record.expires_at);
    let id = save(
        app,
        CeremonyKind::Approve,
        Some(record.user_id.clone()),
        Some(record.id.clone()),
        &ApprovalState { assertion: state, grant },
        expires,
    )
    .await?;
    Ok(CeremonyStart {
        ceremony_id: id.to_string(),
        purpose: "approve".into(),
        public_key: public_key_options(&challenge)?,
    })
}

pub fn webauthn_failed(e: WebauthnError) -> ApiError {
    ApiError::bad_request("passkey_verification_failed", format!("the passkey response did not verify: {e}"))
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
///
/// Failures are counted against the client that sent them (`ip`), never against the account a
/// presented credential id names: credential ids are public, so charging their owner would let
/// anyone lock that person out. An account is charged only for an assertion whose signature
/// verified and was refused all the same (a signature counter that went back: a cloned key).
pub async fn finish_assertion(
    app: &AppState,
    ip: IpAddr,
    credential: &PublicKeyCredential,
    state: AssertionState,
) -> ApiResult<(StoredPasskey, AuthenticationResult)> {
    app.assertion_failures.peek(&ip, app.clock.as_ref()).map_err(too_many_failures)?;
    match verify_assertion(app, credential, state).await {
        Ok((stored, result)) => {
            // Only someone holding the passkey gets this far: an account that has seen cloned
            // assertions lately waits here, whoever asks.
            app.cloned_assertions.peek(&stored.user_id, app.clock.as_ref()).map_err(too_many_failures)?;
            Ok((stored, result))
        }
        Err(Refused::Unverified(e)) => {
            let _ = app.assertion_failures.check(&ip, app.clock.as_ref());
            tracing::warn!(%ip, code = e.code, security_event = "passkey_assertion_failed", "a passkey assertion failed");
            Err(e)
        }
        Err(Refused::Verified(user, e)) => {
            let _ = app.assertion_failures.check(&ip, app.clock.as_ref());
            let _ = app.cloned_assertions.check(&user, app.clock.as_ref());
            Err(e)
        }
        Err(Refused::Unavailable(e)) => Err(e),
    }
}

fn too_many_failures(retry_after: u64) -> ApiError {
    let mut e = ApiError::rate_limited(retry_after);
    e.message = format!("too many failed passkey attempts; try again in {retry_after} s");
    e
}

/// Why an assertion was not accepted, as far as counting failures goes.
enum Refused {
    /// Nothing proved possession of a passkey: charged to the client only.
    Unverified(ApiError),
    /// The signature verified, yet the assertion was refused (a cloned key): charged to the
    /// passkey's account too.
    Verified(UserId, ApiError),
    /// The database failed: nobody is charged.
    Unavailable(ApiError),
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        if e.status.is_server_error() { Refused::Unavailable(e) } else { Refused::Unverified(e) }
    }
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

fn unknown_passkey() -> ApiError {
    ApiError::bad_request("unknown_passkey", "that passkey is not registered here")
}

/// Refuses client data collected for a framed page (WebAuthn L3 `crossOrigin` / `topOrigin`):
/// clawgate's pages are never framed, so such a ceremony was run by someone else's page.
pub fn refuse_cross_origin(client_data_json: &[u8]) -> ApiResult<()> {
    let data: serde_json::Value = serde_json::from_slice(client_data_json).map_err(|_| {
        ApiError::bad_request("passkey_verification_failed", "the passkey response's client data is not JSON")
    })?;
    let cross_origin = data.get("crossOrigin").is_some_and(|v| v != &serde_json::Value::Bool(false));
    if cross_origin || data.get("topOrigin").is_some() {
        return Err(ApiError::bad_request(
            "passkey_verification_failed",
            "the passkey was used inside a frame of another site (crossOrigin/topOrigin); clawgate's pages are never framed, so this is refused",
        ));
    }
    Ok(())
}

async fn verify_assertion(
    app: &AppState,
    credential: &PublicKeyCredential,
    state: AssertionState,
) -> Result<(StoredPasskey, AuthenticationResult), Refused> {
    refuse_cross_origin(&credential.response.client_data_json)?;
    let result = match state {
        AssertionState::Known(st) => app.webauthn.finish_passkey_authentication(credential, &st),
        AssertionState::Discoverable(st) => {
            let (handle, cred_id) =
                app.webauthn.identify_discoverable_authentication(credential).map_err(webauthn_failed)?;
            let stored = app
                .db
                .passkey_by_credential(&credential_id_text(cred_id))
                .await?
                .ok_or_else(unknown_passkey)?;
            // The user handle the authenticator returned must name the passkey's owner.
            let owner = app.db.user(&stored.user_id).await?.ok_or_else(unknown_passkey)?;
            if owner.webauthn_handle != handle.to_string() {
                return Err(unknown_passkey().into());
            }
            app.webauthn.finish_discoverable_authentication_v2(credential, st, &stored.passkey)
        }
    };
    let result = match result {
        Ok(r) => r,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            // webauthn-rs checks the counter after the signature: this one verified.
            let id = credential_id_text(credential.get_credential_id());
            let stored = app.db.passkey_by_credential(&id).await?.ok_or_else(unknown_passkey)?;
            return Err(counter_regressed(&stored, None));
        }
        Err(e) => return Err(webauthn_failed(e).into()),
    };
    if !result.user_verified() {
        return Err(ApiError::bad_request(
            "user_verification_required",
            "the authenticator did not verify the person (PIN or biometrics); nothing was approved",
        )
        .into());
    }
    record_use(app, &result).await
}

/// Checks the signature counter against the one stored *now* (not the one the ceremony started
/// with) and saves the new one, as one compare-and-swap: of two assertions racing with the same
/// counter, one is refused.
async fn record_use(
    app: &AppState,
    result: &AuthenticationResult,
) -> Result<(StoredPasskey, AuthenticationResult), Refused> {
    let id = credential_id_text(result.cred_id());
    for _ in 0..3 {
        let mut stored = app.db.passkey_by_credential(&id).await?.ok_or_else(unknown_passkey)?;
        let known = Credential::from(stored.passkey.clone()).counter;
        let presented = result.counter();
        // Counters of 0 and 0: a synced passkey that keeps no counter.
        if (presented != 0 || known != 0) && presented <= known {
            return Err(counter_regressed(&stored, Some((presented, known))));
        }
        stored.passkey.update_credential(result);
        if app.db.touch_passkey(&stored, app.now()).await? {
            return Ok((stored, result.clone()));
        }
        // Another assertion of this passkey landed in between: compare with its counter.
    }
    Err(ApiError::conflict("passkey_busy", "this passkey is being used elsewhere at this moment; try again")
        .into())
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
    Refused::Verified(
        stored.user_id.clone(),
        ApiError::bad_request(
            "passkey_verification_failed",
            "the passkey response did not verify: the passkey's signature counter went backwards, so it may have been cloned",
        ),
    )
}
