//! A live feed of the signed-in person's requests and of the gate's decisions about their keys
//! (Server-Sent Events), so the web app updates the moment an agent asks, a request is decided
//! elsewhere, or the gate decides a call alone.

use crate::events::{ApprovalEvent, DecisionEvent};
use crate::http::error::ErrorBody;
use crate::http::extract::Human;
use crate::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(events))
}

fn approval_event(e: &ApprovalEvent) -> Event {
    let data = serde_json::json!({ "requestId": e.request_id.as_str(), "status": e.status });
    Event::default().event("approval").data(data.to_string())
}

fn decision_event(e: &DecisionEvent) -> Event {
    let data = serde_json::json!({
        "decisionId": e.decision_id.as_str(),
        "apiKeyId": e.api_key_id.as_str(),
        "outcome": e.outcome,
        "decidedBy": e.decided_by,
    });
    Event::default().event("decision").data(data.to_string())
}

/// Server-Sent Events: `approval` (`{"requestId", "status"}`) whenever one of your requests is
/// created or decided, `decision` (`{"decisionId", "apiKeyId", "outcome", "decidedBy"}`) whenever
/// the gate decides a call of one of your keys alone (by a rule or a grant), and `resync` when
/// events were missed (reload the lists).
#[utoipa::path(get, path = "/api/v1/approval/events", tag = "approvals",
    security(("session" = [])),
    responses(
        (status = 200, description = "An event stream (text/event-stream)", content_type = "text/event-stream"),
        (status = 401, body = ErrorBody),
    ))]
async fn events(
    State(app): State<Arc<AppState>>,
    human: Human,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let user = human.user.id;
    let rx = (app.events.subscribe(), app.events.subscribe_decisions());
    let resync = || Event::default().event("resync").data("{}");
    let stream = futures::stream::unfold(rx, move |(mut requests, mut decisions)| {
        let (user, app) = (user.clone(), app.clone());
        async move {
            loop {
                let event = tokio::select! {
                    r = requests.recv() => match r {
                        Ok(e) if e.user_id == user => approval_event(&e),
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => resync(),
                        Err(RecvError::Closed) => return None,
                    },
                    d = decisions.recv() => match d {
                        Ok(e) if e.user_id == user => decision_event(&e),
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => resync(),
                        Err(RecvError::Closed) => return None,
                    },
                    // The server is shutting down: end the stream (the page reconnects).
                    () = app.events.closed() => return None,
                };
                return Some((Ok(event), (requests, decisions)));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
