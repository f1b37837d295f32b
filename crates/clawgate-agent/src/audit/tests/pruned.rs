//! Chains pruned past their retention: emptied gate receipts hold as links when a
//! `receipts.pruned` receipt lists them; emptied receipts no pruning lists, or of other kinds, and
//! prunings that list the wrong receipts, do not.

use super::{Builder, fails, good};
use crate::audit::*;
use clawgate_proto::evidence::pruned::{self, RECEIPTS_PRUNED};
use serde_json::{Value, json};

/// `good()` with three gate allows after it (seq 11–13).
fn with_gate_allows() -> Builder {
    let (mut b, _) = good();
    for n in 0..3 {
        b.push("gate.allowed", json!({"apiKeyId": "key_1", "detail": format!("dec_{n} by rule v1#1")}), None);
    }
    b
}

/// Empties the receipts at `seqs` as a pruning does, and appends the pruning listing `listed`.
fn prune(b: &mut Builder, seqs: &[u64], listed: &[u64]) -> u64 {
    for r in b.receipts.iter_mut().filter(|r| seqs.contains(&r.seq)) {
        r.content = Value::Null;
        r.evidence = None;
    }
    let rows: Vec<(u64, String, String)> = b
        .receipts
        .iter()
        .filter(|r| listed.contains(&r.seq))
        .map(|r| (r.seq, r.kind.clone(), r.hash.clone()))
        .collect();
    let digest = pruned::digest(rows.iter().map(|(s, k, h)| (*s, k.as_str(), h.as_str())));
    let content = json!({"before": 1_900_000_000_000_i64, "count": listed.len(), "seqs": pruned::runs(listed), "digest": digest});
    b.push(RECEIPTS_PRUNED, content, Some(json!({"checkpoint": "not checked without --jwks"})))
}

#[test]
fn emptied_gate_receipts_a_pruning_lists_hold_as_links() {
    let mut b = with_gate_allows();
    prune(&mut b, &[11, 12], &[11, 12]);
    let summary = verify_chain(&b.chain(), &Options::default()).expect("the chain holds");
    assert_eq!(summary.pruned, 2);
    assert!(summary_text(&summary).contains("pruned: 2 gate receipts"), "{}", summary_text(&summary));
}

#[test]
fn an_emptied_receipt_no_pruning_lists_or_of_another_kind_does_not_hold() {
    let mut b = with_gate_allows();
    prune(&mut b, &[11, 12, 13], &[11, 12]);
    fails(
        &b.chain(),
        &Options::default(),
        Category::Altered,
        13,
        "no receipts.pruned receipt after it lists it",
    );
    let mut b = with_gate_allows();
    prune(&mut b, &[5, 11], &[11]);
    fails(&b.chain(), &Options::default(), Category::Altered, 5, "only the gate's own receipts");
}

#[test]
fn a_pruning_that_lists_other_receipts_or_the_wrong_digest_does_not_hold() {
    let mut b = with_gate_allows();
    let seq = prune(&mut b, &[11], &[11, 12]);
    fails(&b.chain(), &Options::default(), Category::Altered, seq, "it lists receipt 12 as pruned");
    let mut b = with_gate_allows();
    let first = prune(&mut b, &[11], &[11]);
    let second = prune(&mut b, &[], &[11]);
    assert_eq!(first + 1, second);
    fails(&b.chain(), &Options::default(), Category::Altered, second, "another pruning listed it already");
    let mut b = with_gate_allows();
    let seq = prune(&mut b, &[11, 12], &[11, 12]);
    let last = b.receipts.len() - 1;
    b.receipts[last].content["digest"] = json!("00".repeat(32));
    super::rehash(&mut b.receipts, last);
    fails(&b.chain(), &Options::default(), Category::Altered, seq, "its digest");
}
