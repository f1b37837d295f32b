//! Checking approval and gate tokens: online (`verify-token`, optionally consuming) and the
//! public keys for checking them offline (`/.well-known/jwks.json`).

use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::AppJson;
use crate::service::tokens::{Check, Tokens};
use crate::state::AppState;
use crate::tokens::approval::{Accept, ApprovalClaims, DecidedBy, InvalidReason};
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
    /// What may have decided the action. A person's passkey approval (`passkey`) is always
    /// accepted; add `rule` and/or `grant` to also accept a gate token (the gate allowed the call
    /// alone and nobody was asked). Default `["passkey"]`: a gate token is then `valid: false`
    /// with the reason `not_person_approved`.
    #[schema(value_type = Option<Vec<DecidedBy>>)]
    pub accept: Option<Vec<String>>,
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

/// Verify an approval token (or, if `accept` says so, a gate token). Always 200: `valid` says
/// whether it holds, `reason` why not. A token found invalid is never consumed.
#[utoipa::path(post, path = "/api/v1/approval/verify-token", tag = "tokens",
    request_body = VerifyBody,
    responses(
        (status = 200, body = VerifyResponse),
        (status = 400, description = "Not a verify body, or `accept` names something other than passkey, rule or grant", body = ErrorBody),
        (status = 503, description = "Cannot record consumption now; the token was not accepted", body = ErrorBody),
    ))]
async fn verify(
    State(tokens): State<Tokens>,
    AppJson(body): AppJson<VerifyBody>,
) -> ApiResult<Json<VerifyResponse>> {
    let accept = Accept::parse(body.accept.as_deref().unwrap_or_default()).map_err(ApiError::invalid)?;
    let check = Check { action: body.action.as_deref(), accept, consume: body.consume };
    // Store errors propagate as 503: never "valid" when consumption could not be recorded.
    let answer = match tokens.verify(body.token.trim(), check).await? {
        Ok(claims) => VerifyResponse { valid: true, claims: Some(claims), reason: None },
        Err(reason) => VerifyResponse { valid: false, claims: None, reason: Some(reason) },
    };
    Ok(Json(answer))
}

/// The public keys that sign approval and gate tokens (JWKS, Ed25519); a revoked key is never
/// among them.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "tokens",
    responses((status = 200, description = "JSON Web Key Set", body = Object)))]
async fn jwks(State(tokens): State<Tokens>) -> impl IntoResponse {
    let cache = format!("public, max-age={}", crate::tokens::keys::JWKS_MAX_AGE_SECS);
    ([(header::CACHE_CONTROL, cache)], Json(tokens.jwks().await))
}
