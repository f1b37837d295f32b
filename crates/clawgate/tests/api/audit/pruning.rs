//! Retention without a broken chain: past DECISION_RETENTION_DAYS, upkeep empties the gate's own
//! receipts (their hash stays) and appends a `receipts.pruned` receipt listing them, with a
//! checkpoint the server signed; the chain, and a checkpoint kept from before, still verify. A
//! receipt emptied any other way is caught.

use super::receipts::{CHECKPOINT, chain_of};
use super::verify::{assert_fails, verified};
use crate::harness::grants::{bash, gate};
use crate::harness::{Person, TestApp, on_both_databases};
use clawgate_agent::audit::Category;
use serde_json::{Value, json};

on_both_databases!(
    gate_receipts_past_retention_are_emptied_and_the_chain_still_holds,
    two_instances_pruning_at_once_prune_once,
    gate_calls_during_a_pruning_on_another_instance_keep_one_chain,
);

const DAY_MS: i64 = 24 * 3600 * 1000;

fn kinds(receipts: &[Value]) -> Vec<&str> {
    receipts.iter().map(|r| r["kind"].as_str().expect("kind")).collect()
}

/// Runs `sql` on the receipt of `who` at `seq`, as someone with write access to the database.
async fn on_receipt(app: &TestApp, who: &Person, sql: &'static str, seq: u64) {
    let done = sqlx::query(sql)
        .bind(&who.user_id)
        .bind(seq as i64)
        .execute(app.state.db.pool())
        .await
        .expect("tampered");
    assert_eq!(done.rows_affected(), 1, "{sql}");
}

async fn gate_receipts_past_retention_are_emptied_and_the_chain_still_holds(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    app.save_rules(
        &ada,
        json!({ "default": "ask", "rules": [{ "outcome": "allow", "tool": "Bash", "command": "ls*" }] }),
    )
    .await;
    // Day 0: three allows by the rules and an approval by the passkey; a checkpoint kept.
    for _ in 0..3 {
        assert_eq!(gate(&app, &key, bash("ls -la")).await.body["decision"], "allow");
    }
    app.approved(&mut ada, &key, "rm -rf ./old-data").await;
    let kept = app.get(CHECKPOINT, &ada.auth()).await.expect(200).body["checkpoint"].clone();
    let kept = kept.as_str().expect("checkpoint").to_owned();
    // Day 60: one more allow, within the retention at the end; day 91: upkeep.
    app.clock.advance_ms(60 * DAY_MS);
    assert_eq!(gate(&app, &key, bash("ls")).await.body["decision"], "allow");
    app.clock.advance_ms(31 * DAY_MS);
    clawgate::app::upkeep(&app.state).await.expect("upkeep");
    // The day-0 session has long expired.
    let fresh = app.login(Some("ada@example.com"), &mut ada.key).await.expect(200);
    ada.session = fresh.body["token"].as_str().expect("token").to_owned();

    let chain = chain_of(&app, &ada, 100).await;
    let gates: Vec<&Value> = chain.iter().filter(|r| r["kind"] == "gate.allowed").collect();
    assert_eq!(gates.len(), 4, "emptied, never deleted: {:?}", kinds(&chain));
    assert!(gates[..3].iter().all(|r| r["content"].is_null() && r["evidence"].is_null()), "{gates:?}");
    assert!(gates[3]["content"].is_object(), "the day-60 allow is kept whole");
    let pruning = chain.last().expect("a receipt");
    assert_eq!(pruning["kind"], "receipts.pruned");
    assert_eq!(pruning["content"]["count"], 3);
    let seqs: Vec<u64> = gates[..3].iter().map(|r| r["seq"].as_u64().expect("seq")).collect();
    assert_eq!(pruning["content"]["seqs"], json!([[seqs[0], seqs[2]]]), "one run: {seqs:?}");
    assert!(pruning["evidence"]["checkpoint"].is_string(), "{pruning}");
    let approval = chain.iter().find(|r| r["kind"] == "request.approved").expect("approval");
    assert!(approval["evidence"]["signature"].is_string(), "the person's decision is kept whole");

    // The chain, and the checkpoint kept from before, still verify; the pruning's checkpoint too.
    let summary = verified(&app, &ada, vec![kept.clone()]).await.expect("the chain holds");
    assert_eq!(summary.pruned, 3, "{summary:?}");
    assert_eq!(summary.passkey_checked.get("request.approved"), Some(&1), "{summary:?}");
    // Another pass has nothing left to prune, and appends nothing.
    clawgate::app::upkeep(&app.state).await.expect("upkeep");
    assert_eq!(chain_of(&app, &ada, 100).await.len(), chain.len());

    // The day-60 allow emptied behind the person's back: no pruning lists it.
    let recent = gates[3]["seq"].as_u64().expect("seq");
    let content = gates[3]["content"].to_string();
    on_receipt(&app, &ada, "UPDATE receipts SET content = 'null' WHERE user_id = $1 AND seq = $2", recent)
        .await;
    assert_fails(verified(&app, &ada, vec![]).await, Category::Altered, recent, "no receipts.pruned receipt");
    sqlx::query("UPDATE receipts SET content = $1 WHERE user_id = $2 AND seq = $3")
        .bind(content)
        .bind(&ada.user_id)
        .bind(recent as i64)
        .execute(app.state.db.pool())
        .await
        .expect("restored");
    verified(&app, &ada, vec![]).await.expect("restored, the chain holds again");
    // The person's approval emptied: only the gate's receipts are ever pruned.
    let approved = approval["seq"].as_u64().expect("seq");
    let sql = "UPDATE receipts SET content = 'null', evidence = NULL WHERE user_id = $1 AND seq = $2";
    on_receipt(&app, &ada, sql, approved).await;
    assert_fails(
        verified(&app, &ada, vec![]).await,
        Category::Altered,
        approved,
        "only the gate's own receipts",
    );
}

