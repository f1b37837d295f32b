//! clawgate: a human-in-the-loop approval gate for AI agents.
//!
//! A guided tour, from the outside in:

/// Wiring: shared state, background tasks, and serving.
pub mod app;
/// The clock every rule reads, so tests can move time instead of sleeping.
pub mod clock;
/// Settings: every flag and environment variable of `clawgate serve`, validated once at start.
pub mod config;
/// The rules: identifiers, API key format, approval lifecycle, with no I/O.
pub mod domain;
/// Announcements of new requests and decisions inside one instance.
pub mod events;
/// Where a request enters: the router, extractors, error shape, middleware and one file per resource.
pub mod http;
/// Prometheus metrics: what is counted, and the text format.
pub mod metrics;
/// The operator's commands beside the server: `backup`, `restore` and `keys`.
pub mod operator;
/// Operating-system settings: file-creation mask, open-file limit, file modes, free space.
pub mod os;
/// Web Push: telling the owner's browsers that an agent asks (VAPID, encrypted payloads).
pub mod push;
/// Where Web Push may go: https to known push services at public addresses (no SSRF).
pub mod push_policy;
/// Token buckets: per client IP, per API key, per account.
pub mod rate_limit;
/// Secrets the server generates on first start and keeps in its database.
pub mod secrets;
/// The accept loop: header and idle timeouts, connection caps, graceful shutdown; and the
/// metrics listener on METRICS_ADDR.
pub mod server;
/// The rules between `http` and `store`, one service per use case: approvals (their lifecycle,
/// expiry sweeps, key suspension after repeated denials), the gate, rules, grants, API keys,
/// decisions, the signed policy, stop and tokens; and identity: accounts (sign-up under the
/// registration mode, sign-in, sessions), passkeys, WebAuthn ceremonies (webauthn-rs, the clone
/// and counter checks, the limits on failed assertions) and push subscriptions.
pub mod service;
/// Why the server could not start, with the fix: ports, folders, the database.
pub mod startup_errors;
/// The state every request shares (`AppState`).
pub mod state;
/// Where data is stored: one SQL code base for SQLite and PostgreSQL.
pub mod store;
/// HTTPS: certificate files reloaded when they change, or certificates over ACME.
pub mod tls;
/// Signed tokens: human sessions (HS256) and approval tokens (Ed25519, published as JWKS).
pub mod tokens;
