//! The audit trail: append-only, one row per transition or security event, written in the same
//! transaction as the change it records (so there is never a change without its row, or the
//! reverse).

use super::writer::Statement;
use super::{Db, StoreError, StoreResult, opt_i64, receipts};
use crate::clock::Millis;
use crate::domain::ids::{ApiKeyId, AuditId, RequestId, UserId};
use clawgate_proto::evidence::receipt::Receipt;
use serde_json::{Map, Value};
use sqlx::Row;

/// What happened, to whom, and with what evidence.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// `request.created`, `request.approved`, `request.denied`, `request.expired`,
    /// `api_key.suspended`, `api_key.resumed`, `rules.changed` (detail: the new version),
    /// `agents.stopped` (the kill switch; detail: what it denied, revoked and suspended),
    /// `grant.created` (with the approval that made it; detail: the grant, its scope in words,
    /// duration and uses), `grant.revoked`, `gate.allowed` and `gate.denied` (a decision the
    /// gate made alone; detail: `dec_… by rule v3#2` or `dec_… by grant grt_…`).
    pub event: &'static str,
    pub at: Millis,
    pub user_id: UserId,
    pub request_id: Option<RequestId>,
    pub api_key_id: Option<ApiKeyId>,
    /// The passkey used (base64url credential ID), for approvals.
    pub credential_id: Option<String>,
    pub user_verified: Option<bool>,
    /// The client's IP as the server saw it.
    pub ip: Option<String>,
    pub detail: Option<String>,
    /// What the receipt of this event says, where it is more than the fields above (a passkey
    /// decision's signed content and assertion, a registration's attestation).
    pub receipt: Option<ReceiptBody>,
}

/// A receipt's `content` and `evidence` (`clawgate_proto::evidence::receipt`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptBody {
    pub content: Value,
    pub evidence: Option<Value>,
}

impl AuditEvent {
    /// An event with nothing but its name, time and person; add the rest with `..`.
    pub fn new(event: &'static str, at: Millis, user_id: &UserId) -> Self {
        Self {
            event,
            at,
            user_id: user_id.clone(),
            request_id: None,
            api_key_id: None,
            credential_id: None,
            user_verified: None,
            ip: None,
            detail: None,
            receipt: None,
        }
    }

