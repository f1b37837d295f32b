//! Chains made by a software authenticator, held by the verifier, then altered every way the
//! verifier must catch.

mod authenticator;
mod checkpoints;
mod command;
mod evidence;
mod pruned;

use super::*;
use authenticator::{Alg, ORIGIN, Passkey, RP_ID, UP, UV};
use clawgate_proto::evidence::receipt::{CHAIN_FORMAT, ChainFile, GENESIS, Receipt, kind};
use clawgate_proto::evidence::{ApprovalContent, decision_challenge};
use serde_json::{Value, json};

const ACCOUNT: &str = "usr_alice";

/// An account's chain, receipt by receipt, each hashed and linked as the server does.
struct Builder {
    receipts: Vec<Receipt>,
}

impl Builder {
    fn new() -> Self {
        let mut b = Self { receipts: Vec::new() };
        b.push("account.created", json!({"email": "alice@example.com"}), None);
        b
    }

    fn push(&mut self, kind: &str, content: Value, evidence: Option<Value>) -> u64 {
        let seq = self.receipts.len() as u64 + 1;
        let prev = self.receipts.last().map_or_else(|| GENESIS.to_owned(), |r| r.hash.clone());
        let time = 1_800_000_000_000 + seq as i64 * 1_000;
        self.receipts.push(Receipt::new(ACCOUNT, seq, &prev, time, kind, content, evidence));
        seq
    }

    fn register(&mut self, passkey: &Passkey) -> u64 {
        let content = json!({"credentialId": passkey.id_b64(), "name": "laptop"});
        self.push(kind::PASSKEY_REGISTERED, content, Some(passkey.registration(ORIGIN, RP_ID)))
    }

    fn delete(&mut self, passkey: &Passkey) -> u64 {
        self.push(kind::PASSKEY_DELETED, json!({"credentialId": passkey.id_b64()}), None)
    }

    /// An approval of `request`, its evidence made by `sign` from the challenge.
    fn approve_with(&mut self, request: &str, sign: impl FnOnce(&[u8; 32]) -> Value) -> u64 {
        let (content, challenge) = approval(request, self.receipts.len() as u8);
        self.push(kind::REQUEST_APPROVED, content, Some(sign(&challenge)))
    }

    fn approve(&mut self, passkey: &mut Passkey, request: &str) -> u64 {
        self.approve_with(request, |c| passkey.assert(c, ORIGIN, RP_ID, UP | UV))
    }

    fn chain(&self) -> ChainFile {
        ChainFile { format: CHAIN_FORMAT.into(), account: ACCOUNT.into(), receipts: self.receipts.clone() }
    }
}

/// An approval's receipt content (`{signed, nonce}`) and the challenge it gives.
fn approval(request: &str, nonce: u8) -> (Value, [u8; 32]) {
    let signed = ApprovalContent {
        request_id: request,
        action: "rm -rf ./build",
        agent_id: Some("bot"),
        context: json!({"cwd": "/srv"}),
        binding_code: "123-456",
        expires_at: "2027-01-15T08:05:00.000Z",
        grant: None,
    }
    .to_value();
    let nonce = [nonce; 16];
    let challenge = decision_challenge(&signed, &nonce);
    (json!({"signed": signed, "nonce": authenticator::b64(&nonce)}), challenge)
}

/// What one who rewrites the chain does: every hash from index `from` on recomputed, each
/// receipt linked to the one before it.
fn rehash(receipts: &mut [Receipt], from: usize) {
    for i in from..receipts.len() {
        let prev = if i == 0 { GENESIS.to_owned() } else { receipts[i - 1].hash.clone() };
        receipts[i].prev = prev;
        receipts[i].hash = receipts[i].computed_hash();
    }
}

/// Passkeys of all three algorithms registered (seq 2–4), approvals by each (5, 7, 8, 9), a
/// denial (6) only the server records, and the Ed25519 passkey deleted (10).
fn good() -> (Builder, [Passkey; 3]) {
    let mut keys = [Passkey::new(Alg::Es256, 1), Passkey::new(Alg::EdDsa, 2), Passkey::new(Alg::Rs256, 3)];
    let mut b = Builder::new();
    for key in &keys {
        b.register(key);
    }
    b.approve(&mut keys[0], "req_1");
    b.push("request.denied", json!({"requestId": "req_2", "reason": "no"}), None);
    b.approve(&mut keys[1], "req_3");
    b.approve(&mut keys[2], "req_4");
    b.approve(&mut keys[0], "req_5");
    let deleted = keys[1].clone();
    b.delete(&deleted);
    (b, keys)
}

#[track_caller]
fn fails(chain: &ChainFile, opts: &Options, category: Category, seq: u64, words: &str) -> ChainError {
    let e = verify_chain(chain, opts).expect_err("the chain must not hold");
    assert_eq!((e.category, e.seq), (category, Some(seq)), "{e}");
    assert!(e.to_string().contains(words), "{e:?} does not say {words:?}");
    e
}

fn counts(pairs: &[(&str, usize)]) -> std::collections::BTreeMap<String, usize> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

