//! Review R's R10 (`docs/src/security.md`; finding 2 of the "push & text" slice): a push endpoint
//! belongs to the account that registered it first and never moves to another.

use crate::harness::push::{base64_url, subscription};
use crate::harness::{TestApp, on_both_databases};
use serde_json::json;

on_both_databases!(a_push_endpoint_never_moves_to_another_account);

async fn owners_of(app: &TestApp, endpoint: &str) -> Vec<(String, String)> {
    sqlx::query_as::<_, (String, String)>(
        "SELECT user_id, p256dh FROM push_subscriptions WHERE endpoint = $1 ORDER BY id",
    )
    .bind(endpoint)
    .fetch_all(app.state.db.pool())
    .await
    .expect("query")
}

/// R2: re-subscribing someone else's endpoint is refused (409) and changes nothing; the owner
/// re-subscribing renews the keys of the same subscription; two accounts racing for one new
/// endpoint: exactly one gets it.
async fn a_push_endpoint_never_moves_to_another_account(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let eve = app.person("eve@example.com").await;
    let endpoint = "https://fcm.googleapis.com/fcm/send/ada-phone";
    let first = app.post("/api/v1/push/subscribe", &ada.auth(), subscription(endpoint, 1)).await.expect(201);

    let taken = app.post("/api/v1/push/subscribe", &eve.auth(), subscription(endpoint, 2)).await;
    let taken = taken.expect_error(409, "push_endpoint_taken");
    assert!(taken.body["error"]["message"].as_str().is_some_and(|m| m.contains("another account")));
    let ada_key = base64_url(&[vec![4u8], vec![1; 64]].concat());
    assert_eq!(owners_of(&app, endpoint).await, vec![(ada.user_id.clone(), ada_key)], "nothing moved");
    let gone = app.post("/api/v1/push/unsubscribe", &eve.auth(), json!({ "endpoint": endpoint })).await;
    gone.expect_error(404, "not_found");

    // The owner's browser renewing its keys keeps the one subscription.
    let again = app.post("/api/v1/push/subscribe", &ada.auth(), subscription(endpoint, 3)).await.expect(201);
    assert_eq!(again.body["id"], first.body["id"], "the same subscription, renewed");
    let renewed = base64_url(&[vec![4u8], vec![3; 64]].concat());
    assert_eq!(owners_of(&app, endpoint).await, vec![(ada.user_id.clone(), renewed)]);

    // Both at once for a fresh endpoint: one statement decides, so one wins and one is told.
    let fresh = "https://fcm.googleapis.com/fcm/send/contested";
    let (ada_auth, eve_auth) = (ada.auth(), eve.auth());
    let (a, e) = tokio::join!(
        app.post("/api/v1/push/subscribe", &ada_auth, subscription(fresh, 4)),
        app.post("/api/v1/push/subscribe", &eve_auth, subscription(fresh, 5)),
    );
    let mut statuses = [a.status.as_u16(), e.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{} / {}", a.text, e.text);
    let owners = owners_of(&app, fresh).await;
    let winner = if a.status.as_u16() == 201 { &ada.user_id } else { &eve.user_id };
    assert_eq!(owners.len(), 1);
    assert_eq!(&owners[0].0, winner);
}
