//! Agents waiting without polling: until a server has parked a number of waits, and a request's
//! event stream (Server-Sent Events) as `(event name, data)` pairs.

use crate::harness::TestApp;
use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Until `app` has `n` requests being waited on (the waits are parked), bounded.
pub async fn until_waiting(app: &TestApp, n: usize) {
    let started = Instant::now();
    while app.state.events.waited_on() != n {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the waits never parked ({} of {n})",
            app.state.events.waited_on()
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub(crate) type Events = std::pin::Pin<Box<dyn Stream<Item = (String, Value)> + Send>>;

/// A Server-Sent Events answer (which must be 200) as `(event name, data)` pairs. An agent's
/// status stream is held to the wire contract as its answers are: each `status` event is a
/// `StatusView`, each `error` event an `ErrorBody`.
pub(crate) fn sse_events(response: reqwest::Response) -> Events {
    assert_eq!(response.status().as_u16(), 200);
    let chunks = response.bytes_stream().map(|c| String::from_utf8_lossy(&c.expect("chunk")).into_owned());
    let mut buffer = String::new();
    Box::pin(chunks.flat_map(move |text| {
        buffer.push_str(&text);
        let mut found = Vec::new();
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
            if let Some(data) = field("data:") {
                let event = field("event:").unwrap_or("message").to_owned();
                let data: Value = serde_json::from_str(data).expect("JSON data");
                let wire_type = match event.as_str() {
                    "status" => Some("StatusView"),
                    "error" => Some("ErrorBody"),
                    _ => None,
                };
                if let Some(Err(e)) = wire_type.map(|t| crate::contract::read_as_wire_type(t, &data)) {
                    panic!("contract: a `{event}` event: {e}\ndata: {data}");
                }
                found.push((event, data));
            }
        }
        futures::stream::iter(found)
    }))
}

/// Opens the request's event stream: `(event name, data)` pairs, after checking the first is
/// the PENDING status.
pub(crate) async fn open_stream(app: &TestApp, key: &str, id: &str) -> Events {
    let response = app
        .http
        .get(app.url(&format!("/api/v1/approval/status/{id}/events")))
        .bearer_auth(key)
        .send()
        .await
        .expect("stream");
    let mut events = sse_events(response);
    let (event, first) = events.next().await.expect("a first event");
    assert_eq!((event.as_str(), &first["status"]), ("status", &json!("PENDING")));
    events
}
