//! Metrics in the Prometheus text format, served at `/metrics` on METRICS_ADDR only (by
//! `crate::server::metrics`, so this module names nothing above it). Everything recorded on a request's path is a relaxed atomic add: no lock held
//! across an await, no allocation once a series exists.
//!
//! What one part of the server owns, it counts itself: the database handle its commits
//! ([`StoreStats`]), the push sender its deliveries ([`PushCounts`]); [`Metrics`] counts the rest
//! and a scrape reads them all.

pub mod histogram;
pub mod http;
pub mod text;

use histogram::{BATCH_SIZES, COMMIT_SECONDS, Histogram};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use text::{Encoder, Kind};

/// This instance's counters that no other part owns.
#[derive(Default)]
pub struct Metrics {
    pub http: http::HttpMetrics,
    decisions: [AtomicU64; Decision::ALL.len()],
    waiting: AtomicI64,
}

/// A decision of a request or a gate call: its outcome and who made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approved by the person with a passkey.
    ApprovedByPasskey,
    /// A gate call the person's rules allowed.
    ApprovedByRule,
    /// A gate call a standing grant allowed.
    ApprovedByGrant,
    /// Denied by the person.
    DeniedByPerson,
    /// A gate call the person's rules denied.
    DeniedByRule,
    /// Denied by the kill switch.
    DeniedByStop,
    /// Nobody decided in time.
    Expired,
}

impl Decision {
    const ALL: [Decision; 7] = [
        Decision::ApprovedByPasskey,
        Decision::ApprovedByRule,
        Decision::ApprovedByGrant,
        Decision::DeniedByPerson,
        Decision::DeniedByRule,
        Decision::DeniedByStop,
        Decision::Expired,
    ];

    /// `(outcome, decided_by)`.
    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Decision::ApprovedByPasskey => ("approved", "passkey"),
            Decision::ApprovedByRule => ("approved", "rule"),
            Decision::ApprovedByGrant => ("approved", "grant"),
            Decision::DeniedByPerson => ("denied", "person"),
            Decision::DeniedByRule => ("denied", "rule"),
            Decision::DeniedByStop => ("denied", "stop"),
            Decision::Expired => ("expired", "expiry"),
        }
    }

    fn index(self) -> usize {
        Decision::ALL.iter().position(|d| *d == self).unwrap_or(0)
    }
}

/// Held while an agent waits for a change (a `?wait=` long poll, a status stream, a gate call
/// that asks): counts it in `clawgate_waiting_agents`.
pub struct Waiting<'a>(&'a AtomicI64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Counts `n` decisions of one kind (the kill switch denies many at once).
    pub fn decided(&self, decision: Decision, n: u64) {
        if let Some(c) = self.decisions.get(decision.index()) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// An agent starts waiting; it stops when the guard is dropped.
    pub fn waiting(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(&self.waiting)
    }

    fn encode(&self, e: &mut Encoder) {
        self.http.encode(e);
        e.family(
            "clawgate_decisions_total",
            Kind::Counter,
            "Requests and gate calls decided on this instance, by outcome (approved, denied, expired) and by \
             who decided (passkey, person, rule, grant, stop, expiry).",
        );
        for d in Decision::ALL {
            let (outcome, by) = d.labels();
            let n = self.decisions.get(d.index()).map_or(0, |c| c.load(Ordering::Relaxed));
            e.sample("clawgate_decisions_total", &[("outcome", outcome), ("decided_by", by)], n);
        }
        e.family(
            "clawgate_waiting_agents",
            Kind::Gauge,
            "Agents waiting on this instance for a request to change: ?wait= long polls, status event \
             streams and gate calls that ask.",
        );
        e.sample("clawgate_waiting_agents", &[], self.waiting.load(Ordering::Relaxed));
    }
}

/// How one Web Push delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushResult {
    /// The push service accepted it.
    Sent,
    /// The subscription is gone (404 or 410) and was removed.
    Gone,
    /// Refused, failed or timed out.
    Failed,
}

impl PushResult {
    const ALL: [PushResult; 3] = [PushResult::Sent, PushResult::Gone, PushResult::Failed];

    fn label(self) -> &'static str {
        match self {
            PushResult::Sent => "sent",
            PushResult::Gone => "gone",
            PushResult::Failed => "failed",
        }
    }
}

/// Web Push deliveries by result, kept by the push sender.
#[derive(Debug, Default)]
pub struct PushCounts([AtomicU64; 3]);

impl PushCounts {
    pub fn count(&self, result: PushResult) {
        let i = PushResult::ALL.iter().position(|r| *r == result).unwrap_or(0);
        if let Some(c) = self.0.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn encode(&self, e: &mut Encoder) {
        e.family(
            "clawgate_push_deliveries_total",
            Kind::Counter,
            "Web Push messages sent to browsers' push services, by result (sent, gone, failed).",
        );
        for (r, c) in PushResult::ALL.iter().zip(&self.0) {
            e.sample("clawgate_push_deliveries_total", &[("result", r.label())], c.load(Ordering::Relaxed));
        }
    }
}

/// Write transactions, kept by the database handle: how many writes each commit carried (SQLite's
/// one writer groups them; on PostgreSQL each write is a transaction of its own) and how long
/// the commit took.
#[derive(Debug)]
pub struct StoreStats {
    batch_size: Histogram,
    commit: Histogram,
}

impl Default for StoreStats {
    fn default() -> Self {
        Self { batch_size: Histogram::sizes(BATCH_SIZES), commit: Histogram::seconds(COMMIT_SECONDS) }
    }
}

impl StoreStats {
    /// A transaction of `writes` writes was committed (or its commit failed) after `took`.
    pub fn committed(&self, writes: usize, took: Duration) {
        self.batch_size.observe(u64::try_from(writes).unwrap_or(u64::MAX));
        self.commit.observe_duration(took);
    }

    fn encode(&self, e: &mut Encoder) {
        e.family(
            "clawgate_store_batch_size",
            Kind::Histogram,
            "Writes per database transaction (SQLite groups concurrent writes into one commit; PostgreSQL \
             commits each alone; its one-statement creates are not counted).",
        );
        self.batch_size.encode(e, "clawgate_store_batch_size", &[]);
        e.family("clawgate_store_commit_seconds", Kind::Histogram, "Time a write transaction's COMMIT took.");
        self.commit.encode(e, "clawgate_store_commit_seconds", &[]);
    }
}

/// The whole text of one scrape. `pending` is `None` when it could not be read.
pub fn render(metrics: &Metrics, store: &StoreStats, push: &PushCounts, pending: Option<i64>) -> String {
    let mut e = Encoder::default();
    e.family("clawgate_build_info", Kind::Gauge, "Always 1; the labels say which clawgate this is.");
    e.sample("clawgate_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1u64);
    metrics.encode(&mut e);
    if let Some(n) = pending {
        e.family(
            "clawgate_pending_requests",
            Kind::Gauge,
            "Requests waiting for a decision and not yet lapsed, in the database (every instance's).",
        );
        e.sample("clawgate_pending_requests", &[], n);
    }
    push.encode(&mut e);
    store.encode(&mut e);
    e.finish()
}
