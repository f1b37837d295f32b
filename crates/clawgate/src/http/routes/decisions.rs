//! `GET /api/v1/decisions`: every decision about the signed-in person's keys, newest first — the
//! gate's (by a rule or a grant) and each decided request's (the person, Stop all agents, expiry).

use crate::clock::to_rfc3339;
use crate::domain::approval::MAX_AGENT_ID_CHARS;
use crate::domain::decided::{Decider, DeciderKind, Verdict};
use crate::domain::ids::{ApiKeyId, DecisionId, GrantId, RequestId};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::Human;
use crate::service::decisions::{Cursor, Decisions, Entry};
use crate::state::AppState;
use crate::store::decision_log::DecisionFilter;
use axum::Json;
use axum::extract::{Query, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Filters and paging, each optional; a value given must be valid (an empty one is refused too).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct DecisionQuery {
    /// Only this API key's decisions (`key_…`).
    pub api_key_id: Option<String>,
    /// Only calls and requests with this agent id.
    #[param(min_length = 1, max_length = 128)]
    pub agent_id: Option<String>,
    /// Only this outcome.
    #[param(inline, value_type = Option<Verdict>)]
    pub outcome: Option<String>,
    /// Only what this decided.
    #[param(inline, value_type = Option<DeciderKind>)]
    pub decider: Option<String>,
    /// Only this grant's uses (`grt_…`): the calls it allowed.
    pub grant_id: Option<String>,
    /// Page size, 1–200 (default 50; larger values are held to 200).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub limit: Option<String>,
    /// `next` from the previous page.
    pub before: Option<String>,
}

/// Which rule decided.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleView {
    /// The rule set's version (0: the built-in rules).
    pub version: i64,
    /// 1-based; absent for the rule set's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    /// The rule's name when it decided, if it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// As the gate answered it: `v4#3`, `v4#default`.
    pub reference: String,
}

/// A grant: the one that allowed a call, or the one a person's approval created.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantRef {
    /// `grt_…`
    pub id: String,
    /// What it covers, in words, as the person read it (absent if it is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One decision.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionView {
    /// The decision's id (`dec_…`) for the gate's own, the request's (`req_…`) for a request.
    pub id: String,
    /// The gate's own decision (nobody was asked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// The request that was decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When it was decided (for an expiry, when the request lapsed).
    pub at: String,
    pub outcome: Verdict,
    pub decided_by: DeciderKind,
    /// What decided it, in plain words: `Allowed by rule 3 "tests" (version 4)`, `Denied by
    /// you: …`, `Denied: you stopped all agents`, `Expired: nobody answered`.
    pub summary: String,
    /// For `rule`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleView>,
    /// For `grant`: the grant that allowed the call. For `person`: the grant the approval created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantRef>,
    /// Why it was denied: the rule's reason or the person's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub api_key_id: String,
    /// The key's name (absent if the key is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The tool called (absent for a request not made through the gate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// What the call or request does, as stored (agent text: show it inert).
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The seq of the receipt that records the decision in the person's chain (absent for a
    /// decision made before decisions named their receipts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_seq: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionList {
    pub decisions: Vec<DecisionView>,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    pub next: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_filter", message)
}

/// A parameter's value if it was given; an empty value is refused like any other bad one.
fn given<'a>(value: &'a Option<String>, name: &str) -> ApiResult<Option<&'a str>> {
    match value.as_deref() {
        Some("") => Err(bad(format!("`{name}` is empty; leave it out to list every decision"))),
        other => Ok(other),
    }
}

fn parse_filter(q: &DecisionQuery) -> ApiResult<DecisionFilter> {
    let api_key_id = given(&q.api_key_id, "apiKeyId")?
        .map(|s| ApiKeyId::parse(s).ok_or_else(|| bad("`apiKeyId` is not an API key id (key_…)")))
        .transpose()?;
    let grant_id = given(&q.grant_id, "grantId")?
        .map(|s| GrantId::parse(s).ok_or_else(|| bad("`grantId` is not a grant id (grt_…)")))
        .transpose()?;
    let agent_id = given(&q.agent_id, "agentId")?
        .map(|s| {
            let fits = s.chars().count() <= MAX_AGENT_ID_CHARS && !s.chars().any(char::is_control);
            fits.then(|| s.to_owned()).ok_or_else(|| {
                bad(format!(
                    "`agentId` must be at most {MAX_AGENT_ID_CHARS} characters without control characters"
                ))
            })
        })
        .transpose()?;
    let verdict = given(&q.outcome, "outcome")?
        .map(|s| Verdict::parse(s).ok_or_else(|| bad("`outcome` must be allow, deny or expired")))
        .transpose()?;
    let decider = given(&q.decider, "decider")?
        .map(|s| {
            DeciderKind::parse(s).ok_or_else(|| bad("`decider` must be rule, grant, person, stop or expiry"))
        })
        .transpose()?;
    Ok(DecisionFilter { api_key_id, agent_id, verdict, decider, grant_id })
}

