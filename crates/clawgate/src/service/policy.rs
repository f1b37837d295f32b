//! The policy a gate keeps for when the server cannot be reached (see `tokens::policy`): the
//! key owner's rule set in force and the key's live grants, signed, with a tag that changes only
//! when they do.

use super::Shared;
use super::rules::{Rules, RulesError};
use crate::clock::Clock;
use crate::store::Db;
use crate::store::api_keys::ApiKeyRecord;
use crate::tokens::approval::ApprovalSigner;
use crate::tokens::policy::{AUDIENCE, HEADER_TYPE, PolicyClaims, PolicyGrant, TYPE, content_tag};
use std::sync::Arc;

/// Why a policy could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("cannot sign the policy: {0}")]
    Sign(anyhow::Error),
}

impl From<crate::store::StoreError> for PolicyError {
    fn from(e: crate::store::StoreError) -> Self {
        PolicyError::Rules(e.into())
    }
}

/// A signed policy and its content tag.
pub struct SignedPolicy {
    pub tag: String,
    pub rule_version: i64,
    pub jwt: String,
}

/// The policy service (see `http::substates`).
#[derive(Clone)]
pub struct Policies {
    rules: Rules,
    db: Db,
    signer: Arc<ApprovalSigner>,
    clock: Arc<dyn Clock>,
}

impl Policies {
    pub fn new(shared: &Shared, rules: Rules) -> Self {
        Self { rules, db: shared.db.clone(), signer: shared.signer.clone(), clock: shared.clock.clone() }
    }

    /// The policy of `key` (presented as `fingerprint`): its tag, and the signed policy unless
    /// the caller holds that tag already (`known`).
    pub async fn of(
        &self,
        key: &ApiKeyRecord,
        fingerprint: &str,
        known: Option<&str>,
    ) -> Result<(String, Option<SignedPolicy>), PolicyError> {
        let now = self.clock.now_ms();
        let rules = self.rules.json(&key.user_id).await?;
        let grants: Vec<PolicyGrant> = self
            .db
            .live_grants_of_key(&key.id, now)
            .await?
            .into_iter()
            .map(|g| PolicyGrant {
                id: g.id.to_string(),
                scope: g.scope,
                expires_at: g.expires_at,
                max_uses: g.max_uses,
                uses: g.uses,
            })
            .collect();
        let tag = content_tag(rules.version, &rules.rules, &grants);
        if known == Some(tag.as_str()) {
            return Ok((tag, None));
        }
        let claims = PolicyClaims {
            iss: self.signer.issuer().to_owned(),
            sub: key.user_id.to_string(),
            aud: AUDIENCE.to_owned(),
            typ: TYPE.to_owned(),
            iat: now / 1000,
            key: fingerprint.to_owned(),
            rule_version: rules.version,
            rules: rules.rules,
            grants,
        };
        let jwt = self.signer.sign_other(HEADER_TYPE, &claims, now).map_err(PolicyError::Sign)?;
        Ok((tag.clone(), Some(SignedPolicy { tag, rule_version: claims.rule_version, jwt })))
    }
}
