//! The gate, for agents: bring a tool call, get `allow` (with a token), `deny` or `ask`; and the
//! same as a dry-run.

use super::approval_status::MAX_WAIT_SECS;
use super::approvals_agent::{body_hash, idempotency_key};
use crate::clock::to_rfc3339;
use crate::domain::approval::{self, Status};
use crate::domain::gate::GateCall;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{Agent, AppJson, ClientIp};
use crate::service::gate::{Gate, GateAnswer};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(gate)).routes(routes!(explain))
}

/// A tool call, as the agent is about to make it. Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateBody {
    /// The tool's name, e.g. `Bash`, `Write`, `WebFetch` (at most 128 characters).
    #[schema(min_length = 1, max_length = 128)]
    pub tool: String,
    /// The tool runs `input.command` in a shell (OpenClaw's `exec`, say): it is decided as a
    /// `Bash` call, so rules for Bash apply, and shown by its own name. `Bash` always is.
    #[serde(default)]
    pub shell: bool,
    /// The tool's input exactly as it will run, e.g. `{"command": "cargo test"}` (at most 256 KiB).
    #[schema(value_type = Object)]
    pub input: Value,
    /// The absolute working directory the call runs in.
    pub cwd: Option<String>,
    /// Which agent makes the call (at most 128 characters).
    pub agent_id: Option<String>,
    /// Anything else worth showing the person if the call asks, as a JSON object (at most 32 KiB).
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// If the call asks: how long the request may wait for the person (default 300, 30–600 s).
    pub expires_in_seconds: Option<f64>,
}

impl GateBody {
    fn parse(self) -> ApiResult<GateCall> {
        GateCall::parse(
            self.tool,
            self.shell,
            self.input,
            self.cwd,
            self.agent_id,
            self.context,
            self.expires_in_seconds,
        )
        .map_err(|e| ApiError::invalid(e.to_string()))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GateQuery {
    /// If the call asks: wait up to this many seconds (at most 60) for the person's decision.
    pub wait: Option<u64>,
}

/// The gate's decision.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateView {
    /// What to do now: `allow` (run the call), `deny` (do not), or `ask` (a person is asked:
    /// wait on `/api/v1/approval/status/{requestId}?wait=60`).
    pub decision: String,
    /// `rule`, `grant`, `passkey` (the person approved), `person` (the person denied), `stop`
    /// (the kill switch); absent while pending or when the request expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// A decision made by a rule or grant alone (`dec_…`; the token's `requestId` names it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// When a person was asked: the request (read it at `/api/v1/approval/status/{requestId}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The request's status, when a person was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// When allowed: a signed token for the call. A person's approval (`decidedBy: passkey`) gives
    /// an approval token; a rule or grant gives a gate token (audience `clawgate:gate`), which
    /// verifiers refuse unless they accept `rule` or `grant`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<String>,
    /// Why it was denied, or why it asks. A person's reason for a denial comes as the status
    /// API's `denyReason` does (marked, at most 1000 characters); a stop says `stopped by the
    /// person (Stop all agents)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The version of the rule set that decided (0: the built-in defaults).
    pub rule_version: i64,
    /// When a rule decided: which (`v3#2` is rule 2 of version 3; `v3#default` the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// When a standing grant allowed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// While asking: the code the approval page shows, to show your user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding_code: Option<String>,
    /// While asking: the request's page in the web app, where the person compares the binding code
    /// and decides (the server's public origin + `/approve/{requestId}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approve_url: Option<String>,
    /// While asking: when the request lapses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// What the rules made of the call, in words.
    pub explanation: String,
}

/// The gate's answer for the agent; `origin` is the server's public origin (see `approve_url`).
fn gate_view(a: GateAnswer, origin: &str) -> GateView {
    let status = a.request.as_ref().map(|r| r.status_at(a.at));
    let asking = a.request.as_ref().filter(|_| status == Some(Status::Pending));
    GateView {
        decision: a.outcome.as_str().to_owned(),
        decided_by: a.decided_by.map(str::to_owned),
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
    request_body = GateBody,
    responses(
        (status = 200, body = GateView),
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
) -> ApiResult<Json<GateView>> {
    if let Err(retry_after) = app.gate_limiter.check(&agent.key.id, app.clock.as_ref()) {
        return Err(rate_limited(retry_after));
    }
    let idempotency = idempotency_key(&headers)?;
    let body_hash = body_hash(idempotency.as_deref(), &raw);
    let body: GateBody = serde_json::from_value(raw).map_err(|e| ApiError::invalid(e.to_string()))?;
    let call = body.parse()?;
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let idempotency = idempotency.as_deref().map(|k| (k, body_hash.as_str()));
    let answer = gate.decide(&agent.key, call, ip, wait, idempotency).await?;
    Ok(Json(gate_view(answer, &app.settings.issuer())))
}

/// What the gate would do with a call, exactly as `POST /api/v1/gate` would decide it now (grants
/// included): nothing is recorded, no grant's use is taken.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateExplainView {
    /// `allow` (by a rule, or by a grant for a call the rules ask about), `ask` (the person would
    /// be asked) or `deny`.
    pub decision: String,
    /// `rule` or `grant`; absent when the person would be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When a rule would decide: which (`v3#2`, `v3#default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub rule_version: i64,
    /// The live standing grant that would allow a call the rules ask about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// One line per part of the call and a verdict (`=> allow (by grant grt_… "…", …)` when a
    /// grant would allow it): the words the gate would answer with.
    pub explanation: String,
}

/// A dry-run of the gate for the key's owner's rules and this key's grants: the decision the
/// gate would make now, and why.
#[utoipa::path(post, path = "/api/v1/gate/explain", tag = "gate",
    security(("apiKey" = []), ("apiKeyHeader" = [])),
    request_body = GateBody,
    responses((status = 200, body = GateExplainView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn explain(
    State(gate): State<Gate>,
    agent: Agent,
    AppJson(body): AppJson<GateBody>,
) -> ApiResult<Json<GateExplainView>> {
    let call = body.parse()?;
    let e = gate.explain(&agent.key, &call).await?;
    Ok(Json(GateExplainView {
        decision: e.outcome.as_str().to_owned(),
        decided_by: e.decided_by.map(str::to_owned),
        rule: e.rule,
        rule_version: e.rule_version,
        grant_id: e.grant.map(|g| g.to_string()),
        explanation: e.explanation,
    }))
}
