//! Live API keys remembered by their HMAC, so an agent's request costs no key lookup.
//!
//! Only a live key is remembered, and only for a minute. A revocation or suspension forgets it
//! at once here (the store does that as it commits one) and on other instances as their
//! announcement arrives; every write and every answer carrying a token re-checks the key in the
//! database anyway, so a key remembered a moment too long can never get a token or create a
//! request. A lookup that started before a key was forgotten does not put it back (generations).

use super::api_keys::ApiKeyRecord;
use crate::domain::ids::ApiKeyId;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const REMEMBER_FOR: Duration = Duration::from_secs(60);
/// Past this many keys the cache starts over (a bound on memory, not an expected size).
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub struct KeyCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_hash: HashMap<String, (ApiKeyRecord, Instant)>,
    /// Bumped whenever a key is forgotten.
    generation: u64,
}

impl KeyCache {
    pub fn get(&self, hash: &str) -> Option<ApiKeyRecord> {
        let inner = self.lock();
        let (key, since) = inner.by_hash.get(hash)?;
        (since.elapsed() < REMEMBER_FOR).then(|| key.clone())
    }

    /// Call before the database lookup whose result goes to [`KeyCache::put`].
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Remembers a live key read at `generation`, unless a key was forgotten since.
    pub fn put(&self, hash: &str, key: &ApiKeyRecord, generation: u64) {
        if key.revoked_at.is_some() || key.suspended_at.is_some() {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.by_hash.len() >= MAX_KEYS {
            inner.by_hash.clear();
        }
        inner.by_hash.insert(hash.to_owned(), (key.clone(), Instant::now()));
    }

    pub fn forget(&self, id: &ApiKeyId) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.by_hash.retain(|_, (key, _)| key.id != *id);
    }

    /// Forgets every key: announcements may have been missed.
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.by_hash.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::UserId;

    fn key(id: &str) -> ApiKeyRecord {
        ApiKeyRecord {
            id: ApiKeyId::from_trusted(id.to_owned()),
            user_id: UserId::from_trusted("usr_1".to_owned()),
            name: "k".to_owned(),
            display_prefix: "ag_x".to_owned(),
            created_at: 0,
            last_used_at: None,
            revoked_at: None,
            suspended_at: None,
            suspended_because: None,
        }
    }

    #[test]
    fn a_forgotten_key_is_not_put_back_by_a_lookup_that_started_before() {
        let cache = KeyCache::default();
        let seen = cache.generation();
        cache.forget(&ApiKeyId::from_trusted("key_1".to_owned()));
        cache.put("h1", &key("key_1"), seen);
        assert!(cache.get("h1").is_none());
        cache.put("h1", &key("key_1"), cache.generation());
        assert_eq!(cache.get("h1").map(|k| k.id), Some(ApiKeyId::from_trusted("key_1".to_owned())));
        cache.forget(&ApiKeyId::from_trusted("key_1".to_owned()));
        assert!(cache.get("h1").is_none());
    }

    #[test]
    fn keys_that_are_not_live_are_never_remembered() {
        let cache = KeyCache::default();
        let mut suspended = key("key_2");
        suspended.suspended_at = Some(1);
        cache.put("h2", &suspended, cache.generation());
        assert!(cache.get("h2").is_none());
    }
}
