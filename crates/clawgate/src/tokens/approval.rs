//! Approval tokens: Ed25519-signed JWTs that prove a person approved one request.
//!
//! Tools verify them offline with the public keys at `/.well-known/jwks.json`, or online with
//! `POST /api/v1/approval/verify-token` (which can also consume a token, once, ever).

use super::{is_current, strict_validation};
use crate::clock::Millis;
use crate::domain::random;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

pub const AUDIENCE: &str = "clawgate:approval";
pub const HEADER_TYPE: &str = "clawgate-approval+jwt";
const TYPE: &str = "approval";

/// The claims of an approval token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalClaims {
    /// The server that issued it (its public origin).
    pub iss: String,
    /// The person who approved (user id).
    pub sub: String,
    /// Always `clawgate:approval`.
    pub aud: String,
    /// Always `approval`.
    pub typ: String,
    /// Unique token id; `consume` uses it to allow one verification ever.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub request_id: String,
    /// The action exactly as the agent sent it.
    pub action: String,
    /// SHA-256 (hex) of the canonical `{action, agentId, context, requestId}`.
    pub action_hash: String,
    pub agent_id: Option<String>,
    /// What approved: `passkey` (the person, just now), `rule` (one of their rules) or `grant`
    /// (a standing grant they made with a passkey). Tokens from before the gate have none, and
    /// were all passkey approvals. A tool that needs a person's tap for each action checks
    /// `passkey`.
    #[serde(default)]
    pub decided_by: DecidedBy,
    /// The passkey credential (base64url) that approved: only when `decidedBy` is `passkey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// The authenticator verified the person (PIN or biometrics): true for every passkey
    /// approval, false when a rule or grant decided.
    pub user_verified: bool,
}

/// What approved a token's action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecidedBy {
    #[default]
    Passkey,
    Rule,
    Grant,
}

impl DecidedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Passkey => "passkey",
            DecidedBy::Rule => "rule",
            DecidedBy::Grant => "grant",
        }
    }
}

/// What the approval is about; the signer adds issuer, times and identifiers.
#[derive(Debug, Clone)]
pub struct ApprovalFacts {
    pub user_id: String,
    pub request_id: String,
    pub action: String,
    pub action_hash: String,
    pub agent_id: Option<String>,
    pub decided_by: DecidedBy,
    pub credential_id: Option<String>,
    pub user_verified: bool,
}

pub struct SignedApproval {
    pub token: String,
    pub jti: String,
    pub expires_at: Millis,
}

/// Why a token did not verify; the names are part of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvalidReason {
    /// Not a JWT, or not one this server could have issued.
    Malformed,
    /// Not an approval token (for instance a session token).
    WrongType,
    /// Signed by a key this server does not know.
    UnknownKey,
    /// The signature, issuer or audience does not check out.
    BadSignature,
    Expired,
    /// `consume` was asked and the token was used before.
    AlreadyUsed,
    /// The token approves a different action than the one given.
    ActionMismatch,
}

struct KeyPair {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_x: String,
}

pub struct ApprovalSigner {
    /// The first key signs; all of them verify (kept for rotation).
    keys: Vec<KeyPair>,
    issuer: String,
    ttl_secs: i64,
}

