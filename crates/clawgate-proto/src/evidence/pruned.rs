//! Pruning a chain without breaking it. Past the retention period, the gate's own decisions
//! (`gate.allowed`, `gate.denied`: summaries the server wrote alone, no person's signature) lose
//! their content and evidence, and keep their seq, time, kind, `prev` and `hash`: every link still
//! holds, and a checkpoint taken before still matches. Each pruning appends a `receipts.pruned`
//! receipt listing exactly which receipts it pruned and a digest of them, with a checkpoint the
//! server signed of the head just before it; a receipt without content that no such receipt
//! lists was removed by someone else, and a verifier says so.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Kinds a pruning may empty: the gate's own decisions.
pub const PRUNABLE: &[&str] = &["gate.allowed", "gate.denied"];

/// The kind of the receipt a pruning appends.
pub const RECEIPTS_PRUNED: &str = "receipts.pruned";

/// Put before the pruned receipts in [`digest`].
pub const PRUNED_TAG: &[u8] = b"clawgate pruned v1\0";

/// A `receipts.pruned` receipt's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pruning {
    /// Receipts made before this time (ms since the Unix epoch) were pruned.
    pub before: i64,
    /// How many receipts this pruning emptied.
    pub count: u64,
    /// Their seqs, as ascending `[first, last]` runs.
    pub seqs: Vec<[u64; 2]>,
    /// [`digest`] of the receipts it emptied (hex).
    pub digest: String,
}

/// SHA-256 (hex) of [`PRUNED_TAG`] and, for each receipt emptied in seq order, the line
/// `"{seq} {kind} {hash}\n"`: what the content and evidence of those receipts were is gone, but
/// which receipts they were is fixed.
pub fn digest<'a>(pruned: impl IntoIterator<Item = (u64, &'a str, &'a str)>) -> String {
    let mut hash = Sha256::new();
    hash.update(PRUNED_TAG);
    for (seq, kind, receipt_hash) in pruned {
        hash.update(format!("{seq} {kind} {receipt_hash}\n").as_bytes());
    }
    hex::encode(hash.finalize())
}

/// Ascending seqs as `[first, last]` runs.
pub fn runs(seqs: &[u64]) -> Vec<[u64; 2]> {
    let mut runs: Vec<[u64; 2]> = Vec::new();
    for &seq in seqs {
        match runs.last_mut() {
            Some(run) if run[1] + 1 == seq => run[1] = seq,
            _ => runs.push([seq, seq]),
        }
    }
    runs
}

/// The seqs of `[first, last]` runs, in order; `None` if a run is backwards or the runs do not
/// ascend, or they hold more than `limit` seqs.
pub fn seqs_of(runs: &[[u64; 2]], limit: u64) -> Option<Vec<u64>> {
    let mut seqs = Vec::new();
    let mut after = 0;
    for &[first, last] in runs {
        if first > last || first <= after || last - first >= limit.saturating_sub(seqs.len() as u64) {
            return None;
        }
        seqs.extend(first..=last);
        after = last;
    }
    Some(seqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_back() {
        let seqs = [3, 4, 5, 9, 11, 12];
        let r = runs(&seqs);
        assert_eq!(r, [[3, 5], [9, 9], [11, 12]]);
        assert_eq!(seqs_of(&r, 100).as_deref(), Some(&seqs[..]));
        assert_eq!(seqs_of(&[[5, 3]], 100), None, "backwards");
        assert_eq!(seqs_of(&[[3, 5], [5, 6]], 100), None, "overlapping");
        assert_eq!(seqs_of(&[[1, u64::MAX]], 1000), None, "too many");
    }

    #[test]
    fn the_digest_fixes_which_receipts_and_their_order() {
        let a = digest([(3, "gate.allowed", "aa"), (4, "gate.denied", "bb")]);
        assert_eq!(a.len(), 64);
        assert_ne!(a, digest([(4, "gate.denied", "bb"), (3, "gate.allowed", "aa")]));
        assert_ne!(a, digest([(3, "gate.denied", "aa"), (4, "gate.denied", "bb")]));
        assert_eq!(a, digest([(3, "gate.allowed", "aa"), (4, "gate.denied", "bb")]));
    }
}
