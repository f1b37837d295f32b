//! A person's passkeys: added (the first with the email session from registration, later ones
//! with a passkey session), listed, renamed and deleted (which ends the sessions it made).

use super::Shared;
use super::accounts::{AccountError, Accounts, OpenedSession, SessionProof};
use super::ceremonies::{Ceremonies, CeremonyError, RegisterPublicKeyCredential, Started};
use crate::clock::{Clock, Millis};
use crate::domain::ids::{PasskeyId, UserId, credential_id_text};
use crate::store::passkeys::{PasskeyAdded, StoredPasskey};
use crate::store::users::User;
use crate::store::{Db, StoreError};
use crate::tokens::session::SignInMethod;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clawgate_proto::evidence::receipt::Registration;
use std::sync::Arc;

/// Why a passkey operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// Unknown, or not the caller's (the two look the same).
    #[error("passkey not found")]
    NotFound,
    /// The account has a passkey, and this session was not made with one.
    #[error("a passkey session is required")]
    StepUpRequired,
    /// The credential is registered already (here, to whichever account).
    #[error("this passkey is already registered")]
    AlreadyRegistered,
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Ceremony(#[from] CeremonyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type PasskeyResult<T> = Result<T, PasskeyError>;

/// A passkey just added, and the passkey session registering it earned.
pub struct Registered {
    pub passkey: StoredPasskey,
    pub session: OpenedSession,
}

/// The passkey service. Cheap to clone: handles.
#[derive(Clone)]
pub struct Passkeys {
    db: Db,
    clock: Arc<dyn Clock>,
    accounts: Accounts,
    ceremonies: Ceremonies,
}

impl Passkeys {
    pub fn new(shared: &Shared, accounts: Accounts, ceremonies: Ceremonies) -> Self {
        Self { db: shared.db.clone(), clock: shared.clock.clone(), accounts, ceremonies }
    }

    fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// Starts adding a passkey to `user`'s account, signed in by `method`.
    pub async fn start_registration(&self, user: &User, method: SignInMethod) -> PasskeyResult<Started> {
        self.accounts.require_step_up(&user.id, method).await.map_err(step_up)?;
        Ok(self.ceremonies.start_registration(user).await?)
    }

    /// Finishes adding a passkey named `name` to `user`'s account, signed in by `method`: the
    /// passkey, and a passkey session (registering proved possession of it). `csrf`: see
    /// `Accounts::open_session`.
    pub async fn register(
        &self,
        user: &User,
        method: SignInMethod,
        ceremony: &str,
        credential: &RegisterPublicKeyCredential,
        name: String,
        csrf: Option<&str>,
    ) -> PasskeyResult<Registered> {
        let passkey = self.ceremonies.finish_registration(&user.id, ceremony, credential).await?;
        let stored = StoredPasskey {
            id: PasskeyId::generate(),
            user_id: user.id.clone(),
            credential_id: credential_id_text(passkey.cred_id()),
            name,
            passkey,
            created_at: self.now(),
            last_used_at: None,
            // Not stored yet: nothing to compare with.
            stored_json: String::new(),
        };
        // An email-only session adds the first passkey only: checked in the same step as the
        // insert, so two registrations started on one email session cannot both land.
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let registration = Registration {
            client_data_json: b64(&credential.response.client_data_json),
            attestation_object: b64(&credential.response.attestation_object),
        };
        match self.db.insert_passkey(&stored, method != SignInMethod::Passkey, &registration).await {
            Ok(PasskeyAdded::Added) => {}
            Ok(PasskeyAdded::NotFirst) => return Err(PasskeyError::StepUpRequired),
            Err(StoreError::Conflict) => return Err(PasskeyError::AlreadyRegistered),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(user.id = %user.id, passkey.id = %stored.id, "passkey added");
        let session =
            self.accounts.open_session(user.clone(), SessionProof::Passkey(&stored.id), csrf).await?;
        Ok(Registered { passkey: stored, session })
    }

    /// `user`'s passkeys.
    pub async fn list(&self, user: &UserId) -> PasskeyResult<Vec<StoredPasskey>> {
        Ok(self.db.passkeys_of(user).await?)
    }

    /// Renames `user`'s passkey `id`.
    pub async fn rename(&self, user: &UserId, id: &PasskeyId, name: &str) -> PasskeyResult<()> {
        if !self.db.rename_passkey(user, id, name).await? {
            return Err(PasskeyError::NotFound);
        }
        Ok(())
    }

    /// Deletes `user`'s passkey `id` (with a session signed in by `method`), ending the sessions
    /// it made. `None`: an id that names no passkey, refused as unknown once the session may
    /// delete at all.
    pub async fn delete(
        &self,
        user: &UserId,
        method: SignInMethod,
        id: Option<PasskeyId>,
    ) -> PasskeyResult<()> {
        self.accounts.require_step_up(user, method).await.map_err(step_up)?;
        let id = id.ok_or(PasskeyError::NotFound)?;
        if !self.db.delete_passkey(user, &id, self.now()).await? {
            return Err(PasskeyError::NotFound);
        }
        tracing::info!(user.id = %user, passkey.id = %id, "passkey deleted");
        Ok(())
    }
}

fn step_up(e: AccountError) -> PasskeyError {
    match e {
        AccountError::StepUpRequired => PasskeyError::StepUpRequired,
        other => other.into(),
    }
}
