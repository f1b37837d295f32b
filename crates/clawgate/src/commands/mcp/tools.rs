//! The tools `clawgate mcp` offers: their schemas, their arguments, and what a call answers.
//!
//! Only an approval is a go-ahead. A denial, an expiry or a wait that ran out ends the call with
//! `isError: true` (fail closed: a client that looks only at the error flag never mistakes "no"
//! for "yes"); asking without waiting answers the request id and binding code, not an error.

use super::Outbox;
use super::gate_tool::GATE_TOOL_CALL;
use crate::commands::offline::Keeper;
use clawgate_client::{ApprovalRequest, Client, Created, Error, GateCall, Status, StatusView};
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

pub const REQUEST_APPROVAL: &str = "request_approval";
pub const GET_APPROVAL_STATUS: &str = "get_approval_status";
/// How long a call waits (and a request lives) unless told otherwise; the longest allowed.
const DEFAULT_TIMEOUT_SECS: u32 = 300;
const MAX_TIMEOUT_SECS: u32 = 600;
/// How often a waiting call tells a client that asked for progress that it is still waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// `tools/list`: `outputSchema` only where results can carry `structuredContent` (2025-06-18 on);
/// `gate_tool_call` only when offered (`clawgate mcp --gate`).
pub fn list(structured: bool, offer_gate: bool) -> Value {
    let timeout = json!({
        "type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT_SECS, "default": DEFAULT_TIMEOUT_SECS,
        "description": "Seconds the person has to decide (the request expires then; clawgate gives at \
                        least 30) and the longest this call waits. At most 600."
    });
    let mut tools = vec![
        json!({
            "name": REQUEST_APPROVAL,
            "title": "Ask a person to approve an action",
            "description": "Ask the person who owns this agent's clawgate key to approve an action \
                before you perform it. They approve with a passkey, or deny, in the clawgate app. \
                Tell your user the binding code from the answer: the approval page shows the same \
                code. By default this waits for the decision: APPROVED comes with a short-lived \
                signed approval token; anything else means the action is NOT approved and you must \
                not perform it. Perform only exactly the action that was approved.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "action": {
                        "type": "string", "minLength": 1, "maxLength": 4000,
                        "description": "Exactly what you want to do, as the person will see it and \
                                        the token will name it (e.g. \"delete ./old-data: 3 files\")."
                    },
                    "context": {
                        "type": "object",
                        "description": "Details that help the person decide (a JSON object, at most 32 KiB)."
                    },
                    "agentId": {
                        "type": "string", "maxLength": 128,
                        "description": "Who is asking, shown to the person. Default: the server's \
                                        --agent setting, else the MCP client's name."
                    },
                    "wait": {
                        "type": "boolean", "default": true,
                        "description": "Wait for the decision (default), or answer at once with the \
                                        request id and binding code (then use get_approval_status)."
                    },
                    "timeoutSeconds": timeout,
                },
                "required": ["action"],
                "additionalProperties": false
            },
            "annotations": { "readOnlyHint": false, "destructiveHint": false, "idempotentHint": false, "openWorldHint": true }
        }),
        json!({
            "name": GET_APPROVAL_STATUS,
            "title": "Check an approval request",
            "description": "The status of an approval request made with request_approval and \
                wait: false; with wait: true, waits for the decision (better than asking again and \
                again). APPROVED comes with the approval token.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "requestId": { "type": "string", "minLength": 1, "description": "The requestId that request_approval answered." },
                    "wait": { "type": "boolean", "default": false, "description": "Wait for the decision instead of answering at once." },
                    "timeoutSeconds": timeout,
                },
                "required": ["requestId"],
                "additionalProperties": false
            },
            "annotations": { "readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": true }
        }),
    ];
    if offer_gate {
        tools.push(super::gate_tool::definition(&timeout));
    }
    if structured {
        for tool in &mut tools {
            tool["outputSchema"] = output_schema();
        }
    }
    json!({ "tools": tools })
}

fn output_schema() -> Value {
    let text = json!({ "type": "string" });
    json!({
        "type": "object",
        "properties": {
            "approved": { "type": "boolean", "description": "true only when the person approved" },
            "status": { "type": "string", "enum": ["PENDING", "APPROVED", "DENIED", "EXPIRED"] },
            "requestId": text, "bindingCode": text, "action": text, "agentId": text,
            "expiresAt": text, "decidedAt": text, "token": text, "tokenExpiresAt": text,
            "timedOut": { "type": "boolean", "description": "the wait ran out before a decision" }
        },
        "required": ["approved", "status", "requestId"]
    })
}

