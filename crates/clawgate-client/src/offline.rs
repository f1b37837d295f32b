//! Checking an approval token with nothing but the server's published keys.

use crate::types::ApprovalClaims;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

const HEADER_TYPE: &str = "clawgate-approval+jwt";
const AUDIENCE: &str = "clawgate:approval";
/// Clock skew tolerated, as the server tolerates it.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfflineError {
    #[error("not a clawgate approval token")]
    Malformed,
    #[error("not an approval token (wrong type or algorithm)")]
    WrongType,
    #[error("signed by a key the server does not publish")]
    UnknownKey,
    #[error("the signature, issuer or audience does not check out")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token approves a different action")]
    ActionMismatch,
}

/// Verifies `token` against the server's keys (`GET /.well-known/jwks.json`): EdDSA only, the
/// approval type and audience, `exp` with 5 s of leeway, the issuer if given (the server's
/// origin), and the exact action text if given. It cannot tell whether the token was already
/// used: for that, verify online with `consume`.
pub fn verify_offline(
    jwks: &JwkSet,
    token: &str,
    issuer: Option<&str>,
    action: Option<&str>,
) -> Result<ApprovalClaims, OfflineError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| OfflineError::Malformed)?;
    if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(HEADER_TYPE) {
        return Err(OfflineError::WrongType);
    }
    let kid = header.kid.ok_or(OfflineError::UnknownKey)?;
    let jwk = jwks.find(&kid).ok_or(OfflineError::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| OfflineError::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.leeway = LEEWAY_SECS;
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
    if let Some(iss) = issuer {
        validation.set_issuer(&[iss]);
    }
    let claims = jsonwebtoken::decode::<ApprovalClaims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => OfflineError::Expired,
            jsonwebtoken::errors::ErrorKind::Json(_)
            | jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(_) => OfflineError::Malformed,
            _ => OfflineError::BadSignature,
        })?
        .claims;
    if claims.typ != "approval" {
        return Err(OfflineError::WrongType);
    }
    if action.is_some_and(|a| a != claims.action) {
        return Err(OfflineError::ActionMismatch);
    }
    Ok(claims)
}
