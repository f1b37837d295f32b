//! Ed25519-signed tokens for one action: approval tokens (a person approved it with a passkey)
//! and gate tokens (a rule or a standing grant allowed it alone); see [`super::kind`].
//!
//! Tools verify them offline with the public keys at `/.well-known/jwks.json`, or online with
//! `POST /api/v1/approval/verify-token` (which can also consume a token, once, ever).

use super::keys::{KeyRecord, schedule};
use super::kind::TokenKind;
pub use super::kind::{Accept, DecidedBy};
use super::{is_current, strict_validation};
use crate::clock::Millis;
use crate::domain::random;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
pub use clawgate_proto::wire::tokens::{ApprovalClaims, InvalidReason};
use ed25519_dalek::{Signer, SigningKey};
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use serde::Serialize;
use std::sync::{Arc, RwLock};

/// The audience of approval tokens: what a verifier that needs a person's approval checks.
pub const AUDIENCE: &str = TokenKind::Approval.audience();
pub const HEADER_TYPE: &str = TokenKind::Approval.header_type();
/// The audience of gate tokens (a rule or a grant allowed the call; no person was asked).
pub const GATE_AUDIENCE: &str = TokenKind::Gate.audience();
pub const GATE_HEADER_TYPE: &str = TokenKind::Gate.header_type();

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
    /// For a passkey approval: the challenge its passkey signed, and its receipt's hash.
    pub challenge: Option<String>,
    pub receipt: Option<String>,
}

/// A token that checked out against the keys this instance holds.
#[derive(Debug, PartialEq)]
pub struct Verified {
    pub claims: ApprovalClaims,
    /// The number of the key that signed it: whoever must know at once whether it was revoked
    /// since this instance last reloaded its keys asks the store.
    pub key: i64,
}

pub struct SignedApproval {
    pub token: String,
    pub jti: String,
    pub expires_at: Millis,
}

struct KeyPair {
    number: i64,
    kid: String,
    active_from: Millis,
    retires_at: Option<Millis>,
    /// Parsed once: jsonwebtoken would parse its PKCS#8 form again for every token.
    signing: SigningKey,
    decoding: DecodingKey,
    public_x: String,
}

impl KeyPair {
    fn live_at(&self, now: Millis) -> bool {
        self.retires_at.is_none_or(|r| now < r)
    }
}

pub struct ApprovalSigner {
    /// In the order the keys take over. Swapped whole on reload; readers clone the `Arc` and let
    /// go of the lock at once, so signing never waits on a reload and never reads the database.
    keys: RwLock<Arc<Vec<KeyPair>>>,
    issuer: String,
    ttl_secs: i64,
}

/// A JWS in compact form (RFC 7515), signed with Ed25519: what `jsonwebtoken::encode` makes,
/// with a key parsed once rather than for each token.
fn encode<T: Serialize>(header: &Header, claims: &T, key: &SigningKey) -> anyhow::Result<String> {
    let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?));
    let signature = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
    Ok(token)
}

/// The keys not revoked, in the order they take over.
fn key_pairs(records: &[KeyRecord]) -> Vec<KeyPair> {
    let seeds: std::collections::HashMap<i64, &[u8; 32]> =
        records.iter().map(|k| (k.number, &k.seed)).collect();
    schedule(records)
        .into_iter()
        .filter(|info| info.revoked_at.is_none())
        .filter_map(|info| {
            let seed = seeds.get(&info.number)?;
            let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
            Some(KeyPair {
                number: info.number,
                kid: info.kid,
                active_from: info.active_from,
                retires_at: info.retires_at,
                signing: SigningKey::from_bytes(seed),
                decoding: DecodingKey::from_ed_der(&public),
                public_x: URL_SAFE_NO_PAD.encode(public),
            })
        })
        .collect()
}

/// What a reload changed here, by kid.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// Published (and accepted) from now on.
    pub added: Vec<String>,
    /// Neither published nor accepted any more: revoked, or deleted once retired.
    pub dropped: Vec<String>,
}

impl ApprovalSigner {
    /// Signs with the key whose turn it is (see [`super::keys::signing_number`]); publishes and
    /// accepts every key neither retired nor revoked.
    pub fn new(keys: &[KeyRecord], issuer: String, ttl_secs: i64) -> anyhow::Result<Self> {
        let pairs = key_pairs(keys);
        anyhow::ensure!(!pairs.is_empty(), "no approval signing key that is not revoked");
        Ok(Self { keys: RwLock::new(Arc::new(pairs)), issuer, ttl_secs })
    }

