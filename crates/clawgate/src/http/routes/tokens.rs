//! Checking approval tokens: online (`verify-token`, optionally consuming) and the public keys
//! for checking them offline (`/.well-known/jwks.json`).

use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::AppJson;
use crate::state::AppState;
use crate::tokens::approval::{ApprovalClaims, InvalidReason};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(verify)).routes(routes!(jwks))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyBody {
    pub token: String,
    /// Mark the token used: it verifies this once and never again, on any instance.
    #[serde(default)]
    pub consume: bool,
    /// The action the caller is about to perform; the token must approve exactly this text.
    pub action: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<ApprovalClaims>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<InvalidReason>,
}

fn invalid(reason: InvalidReason) -> Json<VerifyResponse> {
    Json(VerifyResponse { valid: false, claims: None, reason: Some(reason) })
}

/// Verify an approval token. Always 200: `valid` says whether it holds, `reason` why not.
#[utoipa::path(post, path = "/api/v1/approval/verify-token", tag = "tokens",
    request_body = VerifyBody,
    responses(
        (status = 200, body = VerifyResponse),
        (status = 400, body = ErrorBody),
        (status = 503, description = "Cannot record consumption now; the token was not accepted", body = ErrorBody),
    ))]
async fn verify(
    State(app): State<Arc<AppState>>,
    AppJson(body): AppJson<VerifyBody>,
) -> ApiResult<Json<VerifyResponse>> {
    let now = app.now();
    let claims = match app.approvals.verify(body.token.trim(), now) {
        Ok(c) => c,
        Err(reason) => return Ok(invalid(reason)),
    };
    if let Some(action) = &body.action
        && action != &claims.action
    {
        return Ok(invalid(InvalidReason::ActionMismatch));
    }
    // Store errors propagate as 503: never "valid" when consumption could not be recorded.
    if body.consume && !app.db.consume_token(&claims.jti, claims.exp * 1000, now).await? {
        return Ok(invalid(InvalidReason::AlreadyUsed));
    }
    Ok(Json(VerifyResponse { valid: true, claims: Some(claims), reason: None }))
}

/// The public keys that sign approval tokens (JWKS, Ed25519).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "tokens",
    responses((status = 200, description = "JSON Web Key Set", body = Object)))]
async fn jwks(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    let cache = format!("public, max-age={}", crate::tokens::approval::JWKS_MAX_AGE_SECS);
    ([(header::CACHE_CONTROL, cache)], Json(app.approvals.jwks(app.now())))
}
