//! Requests by route template, method and status, and their durations by route, recorded by a
//! layer around every route. The route is axum's matched template (`/api/v1/approval/status/{id}`),
//! never the path as sent: ids do not make new series.

use super::Metrics;
use super::histogram::{Histogram, REQUEST_SECONDS};
use super::text::{Encoder, Kind};
use axum::extract::MatchedPath;
use axum::http::{Method, Request};
use axum::response::Response;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service};

/// The route label of a request no route matched (404s of unknown paths).
pub const UNMATCHED: &str = "unmatched";

/// Per route: a read lock taken for the length of a few atomic adds (never across an await);
/// the write lock only the first time a route, method or status is seen.
#[derive(Default)]
pub struct HttpMetrics {
    routes: RwLock<HashMap<Box<str>, RouteStats>>,
}

struct RouteStats {
    duration: Histogram,
    /// (method, status) → count; a handful per route, so a scan beats a hash.
    counts: RwLock<Vec<(MethodLabel, u16, AtomicU64)>>,
}

/// The method as a label: the standard ones, and `OTHER` for any other (so that made-up
/// methods cannot make new series).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MethodLabel(&'static str);

impl MethodLabel {
    pub fn of(m: &Method) -> Self {
        const KNOWN: [Method; 9] = [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::HEAD,
            Method::OPTIONS,
            Method::CONNECT,
            Method::TRACE,
        ];
        Self(KNOWN.iter().find(|k| *k == m).map_or("OTHER", |k| k.as_str()))
    }
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // The data stays consistent if a holder panicked: entries are only added.
    lock.read().unwrap_or_else(|p| p.into_inner())
}

impl RouteStats {
    fn new() -> Self {
        Self { duration: Histogram::seconds(REQUEST_SECONDS), counts: RwLock::default() }
    }

    fn count(&self, method: MethodLabel, status: u16) {
        let known = read(&self.counts);
        if let Some((_, _, c)) = known.iter().find(|(m, s, _)| *m == method && *s == status) {
            c.fetch_add(1, Ordering::Relaxed);
            return;
        }
        drop(known);
        let mut all = self.counts.write().unwrap_or_else(|p| p.into_inner());
        // Another request may have added it meanwhile.
        match all.iter().find(|(m, s, _)| *m == method && *s == status) {
            Some((_, _, c)) => {
                c.fetch_add(1, Ordering::Relaxed);
            }
            None => all.push((method, status, AtomicU64::new(1))),
        }
    }
}

impl HttpMetrics {
    /// Counts one request of `route` answered with `status` after `elapsed`.
    pub fn observe(&self, route: &str, method: MethodLabel, status: u16, elapsed: Duration) {
        {
            let routes = read(&self.routes);
            if let Some(stats) = routes.get(route) {
                stats.count(method, status);
                stats.duration.observe_duration(elapsed);
                return;
            }
        }
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        let stats = routes.entry(route.into()).or_insert_with(RouteStats::new);
        stats.count(method, status);
        stats.duration.observe_duration(elapsed);
    }

    pub fn encode(&self, e: &mut Encoder) {
        let routes = read(&self.routes);
        let mut names: Vec<&str> = routes.keys().map(|k| &**k).collect();
        names.sort_unstable();
        e.family(
            "clawgate_http_requests_total",
            Kind::Counter,
            "HTTP requests answered, by route template (\"unmatched\" when no route matched), method and status.",
        );
        for name in &names {
            let Some(stats) = routes.get(*name) else { continue };
            let mut counts: Vec<(MethodLabel, u16, u64)> =
                read(&stats.counts).iter().map(|(m, s, c)| (*m, *s, c.load(Ordering::Relaxed))).collect();
            counts.sort_unstable();
            for (method, status, n) in counts {
                let status = status.to_string();
                e.sample(
                    "clawgate_http_requests_total",
                    &[("route", name), ("method", method.0), ("status", &status)],
                    n,
                );
            }
        }
        e.family(
            "clawgate_http_request_duration_seconds",
            Kind::Histogram,
            "Time from a request's headers to its response's headers, by route template. For long polls \
             (?wait=) this includes the wait; for event streams it ends when the stream starts.",
        );
        for name in &names {
            if let Some(stats) = routes.get(*name) {
                stats.duration.encode(e, "clawgate_http_request_duration_seconds", &[("route", name)]);
            }
        }
    }
}

/// The layer that times every request and counts it under its route template. A tower layer of
/// its own rather than `axum::middleware::from_fn`, which boxes the rest of the stack and its
/// future on every request: this one allocates nothing.
#[derive(Clone)]
pub struct TrackLayer(pub Arc<Metrics>);

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;
    fn layer(&self, inner: S) -> Track<S> {
        Track { inner, metrics: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> Service<Request<B>> for Track<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = MethodLabel::of(request.method());
        Tracked {
            inner: self.inner.call(request),
            metrics: self.metrics.clone(),
            route,
            method,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer, counted when it is ready.
    pub struct Tracked<F> {
        #[pin]
        inner: F,
        metrics: Arc<Metrics>,
        route: Option<MatchedPath>,
        method: MethodLabel,
        started: Instant,
    }
}

impl<F, E> Future for Tracked<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &answer {
            let route = this.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
            this.metrics.http.observe(
                route,
                *this.method,
                response.status().as_u16(),
                this.started.elapsed(),
            );
        }
        Poll::Ready(answer)
    }
}
