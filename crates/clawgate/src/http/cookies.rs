//! Sessions for the web app: an HttpOnly, `SameSite=Strict` cookie instead of a bearer token that
//! page script could read, and a CSRF token bound to the session that every state-changing
//! request repeats in a header (a cross-site page can neither read it nor set the header).
//!
//! Other clients keep using `Authorization: Bearer`; a request asks for a cookie session with
//! `X-Clawgate-Session: cookie`.

use super::error::ApiError;
use crate::tokens::session::Session;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "clawgate_session";
/// Readable by the page (not HttpOnly): it only echoes what the session already binds.
pub const CSRF_COOKIE: &str = "clawgate_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
const DELIVERY_HEADER: &str = "x-clawgate-session";

/// How the client wants a new session: in the JSON body, or as cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionDelivery {
    Body,
    Cookie,
}

impl<S: Send + Sync> FromRequestParts<S> for SessionDelivery {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let cookie = parts
            .headers
            .get(DELIVERY_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("cookie"));
        Ok(if cookie { SessionDelivery::Cookie } else { SessionDelivery::Body })
    }
}

/// The value of cookie `name`, if the request carries it.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

fn cookie(name: &str, value: &str, max_age_secs: i64, http_only: bool, secure: bool) -> Option<HeaderValue> {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age_secs}; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).ok()
}

/// `Set-Cookie` headers carrying a session token and its CSRF token.
pub fn session_cookies(token: &str, csrf: &str, max_age_secs: i64, secure: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for c in [
        cookie(SESSION_COOKIE, token, max_age_secs, true, secure),
        cookie(CSRF_COOKIE, csrf, max_age_secs, false, secure),
    ]
    .into_iter()
    .flatten()
    {
        headers.append(header::SET_COOKIE, c);
    }
    headers
}

/// `Set-Cookie` headers that remove both cookies.
pub fn cleared(secure: bool) -> HeaderMap {
    session_cookies("", "", 0, secure)
}

fn csrf_refused() -> ApiError {
    ApiError::forbidden(
        "csrf_failed",
        "this request did not come from the clawgate page (missing or wrong X-CSRF-Token); reload the page",
    )
}

/// For a cookie session: state-changing methods must come from our own origin and repeat the
/// session's CSRF token. Safe methods (GET, HEAD) change nothing and pass.
pub fn check_csrf(parts: &Parts, session: &Session, own_origin: &str) -> Result<(), ApiError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if let Some(origin) = parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && origin != own_origin
    {
        return Err(csrf_refused());
    }
    let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let expected = session.csrf.as_deref().unwrap_or_default();
    if expected.is_empty() || !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(csrf_refused());
    }
    Ok(())
}

/// Double-submit check for requests made without a valid session (sign-out): the header must
/// repeat the CSRF cookie.
pub fn header_matches_cookie(headers: &HeaderMap) -> bool {
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    read(headers, CSRF_COOKIE)
        .is_some_and(|c| !c.is_empty() && bool::from(c.as_bytes().ct_eq(sent.as_bytes())))
}
