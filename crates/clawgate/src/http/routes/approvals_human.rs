//! The person's side of an approval: approve with a passkey, deny, list pending and history.

use super::grants::{GrantView, grant_view};
use crate::clock::{Millis, to_rfc3339};
use crate::domain::approval::{self, Status};
use crate::domain::ids::RequestId;
use crate::domain::rules::ScopeWords;
use crate::http::ceremony_shapes::AssertionBody;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AppJson, ClientIp, Human, NotAnAgent, optional_json_body};
use crate::service::approvals::{AGENT_GRACE_MS, Approvals, Decided, agent_waiting};
use crate::service::ceremonies::{Ceremonies, deny_content, same_but_expiry};
use crate::service::grants::{self, GRANT_DURATIONS, Grants};
use crate::state::AppState;
use crate::store::approvals::ApprovalRecord;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub const DEFAULT_PAGE: i64 = 20;
pub const MAX_PAGE: i64 = 100;

pub fn limited() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(approve))
}

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(deny))
        .routes(routes!(pending))
        .routes(routes!(history))
        .routes(routes!(one))
}

/// Everything a person needs to decide.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalView {
    pub request_id: String,
    pub status: Status,
    pub action: String,
    pub agent_id: Option<String>,
    /// The agent's context object, unchanged.
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Value>,
    pub binding_code: String,
    /// SHA-256 of the canonical action; the approval token carries the same value.
    pub action_hash: String,
    pub created_at: String,
    pub expires_at: String,
    pub decided_at: Option<String>,
    pub deny_reason: Option<String>,
    /// The passkey that approved (base64url credential ID).
    pub approved_with: Option<String>,
    /// What decided it when not a person: `rule`, `grant` or `stop` (the kill switch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Which rule (`v3#2`: rule 2 of version 3) or grant (its id) decided it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_ref: Option<String>,
    /// For a pending request made through the gate: the standing grants that may be chosen
    /// with the approval (send one as `grant` to `authenticate/start`). Absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant_options: Vec<GrantOption>,
    /// The durations a grant may be chosen for, in seconds; with `grantOptions` only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant_durations: Vec<i64>,
    /// The standing grant the person made when approving it (`GET /api/v1/approval/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantView>,
    /// Only on `GET /api/v1/approval/{id}`, and only `true`: denying this pending request would
    /// suspend the agent's key (its requests were denied `SUSPEND_AFTER_DENIALS` − 1 times within
    /// 10 minutes). The approve page says so before the person denies.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub denying_suspends_key: bool,
    /// Only while PENDING: whether an agent is waiting for the answer now (it read the request
    /// in the last 30 seconds, or is in a wait; before its first read, in the 30 seconds after
    /// asking). `false`: approving still records the decision, but nothing may act on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_waiting: Option<bool>,
    /// Only while PENDING: until when an agent is taken to be waiting (`agentWaiting` turns
    /// `false` then, unless it reads the request again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_waiting_until: Option<String>,
    /// When its agent last read the request (a status read, a wait or its event stream), as
    /// recorded every few seconds; absent when it has not read it since asking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_checked_at: Option<String>,
    /// Once decided: the seq of the receipt that records the decision in the person's chain
    /// (`GET /api/v1/audit/receipts?after=SEQ-1&limit=1`). Absent while pending, and for a request
    /// decided before this server kept it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_seq: Option<i64>,
}

/// One width a standing grant may have, and what it would cover, in words. Offered narrowest
/// first: this exact command, then ever shorter prefixes of its words.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantOption {
    pub width: crate::domain::rules::Width,
    /// Plain words, e.g. `commands starting cargo test, by agent claude, in /srv/app`.
    pub description: String,
    /// The same in pieces for a page to style: `{what, command?, agent, place}`.
    #[schema(value_type = Object)]
    pub covers: ScopeWords,
}

