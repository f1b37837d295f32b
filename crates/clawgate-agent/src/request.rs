//! `clawgate request`: ask a person to approve an action; with `--wait`, wait for the decision
//! and print the token.

use super::{EXIT_ERROR, ServerArgs, after_help, approve_url, fail, print_result, say, wait_for_decision};
use clap::Args;
use clawgate_client::ApprovalRequest;
use serde_json::Value;
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  # Ask, and wait for the person's decision; the token goes to stdout:
  token=$(clawgate request \"delete ./old-data\" --agent cleaner --wait) || exit
  # With details for the person (a JSON object, inline or from a file):
  clawgate request \"deploy v2.3 to production\" --context '{\"commit\": \"4f1c2e9\"}' --wait
  clawgate request \"send the newsletter\" --context @newsletter.json --wait --timeout 120
  # Only ask; prints the request id (wait later, e.g. with the HTTP API):
  id=$(clawgate request \"rotate the TLS key\")

Results go to stdout (the request id, or the token with --wait); messages go to stderr: at once
the binding code and the request's approve page (\"waiting for approval: code 482-913, open
http://…/approve/req_…\"), then a live line with the time left when stderr is a terminal, and
with a denial what the person said (their reason, or that they stopped every agent). The binding
code is also on the approval page: tell your user to check that both match.";

/// Ask a person to approve an action.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Ask a person to approve an action; print the request id, or with --wait the token",
    long_about = "Ask the person who owns the API key to approve an action.\n\n\
Without --wait, prints the new request's id and exits 0. With --wait, waits (long-polling, no \
busy loop) until the person approves with a passkey, denies, or the request expires, and on \
approval prints the approval token: a short-lived Ed25519-signed JWT any tool can check with \
`clawgate verify`.",
    after_help = after_help(EXAMPLES)
)]
pub struct RequestArgs {
    /// The action, exactly as the person will see it and the token will carry it (1 to 4000
    /// characters; never shortened).
    pub action: String,

    /// Which agent asks, shown to the person and put in the token.
    #[arg(long, env = "CLAWGATE_AGENT_ID", value_name = "ID")]
    pub agent: Option<String>,

    /// Details for the person: a JSON object, or @FILE to read it from a file (@- for stdin).
    #[arg(long, value_name = "JSON|@FILE")]
    pub context: Option<String>,

    /// How long the person has to decide, in seconds (the server holds it to 30–600).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub expires: u32,

    /// Wait for the decision and print the token when approved.
    #[arg(long)]
    pub wait: bool,

    /// With --wait: give up after this many seconds (exit 4). Default: the request's lifetime.
    #[arg(long, value_name = "SECS", requires = "wait")]
    pub timeout: Option<u64>,

    #[command(flatten)]
    pub server: ServerArgs,
}

pub async fn run(args: RequestArgs) -> ExitCode {
    let context = match args.context.as_deref().map(read_context).transpose() {
        Ok(c) => c,
        Err(e) => return fail(EXIT_ERROR, &e),
    };
    let client = match args.server.client() {
        Ok(c) => c,
        Err(e) => return fail(EXIT_ERROR, &e.to_string()),
    };
    let mut request = ApprovalRequest::new(args.action).expires_in(args.expires);
    request.agent_id = args.agent;
    request.context = context;
    let created = match client.request(&request).await {
        Ok(c) => c,
        Err(e) => return fail(EXIT_ERROR, &format!("cannot ask for approval: {e}")),
    };
    if !args.wait {
        say(&format!(
            "asked for approval: {}: code {}, open {} (expires {})",
            created.request_id,
            created.binding_code,
            approve_url(&client, &created),
            created.expires_at
        ));
        return print_result(&created.request_id);
    }
    let timeout = Duration::from_secs(args.timeout.unwrap_or(u64::from(args.expires)));
    match wait_for_decision(&client, &created, timeout, true).await.into_token(&created.request_id) {
        Ok(token) => {
            say(&format!("request {} was APPROVED", created.request_id));
            print_result(&token)
        }
        Err((code, message)) => fail(code, &message),
    }
}

/// `--context`: inline JSON, or `@FILE` / `@-`. The server checks that it is an object.
pub fn read_context(arg: &str) -> Result<Value, String> {
    let (text, source) = match arg.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read --context from stdin: {e}"))?;
            (text, "stdin".to_owned())
        }
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --context file {path}: {e}"))?;
            (text, path.to_owned())
        }
        None => (arg.to_owned(), "--context".to_owned()),
    };
    serde_json::from_str(&text).map_err(|e| format!("{source} is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_is_json_inline_or_from_a_file() {
        assert_eq!(read_context(r#"{"a": 1}"#), Ok(serde_json::json!({ "a": 1 })));
        assert!(read_context("{nope").is_err_and(|e| e.contains("not JSON")));
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("c.json");
        std::fs::write(&file, r#"{"files": 3}"#).expect("write");
        assert_eq!(read_context(&format!("@{}", file.display())), Ok(serde_json::json!({ "files": 3 })));
        assert!(read_context("@/no/such/file").is_err_and(|e| e.contains("cannot read")));
    }
}
