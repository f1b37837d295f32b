//! A person's rule set: read it, replace it (with a passkey session, over the version read), and
//! ask what it would do with a call (the dry-run).

use crate::domain::rules::Call;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{AppJson, ClientIp, Human};
use crate::service::rules::{Rules, RulesError, RulesJson};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(read, replace)).routes(routes!(explain))
}

/// A person's rules and where they come from.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RulesView {
    /// Goes up by one with each save; 0 for the built-in defaults (nothing saved yet).
    pub version: i64,
    /// `saved`, or `defaults` when the person has not saved a rule set.
    pub source: String,
    /// The rule set as JSON: `{"default": "allow"|"ask"|"deny", "rules": [...]}`.
    #[schema(value_type = Object)]
    pub rules: Value,
}

impl From<RulesJson> for RulesView {
    fn from(r: RulesJson) -> Self {
        Self { version: r.version, source: r.source.as_str().to_owned(), rules: r.rules }
    }
}

/// A whole new rule set, over the version it was edited from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplaceRulesBody {
    /// The rule set as JSON (see `GET /api/v1/rules` for the shape).
    #[schema(value_type = Object)]
    pub rules: Value,
    /// The version this set replaces, as read: 0 when none is saved yet.
    pub expected_version: u64,
}

/// A tool call to decide without running it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExplainBody {
    /// The tool's name, e.g. `Bash`, `Write`, `WebFetch`.
    pub tool: String,
    /// The tool's input, e.g. `{"command": "rm -rf build"}`.
    #[schema(value_type = Object)]
    pub input: Map<String, Value>,
    /// The agent's working directory (for `{cwd}` in path conditions).
    pub cwd: Option<String>,
    /// Which agent would make the call.
    pub agent_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExplainView {
    /// The version of the rule set that decided (0: the built-in defaults).
    pub version: i64,
    /// `{outcome, decidedBy, reason, parts}`: the call's outcome, what decided it, and each part.
    #[schema(value_type = Object)]
    pub decision: Value,
    /// The decision in words, one line per part and a verdict.
    pub explanation: String,
}

/// The signed-in person's rule set (the built-in defaults, version 0, until they save one).
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules",
    security(("session" = [])),
    responses((status = 200, body = RulesView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn read(State(rules): State<Rules>, human: Human) -> ApiResult<Json<RulesView>> {
    Ok(Json(rules.json(&human.user.id).await?.into()))
}

/// Replace the signed-in person's rule set. Needs a session signed in with a passkey. The set is
/// checked whole first: one that does not parse is refused (naming the rule and field) and
/// nothing changes.
#[utoipa::path(put, path = "/api/v1/rules", tag = "rules",
    security(("session" = [])),
    request_body = ReplaceRulesBody,
    responses(
        (status = 200, body = RulesView),
        (status = 400, description = "`invalid_rules`: the set does not parse", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`passkey_required` or `step_up_required`: needs a passkey session", body = ErrorBody),
        (status = 409, description = "`version_conflict`: the set is no longer at `expectedVersion`", body = ErrorBody),
    ))]
async fn replace(
    State(rules): State<Rules>,
    human: Human,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<ReplaceRulesBody>,
) -> ApiResult<Json<RulesView>> {
    if !human.via_passkey() {
        return Err(RulesError::PasskeyRequired.into());
    }
    // No set is ever at a version beyond i64's (the store's type): -1 matches none, so such a
    // save gets the same conflict (with the current version) as any other stale one.
    let expected = i64::try_from(body.expected_version).unwrap_or(-1);
    let saved = rules.replace(&human.user.id, body.rules, expected, Some(ip.to_string())).await?;
    Ok(Json(saved.into()))
}

/// What the signed-in person's rules would do with a call (a dry-run: nothing is run or
/// recorded), the version that decided, and why in words.
#[utoipa::path(post, path = "/api/v1/rules/explain", tag = "rules",
    security(("session" = [])),
    request_body = ExplainBody,
    responses((status = 200, body = ExplainView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn explain(
    State(rules): State<Rules>,
    human: Human,
    AppJson(body): AppJson<ExplainBody>,
) -> ApiResult<Json<ExplainView>> {
    let call =
        Call { tool: body.tool, input: Value::Object(body.input), cwd: body.cwd, agent_id: body.agent_id };
    let (decision, version) = rules.explain(&human.user.id, &call).await?;
    let explanation = decision.explain();
    let decision = serde_json::to_value(&decision).map_err(crate::http::error::ApiError::internal)?;
    Ok(Json(ExplainView { version, decision, explanation }))
}
