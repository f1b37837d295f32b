//! Every decision visible (issue 17, item 5): `GET /api/v1/decisions` lists, newest first, what
//! decided each call and request of a person's keys — a rule, a grant, the person, Stop all
//! agents, expiry — in words; it filters, pages stably while decisions keep coming, is the
//! person's alone, and the gate's decisions reach the person's event stream as they are made.

use crate::harness::grants::{bash, granted};
use crate::harness::waiting::Events;
use crate::harness::{Auth, Person, Resp, TestApp, on_both_databases};
use clawgate::config::Backend;
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::timeout;

on_both_databases!(
    each_decider_is_listed_with_its_outcome_and_words,
    each_filter_narrows_the_list,
    pages_hold_still_while_new_decisions_arrive,
    one_person_never_sees_anothers_decisions,
    only_a_persons_session_may_list_decisions,
    bad_filters_are_refused_in_words,
    a_gate_decision_reaches_the_persons_event_stream,
);

const LIST: &str = "/api/v1/decisions";
/// Far below any timeout in the server: an event within this came from the decision.
const PROMPT: Duration = Duration::from_secs(15);

/// Rule 1 "tests" allows `cargo test…`, rule 2 denies downloads, the rest asks.
fn rules() -> Value {
    json!({"default": "ask", "rules": [
        {"name": "tests", "outcome": "allow", "tool": "Bash", "command": "cargo test*"},
        {"outcome": "deny", "reason": "downloads are not allowed here", "tool": "Bash", "command": "curl*"}
    ]})
}

async fn gate(app: &TestApp, key: &str, call: Value) -> Resp {
    app.post("/api/v1/gate", &Auth::Bearer(key.to_owned()), call).await.expect(200)
}

async fn list(app: &TestApp, who: &Person, query: &str) -> Resp {
    app.get(&format!("{LIST}{query}"), &who.auth()).await
}

/// The decisions listed for `query`.
async fn decisions(app: &TestApp, who: &Person, query: &str) -> Vec<Value> {
    let r = list(app, who, query).await.expect(200);
    r.body["decisions"].as_array().expect("decisions").clone()
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter().map(|d| d["id"].as_str().expect("id").to_owned()).collect()
}

/// A new API key named `name`: the key and its id.
async fn named_key(app: &TestApp, who: &Person, name: &str) -> (String, String) {
    let r = app.post("/api/v1/auth/api-keys", &who.auth(), json!({ "name": name })).await.expect(201);
    (r.body["key"].as_str().expect("key").to_owned(), r.body["id"].as_str().expect("id").to_owned())
}

/// Every kind of decision about one key of Ada's: the decisions' ids by kind, and the grant id.
struct Afternoon {
    rule_allow: String,
    rule_deny: String,
    grant_use: String,
    grant: String,
    approved: String,
    denied: String,
    expired: String,
    stopped: String,
    key_id: String,
}

async fn afternoon(app: &TestApp, ada: &mut Person) -> Afternoon {
    let (key, key_id) = named_key(app, ada, "laptop").await;
    app.save_rules(ada, rules()).await;
    let tick = || app.clock.advance_ms(1_000);
    let allowed = gate(app, &key, bash("cargo test --workspace")).await;
    assert_eq!(allowed.body["decision"], "allow", "{}", allowed.text);
    tick();
    let denied_by_rule = gate(app, &key, bash("curl https://example.com")).await;
    assert_eq!(denied_by_rule.body["decision"], "deny", "{}", denied_by_rule.text);
    tick();
    // The person approves a push with a grant for it; the next push passes by the grant.
    let grant =
        granted(app, ada, &key, "git push origin main", json!({"width": "exactCommand", "ttlSeconds": 3600}))
            .await;
    let approved = app.get("/api/v1/approval/history?status=APPROVED", &ada.auth()).await.expect(200);
    let approved = approved.body["requests"][0]["requestId"].as_str().expect("approved request").to_owned();
    tick();
    let by_grant = gate(app, &key, bash("git push origin main")).await;
    assert_eq!(by_grant.body["decidedBy"], "grant", "{}", by_grant.text);
    tick();
    let asked = app.ask(&key, "git reset --hard HEAD~3").await;
    app.post(
        &format!("/api/v1/approval/deny/{}", asked.id),
        &ada.auth(),
        json!({"reason": "use git revert instead"}),
    )
    .await
    .expect(200);
    tick();
    let lapsing = app.ask(&key, "rotate the TLS key").await;
    app.clock.advance_ms(400_000);
    app.state.expire_lapsed(None).await.expect("upkeep");
    tick();
    let pending = app.ask(&key, "drop the staging database").await;
    app.post("/api/v1/stop", &ada.auth(), json!({})).await.expect(200);
    Afternoon {
        rule_allow: allowed.body["decisionId"].as_str().expect("decisionId").to_owned(),
        rule_deny: denied_by_rule.body["decisionId"].as_str().expect("decisionId").to_owned(),
        grant_use: by_grant.body["decisionId"].as_str().expect("decisionId").to_owned(),
        grant,
        approved,
        denied: asked.id,
        expired: lapsing.id,
        stopped: pending.id,
        key_id,
    }
}

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter().find(|d| d["id"] == id).unwrap_or_else(|| panic!("{id} listed: {list:?}"))
}

