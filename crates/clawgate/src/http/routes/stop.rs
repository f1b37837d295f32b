//! The kill switch: one passkey action stops every agent of the signed-in person.

use crate::clock::to_rfc3339;
use crate::http::ceremony_shapes::AssertionBody;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ClientIp, Human, optional_json_body};
use crate::service::ceremonies::{Ceremonies, is_stop_of};
use crate::service::stop::{Stop, StopError};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::{Deserialize, Serialize};
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

/// The optional body of a stop signed with a passkey.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StopBody {
    /// The answer to a `stop` ceremony (`POST /api/v1/passkey/decide/start`): the stop is then
    /// signed by the passkey, and its receipt proves it. Without it, the session must have been
    /// signed in with a passkey.
    pub passkey: Option<AssertionBody>,
}

/// Stop every agent: deny all pending requests, revoke all standing grants and suspend all API
/// keys of the signed-in person, at once and on every instance. Needs a session signed in with a
/// passkey, or the answer to a `stop` ceremony (`passkey`). Each key is resumed on its own
/// (`POST /api/v1/auth/api-keys/{id}/resume`).
#[utoipa::path(post, path = "/api/v1/stop", tag = "stop",
    security(("session" = [])),
    request_body(content = Option<StopBody>, description = "Optional: the passkey that signs the stop"),
    responses(
        (status = 200, body = StoppedView),
        (status = 400, description = "A `passkey` that does not verify, or signed another decision", body = ErrorBody),
        (status = 401, description = "Not signed in, or an agent key (`agent_key_not_allowed`)", body = ErrorBody),
        (status = 403, description = "`passkey_required` or `step_up_required`: needs a passkey session or a signed stop", body = ErrorBody),
    ))]
async fn stop_all(
    State(stop): State<Stop>,
    State(ceremonies): State<Ceremonies>,
    human: Human,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> ApiResult<Json<StoppedView>> {
    let body: StopBody = optional_json_body(&body)?;
    let user = &human.user.id;
    let signed = match body.passkey {
        Some(answer) => {
            let fits = |signed: &serde_json::Value| is_stop_of(signed, user);
            Some(ceremonies.verify_decision(user, &answer.ceremony_id, &answer.credential, ip, fits).await?)
        }
        None if human.via_passkey() => None,
        None => return Err(StopError::PasskeyRequired.into()),
    };
    let done = stop.stop_all(user, ip, signed).await?;
    Ok(Json(StoppedView {
        denied_requests: done.stopped.denied.len(),
        revoked_grants: done.stopped.revoked_grants,
        suspended_keys: done.stopped.suspended.len(),
        stopped_at: to_rfc3339(done.at),
    }))
}
