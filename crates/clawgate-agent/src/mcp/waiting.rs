//! A call that waits for the person: the wait itself, progress notifications while it lasts, and
//! a client error in words. Shared by the asking tools and `gate_tool_call`.

use super::Outbox;
use super::answer::{Answer, Asked};
use clawgate_client::{Client, Error};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How often a waiting call tells a client that asked for progress that it is still waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// Progress notifications for a call whose client sent `_meta.progressToken`.
pub struct Progress {
    pub token: Option<Value>,
    pub out: Outbox,
}

impl Progress {
    fn send(&self, progress: f64, total: f64, message: String) {
        if let Some(token) = &self.token {
            let params =
                json!({ "progressToken": token, "progress": progress, "total": total, "message": message });
            let _ = self
                .out
                .send(json!({ "jsonrpc": "2.0", "method": "notifications/progress", "params": params }));
        }
    }
}

/// Waits for the decision (long-polling the server), telling a client that asked for progress
/// at once, and then every few seconds, the request's binding code and approve page.
pub(super) async fn waited(client: &Client, asked: Asked<'_>, wait: Duration, progress: &Progress) -> Answer {
    let started = Instant::now();
    let id = asked.id;
    let decision = client.wait(id, wait, |_| {});
    tokio::pin!(decision);
    // The first tick is at once: the code and the page reach the client before anyone decides.
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let result = loop {
        tokio::select! {
            result = &mut decision => break result,
            _ = tick.tick() => progress.send(
                started.elapsed().as_secs_f64().round(),
                wait.as_secs_f64(),
                format!("waiting for the person to approve or deny request {id}{}", asked.words()),
            ),
        }
    };
    match result {
        Ok(view) => {
            tracing::info!(request_id = %id, status = %view.status, "decided");
            Answer::decided(&view, Some(asked), false)
        }
        Err(Error::TimedOut(view)) => Answer::decided(&view, Some(asked), true),
        Err(e) => Answer::failure(words(&e)),
    }
}

/// A client error in words, with its causes ("connection refused" is what helps).
pub(super) fn words(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = cause.source();
    }
    if matches!(e, Error::Transport { .. }) {
        text.push_str(". Is the clawgate server running, and is CLAWGATE_URL right?");
    }
    text
}
