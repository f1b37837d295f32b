//! Who the scenarios act as: one person with a passkey (a software one) and a session, and the
//! agent keys they create. Requests made here go through reqwest: setup, not measurement.

use crate::server::Server;
use anyhow::Context;
use clawgate_testkit::SoftKey;
use serde_json::{Value, json};

pub struct Actors {
    pub session: String,
    passkey: tokio::sync::Mutex<SoftKey>,
}

pub async fn post(http: &reqwest::Client, url: String, bearer: &str, body: Value) -> anyhow::Result<Value> {
    send(http.post(&url).json(&body), &url, bearer).await
}

pub async fn get(http: &reqwest::Client, url: String, bearer: &str) -> anyhow::Result<Value> {
    send(http.get(&url), &url, bearer).await
}

/// Sends with the bearer (if any); the JSON body of a 2xx answer, an error naming the URL otherwise.
async fn send(mut req: reqwest::RequestBuilder, url: &str, bearer: &str) -> anyhow::Result<Value> {
    if !bearer.is_empty() {
        req = req.bearer_auth(bearer);
    }
    let r = req.send().await?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
    Ok(body)
}

pub fn text(v: &Value, key: &str) -> anyhow::Result<String> {
    v[key].as_str().map(str::to_owned).with_context(|| format!("no `{key}` in {v}"))
}

impl Actors {
    /// Signs up, registers a passkey and keeps the passkey session.
    pub async fn set_up(server: &Server) -> anyhow::Result<Self> {
        let http = &server.http;
        let reg =
            post(http, server.url("/api/v1/auth/register"), "", json!({ "email": "bench@example.com" }))
                .await?;
        let email_session = text(&reg, "token")?;
        let start =
            post(http, server.url("/api/v1/passkey/register/start"), &email_session, json!({})).await?;
        let mut key = SoftKey::new(&server.origin);
        let credential = key.create(&start["publicKey"]).await;
        let body = json!({ "ceremonyId": start["ceremonyId"], "credential": credential });
        let done = post(http, server.url("/api/v1/passkey/register/complete"), &email_session, body).await?;
        Ok(Self { session: text(&done, "token")?, passkey: tokio::sync::Mutex::new(key) })
    }

    /// A new agent key.
    pub async fn key(&self, server: &Server, name: &str) -> anyhow::Result<String> {
        let created =
            post(&server.http, server.url("/api/v1/auth/api-keys"), &self.session, json!({ "name": name }))
                .await?;
        text(&created, "key")
    }

    /// Approves a request with the passkey (a whole ceremony; one signature at a time).
    pub async fn approve(&self, server: &Server, id: &str) -> anyhow::Result<()> {
        let start = post(
            &server.http,
            server.url("/api/v1/passkey/authenticate/start"),
            "",
            json!({ "requestId": id }),
        )
        .await?;
        let credential = self.passkey.lock().await.get(&start["publicKey"]).await;
        let body = json!({ "ceremonyId": start["ceremonyId"], "credential": credential });
        post(&server.http, server.url(&format!("/api/v1/approval/approve/{id}")), "", body).await?;
        Ok(())
    }

    pub async fn deny(&self, server: &Server, id: &str) -> anyhow::Result<()> {
        let url = server.url(&format!("/api/v1/approval/deny/{id}"));
        post(&server.http, url, &self.session, json!({})).await.map(drop)
    }
}

/// An agent asks; the request's id.
pub async fn ask(server: &Server, api_key: &str, action: &str) -> anyhow::Result<String> {
    let url = server.url("/api/v1/approval/request");
    let r = post(&server.http, url, api_key, json!({ "action": action })).await?;
    text(&r, "requestId")
}

/// `n` requests asked with `api_key`, 32 at a time; their ids in order.
pub async fn ask_many(server: &Server, api_key: &str, n: usize, label: &str) -> anyhow::Result<Vec<String>> {
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter(0..n)
        .map(|i| async move { ask(server, api_key, &format!("{label} {i}")).await })
        .buffered(32)
        .try_collect()
        .await
}
