//! The kill switch: one passkey action stops every agent of the signed-in person.

use crate::clock::to_rfc3339;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ClientIp, Human};
use crate::service::stop::{Stop, StopError};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(stop_all))
}

/// What was stopped.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoppedView {
    /// Pending requests denied (their agents are told at once).
    pub denied_requests: usize,
    /// Standing grants revoked.
    pub revoked_grants: u64,
    /// Keys suspended (revoked or already suspended ones are not counted).
    pub suspended_keys: usize,
    pub stopped_at: String,
}

/// Stop every agent: deny all pending requests, revoke all standing grants and suspend all API
/// keys of the signed-in person, at once and on every instance. Needs a session signed in with a
/// passkey. Each key is resumed on its own (`POST /api/v1/auth/api-keys/{id}/resume`).
#[utoipa::path(post, path = "/api/v1/stop", tag = "stop",
    security(("session" = [])),
    responses(
        (status = 200, body = StoppedView),
        (status = 401, description = "Not signed in, or an agent key (`agent_key_not_allowed`)", body = ErrorBody),
        (status = 403, description = "`passkey_required` or `step_up_required`: needs a passkey session", body = ErrorBody),
    ))]
async fn stop_all(
    State(stop): State<Stop>,
    human: Human,
    ClientIp(ip): ClientIp,
) -> ApiResult<Json<StoppedView>> {
    if !human.via_passkey() {
        return Err(StopError::PasskeyRequired.into());
    }
    let done = stop.stop_all(&human.user.id, ip).await?;
    Ok(Json(StoppedView {
        denied_requests: done.stopped.denied.len(),
        revoked_grants: done.stopped.revoked_grants,
        suspended_keys: done.stopped.suspended.len(),
        stopped_at: to_rfc3339(done.at),
    }))
}
