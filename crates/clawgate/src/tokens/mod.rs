//! The kinds of signed token, kept apart so that none can pass for another:
//!
//! | | session | approval | gate |
//! |---|---|---|---|
//! | proves | a person signed in | a person approved one action with a passkey | a person's rule or standing grant allowed one call; nobody was asked |
//! | algorithm | HS256 (`JWT_SECRET`) | EdDSA / Ed25519, public keys at `/.well-known/jwks.json` | the same keys as approval tokens |
//! | header `typ` | `JWT` | `clawgate-approval+jwt` | `clawgate-gate+jwt` |
//! | claim `typ` / `aud` | `session` / `clawgate:session` | `approval` / `clawgate:approval` | `gate` / `clawgate:gate` |
//! | claim `decidedBy` | — | `passkey` | `rule` or `grant` |
//! | accepted by default by | the API (sessions) | `verify-token`, `clawgate verify`, the client | only verifiers that opt in (`accept`, `--accept rule,grant`) |
//!
//! Each verifier allows exactly one algorithm and checks type, audience, issuer and expiry against
//! the server's clock with at most [`LEEWAY_SECS`] of leeway. Approval and gate tokens share one
//! signer and key set; their kind follows from `decidedBy` (see [`kind`]), and a token whose
//! header, audience, claim type and `decidedBy` do not all name the same kind is refused.

pub mod approval;
pub mod keys;
pub mod kind;
pub mod policy;
pub mod session;

/// Clock skew tolerated on `exp` and `iat`.
pub const LEEWAY_SECS: i64 = 5;

use jsonwebtoken::{Algorithm, Validation};

/// A validation that checks signature, algorithm, audience and issuer; expiry is checked by the
/// caller against the injected clock (jsonwebtoken would read the system clock).
fn strict_validation(alg: Algorithm, audience: &str, issuer: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.leeway = 0;
    v.set_audience(&[audience]);
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
    v
}

/// Whether a token issued at `iat` and expiring at `exp` (seconds) is current at `now_secs`.
fn is_current(iat: i64, exp: i64, now_secs: i64) -> bool {
    now_secs < exp + LEEWAY_SECS && iat <= now_secs + LEEWAY_SECS
}