    /// The receipt's body: the one given, or the event's fields but the client's address
    /// (personal data, and no evidence of anything a verifier can check).
    fn receipt_body(&self) -> ReceiptBody {
        if let Some(body) = &self.receipt {
            return body.clone();
        }
        let mut content = Map::new();
        let mut put = |name: &str, value: Option<Value>| {
            if let Some(value) = value {
                content.insert(name.to_owned(), value);
            }
        };
        put("requestId", self.request_id.as_ref().map(|r| Value::from(r.as_str())));
        put("apiKeyId", self.api_key_id.as_ref().map(|k| Value::from(k.as_str())));
        put("credentialId", self.credential_id.clone().map(Value::from));
        put("userVerified", self.user_verified.map(Value::from));
        put("detail", self.detail.clone().map(Value::from));
        ReceiptBody { content: Value::Object(content), evidence: None }
    }
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub event: String,
    pub at: Millis,
    pub credential_id: Option<String>,
    pub user_verified: Option<bool>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

/// Events with an audit row but no receipt. An agent asking decides nothing: what was asked is
/// in the receipt of its decision (an approval's holds the request as the passkey signed it),
/// and creating a request stays one statement on the fast paths (`store::approvals`).
const NOT_RECEIPTED: &[&str] = &["request.created"];

/// The audit row ($1–$10).
macro_rules! insert_audit {
    () => {
        "INSERT INTO audit_events (id, at, event, user_id, request_id, api_key_id, credential_id, \
         user_verified, ip, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    };
}

/// The audit row, the receipt ($11–$18, see `receipts::bind`) and the chain's head moved to it, in
/// one round trip: statements in a row on SQLite, one statement on PostgreSQL.
macro_rules! with_receipt_sqlite {
    () => {
        concat!(
            $crate::store::audit::insert_audit!(),
            "; ",
            $crate::store::receipts::insert_receipt!(),
            "; ",
            $crate::store::receipts::move_head!()
        )
    };
}
/// The same on PostgreSQL, with `$ctes` (`", name AS (statement)"`, more of the change itself)
/// in the same statement.
macro_rules! with_receipt_postgres {
    ($($ctes:expr)?) => {
        concat!(
            "WITH audited AS (",
            $crate::store::audit::insert_audit!(),
            "), receipted AS (",
            $crate::store::receipts::insert_receipt!(),
            ")",
            $($ctes,)?
            " ",
            $crate::store::receipts::move_head!()
        )
    };
}
pub(crate) use {insert_audit, with_receipt_postgres, with_receipt_sqlite};

/// Statements of the change itself that go in the round trip of its audit row and receipt, after
/// them (values from $19 on): the whole SQL for each backend (`with_receipt_sqlite!()` followed
/// by them; `with_receipt_postgres!(…)` with them as CTEs), and a binding of their values.
pub(crate) struct Along {
    pub sqlite: &'static str,
    pub postgres: &'static str,
    pub bind: Box<dyn FnOnce(Statement) -> Statement + Send>,
}

/// Appends `e` on `conn`, and its receipt to the person's chain: inside the transaction of the
/// change it records. The receipt written, if the event has one.
pub(crate) async fn append(conn: &mut sqlx::AnyConnection, e: &AuditEvent) -> StoreResult<Option<Receipt>> {
    let receipt = take_place(conn, e).await?;
    write(conn, e, receipt.as_ref(), None).await?;
    Ok(receipt)
}

/// Takes the place of `e`'s receipt in its chain and makes the receipt (none for an event without
/// one); [`write`] writes it, with the audit row, in the same transaction.
pub(crate) async fn take_place(
    conn: &mut sqlx::AnyConnection,
    e: &AuditEvent,
) -> StoreResult<Option<Receipt>> {
    if NOT_RECEIPTED.contains(&e.event) {
        return Ok(None);
    }
    let ReceiptBody { content, evidence } = e.receipt_body();
    Ok(Some(receipts::next(conn, &e.user_id, e.at, e.event, content, evidence).await?))
}

/// Writes `e`'s audit row and its `receipt` (from [`take_place`]), and `along` with them.
pub(crate) async fn write(
    conn: &mut sqlx::AnyConnection,
    e: &AuditEvent,
    receipt: Option<&Receipt>,
    along: Option<Along>,
) -> StoreResult<()> {
    let sqlite = conn.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME;
    let sql = match (receipt, &along) {
        (None, None) => insert_audit!(),
        (None, Some(_)) => {
            return Err(StoreError::Corrupt("statements along an audit row without a receipt".into()));
        }
        (Some(_), Some(along)) if sqlite => along.sqlite,
        (Some(_), Some(along)) => along.postgres,
        (Some(_), None) if sqlite => with_receipt_sqlite!(),
        (Some(_), None) => with_receipt_postgres!(),
    };
    let statement = sqlx::query(sql)
        .bind(AuditId::generate().as_str())
        .bind(e.at)
        .bind(e.event)
        .bind(e.user_id.as_str())
        .bind(e.request_id.as_ref().map(|r| r.as_str().to_owned()))
        .bind(e.api_key_id.as_ref().map(|k| k.as_str().to_owned()))
        .bind(e.credential_id.clone())
        .bind(e.user_verified.map(i64::from))
        .bind(e.ip.clone())
        .bind(e.detail.clone());
    let statement = match receipt {
        Some(r) => receipts::bind(statement, r),
        None => statement,
    };
    let statement = match along {
        Some(along) => (along.bind)(statement),
        None => statement,
    };
    statement.execute(&mut *conn).await?;
    Ok(())
}

impl Db {
    /// The trail of one request, oldest first.
    pub async fn audit_of_request(&self, id: &RequestId) -> StoreResult<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT event, at, credential_id, user_verified, ip, detail FROM audit_events \
             WHERE request_id = $1 ORDER BY at, id",
        )
        .bind(id.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRow {
                    event: row.try_get("event")?,
                    at: row.try_get("at")?,
                    credential_id: row.try_get("credential_id")?,
                    user_verified: opt_i64(row, "user_verified")?.map(|v| v != 0),
                    ip: row.try_get("ip")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }
}