pub fn approval_view(r: &ApprovalRecord, now: Millis) -> ApprovalView {
    let pending = r.status_at(now) == Status::Pending;
    let waiting_until = r.agent_waiting_until.unwrap_or(r.created_at.saturating_add(AGENT_GRACE_MS));
    ApprovalView {
        request_id: r.id.to_string(),
        status: r.status_at(now),
        action: r.action.clone(),
        agent_id: r.agent_id.clone(),
        context: r.context.as_deref().and_then(|c| serde_json::from_str(c).ok()),
        binding_code: r.binding_code.clone(),
        action_hash: r.action_hash.clone(),
        created_at: to_rfc3339(r.created_at),
        expires_at: to_rfc3339(r.expires_at),
        decided_at: r.decided_at.map(to_rfc3339),
        deny_reason: r.deny_reason.clone(),
        approved_with: r.credential_id.clone(),
        decided_by: r.decided_by.clone(),
        decision_ref: r.decision_ref.clone(),
        grant_options: Vec::new(),
        grant_durations: Vec::new(),
        grant: None,
        denying_suspends_key: false,
        agent_waiting: pending.then(|| agent_waiting(r, now)),
        agent_waiting_until: pending.then(|| to_rfc3339(waiting_until)),
        agent_checked_at: r.agent_seen_at.map(to_rfc3339),
        receipt_seq: r.receipt_seq,
    }
    .with_grant_options(r, now)
}

