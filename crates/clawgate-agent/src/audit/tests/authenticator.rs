//! A tiny software authenticator: real keys (P-256, Ed25519, RSA-2048), real attestation objects
//! (fmt "none") and real assertions, as a browser would send them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::Value as Cbor;
use ed25519_dalek::Signer as _;
use rsa::rand_core::{CryptoRng, RngCore, impls};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

pub const ORIGIN: &str = "https://gate.example.com";
pub const RP_ID: &str = "gate.example.com";
pub const UP: u8 = 0x01;
pub const UV: u8 = 0x04;
const AT: u8 = 0x40;
const ED: u8 = 0x80;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Es256,
    EdDsa,
    Rs256,
}

#[derive(Clone)]
enum Key {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
    Rs256(rsa::RsaPrivateKey),
}

/// A passkey: its credential id, its key and its signature counter.
#[derive(Clone)]
pub struct Passkey {
    pub id: Vec<u8>,
    key: Key,
    pub counter: u32,
}

/// A deterministic generator for the one RSA key (SHA-256 in counter mode): keygen is real, the
/// tests repeatable.
struct TestRng(u64);

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            self.0 += 1;
            let block = Sha256::digest(self.0.to_be_bytes());
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TestRng {}

/// The one RSA key, made once: keygen is slow.
fn rsa_key() -> rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut TestRng(1 << 32), 2048).expect("RSA keygen")).clone()
}

impl Passkey {
    /// A passkey of `alg`; `seed` picks its id and (but for RSA: one key) its key.
    pub fn new(alg: Alg, seed: u8) -> Self {
        let key = match alg {
            Alg::Es256 => Key::Es256(p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("P-256 key")),
            Alg::EdDsa => Key::EdDsa(ed25519_dalek::SigningKey::from_bytes(&[seed; 32])),
            Alg::Rs256 => Key::Rs256(rsa_key()),
        };
        let id = Sha256::digest([b"credential ".as_slice(), &[seed]].concat())[..20].to_vec();
        Self { id, key, counter: 0 }
    }

    /// This key under another credential id.
    pub fn with_id(mut self, id: &[u8]) -> Self {
        self.id = id.to_vec();
        self
    }

    pub fn id_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.id)
    }

    /// The public key as a COSE_Key.
    pub fn cose_key(&self) -> Cbor {
        let int = |n: i64| Cbor::Integer(n.into());
        let entries = match &self.key {
            Key::Es256(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                let (x, y) = (point.x().expect("x").to_vec(), point.y().expect("y").to_vec());
                vec![(1, int(2)), (3, int(-7)), (-1, int(1)), (-2, Cbor::Bytes(x)), (-3, Cbor::Bytes(y))]
            }
            Key::EdDsa(k) => {
                let x = k.verifying_key().to_bytes().to_vec();
                vec![(1, int(1)), (3, int(-8)), (-1, int(6)), (-2, Cbor::Bytes(x))]
            }
            Key::Rs256(k) => {
                let (n, e) = (k.n().to_bytes_be(), k.e().to_bytes_be());
                vec![(1, int(3)), (3, int(-257)), (-1, Cbor::Bytes(n)), (-2, Cbor::Bytes(e))]
            }
        };
        Cbor::Map(entries.into_iter().map(|(k, v)| (int(k), v)).collect())
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            Key::Es256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            Key::EdDsa(k) => k.sign(message).to_bytes().to_vec(),
            Key::Rs256(k) => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(k.clone());
                let sig: rsa::pkcs1v15::Signature = rsa::signature::Signer::sign(&signer, message);
                rsa::signature::SignatureEncoding::to_vec(&sig)
            }
        }
    }

    /// What the browser sends when this passkey is registered (Ed25519 passkeys add an
    /// extension after the key, so that its end is found by decoding it).
    pub fn registration(&self, origin: &str, rp_id: &str) -> Value {
        let client = json!({"type": "webauthn.create", "challenge": b64(&[9; 32]), "origin": origin});
        let extensions = matches!(self.key, Key::EdDsa(_))
            .then(|| Cbor::Map(vec![(Cbor::Text("credProtect".into()), Cbor::Integer(2.into()))]));
        let mut flags = UP | UV | AT;
        let mut data = self.auth_data(rp_id, 0, self.counter);
        data.extend_from_slice(&[0u8; 16]);
        data.extend_from_slice(&u16::try_from(self.id.len()).expect("id length").to_be_bytes());
        data.extend_from_slice(&self.id);
        data.extend_from_slice(&cbor(&self.cose_key()));
        if let Some(ext) = extensions {
            flags |= ED;
            data.extend_from_slice(&cbor(&ext));
        }
        data[32] = flags;
        let object = Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(data)),
        ]);
        json!({
            "clientDataJSON": b64(client.to_string().as_bytes()),
            "attestationObject": b64(&cbor(&object)),
        })
    }

    /// An assertion over `challenge`: authenticator data with `flags` and the next counter
    /// (unless `counter` says which), signed over `authData ‖ SHA-256(clientDataJSON)`.
    pub fn assert(&mut self, challenge: &[u8], origin: &str, rp_id: &str, flags: u8) -> Value {
        self.counter += 1;
        self.assert_with_counter(challenge, origin, rp_id, flags, self.counter)
    }

    pub fn assert_with_counter(
        &self,
        challenge: &[u8],
        origin: &str,
        rp_id: &str,
        flags: u8,
        counter: u32,
    ) -> Value {
        let client = json!({"type": "webauthn.get", "challenge": b64(challenge), "origin": origin, "crossOrigin": false});
        let client = client.to_string().into_bytes();
        let data = self.auth_data(rp_id, flags, counter);
        let signature = self.sign(&[data.as_slice(), &Sha256::digest(&client)].concat());
        json!({
            "credentialId": self.id_b64(),
            "clientDataJSON": b64(&client),
            "authenticatorData": b64(&data),
            "signature": b64(&signature),
        })
    }

    fn auth_data(&self, rp_id: &str, flags: u8, counter: u32) -> Vec<u8> {
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend_from_slice(&counter.to_be_bytes());
        data
    }
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn cbor(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).expect("CBOR");
    out
}
