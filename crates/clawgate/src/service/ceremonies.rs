//! WebAuthn ceremonies, and the one holder of the WebAuthn relying party (webauthn-rs): adding
//! a passkey, signing in and approving. A ceremony is started (its state kept in the database,
//! so any instance can finish it), taken back exactly once, and its answer verified for the
//! purpose it was started for ([`Ceremonies::verify`]): the clone and counter checks, and the
//! limits on failed assertions.

use super::Shared;
use super::approvals::{Approvals, Assented, Decided, SignedDecision, ToApprove};
use super::grants::{self, GrantChoice};
use crate::clock::{Clock, Millis};
use crate::config::Secret;
use crate::domain::ids::{CeremonyId, RequestId, UserId, credential_id_text};
use crate::rate_limit::RateLimiter;
use crate::store::Db;
use crate::store::approvals::ApprovalRecord;
use crate::store::ceremonies::{CeremonyKind, NewCeremony};
use crate::store::passkeys::StoredPasskey;
use crate::store::users::User;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;
use webauthn_rs::Webauthn;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    Uuid,
};

mod assertion;
mod decide;
mod error;
mod options;
mod signed;

pub use decide::{deny_content, is_stop_of, rules_content, same_but_expiry, stop_content};
use error::internal;
pub use error::{CeremonyError, CeremonyResult};
use signed::Signed;
pub use signed::Signing;

/// What the browser answers (`navigator.credentials.get()` and `.create()`), as `http` parses it.
pub use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

/// How long a person has between "start" and "complete" (webauthn-rs' own default timeout).
pub const CEREMONY_TTL_MS: Millis = 300_000;
/// Failed passkey assertions a client may send before further attempts wait (then 1 a minute).
pub const FAILED_ASSERTIONS_BURST: u32 = 10;
/// Verified yet refused assertions (a cloned key) an account may see before its sign-ins and
/// approvals wait (then 1 a minute).
pub const CLONED_ASSERTIONS_BURST: u32 = 3;

