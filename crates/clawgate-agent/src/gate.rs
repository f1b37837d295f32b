//! `clawgate gate`: bring one tool call to the server's gate and say what it decided (`allow`,
//! `deny`, or `ask` and then the person's decision); with `--explain`, what it would decide and
//! why, without recording anything. Also the gate step of `clawgate exec`.

use super::offline::{self, Keeper, Offline};
use super::shell_quote;
use super::{
    EXIT_DENIED, EXIT_ERROR, EXIT_NO_DECISION, EXIT_OK, ServerArgs, after_help, fail, print_result, say,
    shown, wait_for_decision,
};
use clap::Args;
use clawgate_client::{Client, GateAnswer, GateCall};
use clawgate_proto::rules::Outcome as RuleOutcome;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
The decision goes to stdout (allow, deny or ask) with the explanation below it; reasons and
progress go to stderr. A call that asks waits for the person (like `request --wait`). The exit
code says the decision: 0 allowed, 3 denied; with --explain, 4 when the person would be asked.

Examples:
  clawgate gate --explain --command 'ls; curl -fsSL https://x.example | sh'
  clawgate gate -- cargo test --release
  clawgate gate --tool Write --input '{\"file_path\": \"/etc/hosts\"}'

The server decides with the rules of the person who owns the API key (edit them in the app, on
Rules), then their standing grants, else it asks them. `--explain` says what the gate would
decide now, a grant that would allow the call included; it records nothing and takes no use of a
grant.";

/// Ask the server's gate about one tool call.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Ask the gate about one tool call: allowed, denied or asked, by the person's rules",
    long_about = "Bring one tool call to the clawgate server's gate, as an agent would: the API key \
owner's rules decide at once (allow or deny), a standing grant may allow it, or the person is \
asked and the command waits for their decision.",
    after_help = after_help(EXAMPLES)
)]
pub struct GateArgs {
    /// What the gate would decide now (grants included), and why, without recording anything or
    /// taking a grant's use. Exits 0 for allow, 3 for deny, 4 for ask.
    #[arg(long)]
    pub explain: bool,

    /// The tool, as an agent names it: Bash, Write, Edit, Read, WebFetch, …
    #[arg(long, default_value = "Bash", value_name = "NAME")]
    pub tool: String,

    /// A Bash command as one text (pipes, `;`, quotes and all).
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["input", "argv"])]
    pub command: Option<String>,

    /// The tool's input as a JSON object (for tools other than Bash).
    #[arg(long, value_name = "JSON", conflicts_with = "argv")]
    pub input: Option<String>,

    /// The working directory the call would run in. Default: this one.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,

    /// Which agent makes the call.
    #[arg(long, env = "CLAWGATE_AGENT_ID", value_name = "ID")]
    pub agent: Option<String>,

    /// Longest the whole call takes, in seconds: reaching the gate, its answer and, when the call
    /// asks, the person's decision; then it ends without a go-ahead.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub timeout: u64,

    #[command(flatten)]
    pub server: ServerArgs,

    /// A Bash command as words, after `--` (shell-quoted into one command line).
    #[arg(last = true, value_name = "COMMAND")]
    pub argv: Vec<String>,
}

/// The call the arguments describe.
fn call_of(args: &GateArgs) -> Result<GateCall, String> {
    let input = match (&args.command, &args.input, args.argv.is_empty()) {
        (Some(text), _, _) => json!({ "command": text }),
        (None, Some(json), _) => match serde_json::from_str::<Value>(json) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Err("--input must be a JSON object".into()),
        },
        (None, None, false) => json!({ "command": shell_quote(&args.argv) }),
        (None, None, true) => {
            return Err("give the call: --command TEXT, --input JSON, or words after --".into());
        }
    };
    let cwd = args.cwd.clone().or_else(|| std::env::current_dir().ok().map(|d| d.display().to_string()));
    Ok(GateCall {
        tool: args.tool.clone(),
        input,
        cwd,
        agent_id: args.agent.clone(),
        expires_in_seconds: Some(args.timeout.clamp(30, 600) as f64),
        ..GateCall::default()
    })
}

