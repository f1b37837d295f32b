//! Checkpoints: the server's signature (EdDSA, a compact JWT) that an account's chain had a given
//! head hash at a given seq. A chain that holds by itself may still have been rewritten whole or
//! cut short; a checkpoint kept elsewhere says what it was.

use super::error::ChainError;
use clawgate_proto::evidence::receipt::{
    CHECKPOINT_TYP, ChainFile, CheckpointClaims, GENESIS, Receipt, kind,
};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde_json::Value;

/// A checkpoint that holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointSummary {
    pub seq: u64,
    pub head: String,
    /// When the server signed it (seconds since the Unix epoch), and that time in RFC 3339.
    pub issued_at: i64,
    pub issued: String,
    /// The server that signed it (its origin), and the key it signed with.
    pub issuer: String,
    pub key_id: String,
}

/// The JWT in a checkpoint file: the compact JWT itself, or JSON with a `checkpoint` field.
pub fn read_checkpoint(text: &str) -> Result<String, ChainError> {
    let text = text.trim();
    if text.starts_with('{') {
        let json: Value = serde_json::from_str(text)
            .map_err(|e| ChainError::input(format!("the checkpoint file is not JSON: {e}")))?;
        return match json.get("checkpoint").and_then(Value::as_str) {
            Some(jwt) => Ok(jwt.trim().to_owned()),
            None => Err(ChainError::input("the checkpoint file's JSON has no \"checkpoint\" string")),
        };
    }
    Ok(text.to_owned())
}

/// The server's published keys, as `/.well-known/jwks.json` serves them.
pub fn read_jwks(text: &str) -> Result<JwkSet, ChainError> {
    serde_json::from_str(text).map_err(|e| ChainError::input(format!("the JWKS is not a JWK set: {e}")))
}

/// RFC 3339 (UTC) of seconds since the Unix epoch.
pub fn rfc3339(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{seconds} s after the Unix epoch"))
}

/// The receipt in `chain` that records the revocation of signing key `kid`, if any.
pub fn revocation_of<'c>(chain: &'c ChainFile, kid: &str) -> Option<&'c Receipt> {
    chain.receipts.iter().find(|r| {
        r.kind == kind::SIGNING_KEY_REVOKED && r.content.get("kid").and_then(Value::as_str) == Some(kid)
    })
}

/// Checks `jwt`'s signature against `jwks`, then that it was not signed after the chain revoked
/// its key, then that `chain` is the one it signed, up to its seq.
pub fn verify(chain: &ChainFile, jwt: &str, jwks: &JwkSet) -> Result<CheckpointSummary, ChainError> {
    let header = jsonwebtoken::decode_header(jwt)
        .map_err(|e| ChainError::input(format!("the checkpoint is not a JWT: {e}")))?;
    if header.typ.as_deref() != Some(CHECKPOINT_TYP) {
        let typ = header.typ.as_deref().unwrap_or("none");
        return Err(ChainError::input(format!(
            "not a clawgate checkpoint: its typ is {typ}, not {CHECKPOINT_TYP}"
        )));
    }
    if header.alg != Algorithm::EdDSA {
        return Err(ChainError::checkpoint(
            None,
            format!("the checkpoint is signed with {:?}, not EdDSA", header.alg),
        ));
    }
    let kid = header.kid.ok_or_else(|| ChainError::checkpoint(None, "the checkpoint names no key (kid)"))?;
    let jwk = jwks.find(&kid).ok_or_else(|| {
        ChainError::checkpoint(
            None,
            format!(
                "the checkpoint is signed by key {kid}, which the JWKS does not publish \
                 (a revoked key leaves it; an old JWKS may not have a new key yet)"
            ),
        )
    })?;
    if !matches!(&jwk.algorithm, AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519) {
        return Err(ChainError::checkpoint(None, format!("the JWKS's key {kid} is not an Ed25519 key")));
    }
    let key = DecodingKey::from_jwk(jwk)
        .map_err(|e| ChainError::input(format!("the JWKS's key {kid} cannot be read: {e}")))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss", "sub"]);
    let claims = jsonwebtoken::decode::<CheckpointClaims>(jwt, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::Json(_) | ErrorKind::MissingRequiredClaim(_) => {
                ChainError::input(format!("the checkpoint's claims are not a checkpoint's: {e}"))
            }
            ErrorKind::InvalidSignature => ChainError::checkpoint(
                None,
                format!("the checkpoint's signature does not verify with key {kid}: it was changed, or the server did not sign it"),
            ),
            _ => ChainError::checkpoint(None, format!("the checkpoint does not verify with key {kid}: {e}")),
        })?
        .claims;
    let when = rfc3339(claims.iat);
    let seq = Some(claims.seq);
    if let Some(revoked) = revocation_of(chain, &kid).filter(|r| claims.iat > r.time.div_euclid(1000)) {
        return Err(ChainError::checkpoint(
            seq,
            format!(
                "the checkpoint of {when} is signed with key {kid}, which receipt {} revoked at {}: a \
                 signature made after its key was revoked vouches for nothing (the key may be in other hands)",
                revoked.seq,
                rfc3339(revoked.time.div_euclid(1000))
            ),
        ));
    }
    if claims.sub != chain.account {
        return Err(ChainError::checkpoint(
            seq,
            format!(
                "the checkpoint of {when} is for account {}, not this chain's {}",
                claims.sub, chain.account
            ),
        ));
    }
    let last = chain.receipts.last().map_or(0, |r| r.seq);
    let hash = match claims.seq {
        0 => GENESIS,
        n if n > last => {
            return Err(ChainError::checkpoint(
                seq,
                format!(
                    "the chain ends at seq {last} but the checkpoint of {when} is at seq {n}: the chain was rolled back or cut"
                ),
            ));
        }
        n => chain.receipts.iter().find(|r| r.seq == n).map_or("", |r| r.hash.as_str()),
    };
    if hash != claims.head {
        return Err(ChainError::checkpoint(
            seq,
            format!(
                "receipt {}'s hash is not the head the checkpoint of {when} signed: the chain differs from the one \
                 the server signed, at receipt {} or before it",
                claims.seq, claims.seq
            ),
        ));
    }
    Ok(CheckpointSummary {
        seq: claims.seq,
        head: claims.head,
        issued_at: claims.iat,
        issued: when,
        issuer: claims.iss,
        key_id: kid,
    })
}
