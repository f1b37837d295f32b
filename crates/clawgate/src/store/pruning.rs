//! Pruning the gate's receipts past their retention without breaking a chain
//! (`clawgate_proto::evidence::pruned`): in one transaction per account, the receipts pruned lose
//! their content and evidence (never their hash), and a `receipts.pruned` receipt listing them is
//! appended, with a checkpoint the server signed of the head just before it.

use super::audit::{self, AuditEvent, ReceiptBody};
use super::{Db, StoreError, StoreResult, receipts};
use crate::clock::Millis;
use crate::domain::ids::UserId;
use clawgate_proto::evidence::pruned::{self, PRUNABLE, Pruning, RECEIPTS_PRUNED};
use clawgate_proto::evidence::receipt::Receipt;
use serde_json::json;
use sqlx::Row;

/// Signs a checkpoint of a chain at `(seq, head)`: the compact JWT.
pub type SignCheckpoint = Box<dyn FnOnce(u64, &str) -> anyhow::Result<String> + Send>;

/// The receipts a pruning may empty: the gate's, made before `$2`, not emptied yet.
macro_rules! prunable {
    () => {
        "user_id = $1 AND kind IN ('gate.allowed', 'gate.denied') AND content <> 'null' AND at < $2"
    };
}

impl Db {
    /// Accounts (at most `limit`) with gate receipts made before `before` still to prune.
    pub async fn accounts_to_prune(&self, before: Millis, limit: i64) -> StoreResult<Vec<UserId>> {
        debug_assert_eq!(PRUNABLE, ["gate.allowed", "gate.denied"]);
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT user_id FROM receipts WHERE kind IN ('gate.allowed', 'gate.denied') \
             AND content <> 'null' AND at < $1 LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(UserId::from_trusted).collect())
    }

    /// Empties up to `batch` of `user`'s gate receipts made before `before`, oldest first, and
    /// appends the `receipts.pruned` receipt that lists them (at `now`, with the checkpoint
    /// `sign` makes of the head before it), with its audit row. How many it emptied.
    pub async fn prune_receipts(
        &self,
        user: &UserId,
        before: Millis,
        batch: i64,
        now: Millis,
        sign: SignCheckpoint,
    ) -> StoreResult<u64> {
        let owner = user;
        let user = user.clone();
        // On PostgreSQL the chain's head is locked before this runs, as before every append: of
        // two instances pruning at once, the second then finds nothing left. (SQLite has one
        // writer.)
        self.write_in_chain(
            owner,
            Box::new(move |conn| {
                Box::pin(async move {
                    let rows = sqlx::query(concat!(
                        "SELECT seq, kind, hash FROM receipts WHERE ",
                        prunable!(),
                        " ORDER BY seq LIMIT $3"
                    ))
                    .bind(user.as_str())
                    .bind(before)
                    .bind(batch)
                    .fetch_all(&mut *conn)
                    .await?;
                    let mut listed = Vec::with_capacity(rows.len());
                    for row in &rows {
                        let seq: i64 = row.try_get("seq")?;
                        let seq = u64::try_from(seq)
                            .map_err(|_| StoreError::Corrupt(format!("a receipt at seq {seq}")))?;
                        listed.push((
                            seq,
                            row.try_get::<String, _>("kind")?,
                            row.try_get::<String, _>("hash")?,
                        ));
                    }
                    let Some(&(last, _, _)) = listed.last() else { return Ok(0) };
                    // Receipts appended since come after the head, never at or below `last`.
                    let (seq, prev) = receipts::advance(conn, &user).await?;
                    let emptied = sqlx::query(concat!(
                        "UPDATE receipts SET content = 'null', evidence = NULL WHERE ",
                        prunable!(),
                        " AND seq <= $3"
                    ))
                    .bind(user.as_str())
                    .bind(before)
                    .bind(i64::try_from(last).unwrap_or(i64::MAX))
                    .execute(&mut *conn)
                    .await?;
                    let count = listed.len() as u64;
                    if emptied.rows_affected() != count {
                        return Err(StoreError::Corrupt(
                            "the receipts to prune changed while pruning them".into(),
                        ));
                    }
                    let seqs: Vec<u64> = listed.iter().map(|(seq, _, _)| *seq).collect();
                    let pruning = Pruning {
                        before,
                        count,
                        seqs: pruned::runs(&seqs),
                        digest: pruned::digest(listed.iter().map(|(s, k, h)| (*s, k.as_str(), h.as_str()))),
                    };
                    let content =
                        serde_json::to_value(&pruning).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let checkpoint =
                        sign(seq - 1, &prev).map_err(|e| StoreError::Aborted(format!("{e:#}")))?;
                    let evidence = json!({ "checkpoint": checkpoint });
                    let receipt = Receipt::new(
                        user.as_str(),
                        seq,
                        &prev,
                        now,
                        RECEIPTS_PRUNED,
                        content,
                        Some(evidence),
                    );
                    let event = AuditEvent {
                        detail: Some(format!(
                            "{count} gate receipts made before {before} ms emptied, through seq {last}"
                        )),
                        receipt: Some(ReceiptBody {
                            content: receipt.content.clone(),
                            evidence: receipt.evidence.clone(),
                        }),
                        ..AuditEvent::new(RECEIPTS_PRUNED, now, &user)
                    };
                    audit::write(conn, &event, Some(&receipt), None).await?;
                    Ok(count)
                })
            }),
        )
        .await
    }
}
