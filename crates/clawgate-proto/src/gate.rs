//! A tool call an agent brings to the gate, checked at the edge, and what its person is shown
//! when the call asks: the action (the exact command, the file, or the tool and its input) and a
//! context with previews. The rule engine and grants see the call exactly as it will run.

use super::approval::{ApprovalInputError, MAX_AGENT_ID_CHARS, NewApproval};
use super::rules::Call;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub const MAX_TOOL_CHARS: usize = 128;
/// The whole input as JSON: a `Write` carries its file.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;
pub const MAX_CWD_CHARS: usize = 4096;
/// Characters of file content or edits shown to the person in the request's context.
pub const PREVIEW_CHARS: usize = 1000;
/// Characters of a long action kept in the record of a decision the gate made alone.
pub const STORED_ACTION_CHARS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateInputError {
    #[error("`tool` must be 1 to {MAX_TOOL_CHARS} characters without control characters")]
    BadTool,
    #[error("`input` must be a JSON object of at most {MAX_INPUT_BYTES} bytes")]
    BadInput,
    #[error("a `shell` call's `input` must have `command`, the command line as text")]
    ShellWithoutCommand,
    #[error(
        "`cwd` must be an absolute path of at most {MAX_CWD_CHARS} characters without control characters"
    )]
    BadCwd,
    #[error("`agentId` must be 1 to {MAX_AGENT_ID_CHARS} characters without control characters")]
    BadAgentId,
    #[error(transparent)]
    Request(#[from] ApprovalInputError),
}

/// A call brought to the gate, checked: the call itself, the agent's extra context, and how long
/// a request it asks may wait.
#[derive(Debug, Clone, PartialEq)]
pub struct GateCall {
    /// The call as the rules and grants see it: a shell tool of another name (OpenClaw's
    /// `exec`) is a `Bash` call here, so the person's shell-aware rules apply to it.
    pub call: Call,
    /// The tool's name as the agent's runtime calls it, for what the person is shown.
    pub agent_tool: String,
    pub context: Option<Map<String, Value>>,
    pub lifetime_secs: i64,
}

/// `bash`, `BASH`, `Bash ` …: a tool that runs a shell command under another spelling of `Bash`,
/// so that the person's shell-aware rules and grants see it as the `Bash` call it is.
fn spells_bash(tool: &str) -> bool {
    tool.trim().eq_ignore_ascii_case("bash")
}

fn bounded_text(text: &str, max: usize) -> bool {
    let n = text.chars().count();
    n > 0 && n <= max && !text.chars().any(char::is_control)
}

impl GateCall {
    /// `shell`: the tool runs `input.command` in a shell, whatever its name (`Bash` always does).
    pub fn parse(
        tool: String,
        shell: bool,
        input: Value,
        cwd: Option<String>,
        agent_id: Option<String>,
        context: Option<Value>,
        expires_in_seconds: Option<f64>,
    ) -> Result<Self, GateInputError> {
        if !bounded_text(&tool, MAX_TOOL_CHARS) {
            return Err(GateInputError::BadTool);
        }
        let size = serde_json::to_vec(&input).map(|v| v.len()).unwrap_or(usize::MAX);
        if !input.is_object() || size > MAX_INPUT_BYTES {
            return Err(GateInputError::BadInput);
        }
        if shell && !input.get("command").is_some_and(Value::is_string) {
            return Err(GateInputError::ShellWithoutCommand);
        }
        if let Some(cwd) = &cwd
            && (!bounded_text(cwd, MAX_CWD_CHARS) || !cwd.starts_with('/'))
        {
            return Err(GateInputError::BadCwd);
        }
        if let Some(agent) = &agent_id
            && !bounded_text(agent, MAX_AGENT_ID_CHARS)
        {
            return Err(GateInputError::BadAgentId);
        }
        // The context's own checks (an object, at most 32 KiB) are the request's.
        let checked = NewApproval::parse("-".into(), None, context, expires_in_seconds)?;
        let rules_tool = if shell || spells_bash(&tool) { "Bash".to_owned() } else { tool.clone() };
        Ok(Self {
            call: Call { tool: rules_tool, input, cwd, agent_id },
            agent_tool: tool,
            context: checked.context,
            lifetime_secs: checked.lifetime_secs,
        })
    }

