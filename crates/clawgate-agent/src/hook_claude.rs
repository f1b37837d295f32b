//! `clawgate hook claude-code`: a Claude Code `PreToolUse` hook. Each tool call goes to the
//! server's gate: what the person's rules allow passes through untouched, what they deny is
//! blocked, and what they ask about waits for a standing grant or their passkey approval. When the
//! server cannot decide (unreachable, 5xx), the built-in rule set and the user's local patterns
//! decide, and they only block.
//!
//! Protocol (Claude Code hooks reference, https://code.claude.com/docs/en/hooks): the event is
//! JSON on stdin (`hook_event_name`, `tool_name`, `tool_input`, `session_id`, `cwd`,
//! `tool_use_id`, …). Exit 0 with no output leaves the decision to Claude Code's normal
//! permission flow; exit 0 with `{"hookSpecificOutput": {"hookEventName": "PreToolUse",
//! "permissionDecision": "allow", …}}` allows; exit 2 blocks the call and shows stderr to Claude.
//! Any other exit code, a crash, or being killed at the hook's `timeout` lets the call proceed
//! unless the settings say `"onFailure": "block"` (Claude Code 2.1.295 and later), so every failure
//! here ends in exit 2 (fail closed), panics included, and [`settings_json`] sets `onFailure`.

use super::hook_event::{HookEvent, read_event};
use super::hook_paths::{project_dir, resolve_paths};
use super::hook_rules::{Policy, parse_rules};
use super::offline::{self, Keeper, Offline};
use super::{Denial, Outcome, ServerArgs, approve_url, shown, wait_for_decision};
use clap::Args;
use clap::builder::BoolishValueParser;
use clawgate_client::{Client, Created, Error, GateAnswer, GateCall};
use clawgate_proto::denial;
use clawgate_proto::rules::{Call, Outcome as RuleOutcome, RuleSet};
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Claude Code's blocking exit code for `PreToolUse`.
const EXIT_BLOCK: u8 = 2;
const HELP: &str = "\
Each call goes to the clawgate server's gate (POST /api/v1/gate): the API key owner's rules (edit
them in the app, on Rules) allow, deny or ask; a standing grant they made may allow it.

