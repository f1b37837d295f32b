//! Accounts: register with an email, read your profile.

use crate::clock::to_rfc3339;
use crate::config::RegistrationMode;
use crate::domain::ids::PasskeyId;
use crate::domain::ids::UserId;
use crate::domain::random;
use crate::http::cookies::{self, SessionDelivery};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AppJson, Human, NotAnAgent, bearer_in};
use crate::state::AppState;
use crate::store::sessions::NewSession;
use crate::store::users::User;
use crate::tokens::LEEWAY_SECS;
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
use webauthn_rs::prelude::Uuid;

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

/// How a new session was earned: by email registration, or by the passkey named here (deleting
/// that passkey ends the session).
#[derive(Debug, Clone, Copy)]
pub enum SessionProof<'a> {
    Email,
    Passkey(&'a PasskeyId),
}

/// A session for `user`, recorded on the server and delivered as the client asked.
pub async fn issue_session(
    app: &AppState,
    user: &User,
    proof: SessionProof<'_>,
    delivery: SessionDelivery,
) -> ApiResult<IssuedSession> {
    let now = app.now();
    let ttl = app.sessions.ttl_secs();
    let (method, passkey_id) = match proof {
        SessionProof::Email => (SignInMethod::Email, None),
        SessionProof::Passkey(id) => (SignInMethod::Passkey, Some(id)),
    };
    let csrf = (delivery == SessionDelivery::Cookie).then(|| URL_SAFE_NO_PAD.encode(random::bytes::<16>()));
    let issued = app.sessions.issue(&user.id, method, csrf.as_deref(), now).map_err(ApiError::internal)?;
    app.db
        .insert_session(&NewSession {
            id: &issued.id,
            user_id: &user.id,
            passkey_id,
            method: method.as_str(),
            created_at: now,
            // Kept as long as the token can verify (its leeway included).
            expires_at: issued.expires_at + LEEWAY_SECS * 1000,
        })
        .await?;
    let token = issued.token;
    let (token, cookies) = match csrf {
        Some(csrf) => (None, cookies::session_cookies(&token, &csrf, ttl, app.settings.secure_cookies())),
        None => (Some(token), HeaderMap::new()),
    };
    let body = SessionResponse { user: user.into(), token, expires_at: to_rfc3339(now + ttl * 1000), method };
    Ok(IssuedSession { body, cookies })
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
    let user = User {
        id: UserId::generate(),
        email,
        webauthn_handle: Uuid::new_v4().to_string(),
        created_at: app.now(),
    };
    let closed = || ApiError::forbidden("registration_closed", "this server does not accept new accounts");
    match app.settings.registration_mode {
        RegistrationMode::Closed => return Err(closed()),
        RegistrationMode::FirstUser => {
            if !app.db.insert_first_user(&user).await? {
                return Err(closed());
            }
        }
        RegistrationMode::Open => app.db.insert_user(&user).await?,
    }
    tracing::info!(user.id = %user.id, "account registered");
    let session = issue_session(&app, &user, SessionProof::Email, delivery).await?;
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
async fn me(State(app): State<Arc<AppState>>, human: Human) -> ApiResult<Json<MeResponse>> {
    let passkey_count = app.db.count_passkeys(&human.user.id).await?;
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
        if let Ok(session) = app.sessions.verify(&token, app.now()) {
            app.db.delete_session(&session.id).await?;
            tracing::info!(user.id = %session.user_id, "signed out");
        }
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
