//! Each account's chain of receipts (`clawgate_proto::evidence::receipt`). A receipt is appended
//! by [`audit::append`](super::audit::append), inside the transaction of the change it records,
//! so a decision and its receipt commit together or not at all.
//!
//! Appends to one account's chain are serialised: the first statement moves the account's head
//! on (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), which on PostgreSQL holds that row's lock
//! until the transaction ends (other instances' appends wait for it), and on SQLite runs on the
//! one writer. The receipts' primary key `(user_id, seq)` refuses a second receipt at a seq even
//! if that were ever not so.

use super::writer::Statement;
use super::{Db, StoreError, StoreResult};
use crate::clock::Millis;
use crate::domain::ids::UserId;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clawgate_proto::evidence::canonical;
use clawgate_proto::evidence::receipt::{GENESIS, Receipt, kind::CHAIN_OPENED};
use serde_json::{Value, json};
use sqlx::Row;
use std::sync::{Arc, Mutex};
use webauthn_rs::prelude::{COSEKey, COSEKeyType, Passkey};

/// The kind of an account's first receipt, for an account created with receipts.
const ACCOUNT_CREATED: &str = "account.created";

/// The receipt's row ($11–$18, bound by [`bind`]).
macro_rules! insert_receipt {
    () => {
        "INSERT INTO receipts (user_id, seq, at, kind, prev, hash, content, evidence) \
         VALUES ($11, $12, $13, $14, $15, $16, $17, $18)"
    };
}
/// The chain's head moved to the receipt ($11 its account, $12 its seq, $16 its hash).
macro_rules! move_head {
    () => {
        "UPDATE chain_heads SET seq = $12, head = $16 WHERE user_id = $11"
    };
}
pub(crate) use {insert_receipt, move_head};

/// An account's chain head as known to the transaction that holds its lock: a group of
/// `chain_writer`, which read it when it took the lock. Appends in that group take their place
/// from it instead of asking the database (one round trip less each), and move it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownHead {
    pub user: UserId,
    pub seq: u64,
    pub hash: String,
}

tokio::task_local! {
    /// Set by `chain_writer` around each write of a group: the head of the chain whose lock the
    /// group holds, as that group's writes so far have left it.
    pub(crate) static LOCKED_HEAD: Arc<Mutex<Option<KnownHead>>>;
}

/// The next place in `user`'s chain, from the head the running group holds (if it holds
/// `user`'s), moved on to `receipt` there.
fn from_locked_head(user: &UserId, make: impl FnOnce(u64, &str) -> Receipt) -> Option<Receipt> {
    let locked = LOCKED_HEAD.try_with(Arc::clone).ok()?;
    let mut locked = locked.lock().unwrap_or_else(|p| p.into_inner());
    let head = locked.as_mut().filter(|h| h.user == *user)?;
    let receipt = make(head.seq + 1, &head.hash);
    (head.seq, head.hash) = (receipt.seq, receipt.hash.clone());
    Some(receipt)
}

/// Takes the next place in `user`'s chain for a receipt of `kind` and makes it; the caller writes
/// it ([`insert_receipt!`], [`move_head!`]) in the same transaction.
///
/// The chain of an account that existed before receipts opens with a `chain.opened` receipt
/// listing the passkeys it already has, with their public keys: the server's word, but without it
/// no later approval by those passkeys could be checked against a key in the chain.
pub(crate) async fn next(
    conn: &mut sqlx::AnyConnection,
    user: &UserId,
    at: Millis,
    kind: &str,
    content: Value,
    evidence: Option<Value>,
) -> StoreResult<Receipt> {
    let make =
        |seq, prev: &str| Receipt::new(user.as_str(), seq, prev, at, kind, content.clone(), evidence.clone());
    if let Some(receipt) = from_locked_head(user, make) {
        return Ok(receipt);
    }
    let (mut seq, mut prev) = advance(conn, user).await?;
    if seq == 1 && kind != ACCOUNT_CREATED {
        let passkeys = passkeys_before(conn, user, &content).await?;
        let opened =
            Receipt::new(user.as_str(), 1, GENESIS, at, CHAIN_OPENED, json!({ "passkeys": passkeys }), None);
        // Once per account, so in statements of its own; the head moves on with the next receipt.
        insert(conn, &opened).await?;
        (seq, _) = advance(conn, user).await?;
        prev = opened.hash;
    }
    Ok(Receipt::new(user.as_str(), seq, &prev, at, kind, content, evidence))
}

/// Binds `receipt`'s row, in the order of [`insert_receipt!`]'s columns: after the audit row's
/// ten values there ($11–$18), alone in [`insert`] ($1–$8).
pub(crate) fn bind(statement: Statement, receipt: &Receipt) -> Statement {
    statement
        .bind(receipt.account.clone())
        .bind(receipt.seq as i64)
        .bind(receipt.time)
        .bind(receipt.kind.clone())
        .bind(receipt.prev.clone())
        .bind(receipt.hash.clone())
        .bind(canonical(&receipt.content))
        .bind(receipt.evidence.as_ref().map(canonical))
}

