//! The decisions other than an approval that a person signs with a passkey: denying a request,
//! stopping every agent, saving a rule set. As for an approval, the ceremony's challenge is
//! derived from what is decided (see `signed`), so the assertion in the decision's receipt proves
//! what the passkey signed. The ceremony is the signed-in person's own: only their passkeys can
//! answer it, and only they can send the answer.

use super::signed::{Signed, approval_content};
use super::{AssertionState, Ceremonies, CeremonyError, CeremonyResult, PublicKeyCredential, Started};
use crate::clock::{Millis, to_rfc3339};
use crate::domain::ids::UserId;
use crate::service::approvals::ApprovalError;
use crate::store::approvals::ApprovalRecord;
use crate::store::audit::ReceiptBody;
use crate::store::ceremonies::CeremonyKind;
use clawgate_proto::evidence::{canonical, content_hash};
use serde_json::{Value, json};
use std::net::IpAddr;
use webauthn_rs::prelude::PasskeyAuthentication;

/// What denying `record` decides: the request as the person saw it, and their reason.
pub fn deny_content(record: &ApprovalRecord, reason: Option<&str>) -> Value {
    let mut content = approval_content(record, None);
    if let Some(fields) = content.as_object_mut() {
        fields.insert("decision".into(), "deny".into());
        fields.remove("grant");
        fields.insert("reason".into(), reason.into());
    }
    content
}

/// What stopping every agent of `user` at `at` decides.
pub fn stop_content(user: &UserId, at: Millis) -> Value {
    json!({ "decision": "stop", "account": user.as_str(), "at": to_rfc3339(at) })
}

/// What saving `rules` as version `version` decides: the version and the SHA-256 (hex) of the
/// set's canonical JSON (RFC 8785), so the text saved is the text signed.
pub fn rules_content(version: i64, rules: &Value) -> Value {
    json!({ "decision": "rules", "version": version, "rulesHash": content_hash(rules) })
}

/// Whether `signed` is a stop of `user`'s agents (its time is when the person was asked).
pub fn is_stop_of(signed: &Value, user: &UserId) -> bool {
    signed.get("decision").and_then(Value::as_str) == Some("stop")
        && signed.get("account").and_then(Value::as_str) == Some(user.as_str())
}

/// Whether `signed` decides exactly what `expected` does (an approval's or a denial's content);
/// the expiry the person saw is signed, but whether the request is still open is the decision's
/// own check.
pub fn same_but_expiry(signed: &Value, expected: &Value) -> bool {
    let without_expiry = |v: &Value| {
        let mut v = v.clone();
        if let Some(fields) = v.as_object_mut() {
            fields.remove("expiresAt");
        }
        canonical(&v)
    };
    without_expiry(signed) == without_expiry(expected)
}

impl Ceremonies {
    /// Starts a ceremony in which `user` signs `content` with one of their passkeys.
    pub async fn start_decision(&self, user: &UserId, content: Value) -> CeremonyResult<Started> {
        let passkeys: Vec<_> = self.db.passkeys_of(user).await?.into_iter().map(|p| p.passkey).collect();
        if passkeys.is_empty() {
            return Err(CeremonyError::NoPasskey);
        }
        let signed = Signed::new(content);
        let (public_key, state) = self.signing_assertion(&passkeys, &signed)?;
        let expires = self.now() + super::CEREMONY_TTL_MS;
        let kind = CeremonyKind::Decide;
        let id = self.save(kind, Some(user.clone()), None, &state, expires, Some(signed.to_json()?)).await?;
        Ok(Started { id, kind, public_key, signing: Some(signed.view()) })
    }

    /// Verifies `user`'s answer to their decision ceremony, from a client at `ip`, if what its
    /// passkey signed `fits` the decision being made (else `signed_decision_mismatch`), and
    /// records the passkey's use. The decision's receipt: what was signed and the assertion.
    pub async fn verify_decision(
        &self,
        user: &UserId,
        ceremony: &str,
        credential: &PublicKeyCredential,
        ip: IpAddr,
        fits: impl FnOnce(&Value) -> bool,
    ) -> CeremonyResult<ReceiptBody> {
        let (_, state, signed): (_, PasskeyAuthentication, _) =
            self.take(ceremony, CeremonyKind::Decide, Some(user), None).await?;
        let signed = signed.ok_or(CeremonyError::InvalidCeremony)?;
        signed.check_challenge(&state)?;
        if !fits(&signed.content) {
            return Err(CeremonyError::NotWhatWasSigned);
        }
        let (passkey, _) = self.finish_assertion(ip, credential, AssertionState::Known(state)).await?;
        if &passkey.user_id != user {
            return Err(ApprovalError::NotOwnersPasskey.into());
        }
        Ok(signed.receipt(credential))
    }
}
