//! Why a ceremony could not be started or finished, and how a refusal counts.

use crate::service::approvals::ApprovalError;
use crate::service::grants::GrantError;
use crate::store::StoreError;
use webauthn_rs::prelude::WebauthnError;

/// Why a ceremony could not be started or finished.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    /// It does not exist, has lapsed, was already used, or was started for something else.
    #[error("invalid ceremony")]
    InvalidCeremony,
    /// webauthn-rs refused the answer.
    #[error("the passkey response did not verify: {0}")]
    NotVerified(WebauthnError),
    #[error("the passkey response's client data is not JSON")]
    ClientDataNotJson,
    /// The client data was collected for a framed page (`crossOrigin` / `topOrigin`).
    #[error("the passkey was used inside a frame of another site")]
    CrossOrigin,
    /// The signature verified, but the signature counter did not increase: a cloned key, or
    /// an old assertion replayed.
    #[error("the passkey's signature counter went backwards")]
    CounterRegressed,
    #[error("that passkey is not registered here")]
    UnknownPasskey,
    /// The authenticator did not verify the person (PIN or biometrics).
    #[error("user verification is required")]
    UserVerificationRequired,
    /// Another assertion of this passkey kept landing in between.
    #[error("the passkey is being used elsewhere")]
    PasskeyBusy,
    /// The passkey signed another decision than the one being made (another request, reason,
    /// rule set or version).
    #[error("the passkey signed another decision")]
    NotWhatWasSigned,
    /// A decision is signed with a passkey, and the person has none.
    #[error("no passkey to sign with")]
    NoPasskey,
    /// Too many failed assertions from this client, or cloned ones for this account.
    #[error("too many failed passkey attempts")]
    TooManyFailures { retry_after_secs: u64 },
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    #[error(transparent)]
    Grant(#[from] GrantError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type CeremonyResult<T> = Result<T, CeremonyError>;

impl CeremonyError {
    /// The failure is the server's (the database, or a bug): nothing the client did.
    pub fn server_side(&self) -> bool {
        let store = |e: &StoreError| !matches!(e, StoreError::Conflict);
        match self {
            Self::Store(e) | Self::Approval(ApprovalError::Store(e)) | Self::Grant(GrantError::Store(e)) => {
                store(e)
            }
            Self::Internal(_) | Self::Approval(ApprovalError::Internal(_) | ApprovalError::GrantSpent) => {
                true
            }
            _ => false,
        }
    }

    /// The stable code of a refused assertion, for the security log (`http::error` answers with
    /// the same); `None` for failures that are not the assertion's.
    pub fn code(&self) -> Option<&'static str> {
        Some(match self {
            Self::InvalidCeremony => "invalid_ceremony",
            Self::NotWhatWasSigned => "signed_decision_mismatch",
            Self::NotVerified(_) | Self::ClientDataNotJson | Self::CrossOrigin | Self::CounterRegressed => {
                "passkey_verification_failed"
            }
            Self::UnknownPasskey => "unknown_passkey",
            Self::UserVerificationRequired => "user_verification_required",
            Self::PasskeyBusy => "passkey_busy",
            Self::TooManyFailures { .. } => "rate_limited",
            Self::Store(StoreError::Conflict) => "conflict",
            _ => return None,
        })
    }
}

pub(super) fn internal(e: impl Into<anyhow::Error>) -> CeremonyError {
    CeremonyError::Internal(e.into())
}