#[test]
fn a_chain_signed_with_all_three_algorithms_holds() {
    let (b, _) = good();
    let summary = verify_chain(&b.chain(), &Options::default()).expect("holds");
    assert_eq!((summary.receipts, summary.first_seq, summary.last_seq), (10, Some(1), Some(10)));
    assert_eq!(summary.head.as_deref(), Some(b.receipts[9].hash.as_str()));
    assert_eq!(summary.passkey_checked, counts(&[("passkey.registered", 3), ("request.approved", 4)]));
    assert_eq!(
        summary.server_only,
        counts(&[("account.created", 1), ("passkey.deleted", 1), ("request.denied", 1)])
    );
    let algs: Vec<(&str, usize, Option<u64>)> =
        summary.credentials.iter().map(|c| (c.algorithm.as_str(), c.signed, c.deleted_at)).collect();
    assert_eq!(algs, [("ES256", 2, None), ("EdDSA", 1, Some(10)), ("RS256", 1, None)]);
    let pinned = Options { rp_id: Some(RP_ID.into()), origin: Some(ORIGIN.into()), ..Options::default() };
    assert_eq!(verify_chain(&b.chain(), &pinned), Ok(summary.clone()));
    let text = summary_text(&summary);
    assert!(text.contains("account usr_alice, 10 receipts, seq 1 to 10"), "{text}");
    assert!(
        text.contains("passkey evidence checked: 7 (passkey.registered 3, request.approved 4)"),
        "{text}"
    );
    assert!(text.contains("recorded by the server only: 3"), "{text}");
}

#[test]
fn padded_base64url_is_read_too() {
    let (mut b, _) = good();
    let pad = |v: &mut Value| {
        for field in v.as_object_mut().expect("evidence object").values_mut() {
            let text = field.as_str().expect("base64url").to_owned();
            *field = json!(format!("{text}{}", "=".repeat((4 - text.len() % 4) % 4)));
        }
    };
    pad(b.receipts[1].evidence.as_mut().expect("registration"));
    pad(b.receipts[4].evidence.as_mut().expect("assertion"));
    rehash(&mut b.receipts, 1);
    assert!(verify_chain(&b.chain(), &Options::default()).is_ok());
}

#[test]
fn a_changed_byte_breaks_that_receipts_hash() {
    let (mut b, _) = good();
    b.receipts[6].content["signed"]["action"] = json!("rm -rf ./buile");
    let e = fails(
        &b.chain(),
        &Options::default(),
        Category::Altered,
        7,
        "its hash is not what its content gives",
    );
    assert_eq!(e.to_string().split(':').next(), Some("receipt 7 (request.approved)"));
}

#[test]
fn a_removed_receipt_leaves_a_gap() {
    let (mut b, _) = good();
    b.receipts.remove(3);
    fails(&b.chain(), &Options::default(), Category::Altered, 4, "seq 5 follows seq 3: receipt 4 is missing");
    b.receipts.remove(0);
    fails(&b.chain(), &Options::default(), Category::Altered, 1, "the chain starts at seq 2, not 1");
}

#[test]
fn reordered_receipts_do_not_hold_renumbered_or_not() {
    let (mut b, _) = good();
    b.receipts.swap(5, 6);
    fails(&b.chain(), &Options::default(), Category::Altered, 6, "seq 7 follows seq 5");
    // Renumbered, each one's own hash made anew: the link to the one before breaks.
    let (mut b, _) = good();
    b.receipts.swap(5, 6);
    for (i, r) in b.receipts.iter_mut().enumerate().skip(5).take(2) {
        r.seq = i as u64 + 1;
        r.hash = r.computed_hash();
    }
    fails(&b.chain(), &Options::default(), Category::Altered, 6, "prev does not match receipt 5's hash");
}

#[test]
fn a_repeated_receipt_does_not_hold() {
    let (mut b, _) = good();
    let again = b.receipts[5].clone();
    b.receipts.insert(6, again);
    fails(
        &b.chain(),
        &Options::default(),
        Category::Altered,
        7,
        "seq 6 follows seq 6: receipts are repeated or out of order",
    );
}

#[test]
fn an_inserted_receipt_breaks_the_next_link() {
    let (mut b, _) = good();
    let forged = Receipt::new(ACCOUNT, 4, &b.receipts[2].hash, 1, "settings.changed", json!({}), None);
    b.receipts.insert(3, forged);
    for (i, r) in b.receipts.iter_mut().enumerate().skip(4) {
        r.seq = i as u64 + 1;
        r.hash = r.computed_hash();
    }
    let e =
        fails(&b.chain(), &Options::default(), Category::Altered, 5, "prev does not match receipt 4's hash");
    assert!(e.to_string().contains("removed, inserted or moved"), "{e}");
}

#[test]
fn a_receipt_of_another_account_does_not_hold() {
    let (mut b, _) = good();
    b.receipts[5].account = "usr_mallory".into();
    rehash(&mut b.receipts, 5);
    fails(&b.chain(), &Options::default(), Category::Altered, 6, "belongs to account usr_mallory");
}

#[test]
fn a_wrong_format_or_an_empty_chain() {
    let (b, _) = good();
    let mut chain = b.chain();
    chain.format = "clawgate-chain/2".into();
    let e = verify_chain(&chain, &Options::default()).expect_err("unknown format");
    assert_eq!((e.category, e.category.exit_code()), (Category::Input, crate::EXIT_USAGE));
    let empty = ChainFile { format: CHAIN_FORMAT.into(), account: ACCOUNT.into(), receipts: vec![] };
    let summary = verify_chain(&empty, &Options::default()).expect("nothing to doubt");
    assert_eq!((summary.receipts, summary.head), (0, None));
}
