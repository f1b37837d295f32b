//! The metrics listener: `GET /metrics` on METRICS_ADDR, a port of its own so the public one
//! never shows them. Anything else there is 404.

use super::text::CONTENT_TYPE;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Binds METRICS_ADDR, saying in words what to change when that fails.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen for metrics on METRICS_ADDR {addr}: {e}; choose a free port (or unset METRICS_ADDR)"
        )
    })
}

/// The metrics server's routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found; metrics are at /metrics\n") })
        .with_state(state)
}

/// Serves metrics on `listener` until the task is dropped.
pub async fn run(state: Arc<AppState>, listener: TcpListener) {
    if let Err(e) = axum::serve(listener, router(state)).await {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}

async fn scrape(State(app): State<Arc<AppState>>) -> Response {
    let pending = match pending_requests(&app).await {
        Ok(n) => Some(n),
        Err(e) => {
            // The other metrics are still worth having; the gauge is left out of this scrape.
            tracing::warn!(error = %e, "metrics: cannot count pending requests");
            None
        }
    };
    let body = super::render(&app.metrics, app.db.store_stats(), app.push.deliveries(), pending);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

/// One count over the index on (status, expires_at): pending and not yet lapsed, whichever
/// instance created them.
async fn pending_requests(app: &AppState) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM approval_requests WHERE status = 'PENDING' AND expires_at > $1")
        .bind(app.now())
        .fetch_one(app.db.pool())
        .await
}
