//! One error shape for every failure: `{"error": {"code", "message"}}` with a fitting status.
//!
//! Codes are stable and meant for programs; messages are for people. A 5xx never carries
//! internal detail: the cause is logged, the client gets a plain sentence.

use crate::domain::approval::Undecidable;
use crate::domain::denial::SuspendedBecause;
use crate::service::approvals::ApprovalError;
use crate::service::grants::GrantError;
use crate::service::keys::KeyError;
use crate::service::rules::RulesError;
use crate::service::stop::StopError;
use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

mod identity;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_secs: Option<u64>,
    /// Logged, never sent.
    pub cause: Option<anyhow::Error>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The code of answers refused because the database's disk is full.
pub const STORAGE_FULL: &str = "storage_full";

/// Marks a response refused for lack of storage, so the layer that watches writes can tell
/// `/health` (see [`crate::http::storage_watch`]).
#[derive(Debug, Clone, Copy)]
pub struct StorageFullMarker;

/// The body of every error response, as the wire contract declares it.
pub use clawgate_proto::wire::{ErrorBody, ErrorDetail};

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after_secs: None, cause: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::bad_request("invalid_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// The same answer for "does not exist" and "is not yours".
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; try again in {retry_after_secs} s"),
        );
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    pub fn unavailable() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "the database is unavailable; try again shortly. A change sent just now may or may not have been saved: \
             retry it with the same Idempotency-Key, or check before repeating it",
        );
        e.retry_after_secs = Some(2);
        e
    }

    /// Writes fail because the database's disk is full: nothing an immediate retry fixes.
    pub fn storage_full() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            STORAGE_FULL,
            "the server's storage is full, so this change could not be saved; try again later (its operator has \
             to free disk space). Retry with the same Idempotency-Key, or check before repeating it",
        );
        e.retry_after_secs = Some(30);
        e
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error; it has been logged",
        );
        e.cause = Some(cause.into());
        e
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(source) => {
                let mut err = ApiError::unavailable();
                err.cause = Some(source.into());
                err
            }
            StoreError::Full(source) => {
                let mut err = ApiError::storage_full();
                err.cause = Some(source.into());
                err
            }
            StoreError::Conflict => ApiError::conflict("conflict", "that already exists"),
            other => ApiError::internal(other),
        }
    }
}

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        match e {
            ApprovalError::NotFound => ApiError::not_found("approval request"),
            ApprovalError::Undecidable(Undecidable::Expired) => ApiError::new(
                StatusCode::GONE,
                "request_expired",
                "the request has expired; nothing was decided",
            ),
            ApprovalError::Undecidable(Undecidable::AlreadyDecided(s)) => ApiError::conflict(
                "already_decided",
                format!("the request was already decided: {}", s.as_str()),
            ),
            ApprovalError::KeyRevoked => revoked_api_key(),
            ApprovalError::KeySuspended(because) => suspended_api_key(because),
            ApprovalError::TooManyPending { max, retry_after_secs } => {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_pending",
                    format!(
                        "this key already has {max} requests waiting for a decision; wait for one to be decided or to lapse"
                    ),
                );
                e.retry_after_secs = Some(retry_after_secs);
                e
            }
            ApprovalError::Input(message) => ApiError::invalid(message),
            ApprovalError::GrantSpent => {
                ApiError::internal(anyhow::anyhow!("a spent grant reached the answer"))
            }
            ApprovalError::IdempotencyKeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different body",
            ),
            ApprovalError::NoPasskey => {
                ApiError::conflict("passkey_required", "the request's owner has no passkey to approve with")
            }
            ApprovalError::NotOwnersPasskey => ApiError::bad_request(
                "unknown_passkey",
                "that passkey does not belong to the request's owner",
            ),
            ApprovalError::NotGrantable(why) => not_grantable(why),
            ApprovalError::Store(e) => e.into(),
            ApprovalError::Internal(e) => ApiError::internal(e),
        }
    }
}

/// A standing grant that cannot be made as asked: 400 `not_grantable`, with why.
pub fn not_grantable(why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("not_grantable", format!("this grant cannot be made: {why}"))
}

impl From<GrantError> for ApiError {
    fn from(e: GrantError) -> Self {
        match e {
            GrantError::NotFound => ApiError::not_found("grant"),
            GrantError::NotGrantable(why) => not_grantable(why),
            GrantError::Store(e) => e.into(),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::NotFound => ApiError::not_found("API key"),
            KeyError::PasskeyRequired => ApiError::forbidden(
                "passkey_required",
                "add a passkey first: only a person who can approve may hold agent keys",
            ),
            KeyError::InvalidName(e) => ApiError::invalid(e.to_string()),
            KeyError::NotSuspended => {
                ApiError::conflict("not_suspended", "this key is not suspended (or was revoked)")
            }
            KeyError::Store(e) => e.into(),
        }
    }
}

impl From<crate::service::policy::PolicyError> for ApiError {
    fn from(e: crate::service::policy::PolicyError) -> Self {
        match e {
            crate::service::policy::PolicyError::Rules(e) => e.into(),
            crate::service::policy::PolicyError::Sign(e) => ApiError::internal(e),
        }
    }
}

impl From<RulesError> for ApiError {
    fn from(e: RulesError) -> Self {
        match e {
            // The parser's message names the rule (number and name) and the field at fault.
            RulesError::Invalid(e) => ApiError::bad_request("invalid_rules", e.to_string()),
            RulesError::VersionConflict { current } => ApiError::conflict(
                "version_conflict",
                format!(
                    "the rule set changed since it was read: it is at version {current}; read it again, \
                     reapply the change and save with that version"
                ),
            ),
            RulesError::PasskeyRequired => ApiError::forbidden(
                "passkey_required",
                "changing rules needs a session signed in with a passkey; add a passkey and sign in with it",
            ),
            RulesError::Unreadable { .. } => ApiError::internal(e),
            RulesError::Store(e) => e.into(),
        }
    }
}

impl From<crate::service::receipts::ReceiptError> for ApiError {
    fn from(e: crate::service::receipts::ReceiptError) -> Self {
        match e {
            crate::service::receipts::ReceiptError::Store(e) => e.into(),
            crate::service::receipts::ReceiptError::Signing(e) => ApiError::internal(e),
        }
    }
}

impl From<StopError> for ApiError {
    fn from(e: StopError) -> Self {
        match e {
            StopError::PasskeyRequired => ApiError::forbidden(
                "passkey_required",
                "stopping every agent needs a session signed in with a passkey; add a passkey and sign in with it",
            ),
            StopError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            match &self.cause {
                Some(cause) => {
                    tracing::error!(code = self.code, error = %format!("{cause:#}"), "request failed")
                }
                None => tracing::error!(code = self.code, "request failed"),
            }
        }
        let body = ErrorBody::new(self.code, self.message);
        let full = self.code == STORAGE_FULL;
        let mut response = (self.status, axum::Json(body)).into_response();
        if full {
            response.extensions_mut().insert(StorageFullMarker);
        }
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// The refusal of an unknown or revoked key, here and wherever a key is checked again later.
pub fn revoked_api_key() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_api_key", "unknown or revoked API key")
}

/// The refusal of a suspended key, here and wherever a key is checked again later: the message
/// names the cause when it is known.
pub fn suspended_api_key(because: Option<SuspendedBecause>) -> ApiError {
    let why = because
        .map_or("its owner denied its requests again and again, or stopped every agent", |b| b.words());
    ApiError::forbidden(
        "api_key_suspended",
        format!(
            "this API key is suspended because {why}; its owner can resume it in the clawgate app (API keys)"
        ),
    )
}