Exit codes and output follow Claude Code's hook protocol (not the other commands' table):
  exit 0, no output   their rules allow it: Claude Code's own permission flow applies
  exit 0, JSON        a standing grant or a passkey approval allows it:
                      {\"hookSpecificOutput\": {\"permissionDecision\": \"allow\"}}
  exit 2, stderr      blocked, with the reason for Claude: denied (by a rule, or by the person:
                      with what they said, their reason or that they stopped every agent),
                      expired, no answer or no decision within --timeout, a refused key (a 429
                      included), misconfigured, or unreadable input; or the server cannot
                      decide and the rules kept from it (or nothing kept) do not allow it
                      (it fails closed)

While a call waits for the person, stderr says at once \"waiting for approval: code 482-913, open
http://…/approve/req_…\" (the final message names both again), for the person to compare codes.

When the server cannot be reached (or answers 5xx), the hook decides by the rules and grants the
server last signed for this key, kept in a private file (CLAWGATE_CACHE_DIR, else
$XDG_CACHE_HOME/clawgate, else ~/.cache/clawgate): a deny or an ask blocks, an allow passes and
says on stderr that it was decided offline, a grant without a use limit allows what it covers. A
kept copy edited on disk is never obeyed. With nothing kept every call blocks, unless --fail-open
(CLAWGATE_FAIL_OPEN=1): then it blocks only a call the
built-in rule set would ask about or deny (the rules every person starts with on the server,
shell-aware: rm -r/-f, git push --force, git reset --hard / clean -f, npm/cargo/… publish, dd,
mkfs, SQL DROP/TRUNCATE, kubectl delete, terraform destroy, curl | sh, …; --no-default-patterns
turns them off), or one matching a local pattern of yours (--patterns / CLAWGATE_HOOK_PATTERNS,
--pattern): one regex per line, matched against Bash commands (blank lines and # comments
skipped); or a JSON array of such strings and objects
{\"tool\": \"Write|Edit\", \"pattern\": \"\\\\.env$\", \"name\": \"env files\"}, where `tool` must match the
whole tool name and `pattern` is matched against the command (Bash), the file (Write, Edit,
MultiEdit, NotebookEdit, Read), the URL (WebFetch), the query (WebSearch) or the input as JSON;
or @FILE to read them from a file, and lets any other call pass to Claude Code's own
permission flow. Your local patterns block in every case, kept rules or not.

Install: `clawgate hook claude-code --print-settings` prints the .claude/settings.json for the
flags given (put the agent's key in place of ag_…, or in the environment Claude Code runs in):
  {\"hooks\": {\"PreToolUse\": [{\"matcher\": \"Bash\", \"hooks\": [{\"type\": \"command\",
    \"command\": \"clawgate hook claude-code\", \"timeout\": 330, \"onFailure\": \"block\"}]}]}}
Claude Code lets a call run when its hook cannot start (clawgate not on the PATH), exits with a
code other than 0 or 2, or is killed at its `timeout`, unless the hook says \"onFailure\": \"block\"
(Claude Code 2.1.295 and later). This hook ends its own failures in exit 2; keep the `timeout`
above --timeout so it always answers first.

Settings come only from the environment and flags, never from a .env file (the agent can write
those). Try it (it really asks): echo '{\"hook_event_name\":\"PreToolUse\",\"tool_name\":\"Bash\",
\"tool_input\":{\"command\":\"rm -rf ./build\"}}' | clawgate hook claude-code";

/// A Claude Code PreToolUse hook that asks a person before risky tool calls.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Claude Code PreToolUse hook: each tool call goes to the gate (rules, grants, or a passkey approval)",
    long_about = "A Claude Code PreToolUse hook: reads the tool call from stdin and brings it to the \
clawgate server's gate. The API key owner's rules allow or deny it at once, a standing grant may \
allow it, or the person is asked to approve it with a passkey and the hook waits; it answers \
allow when allowed or approved, and blocks it otherwise.",
    after_help = HELP
)]
pub struct ClaudeHookArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// The agent name the person sees.
    #[arg(long, env = "CLAWGATE_AGENT_ID", default_value = "claude-code", value_name = "ID")]
    pub agent: String,

    /// Longest the hook takes, in seconds: reaching the server, its answer and the person's
    /// decision, all together; then it blocks. Keep it below the hook's timeout in Claude Code.
    #[arg(long, env = "CLAWGATE_HOOK_TIMEOUT", default_value_t = 300, value_name = "SECS")]
    pub timeout: u64,

    /// Local patterns, used only when the server cannot decide (then they block): regexes one per
    /// line, a JSON array, or @FILE.
    #[arg(long, env = "CLAWGATE_HOOK_PATTERNS", value_name = "RULES")]
    pub patterns: Option<String>,

    /// One more local pattern (a regex over Bash commands); repeatable.
    #[arg(long = "pattern", value_name = "REGEX")]
    pub pattern: Vec<String>,

    /// When the server cannot decide, block only what your local patterns match, not what the
    /// built-in rule set would ask about or deny.
    #[arg(long, env = "CLAWGATE_HOOK_NO_DEFAULTS", value_parser = BoolishValueParser::new())]
    pub no_default_patterns: bool,

    /// When the server cannot decide, also block Write, Edit, MultiEdit or NotebookEdit touching a
    /// file outside the project.
    #[arg(long, env = "CLAWGATE_HOOK_OUTSIDE_PROJECT", value_parser = BoolishValueParser::new())]
    pub outside_project: bool,

    /// When the server cannot be reached and no rules of yours were kept from it yet: let through
    /// what the built-in rules allow, instead of blocking every call (the default).
    #[arg(long, env = "CLAWGATE_FAIL_OPEN", value_parser = BoolishValueParser::new())]
    pub fail_open: bool,

    /// Print the .claude/settings.json that installs this hook with these settings (fail-closed,
    /// its timeout above --timeout) and exit; the API key is left as a placeholder.
    #[arg(long)]
    pub print_settings: bool,
}

/// Seconds Claude Code's `timeout` leaves the hook beyond its own wait, to answer.
const TIMEOUT_MARGIN_SECS: u64 = 30;

/// The settings that install this hook: `onFailure: "block"` makes a hook that cannot start,
/// crashes or is killed at its `timeout` block the call (Claude Code 2.1.295 and later; before,
/// each of those let it run), and the `timeout` stays above the hook's own wait.
pub fn settings_json(args: &ClaudeHookArgs) -> serde_json::Value {
    let matcher = if args.outside_project { "Bash|Write|Edit|MultiEdit|NotebookEdit" } else { "Bash" };
    // Every setting given is carried into the command Claude Code runs, or it would be lost.
    let mut flags: Vec<String> = Vec::new();
    if args.timeout != 300 {
        flags.extend(["--timeout".into(), args.timeout.to_string()]);
    }
    if args.agent != "claude-code" {
        flags.extend(["--agent".into(), args.agent.clone()]);
    }
    for (on, flag) in [
        (args.outside_project, "--outside-project"),
        (args.fail_open, "--fail-open"),
        (args.no_default_patterns, "--no-default-patterns"),
    ] {
        if on {
            flags.push(flag.into());
        }
    }
    if let Some(patterns) = &args.patterns {
        flags.extend(["--patterns".into(), patterns.clone()]);
    }
    for pattern in &args.pattern {
        flags.extend(["--pattern".into(), pattern.clone()]);
    }
    let mut command = "clawgate hook claude-code".to_owned();
    if !flags.is_empty() {
        command.push(' ');
        command.push_str(&super::shell_quote(&flags));
    }
    json!({
        "env": { "CLAWGATE_URL": args.server.url, "CLAWGATE_API_KEY": "ag_…" },
        "hooks": { "PreToolUse": [{
            "matcher": matcher,
            "hooks": [{
                "type": "command",
                "command": command,
                "timeout": args.timeout + TIMEOUT_MARGIN_SECS,
                "onFailure": "block"
            }]
        }] }
    })
}

/// What we tell Claude Code.
enum Decision {
    PassThrough,
    Allow(String),
    Block(String),
}

pub async fn run(args: ClaudeHookArgs) -> ExitCode {
    if args.print_settings {
        let text = serde_json::to_string_pretty(&settings_json(&args)).unwrap_or_default();
        println!("{text}");
        return ExitCode::SUCCESS;
    }
    // A crash would let the tool call through: end every panic as a block instead.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("clawgate hook: internal error, so this tool call is blocked: {info}");
        std::process::exit(i32::from(EXIT_BLOCK));
    }));
    match decide(&args).await {
        Decision::PassThrough => ExitCode::SUCCESS,
        Decision::Allow(reason) => allow(&reason),
        Decision::Block(reason) => block(&reason),
    }
}

