//! What clawgate's tests bring: a software passkey that is not ours (1Password's passkey-rs
//! authenticator and WebAuthn client), and [`layout`], the direction between modules.
//!
//! The passkey speaks the same JSON a browser would send, so the server sees exactly what
//! `navigator.credentials.create()` / `.get()` would give it.

pub mod layout;

use passkey_authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey_client::{Client, DefaultClientData, DefaultClientDataWithExtra};
use passkey_crypto::rust_crypto::RustCryptoBackend;
use passkey_types::Passkey;
use passkey_types::ctap2::{Aaguid, Ctap2Error};
use passkey_types::webauthn::{CredentialCreationOptions, CredentialRequestOptions};
use serde_json::{Value, json};
use url::Url;

/// A person who is present and, when asked, verified (PIN or biometrics).
pub struct AlwaysVerified;

#[async_trait::async_trait]
impl UserValidationMethod for AlwaysVerified {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        // Verification is only reported when it was asked for, like a real authenticator.
        Ok(UserCheck { presence, verification })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

type SoftClient =
    Client<Option<Passkey>, AlwaysVerified, RustCryptoBackend, public_suffix::PublicSuffixList, ()>;

/// One authenticator holding at most one credential, answering for `origin`.
pub struct SoftKey {
    client: SoftClient,
    pub origin: Url,
}

impl SoftKey {
    pub fn new(origin: &str) -> Self {
        Self::with_store(origin, None)
    }

    /// An authenticator that keeps a signature counter (most hardware keys do; synced passkeys don't).
    pub fn with_counter(origin: &str) -> Self {
        let mut key = Self::new(origin);
        key.client.authenticator_mut().set_make_credentials_with_signature_counter(true);
        key
    }

    fn with_store(origin: &str, store: Option<Passkey>) -> Self {
        let authenticator = Authenticator::new(Aaguid::new_empty(), store, AlwaysVerified, RustCryptoBackend);
        let client = Client::new(authenticator).allows_insecure_localhost(true);
        Self { client, origin: Url::parse(origin).expect("test origin is a URL") }
    }

    /// A copy of this authenticator as it is now (same credential, same counter): a cloned key.
    pub fn clone_key(&self) -> Self {
        let mut copy = Self::with_store(self.origin.as_str(), self.client.authenticator().store().clone());
        let counting = self.client.authenticator().make_credentials_with_signature_counter();
        copy.client.authenticator_mut().set_make_credentials_with_signature_counter(counting);
        copy
    }

    /// The same credential, presented from another origin (a phishing page on another port).
    pub fn at_origin(&self, origin: &str) -> Self {
        Self::with_store(origin, self.client.authenticator().store().clone())
    }

    /// `navigator.credentials.create({publicKey})`: the credential JSON to send back.
    pub async fn create(&mut self, public_key: &Value) -> Value {
        let options: CredentialCreationOptions =
            serde_json::from_value(json!({ "publicKey": public_key })).expect("creation options parse");
        let created = self
            .client
            .register(&self.origin, options, DefaultClientData)
            .await
            .expect("the soft authenticator creates a credential");
        serde_json::to_value(&created).expect("credential serializes")
    }

    /// `navigator.credentials.get({publicKey})`: the assertion JSON to send back.
    pub async fn get(&mut self, public_key: &Value) -> Value {
        self.try_get(public_key).await.expect("the soft authenticator signs an assertion")
    }

    /// An assertion whose client data carries `extra` members as well (e.g. `topOrigin`, which a
    /// browser adds when the page is framed by another site), signed like any other.
    pub async fn get_with_client_data(&mut self, public_key: &Value, extra: Value) -> Value {
        let options: CredentialRequestOptions =
            serde_json::from_value(json!({ "publicKey": public_key })).expect("request options parse");
        let asserted = self
            .client
            .authenticate(&self.origin, options, DefaultClientDataWithExtra(extra))
            .await
            .expect("the soft authenticator signs an assertion");
        serde_json::to_value(&asserted).expect("assertion serializes")
    }

    pub async fn try_get(&mut self, public_key: &Value) -> Result<Value, String> {
        let options: CredentialRequestOptions =
            serde_json::from_value(json!({ "publicKey": public_key })).map_err(|e| e.to_string())?;
        let asserted = self
            .client
            .authenticate(&self.origin, options, DefaultClientData)
            .await
            .map_err(|e| format!("{e:?}"))?;
        serde_json::to_value(&asserted).map_err(|e| e.to_string())
    }
}
