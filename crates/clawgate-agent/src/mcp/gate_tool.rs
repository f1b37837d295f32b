//! `gate_tool_call`, offered by `clawgate mcp` unless `--ask-only`: the model brings a tool call it is about
//! to make (a shell command, a file write, a fetch) exactly as it will run, and clawgate's gate
//! decides with the key owner's rules and standing grants, or asks them and waits. Only an allow
//! or an approval is a go-ahead; anything else is `isError: true`.

use super::answer::{Answer, Asked};
use super::waiting::{Progress, waited, words};
use crate::offline::{self, Keeper, Offline};
use clawgate_client::{Client, GateAnswer, GateCall};
use clawgate_proto::rules::Outcome as RuleOutcome;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

pub const GATE_TOOL_CALL: &str = "gate_tool_call";

/// The tool's entry in `tools/list`.
pub fn definition(timeout: &Value) -> Value {
    json!({
        "name": GATE_TOOL_CALL,
        "title": "Check a tool call with clawgate",
        "description": "Before you run a tool call (a shell command, a file write, a web fetch), \
            bring it here exactly as you will run it. The rules of the person who owns this \
            agent's clawgate key allow it at once, refuse it, or ask them (then this waits for \
            their passkey decision; tell your user the binding code). Run the call only when the \
            result says ALLOWED or APPROVED, and exactly as you brought it here.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "tool": { "type": "string", "minLength": 1, "maxLength": 128,
                          "description": "The tool: Bash for a shell command, Write, Edit, Read, WebFetch, …" },
                "input": { "type": "object",
                           "description": "The tool's input as it will run: {\"command\": \"…\"} for Bash, {\"file_path\": \"…\"} for Write." },
                "cwd": { "type": "string", "description": "The absolute working directory the call runs in." },
                "agentId": { "type": "string", "maxLength": 128, "description": "Who is asking, shown to the person." },
                "timeoutSeconds": timeout,
            },
            "required": ["tool", "input"],
            "additionalProperties": false
        },
        "annotations": { "readOnlyHint": false, "destructiveHint": false, "idempotentHint": false, "openWorldHint": true }
    })
}

/// The call's arguments, checked; `Err` is a sentence for the model.
pub fn parse(
    args: &Map<String, Value>,
    default_agent: Option<&str>,
    wait: Duration,
) -> Result<(GateCall, Duration), String> {
    const ALLOWED: [&str; 5] = ["tool", "input", "cwd", "agentId", "timeoutSeconds"];
    if let Some(unknown) = args.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        return Err(format!("unknown argument `{unknown}`; {GATE_TOOL_CALL} takes {}", ALLOWED.join(", ")));
    }
    let text = |key: &str| match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` must be a string")),
    };
    let tool = text("tool")?.filter(|t| !t.trim().is_empty()).ok_or("`tool` is required: the tool's name")?;
    let input = match args.get("input") {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => return Err("`input` is required: the tool's input as a JSON object".to_owned()),
    };
    let call = GateCall {
        tool,
        input,
        cwd: text("cwd")?,
        agent_id: text("agentId")?.or_else(|| default_agent.map(str::to_owned)),
        expires_in_seconds: Some(wait.as_secs().clamp(30, 600) as f64),
        ..GateCall::default()
    };
    Ok((call, wait))
}

/// Brings the call to the gate; a call that asks waits for the person: all of it within `wait`
/// (a 429 is waited out and retried only within it).
pub async fn run(
    client: &Client,
    keeper: Option<&Keeper>,
    call: GateCall,
    wait: Duration,
    progress: &Progress,
) -> Answer {
    let client = &client.until(Instant::now() + wait);
    let answer = match client.gate(&call).await {
        Ok(a) => {
            if let Some(keeper) = keeper {
                keeper.refresh(client, a.rule_version).await;
            }
            a
        }
        // Unreachable: the rules kept from the server decide, and say so.
        Err(e) if e.is_transient() => {
            let offline = keeper.map_or(Offline::Nothing, |k| k.decide(&offline::call_of(&call)));
            let allowed = matches!(offline, Offline::Decided { outcome: RuleOutcome::Allow, .. });
            return Answer::offline(offline::sentence(&client.issuer(), &e.to_string(), &offline), allowed);
        }
        Err(e) => return Answer::failure(words(&e)),
    };
    match answer.decision.as_str() {
        "allow" => allowed(&answer),
        "ask" => match answer.asked() {
            Some(created) => waited(client, Asked::of(&created), wait, progress).await,
            None => Answer::failure("clawgate asked without naming a request".to_owned()),
        },
        _ => Answer::failure(format!(
            "NOT ALLOWED: {} by {}{}",
            crate::shown(answer.reason.as_deref().unwrap_or("denied")),
            answer.decided_by.map(|d| d.as_str()).unwrap_or("the gate"),
            answer.rule.as_deref().map(|r| format!(" (rule {r})")).unwrap_or_default()
        )),
    }
}

fn allowed(a: &GateAnswer) -> Answer {
    let by = a.decided_by.map(|d| d.as_str()).unwrap_or("the gate");
    let id = a.decision_id.clone().or_else(|| a.request_id.clone()).unwrap_or_default();
    let Some(token) = &a.token else {
        return Answer::failure(format!("clawgate allowed the call ({id}) but sent no token"));
    };
    // Only a person's approval is an approval token; what a verifier may refuse is said here.
    let kind = if by == "passkey" { "Approval token" } else { "Gate token (no person was asked)" };
    let text = format!(
        "ALLOWED by {by} ({id}): run the call exactly as you brought it. {kind}, valid until {}:\n{token}",
        a.token_expires_at.as_deref().unwrap_or("it expires")
    );
    let mut data = Map::new();
    data.insert("approved".into(), true.into());
    data.insert("status".into(), "APPROVED".into());
    data.insert("requestId".into(), id.into());
    data.insert("decidedBy".into(), by.into());
    data.insert("token".into(), token.as_str().into());
    if let Some(at) = &a.token_expires_at {
        data.insert("tokenExpiresAt".into(), at.as_str().into());
    }
    Answer { text, data: Some(data), is_error: false }
}
