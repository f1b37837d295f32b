//! The agent's side of clawgate's command line: `request`, `exec`, `gate`, `verify`,
//! `hook claude-code` and `mcp`, and the person's offline check of their receipts, `audit verify`.
//! It talks to the server through `clawgate-client` and decides offline by `clawgate-proto`'s
//! rule engine; it never links the server (no database, no WebAuthn library, no HTTP server): the
//! one `clawgate` binary puts these commands beside the server's.
//!
//! Shared here: the exit codes every command uses (one table), the client built from flags and
//! environment, waiting with a live line on a terminal, and printing. Results go to stdout,
//! everything meant for a person goes to stderr.

pub mod audit;
pub mod exec;
pub mod gate;
pub mod hook_claude;
pub mod hook_event;
pub mod hook_paths;
pub mod hook_rules;
pub mod mcp;
pub mod offline;
mod private_files;
pub mod request;
pub mod verify;

use clap::Args;
use clawgate_client::{Client, Created, Error, Status, StatusView};
use clawgate_proto::denial;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Approved (and, for `exec`, the command's own code), created, valid, or holds.
pub const EXIT_OK: u8 = 0;
/// Something went wrong: network, server, configuration or bad input.
pub const EXIT_ERROR: u8 = 1;
/// clap's own code for a usage error (unknown flag, missing argument); `audit` uses it too, for
/// a file it cannot read or that is not what it should be.
pub const EXIT_USAGE: u8 = 2;
/// The person denied the request.
pub const EXIT_DENIED: u8 = 3;
/// No decision: the request expired, or `--timeout` ran out first; for `gate --explain`, the
/// call would ask the person.
pub const EXIT_NO_DECISION: u8 = 4;
/// `verify`: the token is not valid.
pub const EXIT_INVALID: u8 = 5;
/// `audit verify`: a link or a hash does not hold: the chain was altered.
pub const EXIT_ALTERED: u8 = 6;
/// `audit verify`: a receipt's passkey evidence does not hold.
pub const EXIT_EVIDENCE: u8 = 7;
/// `audit verify`: a checkpoint does not hold.
pub const EXIT_CHECKPOINT: u8 = 8;

/// Every exit code of the agent commands, in one place; `--help` prints this table.
pub const EXIT_CODES: [(u8, &str); 9] = [
    (
        EXIT_OK,
        "approved (request --wait), allowed (gate), created (request), valid (verify), holds (audit verify)",
    ),
    (EXIT_ERROR, "error: server unreachable, refused or misconfigured, or bad input"),
    (EXIT_USAGE, "usage error: unknown flag or missing argument; audit: a file unreadable or malformed"),
    (EXIT_DENIED, "denied by the person, or by their rules (gate, exec)"),
    (
        EXIT_NO_DECISION,
        "no decision: the request expired, --timeout ran out, or the person would be asked (gate --explain)",
    ),
    (EXIT_INVALID, "verify: the token is not valid (the reason is on stderr)"),
    (EXIT_ALTERED, "audit verify: a link or a hash does not hold: the chain was altered"),
    (EXIT_EVIDENCE, "audit verify: a receipt's passkey evidence does not hold"),
    (
        EXIT_CHECKPOINT,
        "audit verify: a checkpoint does not hold (signature, account, or the chain differs or is shorter)",
    ),
];

/// `--help` text after the options: the exit code table, then `more` (examples, notes).
pub fn after_help(more: &str) -> String {
    let mut text = String::from("Exit codes:\n");
    for (code, meaning) in EXIT_CODES {
        text.push_str(&format!("  {code}  {meaning}\n"));
    }
    text.push('\n');
    text.push_str(more);
    text
}

/// Where the server is and which agent key to use.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The clawgate server.
    #[arg(long, env = "CLAWGATE_URL", default_value = clawgate_client::DEFAULT_URL)]
    pub url: String,

    /// The agent's API key (`ag_…`), made in the clawgate app. Prefer the environment: flags
    /// show in `ps`.
    #[arg(long, env = "CLAWGATE_API_KEY", hide_env_values = true, value_name = "KEY")]
    pub api_key: Option<String>,
}

