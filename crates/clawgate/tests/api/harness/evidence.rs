//! What a passkey signs, recomputed the way a verifier outside the server would: the content's
//! keys sorted (the content's keys are ASCII and its numbers integers, where that is RFC 8785's
//! canonical form) and SHA-256, not the server's code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// `v` with every object's keys in order, as text.
pub(crate) fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect::<Map<_, _>>())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sorted(v)).expect("JSON")
}

/// The challenge derived from a ceremony start's `signing` (base64url): SHA-256 of
/// `clawgate decision v1\0`, the content's canonical JSON and the 16-byte nonce.
pub(crate) fn derived_challenge(signing: &Value) -> String {
    let nonce = URL_SAFE_NO_PAD.decode(signing["nonce"].as_str().expect("nonce")).expect("base64url");
    assert_eq!(nonce.len(), 16, "a 16-byte nonce");
    let mut hash = Sha256::new();
    hash.update(b"clawgate decision v1\0");
    hash.update(canonical(&signing["content"]).as_bytes());
    hash.update(&nonce);
    URL_SAFE_NO_PAD.encode(hash.finalize())
}
