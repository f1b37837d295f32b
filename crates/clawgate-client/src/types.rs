//! What goes over the wire, as the server's OpenAPI document describes it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What to ask a person to approve.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    /// The action exactly as it will be shown and put in the token (at most 4000 characters).
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Details worth showing the person: a JSON object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// How long the person has: default 300, held by the server to 30–600 seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u32>,
    /// Reuse to make a retried `request` return the same approval; one is made up if absent.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

impl ApprovalRequest {
    pub fn new(action: impl Into<String>) -> Self {
        Self { action: action.into(), ..Self::default() }
    }

    pub fn agent(mut self, agent_id: impl Into<String>) -> Self {
        self.agent_id = Some(agent_id.into());
        self
    }

    pub fn context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }

    pub fn expires_in(mut self, seconds: u32) -> Self {
        self.expires_in_seconds = Some(seconds);
        self
    }

    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pending,
    Approved,
    Denied,
    Expired,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pending => "PENDING",
            Status::Approved => "APPROVED",
            Status::Denied => "DENIED",
            Status::Expired => "EXPIRED",
        })
    }
}

/// The answer to a new request.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub request_id: String,
    pub status: Status,
    pub expires_at: String,
    /// Show this to your user: the approval page shows the same code.
    pub binding_code: String,
    /// The request's page in the web app, where the person compares the code and decides (absent
    /// from servers older than it).
    #[serde(default)]
    pub approve_url: Option<String>,
}

/// A tool call to bring to the gate (`POST /api/v1/gate`), exactly as it will run.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GateCall {
    /// The tool's name: `Bash`, `Write`, `WebFetch`, …
    pub tool: String,
    /// The tool's input, e.g. `{"command": "cargo test"}`: a JSON object.
    pub input: Value,
    /// The absolute working directory the call runs in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Details worth showing the person if the call asks: a JSON object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// If the call asks: how long the person has (default 300, held to 30–600 seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u32>,
    /// Reuse to make a retried call that asks return the same request; one is made up if absent.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

/// The gate's answer.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GateAnswer {
    /// `allow`, `deny` or `ask` (a person is asked: wait on `request_id`).
    pub decision: String,
    /// `rule`, `grant`, `passkey`, `person` or `stop`; none while asking.
    pub decided_by: Option<String>,
    pub decision_id: Option<String>,
    pub request_id: Option<String>,
    pub status: Option<Status>,
    pub token: Option<String>,
    pub token_expires_at: Option<String>,
    pub reason: Option<String>,
    pub rule_version: i64,
    pub rule: Option<String>,
    pub grant_id: Option<String>,
    pub binding_code: Option<String>,
    /// While asking: the request's page in the web app.
    #[serde(default)]
    pub approve_url: Option<String>,
    pub expires_at: Option<String>,
    /// What the rules made of the call, in words.
    pub explanation: String,
}

impl GateAnswer {
    /// The request a call that asks became, as [`Client::wait`](crate::Client::wait) needs it.
    pub fn asked(&self) -> Option<Created> {
        Some(Created {
            request_id: self.request_id.clone()?,
            status: self.status?,
            expires_at: self.expires_at.clone()?,
            binding_code: self.binding_code.clone()?,
            approve_url: self.approve_url.clone(),
        })
    }
}

/// What the gate would do with a call (`POST /api/v1/gate/explain`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GateExplained {
    /// What the gate would decide now: `allow` (by a rule, or a grant for a call the rules ask
    /// about), `ask` or `deny`.
    pub decision: String,
    /// `rule` or `grant`; none when the person would be asked.
    pub decided_by: Option<String>,
    /// The rule that would decide (`v3#2`), when one would.
    pub rule: Option<String>,
    pub rule_version: i64,
    /// The live standing grant that would allow a call the rules ask about.
    pub grant_id: Option<String>,
    pub explanation: String,
}

/// A request's status; `token` once approved.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub request_id: String,
    pub status: Status,
    pub action: String,
    pub agent_id: Option<String>,
    pub expires_at: String,
    pub decided_at: Option<String>,
    pub token: Option<String>,
    pub token_expires_at: Option<String>,
    pub binding_code: Option<String>,
    /// While pending: the request's page in the web app.
    #[serde(default)]
    pub approve_url: Option<String>,
    /// What decided it when not a person: `rule`, `grant`, or `stop` (Stop all agents).
    #[serde(default)]
    pub decided_by: Option<String>,
    /// When denied: the person's reason (marked by the server: invisible and control characters
    /// as `[U+XXXX]`, at most 1000 characters), or for a stop `stopped by the person (Stop all
    /// agents)`.
    #[serde(default)]
    pub deny_reason: Option<String>,
}

impl StatusView {
    /// Denied by Stop all agents, not by a person's answer to this request.
    pub fn stopped(&self) -> bool {
        self.status == Status::Denied && self.decided_by.as_deref() == Some("stop")
    }
}

/// What an approval token (or a gate token) says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalClaims {
    pub iss: String,
    /// The person who approved.
    pub sub: String,
    pub aud: String,
    pub typ: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub request_id: String,
    pub action: String,
    /// SHA-256 (hex) of the canonical `{action, agentId, context, requestId}`.
    pub action_hash: String,
    pub agent_id: Option<String>,
    /// What approved: `passkey` (a person, just now: an approval token), `rule` or `grant` (the
    /// gate allowed it alone: a gate token, taken only when accepted; see [`crate::Accept`]).
    pub decided_by: String,
    /// The passkey that approved, when `decided_by` is `passkey`.
    #[serde(default)]
    pub credential_id: Option<String>,
    pub user_verified: bool,
}

/// The answer of `verify-token`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Verification {
    pub valid: bool,
    pub claims: Option<ApprovalClaims>,
    /// Why not: `malformed`, `wrong_type`, `unknown_key`, `bad_signature`, `expired`,
    /// `already_used`, `action_mismatch`, `not_person_approved` (a gate token not accepted).
    pub reason: Option<String>,
}

impl Verification {
    /// The answer, refusing a token `accept` does not take even if the server said valid (a
    /// server older than token kinds ignores `accept` and calls a rule's token valid).
    pub(crate) fn held_to(self, accept: crate::Accept) -> Self {
        match &self.claims {
            Some(c) if self.valid && !accept.accepts(&c.decided_by) => {
                Verification { valid: false, claims: None, reason: Some("not_person_approved".into()) }
            }
            _ => self,
        }
    }
}
