//! Decisions and new requests, announced inside this instance as they happen, so that pages and
//! waiting agents learn of them at once instead of polling the database.
//!
//! Two ways to listen: a broadcast of every event (the web app filters by person), and a waiter
//! for one request (long-polling agents). A waiter costs one small map entry and a parked future:
//! thousands of agents can wait at once without a task spinning or a query in a loop.

use crate::domain::approval::Status;
use crate::domain::ids::{ApiKeyId, RequestId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{Notify, broadcast, watch};

/// How many events a slow listener may fall behind before it is told to resynchronise.
const BACKLOG: usize = 1024;

/// A request was created or changed status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalEvent {
    pub user_id: UserId,
    pub api_key_id: ApiKeyId,
    pub request_id: RequestId,
    pub status: Status,
}

impl ApprovalEvent {
    /// The event as sent between instances (PostgreSQL NOTIFY payload), tagged with the sender.
    pub fn to_wire(&self, instance: &str) -> String {
        serde_json::json!({
            "instance": instance,
            "userId": self.user_id.as_str(),
            "apiKeyId": self.api_key_id.as_str(),
            "requestId": self.request_id.as_str(),
            "status": self.status.as_str(),
        })
        .to_string()
    }

    /// An event another instance sent, with its sender; `None` for anything malformed.
    pub fn from_wire(payload: &str) -> Option<(String, Self)> {
        let v: serde_json::Value = serde_json::from_str(payload).ok()?;
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let event = ApprovalEvent {
            user_id: UserId::parse(&text("userId")?)?,
            api_key_id: ApiKeyId::parse(&text("apiKeyId")?)?,
            request_id: RequestId::parse(&text("requestId")?)?,
            status: Status::parse(&text("status")?)?,
        };
        Some((text("instance")?, event))
    }
}

pub struct Events {
    tx: broadcast::Sender<ApprovalEvent>,
    /// Per request, the wake-up shared by everyone waiting on it; gone with the last of them.
    waiting: Mutex<HashMap<RequestId, Weak<Notify>>>,
    /// Flips to true when the server shuts down: long waits and streams end at once.
    closing: watch::Sender<bool>,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
            waiting: Mutex::new(HashMap::new()),
            closing: watch::channel(false).0,
        }
    }
}

/// Held by whoever waits on one request. Create it *before* reading the request's status, then
/// await [`Waiter::changed`]: a change in between is not missed.
pub struct Waiter<'a> {
    events: &'a Events,
    request_id: RequestId,
    notify: Arc<Notify>,
}

impl Events {
    /// Tells every listener; nobody listening is fine.
    pub fn publish(&self, event: ApprovalEvent) {
        let notify = self.lock_waiting().get(&event.request_id).and_then(Weak::upgrade);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ApprovalEvent> {
        self.tx.subscribe()
    }

    /// Registers interest in one request.
    pub fn waiter(&self, request_id: &RequestId) -> Waiter<'_> {
        let mut waiting = self.lock_waiting();
        let notify = match waiting.get(request_id).and_then(Weak::upgrade) {
            Some(n) => n,
            None => {
                let n = Arc::new(Notify::new());
                waiting.insert(request_id.clone(), Arc::downgrade(&n));
                n
            }
        };
        Waiter { events: self, request_id: request_id.clone(), notify }
    }

    /// How many requests someone is waiting on (for tests and metrics).
    pub fn waited_on(&self) -> usize {
        self.lock_waiting().len()
    }

    /// Ends every wait and stream: the server is shutting down.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn is_closed(&self) -> bool {
        *self.closing.borrow()
    }

    /// Resolves once [`Events::close`] was called (at once if it already was).
    pub async fn closed(&self) {
        let mut rx = self.closing.subscribe();
        let _ = rx.wait_for(|closing| *closing).await;
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, HashMap<RequestId, Weak<Notify>>> {
        // The map stays consistent even if a holder panicked: entries are only added or removed.
        self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Waiter<'_> {
    /// A future that resolves at the next event for this request. Enable it (see
    /// `tokio::sync::futures::Notified::enable`) before reading the status to close the gap.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut waiting = self.events.lock_waiting();
        // Ours plus the map's weak reference: when we are the last strong holder, forget the entry.
        if Arc::strong_count(&self.notify) == 1 {
            waiting.remove(&self.request_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &RequestId, status: Status) -> ApprovalEvent {
        ApprovalEvent {
            user_id: UserId::generate(),
            api_key_id: ApiKeyId::generate(),
            request_id: id.clone(),
            status,
        }
    }

    #[tokio::test]
    async fn a_waiter_wakes_on_its_request_only_and_is_forgotten_when_dropped() {
        let events = Events::default();
        let (mine, other) = (RequestId::generate(), RequestId::generate());
        let waiter = events.waiter(&mine);
        let second = events.waiter(&mine);
        assert_eq!(events.waited_on(), 1, "one entry per request, however many wait");
        {
            let changed = waiter.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            events.publish(event(&other, Status::Approved));
            assert!(
                futures::poll!(changed.as_mut()).is_pending(),
                "another request's event does not wake it"
            );
            // Published between registering and awaiting: not missed.
            events.publish(event(&mine, Status::Denied));
            changed.await;
        }
        drop(waiter);
        assert_eq!(events.waited_on(), 1);
        drop(second);
        assert_eq!(events.waited_on(), 0, "no waiter, no memory");
    }

    #[test]
    fn events_cross_instances_intact() {
        let e = event(&RequestId::generate(), Status::Approved);
        assert_eq!(ApprovalEvent::from_wire(&e.to_wire("a")), Some(("a".to_owned(), e)));
        assert_eq!(ApprovalEvent::from_wire("{\"userId\":\"x\"}"), None);
        assert_eq!(ApprovalEvent::from_wire("not json"), None);
    }

    #[tokio::test]
    async fn close_ends_waits_even_for_late_listeners() {
        let events = Events::default();
        events.close();
        events.closed().await;
    }
}
