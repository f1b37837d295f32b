//! The per-IP limit on sign-up and passkey endpoints, as middleware (the limiter itself is
//! [`crate::rate_limit::RateLimiter`]).

use super::error::ApiError;
use super::extract::client_ip;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Middleware for the routes it is layered on.
pub async fn limit_auth(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let ip = client_ip(&parts, state.settings.trust_forwarded_for);
    if let Err(retry_after) = state.auth_limiter.check(&ip, state.clock.as_ref()) {
        tracing::warn!(%ip, "authentication rate limit reached");
        return ApiError::rate_limited(retry_after).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
