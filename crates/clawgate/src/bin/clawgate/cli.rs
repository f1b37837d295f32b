//! The one `clawgate` binary's command tree: the server's commands (`serve`, `migrate`), the
//! operator's (`backup`, `restore`, `keys`), the agent's (`request`, `exec`, `gate`, `verify`,
//! `hook`, `mcp`, from the `clawgate-agent` crate) and the person's offline check of their
//! receipts (`audit`, from the same crate).

use clap::{Parser, Subcommand};
use clawgate::config::{DatabaseArgs, ServeArgs};
use clawgate::operator::backup::BackupArgs;
use clawgate::operator::keys::KeysCommand;
use clawgate::operator::restore::RestoreArgs;
use clawgate_agent::audit::AuditCommand;
use clawgate_agent::exec::ExecArgs;
use clawgate_agent::gate::GateArgs;
use clawgate_agent::hook_claude::ClaudeHookArgs;
use clawgate_agent::mcp::McpArgs;
use clawgate_agent::request::RequestArgs;
use clawgate_agent::verify::VerifyArgs;

#[derive(Debug, Parser)]
#[command(
    name = "clawgate",
    version,
    about = "A human-in-the-loop gate for AI agent actions: agents ask, a person approves with a passkey.",
    long_about = "A human-in-the-loop gate for AI agent actions.\n\n\
An agent holding an API key asks for approval (POST /api/v1/approval/request); the key's owner \
approves with a passkey or denies; on approval the agent receives a short-lived token signed \
with Ed25519 that any tool can verify against /.well-known/jwks.json.\n\n\
Settings come from flags, environment variables and a .env file in the working directory \
(flags win over the environment).",
    after_help = "Start with `clawgate serve` and open http://localhost:3000. `clawgate serve --help` lists every setting."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The set-ups people ask for, after the list of settings in `clawgate serve --help`.
const SERVE_GUIDE: &str = "\
Common set-ups (each setting is also a flag; a .env file in the working directory works too):
  On this machine only   clawgate serve
                         http://localhost:3000, SQLite in ./data, nothing to configure
  A phone, over HTTPS    ACME_DOMAIN=gate.example.com ACME_EMAIL=you@example.com HOST=0.0.0.0 PORT=443 clawgate serve
                         the domain's DNS points here and port 443 reaches this machine; the
                         certificate comes from Let's Encrypt and passkeys are bound to the domain
  Your own certificate   TLS_CERT=/etc/clawgate/cert.pem TLS_KEY=/etc/clawgate/key.pem
                         WEBAUTHN_RP_ID=gate.example.com WEBAUTHN_RP_ORIGIN=https://gate.example.com:3000
  Behind a TLS proxy     WEBAUTHN_RP_ID=gate.example.com WEBAUTHN_RP_ORIGIN=https://gate.example.com
                         TRUST_FORWARDED_FOR=true MAX_CONNECTIONS_PER_IP=0 (the proxy is every client)
  Several instances      DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DB and the same WEBAUTHN_RP_*
                         on each, behind a load balancer
  Prometheus metrics     METRICS_ADDR=127.0.0.1:9464

When it cannot start, its last line says why and what to change. Backups: `clawgate backup PATH`;
a new token signing key: `clawgate keys rotate`. The manual has the rest: docs/src/running.md.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (applies pending database migrations first).
    #[command(after_help = SERVE_GUIDE)]
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    // Help in clawgate::operator::backup and clawgate::operator::restore.
    Backup(BackupArgs),
    Restore(RestoreArgs),
    /// The Ed25519 keys that sign approval and gate tokens: list them, rotate to a new one, or revoke
    /// one believed leaked.
    #[command(subcommand)]
    Keys(KeysCommand),
    // The agent's commands; their help is in the clawgate-agent crate.
    Request(RequestArgs),
    Exec(ExecArgs),
    Gate(GateArgs),
    Verify(VerifyArgs),
    /// Hooks that put clawgate in front of an agent tool's actions.
    #[command(subcommand)]
    Hook(HookCommand),
    // Help in clawgate_agent::mcp.
    Mcp(McpArgs),
    /// Check an account's receipts offline: hashes, links, passkey signatures and checkpoints.
    #[command(subcommand, long_about = clawgate_agent::audit::ABOUT)]
    Audit(AuditCommand),
}

/// `clawgate hook …`: one subcommand per agent tool.
#[derive(Debug, Subcommand)]
pub enum HookCommand {
    // Help in clawgate_agent::hook_claude.
    ClaudeCode(ClaudeHookArgs),
}
