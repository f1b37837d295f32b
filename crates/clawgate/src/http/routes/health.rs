use crate::service::health::{Health as HealthCheck, Standing};
use crate::state::AppState;
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
    /// `ok`, or `unavailable` when the database cannot be reached or cannot take writes.
    pub status: &'static str,
    /// `ok`, `unreachable`, or `full` (its disk is full: writes fail until space is freed).
    pub database: &'static str,
    pub version: &'static str,
    /// Why the server is not ok, in words (absent when it is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
}

/// Liveness and database reachability.
#[utoipa::path(get, path = "/health", tag = "health",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "The database is unreachable, or its disk is full", body = Health),
    ))]
async fn health(State(check): State<HealthCheck>) -> (StatusCode, Json<Health>) {
    let version = env!("CARGO_PKG_VERSION");
    let unavailable = |database, message| {
        let health = Health { status: "unavailable", database, version, message: Some(message) };
        (StatusCode::SERVICE_UNAVAILABLE, Json(health))
    };
    match check.standing().await {
        Standing::Unreachable => unavailable("unreachable", "the database cannot be reached"),
        Standing::Full => unavailable(
            "full",
            "the database cannot take writes: its disk is full. Free space on it; this clears once a write succeeds",
        ),
        Standing::Ok => {
            (StatusCode::OK, Json(Health { status: "ok", database: "ok", version, message: None }))
        }
    }
}