async fn decide(args: &ClaudeHookArgs) -> Decision {
    // Every network step from here on, retries and the person's decision included, ends by then.
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut event = match read_event() {
        Ok(e) => e,
        Err(e) => return Decision::Block(format!("clawgate hook: {e}; this tool call is blocked")),
    };
    if event.hook_event_name != "PreToolUse" {
        return Decision::Block(format!(
            "clawgate hook is misconfigured: it handles PreToolUse events, not {}",
            event.hook_event_name
        ));
    }
    // Rules and grants see where the file really is; the person sees both when they differ.
    let requested = resolve_paths(&mut event);
    // The local rules are checked even when the server decides: a broken one could miss
    // anything on the day the server cannot be reached.
    let policy = match policy(args) {
        Ok(p) => p,
        Err(e) => {
            return Decision::Block(format!(
                "clawgate hook is misconfigured ({e}); every tool call is blocked"
            ));
        }
    };
    let client = match args.server.client() {
        Ok(c) => c.until(deadline),
        Err(e) => {
            return Decision::Block(format!(
                "clawgate hook is misconfigured ({e}); this tool call is blocked"
            ));
        }
    };
    let keeper = Keeper::of(&args.server);
    match client.gate(&gate_call(args, &event, requested)).await {
        Ok(answer) => {
            if let Some(keeper) = &keeper {
                keeper.refresh(&client, answer.rule_version).await;
            }
            follow(args, &client, answer).await
        }
        // The server cannot decide: the rules kept from it do (see `offline`), and the local
        // patterns still block.
        Err(e) if e.is_transient() => {
            let call = Call {
                tool: event.tool_name.clone(),
                input: event.tool_input.clone(),
                cwd: event.cwd.clone(),
                agent_id: Some(args.agent.clone()),
            };
            unreachable(args, &policy, keeper.as_ref(), &call, &project_dir(&event), &e.to_string())
        }
        Err(e @ Error::Deadline { .. }) => Decision::Block(format!(
            "clawgate hook timed out: no decision within its {} s ({e}), so this tool call is blocked. {ADVICE}",
            args.timeout
        )),
        Err(e) if e.is_rate_limited() => Decision::Block(format!(
            "clawgate is holding back this key's calls and took none within the hook's {} s ({e}), so this \
             tool call is blocked. {ADVICE}",
            args.timeout
        )),
        Err(e) => {
            Decision::Block(format!("clawgate refused to decide this tool call, so it is blocked: {e}"))
        }
    }
}

