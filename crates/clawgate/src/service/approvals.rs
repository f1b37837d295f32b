//! Approval requests through their lifecycle: asked by an agent (idempotently, under a cap of
//! pending requests per key), read back by that agent (at once or after a change), approved
//! with a passkey-verified assertion (which signs the approval token) or denied (which may
//! suspend the key), and expired when they lapse.

use super::Shared;
use crate::clock::{Clock, Millis};
use crate::config::Settings;
use crate::domain::approval::{self, NewApproval, Status, Undecidable};
use crate::domain::denial::SuspendedBecause;
use crate::domain::ids::{GrantId, RequestId, UserId, credential_id_text};
use crate::events::{ApprovalEvent, Events};
use crate::metrics::{Decision, Metrics};
use crate::push::PushSender;
use crate::service::grants::{self, GrantChoice, GrantError};
use crate::store::api_keys::ApiKeyRecord;
use crate::store::approvals::{ApprovalRecord, InsertOutcome, KeyStanding};
use crate::store::audit::ReceiptBody;
use crate::store::decisions::{ApprovalEvidence, IssuedToken, SignToken};
use crate::store::grants::GrantRecord;
use crate::store::passkeys::StoredPasskey;
use crate::store::{Db, StoreError, StoreResult};
use crate::tokens::approval::{ApprovalFacts, ApprovalSigner, DecidedBy};
use std::net::IpAddr;
use std::sync::Arc;
use webauthn_rs::prelude::{AuthenticationResult, Passkey};

mod listing;
mod reading;
mod suspension;

pub use reading::{AGENT_GRACE_MS, agent_waiting};
pub use suspension::DENIAL_WINDOW_MS;

/// Why an approval operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// Unknown, or not the caller's (the two look the same).
    #[error("approval request not found")]
    NotFound,
    #[error("the request can no longer be decided: {0:?}")]
    Undecidable(Undecidable),
    /// The agent's key was revoked (or is gone).
    #[error("the API key is revoked")]
    KeyRevoked,
    /// The agent's key is suspended, and why (unknown for keys suspended before causes were kept).
    #[error("the API key is suspended")]
    KeySuspended(Option<SuspendedBecause>),
    /// The key has `max` requests waiting; one frees up in `retry_after_secs`.
    #[error("too many pending requests")]
    TooManyPending { max: i64, retry_after_secs: u64 },
    #[error("Idempotency-Key reused with another body")]
    IdempotencyKeyReused,
    /// The request's owner has no passkey to approve with.
    #[error("no passkey to approve with")]
    NoPasskey,
    /// The standing grant was revoked, lapsed or used up just now (the gate tries the next).
    #[error("the grant has no use left")]
    GrantSpent,
    /// What the agent sent does not make a request (the gate's call, as a request).
    #[error("{0}")]
    Input(String),
    /// The assertion was made with a passkey of someone else.
    #[error("the passkey is not the owner's")]
    NotOwnersPasskey,
    /// The standing grant chosen with the approval cannot be made (the words say why).
    #[error("{0}")]
    NotGrantable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApprovalResult<T> = Result<T, ApprovalError>;

/// A request as created (or, for a retry with the same Idempotency-Key, as created before).
pub struct Created {
    pub record: ApprovalRecord,
    /// A retry: nothing new was created.
    pub replayed: bool,
    /// When it was asked for: the status shown is as of then.
    pub at: Millis,
}

/// A decision made just now.
pub struct Decided {
    pub request_id: RequestId,
    pub status: Status,
    pub at: Millis,
    /// The standing grant created with an approval.
    pub grant_id: Option<GrantId>,
    /// This denial suspended the key that asked (see [`Approvals::denying_suspends_key`]).
    pub key_suspended: bool,
}

