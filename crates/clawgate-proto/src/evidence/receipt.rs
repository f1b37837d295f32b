//! Receipts: every decision and security-relevant change appends one to its account's chain.
//! Each names the hash of the one before it, so a receipt changed, removed, inserted or moved
//! breaks every link after it; a checkpoint the server signed (account, seq, head hash) pins the
//! chain up to that point, so it cannot be rolled back or rewritten below it unnoticed.
//!
//! A receipt's hash is `SHA-256("clawgate receipt v1\0" ‖ canonical JSON)` of
//! `{account, seq, prev, time, kind, content, evidence}`: the same RFC 8785 form as the decision
//! challenge, so any language can recompute it.

use super::canonical;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Put before a receipt's canonical JSON when it is hashed.
pub const RECEIPT_TAG: &[u8] = b"clawgate receipt v1\0";
/// The `prev` of an account's first receipt.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The `format` of a chain file.
pub const CHAIN_FORMAT: &str = "clawgate-chain/1";
/// The JOSE `typ` of a checkpoint.
pub const CHECKPOINT_TYP: &str = "clawgate-checkpoint+jwt";

/// Receipt kinds whose content and evidence have a fixed shape the verifier checks.
pub mod kind {
    /// The first receipt of an account that existed before receipts: `content`:
    /// `{passkeys: [{credentialId, name, publicKey}]}`, the passkeys it had then, each public key
    /// as COSE (base64url). The server's word: no registration evidence backs these keys.
    pub const CHAIN_OPENED: &str = "chain.opened";
    /// `content`: `{credentialId, name}`; `evidence`: `{clientDataJSON, attestationObject}`
    /// (base64url), as the browser sent them: the public key is in the attestation's
    /// authenticator data.
    pub const PASSKEY_REGISTERED: &str = "passkey.registered";
    /// `content`: `{credentialId}`. Assertions by it after this receipt do not hold.
    pub const PASSKEY_DELETED: &str = "passkey.deleted";
    /// With evidence: `content`: `{signed, nonce}` (the decision content the challenge is derived
    /// from, and its nonce, base64url); `evidence`: an [`Assertion`](super::Assertion).
    /// Without (a ceremony an older build started): `content` as every other kind.
    pub const REQUEST_APPROVED: &str = "request.approved";
    /// As `request.approved`, for a denial the person signed with a passkey (`signed.decision`
    /// `deny`: the request and the reason). A denial without a passkey (by session, by a rule,
    /// by a stop) has no evidence.
    pub const REQUEST_DENIED: &str = "request.denied";
    /// As `request.approved`, for Stop all agents signed with a passkey (`signed.decision`
    /// `stop`: the account and the time).
    pub const AGENTS_STOPPED: &str = "agents.stopped";
    /// As `request.approved`, for a rule set saved with a passkey (`signed.decision` `rules`: the
    /// new version and the SHA-256 of the set's canonical JSON).
    pub const RULES_CHANGED: &str = "rules.changed";
    /// The server's token signing key `content.kid` (its `content.number`) was revoked: tokens
    /// and checkpoints it signs after this receipt's time vouch for nothing (the key may be in
    /// other hands). In every account's chain.
    pub const SIGNING_KEY_REVOKED: &str = "signing_key.revoked";
    /// A new signing key `content.kid` signs from `content.activeFrom` (milliseconds). In every
    /// account's chain.
    pub const SIGNING_KEY_ROTATED: &str = "signing_key.rotated";

    /// The `signed.decision` a receipt of `kind` must carry when it has passkey evidence; `None`
    /// for kinds that are never signed by a decision ceremony.
    pub fn signed_decision(kind: &str) -> Option<&'static str> {
        Some(match kind {
            REQUEST_APPROVED => "approve",
            REQUEST_DENIED => "deny",
            AGENTS_STOPPED => "stop",
            RULES_CHANGED => "rules",
            _ => return None,
        })
    }
}

/// One receipt, as served and as kept in a chain file (`hash` included, for the reader's
/// convenience; a verifier recomputes it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The account's id (`usr_…`).
    pub account: String,
    /// 1 for an account's first receipt, then one more each time.
    pub seq: u64,
    /// The previous receipt's hash (hex), or [`GENESIS`] for the first.
    pub prev: String,
    /// When, in milliseconds since the Unix epoch (the server's clock).
    pub time: i64,
    /// What happened: `account.created`, `passkey.registered`, `request.approved`, …
    pub kind: String,
    /// What was decided or changed; `null` once pruned (a gate receipt past its retention,
    /// listed by a later `receipts.pruned` receipt: its `hash` stays, see `evidence::pruned`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub content: Value,
    /// For a passkey decision or registration, what the browser sent; otherwise null.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub evidence: Option<Value>,
    /// This receipt's hash (hex).
    pub hash: String,
}