async fn each_decider_is_listed_with_its_outcome_and_words(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let a = afternoon(&app, &mut ada).await;
    let all = decisions(&app, &ada, "").await;
    // Newest first: the stop, the expiry, the denial, the grant's use, the approval, the rule's two.
    assert_eq!(
        ids(&all).iter().collect::<Vec<_>>(),
        vec![&a.stopped, &a.expired, &a.denied, &a.grant_use, &a.approved, &a.rule_deny, &a.rule_allow],
        "{all:?}"
    );
    let expect = |id: &str, outcome: &str, by: &str, summary: &str| {
        let d = find(&all, id);
        assert_eq!((d["outcome"].as_str(), d["decidedBy"].as_str()), (Some(outcome), Some(by)), "{d}");
        assert_eq!(d["summary"], summary, "{d}");
        assert_eq!(d["apiKeyId"], a.key_id.as_str());
        assert_eq!(d["apiKeyName"], "laptop");
        assert!(d["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{d}");
        d.clone()
    };
    let allow = expect(&a.rule_allow, "allow", "rule", "Allowed by rule 1 \"tests\" (version 1)");
    assert_eq!(allow["rule"], json!({"version": 1, "index": 1, "name": "tests", "reference": "v1#1"}));
    assert_eq!(allow["decisionId"], a.rule_allow.as_str());
    assert!(allow.get("requestId").is_none());
    assert_eq!(
        (&allow["tool"], &allow["action"], &allow["cwd"]),
        (&json!("Bash"), &json!("cargo test --workspace"), &json!("/srv/app"))
    );
    assert_eq!(allow["agentId"], "claude");
    let deny = expect(&a.rule_deny, "deny", "rule", "Denied by rule 2 (version 1)");
    assert_eq!(deny["reason"], "downloads are not allowed here");
    let used = expect(
        &a.grant_use,
        "allow",
        "grant",
        "Allowed by your grant: exactly git push origin main, by agent claude, in /srv/app",
    );
    assert_eq!(used["grant"]["id"], a.grant.as_str());
    let approved = expect(
        &a.approved,
        "allow",
        "person",
        "Allowed by you, with a grant: exactly git push origin main, by agent claude, in /srv/app",
    );
    assert_eq!(approved["requestId"], a.approved.as_str());
    assert_eq!(approved["grant"]["id"], a.grant.as_str(), "the grant the approval made: {approved}");
    // A request made through the gate names its tool and directory too.
    assert_eq!((&approved["tool"], &approved["cwd"]), (&json!("Bash"), &json!("/srv/app")));
    let denied = expect(&a.denied, "deny", "person", "Denied by you: use git revert instead");
    assert_eq!(denied["reason"], "use git revert instead");
    assert_eq!(denied["action"], "git reset --hard HEAD~3");
    expect(&a.expired, "expired", "expiry", "Expired: nobody answered");
    expect(&a.stopped, "deny", "stop", "Denied: you stopped all agents");

    // Paged two at a time, across both kinds: the same list, each once.
    let mut paged = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = list(&app, &ada, &query).await.expect(200);
        paged.extend(ids(page.body["decisions"].as_array().expect("decisions")));
        match page.body["next"].as_str() {
            Some(next) => query = format!("?limit=2&before={next}"),
            None => break,
        }
    }
    assert_eq!(paged, ids(&all));
}

