//! Each person's rule set: the JSON as they saved it, under a version that a save must name
//! (compare-and-swap), so two editors never overwrite each other unknowingly.

use super::audit::{self, AuditEvent, ReceiptBody};
use super::{Db, StoreResult};
use crate::clock::Millis;
use crate::domain::ids::UserId;
use sqlx::Row;

/// A saved rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRuleSet {
    /// 1 for the first save, one more for each after it.
    pub version: i64,
    /// The JSON text as saved.
    pub rules: String,
    pub updated_at: Millis,
}

/// What became of a save.
#[derive(Debug, Clone, PartialEq)]
pub enum Saved {
    Saved(StoredRuleSet),
    /// The expected version was not the current one (0: none is saved); nothing was written.
    Conflict {
        current: i64,
    },
}

/// A new rule set to save over `expected_version` (0 when none is saved yet).
#[derive(Debug, Clone)]
pub struct NewRuleSet {
    pub user: UserId,
    pub rules: String,
    pub expected_version: i64,
    pub at: Millis,
    /// The client's IP, for the audit row.
    pub ip: Option<String>,
    /// The receipt of a save the person signed with a passkey.
    pub signed: Option<ReceiptBody>,
}

impl Db {
    /// `user`'s saved rule set, or `None` when they have never saved one.
    pub async fn rule_set_of(&self, user: &UserId) -> StoreResult<Option<StoredRuleSet>> {
        let row = sqlx::query("SELECT version, rules, updated_at FROM rule_sets WHERE user_id = $1")
            .bind(user.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            Ok(StoredRuleSet {
                version: row.try_get("version")?,
                rules: row.try_get("rules")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    /// The version of `user`'s saved rule set, or `None` when they have never saved one: what a
    /// cache of parsed sets is checked against.
    pub async fn rule_set_version(&self, user: &UserId) -> StoreResult<Option<i64>> {
        let version = sqlx::query_scalar("SELECT version FROM rule_sets WHERE user_id = $1")
            .bind(user.as_str())
            .fetch_optional(self.pool())
            .await?;
        Ok(version)
    }

    /// Saves `new` if the current version is `new.expected_version`, with its `rules.changed`
    /// audit row, in one transaction. One conditional statement decides: of two saves over the
    /// same version exactly one writes, on either database.
    pub async fn save_rule_set(&self, new: NewRuleSet) -> StoreResult<Saved> {
        self.write_in_chain(
            &new.user.clone(),
            Box::new(move |conn| {
                Box::pin(async move {
                    let version = new.expected_version.saturating_add(1);
                    let written = if new.expected_version == 0 {
                        sqlx::query(
                        "INSERT INTO rule_sets (user_id, version, rules, updated_at) VALUES ($1, 1, $2, $3) \
                         ON CONFLICT (user_id) DO NOTHING",
                    )
                    .bind(new.user.as_str())
                    .bind(new.rules.clone())
                    .bind(new.at)
                    .execute(&mut *conn)
                    .await?
                    } else {
                        sqlx::query(
                            "UPDATE rule_sets SET version = $1, rules = $2, updated_at = $3 \
                         WHERE user_id = $4 AND version = $5",
                        )
                        .bind(version)
                        .bind(new.rules.clone())
                        .bind(new.at)
                        .bind(new.user.as_str())
                        .bind(new.expected_version)
                        .execute(&mut *conn)
                        .await?
                    };
                    if written.rows_affected() != 1 {
                        let current: Option<i64> =
                            sqlx::query_scalar("SELECT version FROM rule_sets WHERE user_id = $1")
                                .bind(new.user.as_str())
                                .fetch_optional(&mut *conn)
                                .await?;
                        return Ok(Saved::Conflict { current: current.unwrap_or(0) });
                    }
                    let audit = AuditEvent {
                        ip: new.ip,
                        detail: Some(version.to_string()),
                        receipt: new.signed,
                        ..AuditEvent::new("rules.changed", new.at, &new.user)
                    };
                    audit::append(conn, &audit).await?;
                    Ok(Saved::Saved(StoredRuleSet { version, rules: new.rules, updated_at: new.at }))
                })
            }),
        )
        .await
    }
}