/// A call whose arguments are in order.
#[derive(Debug)]
pub enum Call {
    Request { request: ApprovalRequest, wait: Option<Duration> },
    Status { request_id: String, wait: Option<Duration> },
    Gate { call: GateCall, wait: Duration },
}

/// Reads a known tool's arguments; `Err` is a sentence for the model (an `isError` result, so it
/// can correct itself, as the spec asks for invalid arguments).
pub fn parse(name: &str, args: &Map<String, Value>, default_agent: Option<&str>) -> Result<Call, String> {
    if name == GATE_TOOL_CALL {
        let wait = match args.get("timeoutSeconds") {
            None | Some(Value::Null) => f64::from(DEFAULT_TIMEOUT_SECS),
            Some(v) => {
                v.as_f64().filter(|s| *s > 0.0 && *s <= f64::from(MAX_TIMEOUT_SECS)).ok_or_else(|| {
                    format!("`timeoutSeconds` must be a number above 0 and at most {MAX_TIMEOUT_SECS}")
                })?
            }
        };
        let (call, wait) = super::gate_tool::parse(args, default_agent, Duration::from_secs_f64(wait))?;
        return Ok(Call::Gate { call, wait });
    }
    let allowed: &[&str] = match name {
        REQUEST_APPROVAL => &["action", "context", "agentId", "wait", "timeoutSeconds"],
        _ => &["requestId", "wait", "timeoutSeconds"],
    };
    if let Some(unknown) = args.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("unknown argument `{unknown}`; {name} takes {}", allowed.join(", ")));
    }
    let text = |key: &str| match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` must be a string")),
    };
    let timeout = match args.get("timeoutSeconds") {
        None | Some(Value::Null) => f64::from(DEFAULT_TIMEOUT_SECS),
        Some(v) => match v.as_f64() {
            Some(s) if s > 0.0 && s <= f64::from(MAX_TIMEOUT_SECS) => s,
            _ => {
                return Err(format!(
                    "`timeoutSeconds` must be a number above 0 and at most {MAX_TIMEOUT_SECS}"
                ));
            }
        },
    };
    let wait = |default: bool| match args.get("wait") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err("`wait` must be true or false".to_owned()),
    };
    let wait_for = |wait: bool| wait.then(|| Duration::from_secs_f64(timeout));
    if name == REQUEST_APPROVAL {
        let action = text("action")?.filter(|a| !a.trim().is_empty());
        let action = action.ok_or("`action` is required: say exactly what you want to do")?;
        let mut request = ApprovalRequest::new(action).expires_in(timeout.ceil() as u32);
        if let Some(agent) = text("agentId")?.or_else(|| default_agent.map(str::to_owned)) {
            request = request.agent(agent);
        }
        match args.get("context") {
            None | Some(Value::Null) => {}
            Some(c @ Value::Object(_)) => request = request.context(c.clone()),
            Some(_) => return Err("`context` must be a JSON object".to_owned()),
        }
        return Ok(Call::Request { request, wait: wait_for(wait(true)?) });
    }
    let request_id = text("requestId")?.filter(|id| !id.trim().is_empty());
    let request_id = request_id.ok_or("`requestId` is required: the one request_approval answered")?;
    Ok(Call::Status { request_id, wait: wait_for(wait(false)?) })
}

/// Progress notifications for a call whose client sent `_meta.progressToken`.
pub struct Progress {
    pub token: Option<Value>,
    pub out: Outbox,
}

impl Progress {
    fn send(&self, progress: f64, total: f64, message: String) {
        if let Some(token) = &self.token {
            let params =
                json!({ "progressToken": token, "progress": progress, "total": total, "message": message });
            let _ = self
                .out
                .send(json!({ "jsonrpc": "2.0", "method": "notifications/progress", "params": params }));
        }
    }
}

/// Runs a call: the `CallToolResult`. Never fails: a problem is a result with `isError: true`.
pub async fn run(
    client: Result<&Client, &str>,
    keeper: Option<&Keeper>,
    call: Call,
    progress: Progress,
    structured: bool,
) -> Value {
    let client = match client {
        Ok(c) => c,
        Err(problem) => return Answer::failure(problem.to_owned()).into_result(structured),
    };
    let answer = match call {
        Call::Request { request, wait } => match client.request(&request).await {
            Err(e) => Answer::failure(words(&e)),
            Ok(created) => {
                tracing::info!(request_id = %created.request_id, "approval requested");
                match wait {
                    None => Answer::pending(&created),
                    Some(wait) => {
                        let code = Some(created.binding_code.as_str());
                        waited(client, &created.request_id, code, wait, &progress).await
                    }
                }
            }
        },
        Call::Status { request_id, wait: None } => match client.status(&request_id).await {
            Ok(view) if view.status == Status::Pending => Answer::still_pending(&view),
            Ok(view) => Answer::decided(&view, None, false),
            Err(e) => Answer::failure(words(&e)),
        },
        Call::Status { request_id, wait: Some(wait) } => {
            waited(client, &request_id, None, wait, &progress).await
        }
        Call::Gate { call, wait } => super::gate_tool::run(client, keeper, call, wait, &progress).await,
    };
    answer.into_result(structured)
}

/// Waits for the decision (long-polling the server), telling the client every few seconds.
pub(super) async fn waited(
    client: &Client,
    id: &str,
    code: Option<&str>,
    wait: Duration,
    progress: &Progress,
) -> Answer {
    let started = Instant::now();
    let decision = client.wait(id, wait, |_| {});
    tokio::pin!(decision);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let code_note = code.map(|c| format!("; binding code {c}")).unwrap_or_default();
    let result = loop {
        tokio::select! {
            result = &mut decision => break result,
            _ = tick.tick() => progress.send(
                started.elapsed().as_secs_f64().round(),
                wait.as_secs_f64(),
                format!("waiting for the person to approve or deny request {id}{code_note}"),
            ),
        }
    };
    match result {
        Ok(view) => {
            tracing::info!(request_id = %id, status = %view.status, "decided");
            Answer::decided(&view, code, false)
        }
        Err(Error::TimedOut(view)) => Answer::decided(&view, code, true),
        Err(e) => Answer::failure(words(&e)),
    }
}

/// What a call answers: words for the model, the same as data, and whether it is a "no".
pub(super) struct Answer {
    pub(super) text: String,
    pub(super) data: Option<Map<String, Value>>,
    pub(super) is_error: bool,
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
    fn pending(created: &Created) -> Self {
        let (id, code) = (&created.request_id, &created.binding_code);
        let text = format!(
            "Approval requested; NOT approved yet. Tell your user the binding code {code}: the \
             approval page shows the same code. Request {id} waits for the person until {}. Call \
             get_approval_status with requestId \"{id}\" and wait: true for the decision.",
            created.expires_at
        );
        let mut data = Map::new();
        data.insert("approved".into(), false.into());
        data.insert("status".into(), created.status.to_string().into());
        data.insert("requestId".into(), id.as_str().into());
        data.insert("bindingCode".into(), code.as_str().into());
        data.insert("expiresAt".into(), created.expires_at.as_str().into());
        Self { text, data: Some(data), is_error: false }
    }

    /// Looked at without waiting, still undecided.
    fn still_pending(view: &StatusView) -> Self {
        let mut answer = Self::decided(view, None, false);
        answer.text = format!(
            "NOT approved yet: request {} is still waiting for the person (until {}){}. Call \
             get_approval_status with wait: true to wait for the decision.",
            view.request_id,
            view.expires_at,
            code_words(view.binding_code.as_deref()),
        );
        answer.is_error = false;
        answer
    }

    fn decided(view: &StatusView, code: Option<&str>, timed_out: bool) -> Self {
        let code = code.or(view.binding_code.as_deref());
        let id = &view.request_id;
        let code_words = code_words(code);
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
            (Status::Denied, _) => (
                format!(
                    "NOT APPROVED: the person denied this action (request {id}{code_words}). Do not perform it."
                ),
                true,
            ),
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
        let optional = [
            ("bindingCode", code),
            ("action", Some(view.action.as_str())),
            ("agentId", view.agent_id.as_deref()),
            ("expiresAt", Some(view.expires_at.as_str())),
            ("decidedAt", view.decided_at.as_deref()),
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
    fn into_result(self, structured: bool) -> Value {
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

fn code_words(code: Option<&str>) -> String {
    code.map(|c| format!(", binding code {c}")).unwrap_or_default()
}

/// A client error in words, with its causes ("connection refused" is what helps).
pub(super) fn words(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = cause.source();
    }
    if matches!(e, Error::Transport { .. }) {
        text.push_str(". Is the clawgate server running, and is CLAWGATE_URL right?");
    }
    text
}
