//! Checkpoints signed as the server signs them (EdDSA, `clawgate-checkpoint+jwt`), checked
//! against a JWKS written by hand.

use super::{ACCOUNT, Builder, good, rehash};
use crate::audit::*;
use clawgate_proto::evidence::receipt::{CHECKPOINT_TYP, kind};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// An Ed25519 signing key from a seed (PKCS#8 v1 around it), and its public key, base64url.
fn server_key(seed: u8) -> (EncodingKey, String) {
    let mut der =
        vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend_from_slice(&[seed; 32]);
    let public = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key().to_bytes();
    (EncodingKey::from_ed_der(&der), super::authenticator::b64(&public))
}

pub fn jwks(kid: &str, x: &str) -> JwkSet {
    let text =
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}]});
    read_jwks(&text.to_string()).expect("a JWKS")
}

fn sign(key: &EncodingKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some(CHECKPOINT_TYP.into());
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, key).expect("signed")
}

/// A checkpoint of `b`'s chain at `seq`, signed with seed 5 as `k1`, and the JWKS with `k1`.
pub fn checkpoint(b: &Builder, seq: u64) -> (String, JwkSet) {
    let (key, x) = server_key(5);
    let head = &b.receipts[usize::try_from(seq).expect("seq") - 1].hash;
    let claims = json!({"iss": "https://gate.example.com", "sub": ACCOUNT, "seq": seq, "head": head, "iat": 1_800_000_100});
    (sign(&key, "k1", &claims), jwks("k1", &x))
}

fn with(jwt: &str, jwks: &JwkSet) -> Options {
    Options { checkpoints: vec![jwt.to_owned()], jwks: Some(jwks.clone()), ..Options::default() }
}

#[track_caller]
fn refused(b: &Builder, opts: &Options, category: Category, words: &str) -> ChainError {
    let e = verify_chain(&b.chain(), opts).expect_err("the checkpoint must not hold");
    assert_eq!(e.category, category, "{e}");
    assert!(e.to_string().contains(words), "{e:?} does not say {words:?}");
    e
}

#[test]
fn a_checkpoint_of_this_chain_holds() {
    let (b, _) = good();
    let (jwt, keys) = checkpoint(&b, 8);
    let (all, _) = checkpoint(&b, 10);
    let opts = Options { checkpoints: vec![jwt, all], ..with("", &keys) };
    let summary = verify_chain(&b.chain(), &opts).expect("holds");
    let seqs: Vec<u64> = summary.checkpoints.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, [8, 10]);
    assert_eq!(summary.checkpoints[0].head, b.receipts[7].hash);
    assert_eq!(summary.checkpoints[0].issued, "2027-01-15T08:01:40Z");
    let text = summary_text(&summary);
    assert!(text.contains("checkpoint seq 8 (2027-01-15T08:01:40Z, key k1) holds"), "{text}");
}

#[test]
fn a_checkpoint_signed_by_another_key_or_changed_does_not_hold() {
    let (b, _) = good();
    let (_, keys) = checkpoint(&b, 8);
    let (other, _) = server_key(6);
    let claims = json!({"iss": "x", "sub": ACCOUNT, "seq": 8, "head": b.receipts[7].hash, "iat": 1});
    let forged = sign(&other, "k1", &claims);
    let e = refused(&b, &with(&forged, &keys), Category::Checkpoint, "signature does not verify with key k1");
    assert_eq!(e.category.exit_code(), crate::EXIT_CHECKPOINT);
    let (jwt, _) = checkpoint(&b, 8);
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let claims = json!({"iss": "x", "sub": ACCOUNT, "seq": 9, "head": b.receipts[8].hash, "iat": 1});
    parts[1] = super::authenticator::b64(claims.to_string().as_bytes());
    refused(&b, &with(&parts.join("."), &keys), Category::Checkpoint, "signature does not verify");
    let unknown = sign(&server_key(5).0, "k9", &claims);
    refused(
        &b,
        &with(&unknown, &keys),
        Category::Checkpoint,
        "signed by key k9, which the JWKS does not publish",
    );
}

#[test]
fn a_checkpoint_of_another_account_does_not_hold() {
    let (b, _) = good();
    let (key, x) = server_key(5);
    let claims = json!({"iss": "x", "sub": "usr_bob", "seq": 8, "head": b.receipts[7].hash, "iat": 1});
    let jwt = sign(&key, "k1", &claims);
    let e = refused(
        &b,
        &with(&jwt, &jwks("k1", &x)),
        Category::Checkpoint,
        "is for account usr_bob, not this chain's usr_alice",
    );
    assert_eq!(e.seq, Some(8));
}

#[test]
fn a_chain_shorter_than_its_checkpoint_was_rolled_back() {
    let (mut b, _) = good();
    let (jwt, keys) = checkpoint(&b, 10);
    b.receipts.truncate(6);
    let e = refused(
        &b,
        &with(&jwt, &keys),
        Category::Checkpoint,
        "the chain ends at seq 6 but the checkpoint of",
    );
    assert!(e.to_string().ends_with("is at seq 10: the chain was rolled back or cut"), "{e}");
}