    /// Replaces the keys with `keys` as now stored.
    pub fn reload(&self, keys: &[KeyRecord]) -> anyhow::Result<Reloaded> {
        let fresh = Arc::new(key_pairs(keys));
        anyhow::ensure!(!fresh.is_empty(), "no approval signing key that is not revoked is stored");
        let mut slot = self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let missing = |from: &[KeyPair], of: &[KeyPair]| -> Vec<String> {
            from.iter().filter(|k| !of.iter().any(|o| o.kid == k.kid)).map(|k| k.kid.clone()).collect()
        };
        let changed = Reloaded { added: missing(&fresh, &slot), dropped: missing(&slot, &fresh) };
        *slot = fresh;
        Ok(changed)
    }

    /// Whether this instance still uses any of the keys numbered `numbers`.
    pub fn holds_any(&self, numbers: &[i64]) -> bool {
        self.current().iter().any(|k| numbers.contains(&k.number))
    }

    fn current(&self) -> Arc<Vec<KeyPair>> {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The kid that signs at `now`.
    pub fn signing_kid(&self, now: Millis) -> Option<String> {
        let keys = self.current();
        Self::signer_at(&keys, now).map(|k| k.kid.clone())
    }

    fn signer_at(keys: &[KeyPair], now: Millis) -> Option<&KeyPair> {
        keys.iter().rev().find(|k| k.active_from <= now).or(keys.first())
    }

    /// Signs a token for `facts`: an approval token when a passkey decided, else a gate token.
    pub fn sign(&self, facts: ApprovalFacts, now: Millis) -> anyhow::Result<SignedApproval> {
        let keys = self.current();
        let key = Self::signer_at(&keys, now).ok_or_else(|| anyhow::anyhow!("no signing key"))?;
        let kind = TokenKind::of(facts.decided_by);
        let iat = now / 1000;
        let exp = iat + self.ttl_secs;
        let jti = URL_SAFE_NO_PAD.encode(random::bytes::<16>());
        let claims = ApprovalClaims {
            iss: self.issuer.clone(),
            sub: facts.user_id,
            aud: kind.audience().to_owned(),
            typ: kind.claim_type().to_owned(),
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
            challenge: facts.challenge,
            receipt: facts.receipt,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(kind.header_type().to_owned());
        header.kid = Some(key.kid.clone());
        let token = encode(&header, &claims, &key.signing)?;
        Ok(SignedApproval { token, jti, expires_at: exp * 1000 })
    }

    /// Signs `claims` as a JWT of another kind (header `typ` `header_type`), with the key whose
    /// turn it is: published in the same JWKS, refused by every approval and gate verifier.
    pub fn sign_other<T: Serialize>(
        &self,
        header_type: &str,
        claims: &T,
        now: Millis,
    ) -> anyhow::Result<String> {
        let keys = self.current();
        let key = Self::signer_at(&keys, now).ok_or_else(|| anyhow::anyhow!("no signing key"))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(header_type.to_owned());
        header.kid = Some(key.kid.clone());
        encode(&header, claims, &key.signing)
    }

    /// The issuer this server writes in what it signs.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Checks signature, algorithm, kind (header type, audience and claim type agree, and with
    /// `decidedBy`), issuer and expiry, then that `accept` takes what decided. Does not consume,
    /// and knows only the keys of the last reload (see [`Verified::key`]).
    pub fn verify(&self, token: &str, now: Millis, accept: Accept) -> Result<Verified, InvalidReason> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| InvalidReason::Malformed)?;
        let kind =
            header.typ.as_deref().and_then(TokenKind::from_header_type).ok_or(InvalidReason::WrongType)?;
        if header.alg != Algorithm::EdDSA {
            return Err(InvalidReason::WrongType);
        }
        let kid = header.kid.ok_or(InvalidReason::UnknownKey)?;
        let keys = self.current();
        // A retired key is unknown: every token it signed has expired.
        let key = keys.iter().find(|k| k.kid == kid && k.live_at(now)).ok_or(InvalidReason::UnknownKey)?;
        let validation = strict_validation(Algorithm::EdDSA, kind.audience(), &self.issuer);
        let data =
            jsonwebtoken::decode::<ApprovalClaims>(token, &key.decoding, &validation).map_err(|e| match e
                .kind()
            {
                jsonwebtoken::errors::ErrorKind::Json(_)
                | jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(_) => InvalidReason::Malformed,
                _ => InvalidReason::BadSignature,
            })?;
        let claims = data.claims;
        // Each part names the same kind: a gate token never passes for a person's approval.
        if claims.typ != kind.claim_type() || TokenKind::of(claims.decided_by) != kind {
            return Err(InvalidReason::WrongType);
        }
        if !is_current(claims.iat, claims.exp, now / 1000) {
            return Err(InvalidReason::Expired);
        }
        if !accept.accepts(claims.decided_by) {
            return Err(InvalidReason::NotPersonApproved);
        }
        Ok(Verified { claims, key: key.number })
    }