fn parse_limit(q: &DecisionQuery) -> ApiResult<i64> {
    match given(&q.limit, "limit")? {
        None => Ok(DEFAULT_PAGE),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(n.min(MAX_PAGE)),
            _ => Err(bad(format!("`limit` must be a whole number from 1 to {MAX_PAGE}"))),
        },
    }
}

fn encode_cursor(c: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", c.at, c.id))
}

fn decode_cursor(s: &str) -> Option<Cursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
    let (at, id) = text.split_once(':')?;
    if DecisionId::parse(id).is_none() && RequestId::parse(id).is_none() {
        return None;
    }
    Some(Cursor { at: at.parse().ok()?, id: id.to_owned() })
}

fn view(e: Entry) -> DecisionView {
    let Entry { row, verdict, decider, tool, cwd } = e;
    let gate = row.id.starts_with(DecisionId::PREFIX);
    let summary = decider.words(verdict);
    let rule = match &decider {
        Decider::Rule { rule: Some(r), name } => Some(RuleView {
            version: r.version,
            index: r.index,
            name: name.clone(),
            reference: row.decision_ref.clone().unwrap_or_default(),
        }),
        _ => None,
    };
    let grant = match &decider {
        // A grant gone (its owner's account only) still names itself by the decision's reference.
        Decider::Grant { .. } => row.grant_id.clone().or_else(|| row.decision_ref.clone()),
        Decider::Person { .. } => row.grant_id.clone(),
        _ => None,
    }
    .map(|id| GrantRef { id, description: row.grant_description.clone() });
    DecisionView {
        decision_id: gate.then(|| row.id.clone()),
        request_id: (!gate).then(|| row.id.clone()),
        id: row.id,
        at: to_rfc3339(row.at),
        outcome: verdict,
        decided_by: decider.kind(),
        summary,
        rule,
        grant,
        reason: row.reason.filter(|r| !r.is_empty()),
        api_key_id: row.api_key_id,
        api_key_name: row.api_key_name,
        agent_id: row.agent_id,
        tool,
        action: row.action,
        cwd,
        receipt_seq: row.receipt_seq,
    }
}

/// Every decision about the signed-in person's keys, newest first, a page at a time.
///
/// The gate's own decisions (by a `rule` or a `grant`) and decided requests (by the `person`,
/// by `stop` — Stop all agents — or by `expiry`). Pages are cut by time then id: decisions made
/// while paging never move an older page. Only a person's session may list; one person never sees
/// another's decisions (another's key or grant id simply matches nothing).
#[utoipa::path(get, path = "/api/v1/decisions", tag = "decisions",
    security(("session" = [])),
    params(DecisionQuery),
    responses(
        (status = 200, body = DecisionList),
        (status = 400, description = "A filter, `limit` or `before` is not valid (`invalid_filter`)", body = ErrorBody),
        (status = 401, description = "No session, or an agent key", body = ErrorBody),
    ))]
async fn list(
    State(decisions): State<Decisions>,
    human: Human,
    Query(q): Query<DecisionQuery>,
) -> ApiResult<Json<DecisionList>> {
    let filter = parse_filter(&q)?;
    let limit = parse_limit(&q)?;
    let before = given(&q.before, "before")?
        .map(|s| decode_cursor(s).ok_or_else(|| bad("`before` is not a cursor this server gave out")))
        .transpose()?;
    let page = decisions.page(&human.user.id, &filter, before.as_ref(), limit).await?;
    Ok(Json(DecisionList {
        next: page.next.as_ref().map(encode_cursor),
        decisions: page.entries.into_iter().map(view).collect(),
    }))
}
