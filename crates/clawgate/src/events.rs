//! Decisions and new requests, announced inside this instance as they happen, so that pages and
//! waiting agents learn of them at once instead of polling the database.
//!
//! Two ways to listen: a broadcast of every event (the web app filters by person), and waiters
//! for one request or one API key (long-polling agents and their streams). A waiter costs one
//! small map entry and a parked future: thousands of agents can wait at once without a task
//! spinning or a query in a loop.

use crate::domain::approval::Status;
use crate::domain::decided::{DeciderKind, Verdict};
use crate::domain::ids::{ApiKeyId, DecisionId, RequestId, UserId};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tokio::sync::{Notify, broadcast, watch};

/// The PostgreSQL NOTIFY channel instances tell each other of decisions on.
pub const EVENTS_CHANNEL: &str = "clawgate_events";
/// The channel instances tell each other that an API key was revoked or suspended on. A channel
/// of its own: instances from before it existed do not listen there, and the decision channel's
/// payloads stay as they were.
pub const KEY_EVENTS_CHANNEL: &str = "clawgate_key_events";
/// The channel `clawgate keys revoke` tells every instance on to reload its signing keys at once
/// (payload `{"instance", "revoked": kid}`; any message means "reload").
pub const SIGNING_KEYS_CHANNEL: &str = "clawgate_signing_keys";
/// The channel instances tell each other of the gate's own decisions on (a rule's or a grant's),
/// for the person's list of decisions. A channel of its own, like the key events': instances from
/// before it existed never listen there, and the request channel's payloads stay as they were.
pub const DECISION_EVENTS_CHANNEL: &str = "clawgate_decision_events";
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

/// The gate decided a call alone (by a rule or a standing grant): nobody waits on it, but the
/// person's list of decisions shows it at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionEvent {
    pub user_id: UserId,
    pub api_key_id: ApiKeyId,
    pub decision_id: DecisionId,
    /// `Allow` or `Deny`.
    pub outcome: Verdict,
    /// `Rule` or `Grant`.
    pub decided_by: DeciderKind,
}

impl DecisionEvent {
    /// The event as sent between instances, on [`DECISION_EVENTS_CHANNEL`].
    pub fn to_wire(&self, instance: &str) -> String {
        serde_json::json!({
            "instance": instance,
            "userId": self.user_id.as_str(),
            "apiKeyId": self.api_key_id.as_str(),
            "decisionId": self.decision_id.as_str(),
            "outcome": self.outcome.as_str(),
            "decidedBy": self.decided_by.as_str(),
        })
        .to_string()
    }

    /// An event another instance sent, with its sender; `None` for anything malformed.
    pub fn from_wire(payload: &str) -> Option<(String, Self)> {
        let v: serde_json::Value = serde_json::from_str(payload).ok()?;
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let event = DecisionEvent {
            user_id: UserId::parse(&text("userId")?)?,
            api_key_id: ApiKeyId::parse(&text("apiKeyId")?)?,
            decision_id: DecisionId::parse(&text("decisionId")?)?,
            outcome: Verdict::parse(&text("outcome")?)?,
            decided_by: DeciderKind::parse(&text("decidedBy")?)?,
        };
        Some((text("instance")?, event))
    }
}

/// An API key stopped being usable (revoked or suspended). Whoever waits with it must re-check it
/// now rather than at the end of its wait, so that no token reaches it afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    pub api_key_id: ApiKeyId,
    /// `revoked` or `suspended`: for logs; the waiters re-read the key's state either way.
    pub change: &'static str,
}

impl KeyEvent {
    pub fn revoked(api_key_id: ApiKeyId) -> Self {
        Self { api_key_id, change: "revoked" }
    }

    pub fn suspended(api_key_id: ApiKeyId) -> Self {
        Self { api_key_id, change: "suspended" }
    }

    /// The event as sent between instances, on a channel of its own (see [`KEY_EVENTS_CHANNEL`]):
    /// instances that predate it never listen there, so the decision channel's format is unchanged.
    pub fn to_wire(&self, instance: &str) -> String {
        serde_json::json!({ "instance": instance, "apiKeyId": self.api_key_id.as_str(), "change": self.change })
            .to_string()
    }

    /// An event another instance sent, with its sender; `None` for anything malformed.
    pub fn from_wire(payload: &str) -> Option<(String, Self)> {
        let v: serde_json::Value = serde_json::from_str(payload).ok()?;
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let api_key_id = ApiKeyId::parse(&text("apiKeyId")?)?;
        let event = match text("change")?.as_str() {
            "revoked" => Self::revoked(api_key_id),
            "suspended" => Self::suspended(api_key_id),
            _ => return None,
        };
        Some((text("instance")?, event))
    }
}

