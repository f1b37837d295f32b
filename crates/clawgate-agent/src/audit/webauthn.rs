//! What the browser sent, read back from a receipt's evidence: client data (W3C WebAuthn §5.8.1),
//! authenticator data (§6.1) and, at registration, the attestation object holding the public key
//! (§6.5). The attestation statement itself is not checked: clawgate asks for none, so the key is
//! trusted as the first one the person registered, and every later signature is held to it.

use super::cose::PublicKey;
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, general_purpose};
use ciborium::Value as Cbor;
use clawgate_proto::evidence::receipt::{Assertion, Registration};
use clawgate_proto::evidence::{NONCE_BYTES, decision_challenge};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Authenticator data flags.
pub const UP: u8 = 0x01;
pub const UV: u8 = 0x04;
const AT: u8 = 0x40;
const ED: u8 = 0x80;

/// base64url with or without padding.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    B64.decode(text).ok()
}

pub fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Plain base64 is refused above; this only names it in a message.
fn field(value: &str, what: &str) -> Result<Vec<u8>, String> {
    b64_decode(value).ok_or_else(|| {
        let plain = general_purpose::STANDARD.decode(value).is_ok();
        format!("{what} is not base64url{}", if plain { " (it is plain base64)" } else { "" })
    })
}

/// The parts of clientDataJSON that are checked.
#[derive(Debug)]
pub struct ClientData {
    pub origin: String,
    pub challenge: Vec<u8>,
}

fn client_data(bytes: &[u8], expected_type: &str) -> Result<ClientData, String> {
    let json: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("clientDataJSON is not JSON: {e}"))?;
    let text = |name: &str| json.get(name).and_then(Value::as_str);
    match text("type") {
        Some(t) if t == expected_type => {}
        Some(t) => return Err(format!("clientDataJSON.type is \"{t}\", not \"{expected_type}\"")),
        None => return Err("clientDataJSON has no type".into()),
    }
    // As the server: a page framed by another site (WebAuthn L3 `crossOrigin`, `topOrigin`) is
    // refused; clawgate's pages are never framed.
    if json.get("crossOrigin").is_some_and(|v| v != &Value::Bool(false)) || json.get("topOrigin").is_some() {
        return Err(
            "the passkey was used in a frame of another site (clientDataJSON.crossOrigin or topOrigin)"
                .into(),
        );
    }
    let challenge = field(text("challenge").ok_or("clientDataJSON has no challenge")?, "the challenge")?;
    let origin = text("origin").ok_or("clientDataJSON has no origin")?.to_owned();
    Ok(ClientData { origin, challenge })
}

/// Authenticator data, with the attested credential (id and COSE key) when present.
#[derive(Debug)]
pub struct AuthData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub counter: u32,
    pub credential: Option<(Vec<u8>, Cbor)>,
}

fn auth_data(bytes: &[u8]) -> Result<AuthData, String> {
    let short = || format!("the authenticator data is {} bytes, too short", bytes.len());
    let rp_id_hash: [u8; 32] = bytes.get(..32).and_then(|b| b.try_into().ok()).ok_or_else(short)?;
    let flags = *bytes.get(32).ok_or_else(short)?;
    let counter =
        bytes.get(33..37).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes).ok_or_else(short)?;
    let mut rest = &bytes[37..];
    let mut credential = None;
    if flags & AT != 0 {
        let truncated = || "the attested credential data is cut short".to_owned();
        let len =
            rest.get(16..18).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))).ok_or_else(truncated)?;
        let id = rest.get(18..18 + len).ok_or_else(truncated)?.to_vec();
        rest = &rest[18 + len..];
        let key = next_cbor(&mut rest).map_err(|e| format!("the credential public key is not CBOR: {e}"))?;
        credential = Some((id, key));
    }
    if flags & ED != 0 {
        next_cbor(&mut rest).map_err(|e| format!("the authenticator extensions are not CBOR: {e}"))?;
    }
    if !rest.is_empty() {
        return Err(format!("the authenticator data has {} bytes left over", rest.len()));
    }
    Ok(AuthData { rp_id_hash, flags, counter, credential })
}

/// Decodes one CBOR item from the front of `rest` and moves `rest` past it.
fn next_cbor(rest: &mut &[u8]) -> Result<Cbor, String> {
    ciborium::de::from_reader::<Cbor, _>(&mut *rest).map_err(|e| e.to_string())
}