async fn each_filter_narrows_the_list(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let a = afternoon(&app, &mut ada).await;
    // A second key, made after the stop (so live), used by another agent.
    let (other, other_id) = named_key(&app, &ada, "ci").await;
    let mut call = bash("cargo test -p core");
    call["agentId"] = json!("ci-runner");
    let ci = gate(&app, &other, call).await.body["decisionId"].as_str().expect("decisionId").to_owned();

    let by_key = |id: &str| format!("?apiKeyId={id}");
    assert_eq!(ids(&decisions(&app, &ada, &by_key(&other_id)).await), vec![ci.clone()]);
    assert_eq!(decisions(&app, &ada, &by_key(&a.key_id)).await.len(), 7);
    assert_eq!(ids(&decisions(&app, &ada, "?agentId=ci-runner").await), vec![ci.clone()]);
    // Requests asked with the plain API carry agent id "bot"; the gate's calls "claude".
    assert_eq!(
        ids(&decisions(&app, &ada, "?agentId=bot").await),
        vec![a.stopped.clone(), a.expired.clone(), a.denied.clone()]
    );
    assert_eq!(
        ids(&decisions(&app, &ada, "?outcome=allow").await),
        vec![ci.clone(), a.grant_use.clone(), a.approved.clone(), a.rule_allow.clone()]
    );
    assert_eq!(
        ids(&decisions(&app, &ada, "?outcome=deny").await),
        vec![a.stopped.clone(), a.denied.clone(), a.rule_deny.clone()]
    );
    assert_eq!(ids(&decisions(&app, &ada, "?outcome=expired").await), vec![a.expired.clone()]);
    assert_eq!(
        ids(&decisions(&app, &ada, "?decider=rule").await),
        vec![ci, a.rule_deny.clone(), a.rule_allow.clone()]
    );
    assert_eq!(ids(&decisions(&app, &ada, "?decider=grant").await), vec![a.grant_use.clone()]);
    assert_eq!(
        ids(&decisions(&app, &ada, "?decider=person").await),
        vec![a.denied.clone(), a.approved.clone()]
    );
    assert_eq!(ids(&decisions(&app, &ada, "?decider=stop").await), vec![a.stopped.clone()]);
    assert_eq!(ids(&decisions(&app, &ada, "?decider=expiry").await), vec![a.expired.clone()]);
    // Filters combine; a combination nothing matches lists nothing.
    assert_eq!(ids(&decisions(&app, &ada, "?decider=rule&outcome=deny").await), vec![a.rule_deny.clone()]);
    assert!(decisions(&app, &ada, "?decider=grant&outcome=deny").await.is_empty());
    assert!(decisions(&app, &ada, "?decider=stop&outcome=expired").await.is_empty());
    // A grant's uses: the calls it allowed (not the approval that made it).
    assert_eq!(
        ids(&decisions(&app, &ada, &format!("?grantId={}", a.grant)).await),
        vec![a.grant_use.clone()]
    );
    assert!(decisions(&app, &ada, &format!("?grantId={}&decider=person", a.grant)).await.is_empty());
}

async fn pages_hold_still_while_new_decisions_arrive(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    // Five decisions in the same millisecond (ties are cut by id) and five after.
    let mut made = Vec::new();
    for i in 0..10 {
        if i >= 5 {
            app.clock.advance_ms(1);
        }
        let r = gate(&app, &key, bash(&format!("ls {i}"))).await;
        made.push(r.body["decisionId"].as_str().expect("decisionId").to_owned());
    }
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &next {
            Some(c) => format!("?limit=3&before={c}"),
            None => "?limit=3".to_owned(),
        };
        let page = list(&app, &ada, &query).await.expect(200);
        let batch = page.body["decisions"].as_array().expect("decisions").clone();
        assert!(batch.len() <= 3, "{}", page.text);
        seen.extend(ids(&batch));
        pages += 1;
        // New decisions between pages: they are newer than every cursor, so no later page moves.
        app.clock.advance_ms(1);
        gate(&app, &key, bash("ls new")).await;
        match page.body["next"].as_str() {
            Some(c) => next = Some(c.to_owned()),
            None => {
                assert_eq!(page.body["next"], Value::Null, "the last page says so");
                break;
            }
        }
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(pages, 4, "ten decisions in pages of three");
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no decision twice: {seen:?}");
    // Newest first: the five made a millisecond apart in reverse order, then the five made in the
    // same millisecond (in the database's order of their ids).
    let (tied, apart) = made.split_at(5);
    let newest: Vec<String> = apart.iter().rev().cloned().collect();
    assert_eq!(seen[..5], newest[..], "{seen:?}");
    let rest: HashSet<_> = seen[5..].iter().collect();
    assert_eq!(rest, tied.iter().collect::<HashSet<_>>(), "every decision once: {seen:?}");
    // The default page is 50 and none is larger than 200.
    for _ in 0..3 {
        gate(&app, &key, bash("ls more")).await;
    }
    assert_eq!(decisions(&app, &ada, "").await.len(), 17);
    assert_eq!(decisions(&app, &ada, "?limit=100000").await.len(), 17);
}

async fn one_person_never_sees_anothers_decisions(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let a = afternoon(&app, &mut ada).await;
    let bob = app.person("bob@example.com").await;
    let bobs = app.api_key(&bob).await;
    let own = gate(&app, &bobs, bash("ls")).await.body["decisionId"].as_str().expect("decisionId").to_owned();
    assert_eq!(ids(&decisions(&app, &bob, "").await), vec![own], "Bob sees his own decision only");
    // Naming Ada's key or grant shows Bob nothing, exactly as an unknown one would.
    for query in [format!("?apiKeyId={}", a.key_id), format!("?grantId={}", a.grant)] {
        let r = list(&app, &bob, &query).await.expect(200);
        assert_eq!(r.body, json!({"decisions": [], "next": null}), "{query}");
    }
    assert_eq!(decisions(&app, &ada, "").await.len(), 7, "and Ada still sees hers");
}