/// What happens to `call` while the server cannot be reached (`problem`): the local patterns
/// block; else the rules kept from the server decide, and say so on stderr; with none kept,
/// everything blocks unless `--fail-open` lets the built-in rules decide.
fn unreachable(
    args: &ClaudeHookArgs,
    policy: &Policy,
    keeper: Option<&Keeper>,
    call: &Call,
    project: &std::path::Path,
    problem: &str,
) -> Decision {
    let patterns = Policy { builtin: None, ..policy.clone() };
    if let Some(why) = patterns.blocks(call, project) {
        return Decision::Block(format!(
            "clawgate could not decide ({problem}), and {why}, so this tool call is blocked. {ADVICE}"
        ));
    }
    let offline = keeper.map_or(Offline::Nothing, |k| k.decide(call));
    match offline {
        Offline::Nothing if args.fail_open => match policy.blocks(call, project) {
            None => {
                eprintln!("clawgate could not decide ({problem}); --fail-open lets it run");
                Decision::PassThrough
            }
            Some(why) => Decision::Block(format!(
                "clawgate could not decide ({problem}), and {why}, so this tool call is blocked. {ADVICE}"
            )),
        },
        Offline::Decided { outcome: RuleOutcome::Allow, .. } => {
            eprintln!("{}", offline::sentence(&args.server.url, problem, &offline));
            Decision::PassThrough
        }
        _ => Decision::Block(format!("{}. {ADVICE}", offline::sentence(&args.server.url, problem, &offline))),
    }
}

/// What blocks when the server cannot decide: the built-in rule set unless turned off, and the
/// user's own patterns. They decide only when the server cannot, and then they only block.
fn policy(args: &ClaudeHookArgs) -> Result<Policy, String> {
    let builtin = (!args.no_default_patterns).then(RuleSet::defaults);
    let mut rules = Vec::new();
    if let Some(text) = &args.patterns {
        rules.extend(parse_rules(&rules_text(text)?)?);
    }
    for one in &args.pattern {
        rules.extend(parse_rules(one)?);
    }
    Ok(Policy { builtin, rules, outside_project: args.outside_project })
}

/// `@FILE` reads the rules from a file.
fn rules_text(value: &str) -> Result<String, String> {
    match value.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read rules from {path}: {e}"))
        }
        None => Ok(value.to_owned()),
    }
}

/// The tool call as the gate sees it: exactly as Claude Code will run it, its file where it really
/// is; `requested`, the file as the agent named it when that differs, goes in the context.
fn gate_call(args: &ClaudeHookArgs, event: &HookEvent, requested: Option<String>) -> GateCall {
    let mut context = json!({ "via": "Claude Code PreToolUse hook" });
    if let Some(session) = &event.session_id {
        context["sessionId"] = json!(session);
    }
    if let Some(path) = requested {
        context["requestedPath"] = json!(path);
    }
    GateCall {
        tool: event.tool_name.clone(),
        input: event.tool_input.clone(),
        cwd: event.cwd.clone(),
        agent_id: Some(args.agent.clone()),
        context: Some(context),
        expires_in_seconds: Some(args.timeout.clamp(30, 600) as f64),
        // The same tool call asked twice (a re-run hook) is the same request.
        idempotency_key: event.tool_use_id.as_ref().map(|id| format!("claude-code:{id}")),
        ..GateCall::default()
    }
}

