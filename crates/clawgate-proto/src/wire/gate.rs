//! A tool call brought to the gate (`POST /api/v1/gate`, `/api/v1/gate/explain`), its answer, and
//! the signed policy a gate keeps for when it cannot reach the server (`GET /api/v1/gate/policy`).

use super::approvals::{Decider, Status};
pub use crate::rules::Outcome;
use crate::rules::Scope;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A tool call, as the agent is about to make it. Unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GateRequest {
    /// The tool's name, e.g. `Bash`, `Write`, `WebFetch` (at most 128 characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub tool: String,
    /// The tool runs `input.command` in a shell (OpenClaw's `exec`, say): it is decided as a
    /// `Bash` call, so rules for Bash apply, and shown by its own name. `Bash` always is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shell: bool,
    /// The tool's input exactly as it will run, e.g. `{"command": "cargo test"}` (at most 256 KiB).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub input: Value,
    /// The absolute working directory the call runs in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Which agent makes the call (at most 128 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Anything else worth showing the person if the call asks, as a JSON object (at most 32 KiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub context: Option<Value>,
    /// If the call asks: how long the request may wait for the person (default 300, 30–600 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<f64>,
    /// Not part of the body: sent as the `Idempotency-Key` header, so that a retried call that
    /// asks returns the same request (a client makes one up when absent).
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub idempotency_key: Option<String>,
}

/// The gate's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GateAnswer {
    /// What to do now: `allow` (run the call), `deny` (do not), or `ask` (a person is asked:
    /// wait on `/api/v1/approval/status/{requestId}?wait=60`).
    pub decision: Outcome,
    /// `rule`, `grant`, `passkey` (the person approved), `person` (the person denied), `stop`
    /// (the kill switch); absent while pending or when the request expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Decider>,
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

impl GateAnswer {
    /// The request a call that asks became, as a new approval request would have answered.
    pub fn asked(&self) -> Option<super::ApprovalCreated> {
        Some(super::ApprovalCreated {
            request_id: self.request_id.clone()?,
            status: self.status?,
            expires_at: self.expires_at.clone()?,
            binding_code: self.binding_code.clone()?,
            approve_url: self.approve_url.clone(),
        })
    }
}

/// What the gate would do with a call, exactly as `POST /api/v1/gate` would decide it now (grants
/// included): nothing is recorded, no grant's use is taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GateExplained {
    /// `allow` (by a rule, or by a grant for a call the rules ask about), `ask` (the person would
    /// be asked) or `deny`.
    pub decision: Outcome,
    /// `rule` or `grant`; absent when the person would be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Decider>,
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

/// The JWT header's `typ` of a signed policy.
pub const POLICY_HEADER_TYPE: &str = "clawgate-policy+jwt";
/// A signed policy's audience: no verifier of approval or gate tokens takes it for one.
pub const POLICY_AUDIENCE: &str = "clawgate:policy";
/// A signed policy's `typ` claim.
pub const POLICY_TYPE: &str = "policy";

/// The answer of `GET /api/v1/gate/policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PolicyView {
    /// A JWT (EdDSA, header `typ: clawgate-policy+jwt`, `aud: clawgate:policy`) signed with a key
    /// of `/.well-known/jwks.json`, holding `ruleVersion`, `rules` (the rule set as JSON), `grants`
    /// (the key's live grants: `id`, `scope`, `expiresAt` in ms, `maxUses`, `uses`) and `key`
    /// (the first 32 hex digits of the SHA-256 of the API key it was made for).
    pub policy: String,
    pub rule_version: i64,
    /// Changes whenever the rules or the grants do; also the `ETag`.
    pub tag: String,
}

/// What a signed policy says: the key owner's rule set in force and the key's live standing
/// grants, as of when it was signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyClaims {
    pub iss: String,
    /// The key's owner.
    pub sub: String,
    pub aud: String,
    pub typ: String,
    /// When it was signed (seconds since the epoch).
    pub iat: i64,
    /// [`key_fingerprint`] of the API key it was made for.
    pub key: String,
    pub rule_version: i64,
    /// The rule set as saved (or the built-in defaults at version 0), as JSON.
    pub rules: Value,
    pub grants: Vec<PolicyGrant>,
}

/// A live standing grant of the key, as of when the policy was signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyGrant {
    pub id: String,
    pub scope: Scope,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
    /// `None`: any number of uses until it expires.
    pub max_uses: Option<i64>,
    pub uses: i64,
}

/// SHA-256 of an API key, hex, first 32 digits: names the key without revealing it.
pub fn key_fingerprint(key: &str) -> String {
    hex::encode(&Sha256::digest(key.trim().as_bytes())[..16])
}
