//! `clawgate verify TOKEN`: did a person approve this, and is the token valid? Online (once, with
//! `--consume`) or offline against the server's published keys. A gate token (a rule or a grant
//! allowed the call alone) is refused unless `--accept` takes its decider.

use super::{EXIT_ERROR, EXIT_INVALID, after_help, fail, print_result};
use clap::{Args, ValueEnum};
use clawgate_client::{Accept, ApprovalClaims, Client, OfflineError, verify_offline_accepting};
use std::io::Read;
use std::process::ExitCode;

const EXAMPLES: &str = "\
Prints the token's claims as JSON on stdout when it is valid; when it is not, exits 5 with the
reason on stderr (malformed, wrong_type, unknown_key, bad_signature, expired, already_used,
action_mismatch, not_person_approved). No API key is needed.

A token is valid only if a person approved the action with their passkey (decidedBy: passkey).
A call the gate allowed alone, by one of the person's rules or a standing grant, carries a gate
token, which no person looked at: it is refused (not_person_approved) unless --accept rule,grant
(or --accept rule, --accept grant) says that is enough here.

Examples:
  clawgate verify \"$CLAWGATE_TOKEN\" --consume --action \"delete ./old-data\" && rm -rf ./old-data
  echo \"$token\" | clawgate verify - --offline | jq .action
  clawgate verify \"$token\" --offline --issuer https://gate.example.com
  # Routine work the person's rules allow (e.g. from `clawgate exec`) is enough here:
  clawgate verify \"$CLAWGATE_TOKEN\" --accept rule,grant --action \"cargo test\"
  # Not only the server's word: the person's passkey signed it (the chain from the Receipts page):
  clawgate verify \"$token\" --offline --receipt clawgate-chain-usr_….json

--consume makes the token valid exactly once, on every instance of the server: use it where the
action happens. --offline only fetches the public keys (/.well-known/jwks.json) and cannot know
whether the token was already used.";

/// Who may have decided the action, for `--accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Decider {
    /// The person, with their passkey (always accepted).
    Passkey,
    /// One of the person's rules, alone.
    Rule,
    /// A standing grant the person made, alone.
    Grant,
}

/// Check an approval token.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Check an approval token, online (optionally once) or offline",
    long_about = "Check an approval token: signature, type, audience, expiry, that a person approved \
it (unless --accept says a rule or a grant is enough) and, with --action, that it approves exactly \
that action.",
    after_help = after_help(EXAMPLES)
)]
pub struct VerifyArgs {
    /// The token, or `-` to read it from stdin.
    pub token: String,

    /// Online only: mark the token used, so it never verifies again.
    #[arg(long, conflicts_with = "offline")]
    pub consume: bool,

    /// Check the signature locally against the server's published keys.
    #[arg(long)]
    pub offline: bool,

    /// The token must approve exactly this action text.
    #[arg(long, value_name = "TEXT")]
    pub action: Option<String>,

    /// Also accept a gate token: the call was allowed by one of the person's rules (`rule`) or a
    /// standing grant (`grant`), and no person was asked. Default: only a person's passkey
    /// approval (`passkey`).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "WHO")]
    pub accept: Vec<Decider>,

    /// With --offline: the issuer the token must carry (the server's public origin). Default:
    /// the origin of --url.
    #[arg(long, env = "CLAWGATE_ISSUER", value_name = "ORIGIN")]
    pub issuer: Option<String>,

    /// Also check that the person's passkey signed this approval: the token's receipt must be in
    /// this chain file (downloaded from the web app's Receipts page), the chain must hold, and the
    /// receipt must approve exactly the token's request and action over the token's challenge.
    #[arg(long, value_name = "CHAIN")]
    pub receipt: Option<std::path::PathBuf>,

    /// The clawgate server.
    #[arg(long, env = "CLAWGATE_URL", default_value = clawgate_client::DEFAULT_URL)]
    pub url: String,
}

/// Why a token is not valid, in words.
fn explain(reason: &str) -> &'static str {
    match reason {
        "malformed" => "not a clawgate approval token",
        "wrong_type" => "not an approval token (wrong type or algorithm)",
        "unknown_key" => "signed by a key the server does not publish (unknown, retired or revoked)",
        "bad_signature" => "the signature, issuer or audience does not check out",
        "wrong_issuer" => {
            "issued under another origin than expected: pass --issuer with the server's public origin"
        }
        "expired" => "the token has expired",
        "already_used" => "the token was already used",
        "action_mismatch" => "the token approves a different action",
        "not_person_approved" => {
            "no person approved it: the gate allowed it alone, by a rule or a grant (--accept rule,grant takes that)"
        }
        _ => "refused by the server",
    }
}