async fn only_a_persons_session_may_list_decisions(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    gate(&app, &key, bash("ls")).await;
    app.get(LIST, &Auth::Bearer(key.clone())).await.expect_error(401, "agent_key_not_allowed");
    app.get(LIST, &Auth::ApiKey(key)).await.expect_error(401, "agent_key_not_allowed");
    app.get(LIST, &Auth::None).await.expect_error(401, "unauthorized");
    assert_eq!(decisions(&app, &ada, "").await.len(), 1);
}

async fn bad_filters_are_refused_in_words(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    for query in [
        "?apiKeyId=nope",
        "?apiKeyId=",
        "?grantId=key_0000000000000000000000",
        "?agentId=",
        "?outcome=ask",
        "?outcome=ALLOW",
        "?decider=passkey",
        "?limit=0",
        "?limit=ten",
        "?limit=-1",
        "?before=not-a-cursor",
        "?before=MTIzOmZvbw",
    ] {
        let r = list(&app, &ada, query).await;
        r.expect_error(400, "invalid_filter");
    }
    let long = "a".repeat(129);
    list(&app, &ada, &format!("?agentId={long}")).await.expect_error(400, "invalid_filter");
    // Well-formed but unknown ids match nothing.
    let r = list(&app, &ada, "?apiKeyId=key_0000000000000000000000").await.expect(200);
    assert_eq!(r.body["decisions"], json!([]));
}

/// The person's event stream (`/api/v1/approval/events`): `(event, data)` pairs. Open once the
/// answer's head is back (the server listens from before it answers).
async fn person_stream(app: &TestApp, who: &Person) -> Events {
    let response = app
        .http
        .get(app.url("/api/v1/approval/events"))
        .bearer_auth(&who.session)
        .send()
        .await
        .expect("stream");
    crate::harness::waiting::sse_events(response)
}

/// The next event on the stream, which must come promptly.
async fn next_event(events: &mut Events) -> (String, Value) {
    timeout(PROMPT, events.next()).await.expect("an event arrives promptly").expect("the stream is open")
}

async fn a_gate_decision_reaches_the_persons_event_stream(app: TestApp) {
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let bob = app.person("bob@example.com").await;
    let bobs = app.api_key(&bob).await;
    let mut events = person_stream(&app, &ada).await;
    // Bob's decision comes first and is not Ada's to hear; hers follows.
    gate(&app, &bobs, bash("ls")).await;
    let allowed = gate(&app, &key, bash("ls -la")).await;
    let (event, data) = next_event(&mut events).await;
    assert_eq!(event, "decision", "{data}");
    assert_eq!(data["decisionId"], allowed.body["decisionId"], "{data}");
    assert_eq!((&data["outcome"], &data["decidedBy"]), (&json!("allow"), &json!("rule")));
    // A request and its decision still come as `approval` events, as before.
    let asked = app.ask(&key, "deploy").await;
    let (event, data) = next_event(&mut events).await;
    assert_eq!(
        (event.as_str(), &data["requestId"], &data["status"]),
        ("approval", &json!(asked.id), &json!("PENDING"))
    );
    app.deny(&ada, &asked.id).await.expect(200);
    let (event, data) = next_event(&mut events).await;
    assert_eq!((event.as_str(), &data["status"]), ("approval", &json!("DENIED")));
    // The list has both by then.
    let listed = decisions(&app, &ada, "").await;
    assert_eq!(ids(&listed), vec![asked.id, allowed.body["decisionId"].as_str().expect("id").to_owned()]);
}

/// Several instances share one PostgreSQL (and hear each other through NOTIFY): a call the gate
/// decides on one reaches the person's stream on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_decision_on_one_instance_reaches_a_stream_on_another() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else { return };
    let b = a.second_instance().await;
    let ada = a.person("ada@example.com").await;
    let key = a.api_key(&ada).await;
    let mut events = person_stream(&b, &ada).await;
    let allowed = gate(&a, &key, bash("ls -la")).await;
    let (event, data) = next_event(&mut events).await;
    assert_eq!(event, "decision", "{data}");
    assert_eq!(data["decisionId"], allowed.body["decisionId"]);
    assert_eq!(
        ids(&decisions(&b, &ada, "").await),
        vec![data["decisionId"].as_str().expect("id").to_owned()]
    );
}
