//! Receipts emptied past their retention (`clawgate_proto::evidence::pruned`): a receipt without
//! content keeps its hash, so the links still hold, but its hash can no longer be recomputed.
//! Only the gate's own receipts may be emptied, and each one only if a later `receipts.pruned`
//! receipt lists it, with a digest of exactly the receipts it emptied; anything else emptied was
//! removed behind the person's back.

use super::checkpoint;
use super::error::{Category, ChainError};
use clawgate_proto::evidence::pruned::{self, PRUNABLE, Pruning};
use clawgate_proto::evidence::receipt::{ChainFile, Receipt};
use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;
use std::collections::BTreeMap;

/// The emptied receipts seen so far, and whether a pruning listed each.
#[derive(Default)]
pub struct Emptied<'a> {
    /// By seq: the receipt, and whether a `receipts.pruned` receipt has listed it.
    seen: BTreeMap<u64, (&'a Receipt, bool)>,
}

fn altered(r: &Receipt, message: String) -> ChainError {
    ChainError::at(Category::Altered, r.seq, Some(&r.kind), message)
}

/// Whether `r` was emptied by a pruning (its content is gone).
pub fn is_emptied(r: &Receipt) -> bool {
    r.content.is_null()
}

impl<'a> Emptied<'a> {
    /// Takes note of an emptied receipt: only the gate's may be.
    pub fn note(&mut self, r: &'a Receipt) -> Result<(), ChainError> {
        if !PRUNABLE.contains(&r.kind.as_str()) || r.evidence.as_ref().is_some_and(|e| !e.is_null()) {
            return Err(altered(
                r,
                "its content is gone, and only the gate's own receipts (gate.allowed, gate.denied) are ever pruned: \
                 it was removed"
                    .into(),
            ));
        }
        self.seen.insert(r.seq, (r, false));
        Ok(())
    }

    /// Checks a `receipts.pruned` receipt: every receipt it lists is an emptied gate receipt
    /// before it, made before its time, listed by no other pruning, and the digest is theirs.
    /// With `jwks`, also the checkpoint it carries: the server's signature of the head before it.
    pub fn claim(&mut self, r: &Receipt, chain: &ChainFile, jwks: Option<&JwkSet>) -> Result<(), ChainError> {
        let pruning: Pruning = serde_json::from_value(r.content.clone())
            .map_err(|e| altered(r, format!("its content is not a pruning's: {e}")))?;
        let seqs = pruned::seqs_of(&pruning.seqs, pruning.count.min(chain.receipts.len() as u64))
            .filter(|seqs| seqs.len() as u64 == pruning.count)
            .ok_or_else(|| altered(r, "its seqs do not ascend, or do not add up to its count".into()))?;
        let mut listed = Vec::with_capacity(seqs.len());
        for seq in seqs {
            match self.seen.get_mut(&seq) {
                Some((emptied, claimed @ false)) if emptied.time < pruning.before => {
                    *claimed = true;
                    listed.push((seq, emptied.kind.as_str(), emptied.hash.as_str()));
                }
                _ => {
                    return Err(altered(
                        r,
                        format!(
                            "it lists receipt {seq} as pruned, which is not an emptied gate receipt made before it, \
                             or another pruning listed it already"
                        ),
                    ));
                }
            }
        }
        if pruned::digest(listed) != pruning.digest {
            return Err(altered(r, "its digest is not the one of the receipts it lists".into()));
        }
        let Some(jwks) = jwks else { return Ok(()) };
        let jwt = r.evidence.as_ref().and_then(|e| e.get("checkpoint")).and_then(Value::as_str).ok_or_else(
            || ChainError::at(Category::Checkpoint, r.seq, Some(&r.kind), "it carries no checkpoint"),
        )?;
        // A pruning outlives the key that signed its checkpoint: once that key has left the
        // JWKS, the checkpoint is not checked (the digest and the links still are).
        let kid = jsonwebtoken::decode_header(jwt).ok().and_then(|h| h.kid);
        if kid.is_none_or(|kid| jwks.find(&kid).is_none()) {
            return Ok(());
        }
        let signed = checkpoint::verify(chain, jwt, jwks)?;
        if signed.seq + 1 != r.seq {
            let message = format!("its checkpoint is of receipt {}, not of the one before it", signed.seq);
            return Err(ChainError::at(Category::Checkpoint, r.seq, Some(&r.kind), message));
        }
        Ok(())
    }

    /// How many receipts were emptied; the first that no pruning listed is an error.
    pub fn finish(self) -> Result<usize, ChainError> {
        match self.seen.values().find(|(_, claimed)| !claimed) {
            Some((r, _)) => Err(altered(
                r,
                "its content is gone, and no receipts.pruned receipt after it lists it: it was removed"
                    .into(),
            )),
            None => Ok(self.seen.len()),
        }
    }
}
