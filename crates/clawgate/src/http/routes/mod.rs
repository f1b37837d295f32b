//! One file per resource, each exposing `router()`; `http::router` merges them.

pub mod api_keys;
pub mod approval_events;
pub mod approval_status;
pub mod approvals_agent;
pub mod approvals_human;
pub mod auth;
pub mod decisions;
pub mod gate;
pub mod gate_policy;
pub mod grants;
pub mod health;
pub mod passkeys;
pub mod push;
pub mod receipts;
pub mod rules;
pub mod stop;
pub mod tokens;
pub mod web_app;

use crate::state::AppState;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// Routes limited per client IP (sign-up and passkey ceremonies).
pub fn rate_limited() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().merge(auth::limited()).merge(passkeys::limited()).merge(approvals_human::limited())
}

/// Everything else.
pub fn open() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(api_keys::router())
        .merge(passkeys::router())
        .merge(approvals_agent::router())
        .merge(approval_status::router())
        .merge(approvals_human::router())
        .merge(approval_events::router())
        .merge(tokens::router())
        .merge(push::router())
        .merge(rules::router())
        .merge(gate::router())
        .merge(gate_policy::router())
        .merge(stop::router())
        .merge(grants::router())
        .merge(decisions::router())
        .merge(receipts::router())
}
