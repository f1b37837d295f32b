//! `clawgate exec -- CMD ARGS…`: ask for approval of exactly this command line, run it only when
//! approved, with the token in its environment, and pass its exit code through.

use super::{EXIT_ERROR, ServerArgs, after_help, fail, say, shell_quote, wait_for_decision};
use clap::Args;
use clawgate_client::{ApprovalRequest, GateCall};
use serde_json::json;
use std::process::ExitCode;
use std::time::Duration;

/// Exit code when the approved command cannot be started (as a shell would say).
const EXIT_NOT_FOUND: u8 = 127;
const EXIT_NOT_EXECUTABLE: u8 = 126;

const EXAMPLES: &str = "\
Once approved, the command runs with CLAWGATE_TOKEN (the approval token) and CLAWGATE_REQUEST_ID
(for a rule's or grant's decision: the decision's id) in its environment, and clawgate exits with the command's own exit code (128+N when a signal N
ended it; 127 or 126 when it cannot be started). A call a rule or grant allowed gets a gate token
instead, which `clawgate verify` refuses unless given --accept rule,grant. Denied, expired, timed out or failed: the
command never runs, and clawgate exits 3, 4 or 1 with the reason on stderr.

Examples:
  # Your rules decide first: routine commands run at once, risky ones ask:
  clawgate exec -- cargo test
  clawgate exec --agent deployer --timeout 120 -- ./deploy.sh production
  # Ask the person whatever the rules say:
  clawgate exec --ask -- rm -rf ./old-data
  # The command can check its own approval before acting:
  clawgate exec -- sh -c 'clawgate verify \"$CLAWGATE_TOKEN\" --consume >/dev/null && make release'

The person sees the command line shell-quoted, so that what they approve is exactly what runs,
and the arguments one by one in the request's context.";

/// Run a command only once a person approves it.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Run a command only once a person approves that exact command line",
    long_about = "Ask the person who owns the API key to approve a command line, wait for the \
decision, and run the command only when approved.\n\nThe command is run directly (no shell), \
with the arguments exactly as given after `--`.",
    after_help = after_help(EXAMPLES)
)]
pub struct ExecArgs {
    /// The text the person sees instead of the command line (the token carries it).
    #[arg(long, value_name = "TEXT")]
    pub action: Option<String>,

    /// Which agent asks, shown to the person and put in the token.
    #[arg(long, env = "CLAWGATE_AGENT_ID", value_name = "ID")]
    pub agent: Option<String>,

    /// Ask the person about every command, whatever their rules say (before issue 17, the
    /// default). Without it the key owner's rules and standing grants decide first (`POST
    /// /api/v1/gate`, as tool Bash): a command they allow runs at once, one they deny never runs,
    /// and only one they ask about waits for the person.
    #[arg(long, env = "CLAWGATE_EXEC_ASK", value_parser = clap::builder::BoolishValueParser::new())]
    pub ask: bool,

    /// The rules decide first: the default now; kept so that older scripts still run.
    #[arg(long, env = "CLAWGATE_EXEC_GATE", value_parser = clap::builder::BoolishValueParser::new(), hide = true)]
    pub gate: bool,

    /// How long the person has to decide, in seconds (the server holds it to 30–600).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub expires: u32,

    /// Give up waiting after this many seconds (exit 4). Default: the request's lifetime. It
    /// bounds the gate's answer and the wait together (no answer in time: exit 1).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,

    #[command(flatten)]
    pub server: ServerArgs,

    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub async fn run(args: ExecArgs) -> ExitCode {
    let client = match args.server.client() {
        Ok(c) => c,
        Err(e) => return fail(EXIT_ERROR, &e.to_string()),
    };
    let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
    let timeout = Duration::from_secs(args.timeout.unwrap_or(u64::from(args.expires)));
    if !args.ask {
        let call = GateCall {
            tool: "Bash".into(),
            input: json!({ "command": shell_quote(&args.command) }),
            cwd: Some(cwd).filter(|c| !c.is_empty()),
            agent_id: args.agent.clone(),
            context: Some(json!({ "argv": args.command, "via": "clawgate exec" })),
            expires_in_seconds: Some(f64::from(args.expires)),
            ..GateCall::default()
        };
        let keeper = super::offline::Keeper::of(&args.server);
        return match super::gate::decide(&client, keeper.as_ref(), &call, timeout).await {
            Ok(allowed) => {
                say(&format!("{}; running it", allowed.words));
                run_approved(&args.command, &allowed.token, &allowed.id)
            }
            Err((code, message)) => fail(code, &format!("{message}; the command was not run")),
        };
    }
    let action = args.action.clone().unwrap_or_else(|| shell_quote(&args.command));
    let mut request = ApprovalRequest::new(action)
        .expires_in(args.expires)
        .context(json!({ "argv": args.command, "cwd": cwd }));
    request.agent_id = args.agent.clone();
    let created = match client.request(&request).await {
        Ok(c) => c,
        Err(e) => return fail(EXIT_ERROR, &format!("cannot ask for approval; not running it: {e}")),
    };
    match wait_for_decision(&client, &created, timeout, true).await.into_token(&created.request_id) {
        Ok(token) => {
            say(&format!("request {} was APPROVED; running it", created.request_id));
            run_approved(&args.command, &token, &created.request_id)
        }
        Err((code, message)) => fail(code, &format!("{message}; the command was not run")),
    }
}

/// Runs the approved command with the token in its environment; its exit code is ours.
fn run_approved(command: &[String], token: &str, request_id: &str) -> ExitCode {
    let Some((program, rest)) = command.split_first() else {
        return fail(EXIT_ERROR, "no command given");
    };
    let status = std::process::Command::new(program)
        .args(rest)
        .env("CLAWGATE_TOKEN", token)
        .env("CLAWGATE_REQUEST_ID", request_id)
        .status();
    match status {
        Ok(status) => ExitCode::from(exit_code_of(status)),
        Err(e) => {
            let code = match e.kind() {
                std::io::ErrorKind::NotFound => EXIT_NOT_FOUND,
                _ => EXIT_NOT_EXECUTABLE,
            };
            fail(code, &format!("cannot run {program}: {e}"))
        }
    }
}

/// The command's exit code, or 128 + the signal that ended it (as shells report it).
fn exit_code_of(status: std::process::ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code & 0xff).unwrap_or(EXIT_ERROR);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return u8::try_from((128 + signal) & 0xff).unwrap_or(EXIT_ERROR);
        }
    }
    EXIT_ERROR
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(args: &[&str]) -> String {
        shell_quote(&args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(q(&["rm", "-rf", "./old-data"]), "rm -rf ./old-data");
        assert_eq!(q(&["git", "push", "origin", "main:main"]), "git push origin main:main");
    }

    #[test]
    fn everything_else_is_quoted_unambiguously() {
        assert_eq!(q(&["echo", "a b"]), "echo 'a b'");
        assert_eq!(q(&["echo", ""]), "echo ''");
        assert_eq!(q(&["echo", "it's"]), r"echo 'it'\''s'");
        assert_eq!(q(&["sh", "-c", "echo $HOME; rm *"]), "sh -c 'echo $HOME; rm *'");
        assert_eq!(q(&["printf", "a\nb"]), r"printf $'a\nb'");
        assert_eq!(q(&["echo", "\u{1b}[31m'x'"]), r"echo $'\x1B[31m\'x\''");
        assert_eq!(q(&["echo", "\u{85}"]), r"echo $'\u0085'");
        // Two different argument lists never read the same.
        assert_ne!(q(&["a b"]), q(&["a", "b"]));
    }
}
