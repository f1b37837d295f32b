//! The two kinds of signed token, kept apart so that neither can pass for the other:
//!
//! | | session | approval |
//! |---|---|---|
//! | proves | a person signed in | a person approved one request |
//! | algorithm | HS256 (`JWT_SECRET`) | EdDSA / Ed25519, public keys at `/.well-known/jwks.json` |
//! | header `typ` | `JWT` | `clawgate-approval+jwt` |
//! | claim `typ` / `aud` | `session` / `clawgate:session` | `approval` / `clawgate:approval` |
//!
//! Each verifier allows exactly one algorithm and checks type, audience, issuer and expiry against
//! the server's clock with at most [`LEEWAY_SECS`] of leeway.

pub mod approval;
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
