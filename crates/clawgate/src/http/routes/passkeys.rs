//! Passkeys: add one to your account, sign in with one, list, rename and delete them.
//! `authenticate/start` with a `requestId` starts an approval instead (see
//! `Ceremonies::start_approval`).

use super::auth::{SessionResponse, deliver, new_csrf, parse_email};
use crate::clock::to_rfc3339;
use crate::domain::approval;
use crate::domain::ids::{PasskeyId, RequestId};
use crate::domain::label;
use crate::http::ceremony_shapes::{AssertionBody, CeremonyStart};
use crate::http::cookies::SessionDelivery;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AppJson, ClientIp, Human, NotAnAgent};
use crate::service::ceremonies::{
    Ceremonies, RegisterPublicKeyCredential, deny_content, rules_content, stop_content,
};
use crate::service::grants::GrantChoice;
use crate::service::passkeys::{Passkeys, Registered};
use crate::state::AppState;
use crate::store::passkeys::StoredPasskey;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn limited() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(decide_start))
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
async fn register_start(State(passkeys): State<Passkeys>, human: Human) -> ApiResult<Json<CeremonyStart>> {
    Ok(Json(passkeys.start_registration(&human.user, human.session.method).await?.into()))
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
    let csrf = new_csrf(delivery);
    let Registered { passkey, session } = app
        .services
        .passkeys
        .register(
            &human.user,
            human.session.method,
            &body.ceremony_id,
            &body.credential,
            name,
            csrf.as_deref(),
        )
        .await?;
    let session = deliver(session, csrf, app.settings.secure_cookies());
    let body = RegisterCompleteResponse { passkey: (&passkey).into(), session: session.body };
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
    State(ceremonies): State<Ceremonies>,
    _: NotAnAgent,
    AppJson(body): AppJson<AuthenticateStartBody>,
) -> ApiResult<Json<CeremonyStart>> {
    if let Some(request_id) = body.request_id {
        let id = RequestId::parse(&request_id).ok_or_else(|| ApiError::not_found("approval request"))?;
        return Ok(Json(ceremonies.start_approval(&id, body.grant).await?.into()));
    }
    if body.grant.is_some() {
        return Err(ApiError::invalid("`grant` is only for an approval: send it with `requestId`"));
    }
    // No email (or none that is one): a discoverable ceremony.
    let email = body.email.as_deref().and_then(parse_email);
    Ok(Json(ceremonies.start_sign_in(email.as_deref()).await?.into()))
}

/// A decision to sign with a passkey.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecideStartBody {
    /// `deny` (with `requestId` and the `reason` to be sent), `stop` (every agent), or `rules`
    /// (with the `rules` and `expectedVersion` to be saved).
    pub decision: String,
    #[schema(pattern = r"^req_[0-9A-Za-z]{22}$")]
    pub request_id: Option<String>,
    #[schema(max_length = 500)]
    pub reason: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub rules: Option<serde_json::Value>,
    pub expected_version: Option<u64>,
}

/// Start a passkey ceremony that signs a decision of the signed-in person: a denial, a stop of
/// every agent, or a rule set to save.
///
/// The challenge is derived from what is decided (`signing` shows it), as for an approval. Send
/// the answer as `passkey` with the decision itself: `POST /api/v1/approval/deny/{id}`,
/// `POST /api/v1/stop` or `PUT /api/v1/rules`, with the same request, reason, rules and version.
/// What those would refuse (a request already decided, rules that do not parse, a stale version)
/// is refused here first, so the person is not asked to sign it.
#[utoipa::path(post, path = "/api/v1/passkey/decide/start", tag = "passkeys",
    security(("session" = [])),
    request_body = DecideStartBody,
    responses(
        (status = 200, body = CeremonyStart),
        (status = 400, description = "Invalid body or decision, or rules that cannot be saved (`invalid_rules`)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`passkey_required`: the account has no passkey", body = ErrorBody),
        (status = 404, description = "Unknown request", body = ErrorBody),
        (status = 409, description = "The request was already decided, or the rules are no longer at `expectedVersion`", body = ErrorBody),
        (status = 410, description = "The request has expired", body = ErrorBody),
    ))]
async fn decide_start(
    State(app): State<Arc<AppState>>,
    human: Human,
    AppJson(body): AppJson<DecideStartBody>,
) -> ApiResult<Json<CeremonyStart>> {
    let services = &app.services;
    let user = &human.user.id;
    let content = match body.decision.as_str() {
        "deny" => {
            let id =
                body.request_id.as_deref().ok_or_else(|| ApiError::invalid("`deny` needs `requestId`"))?;
            let id = RequestId::parse(id).ok_or_else(|| ApiError::not_found("approval request"))?;
            let reason = approval::check_reason(body.reason).map_err(|e| ApiError::invalid(e.to_string()))?;
            let record = services.approvals.one_of(user, &id).await?;
            services.approvals.refuse_if_undecidable(&id).await?;
            deny_content(&record, reason.as_deref())
        }
        "stop" => stop_content(user, services.approvals.now()),
        "rules" => {
            let rules = body.rules.ok_or_else(|| ApiError::invalid("`rules` needs `rules`"))?;
            let version =
                body.expected_version.ok_or_else(|| ApiError::invalid("`rules` needs `expectedVersion`"))?;
            let expected = i64::try_from(version).unwrap_or(-1);
            services.rules.check_save(user, &rules, expected).await?;
            rules_content(expected.saturating_add(1), &rules)
        }
        other => {
            return Err(ApiError::invalid(format!(
                "`decision` must be `deny`, `stop` or `rules`, not `{other}` (approvals start with `authenticate/start`)"
            )));
        }
    };
    Ok(Json(services.ceremonies.start_decision(user, content).await?.into()))
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
    let csrf = new_csrf(delivery);
    let session =
        app.services.accounts.sign_in(&body.ceremony_id, &body.credential, ip, csrf.as_deref()).await?;
    let session = deliver(session, csrf, app.settings.secure_cookies());
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
async fn list(State(passkeys): State<Passkeys>, human: Human) -> ApiResult<Json<PasskeyList>> {
    let passkeys = passkeys.list(&human.user.id).await?;
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
    State(passkeys): State<Passkeys>,
    human: Human,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    // An id that is not one is refused as an unknown passkey, after the step-up check.
    passkeys.delete(&human.user.id, human.session.method, PasskeyId::parse(&id)).await?;
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
    State(passkeys): State<Passkeys>,
    human: Human,
    Path(id): Path<String>,
    AppJson(body): AppJson<RenameBody>,
) -> ApiResult<StatusCode> {
    let name = check_name(Some(body.name))?;
    let id = PasskeyId::parse(&id).ok_or_else(|| ApiError::not_found("passkey"))?;
    passkeys.rename(&human.user.id, &id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
