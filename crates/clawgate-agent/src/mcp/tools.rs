//! The tools `clawgate mcp` offers: their schemas, their arguments, and what a call answers.
//!
//! Only an approval is a go-ahead. A denial, an expiry or a wait that ran out ends the call with
//! `isError: true` (fail closed: a client that looks only at the error flag never mistakes "no"
//! for "yes"); asking without waiting answers the request id and binding code, not an error.

use super::answer::{Answer, Asked};
use super::gate_tool::GATE_TOOL_CALL;
pub use super::waiting::Progress;
use super::waiting::{waited, words};
use crate::offline::Keeper;
use clawgate_client::{ApprovalRequest, Client, GateCall, Status};
use serde_json::{Map, Value, json};
use std::time::Duration;

pub const REQUEST_APPROVAL: &str = "request_approval";
pub const GET_APPROVAL_STATUS: &str = "get_approval_status";
/// How long a call waits (and a request lives) unless told otherwise; the longest allowed.
const DEFAULT_TIMEOUT_SECS: u32 = 300;
const MAX_TIMEOUT_SECS: u32 = 600;

/// `tools/list`: `outputSchema` only where results can carry `structuredContent` (2025-06-18 on);
/// `gate_tool_call` only when offered (not with `clawgate mcp --ask-only`).
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
            "approveUrl": { "type": "string", "description": "the request's page, where the person compares the binding code and decides" },
            "decidedBy": { "type": "string", "description": "what decided when not a person's answer: rule, grant, or stop (Stop all agents)" },
            "denyReason": { "type": "string", "description": "when DENIED: what the person said (control and invisible characters as [U+XXXX]), or that they stopped every agent" },
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
                    Some(wait) => waited(client, Asked::of(&created), wait, &progress).await,
                }
            }
        },
        Call::Status { request_id, wait: None } => match client.status(&request_id).await {
            Ok(view) if view.status == Status::Pending => Answer::still_pending(&view),
            Ok(view) => Answer::decided(&view, None, false),
            Err(e) => Answer::failure(words(&e)),
        },
        Call::Status { request_id, wait: Some(wait) } => {
            let asked = Asked { id: &request_id, code: None, url: None };
            waited(client, asked, wait, &progress).await
        }
        Call::Gate { call, wait } => super::gate_tool::run(client, keeper, call, wait, &progress).await,
    };
    answer.into_result(structured)
}
