//! `GET /api/v1/audit/receipts` and `GET /api/v1/audit/checkpoint`: the signed-in person's chain
//! of receipts, a page at a time, and the server's signed checkpoint of its head.

use crate::clock::to_rfc3339;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::Human;
use crate::service::receipts::{MAX_PAGE, Receipts};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use clawgate_proto::evidence::receipt::{CHAIN_FORMAT, CheckpointClaims, Receipt};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Receipts a page holds unless `limit` says otherwise.
pub const DEFAULT_PAGE: u32 = 100;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(receipts)).routes(routes!(checkpoint))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReceiptQuery {
    /// Only receipts after this seq (default 0: from the first).
    #[param(value_type = Option<u64>, minimum = 0)]
    pub after: Option<String>,
    /// Page size, 1–500 (default 100; larger values are held to 500).
    #[param(value_type = Option<u32>, minimum = 1)]
    pub limit: Option<String>,
}

/// A page of the chain, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptPage {
    /// `clawgate-chain/1`: this page's `account` and `receipts`, concatenated over every page, are
    /// the chain file `clawgate audit verify` reads.
    pub format: &'static str,
    pub account: String,
    pub receipts: Vec<Receipt>,
    /// Pass as `after` for the next page; `null` when this page reached the chain's head.
    pub next: Option<u64>,
}

/// The server's signature over the chain's head.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointView {
    /// The compact JWT (EdDSA, header `typ` `clawgate-checkpoint+jwt`), signed with the token
    /// signing key: check it against `/.well-known/jwks.json`. Keep it: with it, a chain cut or
    /// rewritten at or below `seq` is detected.
    pub checkpoint: String,
    /// What it claims: `sub` the account, `seq` and `head` the last receipt and its hash (0 and
    /// the genesis hash for an empty chain), `iat` when.
    pub claims: CheckpointClaims,
    /// `iat`, as RFC 3339.
    pub time: String,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_filter", message)
}

fn number<T: std::str::FromStr + PartialOrd>(
    value: Option<&str>,
    name: &str,
    least: T,
    words: &str,
) -> ApiResult<Option<T>> {
    match value {
        None => Ok(None),
        Some(s) => match s.parse::<T>() {
            Ok(n) if n >= least => Ok(Some(n)),
            _ => Err(bad(format!("`{name}` must be {words}"))),
        },
    }
}

/// The signed-in person's receipts, oldest first, a page at a time.
///
/// One receipt per decision and security-relevant change (account created, passkey registered or
/// deleted, API key created, revoked, suspended or resumed, request created, approved, denied or
/// expired, grant created or revoked, rules changed, Stop all agents, the gate's own decisions),
/// each holding the hash of the one before. An approval's receipt holds what the passkey signed
/// and its assertion; a passkey registration's, its attestation (and so its public key).
#[utoipa::path(get, path = "/api/v1/audit/receipts", tag = "audit",
    security(("session" = [])),
    params(ReceiptQuery),
    responses(
        (status = 200, body = ReceiptPage),
        (status = 400, description = "`after` or `limit` is not valid (`invalid_filter`)", body = ErrorBody),
        (status = 401, description = "No session, or an agent key", body = ErrorBody),
    ))]
async fn receipts(
    State(receipts): State<Receipts>,
    human: Human,
    Query(q): Query<ReceiptQuery>,
) -> ApiResult<Json<ReceiptPage>> {
    let after = number(q.after.as_deref(), "after", 0u64, "a receipt's seq (a whole number, 0 or more)")?;
    let limit = number(q.limit.as_deref(), "limit", 1u32, &format!("a whole number from 1 to {MAX_PAGE}"))?;
    let page = receipts.page(&human.user.id, after.unwrap_or(0), limit.unwrap_or(DEFAULT_PAGE)).await?;
    Ok(Json(ReceiptPage {
        format: CHAIN_FORMAT,
        account: human.user.id.to_string(),
        receipts: page.receipts,
        next: page.next_after,
    }))
}

/// A checkpoint of the signed-in person's chain as it is now, signed by the server.
#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "audit",
    security(("session" = [])),
    responses(
        (status = 200, body = CheckpointView),
        (status = 401, description = "No session, or an agent key", body = ErrorBody),
    ))]
async fn checkpoint(State(receipts): State<Receipts>, human: Human) -> ApiResult<Json<CheckpointView>> {
    let checkpoint = receipts.checkpoint(&human.user.id).await?;
    let time = to_rfc3339(checkpoint.claims.iat * 1000);
    Ok(Json(CheckpointView { checkpoint: checkpoint.jwt, claims: checkpoint.claims, time }))
}
