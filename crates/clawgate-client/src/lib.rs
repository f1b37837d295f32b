//! The agent's side of clawgate: ask a person to approve an action, wait for their decision
//! without polling, and check the approval token online or offline.
//!
//! ```no_run
//! # async fn demo() -> Result<(), clawgate_client::Error> {
//! use clawgate_client::{ApprovalRequest, Client, Status};
//! use std::time::Duration;
//!
//! let client = Client::from_env()?; // CLAWGATE_URL, CLAWGATE_API_KEY
//! let created = client.request(&ApprovalRequest::new("delete ./old-data")).await?;
//! println!("waiting for approval; code {}", created.binding_code);
//! let decided = client.wait(&created.request_id, Duration::from_secs(300), |_| {}).await?;
//! if decided.status == Status::Approved {
//!     let token = decided.token.unwrap_or_default();
//!     // … do it, handing `token` to whoever checks approvals
//! }
//! # Ok(()) }
//! ```

mod offline;
mod policy;

pub use offline::{OfflineError, verify_offline, verify_offline_accepting};
pub use policy::{PolicyError, verify_policy};

// What goes over the wire is declared once, in `clawgate-proto`, the server answers with the same
// types; the names this crate has always used stay.
pub use clawgate_proto::wire::gate::key_fingerprint;
pub use clawgate_proto::wire::{
    Accept, ApprovalClaims, ApprovalRequest, DecidedBy, Decider, ErrorBody, ErrorDetail, GateAnswer,
    GateExplained, InvalidReason, PolicyGrant, PolicyView, StatusView, TokenKind, Verification,
    VerifyRequest,
};
pub use clawgate_proto::{approval::Status, rules::Outcome};
/// The answer to a new request.
pub type Created = clawgate_proto::wire::ApprovalCreated;
/// A tool call to bring to the gate (`POST /api/v1/gate`), exactly as it will run.
pub type GateCall = clawgate_proto::wire::GateRequest;
/// A policy that checked out (see [`verify_policy`]).
pub type Policy = clawgate_proto::wire::PolicyClaims;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};
use url::Url;

/// The server when `CLAWGATE_URL` is not set.
pub const DEFAULT_URL: &str = "http://localhost:3000";
/// The longest wait the server holds a status request for.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Attempts for one call that failed for a reason worth retrying (network, 5xx, 429).
const ATTEMPTS: u32 = 4;
/// The longest `Retry-After` a call without a deadline waits out before trying again; a longer
/// one ends the call with the server's refusal.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client is set up wrong (missing key, bad URL).
    #[error("{0}")]
    Config(String),
    /// The server could not be reached, or the connection broke (after retries).
    #[error("cannot reach clawgate at {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server refused: its status, its `{"error": {"code", "message"}}`, and its
    /// `Retry-After` (in seconds) when it gave one.
    #[error("clawgate answered {status} ({code}): {message}")]
    Api { status: u16, code: String, message: String, retry_after: Option<Duration> },
    /// The server answered something this client does not understand.
    #[error("unexpected answer from clawgate: {0}")]
    Decode(String),
    /// The wait ran out while the request was still pending; the last status seen.
    #[error("no decision within the time allowed (request {})", .0.request_id)]
    TimedOut(Box<StatusView>),
    /// The client's deadline (see [`Client::until`]) passed before the server answered.
    #[error("timed out: clawgate at {url} did not answer within the time allowed")]
    Deadline { url: String },
}

impl Error {
    /// Whether the server could not decide: it was unreachable, the connection broke, or it
    /// failed (5xx). A refusal (4xx, a 429 included) and a deadline that passed are not.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. } => true,
            Error::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The server is limiting this key (429): the same call may pass after its `Retry-After`.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Error::Api { status: 429, .. })
    }

    /// How long to wait before trying again after attempt `attempt` (from 1), when that is worth
    /// it: the server's `Retry-After`, else a backoff for a network failure or a 5xx.
    fn retry_pause(&self, attempt: u32) -> Option<Duration> {
        let backoff = Duration::from_millis(500 * 2u64.pow(attempt - 1));
        match self {
            Error::Transport { .. } => Some(backoff),
            Error::Api { status, retry_after, .. } if *status == 429 || *status >= 500 => {
                Some(retry_after.unwrap_or(backoff))
            }
            _ => None,
        }
    }
}

