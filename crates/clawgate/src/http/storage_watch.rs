//! Tells the database handle whether writes are failing for lack of space, from what the API
//! answers: `/health` reports it until a write succeeds again (or its own probe does).

use super::error::StorageFullMarker;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

pub async fn watch_writes(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let writes = !request.method().is_safe();
    let response = next.run(request).await;
    if response.extensions().get::<StorageFullMarker>().is_some() {
        app.db.note_out_of_space();
    } else if writes && response.status().is_success() {
        app.db.note_write_succeeded();
    }
    response
}
