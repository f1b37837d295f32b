//! A person's chain of receipts, and checkpoints of it: the server's signature, with its token
//! signing key, that the chain had a given head at a given seq. A person who keeps a checkpoint
//! can later prove the chain was not rewritten or cut below it (`clawgate audit verify`).

use super::Shared;
use crate::clock::{Clock, Millis};
use crate::domain::ids::UserId;
use crate::store::pruning::SignCheckpoint;
use crate::store::{Db, StoreError};
use crate::tokens::approval::ApprovalSigner;
use clawgate_proto::evidence::receipt::{CHECKPOINT_TYP, CheckpointClaims, GENESIS, Receipt};
use std::sync::Arc;

/// Most receipts one page holds.
pub const MAX_PAGE: u32 = 500;

/// A page of receipts, oldest first, and the seq to ask after for the next (`None`: this page
/// reached the head).
#[derive(Debug, Clone)]
pub struct Page {
    pub receipts: Vec<Receipt>,
    pub next_after: Option<u64>,
}

/// A signed checkpoint, and what it says.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub claims: CheckpointClaims,
    /// The compact JWT (EdDSA; header `typ` `clawgate-checkpoint+jwt`), checkable against the
    /// published keys (`/.well-known/jwks.json`).
    pub jwt: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot sign a checkpoint: {0}")]
    Signing(anyhow::Error),
}

#[derive(Clone)]
pub struct Receipts {
    db: Db,
    clock: Arc<dyn Clock>,
    signer: Arc<ApprovalSigner>,
}

impl Receipts {
    pub fn new(shared: &Shared) -> Self {
        Self { db: shared.db.clone(), clock: shared.clock.clone(), signer: shared.signer.clone() }
    }

    fn now(&self) -> Millis {
        self.clock.now_ms()
    }

    /// Up to `limit` (at most [`MAX_PAGE`]) of `user`'s receipts after seq `after`.
    pub async fn page(&self, user: &UserId, after: u64, limit: u32) -> Result<Page, ReceiptError> {
        let limit = limit.clamp(1, MAX_PAGE);
        // One more than asked: whether another page follows, without a second query.
        let mut receipts = self.db.receipts(user, after, limit + 1).await?;
        let next_after = if receipts.len() > limit as usize {
            receipts.truncate(limit as usize);
            receipts.last().map(|r| r.seq)
        } else {
            None
        };
        Ok(Page { receipts, next_after })
    }

    /// Prunes the gate's receipts made before `before` (see `store::pruning`): up to `batch` in
    /// each of up to `accounts` accounts, each account's with its `receipts.pruned` receipt and a
    /// checkpoint of its head before it. How many receipts it emptied.
    pub async fn prune(&self, before: Millis, batch: i64, accounts: i64) -> Result<u64, ReceiptError> {
        let mut pruned = 0;
        for user in self.db.accounts_to_prune(before, accounts).await? {
            let (signer, account) = (self.signer.clone(), user.to_string());
            let now = self.now();
            let sign: SignCheckpoint = Box::new(move |seq, head| {
                let claims = CheckpointClaims {
                    iss: signer.issuer().to_owned(),
                    sub: account,
                    seq,
                    head: head.to_owned(),
                    iat: now / 1000,
                };
                signer.sign_other(CHECKPOINT_TYP, &claims, now)
            });
            pruned += self.db.prune_receipts(&user, before, batch, now, sign).await?;
        }
        Ok(pruned)
    }

    /// A checkpoint of `user`'s chain as it is now (seq 0 and the genesis hash for an empty one).
    pub async fn checkpoint(&self, user: &UserId) -> Result<Checkpoint, ReceiptError> {
        let (seq, head) = self.db.chain_head(user).await?.unwrap_or((0, GENESIS.to_owned()));
        let now = self.now();
        let claims = CheckpointClaims {
            iss: self.signer.issuer().to_owned(),
            sub: user.to_string(),
            seq,
            head,
            iat: now / 1000,
        };
        let jwt = self.signer.sign_other(CHECKPOINT_TYP, &claims, now).map_err(ReceiptError::Signing)?;
        Ok(Checkpoint { claims, jwt })
    }
}
