use crate::app::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(health))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when the database cannot be reached.
    pub status: &'static str,
    pub database: &'static str,
    pub version: &'static str,
}

/// Liveness and database reachability.
#[utoipa::path(get, path = "/health", tag = "health",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "The database is unreachable", body = Health),
    ))]
async fn health(State(app): State<Arc<AppState>>) -> (StatusCode, Json<Health>) {
    let version = env!("CARGO_PKG_VERSION");
    match app.db.ping().await {
        Ok(()) => (StatusCode::OK, Json(Health { status: "ok", database: "ok", version })),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health { status: "unavailable", database: "unreachable", version }),
            )
        }
    }
}