/// A passkey's verified assertion for an approval, and the receipt it leaves (what the passkey
/// signed, as the browser sent it; none for a ceremony an older build started).
pub struct Assented<'a> {
    pub passkey: &'a StoredPasskey,
    pub assertion: &'a AuthenticationResult,
    pub signed: Option<SignedDecision>,
    /// The request, if it was read while checking the ceremony (else approving reads it).
    pub record: Option<ApprovalRecord>,
}

/// What a passkey signed for an approval: its receipt's body (content, nonce and the assertion)
/// and the challenge (base64url), which the token carries.
#[derive(Debug, Clone)]
pub struct SignedDecision {
    pub receipt: ReceiptBody,
    pub challenge: String,
}

/// A pending request a person may approve, with the passkeys that may approve it.
pub struct ToApprove {
    pub record: ApprovalRecord,
    pub passkeys: Vec<Passkey>,
    pub at: Millis,
}

/// The approval service: the part of the shared state approvals need, which the approval routes
/// extract (axum `FromRef`, see `http::substates`) instead of the whole `AppState`. Cheap to
/// clone: handles and settings.
#[derive(Clone)]
pub struct Approvals {
    db: Db,
    clock: Arc<dyn Clock>,
    events: Arc<Events>,
    push: Arc<PushSender>,
    signer: Arc<ApprovalSigner>,
    max_pending_per_key: Option<i64>,
    suspend_after_denials: Option<i64>,
    metrics: Arc<Metrics>,
    /// The server's public origin, where the web app is (`https://gate.example.com`).
    origin: Arc<str>,
}

impl Approvals {
    pub fn new(shared: &Shared, settings: &Settings) -> Self {
        Self {
            db: shared.db.clone(),
            clock: shared.clock.clone(),
            events: shared.events.clone(),
            push: shared.push.clone(),
            signer: shared.signer.clone(),
            max_pending_per_key: settings.max_pending_per_key,
            suspend_after_denials: settings.suspend_after_denials,
            metrics: shared.metrics.clone(),
            origin: settings.issuer().into(),
        }
    }

    /// The web app's page for request `id`, where the person approves or denies it.
    pub fn approve_url(&self, id: &RequestId) -> String {
        approval::approve_url(&self.origin, id.as_str())
    }

