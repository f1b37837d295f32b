//! Web Push delivery: when an agent asks, every browser its owner subscribed is told, with VAPID
//! (RFC 8292) and `aes128gcm` payload encryption (RFC 8291). Delivery runs after the request is
//! committed, in the background: a slow or failing push service never delays or fails an agent.

use crate::domain::ids::{SubscriptionId, UserId};
use crate::store::Db;
use crate::store::approvals::ApprovalRecord;
use crate::store::push::PushSubscription;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Url};
use web_push_native::jwt_simple::algorithms::{ECDSAP256KeyPairLike, ES256KeyPair};
use web_push_native::jwt_simple::claims::Claims;
use web_push_native::{Auth, WebPushBuilder, p256};

/// Longest endpoint URL accepted; browsers' push services use far shorter ones.
pub const MAX_ENDPOINT_CHARS: usize = 2048;
/// A push service that does not answer within this is given up on (for this push).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a VAPID token is valid; RFC 8292 allows at most 24 hours.
const VAPID_VALIDITY_SECS: u64 = 3600;
/// Notification titles quote at most this many characters of the agent id.
const TITLE_AGENT_CHARS: usize = 48;

/// Why a push endpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("`endpoint` must be an https URL of a push service")]
    NotHttps,
    #[error(
        "`endpoint` must be an https URL of a push service (or http on a loopback host, as PUSH_ALLOW_HTTP_LOOPBACK allows)"
    )]
    NotHttpsOrLoopback,
}

