//! Extractors: who is calling (a person with a session, or an agent with an API key), the client
//! IP, and JSON bodies whose rejections use the API's error shape.

use super::cookies;
use super::error::{ApiError, revoked_api_key, suspended_api_key};
use crate::domain::api_key::ApiKeySecret;
use crate::state::AppState;
use crate::store::api_keys::ApiKeyRecord;
use crate::store::users::User;
use crate::tokens::session::{Session, SessionError, SignInMethod};
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// A JSON body; malformed input is answered in the API's error shape.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) =
            axum::Json::<serde_json::Value>::from_request(req, state).await.map_err(json_rejection)?;
        from_json_body(value).map(AppJson)
    }
}

/// The one rule for every JSON body, whether read by [`AppJson`] or by hand: an object, without
/// U+0000 in any string or key, that fits `T`.
pub fn from_json_body<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    // Every body of this API is an object; serde would also fill a struct from an array.
    if !value.is_object() {
        return Err(ApiError::invalid("the body must be a JSON object"));
    }
    // PostgreSQL cannot store U+0000 in text (a 500) while SQLite would: refused here, for
    // every field at once, so both backends behave alike and no handler needs to remember it.
    if let Some(path) = crate::domain::text::nul_path(&value) {
        return Err(ApiError::invalid(format!(
            "`{path}` contains a NUL character (U+0000), which no text here may hold; remove it and send again"
        )));
    }
    serde_json::from_value(value).map_err(|e| ApiError::invalid(e.to_string()))
}

/// A body that may be left out (empty or only whitespace: `T::default()`), read by
/// [`from_json_body`]'s rule when it is there.
pub fn optional_json_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let value =
        serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
    from_json_body(value)
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonRejection::JsonDataError(e) => ApiError::invalid(e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request("invalid_json", e.body_text()),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(),
        other => ApiError::bad_request("invalid_json", other.body_text()),
    }
}

pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than {} KiB", super::MAX_BODY_BYTES / 1024),
    )
}

/// The bearer token of the request, if any (scheme matched case-insensitively).
fn bearer(parts: &Parts) -> Option<&str> {
    bearer_in(&parts.headers)
}

pub fn bearer_in(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn api_key_header(parts: &Parts) -> Option<&str> {
    parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim)
}

fn presents_api_key(parts: &Parts) -> bool {
    api_key_header(parts).is_some() || bearer(parts).is_some_and(|t| t.starts_with("ag_"))
}

fn agent_key_refused() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "agent_key_not_allowed",
        "agent API keys can only create, read and wait on approval requests; this needs a person's session",
    )
}

/// A person, signed in with a session token.
pub struct Human {
    pub user: User,
    pub session: Session,
}

impl Human {
    pub fn via_passkey(&self) -> bool {
        self.session.method == SignInMethod::Passkey
    }
}

impl FromRequestParts<Arc<AppState>> for Human {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        if presents_api_key(parts) {
            return Err(agent_key_refused());
        }
        // A bearer token, or else the web app's session cookie.
        let (token, from_cookie) = match bearer(parts) {
            Some(t) => (t.to_owned(), false),
            None => (
                cookies::read(&parts.headers, cookies::SESSION_COOKIE).filter(|t| !t.is_empty()).ok_or_else(
                    || ApiError::unauthorized("sign in first: send `Authorization: Bearer <session token>`"),
                )?,
                true,
            ),
        };
        let accounts = &state.services.accounts;
        let session = accounts.verify_token(&token).map_err(|e| match e {
            SessionError::Expired => ApiError::unauthorized("the session has expired; sign in again"),
            SessionError::Invalid => ApiError::unauthorized("the session token is not valid"),
        })?;
        if from_cookie {
            cookies::check_csrf(parts, &session, &state.settings.issuer())?;
        }
        // The token alone is not enough: its session must still be live on the server (and an
        // email-only session of an account with a passkey may only sign out).
        let user = accounts.holder(&session).await?;
        Ok(Human { user, session })
    }
}

/// An agent, identified by a live API key (`Authorization: Bearer ag_…` or `X-API-Key`).
pub struct Agent {
    pub key: ApiKeyRecord,
    /// SHA-256 (hex, first 32 digits) of the key as presented: what the agent can compute too,
    /// to tell that something the server signed was made for its key.
    pub fingerprint: String,
}

impl FromRequestParts<Arc<AppState>> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let presented = api_key_header(parts).or_else(|| bearer(parts)).ok_or_else(|| {
            ApiError::unauthorized("send the agent's API key as `Authorization: Bearer ag_…` or `X-API-Key`")
        })?;
        if !presented.starts_with("ag_") {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "this endpoint takes an agent API key (`ag_…`), not a session token",
            ));
        }
        // Malformed keys are refused here, before any database lookup.
        let secret = ApiKeySecret::parse(presented)
            .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_api_key", e.to_string()))?;
        let key = state.services.keys.presented(&secret).await?.ok_or_else(revoked_api_key)?;
        if key.suspended_at.is_some() {
            return Err(suspended_api_key(key.suspended_because));
        }
        let fingerprint = crate::tokens::policy::key_fingerprint(presented);
        Ok(Agent { key, fingerprint })
    }
}

/// For endpoints open to anyone but meant for people: an agent key is refused outright.
pub struct NotAnAgent;

impl<S: Send + Sync> FromRequestParts<S> for NotAnAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        if presents_api_key(parts) { Err(agent_key_refused()) } else { Ok(NotAnAgent) }
    }
}

/// The client's IP: the TCP peer, or behind a trusted proxy the last X-Forwarded-For entry.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<Arc<AppState>> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        Ok(ClientIp(client_ip(parts, state.settings.trust_forwarded_for)))
    }
}

pub fn client_ip(parts: &Parts, trust_forwarded_for: bool) -> IpAddr {
    if trust_forwarded_for
        && let Some(ip) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    {
        return ip;
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

impl Human {
    /// Sensitive account changes (passkeys, API keys) need a session from a passkey once the
    /// account has one (see `Accounts::require_step_up`); the account's passkey count.
    pub async fn require_step_up(&self, app: &AppState) -> Result<i64, ApiError> {
        Ok(app.services.accounts.require_step_up(&self.user.id, self.session.method).await?)
    }
}