    /// The time every rule reads.
    pub fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// Counts an agent waiting here until the guard is dropped.
    pub(crate) fn waiting(&self) -> crate::metrics::Waiting<'_> {
        self.metrics.waiting()
    }

    /// The server is shutting down: long waits and streams end.
    pub fn closing(&self) -> bool {
        self.events.is_closed()
    }

    /// Records lapsed requests (of everyone, or of one person) as expired and tells whoever
    /// waits on them. How many it expired.
    pub async fn expire_lapsed(&self, user: Option<&UserId>) -> StoreResult<usize> {
        let expired = self.db.expire_due(self.now(), user).await?;
        self.metrics.decided(Decision::Expired, expired.len() as u64);
        for r in &expired {
            self.events.publish(r.event());
        }
        Ok(expired.len())
    }

    /// Records a new request of `key` (or finds the one an earlier try with the same
    /// `idempotency` key and body hash created), then announces it and tells the owner's
    /// browsers.
    pub async fn create(
        &self,
        key: &ApiKeyRecord,
        input: NewApproval,
        idempotency: Option<(&str, &str)>,
        ip: IpAddr,
    ) -> ApprovalResult<Created> {
        self.create_record(key, input, None, idempotency, ip).await
    }

    async fn create_record(
        &self,
        key: &ApiKeyRecord,
        input: NewApproval,
        gate_call: Option<String>,
        idempotency: Option<(&str, &str)>,
        ip: IpAddr,
    ) -> ApprovalResult<Created> {
        let app = self;
        let now = self.now();
        let mut record = new_record(key, input, now);
        record.gate_call = gate_call;
        let ip = ip.to_string();
        let max = app.max_pending_per_key;
        match app.db.insert_approval(&record, idempotency, max, Some(&ip)).await? {
            InsertOutcome::Created => {
                tracing::info!(request.id = %record.id, user.id = %record.user_id, key.id = %record.api_key_id, "approval requested");
                // Committed: the owner's browsers may be told now (in the background).
                app.push.notify_request_created(app.db.clone(), &record);
                app.events.publish(record.event());
                Ok(Created { record, replayed: false, at: now })
            }
            InsertOutcome::KeyNotLive(KeyStanding::Suspended(b)) => Err(ApprovalError::KeySuspended(b)),
            InsertOutcome::KeyNotLive(_) => Err(ApprovalError::KeyRevoked),
            InsertOutcome::TooManyPending { frees_at } => Err(ApprovalError::TooManyPending {
                max: max.unwrap_or_default(),
                retry_after_secs: u64::try_from((frees_at - now + 999) / 1000).unwrap_or(1).max(1),
            }),
            InsertOutcome::Replayed { request_id, body_hash: earlier } => {
                let body_hash = idempotency.map(|(_, h)| h).unwrap_or_default();
                if earlier != body_hash {
                    return Err(ApprovalError::IdempotencyKeyReused);
                }
                let existing = app
                    .db
                    .approval(&request_id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("idempotency key points nowhere"))?;
                Ok(Created { record: existing, replayed: true, at: now })
            }
        }
    }

    /// Records a new request of `key` that the gate asks about: `gate_call` is the call as
    /// made, which a grant offered on the approve page is scoped from.
    pub async fn create_gated(
        &self,
        key: &ApiKeyRecord,
        input: NewApproval,
        gate_call: String,
        idempotency: Option<(&str, &str)>,
        ip: IpAddr,
    ) -> ApprovalResult<Created> {
        self.create_record(key, input, Some(gate_call), idempotency, ip).await
    }

    /// The request as of now; a lapsed pending request is recorded as expired on the way.
    pub async fn current(&self, mut record: ApprovalRecord) -> ApprovalResult<ApprovalRecord> {
        if record.status == Status::Pending && record.status_at(self.now()) == Status::Expired {
            self.expire_lapsed(Some(&record.user_id)).await?;
            if let Some(fresh) = self.db.approval(&record.id).await? {
                record = fresh;
            }
        }
        Ok(record)
    }

    /// One of `user`'s requests, current.
    pub async fn one_of(&self, user: &UserId, id: &RequestId) -> ApprovalResult<ApprovalRecord> {
        let record = self.db.approval_of(id, user).await?.ok_or(ApprovalError::NotFound)?;
        self.current(record).await
    }

    /// Why the request cannot be decided as of `now` (it is read current first).
    async fn undecidable(&self, record: ApprovalRecord, now: Millis) -> ApprovalError {
        match self.current(record).await {
            Ok(record) => undecidable(&record, now),
            Err(e) => e,
        }
    }

    /// Request `id` as stored, whatever its status: what an approval of it decides (its action,
    /// agent, context, binding code and expiry never change).
    pub async fn stored(&self, id: &RequestId) -> ApprovalResult<ApprovalRecord> {
        self.db.approval(id).await?.ok_or(ApprovalError::NotFound)
    }

    /// The request `id` and its owner's passkeys, if it can still be approved: what an approval
    /// ceremony is started with.
    pub async fn to_approve(&self, id: &RequestId) -> ApprovalResult<ToApprove> {
        let record = self.db.approval(id).await?.ok_or(ApprovalError::NotFound)?;
        let record = self.current(record).await?;
        let now = self.now();
        if record.status_at(now) != Status::Pending {
            return Err(undecidable(&record, now));
        }
        let passkeys: Vec<_> =
            self.db.passkeys_of(&record.user_id).await?.into_iter().map(|p| p.passkey).collect();
        if passkeys.is_empty() {
            return Err(ApprovalError::NoPasskey);
        }
        Ok(ToApprove { record, passkeys, at: now })
    }

    /// After an approval ceremony could not be taken back: if the request can no longer be
    /// decided, that is what the person needs to know (rather than "invalid ceremony").
    pub async fn refuse_if_undecidable(&self, id: &RequestId) -> ApprovalResult<()> {
        if let Some(record) = self.db.approval(id).await? {
            let record = self.current(record).await?;
            let now = self.now();
            if record.status_at(now) != Status::Pending {
                return Err(undecidable(&record, now));
            }
        }
        Ok(())
    }

    /// Approves `owner`'s request `id` with the verified assertion `by` (made at `ip`):
    /// signs the approval token over what is stored, records it with the evidence, announces it.
    /// With `grant` (chosen when the ceremony started), the standing grant is created in the
    /// same transaction: only a passkey assertion ever creates one.
    pub async fn approve(
        &self,
        id: &RequestId,
        owner: &UserId,
        by: Assented<'_>,
        ip: IpAddr,
        grant: Option<&GrantChoice>,
    ) -> ApprovalResult<Decided> {
        let app = self;
        let Assented { passkey, assertion, signed, record } = by;
        if &passkey.user_id != owner {
            return Err(ApprovalError::NotOwnersPasskey);
        }
        let record = match record {
            Some(record) if &record.user_id == owner && &record.id == id => record,
            _ => app.db.approval_of(id, owner).await?.ok_or(ApprovalError::NotFound)?,
        };
        let now = self.now();
        if record.status_at(now) != Status::Pending {
            return Err(self.undecidable(record, now).await);
        }
        let context =
            record.context.as_deref().and_then(|c| serde_json::from_str::<serde_json::Map<_, _>>(c).ok());
        // Recomputed from what is stored, so the token states exactly what the person saw.
        let action_hash =
            approval::action_hash(id.as_str(), &record.action, record.agent_id.as_deref(), context.as_ref());
        let credential_id = credential_id_text(assertion.cred_id());
        let grant = match grant {
            None => None,
            Some(choice) => {
                let scope = grants::check_choice(&record, choice).map_err(|e| match e {
                    GrantError::NotGrantable(why) => ApprovalError::NotGrantable(why),
                    GrantError::Store(e) => ApprovalError::Store(e),
                    GrantError::NotFound => ApprovalError::NotFound,
                })?;
                Some(GrantRecord {
                    id: GrantId::generate(),
                    user_id: owner.clone(),
                    api_key_id: record.api_key_id.clone(),
                    description: scope.describe(),
                    scope,
                    request_id: id.clone(),
                    credential_id: credential_id.clone(),
                    created_at: now,
                    expires_at: now + choice.ttl_seconds * 1000,
                    max_uses: choice.max_uses,
                    uses: 0,
                    revoked_at: None,
                })
            }
        };
        let (receipt, challenge) = signed.map(|s| (s.receipt, s.challenge)).unzip();
        let facts = ApprovalFacts {
            user_id: owner.to_string(),
            request_id: id.to_string(),
            action: record.action.clone(),
            action_hash,
            agent_id: record.agent_id.clone(),
            decided_by: DecidedBy::Passkey,
            credential_id: Some(credential_id.clone()),
            user_verified: assertion.user_verified(),
            challenge,
            receipt: None,
        };
        let signer = app.signer.clone();
        let sign: SignToken = Box::new(move |receipt| {
            let facts = ApprovalFacts { receipt: receipt.map(str::to_owned), ..facts };
            let signed = signer.sign(facts, now)?;
            Ok(IssuedToken { token: signed.token, jti: signed.jti, expires_at: signed.expires_at })
        });
        let evidence = ApprovalEvidence {
            sign,
            credential_id,
            user_verified: assertion.user_verified(),
            ip: Some(ip.to_string()),
            receipt,
        };
        if !app.db.approve(id, owner, now, evidence, grant.as_ref()).await? {
            let record = app.db.approval(id).await?.ok_or(ApprovalError::NotFound)?;
            return Err(self.undecidable(record, now).await);
        }
        tracing::info!(request.id = %id, user.id = %owner, passkey.id = %passkey.id, "request approved");
        app.metrics.decided(Decision::ApprovedByPasskey, 1);
        if let Some(g) = &grant {
            tracing::info!(request.id = %id, user.id = %owner, grant.id = %g.id, grant = %g.description, "grant created");
        }
        app.events.publish(ApprovalEvent {
            user_id: owner.clone(),
            api_key_id: record.api_key_id.clone(),
            request_id: id.clone(),
            status: Status::Approved,
        });
        Ok(Decided {
            request_id: id.clone(),
            status: Status::Approved,
            at: now,
            grant_id: grant.map(|g| g.id),
            key_suspended: false,
        })
    }

    /// Denies `user`'s request `id` (from `ip`), announces it, and suspends the key that asked
    /// if its requests were denied too often.
    pub async fn deny(
        &self,
        user: &UserId,
        id: &RequestId,
        reason: Option<&str>,
        ip: IpAddr,
        signed: Option<ReceiptBody>,
    ) -> ApprovalResult<Decided> {
        let app = self;
        let now = self.now();
        let ip = ip.to_string();
        let Some(api_key_id) = app.db.deny(id, user, now, reason, Some(&ip), signed).await? else {
            let record = app.db.approval_of(id, user).await?.ok_or(ApprovalError::NotFound)?;
            return Err(self.undecidable(record, now).await);
        };
        tracing::info!(request.id = %id, user.id = %user, "request denied");
        app.metrics.decided(Decision::DeniedByPerson, 1);
        app.events.publish(ApprovalEvent {
            user_id: user.clone(),
            api_key_id: api_key_id.clone(),
            request_id: id.clone(),
            status: Status::Denied,
        });
        // The denial stands whatever happens here; a failed check is logged, not reported.
        let key_suspended = match app.suspend_if_denied_too_often(user, &api_key_id).await {
            Ok(suspended) => suspended,
            Err(e) => {
                tracing::warn!(key.id = %api_key_id, error = %e, "could not check the key for suspension");
                false
            }
        };
        Ok(Decided { request_id: id.clone(), status: Status::Denied, at: now, grant_id: None, key_suspended })
    }
}