    /// The request a call that asks becomes: its action, and a context of the agent's fields
    /// overlaid with the server's (`tool`, `cwd`, why it asks and the asking rule's name,
    /// previews), so an agent's context can never pass for what the server determined.
    pub fn to_request(&self, why: &str, rule: Option<&str>) -> Result<NewApproval, ApprovalInputError> {
        let call = &self.call;
        let mut context = self.context.clone().unwrap_or_default();
        context.insert("tool".into(), Value::String(self.agent_tool.clone()));
        context.insert("asks because".into(), Value::String(why.to_owned()));
        context.insert("via".into(), Value::String("clawgate gate".into()));
        match rule {
            Some(rule) => context.insert("rule".into(), Value::String(rule.to_owned())),
            None => context.remove("rule"),
        };
        // The call's own directory or none: an agent's `cwd` would be shown beside grants
        // offered for any directory.
        match &call.cwd {
            Some(cwd) => context.insert("cwd".into(), Value::String(cwd.clone())),
            None => context.remove("cwd"),
        };
        for key in ["description", "content", "old_string", "new_string", "new_source"] {
            if let Some(text) = call.input.get(key).and_then(Value::as_str) {
                context.insert(key.into(), Value::String(preview(text)));
            }
        }
        let mut request =
            NewApproval::parse(self.action(), call.agent_id.clone(), Some(Value::Object(context)), None)?;
        request.lifetime_secs = self.lifetime_secs;
        Ok(request)
    }

    /// What the person is shown: the exact command (prefixed by the agent's name for a shell tool
    /// of another name: `exec: rm -rf ./old-data`), the file, or the tool and its input.
    pub fn action(&self) -> String {
        let text = action_text(&self.call.tool, &self.call.input);
        if self.agent_tool == self.call.tool { text } else { format!("{}: {text}", self.agent_tool) }
    }

    /// The call as stored with the request it asks (the approve page scopes grants from it).
    pub fn stored(&self) -> String {
        json!({"tool": self.call.tool, "input": self.call.input, "cwd": self.call.cwd}).to_string()
    }
}

/// A stored gate call back as a [`Call`] (with the request's agent id).
pub fn call_from_stored(stored: &str, agent_id: Option<String>) -> Option<Call> {
    let v: Value = serde_json::from_str(stored).ok()?;
    Some(Call {
        tool: v.get("tool")?.as_str()?.to_owned(),
        input: v.get("input").filter(|i| i.is_object())?.clone(),
        cwd: v.get("cwd").and_then(Value::as_str).map(str::to_owned),
        agent_id,
    })
}

/// What the person is asked to approve: the exact command, the file, or the tool and its input.
pub fn action_text(tool: &str, input: &Value) -> String {
    let field = |f: &str| input.get(f).and_then(Value::as_str).map(str::to_owned);
    match tool {
        "Bash" => field("command").unwrap_or_else(|| input.to_string()),
        "Write" | "Edit" | "MultiEdit" | "Read" => {
            format!("{tool} {}", field("file_path").unwrap_or_else(|| input.to_string()))
        }
        "NotebookEdit" => {
            format!("NotebookEdit {}", field("notebook_path").unwrap_or_else(|| input.to_string()))
        }
        other => format!("{other} {input}"),
    }
}

/// At most [`PREVIEW_CHARS`] of `text`, saying how long it was when cut.
pub fn preview(text: &str) -> String {
    match text.char_indices().nth(PREVIEW_CHARS) {
        Some((i, _)) => format!("{}… ({} characters in all)", &text[..i], text.chars().count()),
        None => text.to_owned(),
    }
}