impl ServerArgs {
    pub fn client(&self) -> Result<Client, Error> {
        Client::new(&self.url, self.api_key.as_deref().unwrap_or_default())
    }
}

/// What became of a request we waited for.
#[derive(Debug)]
pub enum Outcome {
    Approved { token: String },
    Denied(Denial),
    Expired,
    TimedOut,
    Failed(Error),
}

/// What the person said with a "no".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// They denied this request, with their reason if they gave one (as shown: marked).
    ByPerson { reason: Option<String> },
    /// They stopped every agent (Stop all agents).
    Stopped,
}

impl Denial {
    pub fn of(view: &StatusView) -> Self {
        if view.stopped() {
            return Denial::Stopped;
        }
        Denial::ByPerson { reason: view.deny_reason.as_deref().map(shown).filter(|r| !r.trim().is_empty()) }
    }

    /// `DENIED …` in words, after "request X was": what the person said, for a terminal or a model.
    pub fn words(&self) -> String {
        match self {
            Denial::Stopped => format!("DENIED: {}", denial::STOPPED),
            Denial::ByPerson { reason: Some(reason) } => format!("DENIED; the person said: {reason}"),
            Denial::ByPerson { reason: None } => "DENIED by the person (no reason given)".to_owned(),
        }
    }
}

/// Text from the server as a terminal or a log may show it: invisible and control characters as
/// `[U+XXXX]` (the server marks reasons already; this holds against one that does not).
pub fn shown(text: &str) -> String {
    clawgate_proto::text::marked(text)
}

impl Outcome {
    pub fn from_wait(result: Result<StatusView, Error>) -> Self {
        match result {
            Ok(view) => match (view.status, &view.token) {
                (Status::Approved, Some(token)) => Outcome::Approved { token: token.clone() },
                (Status::Approved, None) => {
                    Outcome::Failed(Error::Decode("approved, but the answer carries no token".into()))
                }
                (Status::Denied, _) => Outcome::Denied(Denial::of(&view)),
                (Status::Expired, _) => Outcome::Expired,
                (Status::Pending, _) => Outcome::TimedOut,
            },
            Err(Error::TimedOut(_) | Error::Deadline { .. }) => Outcome::TimedOut,
            Err(e) => Outcome::Failed(e),
        }
    }

    /// The token, or the exit code and a sentence saying why there is none.
    pub fn into_token(self, request_id: &str) -> Result<String, (u8, String)> {
        match self {
            Outcome::Approved { token } => Ok(token),
            Outcome::Denied(denial) => {
                Err((EXIT_DENIED, format!("request {request_id} was {}", denial.words())))
            }
            Outcome::Expired => {
                Err((EXIT_NO_DECISION, format!("request {request_id} expired without a decision")))
            }
            Outcome::TimedOut => Err((
                EXIT_NO_DECISION,
                format!("no decision on request {request_id} within the time allowed"),
            )),
            Outcome::Failed(e) => Err((EXIT_ERROR, format!("waiting for request {request_id}: {e}"))),
        }
    }
}

/// Waits for the decision on `created` for at most `timeout`. First, stderr says what the person
/// is to compare and where (see [`announce_waiting`]); with `report` and a terminal, a live line
/// then shows the binding code and the time left.
pub async fn wait_for_decision(
    client: &Client,
    created: &Created,
    timeout: Duration,
    report: bool,
) -> Outcome {
    let deadline = Instant::now() + timeout.min(until(&created.expires_at).unwrap_or(timeout));
    let live = report && std::io::stderr().is_terminal();
    announce_waiting(client, created, timeout);
    let wait = client.wait(&created.request_id, timeout, |_| {});
    tokio::pin!(wait);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let result = loop {
        tokio::select! {
            result = &mut wait => break result,
            _ = tick.tick(), if live => draw_live_line(created, deadline),
        }
    };
    if live {
        eprint!("\r\x1b[2K");
        let _ = std::io::stderr().flush();
    }
    Outcome::from_wait(result)
}

