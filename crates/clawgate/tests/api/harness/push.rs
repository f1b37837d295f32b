//! A push service inside the test: it takes Web Push POSTs on loopback, decrypts each with the
//! browser's key (RFC 8291, `web_push_native::decrypt`) and hands over what the browser would
//! have shown. No Python needed, so these tests always run.
//!
//! And a push subscription for an endpoint that is never pushed to.

use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;
use web_push_native::p256::SecretKey;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

/// The longest a test waits for a push.
pub const WAIT: Duration = Duration::from_secs(30);

/// One push as it arrived: the endpoint path it was sent to and its decrypted JSON payload.
pub struct Push {
    pub path: String,
    pub payload: Value,
}

pub struct PushService {
    pub port: u16,
    secret: SecretKey,
    auth: [u8; 16],
    pushes: mpsc::UnboundedReceiver<Push>,
    task: tokio::task::JoinHandle<()>,
}

impl PushService {
    pub async fn start() -> Self {
        // A fixed browser key: what matters is that only its holder can read the push.
        let secret = SecretKey::from_slice(&[0x42; 32]).expect("a P-256 scalar");
        let auth = [9u8; 16];
        let (tx, pushes) = mpsc::unbounded_channel();
        let (key, auth_secret) = (secret.clone(), web_push_native::Auth::from(auth));
        let app = axum::Router::new().fallback(move |uri: Uri, body: Bytes| {
            let (tx, key, auth_secret) = (tx.clone(), key.clone(), auth_secret);
            async move {
                let Ok(clear) = web_push_native::decrypt(body.to_vec(), &key, &auth_secret) else {
                    return StatusCode::BAD_REQUEST;
                };
                let payload = serde_json::from_slice(&clear).unwrap_or(Value::Null);
                let _ = tx.send(Push { path: uri.path().to_owned(), payload });
                StatusCode::CREATED
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { port, secret, auth, pushes, task }
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A browser's `PushSubscription` JSON for `endpoint`, with this service's browser keys.
    pub fn subscription(&self, endpoint: &str) -> Value {
        let point = self.secret.public_key().to_encoded_point(false);
        json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": { "p256dh": URL_SAFE_NO_PAD.encode(point.as_bytes()), "auth": URL_SAFE_NO_PAD.encode(self.auth) },
        })
    }

    /// The next push whose payload `type` is `kind` (others are skipped), within [`WAIT`].
    pub async fn next_of(&mut self, kind: &str) -> Push {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.pushes.recv()).await {
                Ok(Some(push)) if push.payload["type"] == kind => return push,
                Ok(Some(_)) => {}
                Ok(None) => panic!("the push service stopped"),
                Err(_) => panic!("no `{kind}` push within {WAIT:?}"),
            }
        }
    }
}

impl Drop for PushService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A subscription for `endpoint` that is never pushed to: keys of the right lengths only.
pub fn subscription(endpoint: &str, key_byte: u8) -> Value {
    // A valid P-256 point is not checked at subscription time beyond its length; the server
    // only needs 65 and 16 bytes here (nothing is sent: these endpoints are never pushed to).
    let p256dh = base64_url(&[vec![4u8], vec![key_byte; 64]].concat());
    json!({ "endpoint": endpoint, "expirationTime": null, "keys": { "p256dh": p256dh, "auth": base64_url(&[key_byte; 16]) } })
}

/// Base64url without padding, as browsers write push keys.
pub fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
