//! Web Push delivery: when an agent asks, every browser its owner subscribed is told, with VAPID
//! (RFC 8292) and `aes128gcm` payload encryption (RFC 8291). Delivery runs after the request is
//! committed, in the background: a slow or failing push service never delays or fails an agent.
//!
//! Where pushes may go is [`crate::push_policy`]'s business, what they say `notice`'s, how often `pace`'s.

mod notice;
mod pace;

pub use crate::push_policy::{
    DEFAULT_PUSH_HOSTS, EndpointError, MAX_ENDPOINT_CHARS, PushPolicy, check_endpoint,
};

use crate::domain::ids::SubscriptionId;
use crate::metrics::PushResult;
use crate::store::Db;
use crate::store::api_keys::ApiKeyRecord;
use crate::store::approvals::ApprovalRecord;
use crate::store::push::PushSubscription;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use notice::{Notice, RequestNote};
use pace::{Pace, Pacer};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use std::sync::Arc;
use std::time::Duration;
use url::Url;
use web_push_native::jwt_simple::algorithms::{ECDSAP256KeyPairLike, ES256KeyPair};
use web_push_native::jwt_simple::claims::Claims;
use web_push_native::{Auth, WebPushBuilder, p256};

/// A push service that does not answer within this is given up on (for this push).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a VAPID token is valid; RFC 8292 allows at most 24 hours.
const VAPID_VALIDITY_SECS: u64 = 3600;

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
    policy: PushPolicy,
    pacer: Pacer,
    /// Deliveries by result, for `/metrics`.
    deliveries: crate::metrics::PushCounts,
}

impl PushSender {
    /// `vapid_private_b64` is the base64url raw 32-byte P-256 scalar; `subject` the VAPID contact
    /// (`mailto:` or `https:`); `interval` the least time between two request pushes to one
    /// person. Needs a rustls crypto provider installed ([`crate::app::install_tls_provider`]).
    pub fn new(
        vapid_private_b64: &str,
        subject: &str,
        policy: PushPolicy,
        interval: Duration,
    ) -> anyhow::Result<Self> {
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
            // No HTTPS_PROXY/ALL_PROXY: a proxy would make the connection to wherever the
            // endpoint names, out of reach of the public-address check below.
            .no_proxy()
            .dns_resolver(Arc::new(crate::push_policy::PublicOnly {
                allow_loopback: policy.allow_http_loopback,
            }))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the Web Push HTTP client: {e}"))?;
        Ok(Self {
            client,
            vapid_key,
            vapid_public,
            subject: subject.to_owned(),
            policy,
            pacer: Pacer::new(interval),
            deliveries: crate::metrics::PushCounts::default(),
        })
    }

    /// Deliveries so far, by result.
    pub fn deliveries(&self) -> &crate::metrics::PushCounts {
        &self.deliveries
    }

    /// Where pushes may go (checked when a browser subscribes).
    pub fn policy(&self) -> &PushPolicy {
        &self.policy
    }

    /// Tells the request owner's subscribed browsers about a new request, in the background;
    /// returns at once. At most one push per person per interval: requests in between are
    /// collapsed into one push at its end. Call only once the request is committed.
    pub fn notify_request_created(self: &Arc<Self>, db: Db, record: &ApprovalRecord) {
        let user = record.user_id.clone();
        let note = RequestNote::of(record);
        match self.pacer.offer(&user, note.clone()) {
            Pace::Now => self.spawn_delivery(db, Notice::requests(&user, &note, 1)),
            Pace::Held => {}
            Pace::At(when) => {
                let sender = Arc::clone(self);
                tokio::spawn(async move {
                    tokio::time::sleep_until(when).await;
                    if let Some((count, latest)) = sender.pacer.release(&user) {
                        sender.spawn_delivery(db, Notice::requests(&user, &latest, count));
                    }
                });
            }
        }
    }

    /// Tells the key's owner that it was suspended (not paced: it is rare and must be seen).
    pub fn notify_key_suspended(self: &Arc<Self>, db: Db, key: &ApiKeyRecord) {
        self.spawn_delivery(db, Notice::key_suspended(key));
    }

    fn spawn_delivery(self: &Arc<Self>, db: Db, notice: Notice) {
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
        let sent = self.send(sub, notice).await;
        self.deliveries.count(match &sent {
            Ok(Outcome::Delivered) => PushResult::Sent,
            Ok(Outcome::Gone) => PushResult::Gone,
            Err(_) => PushResult::Failed,
        });
        match sent {
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
        let endpoint = check_endpoint(&sub.endpoint, &self.policy)?;
        let request = self.build_request(&endpoint, sub, notice)?;
        let response = self.client.execute(request).await.map_err(without_url)?;
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
        let mut request = reqwest::Request::try_from(encrypted).map_err(without_url)?;
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

/// A reqwest error as it may be logged: reqwest's text names the whole URL, and an endpoint's
/// path is the capability to push to someone's browser.
fn without_url(e: reqwest::Error) -> anyhow::Error {
    anyhow::Error::new(e.without_url())
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
    fn the_vapid_header_names_the_endpoint_origin_with_its_port() -> anyhow::Result<()> {
        // Run alone, no other test has installed it yet.
        crate::app::install_tls_provider();
        let private = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let sender = PushSender::new(
            &private,
            "mailto:ops@example.com",
            PushPolicy::default(),
            Duration::from_secs(30),
        )?;
        let header = sender.vapid_header(&Url::parse("http://127.0.0.1:8080/push/x")?)?;
        let text = header.to_str()?;
        assert!(text.starts_with("vapid t=") && text.contains(", k="));
        let jwt = text.trim_start_matches("vapid t=").split(',').next().unwrap_or_default();
        let claims = jwt.split('.').nth(1).unwrap_or_default();
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims)?)?;
        assert_eq!(claims["aud"], "http://127.0.0.1:8080");
        assert_eq!(claims["sub"], "mailto:ops@example.com");
        Ok(())
    }
}