fn draw_live_line(created: &Created, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now()).as_secs();
    eprint!(
        "\r\x1b[2Kclawgate: waiting for approval of {}: binding code {}, {}:{:02} left",
        created.request_id,
        created.binding_code,
        left / 60,
        left % 60
    );
    let _ = std::io::stderr().flush();
}

/// Says on stderr, as soon as a request exists and before anyone decides, what the person will
/// be asked to compare and where: `waiting for approval: code 482-913, open
/// http://…/approve/req_… (request req_…, up to 300 s)`.
pub fn announce_waiting(client: &Client, created: &Created, timeout: Duration) {
    say(&format!(
        "waiting for approval: code {}, open {} (request {}, up to {} s)",
        created.binding_code,
        approve_url(client, created),
        created.request_id,
        timeout.as_secs()
    ));
}

/// The request's approve page: as the server names it, or (a server older than `approveUrl`)
/// the web app's route on the server the client talks to.
pub fn approve_url(client: &Client, created: &Created) -> String {
    match &created.approve_url {
        Some(url) => shown(url),
        None => {
            let base = client.base_url().as_str().trim_end_matches('/').to_owned();
            clawgate_proto::approval::approve_url(&base, &created.request_id)
        }
    }
}

/// Time from now until an RFC 3339 instant (zero once past), by this machine's clock.
fn until(rfc3339: &str) -> Option<Duration> {
    use time::format_description::well_known::Rfc3339;
    let at = time::OffsetDateTime::parse(rfc3339, &Rfc3339).ok()?;
    let left = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

/// A message for the person at the terminal (stderr), never mixed with results.
pub fn say(message: &str) {
    eprintln!("clawgate: {message}");
}

/// Says `message` on stderr and ends with `code`.
pub fn fail(code: u8, message: &str) -> ExitCode {
    say(message);
    ExitCode::from(code)
}

/// The result on stdout (request id, token or JSON), ended by a newline.
pub fn print_result(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => fail(EXIT_ERROR, &format!("cannot write the result to stdout: {e}")),
    }
}

/// The command line as a POSIX shell would read it back to exactly these arguments: plain words
/// stay as they are, anything else is single-quoted, and arguments holding control characters
/// (newlines, escapes) use `$'…'` with every such character spelled out, so nothing is hidden.
pub fn shell_quote(args: &[String]) -> String {
    args.iter().map(|a| quote_one(a)).collect::<Vec<_>>().join(" ")
}

fn quote_one(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        return arg.to_owned();
    }
    if !arg.chars().any(char::is_control) {
        return format!("'{}'", arg.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in arg.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '\'' => out.push_str(r"\'"),
            '\n' => out.push_str(r"\n"),
            '\t' => out.push_str(r"\t"),
            '\r' => out.push_str(r"\r"),
            c if c.is_ascii_control() => out.push_str(&format!(r"\x{:02X}", u32::from(c))),
            c if c.is_control() => out.push_str(&format!(r"\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_documented() {
        let mut codes: Vec<u8> = EXIT_CODES.iter().map(|(c, _)| *c).collect();
        codes.dedup();
        assert_eq!(codes.len(), EXIT_CODES.len());
        let help = after_help("Examples: none");
        for (code, meaning) in EXIT_CODES {
            assert!(help.contains(&format!("  {code}  {meaning}")));
        }
    }

    #[test]
    fn time_left_is_read_from_rfc3339() {
        assert_eq!(until("2000-01-01T00:00:00Z"), Some(Duration::ZERO));
        let soon = until("2999-01-01T00:00:00.000Z").expect("parsed");
        assert!(soon > Duration::from_secs(3600));
        assert_eq!(until("tomorrow"), None);
    }
}