/// The record of a new pending request of `key`.
pub(crate) fn new_record(key: &ApiKeyRecord, input: NewApproval, now: Millis) -> ApprovalRecord {
    let id = RequestId::generate();
    let context_text = input.context.as_ref().map(|c| serde_json::Value::Object(c.clone()).to_string());
    ApprovalRecord {
        action_hash: approval::action_hash(
            id.as_str(),
            &input.action,
            input.agent_id.as_deref(),
            input.context.as_ref(),
        ),
        id,
        user_id: key.user_id.clone(),
        api_key_id: key.id.clone(),
        agent_id: input.agent_id,
        action: input.action,
        context: context_text,
        binding_code: approval::binding_code(),
        status: Status::Pending,
        created_at: now,
        expires_at: now + input.lifetime_secs * 1000,
        decided_at: None,
        deny_reason: None,
        token: None,
        token_jti: None,
        token_expires_at: None,
        credential_id: None,
        user_verified: None,
        decided_by: None,
        decision_ref: None,
        gate_call: None,
        agent_seen_at: None,
        agent_waiting_until: None,
        receipt_seq: None,
    }
}

/// Why a request that is not pending as of `now` cannot be decided.
fn undecidable(r: &ApprovalRecord, now: Millis) -> ApprovalError {
    match r.status_at(now).decidable() {
        Err(why) => ApprovalError::Undecidable(why),
        // Pending after all: only a decision made in between can have stopped it.
        Ok(()) => ApprovalError::Undecidable(Undecidable::AlreadyDecided(Status::Pending)),
    }
}