/// The one rule for push endpoints, applied when subscribing and again before sending: an
/// absolute `https` URL with a host and no credentials, at most [`MAX_ENDPOINT_CHARS`] long.
/// With `allow_http_loopback` (development and tests only), `http` on 127.0.0.0/8, ::1 or
/// `localhost` is accepted too.
pub fn check_endpoint(endpoint: &str, allow_http_loopback: bool) -> Result<Url, EndpointError> {
    let refused =
        || if allow_http_loopback { EndpointError::NotHttpsOrLoopback } else { EndpointError::NotHttps };
    if endpoint.len() > MAX_ENDPOINT_CHARS {
        return Err(refused());
    }
    let url = Url::parse(endpoint).map_err(|_| refused())?;
    let has_credentials = !url.username().is_empty() || url.password().is_some();
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => allow_http_loopback && is_loopback(&url),
        _ => false,
    };
    if !scheme_ok || url.host().is_none() || has_credentials {
        return Err(refused());
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        // The URL parser lowercases domains.
        Some(Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

/// What one push announces. Nothing secret: no action text, context, binding code or token,
/// since the push service and the lock screen may both see it.
#[derive(Debug)]
struct Notice {
    user_id: UserId,
    /// The encrypted JSON body.
    payload: Vec<u8>,
    /// RFC 8030 `Topic`: a later push for the same request replaces an undelivered one.
    topic: String,
    /// RFC 8030 `TTL` in seconds: after the request lapses, the push is useless.
    ttl_secs: u64,
}

impl Notice {
    fn for_request(record: &ApprovalRecord) -> Self {
        let title = match &record.agent_id {
            Some(agent) => format!("{} asks for approval", shorten(agent, TITLE_AGENT_CHARS)),
            None => "Approval requested".to_owned(),
        };
        let payload = serde_json::json!({
            "type": "approval_request",
            "requestId": record.id.as_str(),
            "agentId": record.agent_id,
            "title": title,
        });
        let lifetime_ms = record.expires_at.saturating_sub(record.created_at).max(0);
        Self {
            user_id: record.user_id.clone(),
            payload: payload.to_string().into_bytes(),
            topic: topic_for(record.id.as_str()),
            ttl_secs: u64::try_from(lifetime_ms / 1000).unwrap_or(0),
        }
    }
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// 32 base64url characters (RFC 8030's limit) derived from the request id; hashed so that the
/// push service, which sees topics in clear, does not learn the id.
fn topic_for(request_id: &str) -> String {
    let digest = Sha256::digest(format!("clawgate push topic {request_id}").as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..24])
}

/// How one delivery ended.
enum Outcome {
    Delivered,
    /// 404 or 410: the browser dropped the subscription; it will never work again.
    Gone,
}

/// Sends Web Push messages, signed with the server's VAPID key. One per process, shared.
pub struct PushSender {
    client: reqwest::Client,
    vapid_key: ES256KeyPair,
    /// base64url uncompressed P-256 point: the `k` of the VAPID header.
    vapid_public: String,
    subject: String,
    allow_http_loopback: bool,
}

impl PushSender {
    /// `vapid_private_b64` is the base64url raw 32-byte P-256 scalar; `subject` the VAPID contact
    /// (`mailto:` or `https:`). Needs a rustls crypto provider installed
    /// ([`crate::app::install_tls_provider`]).
    pub fn new(vapid_private_b64: &str, subject: &str, allow_http_loopback: bool) -> anyhow::Result<Self> {
        let raw = URL_SAFE_NO_PAD
            .decode(vapid_private_b64.trim_end_matches('='))
            .map_err(|_| anyhow::anyhow!("the VAPID private key is not base64url"))?;
        let vapid_key = ES256KeyPair::from_bytes(&raw)
            .map_err(|_| anyhow::anyhow!("the VAPID private key is not a P-256 private key (32 bytes)"))?;
        let vapid_public = crate::secrets::vapid_public_for(vapid_private_b64)?;
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            // A push service answers; it never sends us elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the Web Push HTTP client: {e}"))?;
        Ok(Self { client, vapid_key, vapid_public, subject: subject.to_owned(), allow_http_loopback })
    }

    /// Whether plain `http` to loopback push services is allowed (development and tests only).
    pub fn allows_http_loopback(&self) -> bool {
        self.allow_http_loopback
    }

    /// Tells each of the request owner's subscribed browsers about a new request, in the
    /// background; returns at once. Call only once the request is committed. Failures are logged.
    pub fn notify_request_created(self: &Arc<Self>, db: Db, record: &ApprovalRecord) {
        let notice = Notice::for_request(record);
        let sender = Arc::clone(self);
        tokio::spawn(async move { sender.deliver_to_all(db, notice).await });
    }

    async fn deliver_to_all(self: Arc<Self>, db: Db, notice: Notice) {
        let subscriptions = match db.push_subscriptions_of(&notice.user_id).await {
            Ok(subs) => subs,
            Err(e) => {
                tracing::warn!(user.id = %notice.user_id, error = %e, "cannot read push subscriptions");
                return;
            }
        };
        let notice = Arc::new(notice);
        // One task per browser, so that one slow push service does not hold up the others.
        for sub in subscriptions {
            let (sender, db, notice) = (Arc::clone(&self), db.clone(), Arc::clone(&notice));
            tokio::spawn(async move { sender.deliver_one(&db, &sub, &notice).await });
        }
    }

    async fn deliver_one(&self, db: &Db, sub: &PushSubscription, notice: &Notice) {
        // Logs name the subscription and the push service's host, never the endpoint: its path
        // is the capability to push to that browser.
        let host = Url::parse(&sub.endpoint).ok().and_then(|u| u.host_str().map(str::to_owned));
        let host = host.unwrap_or_default();
        match self.send(sub, notice).await {
            Ok(Outcome::Delivered) => {
                tracing::debug!(subscription.id = %sub.id, push.host = %host, "push sent")
            }
            Ok(Outcome::Gone) => self.forget(db, &sub.id, &host).await,
            Err(e) => tracing::warn!(
                subscription.id = %sub.id, push.host = %host, error = %format!("{e:#}"), "push not delivered"
            ),
        }
    }

    async fn forget(&self, db: &Db, id: &SubscriptionId, host: &str) {
        match db.delete_push_subscription_by_id(id).await {
            Ok(_) => {
                tracing::info!(subscription.id = %id, push.host = %host, "push subscription gone; removed")
            }
            Err(e) => {
                tracing::warn!(subscription.id = %id, error = %e, "cannot remove a gone push subscription")
            }
        }
    }

    async fn send(&self, sub: &PushSubscription, notice: &Notice) -> anyhow::Result<Outcome> {
        // Checked again here: the rule, or the flag, may have changed since the browser subscribed.
        let endpoint = check_endpoint(&sub.endpoint, self.allow_http_loopback)?;
        let request = self.build_request(&endpoint, sub, notice)?;
        let response = self.client.execute(request).await?;
        match response.status() {
            s if s.is_success() => Ok(Outcome::Delivered),
            StatusCode::NOT_FOUND | StatusCode::GONE => Ok(Outcome::Gone),
            s => anyhow::bail!("the push service answered {s}"),
        }
    }

    /// The encrypted, VAPID-signed POST for one subscription.
    fn build_request(
        &self,
        endpoint: &Url,
        sub: &PushSubscription,
        notice: &Notice,
    ) -> anyhow::Result<reqwest::Request> {
        let ua_public = p256::PublicKey::from_sec1_bytes(&decode(&sub.p256dh, "p256dh")?)
            .map_err(|_| anyhow::anyhow!("the subscription's p256dh is not a P-256 point"))?;
        let auth: [u8; 16] = decode(&sub.auth, "auth")?
            .try_into()
            .map_err(|_| anyhow::anyhow!("the subscription's auth secret is not 16 bytes"))?;
        // Sets TTL, Content-Encoding: aes128gcm and the encrypted body.
        let encrypted = WebPushBuilder::new(endpoint.as_str().parse()?, ua_public, Auth::from(auth))
            .with_valid_duration(Duration::from_secs(notice.ttl_secs))
            .build(notice.payload.clone())
            .map_err(|e| anyhow::anyhow!("cannot encrypt the push: {e}"))?;
        let mut request = reqwest::Request::try_from(encrypted)?;
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, self.vapid_header(endpoint)?);
        headers.insert("urgency", HeaderValue::from_static("high"));
        headers.insert("topic", HeaderValue::from_str(&notice.topic)?);
        Ok(request)
    }

    /// `vapid t=<JWT>, k=<public key>` (RFC 8292). Signed here rather than by web-push-native's
    /// `with_vapid`, whose `aud` drops the port: `aud` must be the endpoint's full origin.
    fn vapid_header(&self, endpoint: &Url) -> anyhow::Result<HeaderValue> {
        let claims =
            Claims::create(web_push_native::jwt_simple::prelude::Duration::from_secs(VAPID_VALIDITY_SECS))
                .with_audience(endpoint.origin().ascii_serialization())
                .with_subject(&self.subject);
        let token = self.vapid_key.sign(claims).map_err(|e| anyhow::anyhow!("cannot sign VAPID: {e}"))?;
        Ok(HeaderValue::from_str(&format!("vapid t={token}, k={}", self.vapid_public))?)
    }
}

fn decode(b64: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(b64.trim_end_matches('='))
        .map_err(|_| anyhow::anyhow!("the subscription's {what} is not base64url"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_unless_loopback_is_allowed() {
        let ok = |e: &str, flag: bool| check_endpoint(e, flag).is_ok();
        assert!(ok("https://push.example.com/abc", false));
        assert!(!ok("http://push.example.com/abc", false));
        assert!(!ok("http://push.example.com/abc", true));
        assert!(!ok("http://127.0.0.1:8080/abc", false));
        assert!(ok("http://127.0.0.1:8080/abc", true));
        assert!(ok("http://127.3.4.5/abc", true));
        assert!(ok("http://[::1]:9/abc", true));
        assert!(ok("http://localhost:9/abc", true));
        assert!(!ok("http://localhost.example.com/abc", true));
        assert!(!ok("http://10.0.0.1/abc", true));
        assert!(!ok("https://user:pw@push.example.com/abc", false));
        assert!(!ok("http://user@127.0.0.1/abc", true));
        assert!(!ok("ftp://push.example.com/abc", true));
        assert!(!ok("not a url", true));
        assert!(!ok(&format!("https://push.example.com/{}", "a".repeat(MAX_ENDPOINT_CHARS)), false));
    }

    #[test]
    fn topics_fit_rfc_8030() {
        let topic = topic_for("req_0123456789abcdefghijkl");
        assert_eq!(topic.len(), 32);
        assert!(topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(topic, topic_for("req_0123456789abcdefghijkl"));
        assert_ne!(topic, topic_for("req_0123456789abcdefghijkm"));
    }

    fn record(agent_id: Option<&str>) -> ApprovalRecord {
        use crate::domain::approval::Status;
        use crate::domain::ids::{ApiKeyId, RequestId};
        ApprovalRecord {
            id: RequestId::generate(),
            user_id: UserId::generate(),
            api_key_id: ApiKeyId::generate(),
            agent_id: agent_id.map(str::to_owned),
            action: "rm -rf /srv/secret-project".into(),
            context: Some(r#"{"token":"hunter2"}"#.into()),
            binding_code: "482-913".into(),
            action_hash: "ab".repeat(32),
            status: Status::Pending,
            created_at: 1_000_000,
            expires_at: 1_300_000,
            decided_at: None,
            deny_reason: None,
            token: None,
            token_jti: None,
            token_expires_at: None,
            credential_id: None,
            user_verified: None,
        }
    }

    #[test]
    fn payloads_name_the_request_and_nothing_secret() {
        let r = record(None);
        let notice = Notice::for_request(&r);
        let payload: serde_json::Value = serde_json::from_slice(&notice.payload).unwrap_or_default();
        assert_eq!(
            payload,
            serde_json::json!({"type": "approval_request", "requestId": r.id.as_str(), "agentId": null, "title": "Approval requested"})
        );
        assert_eq!(notice.ttl_secs, 300);

        let long_agent = "a".repeat(128);
        let notice = Notice::for_request(&record(Some(&long_agent)));
        let text = String::from_utf8_lossy(&notice.payload);
        assert!(notice.payload.len() < 1024, "well under the 4 KB a push may carry");
        for secret in ["secret-project", "hunter2", "482-913"] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
    }

    #[test]
    fn long_agent_ids_are_shortened_in_titles() {
        assert_eq!(shorten("bot", 48), "bot");
        assert_eq!(shorten(&"é".repeat(60), 48), format!("{}…", "é".repeat(48)));
    }
}
