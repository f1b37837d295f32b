//! The metrics listener: `GET /metrics` on METRICS_ADDR, a port of its own so the public one
//! never shows them. Anything else there is 404.

use crate::config::ConnectionSettings;
use crate::metrics::text::CONTENT_TYPE;
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

/// Connections the metrics port keeps open at once: a scraper or two, and someone looking.
const MAX_CONNECTIONS: usize = 32;

/// Serves metrics on `listener` until the task is dropped, through the same accept loop as the
/// public port (header and idle timeouts, a cap on connections), so a client of the metrics
/// port cannot hold the server's files either.
pub async fn run(state: Arc<AppState>, listener: TcpListener) {
    let connections = ConnectionSettings {
        max_connections: MAX_CONNECTIONS,
        max_per_ip: None,
        ..state.settings.connections.clone()
    };
    let served = super::run_fitted(listener, router(state), &connections, None, std::future::pending()).await;
    if let Err(e) = served {
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
    let body = crate::metrics::render(&app.metrics, app.db.store_stats(), app.push.deliveries(), pending);
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
