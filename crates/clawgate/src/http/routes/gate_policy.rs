//! The policy a gate keeps for when it cannot reach the server: `GET /api/v1/gate/policy`.

use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::Agent;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clawgate_proto::wire::PolicyView;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(policy))
}

/// The key owner's rules and the key's standing grants, signed, for a gate to decide by while it
/// cannot reach the server. `If-None-Match` with the last tag answers 304 when nothing changed.
#[utoipa::path(get, path = "/api/v1/gate/policy", tag = "gate",
    security(("apiKey" = []), ("apiKeyHeader" = [])),
    responses(
        (status = 200, body = PolicyView),
        (status = 304, description = "Unchanged since the tag sent in `If-None-Match`"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ))]
async fn policy(State(app): State<Arc<AppState>>, agent: Agent, headers: HeaderMap) -> ApiResult<Response> {
    let known = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(|v| v.trim_matches('"'));
    let (tag, signed) = app.services.policy.of(&agent.key, &agent.fingerprint, known).await?;
    let etag = HeaderValue::from_str(&format!("\"{tag}\"")).ok();
    let mut response = match signed {
        None => StatusCode::NOT_MODIFIED.into_response(),
        Some(s) => {
            Json(PolicyView { policy: s.jwt, rule_version: s.rule_version, tag: s.tag }).into_response()
        }
    };
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}