/// Ada, whose rules allow everything, with 20 of the gate's allows made on `a`; a second instance
/// on the same database; both clocks then 91 days on, past the retention.
async fn twenty_allows_91_days_ago(a: &TestApp) -> (Person, String, TestApp) {
    let ada = a.person("ada@example.com").await;
    let key = a.api_key(&ada).await;
    a.save_rules(&ada, json!({ "default": "allow" })).await;
    for i in 0..20 {
        assert_eq!(gate(a, &key, bash(&format!("echo {i}"))).await.body["decision"], "allow");
    }
    let b = a.second_instance().await;
    a.clock.advance_ms(91 * DAY_MS);
    b.clock.advance_ms(91 * DAY_MS);
    (ada, key, b)
}

/// Ada's chain after upkeep, which must hold one pruning of the 20 old allows, and hold.
/// (Ada signs in again first: the day-0 session has expired.)
async fn pruned_once(a: &TestApp, ada: &mut Person) -> Vec<Value> {
    let fresh = a.login(Some("ada@example.com"), &mut ada.key).await.expect(200);
    ada.session = fresh.body["token"].as_str().expect("token").to_owned();
    let chain = chain_of(a, ada, 100).await;
    let prunings: Vec<&Value> = chain.iter().filter(|r| r["kind"] == "receipts.pruned").collect();
    assert_eq!(prunings.len(), 1, "{:?}", kinds(&chain));
    assert_eq!(prunings[0]["content"]["count"], 20, "the old receipts, none of the new");
    let summary = verified(a, ada, vec![]).await.expect("the chain holds");
    assert_eq!(summary.pruned, 20);
    chain
}

/// Upkeep runs on every instance: two pruning one chain at once leave one pruning, and a chain
/// that holds.
async fn two_instances_pruning_at_once_prune_once(a: TestApp) {
    let (mut ada, _, b) = twenty_allows_91_days_ago(&a).await;
    let (one, two) = tokio::join!(clawgate::app::upkeep(&a.state), clawgate::app::upkeep(&b.state));
    one.expect("upkeep on one");
    two.expect("upkeep on the other");
    pruned_once(&a, &mut ada).await;
}

/// One instance prunes an account's chain while the other appends the gate's decisions to it:
/// every call is answered, the pruning lists exactly the old receipts, and the chain holds.
async fn gate_calls_during_a_pruning_on_another_instance_keep_one_chain(a: TestApp) {
    let (mut ada, key, b) = twenty_allows_91_days_ago(&a).await;
    let calls = (0..20).map(|i| {
        let (a, key) = (&a, key.clone());
        async move { gate(a, &key, bash(&format!("echo later {i}"))).await.body }
    });
    let (answers, pruned) = tokio::join!(futures::future::join_all(calls), clawgate::app::upkeep(&b.state));
    pruned.expect("upkeep");
    assert!(answers.iter().all(|a| a["decision"] == "allow"), "{answers:?}");
    let chain = pruned_once(&a, &mut ada).await;
    let kept = chain.iter().filter(|r| r["kind"] == "gate.allowed" && r["content"].is_object()).count();
    assert_eq!(kept, 20, "{:?}", kinds(&chain));
}