/// Moves `user`'s chain head on by one (creating it at 1): the new seq, and the hash of the
/// receipt before it (the genesis value for the first).
pub(crate) async fn advance(conn: &mut sqlx::AnyConnection, user: &UserId) -> StoreResult<(u64, String)> {
    let head = sqlx::query(
        "INSERT INTO chain_heads (user_id, seq, head) VALUES ($1, 1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET seq = chain_heads.seq + 1 RETURNING seq, head",
    )
    .bind(user.as_str())
    .bind(GENESIS)
    .fetch_one(&mut *conn)
    .await?;
    let seq: i64 = head.try_get("seq")?;
    let seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("chain head at seq {seq}")))?;
    Ok((seq, head.try_get("head")?))
}

/// The account's passkeys as `chain.opened` lists them: all it has, but the one whose
/// registration `content` records (it gets its own receipt next).
async fn passkeys_before(
    conn: &mut sqlx::AnyConnection,
    user: &UserId,
    content: &Value,
) -> StoreResult<Vec<Value>> {
    let rows = sqlx::query(
        "SELECT credential_id, name, passkey FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let registering = content.get("credentialId").and_then(Value::as_str);
    let mut listed = Vec::new();
    for row in &rows {
        let credential_id: String = row.try_get("credential_id")?;
        if Some(credential_id.as_str()) == registering {
            continue;
        }
        let passkey: Passkey = serde_json::from_str(&row.try_get::<String, _>("passkey")?)
            .map_err(|e| StoreError::Corrupt(format!("passkey record: {e}")))?;
        let name: String = row.try_get("name")?;
        let key = cose_key(passkey.get_public_key()).map(|k| URL_SAFE_NO_PAD.encode(k));
        listed.push(json!({ "credentialId": credential_id, "name": name, "publicKey": key }));
    }
    Ok(listed)
}

/// A public key as COSE (RFC 9053) encodes it, as an authenticator's attestation carries it.
fn cose_key(key: &COSEKey) -> Option<Vec<u8>> {
    use ciborium::Value as Cbor;
    let int = |i: i64| Cbor::Integer(i.into());
    let alg = int(key.type_ as i64);
    let entries = match &key.key {
        COSEKeyType::EC_EC2(k) => vec![
            (int(1), int(2)),
            (int(3), alg),
            (int(-1), int(k.curve.clone() as i64)),
            (int(-2), Cbor::Bytes(k.x.clone())),
            (int(-3), Cbor::Bytes(k.y.clone())),
        ],
        COSEKeyType::EC_OKP(k) => vec![
            (int(1), int(1)),
            (int(3), alg),
            (int(-1), int(k.curve.clone() as i64)),
            (int(-2), Cbor::Bytes(k.x.clone())),
        ],
        COSEKeyType::RSA(k) => {
            vec![
                (int(1), int(3)),
                (int(3), alg),
                (int(-1), Cbor::Bytes(k.n.clone())),
                (int(-2), Cbor::Bytes(k.e.to_vec())),
            ]
        }
    };
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(&Cbor::Map(entries), &mut bytes).ok()?;
    Some(bytes)
}

/// Writes `receipt` alone (the head is moved by the next receipt's write).
async fn insert(conn: &mut sqlx::AnyConnection, receipt: &Receipt) -> StoreResult<()> {
    let statement = sqlx::query(
        "INSERT INTO receipts (user_id, seq, at, kind, prev, hash, content, evidence) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    );
    bind(statement, receipt).execute(&mut *conn).await?;
    Ok(())
}

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<Receipt> {
    let json = |text: &str| {
        serde_json::from_str::<Value>(text).map_err(|e| StoreError::Corrupt(format!("a receipt's JSON: {e}")))
    };
    let seq: i64 = row.try_get("seq")?;
    let evidence: Option<String> = row.try_get("evidence")?;
    Ok(Receipt {
        account: row.try_get("user_id")?,
        seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("a receipt at seq {seq}")))?,
        prev: row.try_get("prev")?,
        time: row.try_get("at")?,
        kind: row.try_get("kind")?,
        content: json(&row.try_get::<String, _>("content")?)?,
        evidence: evidence.as_deref().map(json).transpose()?,
        hash: row.try_get("hash")?,
    })
}

impl Db {
    /// Up to `limit` of `user`'s receipts after seq `after`, oldest first.
    pub async fn receipts(&self, user: &UserId, after: u64, limit: u32) -> StoreResult<Vec<Receipt>> {
        let rows = sqlx::query(
            "SELECT user_id, seq, at, kind, prev, hash, content, evidence FROM receipts \
             WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(user.as_str())
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// `user`'s last receipt's seq and hash, if any.
    pub async fn chain_head(&self, user: &UserId) -> StoreResult<Option<(u64, String)>> {
        let row = sqlx::query("SELECT seq, head FROM chain_heads WHERE user_id = $1")
            .bind(user.as_str())
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let seq: i64 = row.try_get("seq")?;
        let seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("chain head at seq {seq}")))?;
        Ok(Some((seq, row.try_get("head")?)))
    }
}
