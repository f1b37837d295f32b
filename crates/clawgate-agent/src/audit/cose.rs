//! The passkey's public key, as the authenticator wrote it at registration: a COSE_Key (RFC 9052
//! §7, RFC 9053), a CBOR map with integer labels. Three kinds are understood, the ones browsers'
//! passkeys use: EC2 P-256 with ES256, OKP Ed25519 with EdDSA, and RSA with RS256.

use ciborium::Value;
use p256::ecdsa::signature::Verifier;
use sha2::Sha256;

/// COSE key types (`kty`, label 1).
const KTY_OKP: i128 = 1;
const KTY_EC2: i128 = 2;
const KTY_RSA: i128 = 3;
/// COSE algorithms (`alg`, label 3).
const ALG_ES256: i128 = -7;
const ALG_EDDSA: i128 = -8;
const ALG_RS256: i128 = -257;
/// Curves (`crv`, label -1 for EC2 and OKP).
const CRV_P256: i128 = 1;
const CRV_ED25519: i128 = 6;
/// The smallest RSA modulus trusted, in bits.
const RSA_MIN_BITS: usize = 2048;

/// A registered passkey's public key, ready to check signatures.
#[derive(Debug, Clone)]
pub enum PublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    EdDsa(ed25519_dalek::VerifyingKey),
    Rs256(rsa::pkcs1v15::VerifyingKey<Sha256>),
}

impl PublicKey {
    /// Reads a COSE_Key map; anything but the three kinds above is refused, naming its kty/alg.
    pub fn from_cose(key: &Value) -> Result<Self, String> {
        let Value::Map(entries) = key else {
            return Err("the credential public key is not a COSE key (a CBOR map)".into());
        };
        let label = |n: i128| {
            entries.iter().find_map(|(k, v)| match k {
                Value::Integer(i) if i128::from(*i) == n => Some(v),
                _ => None,
            })
        };
        let int = |n: i128| label(n).and_then(|v| v.as_integer()).map(i128::from);
        let bytes = |n: i128, what: &str| -> Result<&[u8], String> {
            label(n)
                .and_then(Value::as_bytes)
                .map(Vec::as_slice)
                .ok_or_else(|| format!("the COSE key has no {what} (label {n})"))
        };
        let kty = int(1).ok_or("the COSE key has no kty (label 1)")?;
        let alg = int(3).ok_or("the COSE key has no alg (label 3)")?;
        match (kty, alg) {
            (KTY_EC2, ALG_ES256) => {
                expect_curve(int(-1), CRV_P256, "P-256")?;
                let (x, y) = (bytes(-2, "x")?, bytes(-3, "y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err("the P-256 key's x and y are not 32 bytes each".into());
                }
                let point = [&[0x04][..], x, y].concat();
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| "the P-256 key is not a point on the curve".to_owned())?;
                Ok(PublicKey::Es256(key))
            }
            (KTY_OKP, ALG_EDDSA) => {
                expect_curve(int(-1), CRV_ED25519, "Ed25519")?;
                let x: &[u8; 32] =
                    bytes(-2, "x")?.try_into().map_err(|_| "the Ed25519 key is not 32 bytes".to_owned())?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(x)
                    .map_err(|_| "the Ed25519 key is not a valid point".to_owned())?;
                Ok(PublicKey::EdDsa(key))
            }
            (KTY_RSA, ALG_RS256) => {
                let n = rsa::BigUint::from_bytes_be(bytes(-1, "n")?);
                let e = rsa::BigUint::from_bytes_be(bytes(-2, "e")?);
                let bits = n.bits();
                if bits < RSA_MIN_BITS {
                    return Err(format!("the RSA key has {bits} bits, fewer than {RSA_MIN_BITS}"));
                }
                let key =
                    rsa::RsaPublicKey::new(n, e).map_err(|e| format!("the RSA key is not valid: {e}"))?;
                Ok(PublicKey::Rs256(rsa::pkcs1v15::VerifyingKey::new(key)))
            }
            (kty, alg) => Err(format!(
                "the passkey's key is of a kind this verifier does not check (COSE kty {kty}, alg {alg}); \
                 understood: EC2 P-256 ES256 (kty 2, alg -7), OKP Ed25519 EdDSA (kty 1, alg -8), RSA RS256 (kty 3, alg -257)"
            )),
        }
    }

    /// The algorithm's JOSE name: `ES256`, `EdDSA` or `RS256`.
    pub fn algorithm(&self) -> &'static str {
        match self {
            PublicKey::Es256(_) => "ES256",
            PublicKey::EdDsa(_) => "EdDSA",
            PublicKey::Rs256(_) => "RS256",
        }
    }

    /// Whether `signature` is this key's over `message`, as WebAuthn signs: ES256 an ASN.1 DER
    /// ECDSA signature with SHA-256, EdDSA the raw 64 bytes, RS256 PKCS#1 v1.5 with SHA-256.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::Es256(key) => {
                p256::ecdsa::Signature::from_der(signature).is_ok_and(|sig| key.verify(message, &sig).is_ok())
            }
            PublicKey::EdDsa(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(message, &sig).is_ok()),
            PublicKey::Rs256(key) => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
        }
    }
}

fn expect_curve(crv: Option<i128>, expected: i128, name: &str) -> Result<(), String> {
    match crv {
        Some(c) if c == expected => Ok(()),
        Some(c) => Err(format!("the COSE key's curve is {c}, not {name} ({expected})")),
        None => Err("the COSE key has no crv (label -1)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: Vec<(i64, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (Value::Integer(k.into()), v)).collect())
    }

    #[test]
    fn other_kinds_of_keys_are_refused_by_name() {
        let p384 = map(vec![(1, Value::Integer(2.into())), (3, Value::Integer((-35).into()))]);
        let err = PublicKey::from_cose(&p384).expect_err("ES384 is not understood");
        assert!(err.contains("kty 2, alg -35"), "{err}");
        let wrong_curve = map(vec![
            (1, Value::Integer(2.into())),
            (3, Value::Integer((-7).into())),
            (-1, Value::Integer(2.into())),
        ]);
        let err = PublicKey::from_cose(&wrong_curve).expect_err("ES256 on another curve");
        assert!(err.contains("curve is 2, not P-256"), "{err}");
        let err = PublicKey::from_cose(&Value::Text("key".into())).expect_err("not a map");
        assert!(err.contains("not a COSE key"), "{err}");
        let small_rsa = map(vec![
            (1, Value::Integer(3.into())),
            (3, Value::Integer((-257).into())),
            (-1, Value::Bytes(vec![0xc5; 128])),
            (-2, Value::Bytes(vec![1, 0, 1])),
        ]);
        let err = PublicKey::from_cose(&small_rsa).expect_err("1024-bit RSA");
        assert!(err.contains("1024 bits"), "{err}");
    }
}
