//! Token buckets on the injected clock: per client IP for sign-up and passkey endpoints, per
//! API key for fast status polling and for gate calls, per account for failed passkey assertions.
//!
//! Limits are per instance; behind a load balancer each instance limits on its own.

use crate::clock::{Clock, Millis};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

/// Above this many tracked clients, full buckets are forgotten.
const PRUNE_AT: usize = 10_000;

pub struct RateLimiter<K = IpAddr> {
    /// Tokens a full bucket holds (the burst).
    capacity: f64,
    /// Tokens added per millisecond.
    refill_per_ms: f64,
    buckets: Mutex<HashMap<K, (f64, Millis)>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `per_minute` tokens a minute, and as many at once.
    pub fn new(per_minute: u32) -> Self {
        Self::with_burst(per_minute, per_minute)
    }

    /// `burst` at once, refilled at `per_minute` a minute.
    pub fn with_burst(burst: u32, per_minute: u32) -> Self {
        Self {
            capacity: f64::from(burst.max(1)),
            refill_per_ms: f64::from(per_minute.max(1)) / 60_000.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`; when none is left, the seconds until one is.
    pub fn check(&self, key: &K, clock: &dyn Clock) -> Result<(), u64> {
        self.take(key, clock, true)
    }

    /// Whether `check` would pass now, without taking a token.
    pub fn peek(&self, key: &K, clock: &dyn Clock) -> Result<(), u64> {
        self.take(key, clock, false)
    }

    fn take(&self, key: &K, clock: &dyn Clock, consume: bool) -> Result<(), u64> {
        let now = clock.now_ms();
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > PRUNE_AT {
            let (capacity, rate) = (self.capacity, self.refill_per_ms);
            buckets.retain(|_, (tokens, at)| *tokens + (now - *at) as f64 * rate < capacity);
        }
        let (tokens, at) = buckets.entry(key.clone()).or_insert((self.capacity, now));
        let refilled = (*tokens + (now - *at).max(0) as f64 * self.refill_per_ms).min(self.capacity);
        *at = now;
        *tokens = refilled;
        if refilled >= 1.0 {
            if consume {
                *tokens = refilled - 1.0;
            }
            Ok(())
        } else {
            Err(((1.0 - refilled) / self.refill_per_ms / 1000.0).ceil().max(1.0) as u64)
        }
    }
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
            assert_eq!(limiter.check(&ip, &clock), Ok(()));
        }
        assert_eq!(limiter.check(&ip, &clock), Err(20));
        assert_eq!(limiter.check(&[10, 0, 0, 2].into(), &clock), Ok(()));
        clock.advance_ms(20_000);
        assert_eq!(limiter.check(&ip, &clock), Ok(()));
        assert!(limiter.check(&ip, &clock).is_err());
    }

    #[test]
    fn a_burst_then_a_slow_refill_and_peeking_takes_nothing() {
        let clock = ManualClock::new(0);
        let limiter: RateLimiter<&str> = RateLimiter::with_burst(2, 1);
        assert_eq!(limiter.peek(&"ada", &clock), Ok(()));
        assert_eq!(limiter.check(&"ada", &clock), Ok(()));
        assert_eq!(limiter.check(&"ada", &clock), Ok(()));
        assert_eq!(limiter.peek(&"ada", &clock), Err(60));
        clock.advance_ms(60_000);
        assert_eq!(limiter.peek(&"ada", &clock), Ok(()));
        assert_eq!(limiter.peek(&"ada", &clock), Ok(()), "peeking twice takes nothing");
    }
}
