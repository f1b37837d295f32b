//! Per-IP token buckets for the sign-up and passkey endpoints, on the injected clock.
//!
//! Limits are per instance; behind a load balancer each instance limits on its own.

use super::error::ApiError;
use super::extract::client_ip;
use crate::app::AppState;
use crate::clock::{Clock, Millis};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Above this many tracked clients, full buckets are forgotten.
const PRUNE_AT: usize = 10_000;

pub struct RateLimiter {
    per_minute: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Millis)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute: f64::from(per_minute.max(1)), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `ip`; when none is left, the seconds until one is.
    pub fn check(&self, ip: IpAddr, clock: &dyn Clock) -> Result<(), u64> {
        let now = clock.now_ms();
        let per_ms = self.per_minute / 60_000.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > PRUNE_AT {
            let capacity = self.per_minute;
            buckets.retain(|_, (tokens, at)| *tokens + (now - *at) as f64 * per_ms < capacity);
        }
        let (tokens, at) = buckets.entry(ip).or_insert((self.per_minute, now));
        let refilled = (*tokens + (now - *at).max(0) as f64 * per_ms).min(self.per_minute);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            Err(((1.0 - refilled) / per_ms / 1000.0).ceil().max(1.0) as u64)
        }
    }
}

/// Middleware for the routes it is layered on.
pub async fn limit_auth(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let ip = client_ip(&parts, state.settings.trust_forwarded_for);
    if let Err(retry_after) = state.auth_limiter.check(ip, state.clock.as_ref()) {
        tracing::warn!(%ip, "authentication rate limit reached");
        return ApiError::rate_limited(retry_after).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn buckets_empty_and_refill() {
        let clock = ManualClock::new(0);
        let limiter = RateLimiter::new(3);
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..3 {
            assert_eq!(limiter.check(ip, &clock), Ok(()));
        }
        assert_eq!(limiter.check(ip, &clock), Err(20));
        assert_eq!(limiter.check([10, 0, 0, 2].into(), &clock), Ok(()));
        clock.advance_ms(20_000);
        assert_eq!(limiter.check(ip, &clock), Ok(()));
        assert!(limiter.check(ip, &clock).is_err());
    }
}