pub struct Events {
    tx: broadcast::Sender<ApprovalEvent>,
    /// The gate's own decisions: a channel apart, so listeners of requests see what they always saw.
    decisions: broadcast::Sender<DecisionEvent>,
    /// Per request, the wake-up shared by everyone waiting on it.
    requests: Waiters<RequestId>,
    /// Per API key, the wake-up shared by everyone waiting with it (told when it stops working).
    keys: Waiters<ApiKeyId>,
    /// Flips to true when the server shuts down: long waits and streams end at once.
    closing: watch::Sender<bool>,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
            decisions: broadcast::channel(BACKLOG).0,
            requests: Waiters::default(),
            keys: Waiters::default(),
            closing: watch::channel(false).0,
        }
    }
}

/// Wake-ups by key (a request id, an API key id): one entry per key however many wait, gone with
/// the last of them.
struct Waiters<K> {
    map: Mutex<HashMap<K, Weak<Notify>>>,
}

impl<K> Default for Waiters<K> {
    fn default() -> Self {
        Self { map: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash + Clone> Waiters<K> {
    fn join(&self, key: &K) -> Waiter<'_, K> {
        let mut map = self.lock();
        let notify = match map.get(key).and_then(Weak::upgrade) {
            Some(n) => n,
            None => {
                let n = Arc::new(Notify::new());
                map.insert(key.clone(), Arc::downgrade(&n));
                n
            }
        };
        Waiter { waiters: self, key: key.clone(), notify }
    }

    fn wake(&self, key: &K) {
        let notify = self.lock().get(key).and_then(Weak::upgrade);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
        // The last waiter may have left while a wake-up held the entry (it then left it in place).
        self.forget_if_unused(key);
    }

    /// Entries someone still waits on.
    fn len(&self) -> usize {
        self.lock().values().filter(|w| w.strong_count() > 0).count()
    }

    fn wake_all(&self) {
        let all: Vec<_> = self.lock().values().filter_map(Weak::upgrade).collect();
        for notify in &all {
            notify.notify_waiters();
        }
        drop(all);
        self.lock().retain(|_, w| w.strong_count() > 0);
    }

    /// Removes `key`'s entry if nobody waits on it any more. A waiter removes its entry when it
    /// leaves last, but not while a wake-up holds the entry for a moment: the wake-up removes it
    /// here after, so no entry outlives its waiters.
    fn forget_if_unused(&self, key: &K) {
        let mut map = self.lock();
        if map.get(key).is_some_and(|w| w.strong_count() == 0) {
            map.remove(key);
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Weak<Notify>>> {
        // The map stays consistent even if a holder panicked: entries are only added or removed.
        self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Held by whoever waits on one request (or with one key). Create it *before* reading the
/// state, then await [`Waiter::changed`]: a change in between is not missed.
pub struct Waiter<'a, K: Eq + Hash + Clone = RequestId> {
    waiters: &'a Waiters<K>,
    key: K,
    notify: Arc<Notify>,
}

impl Events {
    /// Tells every listener; nobody listening is fine.
    pub fn publish(&self, event: ApprovalEvent) {
        self.requests.wake(&event.request_id);
        let _ = self.tx.send(event);
    }

    /// Wakes every waiter, to re-read what it waits on: events may have been missed (the
    /// connection that hears other instances was lost).
    pub fn wake_all(&self) {
        self.requests.wake_all();
        self.keys.wake_all();
    }

    /// Wakes everyone waiting with this key: it was revoked or suspended.
    pub fn publish_key(&self, event: &KeyEvent) {
        self.keys.wake(&event.api_key_id);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ApprovalEvent> {
        self.tx.subscribe()
    }

    /// Tells the listeners of the gate's decisions; nobody listening is fine.
    pub fn publish_decision(&self, event: DecisionEvent) {
        let _ = self.decisions.send(event);
    }

    pub fn subscribe_decisions(&self) -> broadcast::Receiver<DecisionEvent> {
        self.decisions.subscribe()
    }

    /// Registers interest in one request.
    pub fn waiter(&self, request_id: &RequestId) -> Waiter<'_> {
        self.requests.join(request_id)
    }

    /// Registers interest in one API key: woken when it is revoked or suspended.
    pub fn key_waiter(&self, api_key_id: &ApiKeyId) -> Waiter<'_, ApiKeyId> {
        self.keys.join(api_key_id)
    }

    /// How many requests someone is waiting on (for tests and metrics).
    pub fn waited_on(&self) -> usize {
        self.requests.len()
    }

    /// How many API keys someone is waiting with (for tests and metrics).
    pub fn keys_waited_with(&self) -> usize {
        self.keys.len()
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
}

impl<K: Eq + Hash + Clone> Waiter<'_, K> {
    /// A future that resolves at the next event for this request (or key). Enable it (see
    /// `tokio::sync::futures::Notified::enable`) before reading the state to close the gap.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

impl<K: Eq + Hash + Clone> Drop for Waiter<'_, K> {
    fn drop(&mut self) {
        let mut map = self.waiters.lock();
        // Ours plus the map's weak reference: when we are the last strong holder, forget the entry.
        if Arc::strong_count(&self.notify) == 1 {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_waiter_that_leaves_during_a_wake_up_leaves_no_entry_behind() {
        let events = Events::default();
        let request = RequestId::generate();
        let waiter = events.waiter(&request);
        // What a wake-up holds while it notifies: the waiter leaving then cannot remove the entry.
        let held = events.requests.lock().get(&request).and_then(Weak::upgrade);
        drop(waiter);
        drop(held);
        assert_eq!(events.requests.lock().len(), 1, "the entry outlived its waiter");
        assert_eq!(events.waited_on(), 0, "but nobody is counted as waiting");
        events.publish(ApprovalEvent {
            user_id: UserId::generate(),
            api_key_id: ApiKeyId::generate(),
            request_id: request.clone(),
            status: crate::domain::approval::Status::Denied,
        });
        assert!(events.requests.lock().is_empty(), "the next wake-up removed the entry");
    }

    #[tokio::test]
    async fn wake_all_wakes_every_request_and_key_waiter() {
        let events = Events::default();
        let (request, key) = (RequestId::generate(), ApiKeyId::generate());
        let (on_request, with_key) = (events.waiter(&request), events.key_waiter(&key));
        let (a, b) = (on_request.changed(), with_key.changed());
        tokio::pin!(a, b);
        a.as_mut().enable();
        b.as_mut().enable();
        events.wake_all();
        let both = async { tokio::join!(a, b) };
        assert!(tokio::time::timeout(Duration::from_secs(5), both).await.is_ok(), "both woke");
    }

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
    async fn a_key_waiter_wakes_on_its_key_only() {
        let events = Events::default();
        let (mine, other) = (ApiKeyId::generate(), ApiKeyId::generate());
        let waiter = events.key_waiter(&mine);
        assert_eq!(events.keys_waited_with(), 1);
        {
            let changed = waiter.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            events.publish_key(&KeyEvent::revoked(other));
            events.publish(event(&RequestId::generate(), Status::Approved));
            assert!(futures::poll!(changed.as_mut()).is_pending(), "other keys and requests do not wake it");
            events.publish_key(&KeyEvent::suspended(mine.clone()));
            tokio::time::timeout(Duration::from_secs(5), changed).await.expect("woken by its key's event");
        }
        drop(waiter);
        assert_eq!(events.keys_waited_with(), 0, "no waiter, no memory");
    }

    #[test]
    fn key_events_cross_instances_intact() {
        for e in [KeyEvent::revoked(ApiKeyId::generate()), KeyEvent::suspended(ApiKeyId::generate())] {
            assert_eq!(KeyEvent::from_wire(&e.to_wire("b")), Some(("b".to_owned(), e)));
        }
        let unknown = r#"{"instance":"b","apiKeyId":"key_x","change":"renamed"}"#;
        assert_eq!(KeyEvent::from_wire(unknown), None);
        // A decision is not a key event, nor the other way round.
        let decision = event(&RequestId::generate(), Status::Denied).to_wire("a");
        assert_eq!(KeyEvent::from_wire(&decision), None);
        assert_eq!(ApprovalEvent::from_wire(&KeyEvent::revoked(ApiKeyId::generate()).to_wire("a")), None);
    }

    #[test]
    fn decision_events_cross_instances_intact_and_apart() {
        let e = DecisionEvent {
            user_id: UserId::generate(),
            api_key_id: ApiKeyId::generate(),
            decision_id: DecisionId::generate(),
            outcome: Verdict::Allow,
            decided_by: DeciderKind::Grant,
        };
        assert_eq!(DecisionEvent::from_wire(&e.to_wire("c")), Some(("c".to_owned(), e.clone())));
        // What an instance from before it reads on the request channel, were it sent there: nothing.
        assert_eq!(ApprovalEvent::from_wire(&e.to_wire("c")), None);
        assert_eq!(
            DecisionEvent::from_wire(&event(&RequestId::generate(), Status::Denied).to_wire("a")),
            None
        );
    }

    #[tokio::test]
    async fn close_ends_waits_even_for_late_listeners() {
        let events = Events::default();
        assert!(!events.is_closed());
        // A wait that began before the close: polled once, so it is parked on the signal.
        let early = events.closed();
        tokio::pin!(early);
        assert!(futures::poll!(early.as_mut()).is_pending(), "nothing ends a wait before close");
        events.close();
        assert!(events.is_closed());
        let bounded = Duration::from_secs(5);
        tokio::time::timeout(bounded, early).await.expect("a wait begun before the close ends");
        tokio::time::timeout(bounded, events.closed())
            .await
            .expect("a wait begun after the close ends at once");
    }
}
