//! Passkeys: add one to your account, sign in with one, list, rename and delete them.
//! `authenticate/start` with a `requestId` starts an approval instead (see `ceremony::start_approval`).

use super::auth::{SessionProof, SessionResponse, issue_session, parse_email};
use crate::clock::to_rfc3339;
use crate::domain::ids::{PasskeyId, RequestId};
use crate::domain::label;
use crate::http::ceremony::{
    self, AssertionBody, AssertionState, CEREMONY_TTL_MS, CeremonyStart, credential_id_text,
    public_key_options, webauthn_failed,
};
use crate::http::cookies::SessionDelivery;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AppJson, ClientIp, Human, NotAnAgent, step_up_required};
use crate::service::grants::GrantChoice;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::ceremonies::CeremonyKind;
use crate::store::passkeys::{PasskeyAdded, StoredPasskey};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential, Uuid};

pub fn limited() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(register_start))
        .routes(routes!(register_complete))
        .routes(routes!(authenticate_start))
        .routes(routes!(authenticate_complete))
}

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(delete, rename))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    /// base64url WebAuthn credential ID.
    pub credential_id: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<&StoredPasskey> for PasskeyView {
    fn from(p: &StoredPasskey) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.clone(),
            credential_id: p.credential_id.clone(),
            created_at: to_rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(to_rfc3339),
        }
    }
}

/// Start adding a passkey to the signed-in account.
///
/// The first passkey can be added with the session from registration; later ones need a
/// passkey session.
#[utoipa::path(post, path = "/api/v1/passkey/register/start", tag = "passkeys",
    security(("session" = [])),
    responses(
        (status = 200, body = CeremonyStart),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Sign in with an existing passkey first", body = ErrorBody),
    ))]
async fn register_start(State(app): State<Arc<AppState>>, human: Human) -> ApiResult<Json<CeremonyStart>> {
    human.require_step_up(&app).await?;
    let handle = Uuid::parse_str(&human.user.webauthn_handle).map_err(ApiError::internal)?;
    let existing = app.db.passkeys_of(&human.user.id).await?;
    let exclude = existing.iter().map(|p| p.passkey.cred_id().clone()).collect();
    let (challenge, state) = app
        .webauthn
        .start_passkey_registration(handle, &human.user.email, &human.user.email, Some(exclude))
        .map_err(ApiError::internal)?;
    let expires = app.now() + CEREMONY_TTL_MS;
    let id = ceremony::save(&app, CeremonyKind::Register, Some(human.user.id.clone()), None, &state, expires)
        .await?;
    let mut public_key = public_key_options(&challenge)?;
    prefer_discoverable(&mut public_key);
    Ok(Json(CeremonyStart { ceremony_id: id.to_string(), purpose: "register".into(), public_key }))
}