    /// The JSON Web Key Set of every key that may have signed a live token, or is about to sign.
    pub fn jwks(&self, now: Millis) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .current()
            .iter()
            .filter(|k| k.live_at(now))
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
    use super::super::keys::{KeyState, RETIRE_AFTER_MS, generate_seed, signing_number};
    use super::*;

    fn one_key() -> Vec<KeyRecord> {
        vec![KeyRecord { number: 1, seed: generate_seed(), created_at: 0, active_from: 0, revoked_at: None }]
    }

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
            challenge: None,
            receipt: None,
        }
    }

    #[test]
    fn signed_tokens_verify_and_expire() -> anyhow::Result<()> {
        let s = ApprovalSigner::new(&one_key(), "http://localhost:3000".into(), 120)?;
        let signed = s.sign(facts(), 10_000_000)?;
        let claims =
            s.verify(&signed.token, 10_000_000, Accept::PERSON).map_err(|e| anyhow::anyhow!("{e:?}"))?.claims;
        assert_eq!(claims.action, "deploy");
        assert_eq!(claims.jti, signed.jti);
        assert_eq!(
            s.verify(&signed.token, 10_000_000 + 130_000, Accept::PERSON),
            Err(InvalidReason::Expired)
        );
        Ok(())
    }

    #[test]
    fn other_keys_and_garbage_are_refused() -> anyhow::Result<()> {
        let a = ApprovalSigner::new(&one_key(), "i".into(), 120)?;
        let b = ApprovalSigner::new(&one_key(), "i".into(), 120)?;
        let t = a.sign(facts(), 0)?.token;
        assert_eq!(b.verify(&t, 0, Accept::PERSON), Err(InvalidReason::UnknownKey));
        assert_eq!(a.verify("not.a.jwt", 0, Accept::PERSON), Err(InvalidReason::Malformed));
        Ok(())
    }

    #[test]
    fn the_published_key_verifies_offline() -> anyhow::Result<()> {
        let s = ApprovalSigner::new(&one_key(), "i".into(), 120)?;
        let t = s.sign(facts(), 0)?.token;
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(s.jwks(0))?;
        let key = DecodingKey::from_jwk(&jwks.keys[0])?;
        let mut v = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        v.validate_exp = false;
        v.set_audience(&[AUDIENCE]);
        let data = jsonwebtoken::decode::<ApprovalClaims>(&t, &key, &v)?;
        assert_eq!(data.claims.request_id, "req_1");
        Ok(())
    }

    #[test]
    fn a_rotated_key_is_published_first_signs_later_and_retires_after_its_tokens() -> anyhow::Result<()> {
        let takeover = 1_000_000;
        let mut keys = one_key();
        let s = ApprovalSigner::new(&keys, "i".into(), 600)?;
        let old_kid = s.signing_kid(0).ok_or_else(|| anyhow::anyhow!("a signer"))?;
        keys.push(KeyRecord {
            number: 2,
            seed: generate_seed(),
            created_at: 10,
            active_from: takeover,
            revoked_at: None,
        });
        let reloaded = s.reload(&keys)?;
        assert_eq!((reloaded.added.len(), reloaded.dropped.len()), (1, 0));
        let new_kid = reloaded.added[0].clone();
        assert_ne!(new_kid, old_kid);

        // Published before it signs.
        let before = s.sign(facts(), takeover - 1_000)?;
        assert_eq!(jsonwebtoken::decode_header(&before.token)?.kid.as_deref(), Some(old_kid.as_str()));
        assert_eq!(s.jwks(takeover - 1_000)["keys"].as_array().map(Vec::len), Some(2));

        // Takes over; the old key still verifies what it signed.
        let after = s.sign(facts(), takeover)?;
        assert_eq!(jsonwebtoken::decode_header(&after.token)?.kid.as_deref(), Some(new_kid.as_str()));
        assert!(s.verify(&before.token, takeover + 500_000, Accept::PERSON).is_ok());

        // Retired once every token it signed has expired.
        let retired = takeover + RETIRE_AFTER_MS;
        assert_eq!(s.jwks(retired)["keys"].as_array().map(Vec::len), Some(1));
        assert_eq!(s.jwks(retired)["keys"][0]["kid"], serde_json::json!(new_kid));
        let infos = schedule(&keys);
        let signing = signing_number(&infos, retired);
        assert_eq!(signing, Some(2));
        let states: Vec<KeyState> = infos.iter().map(|k| k.state(signing, retired)).collect();
        assert_eq!(states, [KeyState::Retired, KeyState::Active]);
        let states: Vec<KeyState> = infos.iter().map(|k| k.state(Some(1), 0)).collect();
        assert_eq!(states, [KeyState::Active, KeyState::Next]);
        Ok(())
    }

    fn gate_facts(by: DecidedBy) -> ApprovalFacts {
        ApprovalFacts { decided_by: by, credential_id: None, user_verified: false, ..facts() }
    }

    fn part(token: &str, i: usize) -> serde_json::Value {
        let text = token.split('.').nth(i).unwrap_or_default();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap_or_default()).unwrap_or_default()
    }

    /// A token of this server's key with any header type and claims: what someone holding the
    /// key, or a bug, could make.
    fn forge(s: &ApprovalSigner, header_type: &str, claims: &serde_json::Value) -> String {
        let keys = s.current();
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(header_type.to_owned());
        header.kid = Some(keys[0].kid.clone());
        encode(&header, claims, &keys[0].signing).unwrap_or_default()
    }

    #[test]
    fn rule_and_grant_tokens_are_gate_tokens_accepted_only_when_asked() -> anyhow::Result<()> {
        let s = ApprovalSigner::new(&one_key(), "i".into(), 120)?;
        for by in [DecidedBy::Rule, DecidedBy::Grant] {
            let t = s.sign(gate_facts(by), 0)?.token;
            assert_eq!(part(&t, 0)["typ"], GATE_HEADER_TYPE);
            assert_eq!(part(&t, 1)["aud"], GATE_AUDIENCE);
            assert_eq!(part(&t, 1)["typ"], "gate");
            assert_eq!(s.verify(&t, 0, Accept::PERSON), Err(InvalidReason::NotPersonApproved));
            assert_eq!(s.verify(&t, 0, Accept::of([by])).map(|v| v.claims.decided_by).ok(), Some(by));
            assert!(s.verify(&t, 0, Accept::ANY).is_ok());
        }
        let grant = s.sign(gate_facts(DecidedBy::Grant), 0)?.token;
        assert_eq!(s.verify(&grant, 0, Accept::of([DecidedBy::Rule])), Err(InvalidReason::NotPersonApproved));
        let approval = s.sign(facts(), 0)?.token;
        assert_eq!(
            (part(&approval, 0)["typ"].clone(), part(&approval, 1)["aud"].clone()),
            (serde_json::json!(HEADER_TYPE), serde_json::json!(AUDIENCE))
        );
        assert!(s.verify(&approval, 0, Accept::PERSON).is_ok());
        Ok(())
    }

    #[test]
    fn a_gate_token_fails_a_verifier_that_checks_the_approval_audience() -> anyhow::Result<()> {
        let s = ApprovalSigner::new(&one_key(), "i".into(), 120)?;
        let t = s.sign(gate_facts(DecidedBy::Rule), 0)?.token;
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(s.jwks(0))?;
        let key = DecodingKey::from_jwk(&jwks.keys[0])?;
        let mut v = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        v.validate_exp = false;
        v.set_audience(&[AUDIENCE]);
        let refused =
            jsonwebtoken::decode::<serde_json::Value>(&t, &key, &v).map(|_| ()).map_err(|e| e.into_kind());
        assert_eq!(refused, Err(jsonwebtoken::errors::ErrorKind::InvalidAudience));
        Ok(())
    }

    #[test]
    fn forged_kind_and_decider_combinations_are_refused_even_with_the_real_key() -> anyhow::Result<()> {
        let s = ApprovalSigner::new(&one_key(), "i".into(), 120)?;
        let claims = |aud: &str, typ: &str, by: Option<&str>| {
            let mut c = part(&s.sign(facts(), 0).map(|t| t.token).unwrap_or_default(), 1);
            c["aud"] = aud.into();
            c["typ"] = typ.into();
            if let Some(by) = by {
                c["decidedBy"] = by.into();
            } else if let Some(o) = c.as_object_mut() {
                o.remove("decidedBy");
            }
            c
        };
        let (a, g) = (TokenKind::Approval, TokenKind::Gate);
        let forged = [
            // An approval token that says a rule or a grant decided.
            (a, claims(AUDIENCE, "approval", Some("rule")), InvalidReason::WrongType),
            (a, claims(AUDIENCE, "approval", Some("grant")), InvalidReason::WrongType),
            // A gate token that claims a person's passkey.
            (g, claims(GATE_AUDIENCE, "gate", Some("passkey")), InvalidReason::WrongType),
            // Kinds that disagree between header, audience and claim type.
            (a, claims(AUDIENCE, "gate", Some("passkey")), InvalidReason::WrongType),
            (g, claims(GATE_AUDIENCE, "approval", Some("rule")), InvalidReason::WrongType),
            (a, claims(GATE_AUDIENCE, "approval", Some("passkey")), InvalidReason::BadSignature),
            (g, claims(AUDIENCE, "gate", Some("rule")), InvalidReason::BadSignature),
            // `decidedBy` is required, and only the three known deciders.
            (a, claims(AUDIENCE, "approval", None), InvalidReason::Malformed),
            (a, claims(AUDIENCE, "approval", Some("robot")), InvalidReason::Malformed),
        ];
        for (kind, c, reason) in forged {
            let t = forge(&s, kind.header_type(), &c);
            assert_eq!(s.verify(&t, 0, Accept::ANY), Err(reason), "{} {c}", kind.header_type());
        }
        // The same forging, consistent, passes: the refusals above are about the combinations.
        let fine = forge(&s, GATE_HEADER_TYPE, &claims(GATE_AUDIENCE, "gate", Some("grant")));
        assert!(s.verify(&fine, 0, Accept::ANY).is_ok());
        Ok(())
    }

    #[test]
    fn a_revoked_key_neither_signs_nor_verifies_nor_is_published() -> anyhow::Result<()> {
        let mut keys = one_key();
        let s = ApprovalSigner::new(&keys, "i".into(), 600)?;
        let before = s.sign(facts(), 1_000)?.token;
        let old = s.signing_kid(1_000).unwrap_or_default();
        assert!(s.holds_any(&[1]));
        keys[0].revoked_at = Some(2_000);
        keys.push(KeyRecord {
            number: 2,
            seed: generate_seed(),
            created_at: 2_000,
            active_from: 2_000,
            revoked_at: None,
        });
        let reloaded = s.reload(&keys)?;
        assert_eq!(reloaded.dropped, [old]);
        assert_eq!(reloaded.added.len(), 1);
        assert!(!s.holds_any(&[1]) && s.holds_any(&[2]));
        assert_eq!(s.verify(&before, 3_000, Accept::PERSON), Err(InvalidReason::UnknownKey));
        assert_eq!(s.jwks(3_000)["keys"].as_array().map(Vec::len), Some(1));
        assert_eq!(s.jwks(3_000)["keys"][0]["kid"], serde_json::json!(reloaded.added[0]));
        let after = s.sign(facts(), 3_000)?.token;
        assert_eq!(jsonwebtoken::decode_header(&after)?.kid, Some(reloaded.added[0].clone()));
        assert_eq!(s.verify(&after, 3_000, Accept::PERSON).map(|v| v.key), Ok(2));
        // Never left without a key: a set with every key revoked is refused, the last one kept.
        keys[1].revoked_at = Some(4_000);
        assert!(s.reload(&keys).is_err());
        assert!(s.verify(&after, 4_000, Accept::PERSON).is_ok());
        Ok(())
    }
}