/// A registration as the browser sent it, its key read.
#[derive(Debug)]
pub struct Registered {
    pub credential_id: Vec<u8>,
    pub key: PublicKey,
    pub origin: String,
    pub rp_id_hash: [u8; 32],
    pub counter: u32,
}

pub fn registration(evidence: &Value) -> Result<Registered, String> {
    let reg: Registration = serde_json::from_value(evidence.clone())
        .map_err(|e| format!("the evidence is not a passkey registration: {e}"))?;
    let client = client_data(&field(&reg.client_data_json, "clientDataJSON")?, "webauthn.create")?;
    let object = field(&reg.attestation_object, "attestationObject")?;
    let object: Cbor = ciborium::de::from_reader(object.as_slice())
        .map_err(|e| format!("attestationObject is not CBOR: {e}"))?;
    let Cbor::Map(entries) = object else { return Err("attestationObject is not a CBOR map".into()) };
    let auth = entries
        .iter()
        .find_map(|(k, v)| (k.as_text() == Some("authData")).then_some(v))
        .and_then(Cbor::as_bytes)
        .ok_or("attestationObject has no authData")?;
    let auth = auth_data(auth)?;
    let (credential_id, key) =
        auth.credential.ok_or("the authenticator data holds no credential (flag AT is not set)")?;
    let key = PublicKey::from_cose(&key)?;
    Ok(Registered {
        credential_id,
        key,
        origin: client.origin,
        rp_id_hash: auth.rp_id_hash,
        counter: auth.counter,
    })
}

/// An assertion as the browser sent it, read; [`Asserted::signed_by`] checks its signature.
#[derive(Debug)]
pub struct Asserted {
    pub credential_id: Vec<u8>,
    pub client: ClientData,
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub counter: u32,
    message: Vec<u8>,
    signature: Vec<u8>,
}

pub fn assertion(evidence: &Value) -> Result<Asserted, String> {
    let a: Assertion = serde_json::from_value(evidence.clone())
        .map_err(|e| format!("the evidence is not a passkey assertion: {e}"))?;
    let client_json = field(&a.client_data_json, "clientDataJSON")?;
    let client = client_data(&client_json, "webauthn.get")?;
    let auth_bytes = field(&a.authenticator_data, "authenticatorData")?;
    let auth = auth_data(&auth_bytes)?;
    let mut message = auth_bytes;
    message.extend_from_slice(&Sha256::digest(&client_json));
    Ok(Asserted {
        credential_id: field(&a.credential_id, "credentialId")?,
        client,
        rp_id_hash: auth.rp_id_hash,
        flags: auth.flags,
        counter: auth.counter,
        message,
        signature: field(&a.signature, "signature")?,
    })
}

impl Asserted {
    /// Whether the signature over `authenticatorData ‖ SHA-256(clientDataJSON)` is `key`'s.
    pub fn signed_by(&self, key: &PublicKey) -> bool {
        key.verify(&self.message, &self.signature)
    }
}

/// The challenge a signed decision's receipt content gives: `content` is `{signed, nonce}`,
/// `signed` the decision content, which must be a `decision` of the receipt's kind.
pub fn decision_challenge_of(content: &Value, decision: &str) -> Result<[u8; 32], String> {
    let signed = content.get("signed").ok_or("the content has no signed decision")?;
    let signed_decision = signed.get("decision").and_then(Value::as_str).unwrap_or("none");
    if signed_decision != decision {
        return Err(format!(
            "the passkey signed a decision of another kind (\"{signed_decision}\") than the receipt's (\"{decision}\")"
        ));
    }
    let nonce = content.get("nonce").and_then(Value::as_str).ok_or("the content has no nonce")?;
    let nonce: [u8; NONCE_BYTES] =
        field(nonce, "the nonce")?.try_into().map_err(|_| format!("the nonce is not {NONCE_BYTES} bytes"))?;
    Ok(decision_challenge(signed, &nonce))
}

/// SHA-256 of an RP ID, as authenticator data carries it.
pub fn rp_id_hash(rp_id: &str) -> [u8; 32] {
    Sha256::digest(rp_id.as_bytes()).into()
}