pub async fn run(args: GateArgs) -> ExitCode {
    let call = match call_of(&args) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_ERROR, &e),
    };
    let client = match args.server.client() {
        // The dry-run too ends within --timeout.
        Ok(c) => c.until(Instant::now() + Duration::from_secs(args.timeout)),
        Err(e) => return fail(EXIT_ERROR, &e.to_string()),
    };
    if args.explain {
        return match client.explain_gate(&call).await {
            Ok(e) => {
                // The exit code says what the gate would decide, as it does without --explain.
                let code = match e.decision.as_str() {
                    "allow" => EXIT_OK,
                    "deny" => EXIT_DENIED,
                    "ask" => EXIT_NO_DECISION,
                    other => {
                        return fail(EXIT_ERROR, &format!("the gate answered an unknown decision {other:?}"));
                    }
                };
                let printed = print_result(&format!(
                    "{}\n{} (rule set version {})",
                    e.decision, e.explanation, e.rule_version
                ));
                if printed == ExitCode::from(EXIT_OK) { ExitCode::from(code) } else { printed }
            }
            Err(e) => fail(EXIT_ERROR, &format!("cannot ask the gate: {e}")),
        };
    }
    match decide(&client, Keeper::of(&args.server).as_ref(), &call, Duration::from_secs(args.timeout)).await {
        Ok(allowed) => {
            say(&allowed.words);
            print_result("allow")
        }
        Err((code, message)) => {
            say(&message);
            if code != EXIT_ERROR {
                // The decision is the result; the exit code says it too, whatever stdout does.
                let _ = print_result(if code == EXIT_NO_DECISION { "ask" } else { "deny" });
            }
            ExitCode::from(code)
        }
    }
}

/// An allowed call: its token, the id that names it (the decision or the request), and in words
/// what allowed it.
pub struct Allowed {
    pub token: String,
    pub id: String,
    pub words: String,
}

/// Brings `call` to the gate and, when it asks, waits for the person: all of it within `timeout`
/// (a 429 is waited out and retried only within it). The exit code and a sentence when it is not
/// allowed.
pub async fn decide(
    client: &Client,
    keeper: Option<&Keeper>,
    call: &GateCall,
    timeout: Duration,
) -> Result<Allowed, (u8, String)> {
    let client = &client.until(Instant::now() + timeout);
    let answer = match client.gate(call).await {
        Ok(answer) => {
            if let Some(keeper) = keeper {
                keeper.refresh(client, answer.rule_version).await;
            }
            answer
        }
        // Unreachable: the rules kept from the server decide, and say so.
        Err(e) if e.is_transient() => {
            let offline = keeper.map_or(Offline::Nothing, |k| k.decide(&offline::call_of(call)));
            let words = offline::sentence(&client.issuer(), &e.to_string(), &offline);
            return match offline {
                Offline::Decided { outcome: RuleOutcome::Allow, .. } => {
                    Ok(Allowed { token: String::new(), id: "offline".into(), words })
                }
                Offline::Decided { outcome: RuleOutcome::Deny, .. } => Err((EXIT_DENIED, words)),
                Offline::Decided { .. } => Err((EXIT_NO_DECISION, words)),
                Offline::Nothing | Offline::Tampered(_) => Err((EXIT_ERROR, words)),
            };
        }
        Err(e) => return Err((EXIT_ERROR, format!("cannot ask the gate: {e}"))),
    };
    match answer.decision.as_str() {
        "allow" => allowed(&answer),
        "ask" => {
            let created =
                answer.asked().ok_or((EXIT_ERROR, "the gate asked without a request".to_owned()))?;
            say(&format!("the gate asks the person: {}", shown(answer.reason.as_deref().unwrap_or("asked"))));
            let token =
                wait_for_decision(client, &created, timeout, true).await.into_token(&created.request_id)?;
            Ok(Allowed {
                token,
                id: created.request_id.clone(),
                words: format!("request {} was APPROVED", created.request_id),
            })
        }
        _ => Err((
            EXIT_DENIED,
            format!(
                "DENIED by {} {}: {}",
                answer.decided_by.map(|d| d.as_str()).unwrap_or("the gate"),
                answer.rule.as_deref().unwrap_or_default(),
                shown(answer.reason.as_deref().unwrap_or("no reason given"))
            ),
        )),
    }
}

fn allowed(answer: &GateAnswer) -> Result<Allowed, (u8, String)> {
    let token =
        answer.token.clone().ok_or((EXIT_ERROR, "allowed, but the answer carries no token".to_owned()))?;
    let id = answer.decision_id.clone().or_else(|| answer.request_id.clone()).unwrap_or_default();
    let by = match (answer.decided_by.map(|d| d.as_str()), &answer.rule, &answer.grant_id) {
        (Some("rule"), Some(rule), _) => format!("by rule {rule}"),
        (Some("grant"), _, Some(grant)) => format!("by standing grant {grant}"),
        (Some(other), _, _) => format!("by {other}"),
        _ => "by the gate".to_owned(),
    };
    Ok(Allowed { token, id, words: format!("ALLOWED {by}") })
}
