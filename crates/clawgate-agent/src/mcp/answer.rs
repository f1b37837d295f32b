//! What an MCP tool call answers: words for the model, the same as data (`structuredContent`),
//! and whether it is a "no". Every answer about a request names its id, its binding code and its
//! approve page when known; a denial says what the person said, or that they stopped every agent.

use crate::{Denial, shown};
use clawgate_client::{Created, Status, StatusView};
use clawgate_proto::denial;
use serde_json::{Map, Value, json};

/// What a call answers: words for the model, the same as data, and whether it is a "no".
pub(super) struct Answer {
    pub(super) text: String,
    pub(super) data: Option<Map<String, Value>>,
    pub(super) is_error: bool,
}

/// A request the person is asked about, as the agent should show it: its id, binding code and
/// approve page (the last two when known).
#[derive(Clone, Copy)]
pub(super) struct Asked<'a> {
    pub(super) id: &'a str,
    pub(super) code: Option<&'a str>,
    pub(super) url: Option<&'a str>,
}

impl<'a> Asked<'a> {
    pub(super) fn of(created: &'a Created) -> Self {
        Self {
            id: &created.request_id,
            code: Some(&created.binding_code),
            url: created.approve_url.as_deref(),
        }
    }

    /// `, binding code 482-913, approve page http://…` (what is known of it).
    pub(super) fn words(&self) -> String {
        let code = self.code.map(|c| format!(", binding code {c}")).unwrap_or_default();
        let url = self.url.map(|u| format!(", approve page {}", shown(u))).unwrap_or_default();
        format!("{code}{url}")
    }
}

impl Answer {
    pub(super) fn failure(problem: String) -> Self {
        tracing::warn!("{problem}");
        let text = format!("{problem}\nThe action is NOT approved: do not perform it.");
        Self { text, data: None, is_error: true }
    }

    /// A call decided while the server could not be reached (see `commands::offline`).
    pub(super) fn offline(words: String, allowed: bool) -> Self {
        if !allowed {
            return Self::failure(format!("NOT ALLOWED: {words}"));
        }
        let text = format!("ALLOWED: {words}. No token: nothing was recorded by the server.");
        let mut data = Map::new();
        data.insert("approved".into(), true.into());
        data.insert("offline".into(), true.into());
        Self { text, data: Some(data), is_error: false }
    }

    /// Asked without waiting.
    pub(super) fn pending(created: &Created) -> Self {
        let asked = Asked::of(created);
        let (id, code) = (&created.request_id, &created.binding_code);
        let page = asked.url.map(|u| format!(" (the person approves at {})", shown(u))).unwrap_or_default();
        let text = format!(
            "Approval requested; NOT approved yet. Tell your user the binding code {code}: the \
             approval page{page} shows the same code. Request {id} waits for the person until {}. \
             Call get_approval_status with requestId \"{id}\" and wait: true for the decision.",
            created.expires_at
        );
        let mut data = Map::new();
        data.insert("approved".into(), false.into());
        data.insert("status".into(), created.status.to_string().into());
        data.insert("requestId".into(), id.as_str().into());
        data.insert("bindingCode".into(), code.as_str().into());
        if let Some(url) = asked.url {
            data.insert("approveUrl".into(), shown(url).into());
        }
        data.insert("expiresAt".into(), created.expires_at.as_str().into());
        Self { text, data: Some(data), is_error: false }
    }

    /// Looked at without waiting, still undecided.
    pub(super) fn still_pending(view: &StatusView) -> Self {
        let mut answer = Self::decided(view, None, false);
        let asked = Asked {
            id: &view.request_id,
            code: view.binding_code.as_deref(),
            url: view.approve_url.as_deref(),
        };
        answer.text = format!(
            "NOT approved yet: request {} is still waiting for the person (until {}){}. Call \
             get_approval_status with wait: true to wait for the decision.",
            view.request_id,
            view.expires_at,
            asked.words(),
        );
        answer.is_error = false;
        answer
    }

