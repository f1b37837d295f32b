//! The approval lifecycle: what an agent may ask, how long a request lives, and what a decision binds.

use super::random;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Lifetime of a request when the agent does not ask for one.
pub const DEFAULT_LIFETIME_SECS: i64 = 300;
/// No request lives longer than this (OWASP ASVS 6.5.5: out-of-band requests ≤ 10 min).
pub const MAX_LIFETIME_SECS: i64 = 600;
/// Shorter lifetimes leave a person no time to read; they are raised to this.
pub const MIN_LIFETIME_SECS: i64 = 30;

pub const MAX_ACTION_CHARS: usize = 4_000;
pub const MAX_AGENT_ID_CHARS: usize = 128;
pub const MAX_CONTEXT_BYTES: usize = 32 * 1024;
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pending,
    Approved,
    Denied,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Approved => "APPROVED",
            Status::Denied => "DENIED",
            Status::Expired => "EXPIRED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Status::Pending),
            "APPROVED" => Some(Status::Approved),
            "DENIED" => Some(Status::Denied),
            "EXPIRED" => Some(Status::Expired),
            _ => None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request can no longer be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undecidable {
    /// It lapsed while pending: nothing was decided.
    Expired,
    /// Someone decided it already (APPROVED or DENIED).
    AlreadyDecided(Status),
}

impl Status {
    /// The status as of `now` of a request stored as `self` that lapses at `expires_at`: a
    /// pending request past its expiry is expired, whether or not it was recorded so yet.
    pub fn at(self, expires_at: i64, now: i64) -> Status {
        if self == Status::Pending && now >= expires_at { Status::Expired } else { self }
    }

    /// Whether a request in this (current) status may still be approved or denied.
    pub fn decidable(self) -> Result<(), Undecidable> {
        match self {
            Status::Pending => Ok(()),
            Status::Expired => Err(Undecidable::Expired),
            s => Err(Undecidable::AlreadyDecided(s)),
        }
    }
}

/// What an agent asked for, checked: text present and bounded, context an object, lifetime clamped.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApproval {
    pub action: String,
    pub agent_id: Option<String>,
    pub context: Option<Map<String, Value>>,
    pub lifetime_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalInputError {
    #[error("`action` must not be empty")]
    EmptyAction,
    #[error("`action` is longer than {MAX_ACTION_CHARS} characters; it is refused rather than cut short")]
    ActionTooLong,
    #[error("`agentId` must be 1 to {MAX_AGENT_ID_CHARS} characters without control characters")]
    BadAgentId,
    #[error("`context` must be a JSON object of at most {MAX_CONTEXT_BYTES} bytes")]
    BadContext,
    #[error("`expiresInSeconds` must be a finite number")]
    BadLifetime,
    #[error("`reason` is longer than {MAX_REASON_CHARS} characters")]
    ReasonTooLong,
}

impl NewApproval {
    pub fn parse(
        action: String,
        agent_id: Option<String>,
        context: Option<Value>,
        expires_in_seconds: Option<f64>,
    ) -> Result<Self, ApprovalInputError> {
        if action.trim().is_empty() {
            return Err(ApprovalInputError::EmptyAction);
        }
        if action.chars().count() > MAX_ACTION_CHARS {
            return Err(ApprovalInputError::ActionTooLong);
        }
        let agent_id = match agent_id {
            None => None,
            Some(a) => {
                let n = a.chars().count();
                if n == 0 || n > MAX_AGENT_ID_CHARS || a.chars().any(char::is_control) {
                    return Err(ApprovalInputError::BadAgentId);
                }
                Some(a)
            }
        };
        let context = match context {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => {
                let size = serde_json::to_vec(&map).map(|v| v.len()).unwrap_or(usize::MAX);
                if size > MAX_CONTEXT_BYTES {
                    return Err(ApprovalInputError::BadContext);
                }
                Some(map)
            }
            Some(_) => return Err(ApprovalInputError::BadContext),
        };
        Ok(Self { action, agent_id, context, lifetime_secs: clamp_lifetime(expires_in_seconds)? })
    }
}

/// Default 300 s; anything asked for is held to 30–600 s.
pub fn clamp_lifetime(asked: Option<f64>) -> Result<i64, ApprovalInputError> {
    match asked {
        None => Ok(DEFAULT_LIFETIME_SECS),
        Some(s) if !s.is_finite() => Err(ApprovalInputError::BadLifetime),
        Some(s) => Ok((s.round() as i64).clamp(MIN_LIFETIME_SECS, MAX_LIFETIME_SECS)),
    }
}

