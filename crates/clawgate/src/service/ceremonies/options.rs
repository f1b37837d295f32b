//! The WebAuthn options handed to the browser, as webauthn-rs makes them and as clawgate adjusts
//! them: discoverable passkeys preferred, and sign-in options of one shape for every email.

use super::{CeremonyResult, internal};
use crate::domain::ids::credential_id_text;
use serde::Serialize;

/// The `publicKey` member of webauthn-rs' challenge (`{"publicKey": {...}}`).
pub(super) fn public_key<T: Serialize>(challenge: &T) -> CeremonyResult<serde_json::Value> {
    let mut value = serde_json::to_value(challenge).map_err(internal)?;
    Ok(value.get_mut("publicKey").map(serde_json::Value::take).unwrap_or_default())
}

/// Asks for a discoverable (resident) passkey where the authenticator can make one, so signing in
/// needs no email; one that cannot (some security keys) still makes an ordinary passkey.
/// webauthn-rs 0.6's `start_passkey_registration` says "discouraged"; finishing does not check
/// this setting (its state keeps the user verification and algorithms, which are unchanged).
pub(super) fn prefer_discoverable(public_key: &mut serde_json::Value) {
    if let Some(selection) = public_key.get_mut("authenticatorSelection").and_then(|s| s.as_object_mut()) {
        selection.insert("residentKey".into(), "preferred".into());
        selection.insert("requireResidentKey".into(), false.into());
    }
}

/// Sign-in options for an email in one shape, whether the email is known or not: exactly these
/// credential ids (no transports), and no extensions.
pub(super) fn login(mut public_key: serde_json::Value, ids: Vec<String>) -> serde_json::Value {
    if let Some(options) = public_key.as_object_mut() {
        let allow = ids.into_iter().map(|id| serde_json::json!({ "type": "public-key", "id": id })).collect();
        options.insert("allowCredentials".into(), serde_json::Value::Array(allow));
        options.remove("extensions");
    }
    public_key
}

/// One or two credential ids for an email without passkeys: the same on every ask, of lengths
/// real authenticators use, and held by no authenticator.
pub(super) fn decoy_credential_ids(key: &[u8], email: &str) -> CeremonyResult<Vec<String>> {
    use hmac::{Hmac, Mac};
    const LENGTHS: [usize; 4] = [16, 20, 32, 64];
    let block = |n: u8| -> CeremonyResult<Vec<u8>> {
        let mut mac = <Hmac<sha2::Sha512> as Mac>::new_from_slice(key).map_err(internal)?;
        mac.update(b"clawgate decoy credential id\0");
        mac.update(email.as_bytes());
        mac.update(&[n]);
        Ok(mac.finalize().into_bytes().to_vec())
    };
    let count = if block(0)?[0] % 4 == 0 { 2 } else { 1 };
    (1..=count)
        .map(|n| {
            let bytes = block(n)?;
            Ok(credential_id_text(&bytes[..LENGTHS[usize::from(bytes[0]) % LENGTHS.len()]]))
        })
        .collect()
}