    /// The request as `view` shows it; `asked` says what is known of it from its creation.
    pub(super) fn decided(view: &StatusView, asked: Option<Asked<'_>>, timed_out: bool) -> Self {
        let asked = Asked {
            id: &view.request_id,
            code: asked.and_then(|a| a.code).or(view.binding_code.as_deref()),
            url: asked.and_then(|a| a.url).or(view.approve_url.as_deref()),
        };
        let id = &view.request_id;
        let code_words = asked.words();
        let (text, is_error) = match (view.status, &view.token) {
            (Status::Approved, Some(token)) => (
                format!(
                    "APPROVED: the person approved this action with their passkey (request \
                     {id}{code_words}). Approval token, valid until {}:\n{token}\nPerform exactly \
                     the approved action, and hand the token to whatever checks approvals.",
                    view.token_expires_at.as_deref().unwrap_or("it expires")
                ),
                false,
            ),
            (Status::Approved, None) => (
                format!(
                    "NOT usable: request {id} is marked approved but came without a token. Do not \
                     perform the action; ask again if it is still needed."
                ),
                true,
            ),
            (Status::Denied, _) => (denied_words(view, &code_words), true),
            (Status::Expired, _) => (
                format!(
                    "NOT APPROVED: request {id}{code_words} expired before the person decided. Do \
                     not perform the action; ask again if it is still needed."
                ),
                true,
            ),
            (Status::Pending, _) => (
                format!(
                    "NOT APPROVED (yet): no decision within the time allowed{}. Request \
                     {id}{code_words} stays open until {}: call get_approval_status with wait: \
                     true to keep waiting. Do not perform the action until it is approved.",
                    if timed_out { "" } else { " so far" },
                    view.expires_at
                ),
                true,
            ),
        };
        let mut data = Map::new();
        let approved = view.status == Status::Approved && view.token.is_some();
        data.insert("approved".into(), approved.into());
        data.insert("status".into(), view.status.to_string().into());
        data.insert("requestId".into(), id.as_str().into());
        let said = (view.status == Status::Denied).then(|| Denial::of(view));
        let reason = match &said {
            Some(Denial::Stopped) => Some(denial::STOPPED.to_owned()),
            Some(Denial::ByPerson { reason }) => reason.clone(),
            None => None,
        };
        let url = asked.url.map(shown);
        let optional = [
            ("bindingCode", asked.code),
            ("approveUrl", url.as_deref()),
            ("action", Some(view.action.as_str())),
            ("agentId", view.agent_id.as_deref()),
            ("expiresAt", Some(view.expires_at.as_str())),
            ("decidedAt", view.decided_at.as_deref()),
            ("decidedBy", view.decided_by.map(|d| d.as_str())),
            ("denyReason", reason.as_deref()),
            ("token", view.token.as_deref()),
            ("tokenExpiresAt", view.token_expires_at.as_deref()),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                data.insert(key.into(), v.into());
            }
        }
        if timed_out {
            data.insert("timedOut".into(), true.into());
        }
        Self { text, data: Some(data), is_error }
    }

    /// The `CallToolResult`: the words; with structured content (2025-06-18 on), also the data,
    /// as `structuredContent` and, as the spec asks, serialized in a second text block.
    pub(super) fn into_result(self, structured: bool) -> Value {
        let mut content = vec![json!({ "type": "text", "text": self.text })];
        let mut result = Map::new();
        if structured && let Some(data) = self.data {
            content.push(json!({ "type": "text", "text": Value::Object(data.clone()).to_string() }));
            result.insert("structuredContent".into(), Value::Object(data));
        }
        result.insert("content".into(), Value::Array(content));
        result.insert("isError".into(), self.is_error.into());
        Value::Object(result)
    }
}

/// A denial in words: what the person said (their reason, or that they stopped every agent).
fn denied_words(view: &StatusView, code_words: &str) -> String {
    let id = &view.request_id;
    match Denial::of(view) {
        Denial::Stopped => format!(
            "NOT APPROVED: {} (request {id}{code_words}): this action was denied with every other \
             pending one, and this agent's key is suspended until the person resumes it. Do not \
             perform it.",
            denial::STOPPED
        ),
        Denial::ByPerson { reason: Some(reason) } => format!(
            "NOT APPROVED: the person denied this action (request {id}{code_words}) and said: \
             {reason}\nDo not perform it; take what they said into account."
        ),
        Denial::ByPerson { reason: None } => format!(
            "NOT APPROVED: the person denied this action (request {id}{code_words}), giving no \
             reason. Do not perform it."
        ),
    }
}
