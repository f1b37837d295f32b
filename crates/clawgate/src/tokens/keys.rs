//! Approval-token signing keys over time: which key signs when, which are published and verify,
//! and when each retires (see `clawgate keys`). A revoked key is out of all of it at once: it
//! neither signs nor verifies nor is published, and is no other key's successor.

use crate::clock::Millis;
use crate::domain::random;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

/// One stored signing key: its number (order of rotation), seed and schedule.
#[derive(Clone)]
pub struct KeyRecord {
    pub number: i64,
    pub seed: [u8; 32],
    pub created_at: Millis,
    /// From when it signs new tokens; before that it is only published.
    pub active_from: Millis,
    /// When `clawgate keys revoke` took it out of use.
    pub revoked_at: Option<Millis>,
}

// By hand: the seed is a secret.
impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("number", &self.number)
            .field("created_at", &self.created_at)
            .field("active_from", &self.active_from)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// How often every instance reloads the keys from the database (with its upkeep).
pub const KEY_RELOAD_EVERY_MS: Millis = 30_000;
/// How long `/.well-known/jwks.json` may be cached (its `Cache-Control: max-age`).
pub const JWKS_MAX_AGE_SECS: i64 = 300;
/// A new key signs only this long after it is stored: by then every instance has reloaded
/// (every [`KEY_RELOAD_EVERY_MS`]) and published it, and every JWKS cached before it was
/// published has gone stale ([`JWKS_MAX_AGE_SECS`]), with half a minute to spare.
pub const PUBLISH_DELAY_MS: Millis = KEY_RELOAD_EVERY_MS + JWKS_MAX_AGE_SECS * 1000 + 30_000;
/// The longest an approval token lives (APPROVAL_TOKEN_TTL_SECONDS is at most this).
pub const MAX_TOKEN_TTL_SECS: i64 = 600;
/// A superseded key keeps verifying this long after its successor takes over: the longest a
/// token it signed can live, plus a minute for clocks that disagree.
pub const RETIRE_AFTER_MS: Millis = (MAX_TOKEN_TTL_SECS + 60) * 1000;

/// Where a key stands at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Signs new tokens (and verifies).
    Active,
    /// Superseded: verifies the tokens it signed until it retires.
    VerifyingOnly,
    /// Every token it signed has expired: no longer published or accepted; may be deleted.
    Retired,
    /// Taken out of use by `clawgate keys revoke`: signs, verifies and is published no more.
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::VerifyingOnly => "verifying-only",
            KeyState::Retired => "retired",
            KeyState::Revoked => "revoked",
        }
    }
}

/// A key with what follows from the others: its `kid` and when it retires.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub number: i64,
    pub kid: String,
    pub created_at: Millis,
    pub active_from: Millis,
    /// `None` while no later key has been stored (and for a revoked key).
    pub retires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

impl KeyInfo {
    pub fn state(&self, signing: Option<i64>, now: Millis) -> KeyState {
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if self.active_from > now {
            KeyState::Next
        } else if self.retires_at.is_some_and(|r| r <= now) {
            KeyState::Retired
        } else if signing == Some(self.number) {
            KeyState::Active
        } else {
            KeyState::VerifyingOnly
        }
    }

    /// When its row may be deleted: once retired, or once every token it signed before its
    /// revocation has expired.
    pub fn deletable_at(&self) -> Option<Millis> {
        self.revoked_at.map(|r| r.saturating_add(RETIRE_AFTER_MS)).or(self.retires_at)
    }
}

/// The keys in the order they take over (activation, then number), each with its retirement:
/// the activation of the next key that is not revoked, plus [`RETIRE_AFTER_MS`].
pub fn schedule(records: &[KeyRecord]) -> Vec<KeyInfo> {
    let mut sorted: Vec<&KeyRecord> = records.iter().collect();
    sorted.sort_by_key(|k| (k.active_from, k.number));
    let mut infos: Vec<KeyInfo> = sorted
        .iter()
        .map(|k| KeyInfo {
            number: k.number,
            kid: kid_of(&k.seed),
            created_at: k.created_at,
            active_from: k.active_from,
            retires_at: None,
            revoked_at: k.revoked_at,
        })
        .collect();
    let mut successor_from = None;
    for info in infos.iter_mut().rev().filter(|k| k.revoked_at.is_none()) {
        info.retires_at = successor_from.map(|from: Millis| from.saturating_add(RETIRE_AFTER_MS));
        successor_from = Some(info.active_from);
    }
    infos
}

/// The number of the key that signs at `now`: the last not revoked to have taken over (or,
/// should none have yet, the first to come).
pub fn signing_number(infos: &[KeyInfo], now: Millis) -> Option<i64> {
    let usable: Vec<&KeyInfo> = infos.iter().filter(|k| k.revoked_at.is_none()).collect();
    usable.iter().rev().find(|k| k.active_from <= now).or(usable.first()).map(|k| k.number)
}

/// A key's id: the first 12 bytes of the SHA-256 of its public key, base64url.
pub fn kid_of(seed: &[u8; 32]) -> String {
    let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
    URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12])
}

pub fn generate_seed() -> [u8; 32] {
    random::bytes::<32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(number: i64, active_from: Millis, revoked_at: Option<Millis>) -> KeyRecord {
        KeyRecord { number, seed: generate_seed(), created_at: 0, active_from, revoked_at }
    }

    fn states(records: &[KeyRecord], now: Millis) -> Vec<KeyState> {
        let infos = schedule(records);
        let signing = signing_number(&infos, now);
        infos.iter().map(|k| k.state(signing, now)).collect()
    }

    #[test]
    fn a_revoked_key_is_out_of_the_schedule_at_once() {
        use KeyState::*;
        let t = 1_000_000;
        // Key 2 took over from key 1 at t; revoked at t + 1000, key 3 takes over at once.
        let keys = [key(1, 0, None), key(2, t, Some(t + 1_000)), key(3, t + 1_000, None)];
        assert_eq!(states(&keys, t + 2_000), [VerifyingOnly, Revoked, Active]);
        let infos = schedule(&keys);
        // Key 1 retires after key 3's takeover (key 2 succeeds no one), key 3 not at all.
        assert_eq!(infos[0].retires_at, Some(t + 1_000 + RETIRE_AFTER_MS));
        assert_eq!((infos[1].retires_at, infos[2].retires_at), (None, None));
        assert_eq!(infos[1].deletable_at(), Some(t + 1_000 + RETIRE_AFTER_MS));
        assert_eq!(states(&keys, t + 1_000 + RETIRE_AFTER_MS), [Retired, Revoked, Active]);

        // A revoked key waiting to take over never does; the current one keeps signing.
        let keys = [key(1, 0, None), key(2, t, Some(10))];
        assert_eq!(states(&keys, t + 1), [Active, Revoked]);
        assert_eq!(schedule(&keys)[0].retires_at, None);
    }
}
