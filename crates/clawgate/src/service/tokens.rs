//! Checking a token online, as `verify-token` answers: signature, kind, expiry, who decided
//! (against what the caller accepts) and the action, and only then consuming it. A token reported
//! invalid is never consumed.

use crate::clock::Clock;
use crate::state::AppState;
use crate::store::{Db, StoreResult};
use crate::tokens::approval::{Accept, ApprovalClaims, ApprovalSigner, InvalidReason};
use std::sync::Arc;

/// The token-checking service (see `http::substates`).
#[derive(Clone)]
pub struct Tokens {
    db: Db,
    signer: Arc<ApprovalSigner>,
    clock: Arc<dyn Clock>,
}

/// What the caller asks of a token.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    /// The token must approve exactly this action text.
    pub action: Option<&'a str>,
    /// Which deciders besides a person's passkey the caller takes.
    pub accept: Accept,
    /// Mark it used: valid this once, on every instance.
    pub consume: bool,
}

impl Tokens {
    pub fn new(app: &AppState) -> Self {
        Self { db: app.db.clone(), signer: app.approvals.clone(), clock: app.clock.clone() }
    }

    /// The token's claims if it holds for `check`, or why not. An error only when consumption
    /// could not be recorded: the answer is then never "valid".
    pub async fn verify(
        &self,
        token: &str,
        check: Check<'_>,
    ) -> StoreResult<Result<ApprovalClaims, InvalidReason>> {
        let now = self.clock.now_ms();
        let claims = match self.signer.verify(token, now, check.accept) {
            Ok(c) => c,
            Err(reason) => return Ok(Err(reason)),
        };
        if check.action.is_some_and(|a| a != claims.action) {
            return Ok(Err(InvalidReason::ActionMismatch));
        }
        // Last: every other reason to refuse has been ruled out, so a refused token stays unused.
        if check.consume && !self.db.consume_token(&claims.jti, claims.exp * 1000, now).await? {
            return Ok(Err(InvalidReason::AlreadyUsed));
        }
        Ok(Ok(claims))
    }
}
