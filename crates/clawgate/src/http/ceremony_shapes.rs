//! The WebAuthn ceremony shapes the passkey and approval routes share (`CeremonyStart`,
//! `AssertionBody`), so neither route file imports the other. The ceremonies themselves are
//! `service::ceremonies`'.

use crate::service::ceremonies::{PublicKeyCredential, Signing, Started};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A WebAuthn ceremony to hand to `navigator.credentials.create()` or `.get()`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CeremonyStart {
    /// Send this back with the authenticator's response.
    pub ceremony_id: String,
    /// `register`, `login`, `approve` or `decide` (a denial, a stop or a rule set, signed).
    pub purpose: String,
    /// WebAuthn options (`PublicKeyCredentialCreationOptions` or `…RequestOptions`), base64url binary fields.
    #[schema(value_type = Object)]
    pub public_key: serde_json::Value,
    /// For an approval: what the passkey signs. The options' `challenge` is derived from it, so
    /// the signed assertion proves this content; absent for registration and sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<Signing>,
}

impl From<Started> for CeremonyStart {
    fn from(s: Started) -> Self {
        Self {
            ceremony_id: s.id.to_string(),
            purpose: s.kind.as_str().into(),
            public_key: s.public_key,
            signing: s.signing,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssertionBody {
    #[schema(pattern = r"^cer_[0-9A-Za-z]{22}$")]
    pub ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get()`, as JSON.
    #[schema(value_type = Object)]
    pub credential: PublicKeyCredential,
}
