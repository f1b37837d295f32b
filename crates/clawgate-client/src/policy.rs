//! The policy a gate keeps for when it cannot reach the server (`GET /api/v1/gate/policy`): the
//! key owner's rule set and the key's standing grants, signed by the server. A gate stores it
//! with the server's keys and checks both before deciding by it, so that a copy edited on disk
//! is refused rather than obeyed.

use crate::Policy;
use clawgate_proto::wire::gate::{
    POLICY_AUDIENCE as AUDIENCE, POLICY_HEADER_TYPE as HEADER_TYPE, key_fingerprint,
};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

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
