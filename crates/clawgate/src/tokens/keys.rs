//! Approval-token signing keys over time: which key signs when, which are published and verify,
//! and when each retires (see `clawgate keys`).

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
}

// By hand: the seed is a secret.
impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("number", &self.number)
            .field("created_at", &self.created_at)
            .field("active_from", &self.active_from)
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
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::VerifyingOnly => "verifying-only",
            KeyState::Retired => "retired",
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
    /// `None` while no later key has been stored.
    pub retires_at: Option<Millis>,
}

impl KeyInfo {
    pub fn state(&self, signing: Option<i64>, now: Millis) -> KeyState {
        if self.active_from > now {
            KeyState::Next
        } else if self.retires_at.is_some_and(|r| r <= now) {
            KeyState::Retired
        } else if signing == Some(self.number) {
            KeyState::Active
        } else {
            KeyState::VerifyingOnly
        }
    }
}

/// The keys in the order they take over (activation, then number), each with its retirement:
/// its successor's activation plus [`RETIRE_AFTER_MS`].
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
        })
        .collect();
    for i in 1..infos.len() {
        let successor_from = infos[i].active_from;
        infos[i - 1].retires_at = Some(successor_from.saturating_add(RETIRE_AFTER_MS));
    }
    infos
}

/// The number of the key that signs at `now`: the last to have taken over (or, should none have
/// yet, the first to come).
pub fn signing_number(infos: &[KeyInfo], now: Millis) -> Option<i64> {
    infos.iter().rev().find(|k| k.active_from <= now).or(infos.first()).map(|k| k.number)
}

/// A key's id: the first 12 bytes of the SHA-256 of its public key, base64url.
pub fn kid_of(seed: &[u8; 32]) -> String {
    let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
    URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12])
}

pub fn generate_seed() -> [u8; 32] {
    random::bytes::<32>()
}
