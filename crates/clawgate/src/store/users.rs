use super::audit::{self, AuditEvent, ReceiptBody};
use super::{Db, StoreResult};
use crate::clock::Millis;
use crate::config::Backend;
use crate::domain::ids::UserId;
use serde_json::json;
use sqlx::Row;

/// The PostgreSQL advisory lock first-user sign-ups take, one at a time (the ASCII of "clawgat", 1:
/// so it is unlikely to collide with another application's lock on the same database).
const FIRST_USER_LOCK: i64 = 0x636c_6177_6761_7401;

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub email: String,
    /// The opaque user handle passkeys carry (a UUID, never the email).
    pub webauthn_handle: String,
    pub created_at: Millis,
}

pub(super) fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<User> {
    Ok(User {
        id: UserId::from_trusted(row.try_get("id")?),
        email: row.try_get("email")?,
        webauthn_handle: row.try_get("webauthn_handle")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Runs `sql`, an insert of `user` ($1–$4: id, email, handle, creation time); if it inserted,
/// appends the first receipt of the account's chain. Whether it inserted.
async fn insert_with_receipt(
    conn: &mut sqlx::AnyConnection,
    user: &User,
    sql: &'static str,
) -> StoreResult<bool> {
    let done = sqlx::query(sql)
        .bind(user.id.as_str())
        .bind(&user.email)
        .bind(&user.webauthn_handle)
        .bind(user.created_at)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    let created = AuditEvent {
        receipt: Some(ReceiptBody { content: json!({ "email": user.email }), evidence: None }),
        ..AuditEvent::new("account.created", user.created_at, &user.id)
    };
    audit::append(conn, &created).await?;
    Ok(true)
}

impl Db {
    /// Inserts `user`, and the first receipt of their chain.
    pub async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let user = user.clone();
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                let sql =
                    "INSERT INTO users (id, email, webauthn_handle, created_at) VALUES ($1, $2, $3, $4)";
                insert_with_receipt(conn, &user, sql).await.map(|_| ())
            })
        }))
        .await
    }

    /// Inserts only while the table is empty (REGISTRATION_MODE=first-user); false if not inserted.
    ///
    /// Exactly one sign-up wins however many race, on one instance or many. A lone
    /// `INSERT … WHERE NOT EXISTS` is not enough on PostgreSQL: under READ COMMITTED two of them
    /// both see an empty table and both insert. So on PostgreSQL every first-user sign-up first
    /// takes one transaction-scoped advisory lock: they run one after another, and the statement
    /// after the lock sees the winner's committed row. The transaction is pinned to READ
    /// COMMITTED (a fresh snapshot per statement, so one taken after the lock), whatever the
    /// database's default isolation is. SQLite needs nothing more: its single writer runs the one
    /// statement, read and insert, with no other write in between.
    pub async fn insert_first_user(&self, user: &User) -> StoreResult<bool> {
        let (user, backend) = (user.clone(), self.backend());
        self.write(Box::new(move |conn| {
            Box::pin(async move {
                if backend == Backend::Postgres {
                    sqlx::query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED").execute(&mut *conn).await?;
                    sqlx::query("SELECT pg_advisory_xact_lock($1)")
                        .bind(FIRST_USER_LOCK)
                        .execute(&mut *conn)
                        .await?;
                }
                let sql = "INSERT INTO users (id, email, webauthn_handle, created_at) \
                           SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM users)";
                insert_with_receipt(conn, &user, sql).await
            })
        }))
        .await
    }

    pub async fn user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT id, email, webauthn_handle, created_at FROM users WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn user_by_handle(&self, handle: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(
            "SELECT id, email, webauthn_handle, created_at FROM users WHERE webauthn_handle = $1",
        )
        .bind(handle)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Accounts registered with this email that have at least one passkey.
    pub async fn users_with_passkeys_by_email(&self, email: &str) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(
            "SELECT id, email, webauthn_handle, created_at FROM users u WHERE email = $1 \
             AND EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = u.id)",
        )
        .bind(email)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }
}