/// PKCS#8 v1 DER for an Ed25519 seed: jsonwebtoken rejects the v2 form ed25519-dalek emits.
fn pkcs8_v1(seed: &[u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] =
        [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

impl KeyPair {
    fn from_seed(seed: &[u8; 32]) -> Self {
        let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
        let digest = Sha256::digest(public);
        Self {
            kid: URL_SAFE_NO_PAD.encode(&digest[..12]),
            encoding: EncodingKey::from_ed_der(&pkcs8_v1(seed)),
            decoding: DecodingKey::from_ed_der(&public),
            public_x: URL_SAFE_NO_PAD.encode(public),
        }
    }
}

pub fn generate_seed() -> [u8; 32] {
    random::bytes::<32>()
}

impl ApprovalSigner {
    /// `seeds[0]` signs new tokens; every seed's public key is published and accepted.
    pub fn new(seeds: &[[u8; 32]], issuer: String, ttl_secs: i64) -> anyhow::Result<Self> {
        anyhow::ensure!(!seeds.is_empty(), "no approval signing key");
        Ok(Self { keys: seeds.iter().map(KeyPair::from_seed).collect(), issuer, ttl_secs })
    }

    pub fn sign(&self, facts: ApprovalFacts, now: Millis) -> anyhow::Result<SignedApproval> {
        let key = self.keys.first().ok_or_else(|| anyhow::anyhow!("no signing key"))?;
        let iat = now / 1000;
        let exp = iat + self.ttl_secs;
        let jti = URL_SAFE_NO_PAD.encode(random::bytes::<16>());
        let claims = ApprovalClaims {
            iss: self.issuer.clone(),
            sub: facts.user_id,
            aud: AUDIENCE.to_owned(),
            typ: TYPE.to_owned(),
            jti: jti.clone(),
            iat,
            exp,
            request_id: facts.request_id,
            action: facts.action,
            action_hash: facts.action_hash,
            agent_id: facts.agent_id,
            decided_by: facts.decided_by,
            credential_id: facts.credential_id,
            user_verified: facts.user_verified,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(HEADER_TYPE.to_owned());
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)?;
        Ok(SignedApproval { token, jti, expires_at: exp * 1000 })
    }

    /// Checks signature, algorithm, type, audience, issuer and expiry. Does not consume.
    pub fn verify(&self, token: &str, now: Millis) -> Result<ApprovalClaims, InvalidReason> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| InvalidReason::Malformed)?;
        if header.typ.as_deref() != Some(HEADER_TYPE) {
            return Err(InvalidReason::WrongType);
        }
        if header.alg != Algorithm::EdDSA {
            return Err(InvalidReason::WrongType);
        }
        let kid = header.kid.ok_or(InvalidReason::UnknownKey)?;
        let key = self.keys.iter().find(|k| k.kid == kid).ok_or(InvalidReason::UnknownKey)?;
        let validation = strict_validation(Algorithm::EdDSA, AUDIENCE, &self.issuer);
        let data =
            jsonwebtoken::decode::<ApprovalClaims>(token, &key.decoding, &validation).map_err(|e| match e
                .kind()
            {
                jsonwebtoken::errors::ErrorKind::Json(_)
                | jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(_) => InvalidReason::Malformed,
                _ => InvalidReason::BadSignature,
            })?;
        let claims = data.claims;
        if claims.typ != TYPE {
            return Err(InvalidReason::WrongType);
        }
        if !is_current(claims.iat, claims.exp, now / 1000) {
            return Err(InvalidReason::Expired);
        }
        Ok(claims)
    }

    /// The JSON Web Key Set of every key that may have signed a live token.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": k.public_x,
                    "kid": k.kid,
                    "use": "sig",
                    "alg": "EdDSA",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ApprovalFacts {
        ApprovalFacts {
            user_id: "usr_1".into(),
            request_id: "req_1".into(),
            action: "deploy".into(),
            action_hash: "00".into(),
            agent_id: Some("bot".into()),
            decided_by: DecidedBy::Passkey,
            credential_id: Some("cred".into()),
            user_verified: true,
        }
    }

    #[test]
    fn signed_tokens_verify_and_expire() -> anyhow::Result<()> {
        let s = ApprovalSigner::new(&[generate_seed()], "http://localhost:3000".into(), 120)?;
        let signed = s.sign(facts(), 10_000_000)?;
        let claims = s.verify(&signed.token, 10_000_000).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        assert_eq!(claims.action, "deploy");
        assert_eq!(claims.jti, signed.jti);
        assert_eq!(s.verify(&signed.token, 10_000_000 + 130_000), Err(InvalidReason::Expired));
        Ok(())
    }

    #[test]
    fn other_keys_and_garbage_are_refused() -> anyhow::Result<()> {
        let a = ApprovalSigner::new(&[generate_seed()], "i".into(), 120)?;
        let b = ApprovalSigner::new(&[generate_seed()], "i".into(), 120)?;
        let t = a.sign(facts(), 0)?.token;
        assert_eq!(b.verify(&t, 0), Err(InvalidReason::UnknownKey));
        assert_eq!(a.verify("not.a.jwt", 0), Err(InvalidReason::Malformed));
        Ok(())
    }

    #[test]
    fn the_published_key_verifies_offline() -> anyhow::Result<()> {
        let s = ApprovalSigner::new(&[generate_seed()], "i".into(), 120)?;
        let t = s.sign(facts(), 0)?.token;
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(s.jwks())?;
        let key = DecodingKey::from_jwk(&jwks.keys[0])?;
        let mut v = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        v.validate_exp = false;
        v.set_audience(&[AUDIENCE]);
        let data = jsonwebtoken::decode::<ApprovalClaims>(&t, &key, &v)?;
        assert_eq!(data.claims.request_id, "req_1");
        Ok(())
    }
}
