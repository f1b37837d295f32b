//! Web Push subscriptions (standard `PushSubscription` JSON) and the VAPID public key.

use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{AppJson, Human};
use crate::service::push_subscriptions::PushSubscriptions;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(subscribe))
        .routes(routes!(unsubscribe))
        .routes(routes!(vapid_public_key))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SubscriptionKeys {
    /// The browser's P-256 public key (base64url, 65 bytes).
    pub p256dh: String,
    /// The shared authentication secret (base64url, 16 bytes).
    pub auth: String,
}

/// A browser `PushSubscription`, as `JSON.stringify(subscription)` gives it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeBody {
    pub endpoint: String,
    pub expiration_time: Option<f64>,
    pub keys: SubscriptionKeys,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Subscribed {
    pub id: String,
}

/// Save a Web Push subscription for the signed-in person.
#[utoipa::path(post, path = "/api/v1/push/subscribe", tag = "push",
    security(("session" = [])),
    request_body = SubscribeBody,
    responses(
        (status = 201, body = Subscribed),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "The endpoint is another account's (`push_endpoint_taken`)", body = ErrorBody),
    ))]
async fn subscribe(
    State(subscriptions): State<PushSubscriptions>,
    human: Human,
    AppJson(body): AppJson<SubscribeBody>,
) -> ApiResult<(StatusCode, Json<Subscribed>)> {
    let SubscribeBody { endpoint, keys, .. } = body;
    let id = subscriptions.subscribe(&human.user.id, endpoint, keys.p256dh, keys.auth).await?;
    Ok((StatusCode::CREATED, Json(Subscribed { id: id.to_string() })))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UnsubscribeBody {
    pub endpoint: String,
}

/// Remove a Web Push subscription of the signed-in person.
#[utoipa::path(post, path = "/api/v1/push/unsubscribe", tag = "push",
    security(("session" = [])),
    request_body = UnsubscribeBody,
    responses((status = 204, description = "Removed"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn unsubscribe(
    State(subscriptions): State<PushSubscriptions>,
    human: Human,
    AppJson(body): AppJson<UnsubscribeBody>,
) -> ApiResult<StatusCode> {
    subscriptions.unsubscribe(&human.user.id, &body.endpoint).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VapidKey {
    /// For `pushManager.subscribe({applicationServerKey})`: base64url P-256 point.
    pub public_key: String,
}

/// The server's VAPID public key.
#[utoipa::path(get, path = "/api/v1/push/vapid-public-key", tag = "push",
    responses((status = 200, body = VapidKey)))]
async fn vapid_public_key(State(app): State<Arc<AppState>>) -> Json<VapidKey> {
    Json(VapidKey { public_key: app.vapid_public.clone() })
}