#[test]
fn a_chain_rewritten_whole_differs_from_its_checkpoint() {
    let (mut b, _) = good();
    let (jwt, keys) = checkpoint(&b, 9);
    b.receipts[5].content = json!({"requestId": "req_2", "reason": "changed"});
    rehash(&mut b.receipts, 5);
    assert!(verify_chain(&b.chain(), &Options::default()).is_ok(), "rewritten whole, it holds alone");
    let e = refused(
        &b,
        &with(&jwt, &keys),
        Category::Checkpoint,
        "receipt 9's hash is not the head the checkpoint",
    );
    assert_eq!(e.seq, Some(9));
    // A checkpoint below the rewrite still holds.
    let (below, _) = checkpoint(&b, 5);
    assert!(verify_chain(&b.chain(), &with(&below, &keys)).is_ok());
}

#[test]
fn a_checkpoint_signed_after_the_chain_revoked_its_key_does_not_hold() {
    let (mut b, _) = good();
    // Receipt 11, at 1,800,000,011 s: key k1 revoked.
    let revoked = b.push(kind::SIGNING_KEY_REVOKED, json!({"kid": "k1", "number": 1}), None);
    let ((key, x), head) = (server_key(5), b.receipts[7].hash.clone());
    let at = |iat: i64| {
        let claims = json!({"iss": "x", "sub": ACCOUNT, "seq": 8, "head": head, "iat": iat});
        with(&sign(&key, "k1", &claims), &jwks("k1", &x))
    };
    // Signed before the revocation, or within its second: it holds (an old JWKS still has k1).
    for iat in [1_800_000_005, 1_800_000_011] {
        assert!(verify_chain(&b.chain(), &at(iat)).is_ok(), "signed at {iat}");
    }
    let e = refused(
        &b,
        &at(1_800_000_012),
        Category::Checkpoint,
        "is signed with key k1, which receipt 11 revoked",
    );
    assert_eq!((e.seq, revoked), (Some(8), 11));
    assert!(e.to_string().contains("vouches for nothing"), "{e}");
    // Another key's revocation says nothing of k1.
    b.receipts[10].content = json!({"kid": "k2", "number": 2});
    rehash(&mut b.receipts, 10);
    assert!(verify_chain(&b.chain(), &at(1_800_000_012)).is_ok());
}

#[test]
fn a_checkpoint_without_the_keys_is_a_usage_error() {
    let (b, _) = good();
    let (jwt, _) = checkpoint(&b, 8);
    let opts = Options { checkpoints: vec![jwt], ..Options::default() };
    let e = verify_chain(&b.chain(), &opts).expect_err("no JWKS");
    assert_eq!((e.category, e.category.exit_code()), (Category::Input, crate::EXIT_USAGE));
    assert!(e.message.contains("only worth its signature"), "{e}");
}

#[test]
fn a_checkpoint_file_is_the_jwt_or_json_holding_it() {
    assert_eq!(read_checkpoint("  a.b.c\n").expect("raw"), "a.b.c");
    assert_eq!(read_checkpoint(r#"{"checkpoint": "a.b.c", "seq": 3}"#).expect("json"), "a.b.c");
    assert_eq!(read_checkpoint(r#"{"seq": 3}"#).expect_err("no field").category, Category::Input);
    let (b, _) = good();
    let (_, keys) = checkpoint(&b, 8);
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("k1".into());
    let token = jsonwebtoken::encode(&header, &json!({"sub": ACCOUNT}), &server_key(5).0).expect("signed");
    refused(&b, &with(&token, &keys), Category::Input, "not a clawgate checkpoint");
    refused(&b, &with("not a jwt", &keys), Category::Input, "not a JWT");
}

#[test]
fn a_token_signed_after_the_chain_revoked_its_key_is_not_backed() {
    let (mut b, _) = good();
    // Receipt 5 approves req_1 (its nonce: the 4 receipts before it).
    let (_, challenge) = super::approval("req_1", 4);
    let (key, hash) = (server_key(5).0, b.receipts[4].hash.clone());
    let token = |iat: i64| {
        let claims = json!({
            "iss": "https://gate.example.com", "sub": ACCOUNT, "aud": "clawgate:approval", "typ": "approval",
            "jti": "tok_1", "iat": iat, "exp": iat + 300, "requestId": "req_1", "action": "rm -rf ./build",
            "actionHash": "00", "agentId": "bot", "decidedBy": "passkey", "userVerified": true,
            "challenge": super::authenticator::b64(&challenge), "receipt": hash,
        });
        let parsed: clawgate_client::ApprovalClaims = serde_json::from_value(claims.clone()).expect("claims");
        (sign(&key, "k1", &claims), parsed)
    };
    let backed = |b: &Builder, iat: i64| {
        let (jwt, claims) = token(iat);
        token_receipt(&serde_json::to_string(&b.chain()).expect("JSON"), &jwt, &claims)
    };
    backed(&b, 1_800_000_100).expect("no revocation: the receipt backs it");
    // Receipt 11, at 1,800,000,011 s: key k1 revoked.
    b.push(kind::SIGNING_KEY_REVOKED, json!({"kid": "k1", "number": 1}), None);
    backed(&b, 1_800_000_010).expect("signed before the revocation");
    let why = backed(&b, 1_800_000_100).expect_err("signed after it");
    assert!(why.contains("with key k1, which receipt 11 revoked"), "{why}");
}
