//! Accounts: register with an email, read your profile.

use crate::clock::to_rfc3339;
use crate::domain::random;
use crate::http::cookies::{self, SessionDelivery};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AppJson, Human, NotAnAgent, bearer_in};
use crate::service::accounts::{Accounts, OpenedSession};
use crate::state::AppState;
use crate::store::users::User;
use crate::tokens::session::SignInMethod;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn limited() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(register))
}

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(me)).routes(routes!(logout))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterBody {
    /// Contact address for the account. It is not verified and not an identity: the account is
    /// secured by the passkeys added to it.
    #[schema(pattern = r"^\s*[^@\s]+@[^@\s.]+(\.[^@\s.]+)+\s*$", max_length = 254)]
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self { id: u.id.to_string(), email: u.email.clone(), created_at: to_rfc3339(u.created_at) }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionResponse {
    pub user: UserView,
    /// Session token for `Authorization: Bearer`. Absent when the session was delivered as
    /// cookies (request header `X-Clawgate-Session: cookie`, used by the web app).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub expires_at: String,
    /// `email` (registration) or `passkey` (passkey sign-in or registration).
    #[schema(value_type = String)]
    pub method: SignInMethod,
}

/// A new session: the response body, and the cookies to set when it goes to a browser.
pub struct IssuedSession {
    pub body: SessionResponse,
    pub cookies: HeaderMap,
}

/// A CSRF token for a session that goes to a browser as cookies (bound into the session token);
/// `None` for one delivered in the body.
pub fn new_csrf(delivery: SessionDelivery) -> Option<String> {
    (delivery == SessionDelivery::Cookie).then(|| URL_SAFE_NO_PAD.encode(random::bytes::<16>()))
}

/// A session just opened, delivered as the client asked: with `csrf` (see [`new_csrf`]) as
/// cookies, else as the token in the body.
pub fn deliver(opened: OpenedSession, csrf: Option<String>, secure_cookies: bool) -> IssuedSession {
    let OpenedSession { user, token, method, expires_at, ttl_secs } = opened;
    let (token, cookies) = match csrf {
        Some(csrf) => (None, cookies::session_cookies(&token, &csrf, ttl_secs, secure_cookies)),
        None => (Some(token), HeaderMap::new()),
    };
    let body = SessionResponse { user: (&user).into(), token, expires_at: to_rfc3339(expires_at), method };
    IssuedSession { body, cookies }
}

/// Lower-cased and checked: one `@`, something on each side, no spaces, at most 254 characters.
pub fn parse_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(email)
}

/// Register with an email.
///
/// Always creates a new account and answers the same way whether or not the email is known, so
/// the answer reveals nothing and can never hand over an existing account. The session it
/// returns can add a first passkey; everything else needs that passkey.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Account created", body = SessionResponse),
        (status = 400, description = "Invalid email", body = ErrorBody),
        (status = 401, description = "An agent key was presented", body = ErrorBody),
        (status = 403, description = "Registration is closed", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody),
    ))]
async fn register(
    State(app): State<Arc<AppState>>,
    _: NotAnAgent,
    delivery: SessionDelivery,
    AppJson(body): AppJson<RegisterBody>,
) -> ApiResult<(StatusCode, HeaderMap, Json<SessionResponse>)> {
    let email =
        parse_email(&body.email).ok_or_else(|| ApiError::invalid("`email` is not a valid email address"))?;
    let csrf = new_csrf(delivery);
    let session = app.services.accounts.register(email, csrf.as_deref()).await?;
    let session = deliver(session, csrf, app.settings.secure_cookies());
    Ok((StatusCode::CREATED, session.cookies, Json(session.body)))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeResponse {
    pub id: String,
    pub email: String,
    pub created_at: String,
    pub passkey_count: i64,
    /// How this session was obtained: `email` or `passkey`.
    #[schema(value_type = String)]
    pub session_method: SignInMethod,
    pub session_expires_at: String,
}

/// The signed-in person's profile.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    security(("session" = [])),
    responses(
        (status = 200, body = MeResponse),
        (status = 401, body = ErrorBody),
    ))]
async fn me(State(accounts): State<Accounts>, human: Human) -> ApiResult<Json<MeResponse>> {
    let passkey_count = accounts.passkey_count(&human.user.id).await?;
    Ok(Json(MeResponse {
        id: human.user.id.to_string(),
        email: human.user.email.clone(),
        created_at: to_rfc3339(human.user.created_at),
        passkey_count,
        session_method: human.session.method,
        session_expires_at: to_rfc3339(human.session.expires_at),
    }))
}

/// Sign out: ends the session on the server (its token stops working at once, on every
/// instance) and removes the web app's session cookies.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    params(("X-CSRF-Token" = Option<String>, Header, description = "The `clawgate_csrf` cookie's value, for cookie sessions")),
    responses(
        (status = 204, description = "Signed out"),
        (status = 403, description = "X-CSRF-Token does not match the CSRF cookie", body = ErrorBody),
    ))]
async fn logout(State(app): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult<(StatusCode, HeaderMap)> {
    let cookie = cookies::read(&headers, cookies::SESSION_COOKIE).filter(|c| !c.is_empty());
    if cookie.is_some() && !cookies::header_matches_cookie(&headers) {
        return Err(ApiError::forbidden(
            "csrf_failed",
            "send the clawgate_csrf cookie's value in X-CSRF-Token",
        ));
    }
    let bearer = bearer_in(&headers).map(str::to_owned);
    for token in [bearer, cookie].into_iter().flatten() {
        // Only a token this server signed names a session; anything else has nothing to end.
        app.services.accounts.sign_out(&token).await?;
    }
    Ok((StatusCode::NO_CONTENT, cookies::cleared(app.settings.secure_cookies())))
}

#[cfg(test)]
mod tests {
    use super::parse_email;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(parse_email(" Ada@Example.COM "), Some("ada@example.com".into()));
        assert_eq!(parse_email("no-at-sign"), None);
        assert_eq!(parse_email("a@b"), None);
        assert_eq!(parse_email("a b@c.d"), None);
        assert_eq!(parse_email("@c.d"), None);
    }
}