pub fn check_reason(reason: Option<String>) -> Result<Option<String>, ApprovalInputError> {
    match reason {
        Some(r) if r.chars().count() > MAX_REASON_CHARS => Err(ApprovalInputError::ReasonTooLong),
        Some(r) if r.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A short code shown to the agent and on the approval page, so the person can check that the
/// request in front of them is the one their agent is waiting on (number matching).
pub fn binding_code() -> String {
    let n = u32::from_le_bytes(random::bytes::<4>()) % 1_000_000;
    format!("{:03}-{:03}", n / 1000, n % 1000)
}

/// The web app's page for a request (its route `/approve/req_…` in `web/app.js`) on the server
/// at `origin`: where the person compares the binding code and decides.
pub fn approve_url(origin: &str, request_id: &str) -> String {
    format!("{}/approve/{request_id}", origin.trim_end_matches('/'))
}

/// SHA-256 (hex) of the canonical action: the JSON object
/// `{"action","agentId","context","requestId"}` with keys sorted at every level and no whitespace.
/// A tool can recompute it to check that a token approves exactly this action.
pub fn action_hash(
    request_id: &str,
    action: &str,
    agent_id: Option<&str>,
    context: Option<&Map<String, Value>>,
) -> String {
    let mut doc = Map::new();
    doc.insert("action".into(), Value::String(action.to_owned()));
    doc.insert("agentId".into(), agent_id.map_or(Value::Null, |a| Value::String(a.to_owned())));
    doc.insert("context".into(), context.map_or(Value::Null, |c| Value::Object(c.clone())));
    doc.insert("requestId".into(), Value::String(request_id.to_owned()));
    hex::encode(Sha256::digest(canonical_json(&Value::Object(doc)).as_bytes()))
}

/// JSON with object keys sorted at every level and no whitespace: equal documents, equal text.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(k) {
                    write_canonical(inner, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_current_pending_request_is_decidable() {
        assert_eq!(Status::Pending.at(100, 99), Status::Pending);
        assert_eq!(Status::Pending.at(100, 100), Status::Expired);
        assert_eq!(Status::Denied.at(100, 200), Status::Denied);
        assert_eq!(Status::Pending.decidable(), Ok(()));
        assert_eq!(Status::Expired.decidable(), Err(Undecidable::Expired));
        assert_eq!(Status::Approved.decidable(), Err(Undecidable::AlreadyDecided(Status::Approved)));
    }

    #[test]
    fn lifetimes_are_clamped() {
        assert_eq!(clamp_lifetime(None), Ok(300));
        assert_eq!(clamp_lifetime(Some(31_536_000.0)), Ok(600));
        assert_eq!(clamp_lifetime(Some(-5.0)), Ok(30));
        assert_eq!(clamp_lifetime(Some(120.0)), Ok(120));
        assert!(clamp_lifetime(Some(f64::NAN)).is_err());
    }

    #[test]
    fn input_is_checked() {
        let ok = NewApproval::parse("rm -rf ./old".into(), Some("bot".into()), None, None);
        assert!(ok.is_ok());
        assert_eq!(NewApproval::parse("  ".into(), None, None, None), Err(ApprovalInputError::EmptyAction));
        assert_eq!(
            NewApproval::parse("x".repeat(MAX_ACTION_CHARS + 1), None, None, None),
            Err(ApprovalInputError::ActionTooLong)
        );
        assert_eq!(
            NewApproval::parse("x".into(), None, Some(json!([1])), None),
            Err(ApprovalInputError::BadContext)
        );
        assert_eq!(
            NewApproval::parse("x".into(), Some("a\u{0}b".into()), None, None),
            Err(ApprovalInputError::BadAgentId)
        );
    }

    #[test]
    fn action_hash_ignores_key_order_but_not_content() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": "z"}});
        let b = json!({"a": {"x": "z", "y": [1, 2]}, "b": 1});
        let (a, b) = (a.as_object().cloned(), b.as_object().cloned());
        let h1 = action_hash("req_1", "deploy", Some("bot"), a.as_ref());
        assert_eq!(h1, action_hash("req_1", "deploy", Some("bot"), b.as_ref()));
        assert_ne!(h1, action_hash("req_2", "deploy", Some("bot"), a.as_ref()));
        assert_ne!(h1, action_hash("req_1", "deploy!", Some("bot"), a.as_ref()));
        assert_ne!(h1, action_hash("req_1", "deploy", None, a.as_ref()));
    }

    #[test]
    fn binding_codes_look_like_digits() {
        let c = binding_code();
        assert_eq!(c.len(), 7);
        assert_eq!(c.as_bytes()[3], b'-');
    }
}