impl Receipt {
    /// Builds a receipt and computes its hash.
    pub fn new(
        account: &str,
        seq: u64,
        prev: &str,
        time: i64,
        kind: &str,
        content: Value,
        evidence: Option<Value>,
    ) -> Self {
        let mut receipt = Self {
            account: account.to_owned(),
            seq,
            prev: prev.to_owned(),
            time,
            kind: kind.to_owned(),
            content,
            evidence,
            hash: String::new(),
        };
        receipt.hash = receipt.computed_hash();
        receipt
    }

    /// The hash of what this receipt says (not of its `hash` field).
    pub fn computed_hash(&self) -> String {
        let hashed = serde_json::json!({
            "account": self.account,
            "seq": self.seq,
            "prev": self.prev,
            "time": self.time,
            "kind": self.kind,
            "content": self.content,
            "evidence": self.evidence,
        });
        let mut hash = Sha256::new();
        hash.update(RECEIPT_TAG);
        hash.update(canonical(&hashed).as_bytes());
        hex::encode(hash.finalize())
    }
}

/// A passkey assertion as the browser sent it (each field base64url).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assertion {
    pub credential_id: String,
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    pub authenticator_data: String,
    pub signature: String,
}

/// A passkey registration as the browser sent it (each field base64url).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    pub attestation_object: String,
}

/// A whole chain, as the web app downloads it and `clawgate audit verify` reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainFile {
    /// [`CHAIN_FORMAT`].
    pub format: String,
    pub account: String,
    pub receipts: Vec<Receipt>,
}

/// What a checkpoint's JWT claims: the server's signature that `account`'s chain had `head` as
/// the hash of receipt `seq` at `iat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckpointClaims {
    /// The server's issuer (its origin).
    pub iss: String,
    /// The account (`usr_…`).
    pub sub: String,
    pub seq: u64,
    pub head: String,
    /// Seconds since the Unix epoch.
    pub iat: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_hash_covers_every_field_but_itself() {
        let r = Receipt::new("usr_a", 1, GENESIS, 1_000, "account.created", json!({"name": "a"}), None);
        assert_eq!(r.hash, r.computed_hash());
        assert_eq!(r.hash.len(), 64);
        let changes: [fn(&mut Receipt); 7] = [
            |r| r.account.push('x'),
            |r| r.seq += 1,
            |r| r.prev.replace_range(0..1, "1"),
            |r| r.time += 1,
            |r| r.kind.push('x'),
            |r| r.content = json!({"name": "b"}),
            |r| r.evidence = Some(json!({})),
        ];
        for change in changes {
            let mut changed = r.clone();
            change(&mut changed);
            assert_ne!(changed.computed_hash(), r.hash, "{changed:?}");
        }
        let mut relabelled = r.clone();
        relabelled.hash = "0".repeat(64);
        assert_eq!(relabelled.computed_hash(), r.hash);
    }

    #[test]
    fn the_hash_is_over_the_tagged_canonical_form() {
        let r = Receipt::new("usr_a", 2, GENESIS, 5, "k", json!({"b": 1, "a": [true, null]}), None);
        let text = r#"{"account":"usr_a","content":{"a":[true,null],"b":1},"evidence":null,"kind":"k","prev":"0000000000000000000000000000000000000000000000000000000000000000","seq":2,"time":5}"#;
        let mut hash = Sha256::new();
        hash.update(b"clawgate receipt v1\0");
        hash.update(text.as_bytes());
        assert_eq!(r.hash, hex::encode(hash.finalize()));
    }

    #[test]
    fn a_receipt_reads_back_as_written() {
        let r = Receipt::new(
            "usr_a",
            3,
            GENESIS,
            7,
            "request.approved",
            json!({}),
            Some(json!({"signature": "AA"})),
        );
        let text = serde_json::to_string(&r).expect("serialises");
        assert_eq!(serde_json::from_str::<Receipt>(&text).expect("reads"), r);
    }
}
