//! Accounts: registration and its modes, signing up with a passkey, signing in, sessions and their
//! cookies, passkeys, and who may read or change what. Acceptance lists C (enrolment) and D
//! (authorization and API keys) of `shared/docs/security.md`; review R's R1, R5, R6, R7 and R9
//! (`docs/src/security.md`).

mod access;
mod cookies;
mod enrolment;
mod passkeys;
mod registration;