/// Asks for a discoverable (resident) passkey where the authenticator can make one, so signing in
/// needs no email; one that cannot (some security keys) still makes an ordinary passkey.
/// webauthn-rs 0.6's `start_passkey_registration` says "discouraged"; finishing does not check
/// this setting (its state keeps the user verification and algorithms, which are unchanged).
fn prefer_discoverable(public_key: &mut serde_json::Value) {
    if let Some(selection) = public_key.get_mut("authenticatorSelection").and_then(|s| s.as_object_mut()) {
        selection.insert("residentKey".into(), "preferred".into());
        selection.insert("requireResidentKey".into(), false.into());
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterCompleteBody {
    #[schema(pattern = r"^cer_[0-9A-Za-z]{22}$")]
    pub ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create()`, as JSON.
    #[schema(value_type = Object)]
    pub credential: RegisterPublicKeyCredential,
    /// A label such as "iPhone". Default "Passkey".
    #[schema(max_length = 64)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterCompleteResponse {
    pub passkey: PasskeyView,
    /// A passkey session: registering proved possession of the new passkey.
    #[serde(flatten)]
    pub session: SessionResponse,
}

fn check_name(name: Option<String>) -> ApiResult<String> {
    label::parse(name, "Passkey").map_err(|e| ApiError::invalid(e.to_string()))
}

/// Finish adding a passkey; answers with a passkey session.
#[utoipa::path(post, path = "/api/v1/passkey/register/complete", tag = "passkeys",
    security(("session" = [])),
    request_body = RegisterCompleteBody,
    responses(
        (status = 201, body = RegisterCompleteResponse),
        (status = 400, description = "Invalid ceremony, failed verification, or a credential already registered", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ))]
async fn register_complete(
    State(app): State<Arc<AppState>>,
    human: Human,
    delivery: SessionDelivery,
    AppJson(body): AppJson<RegisterCompleteBody>,
) -> ApiResult<(StatusCode, HeaderMap, Json<RegisterCompleteResponse>)> {
    let name = check_name(body.name)?;
    let (_, state): (_, PasskeyRegistration) =
        ceremony::take(&app, &body.ceremony_id, CeremonyKind::Register, Some(&human.user.id), None).await?;
    ceremony::refuse_cross_origin(&body.credential.response.client_data_json)?;
    let passkey =
        app.webauthn.finish_passkey_registration(&body.credential, &state).map_err(webauthn_failed)?;
    let stored = StoredPasskey {
        id: PasskeyId::generate(),
        user_id: human.user.id.clone(),
        credential_id: credential_id_text(passkey.cred_id()),
        name,
        passkey,
        created_at: app.now(),
        last_used_at: None,
        // Not stored yet: nothing to compare with.
        stored_json: String::new(),
    };
    // An email-only session adds the first passkey only: checked in the same step as the insert,
    // so two registrations started on one email session cannot both land.
    match app.db.insert_passkey(&stored, !human.via_passkey()).await {
        Ok(PasskeyAdded::Added) => {}
        Ok(PasskeyAdded::NotFirst) => return Err(step_up_required()),
        Err(StoreError::Conflict) => {
            return Err(ApiError::bad_request(
                "credential_already_registered",
                "this passkey is already registered",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user.id = %human.user.id, passkey.id = %stored.id, "passkey added");
    let session = issue_session(&app, &human.user, SessionProof::Passkey(&stored.id), delivery).await?;
    let body = RegisterCompleteResponse { passkey: (&stored).into(), session: session.body };
    Ok((StatusCode::CREATED, session.cookies, Json(body)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateStartBody {
    /// Sign in: the account's email (omit it for a discoverable passkey, where the authenticator
    /// picks the account).
    pub email: Option<String>,
    /// Approve: the request to approve. The ceremony can only approve this request.
    #[schema(pattern = r"^req_[0-9A-Za-z]{22}$")]
    pub request_id: Option<String>,
    /// Approve with a standing grant (only with `requestId`, for a request that offers
    /// `grantOptions`): later calls of the same key within the chosen width pass without
    /// asking until the grant expires, is used up or is revoked. Checked here: 400
    /// `not_grantable` if the request has no such option or the duration or use limit is wrong.
    pub grant: Option<GrantChoice>,
}

/// Start a passkey assertion: to sign in, or with `requestId` to approve that request.
#[utoipa::path(post, path = "/api/v1/passkey/authenticate/start", tag = "passkeys",
    request_body = AuthenticateStartBody,
    responses(
        (status = 200, body = CeremonyStart),
        (status = 400, description = "Invalid body, or a `grant` that cannot be made (`not_grantable`)", body = ErrorBody),
        (status = 401, description = "An agent key was presented", body = ErrorBody),
        (status = 404, description = "Unknown request", body = ErrorBody),
        (status = 409, description = "The request was already decided", body = ErrorBody),
        (status = 410, description = "The request has expired", body = ErrorBody),
    ))]
async fn authenticate_start(
    State(app): State<Arc<AppState>>,
    _: NotAnAgent,
    AppJson(body): AppJson<AuthenticateStartBody>,
) -> ApiResult<Json<CeremonyStart>> {
    if let Some(request_id) = body.request_id {
        let id = RequestId::parse(&request_id).ok_or_else(|| ApiError::not_found("approval request"))?;
        return ceremony::start_approval(&app, &id, body.grant).await.map(Json);
    }
    if body.grant.is_some() {
        return Err(ApiError::invalid("`grant` is only for an approval: send it with `requestId`"));
    }
    // No email: a discoverable ceremony (the authenticator picks the account). Never refused:
    // failed attempts are counted where they come from, at completion.
    let Some(email) = body.email.as_deref().and_then(parse_email) else {
        let (challenge, state) =
            app.webauthn.start_discoverable_authentication().map_err(ApiError::internal)?;
        return save_login(&app, AssertionState::Discoverable(state), public_key_options(&challenge)?).await;
    };
    // With an email, known or not, the answer has one shape: the passkeys' ids, or stable
    // made-up ones that no authenticator holds (one query either way, so timing says nothing).
    let passkeys: Vec<_> = app.db.passkeys_by_email(&email).await?.into_iter().map(|p| p.passkey).collect();
    let (options, state) = if passkeys.is_empty() {
        let (c, s) = app.webauthn.start_discoverable_authentication().map_err(ApiError::internal)?;
        let ids = decoy_credential_ids(app.api_key_secret.expose(), &email)?;
        (login_options(public_key_options(&c)?, ids), AssertionState::Discoverable(s))
    } else {
        let (c, s) = app.webauthn.start_passkey_authentication(&passkeys).map_err(ApiError::internal)?;
        let ids = passkeys.iter().map(|p| credential_id_text(p.cred_id())).collect();
        (login_options(public_key_options(&c)?, ids), AssertionState::Known(s))
    };
    save_login(&app, state, options).await
}

async fn save_login(
    app: &AppState,
    state: AssertionState,
    public_key: serde_json::Value,
) -> ApiResult<Json<CeremonyStart>> {
    let expires = app.now() + CEREMONY_TTL_MS;
    let id = ceremony::save(app, CeremonyKind::Login, None, None, &state, expires).await?;
    Ok(Json(CeremonyStart { ceremony_id: id.to_string(), purpose: "login".into(), public_key }))
}

/// Sign-in options for an email in one shape, whether the email is known or not: exactly these
/// credential ids (no transports), and no extensions.
fn login_options(mut public_key: serde_json::Value, ids: Vec<String>) -> serde_json::Value {
    if let Some(options) = public_key.as_object_mut() {
        let allow = ids.into_iter().map(|id| serde_json::json!({ "type": "public-key", "id": id })).collect();
        options.insert("allowCredentials".into(), serde_json::Value::Array(allow));
        options.remove("extensions");
    }
    public_key
}

/// One or two credential ids for an email without passkeys: the same on every ask, of lengths
/// real authenticators use, and held by no authenticator.
fn decoy_credential_ids(key: &[u8], email: &str) -> ApiResult<Vec<String>> {
    use hmac::{Hmac, Mac};
    const LENGTHS: [usize; 4] = [16, 20, 32, 64];
    let block = |n: u8| -> ApiResult<Vec<u8>> {
        let mut mac = <Hmac<sha2::Sha512> as Mac>::new_from_slice(key).map_err(ApiError::internal)?;
        mac.update(b"clawgate decoy credential id\0");
        mac.update(email.as_bytes());
        mac.update(&[n]);
        Ok(mac.finalize().into_bytes().to_vec())
    };
    let count = if block(0)?[0] % 4 == 0 { 2 } else { 1 };
    (1..=count)
        .map(|n| {
            let bytes = block(n)?;
            Ok(credential_id_text(&bytes[..LENGTHS[usize::from(bytes[0]) % LENGTHS.len()]]))
        })
        .collect()
}

/// Finish signing in with a passkey; answers with a passkey session.
#[utoipa::path(post, path = "/api/v1/passkey/authenticate/complete", tag = "passkeys",
    request_body = AssertionBody,
    responses(
        (status = 200, body = SessionResponse),
        (status = 400, description = "Invalid ceremony or failed verification", body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
async fn authenticate_complete(
    State(app): State<Arc<AppState>>,
    _: NotAnAgent,
    ClientIp(ip): ClientIp,
    delivery: SessionDelivery,
    AppJson(body): AppJson<AssertionBody>,
) -> ApiResult<(HeaderMap, Json<SessionResponse>)> {
    // Only a login ceremony: an approval ceremony can never sign anyone in.
    let (_, state): (_, AssertionState) =
        ceremony::take(&app, &body.ceremony_id, CeremonyKind::Login, None, None).await?;
    let (passkey, _) = ceremony::finish_assertion(&app, ip, &body.credential, state).await?;
    let user =
        app.db.user(&passkey.user_id).await?.ok_or_else(|| {
            ApiError::bad_request("unknown_passkey", "that passkey's account no longer exists")
        })?;
    tracing::info!(user.id = %user.id, passkey.id = %passkey.id, "signed in with a passkey");
    let session = issue_session(&app, &user, SessionProof::Passkey(&passkey.id), delivery).await?;
    Ok((session.cookies, Json(session.body)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyList {
    pub passkeys: Vec<PasskeyView>,
}

/// The signed-in person's passkeys.
#[utoipa::path(get, path = "/api/v1/passkey", tag = "passkeys",
    security(("session" = [])),
    responses((status = 200, body = PasskeyList), (status = 401, body = ErrorBody)))]
async fn list(State(app): State<Arc<AppState>>, human: Human) -> ApiResult<Json<PasskeyList>> {
    let passkeys = app.db.passkeys_of(&human.user.id).await?;
    Ok(Json(PasskeyList { passkeys: passkeys.iter().map(PasskeyView::from).collect() }))
}

/// Delete a passkey. Needs a passkey session.
#[utoipa::path(delete, path = "/api/v1/passkey/{id}", tag = "passkeys",
    security(("session" = [])),
    params(("id" = String, Path, description = "Passkey id (`pk_…`)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn delete(
    State(app): State<Arc<AppState>>,
    human: Human,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    human.require_step_up(&app).await?;
    let id = PasskeyId::parse(&id).ok_or_else(|| ApiError::not_found("passkey"))?;
    if !app.db.delete_passkey(&human.user.id, &id).await? {
        return Err(ApiError::not_found("passkey"));
    }
    tracing::info!(user.id = %human.user.id, passkey.id = %id, "passkey deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RenameBody {
    pub name: String,
}

/// Rename a passkey.
#[utoipa::path(patch, path = "/api/v1/passkey/{id}", tag = "passkeys",
    security(("session" = [])),
    params(("id" = String, Path, description = "Passkey id (`pk_…`)")),
    request_body = RenameBody,
    responses(
        (status = 204, description = "Renamed"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn rename(
    State(app): State<Arc<AppState>>,
    human: Human,
    Path(id): Path<String>,
    AppJson(body): AppJson<RenameBody>,
) -> ApiResult<StatusCode> {
    let name = check_name(Some(body.name))?;
    let id = PasskeyId::parse(&id).ok_or_else(|| ApiError::not_found("passkey"))?;
    if !app.db.rename_passkey(&human.user.id, &id, &name).await? {
        return Err(ApiError::not_found("passkey"));
    }
    Ok(StatusCode::NO_CONTENT)
}
