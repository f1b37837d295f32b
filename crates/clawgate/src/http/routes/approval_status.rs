//! The agent's reading side: a request's status, at once or as soon as it changes.
//!
//! `?wait=N` holds the answer until the request leaves PENDING (or N seconds pass), and
//! `/status/{id}/events` streams its changes. Both park on the instance's event hub: no task
//! spins and no query runs in a loop while an agent waits.

use crate::clock::{Millis, to_rfc3339};
use crate::domain::approval::Status;
use crate::domain::denial;
use crate::domain::ids::RequestId;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::Agent;
use crate::service::approvals::Approvals;
use crate::state::AppState;
use crate::store::approvals::ApprovalRecord;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use clawgate_proto::wire::{Decider, StatusView};
use futures::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The longest `?wait=` honoured, in seconds; longer asks are held to it.
pub const MAX_WAIT_SECS: u64 = 60;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(status)).routes(routes!(status_events))
}

/// What the agent that made `r` sees of it as of `now`.
pub fn status_view(r: &ApprovalRecord, now: Millis, approvals: &Approvals) -> StatusView {
    let status = r.status_at(now);
    let approved = status == Status::Approved;
    let pending = status == Status::Pending;
    StatusView {
        request_id: r.id.to_string(),
        status,
        action: r.action.clone(),
        agent_id: r.agent_id.clone(),
        expires_at: to_rfc3339(r.expires_at),
        decided_at: r.decided_at.map(to_rfc3339),
        token: r.token.clone().filter(|_| approved),
        token_expires_at: r.token_expires_at.filter(|_| approved).map(to_rfc3339),
        binding_code: pending.then(|| r.binding_code.clone()),
        approve_url: pending.then(|| approvals.approve_url(&r.id)),
        decided_by: r.decided_by.as_deref().and_then(Decider::parse),
        deny_reason: (status == Status::Denied)
            .then(|| denial::denial_for_agent(r.decided_by.as_deref(), r.deny_reason.as_deref()))
            .flatten(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Wait up to this many seconds (at most 60) for the request to leave PENDING; the answer
    /// comes the moment it does. Without it, the answer is immediate.
    pub wait: Option<u64>,
}

/// Read a request's status; once approved, it carries the approval token.
///
/// With `?wait=N` the answer is held until the request is decided or expires, or N seconds
/// pass (then it is still PENDING: ask again).
#[utoipa::path(get, path = "/api/v1/approval/status/{id}", tag = "approvals",
    security(("apiKey" = []), ("apiKeyHeader" = [])),
    params(("id" = String, Path, description = "Request id (`req_…`)"), WaitQuery),
    responses(
        (status = 200, body = StatusView),
        (status = 400, body = ErrorBody),
        (status = 401, description = "Unknown or revoked API key (`invalid_api_key`), also when revoked during the wait", body = ErrorBody),
        (status = 403, description = "The key is suspended, after repeated denials or by its owner's stop (`api_key_suspended`; the message says which)", body = ErrorBody),
        (status = 404, description = "Unknown, or made with another key", body = ErrorBody),
        (status = 429, description = "Polling too fast without `wait` (`slow_down`, see Retry-After)", body = ErrorBody),
    ))]
async fn status(
    State(app): State<Arc<AppState>>,
    State(approvals): State<Approvals>,
    agent: Agent,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> ApiResult<Json<StatusView>> {
    let id = RequestId::parse(&id).ok_or_else(|| ApiError::not_found("approval request"))?;
    let limit = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    // Waiting costs nothing; asking again and again does. Only the latter is limited.
    if limit.is_zero()
        && let Err(retry_after) = app.poll_limiter.check(&agent.key.id, app.clock.as_ref())
    {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            format!(
                "polling too fast; add ?wait=60 to be answered the moment the request is decided, or retry in {retry_after} s"
            ),
        );
        e.retry_after_secs = Some(retry_after);
        return Err(e);
    }
    let record = approvals.read_after_change(&agent.key.id, &id, limit).await?;
    Ok(Json(status_view(&record, app.now(), &approvals)))
}

/// An `error` event: the body an error response would have had.
fn error_event(e: &ApiError) -> Event {
    if e.status.is_server_error() {
        tracing::warn!(code = e.code, "a status stream ended on an error");
    }
    let body = ErrorBody::new(e.code, e.message.clone());
    Event::default().event("error").json_data(&body).unwrap_or_default()
}

/// Server-Sent Events for one request: a `status` event (the same JSON as the status endpoint)
/// now and at each change; the stream ends after the final status (APPROVED with the token,
/// DENIED with `denyReason` and `decidedBy`, or EXPIRED). Should the key be revoked or suspended meanwhile, an `error` event (the
/// API's error shape: `invalid_api_key` or `api_key_suspended`) ends it.
#[utoipa::path(get, path = "/api/v1/approval/status/{id}/events", tag = "approvals",
    security(("apiKey" = []), ("apiKeyHeader" = [])),
    params(("id" = String, Path, description = "Request id (`req_…`)")),
    responses(
        (status = 200, description = "An event stream (text/event-stream) of `status` events", content_type = "text/event-stream"),
        (status = 401, description = "Unknown or revoked API key (`invalid_api_key`), also when revoked during the wait", body = ErrorBody),
        (status = 403, description = "The key is suspended, after repeated denials or by its owner's stop (`api_key_suspended`; the message says which)", body = ErrorBody),
        (status = 404, description = "Unknown, or made with another key", body = ErrorBody),
    ))]
async fn status_events(
    State(approvals): State<Approvals>,
    agent: Agent,
    Path(id): Path<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let id = RequestId::parse(&id).ok_or_else(|| ApiError::not_found("approval request"))?;
    // Unknown or foreign requests are refused before the stream starts.
    let first = approvals.own(&agent.key.id, &id).await?;
    let state = Some((approvals, agent, id, Some(first), None::<Status>));
    let stream = futures::stream::unfold(state, |state| async move {
        let (approvals, agent, id, mut next, last) = state?;
        loop {
            let record = match next.take() {
                Some(r) => r,
                None => {
                    let wait = Duration::from_secs(MAX_WAIT_SECS);
                    match approvals.read_after_change(&agent.key.id, &id, wait).await {
                        Ok(r) => r,
                        // The key was revoked or suspended mid-stream (or the database failed):
                        // say why, in the API's error shape, and end the stream.
                        Err(e) => return Some((Ok(error_event(&e.into())), None)),
                    }
                }
            };
            let view = status_view(&record, approvals.now(), &approvals);
            let finished = view.status != Status::Pending;
            if Some(view.status) == last {
                if approvals.closing() {
                    return None;
                }
                continue;
            }
            let event = Event::default().event("status").json_data(&view).unwrap_or_default();
            let status = view.status;
            let after = (!finished).then_some((approvals, agent, id, None, Some(status)));
            return Some((Ok(event), after));
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
