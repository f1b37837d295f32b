//! Checking a token with nothing but the server's published keys.

use clawgate_proto::wire::{Accept, ApprovalClaims, TokenKind};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

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
    #[error("no person approved it: the gate allowed it alone, by a rule or a grant")]
    NotPersonApproved,
    /// Signed by a key of the server, but issued under another origin than the one expected
    /// (opened at `127.0.0.1` while the server names itself `http://localhost:3000`, say).
    #[error("issued by {found}, not by the issuer expected (pass the server's public origin as the issuer)")]
    WrongIssuer { found: String },
}

/// Verifies `token` against the server's keys (`GET /.well-known/jwks.json`) and takes it only
/// if a person approved it with a passkey: see [`verify_offline_accepting`].
pub fn verify_offline(
    jwks: &JwkSet,
    token: &str,
    issuer: Option<&str>,
    action: Option<&str>,
) -> Result<ApprovalClaims, OfflineError> {
    verify_offline_accepting(jwks, token, issuer, action, Accept::PERSON)
}

/// Verifies `token` against the server's keys: EdDSA only; header `typ`, audience, claim `typ`
/// and `decidedBy` naming the same kind (approval or gate); `exp` with 5 s of leeway; the issuer
/// if given (the server's origin); `accept` taking what decided; and the exact action text if
/// given. It cannot tell whether the token was already used: for that, verify online with
/// `consume`.
pub fn verify_offline_accepting(
    jwks: &JwkSet,
    token: &str,
    issuer: Option<&str>,
    action: Option<&str>,
    accept: Accept,
) -> Result<ApprovalClaims, OfflineError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| OfflineError::Malformed)?;
    let kind = header.typ.as_deref().and_then(TokenKind::from_header_type).ok_or(OfflineError::WrongType)?;
    if header.alg != Algorithm::EdDSA {
        return Err(OfflineError::WrongType);
    }
    let kid = header.kid.ok_or(OfflineError::UnknownKey)?;
    let jwk = jwks.find(&kid).ok_or(OfflineError::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| OfflineError::UnknownKey)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.leeway = LEEWAY_SECS;
    validation.set_audience(&[kind.audience()]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
    if let Some(iss) = issuer {
        validation.set_issuer(&[iss]);
    }
    let claims = jsonwebtoken::decode::<ApprovalClaims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => OfflineError::Expired,
            // The signature held (issuers are checked after it): name the issuer it carries.
            jsonwebtoken::errors::ErrorKind::InvalidIssuer => OfflineError::WrongIssuer {
                found: issuer_of(token).unwrap_or_else(|| "another origin".into()),
            },
            jsonwebtoken::errors::ErrorKind::Json(_)
            | jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(_) => OfflineError::Malformed,
            _ => OfflineError::BadSignature,
        })?
        .claims;
    // An unknown `decidedBy` does not deserialise (malformed, above). A gate token never passes
    // for a person's approval, nor the reverse.
    if claims.typ != kind.claim_type() || TokenKind::of(claims.decided_by) != kind {
        return Err(OfflineError::WrongType);
    }
    if !accept.accepts(claims.decided_by) {
        return Err(OfflineError::NotPersonApproved);
    }
    if action.is_some_and(|a| a != claims.action) {
        return Err(OfflineError::ActionMismatch);
    }
    Ok(claims)
}

/// The `iss` claim of `token`, read without checking anything (only for a message).
fn issuer_of(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawgate_proto::wire::DecidedBy;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    const APPROVAL: TokenKind = TokenKind::Approval;
    const GATE: TokenKind = TokenKind::Gate;

    /// An Ed25519 key (PKCS#8 v1 around a fixed seed) and the JWKS publishing it as `k1`.
    fn key() -> (EncodingKey, JwkSet) {
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
        ];
        der.extend_from_slice(&[7u8; 32]);
        let key = EncodingKey::from_ed_der(&der);
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::EdDSA).expect("a JWK");
        jwk.common.key_id = Some("k1".into());
        (key, JwkSet { keys: vec![jwk] })
    }

    fn claims(kind: TokenKind, decided_by: &str) -> Value {
        json!({
            "iss": "https://gate.example", "sub": "usr_1", "aud": kind.audience(), "typ": kind.claim_type(),
            "jti": "j", "iat": 4_000_000_000_i64 - 60, "exp": 4_000_000_000_i64, "requestId": "dec_1",
            "action": "ls", "actionHash": "00", "agentId": null, "decidedBy": decided_by, "userVerified": false,
        })
    }

    fn sign(key: &EncodingKey, header_type: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(header_type.into());
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, claims, key).expect("signed")
    }

    #[test]
    fn a_gate_token_passes_only_when_its_decider_is_accepted() {
        let (key, jwks) = key();
        let rule = sign(&key, GATE.header_type(), &claims(GATE, "rule"));
        assert_eq!(verify_offline(&jwks, &rule, None, Some("ls")), Err(OfflineError::NotPersonApproved));
        let only_grants = Accept { rule: false, grant: true };
        let refused = verify_offline_accepting(&jwks, &rule, None, None, only_grants);
        assert_eq!(refused, Err(OfflineError::NotPersonApproved));
        let taken =
            verify_offline_accepting(&jwks, &rule, Some("https://gate.example"), Some("ls"), Accept::ANY);
        assert_eq!(taken.map(|c| c.decided_by), Ok(DecidedBy::Rule));
        let person = sign(&key, APPROVAL.header_type(), &claims(APPROVAL, "passkey"));
        assert!(verify_offline(&jwks, &person, None, Some("ls")).is_ok());
    }

    #[test]
    fn kinds_and_deciders_that_disagree_are_refused() {
        let (key, jwks) = key();
        let cases = [
            (APPROVAL.header_type(), claims(APPROVAL, "rule"), OfflineError::WrongType),
            (APPROVAL.header_type(), claims(APPROVAL, "grant"), OfflineError::WrongType),
            (GATE.header_type(), claims(GATE, "passkey"), OfflineError::WrongType),
            (APPROVAL.header_type(), claims(GATE, "passkey"), OfflineError::BadSignature),
            (GATE.header_type(), claims(APPROVAL, "rule"), OfflineError::BadSignature),
            (APPROVAL.header_type(), claims(APPROVAL, "robot"), OfflineError::Malformed),
            ("JWT", claims(APPROVAL, "passkey"), OfflineError::WrongType),
        ];
        for (typ, c, error) in cases {
            let t = sign(&key, typ, &c);
            assert_eq!(verify_offline_accepting(&jwks, &t, None, None, Accept::ANY), Err(error), "{typ} {c}");
        }
        let mut without = claims(APPROVAL, "passkey");
        without.as_object_mut().map(|o| o.remove("decidedBy"));
        let t = sign(&key, APPROVAL.header_type(), &without);
        assert_eq!(
            verify_offline(&jwks, &t, None, None),
            Err(OfflineError::Malformed),
            "decidedBy is required"
        );
    }
}
