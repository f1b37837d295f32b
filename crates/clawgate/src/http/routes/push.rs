//! Web Push subscriptions (standard `PushSubscription` JSON) and the VAPID public key.

use crate::domain::ids::SubscriptionId;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AppJson, Human};
use crate::state::AppState;
use crate::store::push::PushSubscription;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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

fn decoded_len(b64: &str) -> Option<usize> {
    URL_SAFE_NO_PAD.decode(b64.trim_end_matches('=')).ok().map(|v| v.len())
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
    State(app): State<Arc<AppState>>,
    human: Human,
    AppJson(body): AppJson<SubscribeBody>,
) -> ApiResult<(StatusCode, Json<Subscribed>)> {
    crate::push::check_endpoint(&body.endpoint, app.push.policy())
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    if decoded_len(&body.keys.p256dh) != Some(65) {
        return Err(ApiError::invalid("`keys.p256dh` must be a base64url P-256 public key (65 bytes)"));
    }
    if decoded_len(&body.keys.auth) != Some(16) {
        return Err(ApiError::invalid("`keys.auth` must be a base64url 16-byte secret"));
    }
    let sub = PushSubscription {
        id: SubscriptionId::generate(),
        user_id: human.user.id.clone(),
        endpoint: body.endpoint,
        p256dh: body.keys.p256dh,
        auth: body.keys.auth,
        created_at: app.now(),
    };
    let id = app.db.upsert_push_subscription(&sub).await?.ok_or_else(|| {
        ApiError::conflict(
            "push_endpoint_taken",
            "this push endpoint is registered to another account; turn notifications off on this \
             browser while signed in to that account (or make a new push subscription), then try again",
        )
    })?;
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
    State(app): State<Arc<AppState>>,
    human: Human,
    AppJson(body): AppJson<UnsubscribeBody>,
) -> ApiResult<StatusCode> {
    if !app.db.delete_push_subscription(&human.user.id, &body.endpoint).await? {
        return Err(ApiError::not_found("push subscription"));
    }
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
