//! What a decision ceremony's passkey signs: the content decided and the nonce its WebAuthn
//! challenge is derived with (`clawgate_proto::evidence`). webauthn-rs makes a random challenge
//! and has no way to take one; its state is serialisable (the ceremony is kept in the database),
//! so the challenge is replaced, in the options sent to the browser and in the state kept, by the
//! derived one. webauthn-rs then checks the assertion against it with every check it makes
//! (challenge, origin, RP ID hash, user presence and verification, signature, counter, backup
//! flags), and the assertion itself proves the content.

use super::{CeremonyError, CeremonyResult, internal};
use crate::clock::to_rfc3339;
use crate::domain::random;
use crate::domain::rules::Scope;
use crate::service::grants::GrantChoice;
use crate::store::approvals::ApprovalRecord;
use crate::store::audit::ReceiptBody;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clawgate_proto::evidence::receipt::Assertion;
use clawgate_proto::evidence::{self, ApprovalContent, NONCE_BYTES};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use webauthn_rs::prelude::PublicKeyCredential;

/// The content decided, and the server's nonce.
#[derive(Debug, Clone, PartialEq)]
pub struct Signed {
    pub content: Value,
    pub nonce: [u8; NONCE_BYTES],
}

/// As kept with the ceremony.
#[derive(Serialize, Deserialize)]
struct Kept {
    content: Value,
    nonce: String,
}

/// What the passkey signs, as the approve page shows it and any verifier recomputes it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Signing {
    /// What is decided: for an approval `{decision, requestId, action, agentId, context,
    /// bindingCode, expiresAt, grant}` (`grant`: `{scope, ttlSeconds, maxUses}` or null).
    #[schema(value_type = Object)]
    pub content: Value,
    /// SHA-256 (hex) of the content's canonical JSON (RFC 8785).
    pub content_hash: String,
    /// The server's 16 random bytes (base64url).
    pub nonce: String,
    /// The WebAuthn challenge (base64url): SHA-256 of `clawgate decision v1\0`, the content's
    /// canonical JSON and the nonce. The options' `challenge` is exactly this.
    pub challenge: String,
}

impl Signed {
    pub fn new(content: Value) -> Self {
        Self { content, nonce: random::bytes::<NONCE_BYTES>() }
    }

    /// The challenge, base64url as WebAuthn carries it.
    pub fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(evidence::decision_challenge(&self.content, &self.nonce))
    }

    pub fn view(&self) -> Signing {
        Signing {
            content: self.content.clone(),
            content_hash: evidence::content_hash(&self.content),
            nonce: URL_SAFE_NO_PAD.encode(self.nonce),
            challenge: self.challenge(),
        }
    }

    pub fn to_json(&self) -> CeremonyResult<String> {
        let kept = Kept { content: self.content.clone(), nonce: URL_SAFE_NO_PAD.encode(self.nonce) };
        serde_json::to_string(&kept).map_err(internal)
    }

    pub fn from_json(text: &str) -> CeremonyResult<Self> {
        let kept: Kept = serde_json::from_str(text).map_err(internal)?;
        let nonce = URL_SAFE_NO_PAD.decode(kept.nonce).map_err(internal)?;
        let nonce =
            nonce.try_into().map_err(|_| internal(anyhow::anyhow!("a kept nonce of the wrong length")))?;
        Ok(Self { content: kept.content, nonce })
    }

    /// The receipt of the decision `credential` signed: the content and nonce its challenge was
    /// derived from, and the assertion as the browser sent it, so anyone can check it.
    pub fn receipt(&self, credential: &PublicKeyCredential) -> ReceiptBody {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let assertion = Assertion {
            credential_id: b64(&credential.raw_id),
            client_data_json: b64(&credential.response.client_data_json),
            authenticator_data: b64(&credential.response.authenticator_data),
            signature: b64(&credential.response.signature),
        };
        ReceiptBody {
            content: json!({ "signed": self.content, "nonce": b64(&self.nonce) }),
            evidence: serde_json::to_value(assertion).ok(),
        }
    }

    /// Refuses a kept ceremony whose state was not made for this content: its challenge must be
    /// the one derived from it, and the content what `expected` is now, but for the expiry. The
    /// expiry the person saw is signed; whether the request is still open is decided by the
    /// approval itself, against the stored expiry and the clock.
    pub fn check<T: Serialize>(&self, state: &T, expected: &Value) -> CeremonyResult<()> {
        self.check_challenge(state)?;
        if !super::decide::same_but_expiry(&self.content, expected) {
            return Err(CeremonyError::InvalidCeremony);
        }
        Ok(())
    }

    /// Refuses a kept ceremony whose state does not check assertions against the challenge
    /// derived from this content and nonce.
    pub fn check_challenge<T: Serialize>(&self, state: &T) -> CeremonyResult<()> {
        if challenge_of(state)? != self.challenge() {
            return Err(CeremonyError::InvalidCeremony);
        }
        Ok(())
    }
}

/// What approving `record` decides, with the grant chosen (its exact scope) if any.
pub fn approval_content(record: &ApprovalRecord, grant: Option<(&GrantChoice, &Scope)>) -> Value {
    let context = record.context.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or(Value::Null);
    let expires_at = to_rfc3339(record.expires_at);
    ApprovalContent {
        request_id: record.id.as_str(),
        action: &record.action,
        agent_id: record.agent_id.as_deref(),
        context,
        binding_code: &record.binding_code,
        expires_at: &expires_at,
        grant: grant.map(|(choice, scope)| {
            json!({ "scope": scope, "ttlSeconds": choice.ttl_seconds, "maxUses": choice.max_uses })
        }),
    }
    .to_value()
}

/// webauthn-rs's serialised state keeps its challenge at `ast.challenge` (base64url).
fn challenge_slot(state: &mut Value) -> Option<&mut Value> {
    state.get_mut("ast")?.get_mut("challenge")
}

/// `state` with its challenge replaced by `challenge` (base64url).
pub fn with_challenge<T: Serialize + DeserializeOwned>(state: &T, challenge: &str) -> CeremonyResult<T> {
    let mut value = serde_json::to_value(state).map_err(internal)?;
    let slot = challenge_slot(&mut value)
        .ok_or_else(|| internal(anyhow::anyhow!("no challenge in webauthn-rs's state")))?;
    *slot = Value::String(challenge.to_owned());
    serde_json::from_value(value).map_err(internal)
}

/// The challenge `state` checks assertions against (base64url).
fn challenge_of<T: Serialize>(state: &T) -> CeremonyResult<String> {
    let mut value = serde_json::to_value(state).map_err(internal)?;
    challenge_slot(&mut value)
        .and_then(|c| c.as_str().map(str::to_owned))
        .ok_or_else(|| internal(anyhow::anyhow!("no challenge in webauthn-rs's state")))
}
