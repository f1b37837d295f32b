//! A person's rule set: read it, replace it (with a passkey session, over the version read), and
//! ask what it would do with a call (the dry-run).

use crate::domain::rules::{Call, ExampleResult, Warning};
use crate::http::ceremony_shapes::AssertionBody;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{AppJson, ClientIp, Human};
use crate::service::ceremonies::{Ceremonies, rules_content};
use crate::service::rules::{Rules, RulesError, RulesJson};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use clawgate_proto::evidence::canonical;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(read, replace)).routes(routes!(explain))
}

/// A person's rules and where they come from, with what a look over them found.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RulesView {
    /// Goes up by one with each save; 0 for the built-in defaults (nothing saved yet).
    pub version: i64,
    /// `saved`, or `defaults` when the person has not saved a rule set.
    pub source: String,
    /// The rule set as JSON: `{"default": "allow"|"ask"|"deny", "rules": [...], "examples": [...]}`.
    #[schema(value_type = Object)]
    pub rules: Value,
    /// What in the set is probably not meant: a rule or pattern no call can reach, a tool name no
    /// agent sends. The set is in force all the same. Empty when nothing was found.
    pub warnings: Vec<WarningView>,
    /// Each of the set's `examples`, in order, and what the set does with it now.
    pub examples: Vec<ExampleView>,
}

/// One thing in a rule set that is probably not meant.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarningView {
    /// The rule's position in `rules`, from 0; `null` for the set as a whole.
    pub rule: Option<usize>,
    /// The rule's field at fault (`tool`, `command`, `path`, `regex`), if one is.
    pub field: Option<String>,
    /// What was found and why it matters, in words.
    pub message: String,
}

/// One of the set's examples and what the set does with it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExampleView {
    /// The example's position in `examples`, from 0.
    pub index: usize,
    /// The call in words: the command, or the tool and what it acts on.
    pub call: String,
    /// The outcome the example says the call must get: `allow`, `ask` or `deny`.
    pub expect: String,
    /// The outcome the set gives it: `allow`, `ask` or `deny`.
    pub outcome: String,
    /// Whether the two agree (always, for a set just saved).
    pub passes: bool,
    /// What decided it: `{"kind": "rule", "index", "name"}`, `{"kind": "default"}` or
    /// `{"kind": "unclear", "why"}`.
    #[schema(value_type = Object)]
    pub decided_by: Value,
    /// The decision in words, one line per part and a verdict.
    pub explanation: String,
}

impl From<Warning> for WarningView {
    fn from(w: Warning) -> Self {
        Self { rule: w.rule, field: w.field.map(str::to_owned), message: w.message }
    }
}

impl From<ExampleResult> for ExampleView {
    fn from(r: ExampleResult) -> Self {
        let decided_by = serde_json::to_value(&r.decision.decided_by).unwrap_or(Value::Null);
        Self {
            index: r.index,
            passes: r.passes(),
            explanation: r.decision.explain(),
            call: r.shown,
            expect: r.expect.as_str().to_owned(),
            outcome: r.decision.outcome.as_str().to_owned(),
            decided_by,
        }
    }
}

impl From<RulesJson> for RulesView {
    fn from(r: RulesJson) -> Self {
        Self {
            version: r.version,
            source: r.source.as_str().to_owned(),
            rules: r.rules,
            warnings: r.warnings.into_iter().map(Into::into).collect(),
            examples: r.examples.into_iter().map(Into::into).collect(),
        }
    }
}

/// A whole new rule set, over the version it was edited from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplaceRulesBody {
    /// The rule set as JSON (see `GET /api/v1/rules` for the shape). Its optional `examples` are
    /// calls and the outcome each must get (`{"command": "git push origin main", "expect":
    /// "deny"}`, `{"tool": "Write", "input": {...}, "cwd"?, "agent"?, "expect": "allow"}`),
    /// checked on this save.
    #[schema(value_type = Object)]
    pub rules: Value,
    /// The version this set replaces, as read: 0 when none is saved yet.
    pub expected_version: u64,
    /// The answer to a `rules` ceremony (`POST /api/v1/passkey/decide/start`) started with the
    /// same rules and version: the save is then signed by the passkey (the set's hash and new
    /// version), and its receipt proves it. Without it, the session must have been signed in
    /// with a passkey.
    pub passkey: Option<AssertionBody>,
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

/// The signed-in person's rule set (the built-in defaults, version 0, until they save one), its
/// warnings and its examples' outcomes.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules",
    security(("session" = [])),
    responses((status = 200, body = RulesView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn read(State(rules): State<Rules>, human: Human) -> ApiResult<Json<RulesView>> {
    Ok(Json(rules.json(&human.user.id).await?.into()))
}

/// Replace the signed-in person's rule set. Needs a session signed in with a passkey, or the
/// answer to a `rules` ceremony for exactly this set and version (`passkey`). The set is
/// checked whole first: one that does not parse, names a tool that differs from a known one only
/// in case (`bash`: "did you mean `Bash`?") or fails one of its examples is refused (naming the
/// rule and field, or each failing example, what it got and what decided) and nothing changes.
/// What else is probably not meant comes back as `warnings`; the set is saved all the same.
#[utoipa::path(put, path = "/api/v1/rules", tag = "rules",
    security(("session" = [])),
    request_body = ReplaceRulesBody,
    responses(
        (status = 200, body = RulesView),
        (status = 400, description = "`invalid_rules`: the set does not parse, names a tool in the wrong case, or fails an example; or a `passkey` that does not verify or signed another set (`signed_decision_mismatch`)", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`passkey_required` or `step_up_required`: needs a passkey session", body = ErrorBody),
        (status = 409, description = "`version_conflict`: the set is no longer at `expectedVersion`", body = ErrorBody),
    ))]
async fn replace(
    State(rules): State<Rules>,
    State(ceremonies): State<Ceremonies>,
    human: Human,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<ReplaceRulesBody>,
) -> ApiResult<Json<RulesView>> {
    // No set is ever at a version beyond i64's (the store's type): -1 matches none, so such a
    // save gets the same conflict (with the current version) as any other stale one.
    let expected = i64::try_from(body.expected_version).unwrap_or(-1);
    let user = &human.user.id;
    let signed = match body.passkey {
        Some(answer) => {
            let content = rules_content(expected.saturating_add(1), &body.rules);
            let fits = |signed: &Value| canonical(signed) == canonical(&content);
            Some(ceremonies.verify_decision(user, &answer.ceremony_id, &answer.credential, ip, fits).await?)
        }
        None if human.via_passkey() => None,
        None => return Err(RulesError::PasskeyRequired.into()),
    };
    let saved = rules.replace(user, body.rules, expected, Some(ip.to_string()), signed).await?;
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
