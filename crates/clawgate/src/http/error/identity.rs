//! The identity services' refusals: ceremonies, accounts and sessions, passkeys, push
//! subscriptions.

use super::ApiError;
use crate::service::accounts::AccountError;
use crate::service::ceremonies::CeremonyError;
use crate::service::passkeys::PasskeyError;
use crate::service::push_subscriptions::SubscriptionError;

impl From<CeremonyError> for ApiError {
    fn from(e: CeremonyError) -> Self {
        let failed = |message: &str| ApiError::bad_request("passkey_verification_failed", message);
        match e {
            CeremonyError::InvalidCeremony => ApiError::bad_request(
                "invalid_ceremony",
                "this ceremony does not exist, has expired, was already used, or was started for something else; start again",
            ),
            CeremonyError::NotWhatWasSigned => ApiError::bad_request(
                "signed_decision_mismatch",
                "the passkey signed another decision than the one sent (another request, reason, rule set or version); nothing was changed: start again",
            ),
            CeremonyError::NoPasskey => ApiError::forbidden(
                "passkey_required",
                "this decision is signed with a passkey, and the account has none: add one first",
            ),
            CeremonyError::NotVerified(e) => failed(&format!("the passkey response did not verify: {e}")),
            CeremonyError::ClientDataNotJson => failed("the passkey response's client data is not JSON"),
            CeremonyError::CrossOrigin => failed(
                "the passkey was used inside a frame of another site (crossOrigin/topOrigin); clawgate's pages are never framed, so this is refused",
            ),
            CeremonyError::CounterRegressed => failed(
                "the passkey response did not verify: the passkey's signature counter went backwards, so it may have been cloned",
            ),
            CeremonyError::UnknownPasskey => {
                ApiError::bad_request("unknown_passkey", "that passkey is not registered here")
            }
            CeremonyError::UserVerificationRequired => ApiError::bad_request(
                "user_verification_required",
                "the authenticator did not verify the person (PIN or biometrics); nothing was approved",
            ),
            CeremonyError::PasskeyBusy => ApiError::conflict(
                "passkey_busy",
                "this passkey is being used elsewhere at this moment; try again",
            ),
            CeremonyError::TooManyFailures { retry_after_secs } => {
                let mut e = ApiError::rate_limited(retry_after_secs);
                e.message = format!("too many failed passkey attempts; try again in {retry_after_secs} s");
                e
            }
            CeremonyError::Approval(e) => e.into(),
            CeremonyError::Grant(e) => e.into(),
            CeremonyError::Store(e) => e.into(),
            CeremonyError::Internal(e) => ApiError::internal(e),
        }
    }
}

/// Once the account has a passkey, an email-only session may only sign out.
fn step_up_required() -> ApiError {
    ApiError::forbidden(
        "step_up_required",
        "this account has a passkey: sign in with it to do this (an email-only session can only sign out)",
    )
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::RegistrationClosed => {
                ApiError::forbidden("registration_closed", "this server does not accept new accounts")
            }
            AccountError::AccountGone => {
                ApiError::bad_request("unknown_passkey", "that passkey's account no longer exists")
            }
            AccountError::SessionEnded => ApiError::unauthorized(
                "this session has ended (signed out, its passkey was deleted, or its account is gone); sign in again",
            ),
            AccountError::StepUpRequired => step_up_required(),
            AccountError::Ceremony(e) => e.into(),
            AccountError::Store(e) => e.into(),
            AccountError::Internal(e) => ApiError::internal(e),
        }
    }
}

impl From<PasskeyError> for ApiError {
    fn from(e: PasskeyError) -> Self {
        match e {
            PasskeyError::NotFound => ApiError::not_found("passkey"),
            PasskeyError::StepUpRequired => step_up_required(),
            PasskeyError::AlreadyRegistered => {
                ApiError::bad_request("credential_already_registered", "this passkey is already registered")
            }
            PasskeyError::Account(e) => e.into(),
            PasskeyError::Ceremony(e) => e.into(),
            PasskeyError::Store(e) => e.into(),
        }
    }
}

impl From<SubscriptionError> for ApiError {
    fn from(e: SubscriptionError) -> Self {
        match e {
            SubscriptionError::Endpoint(e) => ApiError::invalid(e.to_string()),
            SubscriptionError::BadP256dh | SubscriptionError::BadAuth => ApiError::invalid(e.to_string()),
            SubscriptionError::EndpointTaken => ApiError::conflict(
                "push_endpoint_taken",
                "this push endpoint is registered to another account; turn notifications off on this \
                 browser while signed in to that account (or make a new push subscription), then try again",
            ),
            SubscriptionError::NotFound => ApiError::not_found("push subscription"),
            SubscriptionError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    /// The code a refused assertion is logged with is the one it is answered with, and what the
    /// ceremonies count as the server's failure is what is answered with a 5xx.
    #[test]
    fn ceremony_refusals_are_logged_and_counted_as_answered() {
        let all = [
            CeremonyError::InvalidCeremony,
            CeremonyError::ClientDataNotJson,
            CeremonyError::CrossOrigin,
            CeremonyError::CounterRegressed,
            CeremonyError::UnknownPasskey,
            CeremonyError::UserVerificationRequired,
            CeremonyError::PasskeyBusy,
            CeremonyError::TooManyFailures { retry_after_secs: 60 },
            CeremonyError::Store(StoreError::Conflict),
            CeremonyError::Store(StoreError::Corrupt("x".into())),
            CeremonyError::Internal(anyhow::anyhow!("x")),
        ];
        for e in all {
            let (code, server_side, shown) = (e.code(), e.server_side(), format!("{e:?}"));
            let answer = ApiError::from(e);
            assert_eq!(answer.status.is_server_error(), server_side, "{shown}");
            if let Some(code) = code {
                assert_eq!(answer.code, code, "{shown}");
            }
        }
    }
}