pub async fn run(args: VerifyArgs) -> ExitCode {
    let token = match read_token(&args.token) {
        Ok(t) => t,
        Err(e) => return fail(EXIT_ERROR, &e),
    };
    // verify-token and the keys need no API key; the client wants one, so it gets a stand-in.
    let client = match Client::new(&args.url, "none") {
        Ok(c) => c,
        Err(e) => return fail(EXIT_ERROR, &e.to_string()),
    };
    let accept =
        Accept { rule: args.accept.contains(&Decider::Rule), grant: args.accept.contains(&Decider::Grant) };
    let checked = if args.offline {
        offline(&client, &token, args.issuer.as_deref(), args.action.as_deref(), accept).await
    } else {
        online(&client, &token, args.consume, args.action.as_deref(), accept).await
    };
    let checked = match (checked, &args.receipt) {
        (Ok(Ok(claims)), Some(path)) => match std::fs::read_to_string(path) {
            Err(e) => return fail(EXIT_ERROR, &format!("cannot read the chain {}: {e}", path.display())),
            Ok(text) => match crate::audit::token_receipt(&text, &token, &claims) {
                Ok(line) => {
                    eprintln!("{line}");
                    Ok(Ok(claims))
                }
                Err(why) => Ok(Err(format!("receipt: {why}"))),
            },
        },
        (checked, _) => checked,
    };
    match checked {
        Ok(Ok(claims)) => match serde_json::to_string_pretty(&claims) {
            Ok(json) => print_result(&json),
            Err(e) => fail(EXIT_ERROR, &format!("cannot print the claims: {e}")),
        },
        Ok(Err(reason)) => fail(EXIT_INVALID, &format!("the token is not valid: {reason}")),
        Err(e) => fail(EXIT_ERROR, &e),
    }
}

type Checked = Result<Result<ApprovalClaims, String>, String>;

async fn online(
    client: &Client,
    token: &str,
    consume: bool,
    action: Option<&str>,
    accept: Accept,
) -> Checked {
    let answer = client
        .verify_accepting(token, consume, action, accept)
        .await
        .map_err(|e| format!("cannot verify: {e}"))?;
    match (answer.valid, answer.claims) {
        (true, Some(claims)) => Ok(Ok(claims)),
        (true, None) => Err("the server said valid but sent no claims".into()),
        (false, _) => {
            let reason = answer.reason.map(|r| r.as_str()).unwrap_or_default();
            Ok(Err(format!("{reason} ({})", explain(reason))))
        }
    }
}

async fn offline(
    client: &Client,
    token: &str,
    issuer: Option<&str>,
    action: Option<&str>,
    accept: Accept,
) -> Checked {
    let jwks = client.jwks().await.map_err(|e| format!("cannot fetch the server's keys: {e}"))?;
    let issuer = issuer.map_or_else(|| client.issuer(), str::to_owned);
    let checked = verify_offline_accepting(&jwks, token, Some(&issuer), action, accept);
    Ok(checked.map_err(|e| format!("{} ({e})", code_of(&e))))
}

/// The same reason codes the server gives, for offline refusals.
fn code_of(e: &OfflineError) -> &'static str {
    match e {
        OfflineError::Malformed => "malformed",
        OfflineError::WrongType => "wrong_type",
        OfflineError::UnknownKey => "unknown_key",
        OfflineError::BadSignature => "bad_signature",
        OfflineError::Expired => "expired",
        OfflineError::ActionMismatch => "action_mismatch",
        OfflineError::NotPersonApproved => "not_person_approved",
        OfflineError::WrongIssuer { .. } => "wrong_issuer",
    }
}

/// The token argument, or stdin for `-`; surrounding whitespace is not part of a token.
fn read_token(arg: &str) -> Result<String, String> {
    let text = if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the token from stdin: {e}"))?;
        text
    } else {
        arg.to_owned()
    };
    let token = text.trim();
    if token.is_empty() {
        return Err("no token given".into());
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_trimmed_and_required() {
        assert_eq!(read_token(" abc.def.ghi\n"), Ok("abc.def.ghi".into()));
        assert!(read_token("  ").is_err());
    }

    #[test]
    fn every_reason_the_server_gives_is_explained() {
        for r in [
            "malformed",
            "wrong_type",
            "unknown_key",
            "bad_signature",
            "expired",
            "already_used",
            "action_mismatch",
            "not_person_approved",
            "wrong_issuer",
        ] {
            assert_ne!(explain(r), "refused by the server", "{r}");
        }
    }

    #[test]
    fn offline_refusals_use_the_servers_codes_and_words() {
        let all = [
            OfflineError::Malformed,
            OfflineError::WrongType,
            OfflineError::UnknownKey,
            OfflineError::BadSignature,
            OfflineError::Expired,
            OfflineError::ActionMismatch,
            OfflineError::NotPersonApproved,
        ];
        for e in all {
            assert_ne!(explain(code_of(&e)), "refused by the server", "{e:?}");
        }
    }
}
