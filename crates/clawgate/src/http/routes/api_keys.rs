//! Agent API keys: create (shown once), list, revoke.

use crate::clock::to_rfc3339;
use crate::domain::denial::SuspendedBecause;
use crate::domain::ids::ApiKeyId;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AppJson, Human};
use crate::service::keys::Keys;
use crate::state::AppState;
use crate::store::api_keys::ApiKeyRecord;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(revoke)).routes(routes!(resume))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateKeyBody {
    /// A label to tell keys apart, such as the agent's name. Default `agent`.
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The first characters of the key, to recognise it (`ag_3fK9q…`).
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// Set when the key was suspended (after repeated denials, or by `POST /api/v1/stop`); resume it
    /// to use it again.
    pub suspended_at: Option<String>,
    /// While suspended: why. `denials` (its requests were denied `SUSPEND_AFTER_DENIALS` times
    /// within 10 minutes) or `stop` (Stop all agents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_because: Option<SuspendedBecause>,
}

impl From<&ApiKeyRecord> for ApiKeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name.clone(),
            prefix: k.display_prefix.clone(),
            created_at: to_rfc3339(k.created_at),
            last_used_at: k.last_used_at.map(to_rfc3339),
            revoked_at: k.revoked_at.map(to_rfc3339),
            suspended_at: k.suspended_at.map(to_rfc3339),
            suspended_because: k.suspended_because.filter(|_| k.suspended_at.is_some()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    #[serde(flatten)]
    pub info: ApiKeyView,
    /// The key itself. It is shown this once and cannot be read again.
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyList {
    pub api_keys: Vec<ApiKeyView>,
}

/// Create an API key for an agent. Needs a passkey session; the key is shown once.
#[utoipa::path(post, path = "/api/v1/auth/api-keys", tag = "api-keys",
    security(("session" = [])),
    request_body = CreateKeyBody,
    responses(
        (status = 201, body = CreatedKey),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Needs a passkey on the account and a passkey session", body = ErrorBody),
    ))]
async fn create(
    State(app): State<Arc<AppState>>,
    State(keys): State<Keys>,
    human: Human,
    AppJson(body): AppJson<CreateKeyBody>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let passkeys = human.require_step_up(&app).await?;
    let (record, secret) = keys.create(&human.user.id, passkeys, body.name).await?;
    let info = ApiKeyView::from(&record);
    Ok((StatusCode::CREATED, Json(CreatedKey { info, key: secret.expose().to_owned() })))
}

/// The signed-in person's API keys, newest first (revoked ones included, marked).
#[utoipa::path(get, path = "/api/v1/auth/api-keys", tag = "api-keys",
    security(("session" = [])),
    responses((status = 200, body = KeyList), (status = 401, body = ErrorBody)))]
async fn list(State(keys): State<Keys>, human: Human) -> ApiResult<Json<KeyList>> {
    let keys = keys.list(&human.user.id).await?;
    Ok(Json(KeyList { api_keys: keys.iter().map(ApiKeyView::from).collect() }))
}

/// Revoke an API key. It stops working at once, on every instance.
#[utoipa::path(delete, path = "/api/v1/auth/api-keys/{id}", tag = "api-keys",
    security(("session" = [])),
    params(("id" = String, Path, description = "API key id (`key_…`)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
async fn revoke(State(keys): State<Keys>, human: Human, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = ApiKeyId::parse(&id).ok_or_else(|| ApiError::not_found("API key"))?;
    keys.revoke(&human.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resume a key suspended after repeated denials or by stopping every agent (`POST /api/v1/stop`).
/// Needs a passkey session (once the account has a passkey), like creating one.
#[utoipa::path(post, path = "/api/v1/auth/api-keys/{id}/resume", tag = "api-keys",
    security(("session" = [])),
    params(("id" = String, Path, description = "API key id (`key_…`)")),
    responses(
        (status = 200, body = ApiKeyView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The key is not suspended", body = ErrorBody),
    ))]
async fn resume(
    State(app): State<Arc<AppState>>,
    State(keys): State<Keys>,
    human: Human,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiKeyView>> {
    human.require_step_up(&app).await?;
    let id = ApiKeyId::parse(&id).ok_or_else(|| ApiError::not_found("API key"))?;
    let key = keys.resume(&human.user.id, &id).await?;
    Ok(Json(ApiKeyView::from(&key)))
}