/// What the gate's answer means for Claude Code. A rule's `allow` leaves the call to Claude
/// Code's own permission flow (as a call no rule matched always did); a grant's or a person's
/// approval allows it.
async fn follow(args: &ClaudeHookArgs, client: &Client, answer: GateAnswer) -> Decision {
    let by = answer.decided_by.map(|d| d.as_str()).unwrap_or("");
    match (answer.decision.as_str(), by) {
        ("allow", "rule") => Decision::PassThrough,
        ("allow", "grant") => Decision::Allow(format!(
            "allowed by a standing grant in clawgate (grant {})",
            answer.grant_id.as_deref().unwrap_or("?")
        )),
        ("allow", _) => Decision::Allow(format!(
            "approved with a passkey in clawgate (request {})",
            answer.request_id.as_deref().unwrap_or("?")
        )),
        ("ask", _) => match answer.asked() {
            Some(created) => ask(args, client, &created, answer.reason.as_deref().unwrap_or("asked")).await,
            None => Decision::Block(format!(
                "clawgate answered ask without a request, so this tool call is blocked. {ADVICE}"
            )),
        },
        _ => Decision::Block(format!(
            "clawgate: this tool call is denied ({}): {}. {ADVICE}",
            answer.rule.as_deref().or(answer.decided_by.map(|d| d.as_str())).unwrap_or("denied"),
            shown(answer.reason.as_deref().unwrap_or("no reason given"))
        )),
    }
}

/// Waits for the person's decision on the request the gate made. The binding code and the approve
/// page are on stderr at once (Claude Code shows a hook's stderr in its transcript), and in the
/// final message too, whatever it says.
async fn ask(args: &ClaudeHookArgs, client: &Client, created: &Created, why: &str) -> Decision {
    let id = &created.request_id;
    let at = format!(
        "request {id}, binding code {}, approve page {}",
        created.binding_code,
        approve_url(client, created)
    );
    let why = shown(why);
    let outcome = wait_for_decision(client, created, Duration::from_secs(args.timeout), false).await;
    let blocked = |what: String| Decision::Block(format!("clawgate: {what} ({at}; {why}). {ADVICE}"));
    match outcome {
        Outcome::Approved { .. } => Decision::Allow(format!("approved with a passkey in clawgate ({at})")),
        Outcome::Denied(Denial::Stopped) => blocked(format!(
            "this tool call is DENIED: {} (every agent of theirs is stopped until they resume its key)",
            denial::STOPPED
        )),
        Outcome::Denied(Denial::ByPerson { reason: Some(reason) }) => Decision::Block(format!(
            "clawgate: the person DENIED this tool call ({at}; {why}) and said: {reason}\nThe tool call was \
             blocked. Take what they said into account; do not retry it or reach the same result another way \
             without asking the user."
        )),
        Outcome::Denied(Denial::ByPerson { reason: None }) => {
            blocked("the person DENIED this tool call, giving no reason".to_owned())
        }
        Outcome::Expired => blocked(format!("request {id} expired without a decision")),
        Outcome::TimedOut => blocked(format!("no decision on request {id} within {} s", args.timeout)),
        Outcome::Failed(e) => blocked(format!("cannot learn the decision on request {id}: {e}")),
    }
}

const ADVICE: &str = "The tool call was blocked. Do not retry it or reach the same result another way \
without asking the user.";

fn allow(reason: &str) -> ExitCode {
    let answer = json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "allow",
            "permissionDecisionReason": reason,
        }
    });
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{answer}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => block(&format!("clawgate hook: cannot answer on stdout ({e}); this tool call is blocked")),
    }
}

fn block(reason: &str) -> ExitCode {
    eprintln!("{reason}");
    ExitCode::from(EXIT_BLOCK)
}