/// A connection to one clawgate server, with one agent API key.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_key: String,
    /// When set, no call outlasts it (see [`Client::until`]).
    deadline: Option<Instant>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.debug_struct("Client").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://localhost:3000`) with an agent key.
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut base = Url::parse(base_url.trim())
            .map_err(|e| Error::Config(format!("`{base_url}` is not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::Config(format!("`{base_url}` must start with http:// or https://")));
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let api_key = api_key.trim();
        if api_key.is_empty() {
            return Err(Error::Config(
                "no API key: set CLAWGATE_API_KEY to a key from the clawgate app".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Longer than the longest server-side wait.
            .timeout(MAX_WAIT + Duration::from_secs(20))
            .build()
            .map_err(|e| Error::Config(format!("cannot set up HTTP: {e}")))?;
        Ok(Self { http, base, api_key: api_key.to_owned(), deadline: None })
    }

    /// The same client, with every call bounded by `deadline`: connecting, sending, waiting for
    /// the answer and for a decision, and the pauses between retries, all together. A call still
    /// unanswered then ends in [`Error::Deadline`] (a wait in [`Error::TimedOut`]); a retry whose
    /// pause would pass it is not made, and the last error stands.
    pub fn until(&self, deadline: Instant) -> Client {
        Client { deadline: Some(self.deadline.map_or(deadline, |d| d.min(deadline))), ..self.clone() }
    }

    /// From `CLAWGATE_URL` (default `http://localhost:3000`) and `CLAWGATE_API_KEY`.
    pub fn from_env() -> Result<Self, Error> {
        let url = std::env::var("CLAWGATE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let key = std::env::var("CLAWGATE_API_KEY").unwrap_or_default();
        Self::new(&url, &key)
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Result<Url, Error> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| Error::Config(format!("bad path {path}: {e}")))
    }

    /// Asks for approval. A retry after a network failure or a 5xx repeats the same
    /// `Idempotency-Key`, so it never creates a second request.
    pub async fn request(&self, request: &ApprovalRequest) -> Result<Created, Error> {
        let key = request.idempotency_key.clone().unwrap_or_else(new_idempotency_key);
        let url = self.url("api/v1/approval/request")?;
        self.with_retries(|| {
            self.http
                .post(url.clone())
                .bearer_auth(&self.api_key)
                .header("idempotency-key", &key)
                .json(request)
        })
        .await
    }

    /// Brings a tool call to the gate: `allow` (with a token), `deny`, or `ask` (a pending
    /// request; wait on it with [`Client::wait`]).
    pub async fn gate(&self, call: &GateCall) -> Result<GateAnswer, Error> {
        let key = call.idempotency_key.clone().unwrap_or_else(new_idempotency_key);
        let url = self.url("api/v1/gate")?;
        self.with_retries(|| {
            self.http.post(url.clone()).bearer_auth(&self.api_key).header("idempotency-key", &key).json(call)
        })
        .await
    }

    /// What the gate would do with a call, without recording or using anything.
    pub async fn explain_gate(&self, call: &GateCall) -> Result<GateExplained, Error> {
        let url = self.url("api/v1/gate/explain")?;
        self.with_retries(|| self.http.post(url.clone()).bearer_auth(&self.api_key).json(call)).await
    }

    /// The request's status now.
    pub async fn status(&self, request_id: &str) -> Result<StatusView, Error> {
        self.status_waiting(request_id, Duration::ZERO).await
    }

    /// The request's status once it is decided, or after `wait` (at most 60 s) if it is not.
    pub async fn status_waiting(&self, request_id: &str, wait: Duration) -> Result<StatusView, Error> {
        let mut url = self.url(&format!("api/v1/approval/status/{request_id}"))?;
        let secs = wait.min(MAX_WAIT).as_secs();
        if secs > 0 {
            url.query_pairs_mut().append_pair("wait", &secs.to_string());
        }
        self.with_retries(|| self.http.get(url.clone()).bearer_auth(&self.api_key)).await
    }

    /// Waits for the decision (APPROVED, DENIED or EXPIRED) for at most `timeout`, calling
    /// `progress` with each status seen (for a countdown). Long-polls the server; a brief
    /// network failure is ridden out. [`Error::TimedOut`] if still pending.
    pub async fn wait(
        &self,
        request_id: &str,
        timeout: Duration,
        mut progress: impl FnMut(&StatusView),
    ) -> Result<StatusView, Error> {
        let mut deadline = Instant::now() + timeout;
        if let Some(bound) = self.deadline {
            deadline = deadline.min(bound);
        }
        let mut last: Option<StatusView> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // At least a second per round trip, so a server that ignores `wait` is not hammered.
            let round = Instant::now();
            let view = match self.status_waiting(request_id, left.max(Duration::from_secs(1))).await {
                Ok(view) => view,
                // The client's deadline ended the wait: as much a wait that ran out as below.
                Err(e @ Error::Deadline { .. }) => {
                    return Err(last.map_or(e, |view| Error::TimedOut(Box::new(view))));
                }
                Err(e) => return Err(e),
            };
            progress(&view);
            if view.status != Status::Pending {
                return Ok(view);
            }
            if Instant::now() >= deadline {
                return Err(Error::TimedOut(Box::new(view)));
            }
            let spent = round.elapsed();
            if spent < Duration::from_secs(1) {
                let pause =
                    (Duration::from_secs(1) - spent).min(deadline.saturating_duration_since(Instant::now()));
                tokio::time::sleep(pause).await;
            }
            last = Some(view);
        }
    }

    /// Verifies a token online, taking it only if a person approved it with a passkey: see
    /// [`Client::verify_accepting`].
    pub async fn verify(
        &self,
        token: &str,
        consume: bool,
        action: Option<&str>,
    ) -> Result<Verification, Error> {
        self.verify_accepting(token, consume, action, Accept::PERSON).await
    }

    /// Verifies a token online. With `consume`, it verifies once and never again (on every
    /// instance of the server). With `action`, the token must approve exactly that text. A gate
    /// token (a rule or a grant allowed the call; nobody was asked) is valid only if `accept`
    /// takes its decider; otherwise `valid` is false with the reason `not_person_approved`, and
    /// it is not consumed.
    pub async fn verify_accepting(
        &self,
        token: &str,
        consume: bool,
        action: Option<&str>,
        accept: Accept,
    ) -> Result<Verification, Error> {
        let url = self.url("api/v1/approval/verify-token")?;
        let accept_names = accept.deciders().into_iter().map(|d| d.as_str().to_owned()).collect();
        let body = VerifyRequest {
            token: token.to_owned(),
            consume,
            action: action.map(str::to_owned),
            accept: Some(accept_names),
        };
        // Not retried when consuming: a lost answer must not turn into "already used".
        let answer: Verification = if consume {
            self.send(self.http.post(url).json(&body)).await?
        } else {
            self.with_retries(|| self.http.post(url.clone()).json(&body)).await?
        };
        Ok(answer.held_to(accept))
    }

    /// The key owner's rules and the key's grants, signed, for deciding while the server cannot
    /// be reached (see [`verify_policy`]); `None` when it still has the tag `known`.
    pub async fn gate_policy(&self, known: Option<&str>) -> Result<Option<PolicyView>, Error> {
        let url = self.url("api/v1/gate/policy")?;
        self.with_retries(|| {
            let request = self.http.get(url.clone()).bearer_auth(&self.api_key);
            match known {
                Some(tag) => request.header(reqwest::header::IF_NONE_MATCH, format!("\"{tag}\"")),
                None => request,
            }
        })
        .await
    }

    /// The server's public keys, for [`verify_offline`].
    pub async fn jwks(&self) -> Result<jsonwebtoken::jwk::JwkSet, Error> {
        let url = self.url(".well-known/jwks.json")?;
        self.with_retries(|| self.http.get(url.clone())).await
    }

    /// The issuer the server puts in its tokens: its public origin.
    pub fn issuer(&self) -> String {
        self.base.origin().ascii_serialization()
    }

    async fn with_retries<T: DeserializeOwned>(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, Error> {
        let mut attempt = 1;
        loop {
            let error = match self.send(build()).await {
                Err(e) if attempt < ATTEMPTS => e,
                other => return other,
            };
            let pause = match (error.retry_pause(attempt), self.deadline) {
                (Some(pause), Some(deadline)) if Instant::now() + pause < deadline => pause,
                (Some(pause), None) if pause <= MAX_RETRY_PAUSE => pause,
                _ => return Err(error),
            };
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// One exchange, within the deadline when there is one.
    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, Error> {
        let Some(deadline) = self.deadline else { return self.exchange(request).await };
        tokio::time::timeout_at(deadline.into(), self.exchange(request))
            .await
            .unwrap_or_else(|_| Err(Error::Deadline { url: self.base.to_string() }))
    }

    async fn exchange<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, Error> {
        let response =
            request.send().await.map_err(|source| Error::Transport { url: self.base.to_string(), source })?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let text = response
            .text()
            .await
            .map_err(|source| Error::Transport { url: self.base.to_string(), source })?;
        // "Not modified" is an answer with nothing in it: `None` where an `Option` is asked for.
        let text = if status == StatusCode::NOT_MODIFIED { "null".to_owned() } else { text };
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            return serde_json::from_str(&text)
                .map_err(|e| Error::Decode(format!("{e}: {}", shorten(&text))));
        }
        Err(api_error(status, &text, retry_after))
    }
}

/// `Retry-After` in seconds (the form clawgate sends).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn api_error(status: StatusCode, body: &str, retry_after: Option<Duration>) -> Error {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let field = |name: &str| parsed.as_ref().and_then(|v| v["error"][name].as_str()).map(str::to_owned);
    Error::Api {
        status: status.as_u16(),
        code: field("code").unwrap_or_else(|| format!("http_{}", status.as_u16())),
        message: field("message").unwrap_or_else(|| shorten(body)),
        retry_after,
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// 128 random bits, hex: unique per request, repeated on its retries.
fn new_idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    // Without OS randomness, time and process id still keep keys apart in practice.
    if getrandom::fill(&mut bytes).is_err() {
        let seed = format!("{:?}{}", Instant::now(), std::process::id());
        bytes.iter_mut().zip(seed.bytes().cycle()).for_each(|(b, s)| *b ^= s);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_keys_are_checked_up_front() {
        assert!(matches!(Client::new("localhost:3000", "ag_x"), Err(Error::Config(_))));
        assert!(matches!(Client::new("http://localhost:3000", " "), Err(Error::Config(_))));
        let c = Client::new("https://gate.example.com/base", "ag_x").expect("client");
        assert_eq!(c.url("api/v1/x").expect("url").as_str(), "https://gate.example.com/base/api/v1/x");
        assert_eq!(c.issuer(), "https://gate.example.com");
        assert!(!format!("{c:?}").contains("ag_x"), "Debug never shows the key");
    }

    #[test]
    fn errors_say_what_the_server_said() {
        let e = api_error(
            StatusCode::UNAUTHORIZED,
            r#"{"error":{"code":"invalid_api_key","message":"unknown key"}}"#,
            None,
        );
        assert_eq!(e.to_string(), "clawgate answered 401 (invalid_api_key): unknown key");
        assert!(!e.is_transient());
        assert_eq!(e.retry_pause(1), None, "a refusal is final");
        let unavailable = api_error(StatusCode::SERVICE_UNAVAILABLE, "", None);
        assert!(unavailable.is_transient());
        assert_eq!(unavailable.retry_pause(2), Some(Duration::from_secs(1)));
        // A 429 is a refusal for now, not a server that cannot decide: retried after its
        // Retry-After, never taken for "unreachable".
        let limited = api_error(StatusCode::TOO_MANY_REQUESTS, "", Some(Duration::from_secs(7)));
        assert!(!limited.is_transient() && limited.is_rate_limited());
        assert_eq!(limited.retry_pause(1), Some(Duration::from_secs(7)));
    }

    #[test]
    fn idempotency_keys_are_fresh() {
        let a = new_idempotency_key();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_idempotency_key());
    }
}
