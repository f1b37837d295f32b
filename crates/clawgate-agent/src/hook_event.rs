//! The PreToolUse event Claude Code sends a hook, and what the person is shown for it.

use clawgate_proto::gate::{action_text, preview};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Read;

/// The most stdin we read: a `Write` carries the whole file.
const MAX_EVENT_BYTES: u64 = 16 * 1024 * 1024;

/// The part of a PreToolUse event we read.
#[derive(Debug, Deserialize)]
pub struct HookEvent {
    pub hook_event_name: String,
    pub tool_name: String,
    #[serde(default)]
    pub tool_input: Value,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub tool_use_id: Option<String>,
}

pub fn read_event() -> Result<HookEvent, String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_EVENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the hook event from stdin: {e}"))?;
    if bytes.len() as u64 > MAX_EVENT_BYTES {
        return Err("the hook event on stdin is larger than 16 MiB".into());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("the hook event on stdin is not PreToolUse JSON ({e})"))
}

/// What the person is asked to approve: the exact command, the file, or the tool and its input.
pub fn action_of(event: &HookEvent) -> String {
    action_text(&event.tool_name, &event.tool_input)
}

/// What the person sees next to the action: where, why, and a preview of file changes.
pub fn context_of(event: &HookEvent, rule: &str) -> Value {
    let input = &event.tool_input;
    let mut context = json!({ "tool": event.tool_name, "rule": rule, "via": "Claude Code PreToolUse hook" });
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            context[key] = Value::String(preview(v));
        }
    };
    put("cwd", event.cwd.as_deref());
    put("sessionId", event.session_id.as_deref());
    for key in ["description", "content", "old_string", "new_string", "new_source"] {
        put(key, input[key].as_str());
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawgate_proto::gate::PREVIEW_CHARS;
    use serde_json::json;

    fn event(tool: &str, input: Value) -> HookEvent {
        HookEvent {
            hook_event_name: "PreToolUse".into(),
            tool_name: tool.into(),
            tool_input: input,
            session_id: Some("s1".into()),
            cwd: Some("/p".into()),
            tool_use_id: None,
        }
    }

    #[test]
    fn the_action_is_exactly_what_will_happen() {
        assert_eq!(action_of(&event("Bash", json!({ "command": "rm -rf ./build" }))), "rm -rf ./build");
        assert_eq!(
            action_of(&event("Write", json!({ "file_path": "/etc/hosts", "content": "x" }))),
            "Write /etc/hosts"
        );
        assert_eq!(
            action_of(&event("WebFetch", json!({ "url": "https://x" }))),
            r#"WebFetch {"url":"https://x"}"#
        );
    }

    #[test]
    fn the_context_shows_where_why_and_a_preview() {
        let long = "x".repeat(PREVIEW_CHARS + 10);
        let c = context_of(
            &event("Write", json!({ "file_path": "/a", "content": long })),
            "write outside the project",
        );
        assert_eq!(c["tool"], "Write");
        assert_eq!(c["rule"], "write outside the project");
        assert_eq!(c["cwd"], "/p");
        assert!(
            c["content"]
                .as_str()
                .is_some_and(|s| s.ends_with(&format!("({} characters in all)", PREVIEW_CHARS + 10)))
        );
        assert!(c.to_string().len() < 32 * 1024);
    }
}
