//! A person's standing grants: list them, revoke one. Grants are created only with an approval
//! (`authenticate/start` with `requestId` and `grant`, finished by a passkey assertion); there is
//! no endpoint that creates one otherwise.

use crate::clock::{Millis, to_rfc3339};
use crate::domain::ids::GrantId;
use crate::domain::rules::ScopeWords;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{ClientIp, Human};
use crate::service::grants::{Grants, Named, state_of};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(revoke))
}

/// A standing grant as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    /// `grt_…`
    pub id: String,
    /// What it covers, in words, as the person read it when they chose it.
    pub description: String,
    /// What it covers, in words, in pieces for a page to style: `{what, command?, agent, place}`
    /// (`commands starting`, `cargo test`, `by agent claude`, `in /srv/app`).
    #[schema(value_type = Object)]
    pub covers: ScopeWords,
    /// What it covers, exactly: `{agentId, tool, argvPrefix, exact, cwd}`.
    #[schema(value_type = Object)]
    pub scope: serde_json::Value,
    /// The approval that created it.
    pub request_id: String,
    /// The only API key whose calls it covers, and that key's name (absent if the key is gone).
    pub api_key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_name: Option<String>,
    /// The only agent id whose calls it covers (absent: calls without an agent id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    /// Absent: any number of uses until it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<i64>,
    pub uses: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// `live`, `expired`, `usedUp` or `revoked`.
    pub state: &'static str,
}

pub fn grant_view(named: &Named, now: Millis) -> ApiResult<GrantView> {
    let g = &named.grant;
    Ok(GrantView {
        id: g.id.to_string(),
        description: g.description.clone(),
        covers: g.scope.words(),
        scope: serde_json::to_value(&g.scope).map_err(ApiError::internal)?,
        request_id: g.request_id.to_string(),
        api_key_id: g.api_key_id.to_string(),
        api_key_name: named.key_name.clone(),
        agent_id: g.scope.agent_id.clone(),
        created_at: to_rfc3339(g.created_at),
        expires_at: to_rfc3339(g.expires_at),
        max_uses: g.max_uses,
        uses: g.uses,
        revoked_at: g.revoked_at.map(to_rfc3339),
        state: state_of(g, now),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantList {
    pub grants: Vec<GrantView>,
}

/// The signed-in person's standing grants, newest first (at most 200), lapsed and revoked ones
/// included.
#[utoipa::path(get, path = "/api/v1/grants", tag = "grants",
    security(("session" = [])),
    responses(
        (status = 200, body = GrantList),
        (status = 401, description = "No session, or an agent key", body = ErrorBody),
    ))]
async fn list(State(grants): State<Grants>, human: Human) -> ApiResult<Json<GrantList>> {
    let now = grants.now();
    let rows = grants.list(&human.user.id).await?;
    let grants = rows.iter().map(|g| grant_view(g, now)).collect::<ApiResult<_>>()?;
    Ok(Json(GrantList { grants }))
}

/// Revoke one of the signed-in person's grants: from the answer on, it allows nothing.
///
/// Any session of the owner may revoke (revoking only narrows what agents may do). Idempotent:
/// a grant already revoked or expired answers 204 as well and is left as it is (a used-up one is
/// marked revoked). Every call the grant allowed was recorded before the revocation committed;
/// every call after this answer is asked about (or decided by the rules) again.
#[utoipa::path(delete, path = "/api/v1/grants/{id}", tag = "grants",
    security(("session" = [])),
    params(("id" = String, Path, description = "Grant id (`grt_…`)")),
    responses(
        (status = 204, description = "Revoked (or already revoked or lapsed)"),
        (status = 401, description = "No session, or an agent key", body = ErrorBody),
        (status = 404, description = "Unknown, or not the caller's", body = ErrorBody),
    ))]
async fn revoke(
    State(grants): State<Grants>,
    human: Human,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = GrantId::parse(&id).ok_or_else(|| ApiError::not_found("grant"))?;
    grants.revoke(&human.user.id, &id, Some(ip.to_string())).await?;
    Ok(StatusCode::NO_CONTENT)
}
