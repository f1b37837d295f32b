//! The gate, for agents: bring a tool call, get `allow` (with a token), `deny` or `ask`; and the
//! same as a dry-run.

use super::approval_status::MAX_WAIT_SECS;
use super::approvals_agent::{body_hash, idempotency_key};
use crate::clock::to_rfc3339;
use crate::domain::approval::{self, Status};
use crate::domain::gate::GateCall;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Agent, AppJson, ClientIp};
use crate::service::gate::{Answer, Gate};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use clawgate_proto::wire::{GateAnswer, GateExplained, GateRequest};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(gate)).routes(routes!(explain))
}

/// The call the wire carries, checked.
fn parse_call(body: GateRequest) -> ApiResult<GateCall> {
    GateCall::parse(
        body.tool,
        body.shell,
        body.input,
        body.cwd,
        body.agent_id,
        body.context,
        body.expires_in_seconds,
    )
    .map_err(|e| ApiError::invalid(e.to_string()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GateQuery {
    /// If the call asks: wait up to this many seconds (at most 60) for the person's decision.
    pub wait: Option<u64>,
}

/// The gate's answer for the agent; `origin` is the server's public origin (see `approve_url`).
fn gate_view(a: Answer, origin: &str) -> GateAnswer {
    let status = a.request.as_ref().map(|r| r.status_at(a.at));
    let asking = a.request.as_ref().filter(|_| status == Some(Status::Pending));
    GateAnswer {
        decision: a.outcome,
        decided_by: a.decided_by,
        decision_id: a.decision.map(|d| d.to_string()),
        request_id: a.request.as_ref().map(|r| r.id.to_string()),
        status,
        token_expires_at: a.token.as_ref().map(|(_, at)| to_rfc3339(*at)),
        token: a.token.map(|(t, _)| t),
        reason: a.reason,
        rule_version: a.rule_version,
        rule: a.rule,
        grant_id: a.grant.map(|g| g.to_string()),
        binding_code: asking.map(|r| r.binding_code.clone()),
        approve_url: asking.map(|r| approval::approve_url(origin, r.id.as_str())),
        expires_at: asking.map(|r| to_rfc3339(r.expires_at)),
        explanation: a.explanation,
    }
}

/// 429 `gate_rate_limited`: this key brings calls faster than its limit allows.
fn rate_limited(retry_after: u64) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "gate_rate_limited",
        format!(
            "this key brings tool calls to the gate faster than its limit allows; retry in {retry_after} s"
        ),
    );
    e.retry_after_secs = Some(retry_after);
    e
}

/// Decide a tool call: the key owner's rules first (a `deny` is final), then their standing
/// grants (for a call the rules ask about), else a person is asked (a pending request). A rule's
/// or grant's decision is recorded and audited with what decided it.
#[utoipa::path(post, path = "/api/v1/gate", tag = "gate",
    security(("apiKey" = []), ("apiKeyHeader" = [])),
    params(GateQuery, ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: a call that asks, retried with the same key and body, gives the same request")),
    request_body = GateRequest,
    responses(
        (status = 200, body = GateAnswer),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The key is suspended (`api_key_suspended`; the message says why: repeated denials or Stop all agents)", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another body", body = ErrorBody),
        (status = 429, description = "The key brings calls faster than GATE_RATE_LIMIT a minute (`gate_rate_limited`), or has too many requests waiting (`too_many_pending`); see Retry-After", body = ErrorBody),
    ))]
async fn gate(
    State(app): State<Arc<AppState>>,
    State(gate): State<Gate>,
    agent: Agent,
    ClientIp(ip): ClientIp,
    Query(q): Query<GateQuery>,
    headers: HeaderMap,
    AppJson(raw): AppJson<Value>,
) -> ApiResult<Json<GateAnswer>> {
    if let Err(retry_after) = app.gate_limiter.check(&agent.key.id, app.clock.as_ref()) {
        return Err(rate_limited(retry_after));
    }
    let idempotency = idempotency_key(&headers)?;
    let body_hash = body_hash(idempotency.as_deref(), &raw);
    let body: GateRequest = serde_json::from_value(raw).map_err(|e| ApiError::invalid(e.to_string()))?;
    let call = parse_call(body)?;
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let idempotency = idempotency.as_deref().map(|k| (k, body_hash.as_str()));
    let answer = gate.decide(&agent.key, call, ip, wait, idempotency).await?;
    Ok(Json(gate_view(answer, &app.settings.issuer())))
}

/// A dry-run of the gate for the key's owner's rules and this key's grants: the decision the
/// gate would make now, and why.
#[utoipa::path(post, path = "/api/v1/gate/explain", tag = "gate",
    security(("apiKey" = []), ("apiKeyHeader" = [])),
    request_body = GateRequest,
    responses((status = 200, body = GateExplained), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn explain(
    State(gate): State<Gate>,
    agent: Agent,
    AppJson(body): AppJson<GateRequest>,
) -> ApiResult<Json<GateExplained>> {
    let call = parse_call(body)?;
    let e = gate.explain(&agent.key, &call).await?;
    Ok(Json(GateExplained {
        decision: e.outcome,
        decided_by: e.decided_by,
        rule: e.rule,
        rule_version: e.rule_version,
        grant_id: e.grant.map(|g| g.to_string()),
        explanation: e.explanation,
    }))
}
