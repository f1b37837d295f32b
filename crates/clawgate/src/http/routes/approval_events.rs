//! A live feed of the signed-in person's requests (Server-Sent Events), so the web app updates
//! the moment an agent asks or a request is decided elsewhere.

use crate::events::ApprovalEvent;
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

/// Server-Sent Events: `approval` (`{"requestId", "status"}`) whenever one of your requests is
/// created or decided, and `resync` when events were missed (reload the lists).
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
    let rx = app.events.subscribe();
    let stream = futures::stream::unfold(rx, move |mut rx| {
        let (user, app) = (user.clone(), app.clone());
        async move {
            loop {
                let received = tokio::select! {
                    r = rx.recv() => r,
                    // The server is shutting down: end the stream (the page reconnects).
                    () = app.events.closed() => return None,
                };
                match received {
                    Ok(e) if e.user_id == user => return Some((Ok(approval_event(&e)), rx)),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => {
                        return Some((Ok(Event::default().event("resync").data("{}")), rx));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