/// The state of an assertion ceremony: against a known set of passkeys, or discoverable
/// (the authenticator picks the account).
#[derive(Serialize, Deserialize)]
pub enum AssertionState {
    Known(PasskeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

/// The state of an approval ceremony: the assertion against the owner's passkeys and the
/// standing grant chosen with it, if any. Stored as `{"Known": …, "grant": …}`, so a state saved
/// before grants existed (`AssertionState::Known`, `{"Known": …}`) reads as one without a grant.
#[derive(Serialize, Deserialize)]
pub struct ApprovalState {
    #[serde(rename = "Known")]
    pub assertion: PasskeyAuthentication,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantChoice>,
}

/// A ceremony just started, for `navigator.credentials.create()` or `.get()`.
pub struct Started {
    pub id: CeremonyId,
    pub kind: CeremonyKind,
    /// WebAuthn options (`PublicKeyCredentialCreationOptions` or `…RequestOptions`).
    pub public_key: serde_json::Value,
    /// For a decision: what the passkey signs (the options' challenge is derived from it).
    pub signing: Option<Signing>,
}

/// What an assertion is verified for: the ceremony must have been started for exactly this.
#[derive(Debug, Clone, Copy)]
pub enum Purpose<'a> {
    /// Signing in: a login ceremony (an approval ceremony can never sign anyone in).
    SignIn,
    /// Approving this request: its approval ceremony, answerable by its owner's passkeys only.
    Approve(&'a RequestId),
}

/// An assertion verified for its purpose, and the passkey's use recorded.
pub struct Verified {
    pub passkey: StoredPasskey,
    pub assertion: AuthenticationResult,
    pub purpose: VerifiedFor,
}

/// What the ceremony verified was started with.
pub enum VerifiedFor {
    SignIn,
    /// The request's owner, as the ceremony recorded it, and the standing grant chosen with it.
    Approve {
        owner: UserId,
        grant: Option<GrantChoice>,
        /// What the passkey signed and its assertion, for the approval's receipt (none for a
        /// ceremony an older build started).
        signed: Option<Box<SignedDecision>>,
        /// The request as read to check what the passkey signed (approving need not read it
        /// again).
        record: Option<Box<ApprovalRecord>>,
    },
}

/// The ceremony service: the WebAuthn relying party, the ceremonies kept in the store and the
/// limits on failed assertions (per client IP, and per account for cloned keys). Cheap to clone:
/// handles, the limiters shared.
#[derive(Clone)]
pub struct Ceremonies {
    db: Db,
    clock: Arc<dyn Clock>,
    webauthn: Arc<Webauthn>,
    approvals: Approvals,
    /// Keys the made-up credential ids of an email without passkeys.
    decoy_key: Arc<Secret>,
    /// Failed passkey assertions, per client IP (10 at once, then one a minute).
    assertion_failures: Arc<RateLimiter>,
    /// Assertions whose signature verified but were refused (counter went back), per account.
    cloned_assertions: Arc<RateLimiter<UserId>>,
}

impl Ceremonies {
    pub fn new(shared: &Shared, webauthn: Arc<Webauthn>, approvals: Approvals) -> Self {
        Self {
            db: shared.db.clone(),
            clock: shared.clock.clone(),
            webauthn,
            approvals,
            decoy_key: shared.api_key_secret.clone(),
            assertion_failures: Arc::new(RateLimiter::with_burst(FAILED_ASSERTIONS_BURST, 1)),
            cloned_assertions: Arc::new(RateLimiter::with_burst(CLONED_ASSERTIONS_BURST, 1)),
        }
    }

    fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// Starts adding a passkey to `user`'s account; the passkeys it has are excluded (an
    /// authenticator holding one says so instead of making another).
    pub async fn start_registration(&self, user: &User) -> CeremonyResult<Started> {
        let handle = Uuid::parse_str(&user.webauthn_handle).map_err(internal)?;
        let existing = self.db.passkeys_of(&user.id).await?;
        let exclude = existing.iter().map(|p| p.passkey.cred_id().clone()).collect();
        let (challenge, state) = self
            .webauthn
            .start_passkey_registration(handle, &user.email, &user.email, Some(exclude))
            .map_err(internal)?;
        let expires = self.now() + CEREMONY_TTL_MS;
        let kind = CeremonyKind::Register;
        let id = self.save(kind, Some(user.id.clone()), None, &state, expires, None).await?;
        let mut public_key = options::public_key(&challenge)?;
        options::prefer_discoverable(&mut public_key);
        Ok(Started { id, kind, public_key, signing: None })
    }

    /// Finishes `user`'s registration ceremony: the new passkey, not stored yet.
    pub async fn finish_registration(
        &self,
        user: &UserId,
        ceremony: &str,
        credential: &RegisterPublicKeyCredential,
    ) -> CeremonyResult<Passkey> {
        let (_, state, _): (_, PasskeyRegistration, _) =
            self.take(ceremony, CeremonyKind::Register, Some(user), None).await?;
        assertion::refuse_cross_origin(&credential.response.client_data_json)?;
        self.webauthn.finish_passkey_registration(credential, &state).map_err(CeremonyError::NotVerified)
    }

    /// Starts a sign-in: with the passkeys of `email` (normalised), or without one a discoverable
    /// ceremony (the authenticator picks the account). Never refused: failed attempts are counted
    /// where they come from, at completion.
    pub async fn start_sign_in(&self, email: Option<&str>) -> CeremonyResult<Started> {
        let Some(email) = email else {
            let (challenge, state) = self.webauthn.start_discoverable_authentication().map_err(internal)?;
            return self
                .save_login(AssertionState::Discoverable(state), options::public_key(&challenge)?)
                .await;
        };
        // With an email, known or not, the answer has one shape: the passkeys' ids, or stable
        // made-up ones that no authenticator holds (one query either way, so timing says nothing).
        let passkeys: Vec<_> =
            self.db.passkeys_by_email(email).await?.into_iter().map(|p| p.passkey).collect();
        let (public_key, state) = if passkeys.is_empty() {
            let (c, s) = self.webauthn.start_discoverable_authentication().map_err(internal)?;
            let ids = options::decoy_credential_ids(self.decoy_key.expose(), email)?;
            (options::login(options::public_key(&c)?, ids), AssertionState::Discoverable(s))
        } else {
            let (c, s) = self.webauthn.start_passkey_authentication(&passkeys).map_err(internal)?;
            let ids = passkeys.iter().map(|p| credential_id_text(p.cred_id())).collect();
            (options::login(options::public_key(&c)?, ids), AssertionState::Known(s))
        };
        self.save_login(state, public_key).await
    }

    async fn save_login(
        &self,
        state: AssertionState,
        public_key: serde_json::Value,
    ) -> CeremonyResult<Started> {
        let expires = self.now() + CEREMONY_TTL_MS;
        let id = self.save(CeremonyKind::Login, None, None, &state, expires, None).await?;
        Ok(Started { id, kind: CeremonyKind::Login, public_key, signing: None })
    }

    /// A ceremony that can only approve request `id`, answerable only by one of its owner's
    /// passkeys. With `grant`, the standing grant chosen on the approve page, checked now
    /// (`not_grantable`) and kept with the ceremony, so the approval that finishes it creates
    /// exactly that grant. Its challenge is derived from what is approved (the request and the
    /// grant's exact scope), so the passkey signs that content.
    pub async fn start_approval(
        &self,
        id: &RequestId,
        grant: Option<GrantChoice>,
    ) -> CeremonyResult<Started> {
        let ToApprove { record, passkeys, at } = self.approvals.to_approve(id).await?;
        let signed = Signed::new(approval_content(&record, grant.as_ref())?);
        let (public_key, state) = self.signing_assertion(&passkeys, &signed)?;
        let expires = (at + CEREMONY_TTL_MS).min(record.expires_at);
        let kind = CeremonyKind::Approve;
        let approval = ApprovalState { assertion: state, grant };
        let (owner, request) = (Some(record.user_id.clone()), Some(record.id.clone()));
        let id = self.save(kind, owner, request, &approval, expires, Some(signed.to_json()?)).await?;
        Ok(Started { id, kind, public_key, signing: Some(signed.view()) })
    }

    /// The options and state of an assertion against `passkeys` whose challenge is the one derived
    /// from what `signed` decides (in both: the browser signs it, webauthn-rs checks against it).
    fn signing_assertion(
        &self,
        passkeys: &[Passkey],
        signed: &Signed,
    ) -> CeremonyResult<(serde_json::Value, PasskeyAuthentication)> {
        let (options, state) = self.webauthn.start_passkey_authentication(passkeys).map_err(internal)?;
        let challenge = signed.challenge();
        let state = signed::with_challenge(&state, &challenge)?;
        let mut public_key = options::public_key(&options)?;
        public_key["challenge"] = serde_json::Value::String(challenge);
        Ok((public_key, state))
    }

    /// Verifies the answer to `ceremony` for `purpose`, from a client at `ip`, and records the
    /// passkey's use (signature counter, last use). Refuses an assertion without user
    /// verification, one whose counter went back (a cloned key), and clients or accounts with
    /// too many failures (see the `assertion` module).
    pub async fn verify(
        &self,
        purpose: Purpose<'_>,
        ceremony: &str,
        credential: &PublicKeyCredential,
        ip: IpAddr,
    ) -> CeremonyResult<Verified> {
        match purpose {
            Purpose::SignIn => {
                let (_, state, _): (_, AssertionState, _) =
                    self.take(ceremony, CeremonyKind::Login, None, None).await?;
                let (passkey, assertion) = self.finish_assertion(ip, credential, state).await?;
                Ok(Verified { passkey, assertion, purpose: VerifiedFor::SignIn })
            }
            Purpose::Approve(id) => {
                let taken = self.take(ceremony, CeremonyKind::Approve, None, Some(id)).await;
                let (owner, state, signed): (_, ApprovalState, _) = match taken {
                    Ok(taken) => taken,
                    // The database is unavailable: say so at once, without asking it again.
                    Err(e) if e.server_side() => return Err(e),
                    Err(e) => {
                        // A ceremony that lapsed with its request: say the request expired (or
                        // was decided), which is what the person needs to know, rather than
                        // "invalid ceremony".
                        self.approvals.refuse_if_undecidable(id).await?;
                        return Err(e);
                    }
                };
                let owner = owner.ok_or(CeremonyError::InvalidCeremony)?;
                // The passkey signs the content only if the state checks against the challenge
                // derived from it, and that content is still what approving would do. A ceremony
                // an older build started (none kept) is verified as it was then.
                let mut record = None;
                if let Some(signed) = &signed {
                    let stored = self.approvals.stored(id).await?;
                    let expected = approval_content(&stored, state.grant.as_ref())?;
                    if let Err(e) = signed.check(&state.assertion, &expected) {
                        // A request that can no longer be decided is what the person needs to
                        // hear about first, as for a ceremony that lapsed.
                        self.approvals.refuse_if_undecidable(id).await?;
                        return Err(e);
                    }
                    record = Some(Box::new(stored));
                }
                let ApprovalState { assertion, grant } = state;
                let (passkey, assertion) =
                    self.finish_assertion(ip, credential, AssertionState::Known(assertion)).await?;
                let signed = signed.map(|signed| {
                    Box::new(SignedDecision {
                        receipt: signed.receipt(credential),
                        challenge: signed.challenge(),
                    })
                });
                let purpose = VerifiedFor::Approve { owner, grant, signed, record };
                Ok(Verified { passkey, assertion, purpose })
            }
        }
    }

    /// Approves request `id` with the answer to its approval ceremony (see [`Self::verify`] and
    /// `Approvals::approve`).
    pub async fn approve(
        &self,
        id: &RequestId,
        ceremony: &str,
        credential: &PublicKeyCredential,
        ip: IpAddr,
    ) -> CeremonyResult<Decided> {
        let verified = self.verify(Purpose::Approve(id), ceremony, credential, ip).await?;
        let VerifiedFor::Approve { owner, grant, signed, record } = verified.purpose else {
            return Err(CeremonyError::InvalidCeremony);
        };
        let by = Assented {
            passkey: &verified.passkey,
            assertion: &verified.assertion,
            signed: signed.map(|s| *s),
            record: record.map(|r| *r),
        };
        Ok(self.approvals.approve(id, &owner, by, ip, grant.as_ref()).await?)
    }

    async fn save<T: Serialize>(
        &self,
        kind: CeremonyKind,
        user_id: Option<UserId>,
        request_id: Option<RequestId>,
        state: &T,
        expires_at: Millis,
        signed: Option<String>,
    ) -> CeremonyResult<CeremonyId> {
        let id = CeremonyId::generate();
        let ceremony = NewCeremony {
            id: id.clone(),
            kind,
            user_id,
            request_id,
            state: serde_json::to_string(state).map_err(internal)?,
            signed,
            created_at: self.now(),
            expires_at,
        };
        self.db.insert_ceremony(&ceremony).await?;
        Ok(id)
    }

    /// Takes the ceremony back (once, ever) if it matches kind, user and request: its user, its
    /// state, and what its passkey signs if it decides something.
    async fn take<T: DeserializeOwned>(
        &self,
        id: &str,
        kind: CeremonyKind,
        user: Option<&UserId>,
        request: Option<&RequestId>,
    ) -> CeremonyResult<(Option<UserId>, T, Option<Signed>)> {
        let id = CeremonyId::parse(id).ok_or(CeremonyError::InvalidCeremony)?;
        let taken = self
            .db
            .take_ceremony(&id, kind, user, request, self.now())
            .await?
            .ok_or(CeremonyError::InvalidCeremony)?;
        let state = serde_json::from_str(&taken.state).map_err(internal)?;
        let signed = taken.signed.as_deref().map(Signed::from_json).transpose()?;
        Ok((taken.user_id, state, signed))
    }
}

/// What approving `record` decides: the request, and the grant chosen (checked: `not_grantable`)
/// with its exact scope.
fn approval_content(
    record: &crate::store::approvals::ApprovalRecord,
    grant: Option<&GrantChoice>,
) -> CeremonyResult<serde_json::Value> {
    let scope = grant.map(|choice| grants::check_choice(record, choice)).transpose()?;
    Ok(signed::approval_content(record, grant.zip(scope.as_ref())))
}
