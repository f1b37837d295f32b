//! Asking a person to approve an action (`POST /api/v1/approval/request`) and reading what
//! became of it (`GET /api/v1/approval/status/{id}`, its event stream, and `?wait=`).

pub use crate::approval::Status;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an agent asks a person to approve. Unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    /// The action, exactly as it will be shown to the person and put in the token (at most 4000
    /// characters; never cut short).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 4000))]
    pub action: String,
    /// Which agent asks (at most 128 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub agent_id: Option<String>,
    /// Any details worth showing, as a JSON object (at most 32 KiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub context: Option<Value>,
    /// How long the request may wait for a decision: default 300, held to 30–600 seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<f64>,
    /// Not part of the body: sent as the `Idempotency-Key` header, so that a retried request
    /// returns the same approval (a client makes one up when absent).
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
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

    /// How long the person has, in seconds (the server holds it to 30–600).
    pub fn expires_in(mut self, seconds: u32) -> Self {
        self.expires_in_seconds = Some(f64::from(seconds));
        self
    }

    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// The answer to a new request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalCreated {
    pub request_id: String,
    pub status: Status,
    pub expires_at: String,
    /// Show this to your user: the approval page shows the same code.
    pub binding_code: String,
    /// Show this too: the request's page in the web app, where the person compares the binding
    /// code and decides (the server's public origin + `/approve/{requestId}`). Always sent by
    /// this server; absent from servers older than it.
    pub approve_url: Option<String>,
}

/// What decided a request or a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Decider {
    /// The person approved, with their passkey.
    Passkey,
    /// The person denied.
    Person,
    /// One of the person's rules, alone.
    Rule,
    /// A standing grant the person made, alone.
    Grant,
    /// The person's kill switch (Stop all agents).
    Stop,
}

impl Decider {
    pub const ALL: [Decider; 5] =
        [Decider::Passkey, Decider::Person, Decider::Rule, Decider::Grant, Decider::Stop];

    pub fn as_str(self) -> &'static str {
        match self {
            Decider::Passkey => "passkey",
            Decider::Person => "person",
            Decider::Rule => "rule",
            Decider::Grant => "grant",
            Decider::Stop => "stop",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

impl std::fmt::Display for Decider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request as the agent that made it sees it; `token` once approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub request_id: String,
    pub status: Status,
    pub action: String,
    pub agent_id: Option<String>,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// The approval token, only when APPROVED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<String>,
    /// While PENDING: the code the approval page shows, to show your user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding_code: Option<String>,
    /// While PENDING: the approval page of this request in the web app, where the person compares
    /// the binding code and decides (the server's public origin + `/approve/{requestId}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approve_url: Option<String>,
    /// What decided it when not a person: `rule`, `grant` or `stop` (the kill switch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Decider>,
    /// When DENIED: what the person said. Their reason, with invisible and control characters
    /// shown as `[U+XXXX]` and at most 1000 characters (longer ends in `…`); or, when `decidedBy`
    /// is `stop`, `stopped by the person (Stop all agents)`. Absent when they gave no reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 1000))]
    pub deny_reason: Option<String>,
}

impl StatusView {
    /// Denied by Stop all agents, not by a person's answer to this request.
    pub fn stopped(&self) -> bool {
        self.status == Status::Denied && self.decided_by == Some(Decider::Stop)
    }
}
