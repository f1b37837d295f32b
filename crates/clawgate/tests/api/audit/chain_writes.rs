//! Writes that append to one account's chain, committed together (`store::chain_writer` on
//! PostgreSQL, the one writer on SQLite): one busy account's writes share commits, one that fails
//! is undone alone, and groups on two instances never wait for each other crosswise.

use super::receipts::{assert_linked, chain_of};
use crate::harness::grants::{asking_person, bash, gate, granted};
use crate::harness::{TestApp, on_both_databases};
use clawgate::domain::ids::UserId;
use clawgate::store::StoreError;
use clawgate::store::writer::Work;
use serde_json::json;

on_both_databases!(
    rules_and_a_grant_on_two_instances_at_once_answer_every_call,
    a_failed_write_of_one_account_is_undone_alone,
    a_write_that_panics_does_not_stop_its_account,
);

/// Two instances take one account's gate calls at once, some allowed by a rule and some by a
/// standing grant. On PostgreSQL each instance commits that account's calls in groups; a group
/// that held the chain's head from its first call while a later one waited for the grant, which
/// the other instance's group held on its way to the head, would deadlock (and one call would
/// fail). Every call is answered, every use counted, and the chain is one.
async fn rules_and_a_grant_on_two_instances_at_once_answer_every_call(a: TestApp) {
    let b = a.second_instance().await;
    let (mut ada, key) = asking_person(&a, "ada@example.com").await;
    let grant = granted(
        &a,
        &mut ada,
        &key,
        "cargo test --release",
        json!({"width": {"argvPrefix": 2}, "ttlSeconds": 900}),
    )
    .await;
    a.save_rules(
        &ada,
        json!({"default": "ask", "rules": [{"outcome": "allow", "tool": "Bash", "command": "echo *"}]}),
    )
    .await;
    let calls = (0..60).map(|i| {
        let (app, key) = (if i % 2 == 0 { &a } else { &b }, key.clone());
        let command = if i % 3 == 0 { format!("echo {i}") } else { format!("cargo test --lib t{i}") };
        async move { gate(app, &key, bash(&command)).await.body }
    });
    let answers = futures::future::join_all(calls).await;
    for answer in &answers {
        assert_eq!(answer["decision"], "allow", "{answer}");
    }
    let by_grant =
        answers.iter().filter(|a| a["decidedBy"] == "grant" && a["grantId"] == grant.as_str()).count();
    assert_eq!(by_grant, 40, "{answers:?}");
    let receipts = chain_of(&a, &ada, 500).await;
    assert_linked(&ada.user_id, &receipts);
    assert_eq!(receipts.iter().filter(|r| r["kind"] == "gate.allowed").count(), 60);
}

/// Inserts `n` into a table of the test's own, as a write of `user`'s chain.
fn insert(n: i64) -> Work<()> {
    Box::new(move |conn| {
        Box::pin(async move {
            sqlx::query("INSERT INTO chain_write_test (n) VALUES ($1)").bind(n).execute(conn).await?;
            Ok(())
        })
    })
}

async fn rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM chain_write_test")
        .fetch_one(app.state.db.pool())
        .await
        .expect("count")
}

async fn with_test_table(app: &TestApp) -> UserId {
    sqlx::query("CREATE TABLE chain_write_test (n BIGINT PRIMARY KEY)")
        .execute(app.state.db.pool())
        .await
        .expect("table");
    UserId::from_trusted(app.person("ada@example.com").await.user_id)
}

async fn a_failed_write_of_one_account_is_undone_alone(app: TestApp) {
    let (db, ada) = (&app.state.db, with_test_table(&app).await);
    // Sent together (usually one transaction, a savepoint each): the duplicate fails alone.
    let (one, again, two) = tokio::join!(
        db.write_in_chain(&ada, insert(1)),
        db.write_in_chain(&ada, insert(1)),
        db.write_in_chain(&ada, insert(2)),
    );
    let failed: Vec<_> = [one, again, two].into_iter().filter_map(Result::err).collect();
    assert!(matches!(failed.as_slice(), [StoreError::Conflict]), "exactly the duplicate fails: {failed:?}");
    assert_eq!(rows(&app).await, 2);
}

async fn a_write_that_panics_does_not_stop_its_account(app: TestApp) {
    let (db, ada) = (&app.state.db, with_test_table(&app).await);
    let panics: Work<()> = Box::new(|_conn| Box::pin(async { panic!("a bug in a write") }));
    let (panicked, beside) =
        tokio::join!(db.write_in_chain(&ada, panics), db.write_in_chain(&ada, insert(3)));
    assert!(panicked.is_err(), "its caller is answered with an error");
    // The write beside it may have shared its transaction (then undone with it) or not.
    let committed = i64::from(beside.is_ok());
    db.write_in_chain(&ada, insert(4)).await.expect("later writes of the account still work");
    assert_eq!(rows(&app).await, committed + 1);
}
