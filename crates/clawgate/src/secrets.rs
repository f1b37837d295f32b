//! Secrets the server needs and the operator may not give: generated once, kept in the database
//! (so every instance sharing it agrees), and never silently replaced.

use crate::config::{Secret, Settings};
use crate::domain::random;
use crate::store::Db;
use crate::tokens::keys::{KeyRecord, generate_seed};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::elliptic_curve::sec1::ToEncodedPoint;

pub struct ServerSecrets {
    pub jwt: Secret,
    pub api_key: Secret,
    /// Ed25519 keys for approval tokens (see `crate::tokens::keys` for which signs when).
    pub signing_keys: Vec<KeyRecord>,
    /// VAPID public key, base64url of the uncompressed P-256 point.
    pub vapid_public: String,
    pub vapid_private: Secret,
}

async fn stored_or_generated(db: &Db, name: &str, now: i64) -> anyhow::Result<Vec<u8>> {
    let candidate = STANDARD.encode(random::bytes::<32>());
    let value = db.secret_or_insert(name, &candidate, now).await?;
    STANDARD
        .decode(value.as_bytes())
        .map_err(|_| anyhow::anyhow!("the stored secret `{name}` is corrupt (not base64)"))
}

/// The stored approval signing keys, storing a first one when there is none.
pub async fn signing_keys(db: &Db, now: i64) -> anyhow::Result<Vec<KeyRecord>> {
    db.insert_first_signing_key(&generate_seed(), now).await?;
    let keys = db.signing_keys().await?;
    anyhow::ensure!(!keys.is_empty(), "no approval signing key is stored, and none could be");
    Ok(keys)
}

/// The VAPID public key (base64url, 65-byte point) for a base64url private scalar.
pub fn vapid_public_for(private_b64: &str) -> anyhow::Result<String> {
    let raw = URL_SAFE_NO_PAD
        .decode(private_b64.trim_end_matches('=').as_bytes())
        .map_err(|_| anyhow::anyhow!("VAPID_PRIVATE_KEY is not base64url"))?;
    let key = p256::SecretKey::from_slice(&raw)
        .map_err(|_| anyhow::anyhow!("VAPID_PRIVATE_KEY is not a P-256 private key (32 bytes)"))?;
    Ok(URL_SAFE_NO_PAD.encode(key.public_key().to_encoded_point(false).as_bytes()))
}

fn generate_vapid_private() -> String {
    loop {
        let bytes = random::bytes::<32>();
        // A random 32-byte string is a valid scalar with overwhelming probability.
        if p256::SecretKey::from_slice(&bytes).is_ok() {
            return URL_SAFE_NO_PAD.encode(bytes);
        }
    }
}

impl ServerSecrets {
    pub async fn load(db: &Db, settings: &Settings, now: i64) -> anyhow::Result<Self> {
        let jwt = match &settings.jwt_secret {
            Some(s) => s.clone(),
            None => Secret::new(stored_or_generated(db, "jwt_secret", now).await?),
        };
        let api_key = match &settings.api_key_secret {
            Some(s) => s.clone(),
            None => Secret::new(stored_or_generated(db, "api_key_secret", now).await?),
        };
        let signing_keys = signing_keys(db, now).await?;
        let (vapid_public, vapid_private) = match &settings.vapid {
            Some((public, private)) => {
                let private_text = String::from_utf8(private.expose().to_vec())
                    .map_err(|_| anyhow::anyhow!("VAPID_PRIVATE_KEY is not text"))?;
                let derived = vapid_public_for(&private_text)?;
                anyhow::ensure!(
                    derived == public.trim_end_matches('='),
                    "VAPID_PUBLIC_KEY does not belong to VAPID_PRIVATE_KEY"
                );
                (derived, private.clone())
            }
            None => {
                let private =
                    db.secret_or_insert("vapid_private_key", &generate_vapid_private(), now).await?;
                (vapid_public_for(&private)?, Secret::new(private.into_bytes()))
            }
        };
        Ok(Self { jwt, api_key, signing_keys, vapid_public, vapid_private })
    }
}
