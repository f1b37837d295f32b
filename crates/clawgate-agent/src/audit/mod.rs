//! `clawgate audit verify CHAIN`: checks an account's receipt chain offline, without trusting the
//! server that wrote it: every link and hash, every passkey registration and every approval's
//! passkey signature (written here from the WebAuthn and COSE specifications, apart from the
//! server's WebAuthn library), and the checkpoints the server signed.
//!
//! From Rust: [`verify_chain`] with [`Options`] gives a [`Summary`] or the first [`ChainError`].

mod chain;
mod checkpoint;
mod cose;
mod error;
mod pruned;
mod summary;
#[cfg(test)]
mod tests;
mod token;
mod webauthn;

pub use chain::{CHECKPOINT_NEEDS_JWKS, verify_chain};
pub use checkpoint::{CheckpointSummary, read_checkpoint, read_jwks};
pub use error::{Category, ChainError};
pub use summary::{CredentialSummary, Options, Summary, summary_text};
pub use token::token_receipt;

use crate::{after_help, fail, print_result};
use clap::{Args, Subcommand};
use clawgate_proto::evidence::receipt::ChainFile;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `clawgate audit --help`: what a chain is and where one comes from.
pub const ABOUT: &str = "\
Check your receipts, offline. Every decision and every security change on your account (a passkey \
added or deleted, a request approved or denied, …) appends a receipt to your account's chain; each \
receipt names the hash of the one before it, and a decision made with a passkey (an approval, a \
denial, Stop all agents, a rule set saved) carries the passkey signature the person made for \
exactly what was decided.

Get the chain from the web app (Receipts, then Download the chain) or from the API: \
GET /api/v1/audit/receipts, signed in. `clawgate audit verify CHAIN` needs nothing else: no \
server, no account, no network.";

const VERIFY_ABOUT: &str = "\
Check an account's receipt chain offline: that no receipt was changed, removed, inserted or moved \
(every hash and link), that every decision made with a passkey (approvals, and denials, stops \
and rule sets signed with one) was signed by a passkey registered earlier in the chain and not \
deleted since, for exactly the content recorded (its challenge is derived from it), with the person verified (UV) and a signature counter that only grows. With --checkpoint and \
--jwks, also that the chain is the one the server signed at the checkpoint's seq, so it was \
neither rewritten whole nor rolled back.

On success a summary goes to stdout; otherwise the first receipt that does not hold, and why, goes \
to stderr, and the exit code says what kind of failure it was.";

const EXAMPLES: &str = "\
Examples:
  clawgate audit verify receipts.json
  curl -s https://gate.example.com/.well-known/jwks.json > jwks.json
  clawgate audit verify receipts.json --checkpoint checkpoint.jwt --jwks jwks.json
  clawgate audit verify receipts.json --rp-id gate.example.com --origin https://gate.example.com
  cat receipts.json | clawgate audit verify - --json | jq .summary.passkeyChecked

Receipts without passkey evidence (denials without a passkey, settings, decisions made by an older
server) are
checked as links only, and counted as recorded by the server only: nothing but the server vouches
for what they say. Without --rp-id and --origin, each passkey's registration fixes the RP ID and
origin its signatures must carry. Without a checkpoint, a chain rewritten whole or cut short is not
caught: keep a checkpoint, and the JWKS of its time (a revoked key leaves the JWKS).";

// `clawgate audit …`; the binary gives `audit` itself its help: [`ABOUT`].
#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Check a receipt chain offline: links, hashes, passkey signatures and checkpoints.
    #[command(long_about = VERIFY_ABOUT, after_help = after_help(EXAMPLES))]
    Verify(AuditVerifyArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AuditVerifyArgs {
    /// The chain file (JSON, `clawgate-chain/1`), or `-` to read it from stdin.
    #[arg(value_name = "CHAIN")]
    pub chain: String,

    /// A checkpoint the server signed: the JWT itself, or JSON with a `checkpoint` field. May be
    /// given more than once; needs --jwks.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Vec<PathBuf>,

    /// The server's published keys (a saved /.well-known/jwks.json), to check the checkpoints'
    /// signatures.
    #[arg(long, value_name = "FILE")]
    pub jwks: Option<PathBuf>,

    /// The relying party ID every passkey must be for (e.g. gate.example.com). Default: each
    /// passkey's registration fixes its own.
    #[arg(long, value_name = "ID")]
    pub rp_id: Option<String>,

    /// The origin every passkey ceremony must come from (e.g. https://gate.example.com).
    /// Default: each passkey's registration fixes its own.
    #[arg(long, value_name = "URL")]
    pub origin: Option<String>,

    /// Print the summary (or the failure) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: AuditCommand) -> ExitCode {
    match cmd {
        AuditCommand::Verify(args) => verify(&args),
    }
}

fn verify(args: &AuditVerifyArgs) -> ExitCode {
    let result = load(args).and_then(|(chain, opts)| verify_chain(&chain, &opts));
    match (result, args.json) {
        (Ok(summary), false) => print_result(summary_text(&summary).trim_end()),
        (Ok(summary), true) => print_json(&serde_json::json!({ "holds": true, "summary": summary })),
        (Err(e), json) => {
            if json {
                let _ = print_json(&serde_json::json!({ "holds": false, "error": e }));
            }
            fail(e.category.exit_code(), &e.to_string())
        }
    }
}

fn print_json(value: &serde_json::Value) -> ExitCode {
    match serde_json::to_string_pretty(value) {
        Ok(text) => print_result(&text),
        Err(e) => fail(crate::EXIT_ERROR, &format!("cannot print the summary: {e}")),
    }
}

/// The chain and the options the command line asks for, read from their files.
pub fn load(args: &AuditVerifyArgs) -> Result<(ChainFile, Options), ChainError> {
    if !args.checkpoint.is_empty() && args.jwks.is_none() {
        return Err(ChainError::input(CHECKPOINT_NEEDS_JWKS));
    }
    let chain = read_chain(&read_input(&args.chain)?)?;
    let jwks = match &args.jwks {
        Some(path) => Some(read_jwks(&read_file(path, "the JWKS")?)?),
        None => None,
    };
    let checkpoints = args
        .checkpoint
        .iter()
        .map(|path| read_checkpoint(&read_file(path, "the checkpoint")?))
        .collect::<Result<_, _>>()?;
    let origin = args.origin.as_deref().map(|o| o.trim_end_matches('/').to_owned());
    Ok((chain, Options { rp_id: args.rp_id.clone(), origin, checkpoints, jwks }))
}

/// A chain file's text, read.
pub fn read_chain(text: &str) -> Result<ChainFile, ChainError> {
    serde_json::from_str(text)
        .map_err(|e| ChainError::input(format!("the chain is not a clawgate chain file: {e}")))
}

fn read_input(name: &str) -> Result<String, ChainError> {
    if name == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| ChainError::input(format!("cannot read the chain from stdin: {e}")))?;
        return Ok(text);
    }
    read_file(Path::new(name), "the chain")
}

fn read_file(path: &Path, what: &str) -> Result<String, ChainError> {
    std::fs::read_to_string(path)
        .map_err(|e| ChainError::input(format!("cannot read {what} {}: {e}", path.display())))
}
