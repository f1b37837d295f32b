//! The policy a gate keeps for when it cannot reach the server (`GET /api/v1/gate/policy`): the
//! key owner's rule set and the key's standing grants, signed by the server. A gate stores it
//! with the server's keys and checks both before deciding by it, so that a copy edited on disk
//! is refused rather than obeyed.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

const HEADER_TYPE: &str = "clawgate-policy+jwt";
const AUDIENCE: &str = "clawgate:policy";

/// The answer of `GET /api/v1/gate/policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyView {
    /// The signed policy (a JWT); check it with [`verify_policy`].
    pub policy: String,
    pub rule_version: i64,
    /// Changes whenever the rules or the grants do; send it back to be told "unchanged".
    pub tag: String,
}

/// A standing grant of the key, as the policy has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyGrant {
    pub id: String,
    /// The grant's scope, as the server's `Scope` (`tool`, `argvPrefix`, `exact`, `cwd`, `agentId`).
    pub scope: Value,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
    pub max_uses: Option<i64>,
    pub uses: i64,
}

/// A policy that checked out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub iss: String,
    pub sub: String,
    /// When it was signed (seconds since the epoch).
    pub iat: i64,
    pub key: String,
    pub rule_version: i64,
    /// The rule set as JSON (the built-in defaults at version 0).
    pub rules: Value,
    pub grants: Vec<PolicyGrant>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("not a clawgate policy")]
    Malformed,
    #[error("signed by a key the server does not publish")]
    UnknownKey,
    #[error("its signature does not check out: it was changed after the server signed it")]
    BadSignature,
    #[error("it was made for another API key")]
    OtherKey,
}

/// The first 32 hex digits of the SHA-256 of `api_key`, as the server names the key in a policy.
pub fn key_fingerprint(api_key: &str) -> String {
    let digest = Sha256::digest(api_key.trim().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `jwt` against the server's keys: EdDSA, the policy kind, a known key, the signature,
/// the issuer if given, and that it was made for `api_key`. Policies do not expire: a gate uses
/// the last one it was given, and says how old it is.
pub fn verify_policy(
    jwks: &JwkSet,
    jwt: &str,
    issuer: Option<&str>,
    api_key: &str,
) -> Result<Policy, PolicyError> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| PolicyError::Malformed)?;
    if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(HEADER_TYPE) {
        return Err(PolicyError::Malformed);
    }
    let kid = header.kid.ok_or(PolicyError::UnknownKey)?;
    let jwk = jwks.find(&kid).ok_or(PolicyError::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| PolicyError::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["iat", "aud", "iss", "sub"]);
    if let Some(iss) = issuer {
        validation.set_issuer(&[iss]);
    }
    let policy = jsonwebtoken::decode::<Policy>(jwt, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::Json(_)
            | jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(_) => PolicyError::Malformed,
            _ => PolicyError::BadSignature,
        })?
        .claims;
    if policy.key != key_fingerprint(api_key) {
        return Err(PolicyError::OtherKey);
    }
    Ok(policy)
}