/// A decision's action as recorded: whole when short; else its first [`STORED_ACTION_CHARS`]
/// characters, its SHA-256 and its length, which still tell it from any other action (the token
/// the agent holds names the whole of it). One agent key cannot fill the disk with its commands.
pub fn stored_action(action: &str) -> String {
    match action.char_indices().nth(STORED_ACTION_CHARS) {
        Some((i, _)) => format!(
            "{}… (sha256 {}, {} characters)",
            &action[..i],
            hex::encode(Sha256::digest(action.as_bytes())),
            action.chars().count()
        ),
        None => action.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(tool: &str, input: Value) -> Result<GateCall, GateInputError> {
        GateCall::parse(tool.into(), false, input, Some("/srv/app".into()), Some("bot".into()), None, None)
    }

    #[test]
    fn a_call_is_checked_at_the_edge() {
        assert!(call("Bash", json!({"command": "ls"})).is_ok());
        assert_eq!(call("", json!({})), Err(GateInputError::BadTool));
        assert_eq!(call("Ba\u{7}sh", json!({})), Err(GateInputError::BadTool));
        assert_eq!(call("Bash", json!("ls")), Err(GateInputError::BadInput));
        let relative = GateCall::parse("Bash".into(), false, json!({}), Some("srv".into()), None, None, None);
        assert_eq!(relative, Err(GateInputError::BadCwd));
        let huge = json!({"content": "x".repeat(MAX_INPUT_BYTES)});
        assert_eq!(call("Write", huge), Err(GateInputError::BadInput));
    }

    #[test]
    fn the_servers_context_overrides_the_agents() -> Result<(), GateInputError> {
        let mut c = call("Bash", json!({"command": "rm -rf build", "description": "clean"}))?;
        c.context = Some(
            json!({"asks because": "trust me", "tool": "Read", "ticket": 7})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        let request = c.to_request("rule 2 asks", Some("rm"))?;
        assert_eq!(request.action, "rm -rf build");
        let context = request.context.unwrap_or_default();
        assert_eq!(context["asks because"], "rule 2 asks");
        assert_eq!(context["tool"], "Bash");
        assert_eq!(context["ticket"], 7);
        assert_eq!(context["rule"], "rm");
        assert_eq!(context["description"], "clean");
        assert_eq!(context["cwd"], "/srv/app");
        Ok(())
    }

    #[test]
    fn a_context_cwd_is_the_calls_own_or_absent() -> Result<(), GateInputError> {
        let context = Some(json!({"cwd": "/srv/app", "ticket": 7}));
        let without =
            GateCall::parse("Bash".into(), false, json!({"command": "ls"}), None, None, context, None)?;
        let shown = without.to_request("why", None)?.context.unwrap_or_default();
        assert!(shown.get("cwd").is_none(), "{shown:?}");
        assert_eq!(shown["ticket"], 7);
        let context = Some(json!({"cwd": "/elsewhere"}));
        let with = GateCall::parse(
            "Bash".into(),
            false,
            json!({"command": "ls"}),
            Some("/p".into()),
            None,
            context,
            None,
        )?;
        assert_eq!(with.to_request("why", None)?.context.unwrap_or_default()["cwd"], "/p");
        Ok(())
    }

    #[test]
    fn other_spellings_of_bash_are_bash_calls_shown_as_spelt() -> Result<(), GateInputError> {
        for spelling in ["bash", "BASH", "Bash ", " bAsh"] {
            let c = GateCall::parse(
                spelling.into(),
                false,
                json!({"command": "git push"}),
                None,
                None,
                None,
                None,
            )?;
            assert_eq!(c.call.tool, "Bash", "{spelling:?}");
            assert_eq!(c.action(), format!("{spelling}: git push"));
        }
        let other =
            GateCall::parse("bashful".into(), false, json!({"command": "x"}), None, None, None, None)?;
        assert_eq!(other.call.tool, "bashful");
        Ok(())
    }

    #[test]
    fn a_shell_tool_of_another_name_is_decided_as_bash_and_shown_by_its_name() -> Result<(), GateInputError> {
        let input = json!({"command": "rm -rf ./old-data"});
        let exec = GateCall::parse("exec".into(), true, input.clone(), None, None, None, None)?;
        assert_eq!(exec.call.tool, "Bash");
        assert_eq!(exec.call.command(), Some("rm -rf ./old-data"));
        assert_eq!(exec.action(), "exec: rm -rf ./old-data");
        assert_eq!(exec.to_request("why", None)?.context.unwrap_or_default()["tool"], "exec");
        let no_command = GateCall::parse("exec".into(), true, json!({"cmd": "ls"}), None, None, None, None);
        assert_eq!(no_command, Err(GateInputError::ShellWithoutCommand));
        Ok(())
    }

    #[test]
    fn a_stored_call_reads_back_as_made() -> Result<(), GateInputError> {
        let c = call("Bash", json!({"command": "cargo test"}))?;
        let back = call_from_stored(&c.stored(), Some("bot".into()));
        assert_eq!(back, Some(c.call));
        assert_eq!(call_from_stored("{\"tool\": 3}", None), None);
        Ok(())
    }

    #[test]
    fn long_actions_are_recorded_as_a_prefix_their_hash_and_length() {
        assert_eq!(stored_action("ls -la"), "ls -la");
        let exact = "é".repeat(STORED_ACTION_CHARS);
        assert_eq!(stored_action(&exact), exact);
        let long = format!("echo {}", "é".repeat(60_000));
        let stored = stored_action(&long);
        let hash = hex::encode(Sha256::digest(long.as_bytes()));
        assert!(
            stored.starts_with(&long[..long.char_indices().nth(STORED_ACTION_CHARS).map_or(0, |(i, _)| i)])
        );
        assert!(stored.ends_with(&format!("… (sha256 {hash}, 60005 characters)")), "{stored}");
        assert!(stored.chars().count() < STORED_ACTION_CHARS + 100);
    }

    #[test]
    fn actions_name_the_command_or_the_file() {
        assert_eq!(action_text("Bash", &json!({"command": "ls -la"})), "ls -la");
        assert_eq!(action_text("Write", &json!({"file_path": "/a/b"})), "Write /a/b");
        assert_eq!(action_text("WebFetch", &json!({"url": "u"})), "WebFetch {\"url\":\"u\"}");
        assert!(
            preview(&"é".repeat(PREVIEW_CHARS + 5))
                .ends_with(&format!("({} characters in all)", PREVIEW_CHARS + 5))
        );
    }
}