impl ApprovalView {
    fn with_grant_options(mut self, r: &ApprovalRecord, now: Millis) -> Self {
        self.grant_options = grants::options_of(r, now)
            .into_iter()
            .map(|(width, scope)| GrantOption { width, description: scope.describe(), covers: scope.words() })
            .collect();
        if !self.grant_options.is_empty() {
            self.grant_durations = GRANT_DURATIONS.to_vec();
        }
        self
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionResponse {
    pub request_id: String,
    pub status: Status,
    pub decided_at: String,
    /// The standing grant created with this approval (`grt_…`), when one was chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// Only on a denial, and only `true`: this denial suspended the agent's key (repeated denials
    /// within 10 minutes); resume it on `POST /api/v1/auth/api-keys/{id}/resume`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub key_suspended: bool,
}

/// Approve a request with a passkey assertion from its approval ceremony.
///
/// Start the ceremony with `POST /api/v1/passkey/authenticate/start {"requestId"}`. The
/// assertion only completes that ceremony, which only approves that request.
#[utoipa::path(post, path = "/api/v1/approval/approve/{id}", tag = "approvals",
    params(("id" = String, Path, description = "Request id (`req_…`)")),
    request_body = AssertionBody,
    responses(
        (status = 200, body = DecisionResponse),
        (status = 400, description = "Invalid ceremony, failed passkey verification, or the grant chosen can no longer be made (`not_grantable`)", body = ErrorBody),
        (status = 401, description = "An agent key was presented: agents cannot approve", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already decided", body = ErrorBody),
        (status = 410, description = "Expired", body = ErrorBody),
    ))]
async fn approve(
    State(ceremonies): State<Ceremonies>,
    _: NotAnAgent,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    AppJson(body): AppJson<AssertionBody>,
) -> ApiResult<Json<DecisionResponse>> {
    let id = RequestId::parse(&id).ok_or_else(|| ApiError::not_found("approval request"))?;
    let decided = ceremonies.approve(&id, &body.ceremony_id, &body.credential, ip).await?;
    Ok(Json(decision_response(&decided)))
}

fn decision_response(d: &Decided) -> DecisionResponse {
    DecisionResponse {
        request_id: d.request_id.to_string(),
        status: d.status,
        decided_at: to_rfc3339(d.at),
        grant_id: d.grant_id.as_ref().map(ToString::to_string),
        key_suspended: d.key_suspended,
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DenyBody {
    /// Why, for the agent's log (at most 500 characters).
    #[schema(max_length = 500)]
    pub reason: Option<String>,
    /// The answer to a `deny` ceremony (`POST /api/v1/passkey/decide/start`) started with the same
    /// request and reason: the denial is then signed by the passkey, and its receipt proves it.
    pub passkey: Option<AssertionBody>,
}

/// Deny a request (the body, its reason and its passkey are optional).
///
/// With `passkey`, the denial is the one the person's passkey signed: a ceremony for another
/// request or another reason is refused (`signed_decision_mismatch`) and nothing is denied.
#[utoipa::path(post, path = "/api/v1/approval/deny/{id}", tag = "approvals",
    security(("session" = [])),
    params(("id" = String, Path, description = "Request id (`req_…`)")),
    request_body(content = Option<DenyBody>, description = "Optional reason"),
    responses(
        (status = 200, body = DecisionResponse),
        (status = 400, description = "Invalid body, or a `passkey` that does not verify or signed another denial", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already decided", body = ErrorBody),
        (status = 410, description = "Expired", body = ErrorBody),
    ))]
async fn deny(
    State(approvals): State<Approvals>,
    State(ceremonies): State<Ceremonies>,
    human: Human,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<DecisionResponse>> {
    let body: DenyBody = optional_json_body(&body)?;
    let reason = approval::check_reason(body.reason).map_err(|e| ApiError::invalid(e.to_string()))?;
    let id = RequestId::parse(&id).ok_or_else(|| ApiError::not_found("approval request"))?;
    let user = &human.user.id;
    let signed = match body.passkey {
        None => None,
        Some(answer) => {
            let record = approvals.one_of(user, &id).await?;
            let expected = deny_content(&record, reason.as_deref());
            let fits = |signed: &serde_json::Value| same_but_expiry(signed, &expected);
            Some(ceremonies.verify_decision(user, &answer.ceremony_id, &answer.credential, ip, fits).await?)
        }
    };
    let decided = approvals.deny(user, &id, reason.as_deref(), ip, signed).await?;
    Ok(Json(decision_response(&decided)))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalList {
    pub requests: Vec<ApprovalView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The signed-in person's pending requests, newest first.
#[utoipa::path(get, path = "/api/v1/approval/pending", tag = "approvals",
    security(("session" = [])),
    responses((status = 200, body = ApprovalList), (status = 401, body = ErrorBody)))]
async fn pending(State(approvals): State<Approvals>, human: Human) -> ApiResult<Json<ApprovalList>> {
    let now = approvals.now();
    let rows = approvals.pending_of(&human.user.id, now).await?;
    Ok(Json(ApprovalList {
        requests: rows.iter().map(|r| approval_view(r, now)).collect(),
        next_cursor: None,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only this status: PENDING, APPROVED, DENIED or EXPIRED.
    pub status: Option<String>,
    /// Page size, 1–100 (default 20; larger values are held to 100).
    pub limit: Option<i64>,
    /// `nextCursor` from the previous page.
    pub cursor: Option<String>,
}

fn encode_cursor(r: &ApprovalRecord) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", r.created_at, r.id))
}

fn decode_cursor(c: &str) -> Option<(Millis, String)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    let (at, id) = text.split_once(':')?;
    Some((at.parse().ok()?, RequestId::parse(id)?.to_string()))
}

/// The signed-in person's requests of every status, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/approval/history", tag = "approvals",
    security(("session" = [])),
    params(HistoryQuery),
    responses((status = 200, body = ApprovalList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn history(
    State(approvals): State<Approvals>,
    human: Human,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<ApprovalList>> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            Status::parse(&s.to_ascii_uppercase())
                .ok_or_else(|| ApiError::invalid("`status` must be PENDING, APPROVED, DENIED or EXPIRED"))?,
        ),
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let cursor = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            decode_cursor(c).ok_or_else(|| ApiError::invalid("`cursor` is not one this server gave out"))?,
        ),
    };
    let now = approvals.now();
    let after = cursor.as_ref().map(|(at, id)| (*at, id.as_str()));
    // One more than a page: whether there is a next one.
    let mut rows = approvals.history_of(&human.user.id, status, after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more { rows.last().map(encode_cursor) } else { None };
    Ok(Json(ApprovalList { requests: rows.iter().map(|r| approval_view(r, now)).collect(), next_cursor }))
}

/// One of the signed-in person's requests, with everything needed to decide.
#[utoipa::path(get, path = "/api/v1/approval/{id}", tag = "approvals",
    security(("session" = [])),
    params(("id" = String, Path, description = "Request id (`req_…`)")),
    responses((status = 200, body = ApprovalView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn one(
    State(approvals): State<Approvals>,
    State(grants): State<Grants>,
    human: Human,
    Path(id): Path<String>,
) -> ApiResult<Json<ApprovalView>> {
    let id = RequestId::parse(&id).ok_or_else(|| ApiError::not_found("approval request"))?;
    let record = approvals.one_of(&human.user.id, &id).await?;
    let now = approvals.now();
    let mut view = approval_view(&record, now);
    if record.status_at(now) == Status::Approved && record.gate_call.is_some() {
        let made = grants.made_by(&human.user.id, &id).await?;
        view.grant = made.as_ref().map(|g| grant_view(g, now)).transpose()?;
    }
    view.denying_suspends_key = approvals.denying_suspends_key(&record).await?;
    Ok(Json(view))
}
