//! The agent's side of an approval: ask, then read the status (and the token once approved).

use crate::clock::{Millis, to_rfc3339};
use crate::domain::approval::{self, NewApproval};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Agent, AppJson, ClientIp};
use crate::service::approvals::Approvals;
use crate::state::AppState;
use crate::store::approvals::ApprovalRecord;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clawgate_proto::wire::{ApprovalCreated, ApprovalRequest};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(create))
}

fn created_view(r: &ApprovalRecord, now: Millis, approvals: &Approvals) -> ApprovalCreated {
    ApprovalCreated {
        request_id: r.id.to_string(),
        status: r.status_at(now),
        expires_at: to_rfc3339(r.expires_at),
        binding_code: r.binding_code.clone(),
        approve_url: Some(approvals.approve_url(&r.id)),
    }
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY_CHARS)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "`Idempotency-Key` must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
            ))
        })?;
    Ok(Some(key.to_owned()))
}

/// The hash a retry's body is compared with: only a retry (a request with an Idempotency-Key)
/// needs one.
pub(crate) fn body_hash(idempotency: Option<&str>, raw: &serde_json::Value) -> String {
    idempotency
        .map(|_| hex::encode(Sha256::digest(approval::canonical_json(raw).as_bytes())))
        .unwrap_or_default()
}

/// Ask a person to approve an action.
///
/// With an `Idempotency-Key` header, retries of the same body return the same request; the same
/// key with a different body is refused with 422.
#[utoipa::path(post, path = "/api/v1/approval/request", tag = "approvals",
    security(("apiKey" = []), ("apiKeyHeader" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key and body give the same request")),
    request_body = ApprovalRequest,
    responses(
        (status = 201, body = ApprovalCreated, headers(("Location" = String, description = "Where to read the status"))),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The key is suspended, after repeated denials or by its owner's stop (`api_key_suspended`; the message says which)", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another body", body = ErrorBody),
        (status = 429, description = "The key has too many requests waiting (see Retry-After)", body = ErrorBody),
    ))]
async fn create(
    State(approvals): State<Approvals>,
    agent: Agent,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AppJson(raw): AppJson<serde_json::Value>,
) -> ApiResult<Response> {
    let idempotency = idempotency_key(&headers)?;
    // Only a retry needs to be compared with what it retries.
    let body_hash = body_hash(idempotency.as_deref(), &raw);
    let body: ApprovalRequest = serde_json::from_value(raw).map_err(|e| ApiError::invalid(e.to_string()))?;
    let input = NewApproval::parse(body.action, body.agent_id, body.context, body.expires_in_seconds)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let idempotency = idempotency.as_deref().map(|k| (k, body_hash.as_str()));
    let created = approvals.create(&agent.key, input, idempotency, ip).await?;
    let (view, replayed) = (created_view(&created.record, created.at, &approvals), created.replayed);
    let mut response = (StatusCode::CREATED, Json(&view)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/approval/status/{}", view.request_id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}
