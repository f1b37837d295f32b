//! The server's settings as given: every setting is a flag and an environment variable (also
//! read from `.env`). `clawgate serve` and `clawgate migrate` parse them; [`super::Settings`]
//! validates them.

use clap::{Args, FromArgMatches, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Folder for the embedded SQLite database. Created if missing.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Database to use: `sqlite://PATH` or `postgres://USER@HOST/DB`.
    /// Default: SQLite at DATA_DIR/clawgate.db. A postgres:// URL lets several instances share state.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RegistrationMode {
    /// Anyone who can reach the server can create an account.
    Open,
    /// Only while no account exists: the first person to register owns the server.
    FirstUser,
    /// Nobody can create an account.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,

    /// Address to listen on. Use 0.0.0.0 to accept connections from other machines.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,

    /// WebAuthn relying-party ID: the domain passkeys are bound to (e.g. `gate.example.com`).
    /// With ACME_DOMAIN set and this left at `localhost`, it is ACME_DOMAIN.
    #[arg(long = "rp-id", env = "WEBAUTHN_RP_ID", default_value = "localhost")]
    pub rp_id: String,

    /// Full origin the web app is served from (e.g. `https://gate.example.com`).
    /// Must be the RP ID or a subdomain of it. Default: http://localhost:PORT (https with
    /// TLS_CERT), or https://ACME_DOMAIN (with :PORT unless PORT is 443) with ACME_DOMAIN.
    #[arg(long = "rp-origin", env = "WEBAUTHN_RP_ORIGIN")]
    pub rp_origin: Option<String>,

    /// Name shown in passkey prompts.
    #[arg(long = "rp-name", env = "WEBAUTHN_RP_NAME", default_value = "ClawGate")]
    pub rp_name: String,

    /// Secret for human session tokens (HS256), at least 32 bytes. Generated and kept in the
    /// database when not given. Prefer the environment over the flag: flags show in `ps`.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Secret for hashing API keys (HMAC-SHA256), at least 32 bytes. Generated and kept in the
    /// database when not given. Changing it invalidates every API key.
    #[arg(long, env = "API_KEY_SECRET", hide_env_values = true)]
    pub api_key_secret: Option<String>,

    /// Comma-separated origins allowed to call the API from a browser. Default: the RP origin.
    #[arg(long, env = "CORS_ORIGINS")]
    pub cors_origins: Option<String>,

    /// Log level (trace, debug, info, warn, error, fatal) or a tracing filter such as `clawgate=debug`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Web Push public key (base64url, uncompressed P-256 point). Generated with the private key when neither is given.
    #[arg(long, env = "VAPID_PUBLIC_KEY")]
    pub vapid_public_key: Option<String>,

    /// Web Push private key (base64url, 32 bytes).
    #[arg(long, env = "VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<String>,

    /// Contact for push services (`mailto:` or `https:` URL).
    #[arg(long, env = "VAPID_SUBJECT", default_value = "mailto:admin@localhost")]
    pub vapid_subject: String,

    /// Allow Web Push endpoints on plain http when their host is loopback (127.0.0.0/8, ::1,
    /// localhost). For development and tests only: real push services are https.
    #[arg(long, env = "PUSH_ALLOW_HTTP_LOOPBACK", default_value_t = false)]
    pub push_allow_http_loopback: bool,

    /// Who may create an account.
    #[arg(long, env = "REGISTRATION_MODE", value_enum, default_value_t = RegistrationMode::Open)]
    pub registration_mode: RegistrationMode,

    /// Lifetime of a human session token, in seconds.
    #[arg(long, env = "SESSION_TTL_SECONDS", default_value_t = 43_200)]
    pub session_ttl_seconds: u32,

    /// Lifetime of an approval token, in seconds (at most 600).
    #[arg(long, env = "APPROVAL_TOKEN_TTL_SECONDS", default_value_t = 120)]
    pub approval_token_ttl_seconds: u32,

    /// Requests per minute per client IP on the sign-up and passkey endpoints.
    #[arg(long, env = "AUTH_RATE_LIMIT", default_value_t = 30)]
    pub auth_rate_limit: u32,

    /// Take the client IP from the last X-Forwarded-For entry. Only behind a proxy that sets it.
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// Most requests one API key may have waiting at once; more are refused with 429 until one
    /// is decided or lapses (a leaked key cannot flood its owner). 0 means no limit.
    #[arg(long, env = "MAX_PENDING_PER_KEY", default_value_t = 10)]
    pub max_pending_per_key: u32,

    /// After this many denials of one key's requests within 10 minutes the key is suspended and
    /// its owner notified; they resume it in the app. 0 turns this off.
    #[arg(long, env = "SUSPEND_AFTER_DENIALS", default_value_t = 3)]
    pub suspend_after_denials: u32,

    /// Status reads per minute per API key without `?wait=` (faster polling gets 429 with
    /// Retry-After; waiting with `?wait=60` is never limited).
    #[arg(long, env = "POLL_RATE_LIMIT", default_value_t = 30)]
    pub poll_rate_limit: u32,

    /// Gate calls (`POST /api/v1/gate`) per minute per API key, and as many at once; more get 429
    /// `gate_rate_limited` with Retry-After (the gates wait it out within their timeout, then
    /// block). Far above what an agent making tool calls needs; it keeps one key from filling the
    /// disk with decisions.
    #[arg(long, env = "GATE_RATE_LIMIT", default_value_t = 600)]
    pub gate_rate_limit: u32,

    /// Days a decision the gate made alone (by a rule or a standing grant) is kept, with its audit
    /// row; upkeep deletes older ones and empties their receipts (a receipts.pruned receipt lists
    /// them, so the chain still verifies). Requests a person was asked about, their audit and
    /// their receipts are kept. 0 keeps every decision.
    #[arg(long, env = "DECISION_RETENTION_DAYS", default_value_t = 90)]
    pub decision_retention_days: u32,

    /// Push services the server sends to, as comma-separated host suffixes; `*` for any public
    /// host. Default: FCM (Chrome, Android), Mozilla (Firefox), Apple (Safari) and Windows (Edge).
    #[arg(long, env = "PUSH_ALLOWED_HOSTS", default_value = "")]
    pub push_allowed_hosts: String,

    /// Least time between two request notifications to one person, in seconds; requests in
    /// between are collapsed into one "N requests are waiting".
    #[arg(long, env = "PUSH_MIN_INTERVAL_SECONDS", default_value_t = 30)]
    pub push_min_interval_seconds: u32,

    /// Whose clock decides expiry: `database` (PostgreSQL's, so instances whose clocks disagree
    /// still agree) or `local` (this machine's). SQLite always uses the local clock.
    #[arg(long, env = "CLOCK_SOURCE", value_enum, default_value_t = ClockSource::Database)]
    pub clock_source: ClockSource,

    /// Seconds a client has to send a whole request head (request line and headers), from
    /// connecting or from its first byte after an idle pause; slower connections are closed.
    #[arg(long, env = "HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    pub header_timeout_seconds: u32,

    /// Seconds a kept-alive connection may sit with no request in flight before it is closed.
    /// Long polls (`?wait=`) and event streams are requests in flight, so they are never idle.
    #[arg(long, env = "IDLE_TIMEOUT_SECONDS", default_value_t = 60)]
    pub idle_timeout_seconds: u32,

    /// Most connections open at once; more are refused with 503. Lowered at start (with a log
    /// line) to what the open-file limit allows after a reserve for the database and files.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: u32,

    /// Most connections open at once from one client address (IPv6: one /64), as the TCP peer
    /// is seen: behind a proxy (TRUST_FORWARDED_FOR) every connection comes from the proxy, so
    /// set this to MAX_CONNECTIONS there, or 0 for no per-address cap.
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: u32,

    /// Serve HTTPS with this certificate: a PEM file with the full chain, server certificate
    /// first. Needs TLS_KEY. Checked every 10 seconds and reloaded when it changes.
    #[arg(long, env = "TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of TLS_CERT: a PEM file (PKCS#8, RSA or SEC1 EC key).
    #[arg(long, env = "TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Serve HTTPS with a certificate for this domain, obtained and renewed automatically over
    /// ACME (TLS-ALPN-01 on PORT, which must be reachable from the internet as port 443).
    /// Kept in DATA_DIR/acme. Not with TLS_CERT.
    #[arg(long, env = "ACME_DOMAIN")]
    pub acme_domain: Option<String>,

    /// Contact address given to the ACME certificate authority (expiry warnings go there).
    #[arg(long, env = "ACME_EMAIL")]
    pub acme_email: Option<String>,

    /// ACME directory of the certificate authority. Default: Let's Encrypt.
    #[arg(long, env = "ACME_DIRECTORY", default_value = "https://acme-v02.api.letsencrypt.org/directory")]
    pub acme_directory: String,

    /// A PEM file of certificates to trust when talking to ACME_DIRECTORY (a private or test CA),
    /// in addition to the usual public roots.
    #[arg(long, env = "ACME_CA_ROOT")]
    pub acme_ca_root: Option<PathBuf>,

    /// Address (IP:PORT, e.g. `127.0.0.1:9464`) to serve Prometheus metrics on, at `/metrics`.
    /// Unset: no metrics. Never the public port; keep it off the internet.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<String>,
}

impl ServeArgs {
    /// `clawgate serve`'s settings from these flags alone, every other one at its default: no
    /// environment variable is read, so tests and tools get the same settings wherever they run.
    pub fn from_flags(flags: &[&str]) -> Result<Self, clap::Error> {
        const NAME: &str = "clawgate-serve";
        let command =
            Self::augment_args(clap::Command::new(NAME)).mut_args(|arg| arg.env(None::<&'static str>));
        let matches = command.try_get_matches_from(std::iter::once(NAME).chain(flags.iter().copied()))?;
        Self::from_arg_matches(&matches)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClockSource {
    Database,
    Local,
}
