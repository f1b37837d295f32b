//! Each account's chain of receipts (`clawgate_proto::evidence::receipt`). A receipt is appended
//! by [`audit::append`](super::audit::append), inside the transaction of the change it records,
//! so a decision and its receipt commit together or not at all.
//!
//! Appends to one account's chain are serialised: the first statement moves the account's head
//! on (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), which on PostgreSQL holds that row's lock
//! until the transaction ends (other instances' appends wait for it), and on SQLite runs on the
//! one writer. The receipts' primary key `(user_id, seq)` refuses a second receipt at a seq even
//! if that were ever not so.

use super::{Db, StoreError, StoreResult};
use crate::clock::Millis;
use crate::domain::ids::UserId;
use clawgate_proto::evidence::canonical;
use clawgate_proto::evidence::receipt::{GENESIS, Receipt};
use serde_json::Value;
use sqlx::Row;

/// Appends a receipt of `kind` to `user`'s chain on `conn`; the receipt written.
pub(crate) async fn append(
    conn: &mut sqlx::AnyConnection,
    user: &UserId,
    at: Millis,
    kind: &str,
    content: Value,
    evidence: Option<Value>,
) -> StoreResult<Receipt> {
    let head = sqlx::query(
        "INSERT INTO chain_heads (user_id, seq, head) VALUES ($1, 1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET seq = chain_heads.seq + 1 RETURNING seq, head",
    )
    .bind(user.as_str())
    .bind(GENESIS)
    .fetch_one(&mut *conn)
    .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev: String = head.try_get("head")?;
    let seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("chain head at seq {seq}")))?;
    let receipt = Receipt::new(user.as_str(), seq, &prev, at, kind, content, evidence);
    sqlx::query(
        "INSERT INTO receipts (user_id, seq, at, kind, prev, hash, content, evidence) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(user.as_str())
    .bind(seq as i64)
    .bind(at)
    .bind(kind)
    .bind(&receipt.prev)
    .bind(&receipt.hash)
    .bind(canonical(&receipt.content))
    .bind(receipt.evidence.as_ref().map(canonical))
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE chain_heads SET head = $1 WHERE user_id = $2")
        .bind(&receipt.hash)
        .bind(user.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(receipt)
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
