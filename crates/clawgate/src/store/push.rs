use super::writer::WriteStatement;
use super::{Db, StoreResult};
use crate::clock::Millis;
use crate::domain::ids::{SubscriptionId, UserId};
use sqlx::Row;

#[derive(Debug, Clone)]
pub struct PushSubscription {
    pub id: SubscriptionId,
    pub user_id: UserId,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub created_at: Millis,
}

impl Db {
    /// Saves the subscription for this user, or renews the keys of one they already have for this
    /// endpoint. Returns the stored subscription's id, or `None` when the endpoint is another
    /// account's: an endpoint never moves between accounts (whoever re-presents someone's
    /// endpoint would otherwise silently take over, or cut off, that person's notifications).
    /// One statement, so two accounts racing for one endpoint cannot both win.
    pub async fn upsert_push_subscription(
        &self,
        s: &PushSubscription,
    ) -> StoreResult<Option<SubscriptionId>> {
        let row = sqlx::query(
            "INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (endpoint) DO UPDATE SET p256dh = excluded.p256dh, auth = excluded.auth \
             WHERE push_subscriptions.user_id = excluded.user_id \
             RETURNING id",
        )
        .bind(s.id.as_str())
        .bind(s.user_id.as_str())
        .bind(&s.endpoint)
        .bind(&s.p256dh)
        .bind(&s.auth)
        .bind(s.created_at)
        .written_rows(self)
        .await?;
        row.first().map(|r| Ok(SubscriptionId::from_trusted(r.try_get("id")?))).transpose()
    }

    pub async fn delete_push_subscription(&self, user: &UserId, endpoint: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2")
            .bind(user.as_str())
            .bind(endpoint)
            .written(self)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes a subscription whatever its owner: used when the push service says it is gone.
    pub async fn delete_push_subscription_by_id(&self, id: &SubscriptionId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
            .bind(id.as_str())
            .written(self)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn push_subscriptions_of(&self, user: &UserId) -> StoreResult<Vec<PushSubscription>> {
        let rows = sqlx::query(
            "SELECT id, user_id, endpoint, p256dh, auth, created_at FROM push_subscriptions \
             WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PushSubscription {
                    id: SubscriptionId::from_trusted(row.try_get("id")?),
                    user_id: UserId::from_trusted(row.try_get("user_id")?),
                    endpoint: row.try_get("endpoint")?,
                    p256dh: row.try_get("p256dh")?,
                    auth: row.try_get("auth")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }
}
