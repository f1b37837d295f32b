//! Accounts and their sessions: sign-up under the registration mode (open, first user only,
//! closed), sign-in with a passkey, sessions recorded on the server (so signing out, or deleting
//! the passkey that made one, ends it at once), and the step-up rule: once an account has a
//! passkey, an email-only session may only sign out.

use super::Shared;
use super::ceremonies::{Ceremonies, CeremonyError, PublicKeyCredential, Purpose};
use crate::clock::{Clock, Millis};
use crate::config::RegistrationMode;
use crate::domain::ids::{PasskeyId, UserId};
use crate::store::sessions::NewSession;
use crate::store::users::User;
use crate::store::{Db, StoreError};
use crate::tokens::LEEWAY_SECS;
use crate::tokens::session::{Session, SessionError, SessionKeys, SignInMethod};
use std::net::IpAddr;
use std::sync::Arc;
use webauthn_rs::prelude::Uuid;

/// Why an account or session operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The registration mode takes no new account (closed, or first user only and taken).
    #[error("registration is closed")]
    RegistrationClosed,
    /// A passkey verified, but its account is gone.
    #[error("that passkey's account no longer exists")]
    AccountGone,
    /// The session was signed out, its passkey deleted, or its account is gone.
    #[error("the session has ended")]
    SessionEnded,
    /// The account has a passkey, and this session was not made with one.
    #[error("a passkey session is required")]
    StepUpRequired,
    #[error(transparent)]
    Ceremony(#[from] CeremonyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type AccountResult<T> = Result<T, AccountError>;

/// How a new session was earned: by email registration, or by the passkey named here (deleting
/// that passkey ends the session).
#[derive(Debug, Clone, Copy)]
pub enum SessionProof<'a> {
    Email,
    Passkey(&'a PasskeyId),
}

/// A session just opened and recorded on the server.
pub struct OpenedSession {
    pub user: User,
    /// The signed session token.
    pub token: String,
    pub method: SignInMethod,
    /// When it ends, as told to the client.
    pub expires_at: Millis,
    pub ttl_secs: i64,
}

/// The account service. Cheap to clone: handles and settings.
#[derive(Clone)]
pub struct Accounts {
    db: Db,
    clock: Arc<dyn Clock>,
    sessions: Arc<SessionKeys>,
    registration: RegistrationMode,
    ceremonies: Ceremonies,
}

impl Accounts {
    pub fn new(
        shared: &Shared,
        sessions: Arc<SessionKeys>,
        registration: RegistrationMode,
        ceremonies: Ceremonies,
    ) -> Self {
        Self { db: shared.db.clone(), clock: shared.clock.clone(), sessions, registration, ceremonies }
    }

    fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// A new account for `email` (normalised), if the registration mode takes one, and its
    /// email-only session. Always a new account, whether or not the email is known: the answer
    /// reveals nothing and can never hand over an existing account. `csrf`: see
    /// [`Self::open_session`].
    pub async fn register(&self, email: String, csrf: Option<&str>) -> AccountResult<OpenedSession> {
        let user = User {
            id: UserId::generate(),
            email,
            webauthn_handle: Uuid::new_v4().to_string(),
            created_at: self.now(),
        };
        match self.registration {
            RegistrationMode::Closed => return Err(AccountError::RegistrationClosed),
            RegistrationMode::FirstUser => {
                if !self.db.insert_first_user(&user).await? {
                    return Err(AccountError::RegistrationClosed);
                }
            }
            RegistrationMode::Open => self.db.insert_user(&user).await?,
        }
        tracing::info!(user.id = %user.id, "account registered");
        self.open_session(user, SessionProof::Email, csrf).await
    }

    /// Signs in with the answer to a login ceremony (from a client at `ip`): a passkey session.
    pub async fn sign_in(
        &self,
        ceremony: &str,
        credential: &PublicKeyCredential,
        ip: IpAddr,
        csrf: Option<&str>,
    ) -> AccountResult<OpenedSession> {
        let passkey = self.ceremonies.verify(Purpose::SignIn, ceremony, credential, ip).await?.passkey;
        let user = self.db.user(&passkey.user_id).await?.ok_or(AccountError::AccountGone)?;
        tracing::info!(user.id = %user.id, passkey.id = %passkey.id, "signed in with a passkey");
        self.open_session(user, SessionProof::Passkey(&passkey.id), csrf).await
    }

    /// A session for `user`, signed and recorded on the server. With `csrf` (a browser's cookie
    /// session), the token is bound to that CSRF token.
    pub async fn open_session(
        &self,
        user: User,
        proof: SessionProof<'_>,
        csrf: Option<&str>,
    ) -> AccountResult<OpenedSession> {
        let now = self.now();
        let ttl_secs = self.sessions.ttl_secs();
        let (method, passkey_id) = match proof {
            SessionProof::Email => (SignInMethod::Email, None),
            SessionProof::Passkey(id) => (SignInMethod::Passkey, Some(id)),
        };
        let issued = self.sessions.issue(&user.id, method, csrf, now)?;
        self.db
            .insert_session(&NewSession {
                id: &issued.id,
                user_id: &user.id,
                passkey_id,
                method: method.as_str(),
                created_at: now,
                // Kept as long as the token can verify (its leeway included).
                expires_at: issued.expires_at + LEEWAY_SECS * 1000,
            })
            .await?;
        Ok(OpenedSession { user, token: issued.token, method, expires_at: now + ttl_secs * 1000, ttl_secs })
    }

    /// The session a token states, if this server signed it and it has not expired (the token
    /// alone: see [`Self::holder`]).
    pub fn verify_token(&self, token: &str) -> Result<Session, SessionError> {
        self.sessions.verify(token, self.now())
    }

    /// The account of `session`, if the session is still live on the server. Once the account
    /// has a passkey, an email-only session may only sign out: everything a session can do
    /// (read, deny, revoke, rename) then needs the passkey.
    pub async fn holder(&self, session: &Session) -> AccountResult<User> {
        let holder = self
            .db
            .session_holder(&session.id, &session.user_id, self.now())
            .await?
            .ok_or(AccountError::SessionEnded)?;
        if session.method == SignInMethod::Email && holder.passkeys > 0 {
            return Err(AccountError::StepUpRequired);
        }
        Ok(holder.user)
    }

    /// Sensitive account changes (passkeys, API keys) need a session from a passkey once the
    /// account has one: a stolen email-only session cannot enrol its own passkey or mint keys.
    /// The account's passkey count.
    pub async fn require_step_up(&self, user: &UserId, method: SignInMethod) -> AccountResult<i64> {
        let passkeys = self.db.count_passkeys(user).await?;
        if passkeys > 0 && method != SignInMethod::Passkey {
            return Err(AccountError::StepUpRequired);
        }
        Ok(passkeys)
    }

    /// How many passkeys `user` has.
    pub async fn passkey_count(&self, user: &UserId) -> AccountResult<i64> {
        Ok(self.db.count_passkeys(user).await?)
    }

    /// Ends the session `token` names, if this server signed it (anything else has nothing to
    /// end).
    pub async fn sign_out(&self, token: &str) -> AccountResult<()> {
        if let Ok(session) = self.verify_token(token) {
            self.db.delete_session(&session.id).await?;
            tracing::info!(user.id = %session.user_id, "signed out");
        }
        Ok(())
    }
}
