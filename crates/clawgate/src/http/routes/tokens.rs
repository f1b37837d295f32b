//! Checking approval and gate tokens: online (`verify-token`, optionally consuming) and the
//! public keys for checking them offline (`/.well-known/jwks.json`).

use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::AppJson;
use crate::service::tokens::{Check, Tokens};
use crate::state::AppState;
use crate::tokens::approval::Accept;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use clawgate_proto::wire::{Verification, VerifyRequest};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(verify)).routes(routes!(jwks))
}

/// Verify an approval token (or, if `accept` says so, a gate token). Always 200: `valid` says
/// whether it holds, `reason` why not. A token found invalid is never consumed.
#[utoipa::path(post, path = "/api/v1/approval/verify-token", tag = "tokens",
    request_body = VerifyRequest,
    responses(
        (status = 200, body = Verification),
        (status = 400, description = "Not a verify body, or `accept` names something other than passkey, rule or grant", body = ErrorBody),
        (status = 503, description = "Cannot record consumption now; the token was not accepted", body = ErrorBody),
    ))]
async fn verify(
    State(tokens): State<Tokens>,
    AppJson(body): AppJson<VerifyRequest>,
) -> ApiResult<Json<Verification>> {
    let accept = Accept::from_names(body.accept.as_deref().unwrap_or_default()).map_err(ApiError::invalid)?;
    let check = Check { action: body.action.as_deref(), accept, consume: body.consume };
    // Store errors propagate as 503: never "valid" when consumption could not be recorded.
    let answer = match tokens.verify(body.token.trim(), check).await? {
        Ok(claims) => Verification { valid: true, claims: Some(claims), reason: None },
        Err(reason) => Verification { valid: false, claims: None, reason: Some(reason) },
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
